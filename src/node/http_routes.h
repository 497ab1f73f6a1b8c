/* The node's HTTP routes: the REST API, GET /healthz (up or down only), and last the
 * web client's static files (io/static_files.h). The admin listener (node/admin_http.h)
 * serves GET /metrics and the detailed health through the two renderers below. Called on I/O
 * threads by the HTTP server; never blocks (health is read from the checker's last snapshot,
 * metrics from counters).
 *
 * Memory: the context is owned by the program; the routes only borrow it. */
#ifndef CN_NODE_HTTP_ROUTES_H
#define CN_NODE_HTTP_ROUTES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "actors/runtime/runtime.h"
#include "actors/room/room_counters.h"
#include "io/health.h"
#include "io/http_server.h"
#include "actors/rest/rest.h"

struct cn_read_receipts;
struct cn_broadcast;
struct cn_presence;
struct cn_membership;
struct cn_user_events;
struct cn_static_files;
struct cn_kafka_producer;

struct cn_http_routes {
    const char *node_id;
    cn_runtime *runtime;
    struct cn_health *health;
    /* Set once the server runs; requests arrive only after that, but the store
     * and the loads are on different threads, hence atomic (release/acquire). */
    _Atomic(struct cn_http_server *) server;
    int64_t start_wall_ms;
    atomic_bool draining;            /* /healthz answers 503 ("draining" on the admin port) */
    const struct cn_rest_deps *rest; /* the REST API; NULL: /api/ answers 404 */
    /* Adapters whose counters /metrics shows; NULL when absent. */
    struct cn_pg_pool *pg;
    struct cn_redis *redis;
    const struct cn_ws_counters *ws;         /* WebSocket/STOMP counters; NULL: not shown */
    struct cn_persist *persist;              /* the persistence pipeline; NULL: not shown */
    struct cn_broadcast *broadcast;          /* the broadcast pipeline; NULL: not shown */
    int messages_partitions;                 /* kafka.messages_partitions (consumer metrics) */
    int receipts_partitions;                 /* kafka.read_receipts_partitions */
    const struct cn_send_counters *send;     /* SEND outcomes; NULL: not shown */
    const struct cn_fanout_counters *fanout; /* broadcast + rooms; NULL: not shown */
    struct cn_read_receipts *receipts;       /* the read-receipt pipeline; NULL: not shown */
    struct cn_presence *presence;            /* presence; NULL: not shown */
    struct cn_membership *membership;        /* revocations; NULL: not shown */
    struct cn_user_events *user_events;      /* per-user live events; NULL: not shown */
    const struct cn_static_files *statics;   /* the web client (http.static_dir); NULL: none */
    struct cn_kafka_producer *producer;      /* the SEND path's producer; NULL: not shown */
};

/* The cn_http_handler_fn for cn_http_server_config; ctx is a struct cn_http_routes. */
void cn_http_routes_handle(void *ctx, const struct cn_http_request *req,
                           struct cn_http_response *resp, const struct cn_http_later *later);

/* The Prometheus page (200, text/plain). I/O thread of the admin listener; never blocks. */
void cn_http_routes_metrics(struct cn_http_routes *r, struct cn_http_response *resp);

/* {"status":"ok"|"unavailable"|"draining","node","checks":{dep: "ok" or the reason}}:
 * 200 when every dependency is up and the node is not draining, 503 otherwise. */
void cn_http_routes_health_detail(struct cn_http_routes *r, struct cn_http_response *resp);

#endif
