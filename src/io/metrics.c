/* The /metrics page; see metrics.h. Metric names follow Prometheus conventions:
 * `chat_` prefix for ours, `process_` for the standard process family, `_total`
 * on counters, base units (seconds, bytes). */
#include "metrics.h"

#include <stddef.h>
#include <stdio.h>

#include "io/prom.h"

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

static void render_http(struct cn_strbuf *b, const struct cn_http_server_stats *h)
{
    cn_prom_counter(b, "chat_http_connections_accepted_total", "TCP connections accepted.",
                    h->connections_accepted);
    cn_prom_counter(b, "chat_http_requests_total", "HTTP requests handled.", h->requests);
    cn_prom_family(b, "chat_http_responses_errors_total", "counter",
                   "HTTP error responses by class.");
    cn_prom_sample_u64(b, "chat_http_responses_errors_total", "class=\"4xx\"", h->responses_4xx);
    cn_prom_sample_u64(b, "chat_http_responses_errors_total", "class=\"5xx\"", h->responses_5xx);
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

void cn_metrics_render(struct cn_strbuf *b, const struct cn_metrics_sources *src)
{
    char label[96];
    cn_prom_label(label, sizeof label, "node", src->node_id);
    cn_prom_family(b, "chat_node_info", "gauge", "Constant 1, labelled with the node id.");
    cn_prom_sample_u64(b, "chat_node_info", label, 1);
    if (src->runtime)
        render_runtime(b, src->runtime);
    if (src->http)
        render_http(b, src->http);
    if (src->health)
        render_health(b, src->health);
    if (src->process)
        render_process(b, src->process);
}
