/* Per-slot latency records; see latency_timeline.h. */
#include "latency_timeline.h"

void latency_timeline_add(struct latency_timeline *tl, int64_t sent_ns, uint64_t us)
{
    int64_t i = (sent_ns - tl->start_ns) / TIMELINE_SLOT_NS;
    if (i < 0)
        return; /* warm-up, before the measured window */
    if (i >= TIMELINE_SLOTS)
        i = TIMELINE_SLOTS - 1;
    tl->slot[i].count++;
    tl->slot[i].over_25ms += us > 25000;
    if (us > tl->slot[i].max_us)
        tl->slot[i].max_us = (uint32_t)(us > UINT32_MAX ? UINT32_MAX : us);
}

void latency_timeline_write(const struct latency_timeline *tl, FILE *f)
{
    for (int i = 0; i < TIMELINE_SLOTS; i++)
        if (tl->slot[i].count)
            fprintf(f, "%.1f %u %u %.1f\n", i * (TIMELINE_SLOT_NS / 1e9), tl->slot[i].count,
                    tl->slot[i].over_25ms, tl->slot[i].max_us / 1e3);
}
