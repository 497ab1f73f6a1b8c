/* Shared helpers for the actor runtime tests: a counted test message and waiting on a
 * condition under a deadline (never sleep-and-hope). */
#ifndef CN_TESTS_ACTORS_TESTUTIL_H
#define CN_TESTS_ACTORS_TESTUTIL_H

#include "actors/runtime/runtime.h"
#include "base/clock.h"
#include "base/xmalloc.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

/* Sanitizer builds run several times slower: scale the big counts down. */
#ifdef CN_SANITIZED
#define SCALE(normal, sanitized) (sanitized)
#else
#define SCALE(normal, sanitized) (normal)
#endif

typedef struct test_msg {
    cn_msg hdr;
    unsigned sender;
    uint64_t seq;
    uint64_t t0_ns;
} test_msg;

/* Every test_msg allocated and freed, so each test can prove it leaked nothing even
 * outside ASan builds. */
static _Atomic uint64_t msgs_allocated, msgs_freed;

static void test_msg_free(cn_msg *m)
{
    atomic_fetch_add(&msgs_freed, 1);
    free(m);
}

static inline test_msg *test_msg_new(unsigned sender, uint64_t seq)
{
    test_msg *m = cn_xmalloc(sizeof *m);
    cn_msg_init(&m->hdr, 1, test_msg_free);
    m->sender = sender;
    m->seq = seq;
    m->t0_ns = 0;
    atomic_fetch_add(&msgs_allocated, 1);
    return m;
}

static inline bool msgs_balanced(void)
{
    return atomic_load(&msgs_allocated) == atomic_load(&msgs_freed);
}

/* Polls `cond` until it holds or `ms` milliseconds pass; evaluates to whether it held. */
#define WAIT_FOR(cond, ms)                                                                         \
    ({                                                                                             \
        uint64_t wf_deadline = cn_now_ns() + (uint64_t)(ms)*1000000u;                              \
        bool wf_ok;                                                                                \
        while (!(wf_ok = (cond)) && cn_now_ns() < wf_deadline) {                                   \
            struct timespec wf_ts = {0, 20000};                                                    \
            nanosleep(&wf_ts, NULL);                                                               \
        }                                                                                          \
        wf_ok;                                                                                     \
    })

#endif
