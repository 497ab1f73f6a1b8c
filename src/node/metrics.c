/* The /metrics page; see metrics.h. Metric names follow Prometheus conventions:
 * `chat_` prefix for ours, `process_` for the standard process family, `_total`
 * on counters, base units (seconds, bytes). */
#include "node/metrics.h"

#include <stddef.h>
#include <stdio.h>

#include "proto/prom.h"

static void render_runtime(struct cn_strbuf *b, const struct cn_runtime_stats *rt)
{
    cn_prom_gauge(b, "chat_runtime_workers", "Actor worker threads.", rt->workers);
    cn_prom_gauge(b, "chat_runtime_workers_parked", "Worker threads asleep right now.",
                  rt->workers_parked);
    cn_prom_gauge(b, "chat_runtime_actors", "Live actors.", (double)rt->actors_alive);
    cn_prom_counter(b, "chat_runtime_actors_spawned_total", "Actors spawned since start.",
                    rt->actors_spawned);
    cn_prom_counter(b, "chat_runtime_sends_dropped_total",
                    "Messages sent to stopped actors and dropped.", rt->sends_dropped);
    cn_prom_counter(b, "chat_runtime_messages_discarded_total",
                    "Messages freed undelivered when their actor stopped.", rt->msgs_discarded);
    cn_prom_counter(b, "chat_runtime_timers_fired_total", "Timers that delivered their message.",
                    rt->timers_fired);
    cn_prom_counter(b, "chat_runtime_timers_cancelled_total", "Timers cancelled before firing.",
                    rt->timers_cancelled);
    cn_prom_gauge(b, "chat_runtime_timers_pending", "Timers armed and not yet fired.",
                  (double)rt->timers_pending);

    static const struct {
        const char *name, *help;
        size_t offset;
    } per_worker[] = {
        {"chat_runtime_worker_messages_total", "Messages handled, per worker.",
         offsetof(cn_worker_stats, messages)},
        {"chat_runtime_worker_turns_total", "Actor turns run, per worker.",
         offsetof(cn_worker_stats, actors_run)},
        {"chat_runtime_worker_steals_total", "Actors stolen from another worker's queue.",
         offsetof(cn_worker_stats, steals)},
        {"chat_runtime_worker_parks_total", "Times the worker went to sleep.",
         offsetof(cn_worker_stats, parks)},
    };
    for (size_t f = 0; f < sizeof per_worker / sizeof per_worker[0]; f++) {
        cn_prom_family(b, per_worker[f].name, "counter", per_worker[f].help);
        for (unsigned w = 0; w < rt->workers && w < CN_RUNTIME_MAX_WORKERS; w++) {
            char label[32];
            snprintf(label, sizeof label, "worker=\"%u\"", w);
            const uint64_t *v =
                (const uint64_t *)((const char *)&rt->worker[w] + per_worker[f].offset);
            cn_prom_sample_u64(b, per_worker[f].name, label, *v);
        }
    }
}

static void render_http(struct cn_strbuf *b, const struct cn_http_server_stats *h,
                        struct cn_http_server *srv)
{
    cn_prom_counter(b, "chat_http_connections_accepted_total", "TCP connections accepted.",
                    h->connections_accepted);
    /* chat_http_requests_total and chat_http_request_duration_seconds, by route
     * template, method and status class (io/http_metrics.h). */
    if (srv)
        cn_http_server_metrics_render(srv, b);
    cn_prom_counter(b, "chat_http_replies_dropped_total",
                    "Deferred answers whose client had gone or timed out.", h->replies_dropped);
}

static void render_health(struct cn_strbuf *b, const struct cn_health_snapshot *hs)
{
    char label[64];
    cn_prom_family(b, "chat_dependency_up", "gauge",
                   "1 when the dependency answered its last probe.");
    for (int d = 0; d < CN_DEP_COUNT; d++) {
        cn_prom_label(label, sizeof label, "dep", cn_dep_name((enum cn_dep)d));
        cn_prom_sample_u64(b, "chat_dependency_up", label, hs->ok[d] ? 1 : 0);
    }
    cn_prom_family(b, "chat_dependency_probe_failures_total", "counter",
                   "Failed probes per dependency.");
    for (int d = 0; d < CN_DEP_COUNT; d++) {
        cn_prom_label(label, sizeof label, "dep", cn_dep_name((enum cn_dep)d));
        cn_prom_sample_u64(b, "chat_dependency_probe_failures_total", label, hs->failures[d]);
    }
}

static void render_process(struct cn_strbuf *b, const struct cn_process_stats *p)
{
    cn_prom_gauge(b, "process_resident_memory_bytes", "Resident memory size in bytes.",
                  (double)p->rss_bytes);
    cn_prom_family(b, "process_cpu_seconds_total", "counter",
                   "User and system CPU time in seconds.");
    cn_prom_sample_f64(b, "process_cpu_seconds_total", NULL, p->cpu_seconds);
    cn_prom_gauge(b, "process_open_fds", "Open file descriptors.", (double)p->open_fds);
    cn_prom_gauge(b, "process_max_fds", "Limit of open file descriptors.", (double)p->max_fds);
    cn_prom_gauge(b, "process_start_time_seconds", "Start time since the epoch in seconds.",
                  p->start_time_seconds);
}

static void render_pg(struct cn_strbuf *b, const struct cn_pg_pool_stats *pg)
{
    cn_prom_counter(b, "chat_pg_queries_total", "Statements sent to PostgreSQL.", pg->queries);
    cn_prom_counter(b, "chat_pg_errors_total", "Queries answered with an error.", pg->errors);
    cn_prom_counter(b, "chat_pg_reconnects_total", "PostgreSQL reconnections.", pg->reconnects);
    cn_prom_counter(b, "chat_pg_rejected_total", "Queries refused because the queue was full.",
                    pg->rejected);
    cn_prom_gauge(b, "chat_pg_queued", "Queries waiting for a connection.", (double)pg->queued);
    cn_prom_gauge(b, "chat_pg_connections_up", "PostgreSQL connections ready.",
                  (double)pg->conns_up);
    /* The pool counts per bucket; Prometheus buckets are cumulative. */
    cn_prom_family(b, "chat_pg_query_duration_seconds", "histogram",
                   "Query latency from submission to reply, queue wait included.");
    uint64_t cumulative = 0;
    for (int i = 0; i < CN_PG_LATENCY_BUCKETS; i++) {
        char label[32];
        cumulative += pg->latency_buckets[i];
        snprintf(label, sizeof label, "le=\"%g\"", (double)cn_pg_latency_bounds_us[i] / 1e6);
        cn_prom_sample_u64(b, "chat_pg_query_duration_seconds_bucket", label, cumulative);
    }
    cumulative += pg->latency_buckets[CN_PG_LATENCY_BUCKETS];
    cn_prom_sample_u64(b, "chat_pg_query_duration_seconds_bucket", "le=\"+Inf\"", cumulative);
    cn_prom_sample_f64(b, "chat_pg_query_duration_seconds_sum", NULL,
                       (double)pg->latency_sum_ns / 1e9);
    cn_prom_sample_u64(b, "chat_pg_query_duration_seconds_count", NULL, pg->latency_count);
}

static void render_redis(struct cn_strbuf *b, const struct cn_redis_stats *r)
{
    /* Whether Redis is up is chat_dependency_up{dep="redis"}. */
    cn_prom_counter(b, "chat_redis_commands_total", "Commands submitted to Redis.", r->commands);
    cn_prom_counter(b, "chat_redis_errors_total", "Redis commands that failed.", r->errors);
    cn_prom_counter(b, "chat_redis_reconnects_total", "Redis reconnections.", r->reconnects);
    cn_prom_counter(b, "chat_redis_outages_total", "Times Redis became unreachable.", r->outages);
}

static void render_rest(struct cn_strbuf *b, const struct cn_rest_counters *c)
{
    cn_prom_counter(b, "chat_rest_requests_total", "REST requests handed to request actors.",
                    atomic_load_explicit(&c->requests, memory_order_relaxed));
    cn_prom_family(b, "chat_cache_lookups_total", "counter",
                   "Room-list cache lookups by result (hit ratio = hit / (hit + miss)).");
    cn_prom_sample_u64(b, "chat_cache_lookups_total", "result=\"hit\"",
                       atomic_load_explicit(&c->cache_hits, memory_order_relaxed));
    cn_prom_sample_u64(b, "chat_cache_lookups_total", "result=\"miss\"",
                       atomic_load_explicit(&c->cache_misses, memory_order_relaxed));
}

static uint64_t ld(const atomic_uint_fast64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static void render_ws(struct cn_strbuf *b, const struct cn_ws_counters *c)
{
    char label[64];
    cn_prom_gauge(b, "chat_ws_connections_open", "WebSocket connections on /ws right now.",
                  (double)ld(&c->connections_open));
    cn_prom_counter(b, "chat_ws_connections_total", "WebSocket connections accepted on /ws.",
                    ld(&c->connections_total));
    cn_prom_gauge(b, "chat_stomp_sessions_open", "STOMP sessions past a successful CONNECT.",
                  (double)ld(&c->sessions_open));
    cn_prom_family(b, "chat_stomp_connects_total", "counter", "CONNECT/STOMP frames by result.");
    for (int i = 0; i < CN_WS_CONNECT__COUNT; i++) {
        cn_prom_label(label, sizeof label, "result", cn_ws_connect_result_name(i));
        cn_prom_sample_u64(b, "chat_stomp_connects_total", label, ld(&c->connects[i]));
    }
    cn_prom_family(b, "chat_stomp_disconnects_total", "counter",
                   "Closed WebSocket/STOMP connections by reason.");
    for (int i = 0; i < CN_WS_CLOSE__COUNT; i++) {
        cn_prom_label(label, sizeof label, "reason", cn_ws_close_reason_name(i));
        cn_prom_sample_u64(b, "chat_stomp_disconnects_total", label, ld(&c->disconnects[i]));
    }
    cn_prom_family(b, "chat_stomp_frames_in_total", "counter",
                   "STOMP frames received by command (client commands only).");
    for (int i = CN_STOMP_CONNECT; i <= CN_STOMP_DISCONNECT; i++) {
        cn_prom_label(label, sizeof label, "command", cn_stomp_command_name(i));
        cn_prom_sample_u64(b, "chat_stomp_frames_in_total", label, ld(&c->frames_in[i]));
    }
    cn_prom_family(b, "chat_stomp_frames_out_total", "counter", "STOMP frames sent by command.");
    for (int i = CN_STOMP_CONNECTED; i <= CN_STOMP_ERROR; i++) {
        cn_prom_label(label, sizeof label, "command", cn_stomp_command_name(i));
        cn_prom_sample_u64(b, "chat_stomp_frames_out_total", label, ld(&c->frames_out[i]));
    }
    cn_prom_counter(b, "chat_stomp_heartbeats_out_total", "Heart-beat EOLs sent to idle clients.",
                    ld(&c->heartbeats_out));
    cn_prom_counter(b, "chat_stomp_app_errors_total",
                    "Application errors answered (on /user/queue/errors or as ERROR).",
                    ld(&c->app_errors));
    cn_prom_counter(b, "chat_ws_slow_consumer_closes_total",
                    "Connections closed because their outbound queue overflowed.",
                    ld(&c->slow_consumer_closes));
    cn_prom_family(b, "chat_stomp_token_refreshes_total", "counter",
                   "SEND /app/auth.refresh by result.");
    for (int i = 0; i < CN_WS_REFRESH__COUNT; i++) {
        cn_prom_label(label, sizeof label, "result", cn_ws_refresh_result_name(i));
        cn_prom_sample_u64(b, "chat_stomp_token_refreshes_total", label, ld(&c->refreshes[i]));
    }
    cn_prom_family(b, "chat_ws_refused_total", "counter",
                   "Connections refused by a limit (HTTP 503 or WebSocket close 1013).");
    for (int i = 0; i < CN_WS_REFUSED__COUNT; i++) {
        cn_prom_label(label, sizeof label, "reason", cn_ws_refusal_name(i));
        cn_prom_sample_u64(b, "chat_ws_refused_total", label, ld(&c->refused[i]));
    }
    cn_prom_counter(b, "chat_typing_in_total", "SEND /app/chat.typing taken.", ld(&c->typing_in));
    cn_prom_counter(b, "chat_typing_throttled_total",
                    "Typing SENDs not published: within 3 s of the last one of the user and room.",
                    ld(&c->typing_throttled));
    cn_prom_counter(b, "chat_typing_published_total", "Typing events published to Redis.",
                    ld(&c->typing_published));
    cn_prom_counter(b, "chat_typing_dropped_total",
                    "Typing events not sent to a client whose outbound queue was under pressure.",
                    ld(&c->typing_dropped));
    cn_prom_counter(b, "chat_subscribe_join_timeouts_total",
                    "SUBSCRIBE RECEIPTs sent before Redis confirmed the room's channel "
                    "(Redis unreachable or slower than 3 s).",
                    ld(&c->join_timeouts));
}

void cn_metrics_render(struct cn_strbuf *b, const struct cn_metrics_sources *src)
{
    /* The id label is node_id, not node: the scrape config's target label `node`
     * (ops/prometheus-targets.yml) would clash with it (exported_node). */
    char id[96], version[64], label[192];
    cn_prom_label(id, sizeof id, "node_id", src->node_id);
    cn_prom_label(version, sizeof version, "version", CN_VERSION);
    snprintf(label, sizeof label, "%s,%s", id, version);
    cn_prom_family(b, "chat_node_info", "gauge",
                   "Constant 1, labelled with the node id and the chat-node version.");
    cn_prom_sample_u64(b, "chat_node_info", label, 1);
    if (src->runtime)
        render_runtime(b, src->runtime);
    if (src->http)
        render_http(b, src->http, src->http_server);
    if (src->health)
        render_health(b, src->health);
    if (src->process)
        render_process(b, src->process);
    if (src->pg)
        render_pg(b, src->pg);
    if (src->redis)
        render_redis(b, src->redis);
    if (src->rest)
        render_rest(b, src->rest);
    if (src->ws)
        render_ws(b, src->ws);
    if (src->send)
        cn_send_metrics_render(b, src->send);
}
