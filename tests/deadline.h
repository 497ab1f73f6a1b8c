/* The absolute CLOCK_REALTIME time `timeout_ms` from now, for pthread_cond_timedwait:
 * tests wait on a condition with a deadline, never sleep and hope. */
#ifndef CN_TESTS_DEADLINE_H
#define CN_TESTS_DEADLINE_H

#include <time.h>

static inline struct timespec cn_test_deadline(int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    return until;
}

#endif
