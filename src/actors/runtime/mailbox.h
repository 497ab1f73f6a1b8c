/* An actor's mailbox: an intrusive, lock-free, multi-producer single-consumer queue
 * of cn_msg whose head also carries the actor's scheduling token.
 *
 * The idea is Pony's messageq (libponyrt/actor/messageq.c) in C11 atomics: a push is
 * one atomic exchange of `head`, so producers never wait for each other, and the low
 * bit of `head` means "idle: no worker holds this actor and it is on no run queue".
 * The single producer whose push clears that bit has taken the token and must put the
 * actor on a run queue; every other push only links its message. The consumer gives
 * the token back with cn_mailbox_try_idle(), a CAS that fails when a push raced it.
 *
 * Unlike Pony, a popped message belongs to the caller at once (our behaviours free
 * their messages), so the queue keeps its own stub node (Vyukov's intrusive MPSC
 * queue) and re-inserts it whenever the last real message must be detached.
 *
 * Threads: cn_mailbox_push from any thread; everything else only by the one thread
 * that holds the token (the worker running the actor, or shutdown once no worker runs). */
#ifndef CN_ACTORS_RUNTIME_MAILBOX_H
#define CN_ACTORS_RUNTIME_MAILBOX_H

#include "actors/runtime/msg.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct cn_mailbox {
    /* Newest message (or the stub), low bit = idle. Written by every producer
     * (exchange) and by the consumer (CAS to idle, stub re-insertion). */
    _Atomic(uintptr_t) head;
    /* Oldest message not yet popped (or the stub). Consumer only. */
    cn_msg *tail;
    /* Placeholder node so the queue is never empty of nodes. */
    cn_msg stub;
#ifndef NDEBUG
    /* Debug builds: set while a consumer is inside pop/try_idle, so that a second
     * consumer (a broken token rule) trips an assert instead of corrupting the queue. */
    atomic_bool consuming;
#endif
} cn_mailbox;

/* Initialises an empty, idle mailbox in caller-provided memory. Cannot fail. */
void cn_mailbox_init(cn_mailbox *mb);

/* Appends `m` (takes it). Any thread. Returns true when the mailbox was idle: the
 * caller now holds the token and must schedule the actor. Cannot fail. */
bool cn_mailbox_push(cn_mailbox *mb, cn_msg *m);

/* Removes the oldest message and gives it to the caller (who then owns it), or
 * returns NULL when none is visible yet. Token holder only. A NULL does not prove
 * emptiness: a producer may be between its exchange and its link; try_idle tells. */
cn_msg *cn_mailbox_pop(cn_mailbox *mb);

/* Gives the token back if the mailbox is truly empty: returns true when it is now
 * idle (the caller must not touch the actor again), false when messages are pending
 * or a push is in flight (the caller still holds the token and must re-schedule).
 * Token holder only. Cannot fail. */
bool cn_mailbox_try_idle(cn_mailbox *mb);

/* Whether the mailbox is taken (not idle): always true for the thread that holds the
 * token, which is what debug asserts check with it. Any thread; a hint for others. */
bool cn_mailbox_token_held(cn_mailbox *mb);

/* Whether the mailbox is taken (not idle): always true for the thread that holds the
 * token, which is what debug asserts check with it. Any thread; a hint for others. */
bool cn_mailbox_token_held(cn_mailbox *mb);

#endif
