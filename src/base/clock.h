/* Monotonic and wall clocks as plain integers. Cannot fail. */
#ifndef CN_BASE_CLOCK_H
#define CN_BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Nanoseconds on CLOCK_MONOTONIC: for deadlines and latency, never for display. */
static inline uint64_t cn_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t cn_now_ms(void)
{
    return cn_now_ns() / 1000000u;
}

/* Milliseconds on CLOCK_MONOTONIC_COARSE (a few ms of resolution, a fraction of the
 * cost): for stamps taken on hot paths where a tick's precision is enough. */
static inline uint64_t cn_now_coarse_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Milliseconds since the Unix epoch: for timestamps that leave the process. */
static inline int64_t cn_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
