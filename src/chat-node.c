/* chat-node: the server program. Reads the configuration, waits for PostgreSQL,
 * Redis and Kafka (a bounded number of attempts), checks the Kafka topics,
 * starts the actor runtime, the adapters, the chat parts, the health checker and
 * the HTTP/WebSocket front door, then waits for SIGTERM or SIGINT and stops in one
 * straight line (stop_node): no new work, close every part and adapter, shut the
 * runtime down, free everything.
 *
 * Signals are blocked in every thread (the mask is set before any thread
 * starts) and taken synchronously here with sigtimedwait, so no handler ever
 * runs on an I/O thread or a worker. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "actors/runtime/runtime.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/log_repeat.h"
#include "base/xmalloc.h"
#include "io/admin_relay.h"
#include "io/admin_server.h"
#include "node/admin_commands.h"
#include "io/config.h"
#include "io/kafka_client_conf.h"
#include "io/redis_auth.h"
#include "io/conn_guard.h"
#include "actors/session/user_sessions.h"
#include "io/health.h"
#include "node/admin_http.h"
#include "node/http_routes.h"
#include "io/static_files.h"
#include "io/http_server.h"
#include "io/kafka_producer.h"
#include "io/password_hasher.h"
#include "actors/pipeline/broadcast_pipeline.h"
#include "actors/pipeline/persist.h"
#include "actors/presence/presence.h"
#include "actors/membership/membership.h"
#include "actors/user_events/user_events.h"
#include "actors/pipeline/read_receipts.h"
#include "actors/room/room_registry.h"
#include "io/pg_pool.h"
#include "io/pg_schema.h"
#include "io/tls_certs.h"
#include "io/trusted_proxies.h"
#include "io/redis_client.h"
#include "actors/rest/abuse_limits.h"
#include "actors/rest/known_users.h"
#include "actors/rest/rest.h"
#include "actors/session/send_path.h"
#include "actors/session/session_directory.h"
#include "actors/rest/token_cache.h"
#include "actors/session/session.h"

extern char **environ;

static void usage(FILE *out)
{
    fprintf(out, "usage: chat-node [--config FILE] [--check-config] [--help] [--version]\n\n"
                 "Every key can be set in the INI file or overridden by its environment\n"
                 "variable; an unknown key or a bad value stops start-up.\n"
                 "--check-config loads and validates the configuration, finds the web client's\n"
                 "index.html (http.static_dir) and reads the TLS certificate and key when\n"
                 "they are set, says what is wrong, and exits: 0 when it is fine, 2 when\n"
                 "not. Nothing is contacted.\n\n");
}

/* Waits up to ms for SIGTERM/SIGINT. Returns the signal, or 0 on timeout. */
static int wait_signal(const sigset_t *set, long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    for (;;) {
        int sig = ms < 0 ? sigwaitinfo(set, NULL) : sigtimedwait(set, NULL, &ts);
        if (sig > 0)
            return sig;
        if (errno == EAGAIN)
            return 0;
        /* EINTR: a signal outside the set (for example from a debugger); wait again. */
    }
}

/* Probes every dependency until all answer or the attempts run out. Returns 0,
 * 1 when they did not all answer, or 2 when a stop signal came first. */
static int await_dependencies(const struct cn_config *cfg, struct cn_health *h,
                              const sigset_t *sigs)
{
    for (int attempt = 1;; attempt++) {
        if (cn_health_probe_now(h) == 0)
            return 0;
        struct cn_health_snapshot snap;
        cn_health_snapshot(h, &snap);
        if (attempt >= cfg->startup_connect_attempts) {
            for (int d = 0; d < CN_DEP_COUNT; d++)
                if (!snap.ok[d])
                    CN_ERROR("startup", "cannot reach %s after %d attempts: %s",
                             cn_dep_name((enum cn_dep)d), attempt, snap.reason[d]);
            return 1;
        }
        for (int d = 0; d < CN_DEP_COUNT; d++)
            if (!snap.ok[d])
                CN_WARN("startup", "attempt %d/%d: %s not reachable yet: %s", attempt,
                        cfg->startup_connect_attempts, cn_dep_name((enum cn_dep)d), snap.reason[d]);
        int sig = wait_signal(sigs, cfg->startup_connect_retry_ms);
        if (sig != 0 && sig != SIGHUP) /* SIGHUP: no listener to reload yet */
            return 2;
    }
}

/* Verified tokens remembered per I/O thread: a few thousand active clients per thread
 * hit it; each slot is about 100 bytes. */
#define TOKEN_CACHE_SLOTS 4096u

/* Everything a running node holds, so start-up and shutdown read as two lists. */
struct node {
    const struct cn_config *cfg;
    struct cn_health *health;
    cn_runtime *rt;
    struct cn_pg_pool *pg;
    struct cn_redis *redis;
    cn_hasher *hasher;
    struct cn_http_server *http;
    struct cn_http_server *admin_http;  /* admin.http_port; NULL: off */
    struct cn_http_origins *origins;    /* http.allowed_origins */
    struct cn_trusted_proxies *proxies; /* http.trusted_proxies */
    struct cn_rest_counters rest_counters;
    struct cn_rest_deps rest;
    struct cn_token_cache **token_caches; /* one per I/O thread, see cn_rest_deps */
    struct cn_abuse_limits *abuse;        /* see cn_rest_deps */
    struct cn_known_users *known_users;   /* see cn_rest_deps and cn_session_deps */
    struct cn_http_routes routes;
    struct cn_static_files *statics; /* the web client (http.static_dir); NULL: none */
    struct cn_ws_counters ws_counters;
    struct cn_kafka_producer *dlt;    /* the DLT producer of persistence and read receipts */
    struct cn_persist *persist;       /* consumer group chat-persistence */
    struct cn_fanout_counters fanout; /* broadcast pipeline + room actors */
    struct cn_broadcast *broadcast;   /* consumer group chat-broadcast */
    struct cn_room_registry *rooms;   /* room id -> room actor; session hooks */
    struct cn_session_deps ws;        /* what every session actor borrows */
    struct cn_kafka_producer *producer;
    struct cn_send_path send;          /* the SEND path (rate limiters -> Kafka) */
    struct cn_read_receipts *receipts; /* consumer group chat-read-receipt */
    struct cn_pg_pool *presence_pg;    /* one connection: presence statements in order */
    struct cn_presence *presence;
    struct cn_membership *membership;       /* revocations to and from every node */
    struct cn_user_events *user_events;     /* /user/queue/events to and from every node */
    struct cn_session_dir *sessions;        /* open STOMP sessions, for the admin socket */
    struct cn_admin_server *admin;          /* bound before anything starts; see run() */
    struct cn_admin_deps admin_deps;        /* what the admin commands borrow */
    struct cn_admin_relay *relay;           /* other nodes' relayed admin requests */
    atomic_bool drain_requested;            /* chat-admin drain (then SIGTERM to ourselves) */
    struct cn_user_sessions *user_sessions; /* limits.sessions_per_user */
    struct cn_conn_guard *guard;            /* limits.max_connections, accept_rate */
};

static int start_adapters(struct node *n, char *err, size_t errlen)
{
    const struct cn_config *cfg = n->cfg;
    struct cn_pg_pool_opts po = {
        .url = cfg->postgres_url,
        .size = cfg->postgres_pool_size,
        .max_queue = cfg->postgres_max_queue,
        .query_timeout_ms = cfg->postgres_query_timeout_ms,
    };
    n->pg = cn_pg_pool_start_opts(&po, err, errlen);
    if (!n->pg)
        return -1;
    n->redis = cn_redis_start(cfg->redis_host, cfg->redis_port, err, errlen);
    if (!n->redis)
        return -1;
    /* Redis answered the health probe a moment ago: give the adapter's own
     * connection a moment too, so the first requests find the cache. Not fatal. */
    if (!cn_redis_wait_up(n->redis, false, 2000))
        CN_WARN("startup", "redis adapter not connected yet; the cache is skipped until it is");
    struct cn_hasher_config hc = {
        .threads = (unsigned)cfg->auth_hasher_threads,
        .max_queue = (unsigned)cfg->auth_hasher_queue,
    };
    if (strcmp(cfg->auth_password_hash_cost, "moderate") == 0) {
        hc.opslimit = crypto_pwhash_OPSLIMIT_MODERATE;
        hc.memlimit = crypto_pwhash_MEMLIMIT_MODERATE;
    } else if (strcmp(cfg->auth_password_hash_cost, "min") == 0) {
        hc.opslimit = crypto_pwhash_OPSLIMIT_MIN;
        hc.memlimit = crypto_pwhash_MEMLIMIT_MIN;
    }
    n->hasher = cn_hasher_start_config(&hc);
    if (!n->hasher) {
        snprintf(err, errlen, "cannot start the password hasher");
        return -1;
    }
    struct cn_kafka_producer_opts ko = {
        .brokers = cfg->kafka_brokers,
        .message_timeout_ms = cfg->kafka_send_timeout_ms,
        .linger_ms = cfg->kafka_linger_ms ? cfg->kafka_linger_ms : -1, /* -1: none */
        .client_id = cfg->node_id,
    };
    n->producer = cn_kafka_producer_start_opts(&ko, err, errlen);
    if (!n->producer)
        return -1;
    n->send.rt = n->rt;
    n->send.pg = n->pg;
    n->send.producer = n->producer;
    n->send.limits = (struct cn_send_limits){
        .rate = (uint32_t)cfg->limits_send_rate,
        .window_ms = 1000,
        .flood_refusals = (uint32_t)cfg->limits_send_burst_close,
        .flood_window_ms = (uint32_t)cfg->limits_send_burst_window_ms,
    };
    n->send.member_ttl_ms = (uint32_t)cfg->membership_cache_ttl_ms;
    return 0;
}

/* The pipelines' producer for their DLTs, one of its own (a dead letter must not
 * queue behind, or be purged with, client SENDs), started by the first pipeline that
 * needs it. */
static int start_dlt(struct node *n, char *err, size_t errlen)
{
    if (n->dlt)
        return 0;
    struct cn_kafka_producer_opts po = {.brokers = n->cfg->kafka_brokers,
                                        .client_id = "chat-node-dlt"};
    n->dlt = cn_kafka_producer_start_opts(&po, err, errlen);
    return n->dlt ? 0 : -1;
}

/* The persistence pipeline, with the DLT producer. Off: nothing started. */
static int start_persist(struct node *n, char *err, size_t errlen)
{
    const struct cn_config *cfg = n->cfg;
    if (!cfg->persist_enabled)
        return 0;
    if (start_dlt(n, err, errlen) != 0)
        return -1;
    struct cn_persist_opts o = {
        .rt = n->rt,
        .brokers = cfg->kafka_brokers,
        .pg = n->pg,
        .dlt = n->dlt,
        .redis = cfg->cache_rooms_enabled ? n->redis : NULL,
        .batch_max = cfg->persist_batch_max,
        .batch_linger_ms = cfg->persist_batch_linger_ms,
        .retries = cfg->persist_retries,
        .retry_backoff_ms = cfg->persist_retry_backoff_ms,
        .fetch_wait_ms = cfg->kafka_fetch_wait_ms,
    };
    n->persist = cn_persist_start(&o, err, errlen);
    n->routes.persist = n->persist; /* read by /metrics once the HTTP server starts */
    return n->persist ? 0 : -1;
}

/* The read-receipt pipeline (on the shared pool: its statement is as short as the
 * REST ones) and presence (on a pool of one connection of its own, so that a user's
 * ONLINE and OFFLINE are applied in the order the presence actor sends them, and its
 * background statements never queue in front of requests). Off: nothing started. */
static int start_receipts_presence(struct node *n, char *err, size_t errlen)
{
    const struct cn_config *cfg = n->cfg;
    if (cfg->receipts_enabled) {
        if (start_dlt(n, err, errlen) != 0)
            return -1;
        struct cn_read_receipts_opts ro = {
            .rt = n->rt,
            .brokers = cfg->kafka_brokers,
            .pg = n->pg,
            .redis = n->redis,
            .dlt = n->dlt,
            .invalidate_cache = cfg->cache_rooms_enabled,
            .fetch_wait_ms = cfg->kafka_fetch_wait_ms,
        };
        n->receipts = cn_read_receipts_start(&ro, err, errlen);
        n->routes.receipts = n->receipts;
        if (!n->receipts)
            return -1;
    }
    if (!cfg->presence_enabled)
        return 0;
    struct cn_pg_pool_opts po = {
        .url = cfg->postgres_url,
        .size = 1,
        .max_queue = cfg->postgres_max_queue,
        .query_timeout_ms = cfg->postgres_query_timeout_ms,
        .application_name = "chat-node-presence",
    };
    n->presence_pg = cn_pg_pool_start_opts(&po, err, errlen);
    if (!n->presence_pg)
        return -1;
    struct cn_presence_opts pr = {
        .rt = n->rt,
        .pg = n->presence_pg,
        .redis = n->redis,
        .node_id = cfg->node_id,
        .ttl_ms = cfg->presence_ttl_ms,
        .refresh_ms = cfg->presence_refresh_ms,
        .sweep_ms = cfg->presence_sweep_ms,
    };
    n->presence = cn_presence_start(&pr, err, errlen);
    n->routes.presence = n->presence;
    return n->presence ? 0 : -1;
}

/* Membership revocations (a leave, a removal, a closed room) to and from every node:
 * started before the HTTP server, so that the first session already has it. */
static int start_membership(struct node *n, char *err, size_t errlen)
{
    struct cn_membership_opts o = {
        .rt = n->rt,
        .redis = n->redis,
        .sessions = n->sessions,
        .send = &n->send,
        .node_id = n->cfg->node_id,
        .wait_ms = (uint32_t)n->cfg->membership_revoke_wait_ms,
    };
    n->membership = cn_membership_start(&o, err, errlen);
    n->routes.membership = n->membership;
    if (!n->membership)
        return -1;
    /* The per-user live events travel the same way: started with it, before HTTP. */
    struct cn_user_events_opts u = {.rt = n->rt, .redis = n->redis, .sessions = n->sessions};
    n->user_events = cn_user_events_start(&u, err, errlen);
    n->routes.user_events = n->user_events;
    return n->user_events ? 0 : -1;
}

static int start_http(struct node *n, int64_t start_ms, char *err, size_t errlen)
{
    const struct cn_config *cfg = n->cfg;
    if (cfg->http_static_dir[0]) {
        n->statics = cn_static_files_load(cfg->http_static_dir, err, errlen);
        if (!n->statics)
            return -1;
        CN_INFO("http", "web client: %zu files from %s", cn_static_files_count(n->statics),
                cfg->http_static_dir);
    }
    n->token_caches = cn_xcalloc((size_t)cfg->http_io_threads, sizeof *n->token_caches);
    for (int i = 0; i < cfg->http_io_threads; i++)
        n->token_caches[i] = cn_token_cache_new(TOKEN_CACHE_SLOTS);
    struct cn_abuse_rule rules[CN_ABUSE_KINDS] = {
        [CN_ABUSE_SIGNUP] = {(uint32_t)cfg->limits_signups_per_hour, 3600},
        [CN_ABUSE_LOGIN_FAILURE] = {(uint32_t)cfg->limits_login_failures_per_hour, 3600},
        [CN_ABUSE_ROOM_CREATE] = {(uint32_t)cfg->limits_rooms_per_hour, 3600},
        [CN_ABUSE_INVITE] = {(uint32_t)cfg->limits_invites_per_hour, 3600},
        [CN_ABUSE_USER_SEARCH] = {(uint32_t)cfg->limits_user_searches_per_minute, 60},
    };
    n->abuse = cn_abuse_limits_new(rules, 0);
    n->known_users = cn_known_users_new(0);
    const struct cn_jwt_config jwt = {
        .key = (const uint8_t *)cfg->auth_jwt_secret,
        .key_len = strlen(cfg->auth_jwt_secret),
        .issuer = cfg->auth_issuer,
        .audience = cfg->auth_audience,
    };
    n->rest = (struct cn_rest_deps){
        .rt = n->rt,
        .pg = n->pg,
        .redis = cfg->cache_rooms_enabled ? n->redis : NULL,
        .hasher = n->hasher,
        .jwt = jwt,
        .token_ttl_s = cfg->auth_token_ttl_s,
        .refresh_ttl_s = cfg->auth_refresh_ttl_s,
        .login_backoff = {.after = cfg->auth_login_backoff_after,
                          .base_s = cfg->auth_login_backoff_base_s,
                          .max_s = cfg->auth_login_backoff_max_s},
        .rooms_cache_ttl_s = cfg->cache_rooms_ttl_s,
        .counters = &n->rest_counters,
        .token_caches = n->token_caches,
        .token_cache_count = (unsigned)cfg->http_io_threads,
        .send = &n->send,
        .events = n->redis,
        .abuse = n->abuse,
        .membership = n->membership,
        .user_events = n->user_events,
        .known_users = n->known_users,
    };
    n->routes.node_id = cfg->node_id;
    n->routes.runtime = n->rt;
    n->routes.health = n->health;
    n->routes.start_wall_ms = start_ms;
    n->routes.rest = &n->rest;
    n->routes.pg = n->pg;
    n->routes.redis = n->redis;
    n->routes.ws = &n->ws_counters;
    n->routes.send = &n->send.counters;
    n->routes.statics = n->statics;
    n->routes.producer = n->producer;
    n->routes.messages_partitions = cfg->kafka_messages_partitions;
    n->routes.receipts_partitions = cfg->kafka_read_receipts_partitions;
    n->user_sessions = cn_user_sessions_new((unsigned)cfg->limits_sessions_per_user);
    n->guard = cn_conn_guard_new((uint32_t)cfg->limits_max_connections,
                                 (uint32_t)cfg->limits_accept_rate, &n->ws_counters);
    n->ws = (struct cn_session_deps){
        .rt = n->rt,
        .pg = n->pg,
        .jwt = jwt,
        .cfg = {.heartbeat_ms = (uint32_t)cfg->stomp_heartbeat_ms,
                .connect_timeout_ms = (uint32_t)cfg->stomp_connect_timeout_ms,
                .max_subscriptions = (uint32_t)cfg->stomp_max_subscriptions},
        .counters = &n->ws_counters,
        .send_sink = cn_send_path_take,
        .send_ctx = &n->send,
        .send_forget_room = cn_send_path_forget_room,
        .rooms = cn_session_dir_room_hooks(n->sessions,
                                           n->rooms ? cn_room_registry_hooks(n->rooms) : NULL),
        .presence = n->presence,
        .directory = n->sessions,
        .user_sessions = n->user_sessions,
        .redis = n->redis,
        .known_users = n->known_users,
    };
    n->origins = cn_http_origins_parse(cfg->http_allowed_origins, err, errlen);
    if (!n->origins)
        return -1;
    n->proxies = cn_trusted_proxies_parse(cfg->http_trusted_proxies, err, errlen);
    if (!n->proxies)
        return -1;
    struct cn_http_server_config hcfg = {
        .origins = n->origins,
        .tls_cert_file = cfg->http_tls_cert_file,
        .tls_key_file = cfg->http_tls_key_file,
        .trusted_proxies = n->proxies,
        .host = cfg->http_host,
        .port = cfg->http_port,
        .io_threads = cfg->http_io_threads,
        .max_body = (size_t)cfg->http_max_body,
        .max_header_bytes = (size_t)cfg->http_max_header_bytes,
        .request_timeout_s = cfg->http_request_timeout_s,
        .handler = cn_http_routes_handle,
        .handler_ctx = &n->routes,
        .ws = {.limits = {.max_frame_size = (uint32_t)cfg->stomp_max_frame_size,
                          .max_headers = (uint32_t)cfg->stomp_max_headers,
                          .max_header_line = (uint32_t)cfg->stomp_max_header_line},
               .max_outbound = (size_t)cfg->stomp_max_outbound_bytes,
               .ping_interval_s = cfg->ws_ping_interval_s,
               .pong_timeout_s = cfg->ws_pong_timeout_s,
               .tcp_keepalive_s = cfg->ws_tcp_keepalive_s,
               .open_session = cn_session_open,
               .open_ctx = &n->ws,
               .counters = &n->ws_counters,
               .guard = n->guard},
    };
    n->http = cn_http_server_start(&hcfg, err, errlen);
    if (!n->http)
        return -1;
    atomic_store_explicit(&n->routes.server, n->http, memory_order_release);
    if (cfg->admin_http_port) {
        n->admin_http = cn_admin_http_start(cfg->admin_http_host, cfg->admin_http_port, &n->routes,
                                            err, errlen);
        if (!n->admin_http)
            return -1;
        CN_INFO("http", "admin listener (/metrics, /healthz) on %s:%d", cfg->admin_http_host,
                cfg->admin_http_port);
    }
    return 0;
}

/* Waits until every deferred REST answer went out, or the deadline passes. */
static void drain_requests(struct node *n, uint64_t deadline_ms)
{
    while (cn_http_server_pending(n->http) > 0 && cn_now_ms() < deadline_ms) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* chat-admin drain, on the admin thread: the main thread's signal wait does the
 * rest, so the drain takes the same path as SIGTERM (plus telling the clients). */
static void request_drain(void *ctx)
{
    struct node *n = ctx;
    atomic_store_explicit(&n->drain_requested, true, memory_order_relaxed);
    atomic_store_explicit(&n->routes.draining, true, memory_order_relaxed);
    kill(getpid(), SIGTERM);
}

/* SIGHUP and chat-admin tls reload. */
static int reload_tls(void *ctx, char *msg, size_t msglen)
{
    struct node *n = ctx;
    return cn_http_server_tls_reload(n->http, msg, msglen);
}

static void on_sighup(struct node *n)
{
    char msg[512];
    if (!n->cfg->http_tls_cert_file[0]) {
        CN_INFO("node", "SIGHUP: nothing to reload (TLS is off)");
    } else if (reload_tls(n, msg, sizeof msg) == 0) {
        CN_INFO("node", "SIGHUP: TLS certificate reloaded: %s", msg);
    } else {
        CN_WARN("node", "SIGHUP: TLS reload failed, the old certificate stays: %s", msg);
    }
}

static int start_admin(struct node *n, int64_t start_ms)
{
    n->admin_deps = (struct cn_admin_deps){
        .node_id = n->cfg->node_id,
        .start_wall_ms = start_ms,
        .rt = n->rt,
        .health = n->health,
        .ws = &n->ws_counters,
        .rooms = n->rooms,
        .sessions = n->sessions,
        .send = &n->send,
        .draining = &n->routes.draining,
        .kafka_brokers = n->cfg->kafka_brokers,
        .postgres_url = n->cfg->postgres_url,
        .redis_host = n->cfg->redis_host,
        .redis_port = n->cfg->redis_port,
        .relay_timeout_ms = 3000,
        .drain = request_drain,
        .drain_ctx = n,
        .tls_reload = n->cfg->http_tls_cert_file[0] ? reload_tls : NULL,
        .tls_ctx = n,
    };
    /* The relay answers other nodes' `user` and `kick --user` (io/admin_relay.h). */
    char err[256];
    n->relay = cn_admin_relay_start(n->cfg->redis_host, n->cfg->redis_port, n->cfg->node_id,
                                    cn_admin_relay_dispatch, &n->admin_deps, err, sizeof err);
    if (!n->relay)
        CN_WARN("startup", "%s; other nodes' chat-admin cannot reach this node's sessions", err);
    return cn_admin_start(n->admin, cn_admin_dispatch, &n->admin_deps);
}

/* Tells the sessions, a batch at a time, to reconnect elsewhere (each after a
 * random pause, so the other nodes are not hit by all of them at once); each
 * finishes its in-flight SENDs first. Waits until all are gone or the deadline. */
static void drain_sessions(struct node *n, uint64_t deadline_ms)
{
    const struct cn_config *cfg = n->cfg;
    size_t total = cn_session_dir_count(n->sessions);
    CN_INFO("node", "draining %zu sessions, %d per %d ms", total, cfg->admin_drain_batch,
            cfg->admin_drain_batch_interval_ms);
    while (cn_now_ms() < deadline_ms) {
        cn_session_dir_drain(n->sessions, (size_t)cfg->admin_drain_batch,
                             (uint32_t)cfg->admin_drain_reconnect_jitter_ms);
        if (cn_session_dir_count(n->sessions) == 0)
            break;
        struct timespec ts = {cfg->admin_drain_batch_interval_ms / 1000,
                              (cfg->admin_drain_batch_interval_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    size_t left = cn_session_dir_count(n->sessions);
    if (left)
        CN_WARN("node", "%zu sessions still open at the drain deadline: closing them", left);
}

/* The Redis fan-out: the room registry (fed by the sessions' hooks) and the
 * broadcast pipeline that publishes every event to its room's channel. */
static int start_fanout(struct node *n, char *err, size_t errlen)
{
    struct cn_room_deps rd = {.redis = n->redis, .pg = n->pg, .counters = &n->fanout};
    n->rooms = cn_room_registry_new(n->rt, &rd);
    n->routes.fanout = &n->fanout;
    struct cn_broadcast_opts bo = {
        .rt = n->rt,
        .redis = n->redis,
        .brokers = n->cfg->kafka_brokers,
        .window_size = n->cfg->fanout_window_size,
        .window_ttl_s = n->cfg->fanout_window_ttl_s,
        .dedup_keys = n->cfg->fanout_dedup_keys,
        .fetch_wait_ms = n->cfg->kafka_broadcast_fetch_wait_ms,
        .counters = &n->fanout,
    };
    if (!n->cfg->fanout_broadcast_enabled)
        return 0;
    n->broadcast = cn_broadcast_start(&bo, err, errlen);
    n->routes.broadcast = n->broadcast; /* read by /metrics once the HTTP server starts */
    return n->broadcast ? 0 : -1;
}

/* Stops the node in one straight line, and cleans up after a start that failed half
 * way (every step takes a part that was never made):
 *   1. no new work: the listening sockets close, the sessions are told, the admin
 *      socket closes, presence settles;
 *   2. every part and adapter closes: each refuses new calls and answers what it
 *      holds with an error, to actors that are still running;
 *   3. the runtime shuts down (no adapter thread sends to an actor any more);
 *   4. everything is freed: actors could call any adapter until step 3, so nothing
 *      goes before it. */
static void stop_node(struct node *n)
{
    /* 1. Sessions are actors the I/O threads send to: after this no I/O thread does. */
    if (n->http) {
        cn_http_server_stop_accepting(n->http);
        if (!cn_http_server_close_sessions(n->http, 5000)) {
            CN_ERROR("node", "an I/O thread did not close its sessions; exiting without cleanup");
            _exit(1);
        }
    }
    /* The admin commands read and message the parts: they end first. A drain's
     * chat-admin hears "stopped". */
    cn_admin_server_close(n->admin);
    cn_admin_relay_close(n->relay);
    /* Every session has been told to close: give their OFFLINE transitions a moment
     * (the TTL and another node's sweep catch what does not make it). */
    if (n->presence && !cn_presence_drain(n->presence, 2000))
        CN_WARN("node", "presence did not settle within 2 s; other nodes' sweeps finish it");

    /* 2. The parts: presence's actor stops; the pipelines leave their consumer groups
     * (uncommitted batches go to the next owner); the SEND path takes no more. */
    cn_presence_close(n->presence);
    cn_membership_close(n->membership);
    cn_user_events_close(n->user_events);
    cn_read_receipts_close(n->receipts);
    cn_persist_close(n->persist);
    cn_broadcast_close(n->broadcast);
    /* The adapters, each answering what it holds: the producers flush (their reports
     * reach live actors), the hasher finishes its hashes, the pools and Redis fail
     * what is queued. The HTTP server comes after them, so that the REST answers
     * those failures cause can still reach their clients; the health checker (whose
     * probe round may take a few seconds to end) after the clients are gone. */
    cn_kafka_producer_close(n->dlt);
    cn_kafka_producer_close(n->producer);
    cn_hasher_close(n->hasher);
    cn_pg_pool_close(n->pg);
    cn_pg_pool_close(n->presence_pg);
    cn_redis_close(n->redis);
    cn_http_server_close(n->http);
    cn_http_server_close(n->admin_http);
    cn_health_close(n->health);

    /* 3. */
    if (n->rt)
        cn_runtime_shutdown(n->rt);
    n->rt = NULL;

    /* 4. Nothing runs that could reach what goes now. */
    cn_http_server_free(n->http);
    n->http = NULL;
    cn_http_server_free(n->admin_http);
    n->admin_http = NULL;
    cn_http_origins_free(n->origins);
    n->origins = NULL;
    cn_trusted_proxies_free(n->proxies);
    n->proxies = NULL;
    cn_static_files_free(n->statics);
    n->statics = NULL;
    cn_admin_server_free(n->admin);
    n->admin = NULL;
    cn_admin_relay_free(n->relay);
    n->relay = NULL;
    cn_persist_free(n->persist);
    n->persist = NULL;
    cn_read_receipts_free(n->receipts);
    n->receipts = NULL;
    cn_broadcast_free(n->broadcast);
    n->broadcast = NULL;
    cn_presence_free(n->presence);
    n->presence = NULL;
    cn_membership_free(n->membership);
    n->membership = NULL;
    cn_user_events_free(n->user_events);
    n->user_events = NULL;
    cn_kafka_producer_free(n->dlt);
    n->dlt = NULL;
    cn_kafka_producer_free(n->producer);
    n->producer = NULL;
    cn_hasher_free(n->hasher);
    n->hasher = NULL;
    cn_pg_pool_free(n->pg);
    n->pg = NULL;
    cn_pg_pool_free(n->presence_pg);
    n->presence_pg = NULL;
    cn_redis_free(n->redis);
    n->redis = NULL;
    cn_room_registry_free(n->rooms);
    n->rooms = NULL;
    cn_user_sessions_free(n->user_sessions);
    n->user_sessions = NULL;
    cn_conn_guard_free(n->guard);
    n->guard = NULL;
    if (n->token_caches) {
        for (int i = 0; i < n->cfg->http_io_threads; i++)
            cn_token_cache_free(n->token_caches[i]);
        free(n->token_caches);
        n->token_caches = NULL;
    }
    cn_abuse_limits_free(n->abuse);
    n->abuse = NULL;
    cn_known_users_free(n->known_users);
    n->known_users = NULL;
    cn_health_free(n->health);
    n->health = NULL;
    cn_session_dir_free(n->sessions);
    n->sessions = NULL;
}

static int run(const struct cn_config *cfg, const sigset_t *sigs)
{
    char err[512];
    int64_t start_ms = cn_wall_ms();
    static struct node n; /* outlives every I/O thread and actor */
    n.cfg = cfg;
    /* First: a path in use by a live node stops this one before it touches anything. */
    n.admin = cn_admin_listen(cfg->admin_socket, err, sizeof err);
    if (!n.admin) {
        CN_ERROR("node", "%s", err);
        return 1;
    }
    n.health = cn_health_new(cfg, err, sizeof err);
    if (!n.health) {
        CN_ERROR("node", "%s", err);
        cn_admin_server_free(n.admin);
        return 1;
    }
    int rc = await_dependencies(cfg, n.health, sigs);
    if (rc != 0) {
        cn_health_free(n.health);
        cn_admin_server_free(n.admin);
        return rc == 2 ? 0 : 1;
    }
    /* Before anything else touches the database: a missing migration would fail the
     * first request that needs it. */
    if (cn_pg_schema_check(cfg->postgres_url, err, sizeof err) != 0) {
        CN_ERROR("node", "%s", err);
        cn_health_free(n.health);
        cn_admin_server_free(n.admin);
        return 1;
    }
    if (cn_health_ensure_topics(n.health, err, sizeof err) != 0) {
        CN_ERROR("node", "%s", err);
        cn_health_free(n.health);
        cn_admin_server_free(n.admin);
        return 1;
    }

    n.sessions = cn_session_dir_new();
    cn_runtime_config rcfg = {.workers = (unsigned)cfg->runtime_workers,
                              .batch = 0,
                              .spin_rounds =
                                  cfg->runtime_spin_rounds ? cfg->runtime_spin_rounds : -1};
    n.rt = cn_runtime_new(&rcfg);
    if (cn_runtime_start(n.rt) != 0) {
        CN_ERROR("node", "cannot start the actor runtime");
        stop_node(&n);
        return 1;
    }
    if (start_adapters(&n, err, sizeof err) != 0 || start_persist(&n, err, sizeof err) != 0 ||
        start_fanout(&n, err, sizeof err) != 0 ||
        start_receipts_presence(&n, err, sizeof err) != 0 ||
        start_membership(&n, err, sizeof err) != 0 ||
        start_http(&n, start_ms, err, sizeof err) != 0) {
        CN_ERROR("node", "%s", err);
        stop_node(&n);
        return 1;
    }
    if (cn_health_start(n.health) != 0)
        CN_WARN("startup", "health checker thread did not start; /healthz will be stale");
    if (start_admin(&n, start_ms) != 0)
        CN_WARN("startup", "admin thread did not start; chat-admin cannot reach this node");
    char admin_http[300] = "off";
    if (cfg->admin_http_port)
        snprintf(admin_http, sizeof admin_http, "http://%s:%d", cfg->admin_http_host,
                 cfg->admin_http_port);
    CN_INFO("node",
            "%s listening on http://%s:%d (%d I/O threads, %u workers); admin socket %s; "
            "admin HTTP %s",
            cfg->node_id, cfg->http_host, cfg->http_port, cfg->http_io_threads,
            cn_runtime_workers(n.rt), cfg->admin_socket, admin_http);

    /* Woken every log repeat window to print the summaries of bursts that stopped. */
    int sig;
    while ((sig = wait_signal(sigs, CN_LOG_REPEAT_WINDOW_MS)) == 0 || sig == SIGHUP) {
        if (sig == SIGHUP)
            on_sighup(&n);
        cn_log_flush_repeats();
    }
    uint64_t t0 = cn_now_ms();
    bool admin_drain = atomic_load_explicit(&n.drain_requested, memory_order_relaxed);
    CN_INFO("node", "%s: draining", admin_drain ? "chat-admin drain" : strsignal(sig));
    atomic_store_explicit(&n.routes.draining, true, memory_order_relaxed);
    cn_http_server_stop_accepting(n.http);
    if (admin_drain)
        drain_sessions(&n, t0 + (uint64_t)cfg->shutdown_timeout_ms);
    drain_requests(&n, t0 + (uint64_t)cfg->shutdown_timeout_ms);
    stop_node(&n);
    CN_INFO("node", "stopped in %llu ms", (unsigned long long)(cn_now_ms() - t0));
    return 0;
}

/* --check-config: the configuration loaded and validated; the web client's directory and
 * the TLS files are what start-up reads from disk that a deployment can get wrong. Frees
 * cfg. */
static int check_config(struct cn_config *cfg, const char *config_path)
{
    int rc = 0;
    if (cfg->http_static_dir[0]) {
        char index[4200];
        snprintf(index, sizeof index, "%s/index.html", cfg->http_static_dir);
        if (access(index, R_OK) != 0) {
            fprintf(stderr, "chat-node: configuration error: http.static_dir: %s: %s\n", index,
                    strerror(errno));
            rc = 2;
        }
    }
    if (rc == 0 && cfg->http_tls_cert_file[0]) {
        char err[512];
        struct cn_tls_certs *certs =
            cn_tls_certs_load(cfg->http_tls_cert_file, cfg->http_tls_key_file, err, sizeof err);
        if (certs)
            cn_tls_certs_free(certs);
        else {
            fprintf(stderr, "chat-node: configuration error: %s\n", err);
            rc = 2;
        }
    }
    if (rc == 0)
        printf("chat-node: configuration OK (%s + environment)\n",
               config_path ? config_path : "defaults");
    cn_config_free(cfg);
    return rc;
}

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    bool check_only = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            cn_config_print_help(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("chat-node %s\n", CN_VERSION);
            return 0;
        } else if (strcmp(argv[i], "--check-config") == 0) {
            check_only = true;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config_path = argv[++i];
        } else {
            fprintf(stderr, "chat-node: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP); /* reloads the TLS certificate (on_sighup) */
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct cn_config cfg;
    char err[512];
    cn_config_defaults(&cfg);
    if (cn_config_load(&cfg, config_path, environ, err, sizeof err) != 0) {
        fprintf(stderr, "chat-node: configuration error: %s\n", err);
        cn_config_free(&cfg);
        return 2;
    }
    /* The credentials and client properties every Redis and Kafka connection uses, set
     * before any exists; librdkafka checks each [kafka.client] property here. */
    cn_redis_auth_set(cfg.redis_username, cfg.redis_password);
    if (cn_kafka_client_conf_set(cfg.kafka_client, cfg.kafka_client_count, err, sizeof err) != 0) {
        fprintf(stderr, "chat-node: configuration error: %s\n", err);
        cn_redis_auth_clear();
        cn_config_free(&cfg);
        return 2;
    }
    if (check_only) {
        int rc = check_config(&cfg, config_path);
        cn_kafka_client_conf_clear();
        cn_redis_auth_clear();
        return rc;
    }
    enum cn_log_level level;
    cn_log_parse_level(cfg.log_level, &level); /* validated by cn_config_load */
    cn_log_set_level(level);
    enum cn_log_format format;
    cn_log_parse_format(cfg.log_format, &format); /* validated by cn_config_load */
    cn_log_set_format(format);
    cn_log_set_node(cfg.node_id);
    if (config_path)
        CN_INFO("node", "chat-node %s starting: node %s, config %s + environment", CN_VERSION,
                cfg.node_id, config_path);
    else
        CN_INFO("node", "chat-node %s starting: node %s, config defaults + environment", CN_VERSION,
                cfg.node_id);

    int rc = run(&cfg, &sigs);
    cn_kafka_client_conf_clear();
    cn_redis_auth_clear();
    cn_config_free(&cfg);
    return rc;
}
