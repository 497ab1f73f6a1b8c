/* The per-worker run ring and the shared injection queue; see runqueue.h.
 *
 * Ring protocol (after Go's runqput/runqget): the owner writes a slot, then publishes
 * it with a release store of `tail`; a popper loads `tail` with acquire (pairing with
 * that store), reads the slot and claims it with a CAS on `head`. The CAS is a release
 * that pairs with the owner's acquire load of `head` in push, so the owner never
 * reuses a slot before the claimant has read it. */
#include "actors/runtime/runqueue.h"

#include <stdlib.h>

void cn__localq_init(cn__localq *q)
{
    atomic_init(&q->head, 0);
    atomic_init(&q->tail, 0);
    for (uint32_t i = 0; i < CN__LOCALQ_CAP; i++)
        atomic_init(&q->slot[i], NULL);
}

bool cn__localq_push(cn__localq *q, cn__runnable *r)
{
    /* acquire: pairs with the release CAS of head in pop (slot reuse, see above). */
    uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
    /* relaxed: only the owner (this thread) stores tail. */
    uint32_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
    if (t - h >= CN__LOCALQ_CAP)
        return false;
    /* relaxed: published by the release store of tail just below. */
    atomic_store_explicit(&q->slot[t & (CN__LOCALQ_CAP - 1)], r, memory_order_relaxed);
    /* release: pairs with the acquire load of tail in pop and nonempty. */
    atomic_store_explicit(&q->tail, t + 1, memory_order_release);
    return true;
}

cn__runnable *cn__localq_pop(cn__localq *q)
{
    /* acquire: head was last written by another popper's CAS; nothing to publish,
     * but it keeps the slot read below ordered after the value we compare against. */
    uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
    for (;;) {
        /* acquire: pairs with the owner's release store of tail in push. */
        uint32_t t = atomic_load_explicit(&q->tail, memory_order_acquire);
        if (t == h)
            return NULL;
        /* relaxed: ordered by the acquire load of tail; may be stale if we lose the
         * CAS, in which case the value is thrown away. */
        cn__runnable *r =
            atomic_load_explicit(&q->slot[h & (CN__LOCALQ_CAP - 1)], memory_order_relaxed);
        /* release on success: pairs with the owner's acquire load of head in push.
         * acquire on failure: the reloaded head starts the next attempt. */
        if (atomic_compare_exchange_weak_explicit(&q->head, &h, h + 1, memory_order_release,
                                                  memory_order_acquire))
            return r;
    }
}

bool cn__localq_nonempty(cn__localq *q)
{
    /* relaxed: a hint for idle workers; pop re-checks with the proper orders, and the
     * park protocol puts a seq_cst fence in front of this. */
    uint32_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
    uint32_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
    return t != h;
}

void cn__injectq_init(cn__injectq *q)
{
    if (pthread_mutex_init(&q->lock, NULL) != 0)
        abort();
    q->first = q->last = NULL;
    atomic_init(&q->len, 0);
}

void cn__injectq_destroy(cn__injectq *q)
{
    pthread_mutex_destroy(&q->lock);
}

void cn__injectq_push(cn__injectq *q, cn__runnable *r)
{
    r->next = NULL;
    pthread_mutex_lock(&q->lock);
    if (q->last)
        q->last->next = r;
    else
        q->first = r;
    q->last = r;
    /* relaxed: the mutex publishes the entry; len is only a hint for lock-free peeks,
     * and the park protocol's seq_cst fences order it against the parked mask. */
    atomic_store_explicit(&q->len, atomic_load_explicit(&q->len, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    pthread_mutex_unlock(&q->lock);
}

cn__runnable *cn__injectq_pop(cn__injectq *q)
{
    if (!cn__injectq_nonempty(q))
        return NULL;
    pthread_mutex_lock(&q->lock);
    cn__runnable *r = q->first;
    if (r) {
        q->first = r->next;
        if (!q->first)
            q->last = NULL;
        /* relaxed: as in push, the mutex does the publishing. */
        atomic_store_explicit(&q->len, atomic_load_explicit(&q->len, memory_order_relaxed) - 1,
                              memory_order_relaxed);
    }
    pthread_mutex_unlock(&q->lock);
    return r;
}

bool cn__injectq_nonempty(cn__injectq *q)
{
    /* relaxed: a hint, see push. */
    return atomic_load_explicit(&q->len, memory_order_relaxed) != 0;
}
