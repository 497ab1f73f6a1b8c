/* Renders the /metrics page (Prometheus text format) from snapshots of every
 * source: the actor runtime, the HTTP server, the health checker and the
 * process. Pure formatting: callers take the snapshots.
 *
 * Memory: the page is returned in a strbuf the caller owns. */
#ifndef CN_NODE_METRICS_H
#define CN_NODE_METRICS_H

#include "actors/runtime/runtime.h"
#include "base/strbuf.h"
#include "io/health.h"
#include "io/http_server.h"
#include "io/pg_pool.h"
#include "io/process_stats.h"
#include "io/redis_client.h"
#include "actors/rest/rest.h"
#include "actors/session/send_metrics.h"
#include "io/ws_counters.h"

struct cn_metrics_sources {
    const char *node_id;
    const struct cn_runtime_stats *runtime;
    const struct cn_http_server_stats *http;
    struct cn_http_server *http_server; /* the public listener's request metrics; NULL: none */
    const struct cn_health_snapshot *health;
    const struct cn_process_stats *process;
    const struct cn_pg_pool_stats *pg;   /* NULL: not shown */
    const struct cn_redis_stats *redis;  /* NULL: not shown */
    const struct cn_rest_counters *rest; /* NULL: not shown */
    const struct cn_ws_counters *ws;     /* NULL: not shown */
    const struct cn_send_counters *send; /* NULL: not shown */
};

/* Appends the whole page to b. Cannot fail. */
void cn_metrics_render(struct cn_strbuf *b, const struct cn_metrics_sources *src);

#endif
