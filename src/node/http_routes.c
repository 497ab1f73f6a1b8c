/* The node's HTTP routes; see http_routes.h. */
#include "node/http_routes.h"

#include <jansson.h>
#include <string.h>

#include "base/strbuf.h"
#include "base/xmalloc.h"
#include "io/kafka_producer.h"
#include "actors/room/room_metrics.h"
#include "node/metrics.h"
#include "actors/pipeline/broadcast_pipeline.h"
#include "actors/pipeline/consumer_metrics.h"
#include "actors/pipeline/persist.h"
#include "actors/presence/presence.h"
#include "actors/membership/membership.h"
#include "actors/user_events/user_events.h"
#include "actors/pipeline/read_receipts.h"
#include "io/process_stats.h"
#include "io/static_files.h"

static const char json_content_type[] = "application/json";

static void set_json(struct cn_http_response *resp, int status, json_t *body)
{
    resp->status = status;
    resp->content_type = json_content_type;
    resp->body = json_dumps(body, JSON_COMPACT);
    if (!resp->body)
        cn_oom(0);
    resp->body_len = strlen(resp->body);
    json_decref(body);
}

void cn_http_routes_health_detail(struct cn_http_routes *r, struct cn_http_response *resp)
{
    struct cn_health_snapshot snap;
    cn_health_snapshot(r->health, &snap);
    json_t *checks = json_object();
    bool all_ok = true;
    for (int d = 0; d < CN_DEP_COUNT; d++) {
        all_ok &= snap.ok[d];
        json_object_set_new(checks, cn_dep_name((enum cn_dep)d),
                            json_string(snap.ok[d] ? "ok" : snap.reason[d]));
    }
    bool draining = atomic_load_explicit(&r->draining, memory_order_relaxed);
    const char *status = draining ? "draining" : all_ok ? "ok" : "unavailable";
    json_t *body =
        json_pack("{s:s,s:s,s:o}", "status", status, "node", r->node_id, "checks", checks);
    set_json(resp, all_ok && !draining ? 200 : 503, body);
}

/* The public /healthz: up or down, nothing about the dependencies (those are on the
 * admin listener). A load balancer needs no more. */
static void health_public(struct cn_http_routes *r, struct cn_http_response *resp)
{
    struct cn_health_snapshot snap;
    cn_health_snapshot(r->health, &snap);
    bool up = !atomic_load_explicit(&r->draining, memory_order_relaxed);
    for (int d = 0; d < CN_DEP_COUNT; d++)
        up &= snap.ok[d];
    set_json(resp, up ? 200 : 503, json_pack("{s:s}", "status", up ? "up" : "down"));
}

void cn_http_routes_metrics(struct cn_http_routes *r, struct cn_http_response *resp)
{
    /* cn_runtime_stats is large (per-worker arrays): keep it off the I/O stack. */
    struct cn_runtime_stats *rts = cn_xmalloc(sizeof *rts);
    cn_runtime_stats(r->runtime, rts);
    struct cn_http_server_stats hs = {0};
    struct cn_http_server *srv = atomic_load_explicit(&r->server, memory_order_acquire);
    if (srv)
        cn_http_server_stats(srv, &hs);
    struct cn_health_snapshot snap;
    cn_health_snapshot(r->health, &snap);
    struct cn_process_stats ps;
    cn_process_stats_read(&ps, r->start_wall_ms);

    struct cn_pg_pool_stats pgs;
    struct cn_redis_stats rds;
    if (r->pg)
        cn_pg_pool_stats(r->pg, &pgs);
    if (r->redis)
        cn_redis_stats(r->redis, &rds);
    struct cn_metrics_sources src = {
        .node_id = r->node_id,
        .http_server = srv,
        .runtime = rts,
        .http = &hs,
        .health = &snap,
        .process = &ps,
        .pg = r->pg ? &pgs : NULL,
        .redis = r->redis ? &rds : NULL,
        .rest = r->rest ? r->rest->counters : NULL,
        .ws = r->ws,
        .send = r->send,
    };
    struct cn_strbuf b;
    cn_strbuf_init(&b, 8192);
    cn_metrics_render(&b, &src);
    cn_persist_metrics_render(&b, r->persist);
    const struct cn_consumer_metrics_group groups[] = {
        {cn_persist_group(r->persist), r->messages_partitions},
        {cn_broadcast_group(r->broadcast), r->messages_partitions},
        {cn_read_receipts_group(r->receipts), r->receipts_partitions},
    };
    cn_consumer_metrics_render(&b, groups, sizeof groups / sizeof groups[0]);
    cn_fanout_metrics_render(&b, r->fanout);
    cn_read_receipts_metrics_render(&b, r->receipts);
    cn_presence_metrics_render(&b, r->presence);
    cn_membership_metrics_render(&b, r->membership);
    cn_user_events_metrics_render(&b, r->user_events);
    cn_kafka_producer_metrics_render(&b, r->producer);
    free(rts);
    resp->status = 200;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    resp->body = cn_strbuf_take(&b, &resp->body_len);
}

void cn_http_routes_handle(void *ctx, const struct cn_http_request *req,
                           struct cn_http_response *resp, const struct cn_http_later *later)
{
    struct cn_http_routes *r = ctx;
    if (r->rest && cn_rest_handle(r->rest, req, resp, later))
        return;
    bool get = strcmp(req->method, "GET") == 0;
    /* /metrics and the detailed health are on the admin listener (node/admin_http.h):
     * here /metrics is an unknown path like any other. */
    if (strcmp(req->path, "/healthz") == 0) {
        resp->route = "/healthz";
        if (get)
            health_public(r, resp);
        else
            cn_http_error(resp, 405, "METHOD_NOT_ALLOWED", "use GET");
        return;
    }
    if (cn_static_files_handle(r->statics, req, resp)) {
        resp->route = "static"; /* the web client's files, one series */
        return;
    }
    cn_http_error(resp, 404, "NOT_FOUND", "no such resource");
}
