/* The latency histogram; see latency_hist.h. */
#include "latency_hist.h"

static unsigned index_of(uint64_t us)
{
    if (us < 1000)
        return (unsigned)us;
    if (us < 10000)
        return 1000 + (unsigned)((us - 1000) / 10);
    if (us < 100000)
        return 1900 + (unsigned)((us - 10000) / 100);
    if (us < 10000000)
        return 2800 + (unsigned)((us - 100000) / 1000);
    return LAT_BUCKETS - 1;
}

static uint64_t upper_of(unsigned i)
{
    if (i < 1000)
        return i;
    if (i < 1900)
        return 1000 + (uint64_t)(i - 1000) * 10 + 9;
    if (i < 2800)
        return 10000 + (uint64_t)(i - 1900) * 100 + 99;
    if (i < LAT_BUCKETS - 1)
        return 100000 + (uint64_t)(i - 2800) * 1000 + 999;
    return UINT64_MAX;
}

void latency_hist_add(struct latency_hist *h, uint64_t us)
{
    h->bucket[index_of(us)]++;
    h->count++;
    if (us > h->max_us)
        h->max_us = us;
}

uint64_t latency_hist_quantile(const struct latency_hist *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t want = (uint64_t)(q * (double)h->count + 0.999999);
    if (want < 1)
        want = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < LAT_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen >= want) {
            uint64_t u = upper_of(i);
            return u < h->max_us ? u : h->max_us;
        }
    }
    return h->max_us;
}
