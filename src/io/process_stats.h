/* Reads this process's resource use from /proc and getrusage for /metrics.
 * Cannot fail: a value that cannot be read is reported as 0. */
#ifndef CN_IO_PROCESS_STATS_H
#define CN_IO_PROCESS_STATS_H

#include <stdint.h>

struct cn_process_stats {
    uint64_t rss_bytes;
    double cpu_seconds; /* user + system */
    uint64_t open_fds;
    uint64_t max_fds;
    double start_time_seconds; /* since the epoch */
};

/* Fills out. start_wall_ms is when the process started (cn_wall_ms at start). */
void cn_process_stats_read(struct cn_process_stats *out, int64_t start_wall_ms);

#endif
