/* The actor runtime: a fixed pool of worker threads running actors, plus one timer
 * thread.
 *
 * An actor is a state pointer, a behaviour function and a lock-free mailbox. It runs
 * on at most one worker at a time, handles at most `batch` messages per turn, and is
 * put on a run queue exactly when its mailbox goes from empty to non-empty. Any thread
 * may send; adapter threads (I/O, Kafka, timers) are never workers. Idle workers sleep
 * and the sender that makes an actor runnable wakes one of them.
 *
 * Lifetime: an actor handle is reference counted. cn_actor_spawn returns one reference
 * to the caller; the runtime keeps its own until the actor is stopped and finalised
 * (state_free has run) or the runtime shuts down. A sender must hold a reference for
 * the duration of cn_actor_send. After cn_runtime_shutdown the only valid call on a
 * handle is cn_actor_unref.
 *
 * Errors are 0 or a negative errno. Out of memory aborts (base/xmalloc.h). */
#ifndef CN_ACTORS_RUNTIME_RUNTIME_H
#define CN_ACTORS_RUNTIME_RUNTIME_H

#include "actors/runtime/msg.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct cn_runtime cn_runtime;
typedef struct cn_actor cn_actor;

/* Handles one message. Runs on a worker, never concurrently with itself for the same
 * actor. The behaviour owns `msg`: it must free it (cn_msg_free) or hand it on. */
typedef void (*cn_behaviour_fn)(cn_actor *self, void *state, cn_msg *msg);

#define CN_RUNTIME_MAX_WORKERS 64u

typedef struct {
    unsigned workers; /* 0 = one per online CPU; clamped to 1..CN_RUNTIME_MAX_WORKERS */
    unsigned batch;   /* messages per actor turn; 0 = 64 */
    /* Rounds an idle worker looks for work before it parks (some 1-3 us each); 0 =
     * 64, -1 = none (park at once). Spinning saves the sender a futex wake-up but
     * burns a core that neighbours on a small machine need: see docs/PERFORMANCE.md,
     * 2026-12-07, where it was a quarter of chat-node's CPU under fan-out. */
    int spin_rounds;
} cn_runtime_config;

typedef struct {
    uint64_t messages;   /* messages handed to behaviours */
    uint64_t actors_run; /* actor turns */
    uint64_t steals;     /* actors taken from another worker's queue */
    uint64_t parks;      /* times the worker went to sleep */
} cn_worker_stats;

/* The stats types are used as `struct cn_runtime_stats` / `struct cn_actor_stats`:
 * C has one namespace for typedefs and functions, and the functions keep the names. */
struct cn_runtime_stats {
    unsigned workers;
    unsigned workers_parked; /* asleep right now */
    uint64_t actors_alive;   /* spawned and not yet finalised */
    uint64_t actors_spawned; /* since start */
    uint64_t sends_dropped;  /* cn_actor_send to a stopped actor */
    uint64_t msgs_discarded; /* accepted but freed undelivered by stop or shutdown */
    uint64_t messages;       /* sum of worker messages */
    uint64_t timers_pending;
    uint64_t timers_fired;
    uint64_t timers_cancelled;
    cn_worker_stats worker[CN_RUNTIME_MAX_WORKERS]; /* first `workers` entries used */
};

struct cn_actor_stats {
    uint64_t messages;      /* handled by the behaviour */
    uint64_t mailbox_depth; /* approximate, right now */
    uint64_t mailbox_hwm;   /* highest approximate depth seen */
    uint64_t sends_dropped; /* sends refused because the actor was stopped */
    bool stopped;
};

/* Creates a runtime (no threads yet). `cfg` is borrowed and may be NULL for defaults.
 * Cannot fail (allocation aborts). The caller frees it with cn_runtime_shutdown. */
cn_runtime *cn_runtime_new(const cn_runtime_config *cfg);

/* Starts the worker threads and the timer thread. Returns 0, -EALREADY, or the
 * negated pthread_create error (then the threads that did start keep running and
 * cn_runtime_shutdown still cleans up). Sends before start are queued. */
int cn_runtime_start(cn_runtime *rt);

/* Stops the timer thread and the workers (each finishes its current turn), joins
 * them, then finalises every live actor on the calling thread: pending messages and
 * pending timers are freed, state_free runs, the runtime's references are dropped.
 * Handles still referenced by the caller stay allocated until cn_actor_unref. `rt` is
 * freed. Must not race with sends, spawns or timer calls. Cannot fail. */
void cn_runtime_shutdown(cn_runtime *rt);

/* Number of workers. Cannot fail. */
unsigned cn_runtime_workers(const cn_runtime *rt);

/* Creates an actor. `state` is taken: state_free (may be NULL) runs once, on a worker
 * after the actor's last turn, or in cn_runtime_shutdown. Returns one reference owned
 * by the caller. Any thread; cannot fail. */
cn_actor *cn_actor_spawn(cn_runtime *rt, cn_behaviour_fn fn, void *state,
                         void (*state_free)(void *));

/* Adds / drops a reference. Any thread. The last unref frees the handle and any
 * message that raced into the mailbox after the actor stopped. Cannot fail. */
void cn_actor_ref(cn_actor *a);
void cn_actor_unref(cn_actor *a);

/* Appends `m` (taken) to the mailbox, scheduling the actor and waking a worker if it
 * was idle. Any thread; the caller holds a reference to `a`. Returns 0, or
 * -ESHUTDOWN when the actor is stopped: `m` is then freed and the drop counted. */
int cn_actor_send(cn_actor *a, cn_msg *m);

/* Stops `a` (borrowed). Any thread, including the actor's own behaviour; idempotent.
 * Messages not yet handled are freed undelivered, further sends are refused, and
 * state_free runs on a worker after the last turn. Cannot fail. */
void cn_actor_stop(cn_actor *a);

/* The runtime `a` belongs to. Cannot fail. */
cn_runtime *cn_actor_runtime(const cn_actor *a);

/* Delivers `m` (taken) to `a` (borrowed; the timer keeps its own reference) after `ms`
 * milliseconds. Returns the timer id, > 0. If the actor is stopped by then the message
 * is dropped as by cn_actor_send. Any thread; cannot fail. */
uint64_t cn_timer_after(cn_runtime *rt, cn_actor *a, uint64_t ms, cn_msg *m);

/* Cancels timer `id`. Returns true when this prevented the delivery (the message has
 * been freed through its free hook), false when the timer already fired, was already
 * cancelled or never existed. Any thread; cannot fail. */
bool cn_timer_cancel(cn_runtime *rt, uint64_t id);

/* Fills `out` (caller memory) with a snapshot of the runtime counters. Counters are
 * read one by one without a global lock, so sums may be off by in-flight work. Any
 * thread; cannot fail. */
void cn_runtime_stats(cn_runtime *rt, struct cn_runtime_stats *out);

/* Fills `out` with the counters of `a` (borrowed). Any thread; cannot fail. */
void cn_actor_stats(cn_actor *a, struct cn_actor_stats *out);

#endif
