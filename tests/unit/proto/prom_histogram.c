/* Tests src/proto/prom_histogram.c: buckets are cumulative, +Inf equals _count, the sum is
 * in seconds, and a zeroed histogram uses the latency bounds. */
#include "check.h"
#include "proto/prom_histogram.h"

static void test_buckets_are_cumulative(void)
{
    static const uint64_t bounds[] = {1000, 10000}; /* 1 ms, 10 ms */
    struct cn_prom_histo h;
    cn_prom_histo_init(&h, bounds, 2);
    cn_prom_histo_observe(&h, 500000);       /* 0.5 ms */
    cn_prom_histo_observe_n(&h, 5000000, 2); /* 5 ms, twice */
    cn_prom_histo_observe(&h, 20000000);     /* 20 ms */
    CHECK_EQ(cn_prom_histo_count(&h), 4);
    struct cn_strbuf b;
    cn_strbuf_init(&b, 64);
    cn_prom_histo_render(&b, "x_seconds", "route=\"/a/{id}\"", &h);
    CHECK_STR(b.data, "x_seconds_bucket{route=\"/a/{id}\",le=\"0.001\"} 1\n"
                      "x_seconds_bucket{route=\"/a/{id}\",le=\"0.01\"} 3\n"
                      "x_seconds_bucket{route=\"/a/{id}\",le=\"+Inf\"} 4\n"
                      "x_seconds_sum{route=\"/a/{id}\"} 0.030499999999999999\n"
                      "x_seconds_count{route=\"/a/{id}\"} 4\n");
    cn_strbuf_free(&b);
}

static void test_zeroed_histogram_has_the_latency_bounds(void)
{
    struct cn_prom_histo h = {0};
    cn_prom_histo_observe(&h, 300000); /* 0.3 ms: the 500 us bucket */
    struct cn_strbuf b;
    cn_strbuf_init(&b, 64);
    cn_prom_histo_render(&b, "y_seconds", NULL, &h);
    CHECK(strstr(b.data, "y_seconds_bucket{le=\"0.00025\"} 0\n") != NULL);
    CHECK(strstr(b.data, "y_seconds_bucket{le=\"0.0005\"} 1\n") != NULL);
    CHECK(strstr(b.data, "y_seconds_bucket{le=\"10\"} 1\n") != NULL);
    CHECK(strstr(b.data, "y_seconds_count 1\n") != NULL);
    cn_strbuf_free(&b);
}

CN_TEST_MAIN(test_buckets_are_cumulative, test_zeroed_histogram_has_the_latency_bounds)
