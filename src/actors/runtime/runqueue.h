/* Run queues: where runnable actors wait for a worker.
 *
 * Two kinds, both holding intrusive `cn__runnable` nodes embedded in actors:
 *  - cn__localq: one per worker, a bounded FIFO ring in the style of Go's runq. Only
 *    the owning worker pushes (`_push`, owner only); the owner and thieves pop with a
 *    CAS on the head (`_pop`, any worker). FIFO keeps a busy actor that re-queues
 *    itself from starving the others behind it.
 *  - cn__injectq: one per runtime, an unbounded mutex-protected FIFO for threads that
 *    are not workers (adapters, timers) and for local-ring overflow. It is not a hot
 *    path: an actor is queued once per empty-to-non-empty transition, not per message.
 * Neither queue owns the actors it holds: the runtime's reference keeps them alive. */
#ifndef CN_ACTORS_RUNTIME_RUNQUEUE_H
#define CN_ACTORS_RUNTIME_RUNQUEUE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct cn__runnable cn__runnable;
struct cn__runnable {
    cn__runnable *next; /* injection-queue link; guarded by the queue's mutex */
};

#define CN__LOCALQ_CAP 256u /* power of two */

typedef struct cn__localq {
    /* Next slot to pop. CAS by the owner and by thieves. */
    _Alignas(64) _Atomic uint32_t head;
    /* Next slot to fill. Stored by the owner only, loaded by thieves. */
    _Alignas(64) _Atomic uint32_t tail;
    /* Slots are atomic because a thief that loses its CAS may read a slot the owner is
     * overwriting; the value is then discarded, but the access must not be a race. */
    _Atomic(cn__runnable *) slot[CN__LOCALQ_CAP];
} cn__localq;

/* Initialises an empty ring in caller memory. Cannot fail. */
void cn__localq_init(cn__localq *q);
/* Appends `r` (borrows). Owner only. Returns false when the ring is full (the caller
 * then uses the injection queue). */
bool cn__localq_push(cn__localq *q, cn__runnable *r);
/* Removes the oldest entry, or returns NULL when empty. Any worker. */
cn__runnable *cn__localq_pop(cn__localq *q);
/* True when the ring looked non-empty at the time of the loads. Any thread. */
bool cn__localq_nonempty(cn__localq *q);

typedef struct cn__injectq {
    pthread_mutex_t lock;
    cn__runnable *first, *last; /* guarded by lock */
    /* Entry count, so that idle workers can look without taking the lock. Changed
     * under the lock; loaded without it. */
    _Atomic uint64_t len;
} cn__injectq;

/* Initialises an empty queue in caller memory. Cannot fail (aborts if pthread does). */
void cn__injectq_init(cn__injectq *q);
/* Destroys the mutex; the queue must be empty or its entries no longer wanted. */
void cn__injectq_destroy(cn__injectq *q);
/* Appends `r` (borrows). Any thread. Cannot fail. */
void cn__injectq_push(cn__injectq *q, cn__runnable *r);
/* Removes the oldest entry, or returns NULL when empty. Any thread. */
cn__runnable *cn__injectq_pop(cn__injectq *q);
/* True when the queue looked non-empty. Any thread; no lock. */
bool cn__injectq_nonempty(cn__injectq *q);

#endif
