/* The intrusive MPSC mailbox with an idle bit in its head; see mailbox.h for the
 * model. Memory-order summary:
 *  - a producer publishes the message body with the acq_rel exchange of `head` and
 *    the release store of `prev->next`; the consumer's acquire load of `next` pairs
 *    with that release store, so it sees the body;
 *  - the consumer's release CAS to idle pairs with the acquire half of the next
 *    producer's exchange, so whoever schedules the actor next sees every write the
 *    previous worker made to the actor. */
#include "actors/runtime/mailbox.h"

#include <assert.h>

#define IDLE_BIT ((uintptr_t)1)

/* Debug builds check the rule the queue relies on: one consumer at a time (two would
 * both move `tail`). Release builds compile the check away. */
#ifndef NDEBUG
static void consumer_enter(cn_mailbox *mb)
{
    /* relaxed: a check, not a synchronisation; a second consumer sees `true`. */
    bool was = atomic_exchange_explicit(&mb->consuming, true, memory_order_relaxed);
    assert(!was && "two consumers in one mailbox");
    (void)was;
}

static void consumer_leave(cn_mailbox *mb)
{
    atomic_store_explicit(&mb->consuming, false, memory_order_relaxed);
}
#else
#define consumer_enter(mb) ((void)(mb))
#define consumer_leave(mb) ((void)(mb))
#endif

void cn_mailbox_init(cn_mailbox *mb)
{
    atomic_init(&mb->stub.next, NULL);
    mb->stub.type = 0;
    mb->stub.free_fn = NULL;
    mb->tail = &mb->stub;
    atomic_init(&mb->head, (uintptr_t)&mb->stub | IDLE_BIT);
#ifndef NDEBUG
    atomic_init(&mb->consuming, false);
#endif
}

/* Links `m` behind the current head. Returns the previous head word (with its bit). */
static uintptr_t link_node(cn_mailbox *mb, cn_msg *m)
{
    /* The low bit of a message address is the idle flag: messages are aligned. */
    assert(m && ((uintptr_t)m & IDLE_BIT) == 0);
    /* relaxed: `m` is not reachable by anyone until the release store below. */
    atomic_store_explicit(&m->next, NULL, memory_order_relaxed);
    /* acq_rel: release publishes m's body to the producer that links behind m and to
     * the consumer; acquire pairs with the consumer's release CAS in try_idle so the
     * token taker sees the last worker's writes. */
    uintptr_t prev = atomic_exchange_explicit(&mb->head, (uintptr_t)m, memory_order_acq_rel);
    cn_msg *p = (cn_msg *)(prev & ~IDLE_BIT);
    /* release: pairs with the acquire load of `next` in cn_mailbox_pop. Between the
     * exchange and this store the chain is broken; pop then returns NULL. */
    atomic_store_explicit(&p->next, m, memory_order_release);
    return prev;
}

bool cn_mailbox_push(cn_mailbox *mb, cn_msg *m)
{
    return (link_node(mb, m) & IDLE_BIT) != 0;
}

static cn_msg *pop(cn_mailbox *mb)
{
    cn_msg *tail = mb->tail;
    /* acquire: pairs with the release store of prev->next in link_node. */
    cn_msg *next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (tail == &mb->stub) {
        if (!next)
            return NULL;
        mb->tail = next; /* step over the stub */
        tail = next;
        next = atomic_load_explicit(&tail->next, memory_order_acquire); /* as above */
    }
    if (next) {
        mb->tail = next;
        return tail;
    }
    /* `tail` is the last linked node. It can only be detached once something follows
     * it; if a producer already swung head past it, wait for that link instead. */
    /* acquire: pairs with a producer's exchange; only compared, never dereferenced. */
    uintptr_t head = atomic_load_explicit(&mb->head, memory_order_acquire);
    if ((cn_msg *)head != tail)
        return NULL;
    /* Re-insert the stub behind the last message so that message can leave. The
     * stub is in the chain at most once: we only get here when tail has no successor
     * and head == tail, so the stub is neither between them nor after them. */
    link_node(mb, &mb->stub);
    next = atomic_load_explicit(&tail->next, memory_order_acquire); /* as above */
    if (next) {
        mb->tail = next;
        return tail;
    }
    return NULL; /* a producer slipped in before the stub; its link is coming */
}

cn_msg *cn_mailbox_pop(cn_mailbox *mb)
{
    consumer_enter(mb);
    cn_msg *m = pop(mb);
    consumer_leave(mb);
    return m;
}

bool cn_mailbox_try_idle(cn_mailbox *mb)
{
    consumer_enter(mb);
    /* The flag is cleared before the CAS: once it succeeds another consumer may
     * already hold the token. A failed CAS keeps the token without the flag, which
     * only the next pop or try_idle looks at. */
    consumer_leave(mb);
    /* Empty means: tail is the stub, the stub has no successor and head is the stub.
     * The tail test matters: after a stub re-insertion head can be the stub while an
     * earlier message is still waiting for its link. */
    if (mb->tail != &mb->stub)
        return false;
    /* relaxed is enough: the CAS below re-checks head, which changes before any
     * producer links behind the stub. */
    if (atomic_load_explicit(&mb->stub.next, memory_order_relaxed) != NULL)
        return false;
    uintptr_t expect = (uintptr_t)&mb->stub;
    /* release on success: pairs with the acquire half of the exchange of the producer
     * that next finds the idle bit, publishing this worker's writes to the actor.
     * relaxed on failure: we keep the token and simply re-schedule. */
    return atomic_compare_exchange_strong_explicit(&mb->head, &expect, expect | IDLE_BIT,
                                                   memory_order_release, memory_order_relaxed);
}

bool cn_mailbox_token_held(cn_mailbox *mb)
{
    /* relaxed: only the token holder sets the idle bit, so for the holder the answer
     * cannot change under it. */
    return !(atomic_load_explicit(&mb->head, memory_order_relaxed) & IDLE_BIT);
}
