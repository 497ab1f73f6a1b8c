/* Inboxes for adapter threads; see inbox.h. */
#include "actors/runtime/inbox.h"

#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

void cn_inbox_init(cn_inbox *ib, void (*wake)(void *arg), void *arg)
{
    cn_mailbox_init(&ib->mb);
    atomic_init(&ib->signalled, false);
    ib->wake = wake;
    ib->wake_arg = arg;
}

bool cn_inbox_push(cn_inbox *ib, cn_msg *m)
{
    if (!cn_mailbox_push(&ib->mb, m))
        return false;
    /* We hold the token: publish that a batch waits, then wake the owner.
     * release pairs with the acquire exchange in cn_inbox_drain. */
    atomic_store_explicit(&ib->signalled, true, memory_order_release);
    ib->wake(ib->wake_arg);
    return true;
}

size_t cn_inbox_drain(cn_inbox *ib, size_t budget, void (*fn)(void *ctx, cn_msg *m), void *ctx)
{
    /* acquire pairs with the release store in cn_inbox_push: after it we hold the
     * token and may pop. A false here is a spurious wake-up: nothing to do. */
    if (!atomic_exchange_explicit(&ib->signalled, false, memory_order_acquire))
        return 0;
    size_t n = 0;
    for (;;) {
        if (n == budget) {
            /* Keep the token, ask to be woken again, and let the owner run. */
            atomic_store_explicit(&ib->signalled, true, memory_order_release);
            ib->wake(ib->wake_arg);
            return n;
        }
        cn_msg *m = cn_mailbox_pop(&ib->mb);
        if (m) {
            fn(ctx, m);
            n++;
            continue;
        }
        if (cn_mailbox_try_idle(&ib->mb))
            return n; /* token given back; the next push wakes us */
        /* A push is between its exchange and its link: it will be visible in a
         * moment, and only we can take it (we hold the token). */
    }
}

static void free_one(void *ctx, cn_msg *m)
{
    (void)ctx;
    cn_msg_free(m);
}

void cn_inbox_destroy(cn_inbox *ib)
{
    /* Take the token whatever its state: no thread pushes any more. */
    atomic_store_explicit(&ib->signalled, true, memory_order_relaxed);
    if (atomic_load_explicit(&ib->mb.head, memory_order_acquire) & 1u) {
        /* Idle and empty: nothing was pushed since the last drain. */
        return;
    }
    cn_inbox_drain(ib, SIZE_MAX, free_one, NULL);
}

int cn_wakefd_new(void)
{
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

void cn_wakefd_wake(void *arg)
{
    uint64_t one = 1;
    ssize_t w = write((int)(intptr_t)arg, &one, sizeof one);
    (void)w; /* EAGAIN means the counter is already non-zero: the owner will wake */
}

void cn_wakefd_clear(int fd)
{
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof v);
    (void)r; /* EAGAIN: nothing pending */
}
