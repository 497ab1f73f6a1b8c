/* Actors: spawning, reference counting, sending, stopping, and one turn on a worker.
 *
 * The scheduling token lives in the mailbox's idle bit (mailbox.h): the sender whose
 * push found the actor idle schedules it; the worker that ran it either gives the
 * token back (cn_mailbox_try_idle) or re-queues it. Whoever holds the token is the
 * only thread that touches `state` and pops messages.
 *
 * Stopping: the first cn_actor_stop sets `stopped` (so sends are refused) and pushes
 * the actor's embedded stop message, which schedules an idle actor like any send. A
 * worker that sees `stopped` frees messages instead of delivering them; when it pops
 * the stop message it finalises the actor and never gives the token back, so nothing
 * can schedule it again. A send that checked `stopped` just before it was set may
 * still land in the mailbox afterwards; such messages are freed with the handle. */
#include "actors/runtime/internal.h"

#include "base/xmalloc.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#define STOP_MSG_TYPE UINT32_MAX

cn_actor *cn_actor_spawn(cn_runtime *rt, cn_behaviour_fn fn, void *state,
                         void (*state_free)(void *))
{
    cn_actor *a = aligned_alloc(64, sizeof *a);
    if (!a)
        cn_oom(sizeof *a);
    a->run.next = NULL;
    a->rt = rt;
    a->fn = fn;
    a->state = state;
    a->state_free = state_free;
    a->dead = false;
    cn_msg_init(&a->stop_msg, STOP_MSG_TYPE, NULL);
    cn_mailbox_init(&a->mbox);
    atomic_init(&a->refs, 2); /* the caller's and the runtime's */
    atomic_init(&a->stopped, false);
    atomic_init(&a->depth, 0);
    atomic_init(&a->hwm, 0);
    atomic_init(&a->dropped, 0);
    atomic_init(&a->handled, 0);

    pthread_mutex_lock(&rt->reg_lock);
    a->reg_prev = NULL;
    a->reg_next = rt->reg_first;
    if (rt->reg_first)
        rt->reg_first->reg_prev = a;
    rt->reg_first = a;
    pthread_mutex_unlock(&rt->reg_lock);
    /* relaxed: statistics. */
    atomic_fetch_add_explicit(&rt->actors_alive, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&rt->actors_spawned, 1, memory_order_relaxed);
    return a;
}

void cn_actor_ref(cn_actor *a)
{
    /* relaxed: the caller already holds a reference, so the count cannot reach zero
     * concurrently; nothing is published by taking a reference. */
    atomic_fetch_add_explicit(&a->refs, 1, memory_order_relaxed);
}

/* Frees the handle and messages that raced in after the actor was finalised. */
static void actor_destroy(cn_actor *a)
{
    /* Only the last reference gets here, and every pusher held one, so every push
     * has completed its link: pop sees them all. */
    cn_msg *m;
    while ((m = cn_mailbox_pop(&a->mbox)) != NULL) {
        if (m != &a->stop_msg)
            cn_msg_free(m);
    }
    free(a);
}

void cn_actor_unref(cn_actor *a)
{
    /* acq_rel: release publishes this thread's uses of the actor (its pushes) to the
     * thread that drops the last reference; acquire makes that last thread see them
     * all before it frees. */
    if (atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel) == 1)
        actor_destroy(a);
}

cn_runtime *cn_actor_runtime(const cn_actor *a)
{
    return a->rt;
}

static int drop_send(cn_actor *a, cn_msg *m)
{
    cn_msg_free(m);
    /* relaxed: statistics. */
    atomic_fetch_add_explicit(&a->dropped, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&a->rt->sends_dropped, 1, memory_order_relaxed);
    return -ESHUTDOWN;
}

int cn_actor_send(cn_actor *a, cn_msg *m)
{
    /* acquire: pairs with the acq_rel exchange in cn_actor_stop; a refused send is
     * the common case after a stop, the racing case is handled by the mailbox. */
    if (atomic_load_explicit(&a->stopped, memory_order_acquire))
        return drop_send(a, m);
    /* relaxed: depth is an approximation for metrics and back-pressure; it is raised
     * before the push so the worker's decrement can never take it below zero. */
    uint64_t d = atomic_fetch_add_explicit(&a->depth, 1, memory_order_relaxed) + 1;
    uint64_t h = atomic_load_explicit(&a->hwm, memory_order_relaxed); /* relaxed: stats */
    while (d > h && !atomic_compare_exchange_weak_explicit(&a->hwm, &h, d, memory_order_relaxed,
                                                           memory_order_relaxed))
        ;
    if (cn_mailbox_push(&a->mbox, m))
        cn__schedule(a);
    return 0;
}

void cn_actor_stop(cn_actor *a)
{
    /* acq_rel: release pairs with the acquire load in cn_actor_send; the exchange
     * makes exactly one caller push the stop message. */
    if (atomic_exchange_explicit(&a->stopped, true, memory_order_acq_rel))
        return;
    if (cn_mailbox_push(&a->mbox, &a->stop_msg))
        cn__schedule(a);
}

void cn__actor_finalize(cn_actor *a)
{
    cn_runtime *rt = a->rt;
    uint64_t freed = 0, popped = 0;
    cn_msg *m;
    while ((m = cn_mailbox_pop(&a->mbox)) != NULL) {
        if (m == &a->stop_msg)
            continue;
        popped++;
        freed++;
        cn_msg_free(m);
    }
    /* relaxed: statistics. */
    atomic_fetch_sub_explicit(&a->depth, popped, memory_order_relaxed);
    atomic_fetch_add_explicit(&rt->discarded, freed, memory_order_relaxed);
    /* relaxed: shutdown finalises actors that were never stopped; sends after that are
     * a caller bug, but the flag keeps them from scheduling a dead actor. */
    atomic_store_explicit(&a->stopped, true, memory_order_relaxed);
    a->dead = true;
    if (a->state_free)
        a->state_free(a->state);
    a->state = NULL;

    pthread_mutex_lock(&rt->reg_lock);
    if (a->reg_prev)
        a->reg_prev->reg_next = a->reg_next;
    else
        rt->reg_first = a->reg_next;
    if (a->reg_next)
        a->reg_next->reg_prev = a->reg_prev;
    a->reg_prev = a->reg_next = NULL;
    pthread_mutex_unlock(&rt->reg_lock);
    atomic_fetch_sub_explicit(&rt->actors_alive, 1, memory_order_relaxed); /* relaxed: stats */
    cn_actor_unref(a); /* the runtime's reference; may free `a` */
}

void cn__actor_run(cn__worker *w, cn_actor *a)
{
    cn_runtime *rt = a->rt;
    unsigned popped = 0, handled = 0;
    bool more = true;
    /* A worker runs an actor only with its token: the push that found it idle, or a
     * re-queue by the previous worker that kept it. */
    assert(cn_mailbox_token_held(&a->mbox));
    while (popped < rt->batch) {
        cn_msg *m = cn_mailbox_pop(&a->mbox);
        if (!m) {
            more = false;
            break;
        }
        if (m == &a->stop_msg) {
            cn__count(&w->messages, handled);
            cn__count(&w->actors_run, 1);
            cn__count(&a->handled, handled);
            /* relaxed: statistics. */
            atomic_fetch_sub_explicit(&a->depth, popped, memory_order_relaxed);
            atomic_fetch_add_explicit(&rt->discarded, popped - handled, memory_order_relaxed);
            cn__actor_finalize(a);
            return;
        }
        popped++;
        /* relaxed: only decides between delivering and freeing; the stop message that
         * follows the flag is what ends the actor. */
        if (atomic_load_explicit(&a->stopped, memory_order_relaxed)) {
            cn_msg_free(m);
            continue;
        }
        handled++;
        a->fn(a, a->state, m);
    }
    cn__count(&w->messages, handled);
    cn__count(&w->actors_run, 1);
    cn__count(&a->handled, handled);
    /* relaxed: statistics. */
    atomic_fetch_sub_explicit(&a->depth, popped, memory_order_relaxed);
    if (popped != handled)
        atomic_fetch_add_explicit(&rt->discarded, popped - handled, memory_order_relaxed);
    /* After a successful try_idle another worker may already run (and even free) the
     * actor: nothing below may touch `a`. */
    if (more || !cn_mailbox_try_idle(&a->mbox))
        cn__schedule(a);
}
