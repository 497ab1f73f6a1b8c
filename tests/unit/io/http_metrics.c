/* Tests src/io/http_metrics.c: one series per route template, method and status class;
 * unknown methods and a missing route fold into "other"; the counter and the histogram's
 * count agree. */
#include "check.h"
#include "io/http_metrics.h"

static void test_series_by_route_method_and_class(void)
{
    struct cn_http_metrics *m = cn_http_metrics_new();
    cn_http_metrics_observe(m, "/api/rooms/{roomId}", "GET", 200, 1000000);
    cn_http_metrics_observe(m, "/api/rooms/{roomId}", "GET", 204, 3000000);
    cn_http_metrics_observe(m, "/api/rooms/{roomId}", "GET", 404, 1000000);
    cn_http_metrics_observe(m, NULL, "BREW", 501, 1000);
    struct cn_strbuf b;
    cn_strbuf_init(&b, 256);
    cn_http_metrics_render(m, &b);
    CHECK(strstr(b.data, "# TYPE chat_http_requests_total counter\n") != NULL);
    CHECK(strstr(b.data, "# TYPE chat_http_request_duration_seconds histogram\n") != NULL);
    CHECK(strstr(b.data, "chat_http_requests_total{route=\"/api/rooms/{roomId}\",method=\"GET\","
                         "status=\"2xx\"} 2\n") != NULL);
    CHECK(strstr(b.data, "chat_http_requests_total{route=\"/api/rooms/{roomId}\",method=\"GET\","
                         "status=\"4xx\"} 1\n") != NULL);
    CHECK(strstr(b.data, "chat_http_requests_total{route=\"other\",method=\"other\","
                         "status=\"5xx\"} 1\n") != NULL);
    CHECK(strstr(b.data, "chat_http_request_duration_seconds_count{route=\"/api/rooms/{roomId}\","
                         "method=\"GET\",status=\"2xx\"} 2\n") != NULL);
    CHECK(strstr(b.data, "chat_http_request_duration_seconds_sum{route=\"/api/rooms/{roomId}\","
                         "method=\"GET\",status=\"2xx\"} 0.0040000000000000001\n") != NULL);
    cn_strbuf_free(&b);
    cn_http_metrics_free(m);
}

CN_TEST_MAIN(test_series_by_route_method_and_class)
