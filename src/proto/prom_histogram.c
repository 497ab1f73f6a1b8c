/* Prometheus histograms; see prom_histogram.h. */
#include "proto/prom_histogram.h"

#include <stdio.h>
#include <string.h>

#include "proto/prom.h"

/* 250 us to 10 s: node-local hops are sub-millisecond, a stalled pipeline is seconds. */
const uint64_t cn_prom_latency_bounds_us[] = {250,    500,     1000,    2500,    5000,
                                              10000,  25000,   50000,   100000,  250000,
                                              500000, 1000000, 2500000, 5000000, 10000000};
const size_t cn_prom_latency_nbounds =
    sizeof cn_prom_latency_bounds_us / sizeof cn_prom_latency_bounds_us[0];

void cn_prom_histo_init(struct cn_prom_histo *h, const uint64_t *bounds_us, size_t nbounds)
{
    memset(h, 0, sizeof *h);
    h->bounds_us = bounds_us;
    h->nbounds = nbounds < CN_PROM_HISTO_MAX_BOUNDS ? nbounds : CN_PROM_HISTO_MAX_BOUNDS;
}

/* A zeroed histogram (no init) has the latency bounds. */
static const uint64_t *bounds_of(const struct cn_prom_histo *h, size_t *n)
{
    *n = h->bounds_us ? h->nbounds : cn_prom_latency_nbounds;
    return h->bounds_us ? h->bounds_us : cn_prom_latency_bounds_us;
}

void cn_prom_histo_observe_n(struct cn_prom_histo *h, uint64_t ns, uint64_t n)
{
    uint64_t us = ns / 1000;
    size_t nb, b = 0;
    const uint64_t *bounds = bounds_of(h, &nb);
    while (b < nb && us > bounds[b])
        b++;
    atomic_fetch_add_explicit(&h->buckets[b], n, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, ns * n, memory_order_relaxed);
}

uint64_t cn_prom_histo_count(const struct cn_prom_histo *h)
{
    uint64_t n = 0;
    size_t nb;
    (void)bounds_of(h, &nb);
    for (size_t i = 0; i <= nb; i++)
        n += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
    return n;
}

void cn_prom_histo_render(struct cn_strbuf *b, const char *name, const char *labels,
                          const struct cn_prom_histo *h)
{
    char sample[128], lbl[256];
    const char *sep = labels && labels[0] ? "," : "";
    const char *pre = labels ? labels : "";
    uint64_t cumulative = 0;
    size_t nb;
    const uint64_t *bounds = bounds_of(h, &nb);
    snprintf(sample, sizeof sample, "%s_bucket", name);
    for (size_t i = 0; i <= nb; i++) {
        cumulative += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        if (i < nb)
            snprintf(lbl, sizeof lbl, "%s%sle=\"%g\"", pre, sep, (double)bounds[i] / 1e6);
        else
            snprintf(lbl, sizeof lbl, "%s%sle=\"+Inf\"", pre, sep);
        cn_prom_sample_u64(b, sample, lbl, cumulative);
    }
    const char *l = labels && labels[0] ? labels : NULL;
    snprintf(sample, sizeof sample, "%s_sum", name);
    cn_prom_sample_f64(b, sample, l,
                       (double)atomic_load_explicit(&h->sum_ns, memory_order_relaxed) / 1e9);
    snprintf(sample, sizeof sample, "%s_count", name);
    cn_prom_sample_u64(b, sample, l, cumulative);
}
