/* Park and unpark on a bitmask plus one futex word per worker; see park.h for the
 * protocol and why it cannot lose a wake-up. */
#include "actors/runtime/park.h"

#include "base/xmalloc.h"

#include <errno.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static void futex_wait(_Atomic uint32_t *addr, uint32_t expect)
{
    /* The kernel re-checks *addr == expect atomically, so a wake between our load and
     * this call makes it return at once (EAGAIN). EINTR and spurious returns are fine:
     * the caller loops on the word. */
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, expect, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *addr)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

void cn__parking_init(cn__parking *p, unsigned n)
{
    if (n == 0 || n > CN__PARK_MAX)
        abort(); /* defensive: the runtime clamps the worker count */
    atomic_init(&p->mask, 0);
    p->n = n;
    p->slot = aligned_alloc(64, sizeof(cn__parker) * n);
    if (!p->slot)
        cn_oom(sizeof(cn__parker) * n);
    for (unsigned i = 0; i < n; i++)
        atomic_init(&p->slot[i].wake, 0);
}

void cn__parking_destroy(cn__parking *p)
{
    free(p->slot);
    p->slot = NULL;
}

void cn__park_prepare(cn__parking *p, unsigned i)
{
    /* relaxed: only this thread reads its word before a waker's release store, and a
     * waker cannot claim us before the fetch_or below makes the bit visible. */
    atomic_store_explicit(&p->slot[i].wake, 0, memory_order_relaxed);
    /* seq_cst RMW, then a seq_cst fence: pairs with the fence in cn__unpark_one
     * (Dekker: bit store / fence / queue loads here, queue store / fence / mask load
     * there). */
    atomic_fetch_or_explicit(&p->mask, UINT64_C(1) << i, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);
}

void cn__park_cancel(cn__parking *p, unsigned i)
{
    /* relaxed: withdrawing needs no ordering; if a waker cleared the bit first, its
     * wake word store is simply left for the next park. */
    atomic_fetch_and_explicit(&p->mask, ~(UINT64_C(1) << i), memory_order_relaxed);
}

void cn__park_wait(cn__parking *p, unsigned i)
{
    /* acquire: pairs with the waker's release store, which follows its publication
     * of the run-queue entry. */
    while (atomic_load_explicit(&p->slot[i].wake, memory_order_acquire) == 0)
        futex_wait(&p->slot[i].wake, 0);
}

static void wake_slot(cn__parking *p, unsigned i)
{
    /* release: pairs with the acquire load in cn__park_wait. */
    atomic_store_explicit(&p->slot[i].wake, 1, memory_order_release);
    futex_wake(&p->slot[i].wake);
}

bool cn__unpark_one(cn__parking *p)
{
    /* seq_cst fence: pairs with the fence in cn__park_prepare (see park.h). */
    atomic_thread_fence(memory_order_seq_cst);
    /* relaxed: ordered by the fence above; the CAS re-validates. */
    uint64_t m = atomic_load_explicit(&p->mask, memory_order_relaxed);
    while (m) {
        unsigned i = (unsigned)__builtin_ctzll(m);
        /* relaxed: claiming only has to be exclusive (one claimer per bit); the wake
         * word's release/acquire carries the ordering. */
        if (atomic_compare_exchange_weak_explicit(&p->mask, &m, m & ~(UINT64_C(1) << i),
                                                  memory_order_relaxed, memory_order_relaxed)) {
            wake_slot(p, i);
            return true;
        }
    }
    return false;
}

void cn__unpark_all(cn__parking *p)
{
    atomic_thread_fence(memory_order_seq_cst); /* as in cn__unpark_one */
    /* relaxed: as in cn__unpark_one; the exchange claims every bit at once. */
    uint64_t m = atomic_exchange_explicit(&p->mask, 0, memory_order_relaxed);
    while (m) {
        unsigned i = (unsigned)__builtin_ctzll(m);
        m &= m - 1;
        wake_slot(p, i);
    }
}

unsigned cn__parked_count(cn__parking *p)
{
    /* relaxed: a statistic. */
    return (unsigned)__builtin_popcountll(atomic_load_explicit(&p->mask, memory_order_relaxed));
}
