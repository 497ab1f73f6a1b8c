/* The HTTP server's request metrics: chat_http_requests_total and the histogram
 * chat_http_request_duration_seconds, both labelled by route template (the REST
 * pattern such as /api/rooms/{roomId}/messages, /healthz, static, or "other" for a
 * path nothing serves), method and status class (2xx, 4xx, 5xx). Labels come from
 * static strings only, so the number of series is bounded by the route table; a
 * table that is somehow full counts into one route="other" series.
 *
 * Memory: cn_http_metrics_new allocates the table; cn_http_metrics_free frees it.
 * Route strings are borrowed and must be static. */
#ifndef CN_IO_HTTP_METRICS_H
#define CN_IO_HTTP_METRICS_H

#include <stdint.h>

#include "base/strbuf.h"

struct cn_http_metrics;

struct cn_http_metrics *cn_http_metrics_new(void);
void cn_http_metrics_free(struct cn_http_metrics *m);

/* Counts one answered request: `route` static or NULL ("other"), `method` as received
 * (anything unknown counts as "other"), `status` the HTTP status, `ns` from the request
 * line to the answer being queued. Any thread (a mutex guards the series list). */
void cn_http_metrics_observe(struct cn_http_metrics *m, const char *route, const char *method,
                             int status, uint64_t ns);

/* Appends both families (headers included, even with no series yet). Any thread. */
void cn_http_metrics_render(struct cn_http_metrics *m, struct cn_strbuf *b);

#endif
