/* An inbox: how actors (and any other thread) hand messages to an adapter thread
 * that is not a worker (an lws I/O thread, the PostgreSQL or Redis loop).
 *
 * It is a mailbox (mailbox.h) whose scheduling token means "the owner thread has
 * been woken for this batch" instead of "the actor is on a run queue": the one
 * push that finds the inbox idle records a signal and calls the wake function
 * (lws_cancel_service, or a write to an eventfd), every other push only links its
 * message, so a burst costs one wake-up, like libuv's uv_async_send.
 *
 * Threads: cn_inbox_push from any thread; cn_inbox_drain and cn_inbox_destroy only
 * on the owner thread. Wake-ups may be spurious (the owner's loop may wake for
 * other reasons); drain tells real ones apart with the signal flag.
 *
 * Memory: the inbox lives in caller memory; pending messages belong to the inbox
 * until drained, and cn_inbox_destroy frees those never drained. */
#ifndef CN_ACTORS_RUNTIME_INBOX_H
#define CN_ACTORS_RUNTIME_INBOX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "actors/runtime/mailbox.h"

typedef struct cn_inbox {
    cn_mailbox mb;
    /* Set (release) by the push that took the token, cleared (acquire) by the
     * owner when it starts a drain: tells a real wake-up from a spurious one. */
    atomic_bool signalled;
    void (*wake)(void *arg);
    void *wake_arg;
} cn_inbox;

/* Initialises an empty inbox; `wake(arg)` is called by the push that makes it
 * non-empty, from the pushing thread. Cannot fail. */
void cn_inbox_init(cn_inbox *ib, void (*wake)(void *arg), void *arg);

/* Appends m (taken). Any thread. Returns true when this push woke the owner. */
bool cn_inbox_push(cn_inbox *ib, cn_msg *m);

/* Owner thread: hands up to `budget` pending messages to fn (which takes each).
 * When more remain, the inbox wakes its owner again so a flood cannot starve the
 * owner's other work. Returns how many were handed over. */
size_t cn_inbox_drain(cn_inbox *ib, size_t budget, void (*fn)(void *ctx, cn_msg *m), void *ctx);

/* Owner thread, once no thread pushes any more: frees every pending message. */
void cn_inbox_destroy(cn_inbox *ib);

/* An eventfd for owners that poll(): cn_wakefd_new returns a non-blocking
 * eventfd (or -errno); cn_wakefd_wake is a wake function for cn_inbox_init
 * (arg = (void *)(intptr_t)fd); cn_wakefd_clear consumes pending wake-ups. */
int cn_wakefd_new(void);
void cn_wakefd_wake(void *arg);
void cn_wakefd_clear(int fd);

#endif
