/* A latency timeline for chat-bench: per 100 ms slot of send time, how many samples
 * arrived, the worst, and how many passed 25 ms. It tells a steady queue (every slot
 * slow) from stalls (a few slots very slow), which one p99 cannot. The caller owns
 * the struct; no allocation; samples sent after the last slot land in it. */
#ifndef CN_BENCH_LATENCY_TIMELINE_H
#define CN_BENCH_LATENCY_TIMELINE_H

#include <stdint.h>
#include <stdio.h>

#define TIMELINE_SLOT_NS 100000000LL
#define TIMELINE_SLOTS   6000 /* 10 minutes */

struct latency_timeline {
    int64_t start_ns;
    struct {
        uint32_t count, over_25ms, max_us;
    } slot[TIMELINE_SLOTS];
};

void latency_timeline_add(struct latency_timeline *tl, int64_t sent_ns, uint64_t us);

/* Writes "t_s count over_25ms max_ms" lines for the slots that have samples. */
void latency_timeline_write(const struct latency_timeline *tl, FILE *f);

#endif
