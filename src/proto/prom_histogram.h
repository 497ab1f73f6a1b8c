/* A latency histogram for the Prometheus text format: fixed bounds (microseconds,
 * ascending), one relaxed atomic count per bucket plus a sum, written by any thread and
 * rendered as the cumulative _bucket/_sum/_count samples Prometheus expects. Relaxed on
 * both sides: statistics, nothing synchronises on them (a scrape may see a count one
 * observation ahead of the sum).
 *
 * Memory: the struct is the caller's (embed it); `bounds_us` is borrowed (static). No
 * allocation; a zeroed struct is an empty histogram with cn_prom_latency_bounds_us. */
#ifndef CN_PROTO_PROM_HISTOGRAM_H
#define CN_PROTO_PROM_HISTOGRAM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/strbuf.h"

#define CN_PROM_HISTO_MAX_BOUNDS 16

struct cn_prom_histo {
    const uint64_t *bounds_us; /* ascending, at most CN_PROM_HISTO_MAX_BOUNDS; NULL: latency */
    size_t nbounds;
    /* bucket i counts values <= bounds_us[i] and > bounds_us[i-1]; the last is +Inf */
    atomic_uint_fast64_t buckets[CN_PROM_HISTO_MAX_BOUNDS + 1];
    atomic_uint_fast64_t sum_ns;
};

/* Bounds shared by the request and pipeline stage histograms: 250 us to 10 s. */
extern const uint64_t cn_prom_latency_bounds_us[];
extern const size_t cn_prom_latency_nbounds;

/* Sets the bounds and zeroes the counts. Not concurrent with observe. */
void cn_prom_histo_init(struct cn_prom_histo *h, const uint64_t *bounds_us, size_t nbounds);

/* Counts `n` observations of `ns` nanoseconds. Any thread; cannot fail. */
void cn_prom_histo_observe_n(struct cn_prom_histo *h, uint64_t ns, uint64_t n);

static inline void cn_prom_histo_observe(struct cn_prom_histo *h, uint64_t ns)
{
    cn_prom_histo_observe_n(h, ns, 1);
}

/* Writes name_bucket{labels,le=...}, name_sum{labels} and name_count{labels} (no
 * HELP/TYPE header: cn_prom_family with "histogram" once per family). `labels` is NULL
 * or a preformatted list (cn_prom_label). Any thread; cannot fail. */
void cn_prom_histo_render(struct cn_strbuf *b, const char *name, const char *labels,
                          const struct cn_prom_histo *h);

/* The total count. Any thread. */
uint64_t cn_prom_histo_count(const struct cn_prom_histo *h);

#endif
