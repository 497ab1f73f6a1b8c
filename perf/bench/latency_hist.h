/* A latency histogram for chat-bench: fixed log-linear buckets over microseconds,
 * so recording is one index computation and an increment, and percentiles are exact
 * to the bucket width (1 us below 1 ms, 10 us below 10 ms, 100 us below 100 ms, 1 ms
 * below 10 s; longer values land in the last bucket). The caller owns the struct;
 * no allocation. */
#ifndef CN_BENCH_LATENCY_HIST_H
#define CN_BENCH_LATENCY_HIST_H

#include <stdint.h>

#define LAT_BUCKETS (1000 + 900 + 900 + 9900 + 1)

struct latency_hist {
    uint64_t count, max_us;
    uint64_t bucket[LAT_BUCKETS];
};

void latency_hist_add(struct latency_hist *h, uint64_t us);

/* The smallest value v such that at least fraction q (0..1] of samples are <= v, as
 * the upper bound of its bucket, in microseconds; 0 for an empty histogram. */
uint64_t latency_hist_quantile(const struct latency_hist *h, double q);

#endif
