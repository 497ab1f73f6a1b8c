/* The runtime's timer service: one thread, one binary min-heap of deadlines, and an
 * id table so cancellation is O(log n). Internal to src/actors: the public entry
 * points are cn_timer_after and cn_timer_cancel in runtime.h.
 *
 * A pending timer owns its message and one reference to its actor. When it fires the
 * timer thread sends the message (outside the lock) and drops the reference; when it
 * is cancelled or the service stops, the message is freed through its free hook. */
#ifndef CN_ACTORS_RUNTIME_TIMER_H
#define CN_ACTORS_RUNTIME_TIMER_H

#include "actors/runtime/runtime.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cn__timer cn__timer;

typedef struct cn__timers {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC; signalled when the earliest deadline moves */
    cn__timer **heap;    /* guarded by lock; min-heap on (deadline, id) */
    size_t len, cap;     /* guarded by lock */
    cn__timer **tab;     /* guarded by lock; id -> timer, linear probing */
    size_t tab_cap;      /* guarded by lock; power of two */
    uint64_t next_id;    /* guarded by lock */
    bool stop;           /* guarded by lock */
    bool running;        /* thread started; owner (start/shutdown) only */
    pthread_t thread;
    _Atomic uint64_t pending, fired, cancelled; /* statistics; relaxed */
} cn__timers;

/* Initialises the service in caller memory. Cannot fail (aborts if pthread does). */
void cn__timers_init(cn__timers *t);
/* Starts the timer thread. Returns 0 or a negated pthread_create error. */
int cn__timers_start(cn__timers *t);
/* Stops and joins the thread. Timers added afterwards (by behaviours still running
 * during shutdown) stay pending until cn__timers_destroy. Cannot fail. */
void cn__timers_stop(cn__timers *t);
/* Stops the thread if needed, then frees every pending timer (messages through their
 * hooks, actor references dropped) and the service's memory. No other thread may use
 * the service any more. Cannot fail. */
void cn__timers_destroy(cn__timers *t);
/* See cn_timer_after / cn_timer_cancel. */
uint64_t cn__timers_add(cn__timers *t, cn_actor *a, uint64_t ms, cn_msg *m);
bool cn__timers_cancel(cn__timers *t, uint64_t id);

#endif
