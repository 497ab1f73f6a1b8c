/* The runtime's private structures, shared by the files of src/actors and by nothing
 * else. Each field says which threads touch it. */
#ifndef CN_ACTORS_RUNTIME_INTERNAL_H
#define CN_ACTORS_RUNTIME_INTERNAL_H

#include "actors/runtime/mailbox.h"
#include "actors/runtime/park.h"
#include "actors/runtime/runqueue.h"
#include "actors/runtime/runtime.h"
#include "actors/runtime/timer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

struct cn_actor {
    cn__runnable run;              /* run-queue link; valid while the actor holds no idle token */
    cn_runtime *rt;                /* immutable */
    cn_behaviour_fn fn;            /* immutable */
    void *state;                   /* token holder only */
    void (*state_free)(void *);    /* immutable */
    bool dead;                     /* token holder only: finalised, never runs again */
    cn_msg stop_msg;               /* pushed once by the first cn_actor_stop */
    cn_actor *reg_prev, *reg_next; /* guarded by rt->reg_lock */

    /* Sender side: written by any thread. */
    _Alignas(64) cn_mailbox mbox;
    _Atomic uint32_t refs;
    _Atomic bool stopped;
    _Atomic uint64_t depth;   /* approximate mailbox depth: +1 per send, -n per turn */
    _Atomic uint64_t hwm;     /* max depth seen */
    _Atomic uint64_t dropped; /* sends refused after stop */

    /* Worker side: stored by the token holder, loaded by stats. */
    _Alignas(64) _Atomic uint64_t handled;
};

typedef struct cn__worker {
    cn__localq q;        /* push: this worker; pop: any worker */
    cn_runtime *rt;      /* immutable */
    unsigned index;      /* immutable */
    pthread_t thread;    /* start/shutdown only */
    bool thread_started; /* start/shutdown only */
    uint32_t tick;       /* this worker only */
    /* Statistics: stored by this worker only (load + store, no RMW), loaded by stats. */
    _Alignas(64) _Atomic uint64_t messages, actors_run, steals, parks;
} cn__worker;

struct cn_runtime {
    unsigned nworkers, batch; /* immutable */
    cn__worker *workers;      /* immutable array of nworkers */
    cn__injectq inject;
    cn__parking parking;
    cn__timers timers;
    _Atomic bool stopping; /* set once by shutdown */
    /* Workers looking for work without parking (at most max_spinners). While one
     * spins, a sender need not wake a parked worker: the spinner finds the work, and
     * wakes a parked one when it sees more behind what it took. Only RMWs touch it
     * after start (scheduler.c: wake_unless_spinning, stop_spinning). */
    _Atomic unsigned spinning;
    unsigned max_spinners; /* immutable; 0 when spin_rounds is 0 */
    unsigned spin_rounds;  /* immutable */
    bool started;          /* start/shutdown only */

    pthread_mutex_t reg_lock; /* guards the registry of live actors */
    cn_actor *reg_first;

    _Atomic uint64_t actors_alive, actors_spawned, sends_dropped, discarded; /* relaxed */
};

/* Puts `a`, whose token the caller holds, on a run queue and wakes a parked worker if
 * any. On a worker of a->rt it uses that worker's ring, elsewhere the injection queue.
 * Any thread; cannot fail. (scheduler.c) */
void cn__schedule(cn_actor *a);

/* Finalises `a`, whose token the caller holds and which no worker will run again:
 * frees pending messages, runs state_free, unregisters, and drops the runtime's
 * reference (which may free `a`). (actor.c) */
void cn__actor_finalize(cn_actor *a);

/* Runs one turn of `a` on worker `w`: up to rt->batch messages, then gives the token
 * back, re-queues the actor, or finalises it after a stop. (actor.c) */
void cn__actor_run(cn__worker *w, cn_actor *a);

/* Relaxed "add" for counters that have a single writer. */
static inline void cn__count(_Atomic uint64_t *c, uint64_t n)
{
    /* relaxed: statistics; single writer, so load + store loses nothing. */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

#endif
