/* Table-driven configuration; see config.h.
 *
 * Each key is one row: section, name, type, where it lives in struct cn_config,
 * its default, the accepted range and a sentence for --help. Loading goes
 * defaults -> INI file -> environment, so the environment always wins, which is
 * what systemd units and the dev script rely on. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/xmalloc.h"
#include "io/http_origin.h"
#include "io/ini_duplicates.h"
#include "io/trusted_proxies.h"

const char cn_config_dev_jwt_secret[] = "dev-only-secret-change-me-0123456789abcdef";

/* Every JWT secret the repository ships (the dev and test configs, docs), gathered at
 * configure time by shipped_secrets.cmake: public, so refused outside dev mode. */
extern const char *const cn__shipped_jwt_secrets[];
extern const size_t cn__shipped_jwt_secrets_count;

bool cn_config_secret_is_shipped(const char *secret)
{
    if (strcmp(secret, cn_config_dev_jwt_secret) == 0)
        return true;
    for (size_t i = 0; i < cn__shipped_jwt_secrets_count; i++)
        if (strcmp(secret, cn__shipped_jwt_secrets[i]) == 0)
            return true;
    return false;
}

enum key_type { KEY_STR, KEY_INT, KEY_BOOL };

struct key {
    const char *section;
    const char *name;
    enum key_type type;
    size_t offset;
    const char *def;
    long min, max; /* KEY_INT only */
    const char *help;
};

#define OFF(field) offsetof(struct cn_config, field)

static const struct key keys[] = {
    {"node", "id", KEY_STR, OFF(node_id), "node-1", 0, 0,
     "name of this node in logs, metrics and presence"},
    {"node", "dev_mode", KEY_BOOL, OFF(dev_mode), "false", 0, 0,
     "development mode: allows the built-in JWT secret"},
    {"http", "host", KEY_STR, OFF(http_host), "0.0.0.0", 0, 0,
     "address the HTTP/WebSocket port binds to"},
    {"http", "port", KEY_INT, OFF(http_port), "8080", 1, 65535, "HTTP/WebSocket port"},
    {"http", "io_threads", KEY_INT, OFF(http_io_threads), "0", 0, 64,
     "I/O threads, each with its own libwebsockets context and SO_REUSEPORT socket "
     "(0: one per core)"},
    {"http", "request_timeout_s", KEY_INT, OFF(http_request_timeout_s), "30", 1, 3600,
     "a REST request not answered within this many seconds is closed"},
    {"http", "max_body", KEY_INT, OFF(http_max_body), "65536", 1024, 16777216,
     "largest request body in bytes; larger ones get 413 before they are read"},
    {"http", "max_header_bytes", KEY_INT, OFF(http_max_header_bytes), "16384", 1024, 1048576,
     "largest request line plus headers in bytes; larger ones get 431. Beyond twice this "
     "(libwebsockets' buffer) the connection is dropped without an answer"},
    {"http", "static_dir", KEY_STR, OFF(http_static_dir), "", 0, 0,
     "directory of the web client served at / (the build's <build>/web); read once at start, "
     "start-up fails without an index.html in it; empty: no web client"},
    {"http", "allowed_origins", KEY_STR, OFF(http_allowed_origins), "", 0, 0,
     "origins (https://chat.example.com, comma or space separated) whose pages may open a "
     "WebSocket and call the REST API (CORS), besides the node's own origin and clients that "
     "send no Origin; * allows any"},
    {"runtime", "workers", KEY_INT, OFF(runtime_workers), "0", 0, 256,
     "actor worker threads (0: one per core)"},
    {"runtime", "spin_rounds", KEY_INT, OFF(runtime_spin_rounds), "0", 0, 100000,
     "rounds (some 1-3 us each) an idle worker looks for work before it sleeps (0: it sleeps "
     "at once). Spinning saves a wake-up of a few microseconds per message but burns CPU that "
     "PostgreSQL, Redis and Kafka need when they share the host"},
    {"postgres", "url", KEY_STR, OFF(postgres_url), "postgresql://chat:chat@127.0.0.1:5432/chat", 0,
     0, "libpq connection URL"},
    {"postgres", "pool_size", KEY_INT, OFF(postgres_pool_size), "4", 1, 128,
     "PostgreSQL connections per node"},
    {"postgres", "query_timeout_ms", KEY_INT, OFF(postgres_query_timeout_ms), "5000", 10, 600000,
     "longest wait of a query for a free connection before it fails (503)"},
    {"postgres", "max_queue", KEY_INT, OFF(postgres_max_queue), "10000", 1, 1000000,
     "queries waiting for a connection beyond which requests get 503"},
    {"redis", "host", KEY_STR, OFF(redis_host), "127.0.0.1", 0, 0, "Redis host"},
    {"redis", "port", KEY_INT, OFF(redis_port), "6379", 1, 65535, "Redis port"},
    {"kafka", "brokers", KEY_STR, OFF(kafka_brokers), "127.0.0.1:9092", 0, 0,
     "Kafka bootstrap servers, comma separated"},
    {"kafka", "messages_partitions", KEY_INT, OFF(kafka_messages_partitions), "6", 1, 1024,
     "partitions chat.messages must have; start-up refuses a mismatch"},
    {"kafka", "read_receipts_partitions", KEY_INT, OFF(kafka_read_receipts_partitions), "3", 1,
     1024, "partitions chat.read-receipts must have; start-up refuses a mismatch"},
    {"persist", "enabled", KEY_BOOL, OFF(persist_enabled), "true", 0, 0,
     "run the persistence pipeline (consumer group chat-persistence) on this node"},
    {"persist", "batch_max", KEY_INT, OFF(persist_batch_max), "1024", 1, 100000,
     "events stored by one INSERT round trip"},
    {"persist", "batch_linger_ms", KEY_INT, OFF(persist_batch_linger_ms), "50", 0, 10000,
     "wait after a batch's first event for a fuller batch"},
    {"persist", "retries", KEY_INT, OFF(persist_retries), "3", 0, 10,
     "retries of a failed insert before its events go to chat.messages.dlt"},
    {"persist", "retry_backoff_ms", KEY_INT, OFF(persist_retry_backoff_ms), "100", 1, 60000,
     "delay before the first retry; each further retry waits 4 times longer"},
    {"auth", "jwt_secret", KEY_STR, OFF(auth_jwt_secret), "", 0, 0,
     "HS256 secret for access tokens (required; at least 32 bytes)"},
    {"auth", "token_ttl_s", KEY_INT, OFF(auth_token_ttl_s), "3600", 60, 2592000,
     "lifetime of an access token in seconds"},
    {"auth", "hasher_threads", KEY_INT, OFF(auth_hasher_threads), "2", 1, 64,
     "threads that hash and verify passwords (argon2id)"},
    {"auth", "hasher_queue", KEY_INT, OFF(auth_hasher_queue), "256", 1, 100000,
     "sign-ups and logins waiting for a hasher beyond which they get 503"},
    {"auth", "password_hash_cost", KEY_STR, OFF(auth_password_hash_cost), "interactive", 0, 0,
     "argon2id limits: interactive, moderate, or min (dev mode only: fast, weak)"},
    {"auth", "issuer", KEY_STR, OFF(auth_issuer), "chat-node", 0, 0,
     "`iss` of every access token; tokens with another issuer are refused (1..256 bytes)"},
    {"auth", "audience", KEY_STR, OFF(auth_audience), "chat-node", 0, 0,
     "`aud` of every access token; tokens for another audience are refused (1..256 bytes)"},
    {"auth", "refresh_ttl_s", KEY_INT, OFF(auth_refresh_ttl_s), "2592000", 60, 31536000,
     "lifetime of a refresh token in seconds (each refresh issues a new one with a new "
     "lifetime)"},
    {"auth", "login_backoff_after", KEY_INT, OFF(auth_login_backoff_after), "5", 1, 1000,
     "consecutive failed logins of one account (email) before its logins are refused for a "
     "while (429 + Retry-After), cluster-wide"},
    {"auth", "login_backoff_base_s", KEY_INT, OFF(auth_login_backoff_base_s), "1", 1, 3600,
     "the first back-off; it doubles with each further failure"},
    {"auth", "login_backoff_max_s", KEY_INT, OFF(auth_login_backoff_max_s), "900", 1, 86400,
     "the longest back-off"},
    {"cache", "rooms_enabled", KEY_BOOL, OFF(cache_rooms_enabled), "true", 0, 0,
     "cache room lists in Redis (false: every GET /api/rooms reads PostgreSQL)"},
    {"cache", "rooms_ttl_s", KEY_INT, OFF(cache_rooms_ttl_s), "300", 1, 86400,
     "lifetime of a cached room list in Redis"},
    {"fanout", "broadcast_enabled", KEY_BOOL, OFF(fanout_broadcast_enabled), "true", 0, 0,
     "run the broadcast pipeline (consumer group chat-broadcast) on this node; off, its "
     "subscribers still get every message other nodes publish"},
    {"fanout", "window_size", KEY_INT, OFF(fanout_window_size), "256", 1, 100000,
     "messages kept per room in Redis (room:{id}:window) for gap repair and resume"},
    {"fanout", "window_ttl_s", KEY_INT, OFF(fanout_window_ttl_s), "86400", 1, 31536000,
     "a room's Redis window expires after this long without a message"},
    {"fanout", "dedup_keys", KEY_INT, OFF(fanout_dedup_keys), "4096", 1, 1000000,
     "messageKeys remembered per room (room:{id}:keys): a retried SEND whose first try "
     "reached Kafka is not delivered twice when it comes within this many messages"},
    {"admin", "socket", KEY_STR, OFF(admin_socket), "/run/chat-node/admin.sock", 0, 0,
     "Unix socket path for chat-admin"},
    {"admin", "http_host", KEY_STR, OFF(admin_http_host), "127.0.0.1", 0, 0,
     "address the admin HTTP listener (/metrics, detailed /healthz) binds to"},
    {"admin", "http_port", KEY_INT, OFF(admin_http_port), "0", 0, 65535,
     "port of the admin HTTP listener serving /metrics and the detailed /healthz "
     "(0: no listener; the public port never serves them)"},
    {"admin", "drain_batch", KEY_INT, OFF(admin_drain_batch), "200", 1, 1000000,
     "sessions told per step of chat-admin drain to reconnect to another node"},
    {"admin", "drain_batch_interval_ms", KEY_INT, OFF(admin_drain_batch_interval_ms), "100", 1,
     60000, "pause between two drain steps"},
    {"admin", "drain_reconnect_jitter_ms", KEY_INT, OFF(admin_drain_reconnect_jitter_ms), "5000", 0,
     600000,
     "drained clients are told to reconnect after a random pause up to this "
     "(x-reconnect-after-ms)"},
    {"log", "level", KEY_STR, OFF(log_level), "info", 0, 0, "debug, info, warn or error"},
    {"log", "format", KEY_STR, OFF(log_format), "text", 0, 0,
     "text (one line: time, level, module, message, key=value context) or json (one object "
     "per line: ts, level, node, module, msg and the context fields)"},
    {"startup", "connect_attempts", KEY_INT, OFF(startup_connect_attempts), "10", 1, 1000,
     "attempts to reach PostgreSQL, Redis and Kafka before giving up"},
    {"startup", "connect_retry_ms", KEY_INT, OFF(startup_connect_retry_ms), "1000", 10, 600000,
     "pause between start-up connection attempts"},
    {"shutdown", "timeout_ms", KEY_INT, OFF(shutdown_timeout_ms), "8000", 100, 600000,
     "longest drain on SIGTERM before remaining sessions are cut"},
    {"health", "interval_ms", KEY_INT, OFF(health_interval_ms), "1000", 50, 600000,
     "how often the dependency probes behind /healthz run"},
    {"stomp", "max_frame_size", KEY_INT, OFF(stomp_max_frame_size), "65536", 1024, 16777216,
     "largest STOMP frame in bytes (command through body); larger: ERROR and close"},
    {"stomp", "max_headers", KEY_INT, OFF(stomp_max_headers), "32", 1, 1024,
     "most header lines in one STOMP frame"},
    {"stomp", "max_header_line", KEY_INT, OFF(stomp_max_header_line), "8192", 256, 1048576,
     "longest STOMP command or header line in bytes"},
    {"stomp", "heartbeat_ms", KEY_INT, OFF(stomp_heartbeat_ms), "10000", 100, 3600000,
     "the node's heart-beat, also the floor for a client that asks for heart-beats (a direction "
     "it sets to 0 has none; silent > 2x: closed)"},
    {"stomp", "connect_timeout_ms", KEY_INT, OFF(stomp_connect_timeout_ms), "10000", 100, 600000,
     "a WebSocket that sends no CONNECT within this is closed"},
    {"stomp", "max_outbound_bytes", KEY_INT, OFF(stomp_max_outbound_bytes), "1048576", 4096,
     268435456, "bytes queued for one slow client before it is closed as a slow consumer"},
    {"stomp", "max_subscriptions", KEY_INT, OFF(stomp_max_subscriptions), "256", 1, 100000,
     "subscriptions per STOMP session"},
    {"limits", "send_rate", KEY_INT, OFF(limits_send_rate), "10", 1, 100000,
     "SENDs a session may make per second (sliding window); more: RATE_LIMITED"},
    {"limits", "send_burst_close", KEY_INT, OFF(limits_send_burst_close), "50", 0, 1000000,
     "refused (rate-limited) SENDs within send_burst_window_ms that close the session with "
     "ERROR; 0 = never"},
    {"limits", "send_burst_window_ms", KEY_INT, OFF(limits_send_burst_window_ms), "10000", 100,
     3600000, "the window of send_burst_close"},
    {"limits", "sessions_per_user", KEY_INT, OFF(limits_sessions_per_user), "10", 0, 100000,
     "STOMP sessions one user may hold on this node; more: ERROR then WebSocket close 1013; "
     "0 = no limit"},
    {"limits", "max_connections", KEY_INT, OFF(limits_max_connections), "16000", 0, 1000000,
     "WebSocket connections this node keeps open (keep it below the open-file limit, with "
     "room for HTTP and the node's own files); more: HTTP 503 + Retry-After; 0 = no limit"},
    {"limits", "accept_rate", KEY_INT, OFF(limits_accept_rate), "2000", 0, 1000000,
     "WebSocket upgrades this node takes per second; more: HTTP 503 + Retry-After; "
     "0 = no limit"},
    {"limits", "signups_per_hour", KEY_INT, OFF(limits_signups_per_hour), "20", 0, 100000000,
     "sign-ups per client address per hour on this node; more: 429 + Retry-After; 0 = no limit"},
    {"limits", "login_failures_per_hour", KEY_INT, OFF(limits_login_failures_per_hour), "100", 0,
     100000000,
     "failed logins per client address per hour on this node, after which logins from it are "
     "refused (429 + Retry-After); 0 = no limit (the per-account back-off is always on)"},
    {"limits", "rooms_per_hour", KEY_INT, OFF(limits_rooms_per_hour), "60", 0, 100000000,
     "group rooms one user may create per hour on this node; more: 429 + Retry-After; "
     "0 = no limit"},
    {"limits", "invites_per_hour", KEY_INT, OFF(limits_invites_per_hour), "100", 0, 100000000,
     "invitations (and members added) one user may make per hour on this node; more: 429 + "
     "Retry-After; 0 = no limit"},
    {"limits", "user_searches_per_minute", KEY_INT, OFF(limits_user_searches_per_minute), "60", 0,
     100000000,
     "user searches (GET /api/users) one user may make per minute on this node; more: 429 + "
     "Retry-After; 0 = no limit"},
    {"kafka", "send_timeout_ms", KEY_INT, OFF(kafka_send_timeout_ms), "10000", 100, 300000,
     "how long Kafka may take to acknowledge a SEND before the client gets UNAVAILABLE"},
    {"kafka", "linger_ms", KEY_INT, OFF(kafka_linger_ms), "6", 0, 1000,
     "how long the SEND producer gathers records into one batch per partition (0 = send at "
     "once): longer means fewer, fuller requests and fetches, and that much more latency"},
    {"kafka", "broadcast_fetch_wait_ms", KEY_INT, OFF(kafka_broadcast_fetch_wait_ms), "500", 1, 500,
     "longest wait of the broadcast consumer's fetch on a broker with nothing new (Kafka "
     "answers as soon as a record arrives, so a long wait costs no latency; the dev broker "
     "waits it out): lower means less delivery latency on the dev broker and more idle "
     "fetches (each one wakes the node)"},
    {"kafka", "fetch_wait_ms", KEY_INT, OFF(kafka_fetch_wait_ms), "500", 1, 500,
     "the same for the persistence and read-receipt consumers: lower means rows and unread "
     "counts sooner on the dev broker and more idle fetches"},
    {"receipts", "enabled", KEY_BOOL, OFF(receipts_enabled), "true", 0, 0,
     "run the read-receipt pipeline (consumer group chat-read-receipt) on this node"},
    {"presence", "enabled", KEY_BOOL, OFF(presence_enabled), "true", 0, 0,
     "track users' ONLINE/OFFLINE status from their STOMP sessions on this node"},
    {"presence", "ttl_ms", KEY_INT, OFF(presence_ttl_ms), "30000", 100, 3600000,
     "how long one refresh vouches for a user in Redis; a crashed node's users go OFFLINE "
     "within ttl_ms + sweep_ms"},
    {"presence", "refresh_ms", KEY_INT, OFF(presence_refresh_ms), "10000", 50, 3600000,
     "how often a node vouches again for its users (must be below ttl_ms)"},
    {"presence", "sweep_ms", KEY_INT, OFF(presence_sweep_ms), "15000", 50, 3600000,
     "how often some node turns OFFLINE the ONLINE users no node vouches for"},
    {"membership", "revoke_wait_ms", KEY_INT, OFF(membership_revoke_wait_ms), "1000", 0, 60000,
     "longest wait of a leave (or removal, or closed room) for every node to confirm that its "
     "sessions stopped the member, before the REST answer goes anyway; 0 = answer without "
     "waiting"},
    {"membership", "cache_ttl_ms", KEY_INT, OFF(membership_cache_ttl_ms), "5000", 0, 3600000,
     "how long a session trusts a room membership it looked up for SEND without asking "
     "PostgreSQL again: the bound on a revocation a node missed (Redis Pub/Sub lost it); "
     "0 = every SEND asks"},
    {"ws", "ping_interval_s", KEY_INT, OFF(ws_ping_interval_s), "30", 1, 3600,
     "a WebSocket PING after this many seconds without anything received from the client"},
    {"ws", "pong_timeout_s", KEY_INT, OFF(ws_pong_timeout_s), "30", 1, 3600,
     "a connection whose client answers no PING (and sends nothing) within this is closed"},
    {"ws", "tcp_keepalive_s", KEY_INT, OFF(ws_tcp_keepalive_s), "30", 0, 7200,
     "TCP keepalive probes after this many idle seconds (3 probes, a third of it apart); "
     "0 = off"},
    {"redis", "username", KEY_STR, OFF(redis_username), "", 0, 0,
     "Redis ACL user the node authenticates as (empty: AUTH with the password alone, "
     "for requirepass or the user default)"},
    {"redis", "password", KEY_STR, OFF(redis_password), "", 0, 0,
     "Redis password, sent with AUTH on every connection (empty: no AUTH); never logged"},
    {"redis", "password_file", KEY_STR, OFF(redis_password_file), "", 0, 0,
     "file holding redis.password (read at start, one trailing newline stripped)"},
    {"auth", "jwt_secret_file", KEY_STR, OFF(auth_jwt_secret_file), "", 0, 0,
     "file holding auth.jwt_secret (read at start, one trailing newline stripped)"},
    {"postgres", "url_file", KEY_STR, OFF(postgres_url_file), "", 0, 0,
     "file holding postgres.url, which carries the password (read at start, one trailing "
     "newline stripped)"},
    {"http", "tls_cert_file", KEY_STR, OFF(http_tls_cert_file), "", 0, 0,
     "PEM certificate (leaf first, then intermediates) of the public port: with "
     "http.tls_key_file it serves HTTPS and WSS (TLS 1.2 and newer) instead of HTTP; re-read "
     "on SIGHUP and chat-admin tls reload; empty: plain HTTP"},
    {"http", "tls_key_file", KEY_STR, OFF(http_tls_key_file), "", 0, 0,
     "PEM private key (unencrypted) of http.tls_cert_file"},
    {"http", "trusted_proxies", KEY_STR, OFF(http_trusted_proxies), "", 0, 0,
     "IPs or CIDRs (comma separated) of proxies in front of the node: only from them is "
     "X-Forwarded-For believed, its right-most address that is not one of them being the "
     "client address of logs, per-address limits and sessions; empty: nobody"},
};

#define NKEYS (sizeof keys / sizeof keys[0])

static char **str_slot(struct cn_config *cfg, const struct key *k)
{
    return (char **)((char *)cfg + k->offset);
}

static int *int_slot(struct cn_config *cfg, const struct key *k)
{
    return (int *)((char *)cfg + k->offset);
}

static bool *bool_slot(struct cn_config *cfg, const struct key *k)
{
    return (bool *)((char *)cfg + k->offset);
}

/* Parses `value` into the key's slot. Returns 0 or -1 with a reason in err. */
static int set_value(struct cn_config *cfg, const struct key *k, const char *value, char *err,
                     size_t errlen)
{
    switch (k->type) {
    case KEY_STR:
        free(*str_slot(cfg, k));
        *str_slot(cfg, k) = cn_xstrdup(value);
        return 0;
    case KEY_INT: {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end != '\0' || v < k->min || v > k->max) {
            snprintf(err, errlen, "%s.%s: '%s' is not an integer in %ld..%ld", k->section, k->name,
                     value, k->min, k->max);
            return -1;
        }
        *int_slot(cfg, k) = (int)v;
        return 0;
    }
    case KEY_BOOL:
        if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0 || strcmp(value, "yes") == 0) {
            *bool_slot(cfg, k) = true;
        } else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0 ||
                   strcmp(value, "no") == 0) {
            *bool_slot(cfg, k) = false;
        } else {
            snprintf(err, errlen, "%s.%s: '%s' is not a boolean (true/false)", k->section, k->name,
                     value);
            return -1;
        }
        return 0;
    }
    return -1;
}

static const struct key *find_key(const char *section, const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

/* "http", "io_threads" -> "CHAT_HTTP_IO_THREADS" */
static void env_name(const struct key *k, char *out, size_t outlen)
{
    snprintf(out, outlen, "CHAT_%s_%s", k->section, k->name);
    for (char *p = out; *p; p++)
        *p = (char)toupper((unsigned char)*p);
}

void cn_config_defaults(struct cn_config *cfg)
{
    char err[256];
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NKEYS; i++) {
        int rc = set_value(cfg, &keys[i], keys[i].def, err, sizeof err);
        (void)rc; /* defaults are valid by construction; tests/unit/io/config.c checks */
    }
}

struct ini_ctx {
    struct cn_config *cfg;
    char *err;
    size_t errlen;
    int failed;
    bool *seen; /* per key: set by the file or the environment */
};

/* [kafka.client]: every key is a librdkafka property, checked by librdkafka at
 * start-up (cn_kafka_client_conf_set), so any name is taken here. */
#define KAFKA_CLIENT_SECTION "kafka.client"

static void add_kafka_client(struct cn_config *cfg, const char *name, const char *value)
{
    cfg->kafka_client =
        cn_xrealloc(cfg->kafka_client, (cfg->kafka_client_count + 1) * 2 * sizeof(char *));
    cfg->kafka_client[2 * cfg->kafka_client_count] = cn_xstrdup(name);
    cfg->kafka_client[2 * cfg->kafka_client_count + 1] = cn_xstrdup(value);
    cfg->kafka_client_count++;
}

static int on_ini_pair(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *ctx = user;
    if (ctx->failed)
        return 0;
    if (strcmp(section, KAFKA_CLIENT_SECTION) == 0) {
        add_kafka_client(ctx->cfg, name, value);
        return 1;
    }
    const struct key *k = find_key(section, name);
    if (!k) {
        snprintf(ctx->err, ctx->errlen, "unknown key %s.%s", section, name);
        ctx->failed = 1;
        return 0;
    }
    if (set_value(ctx->cfg, k, value, ctx->err, ctx->errlen) != 0) {
        ctx->failed = 1;
        return 0;
    }
    ctx->seen[k - keys] = true;
    return 1;
}

/* Reads a secret file: its contents without one trailing newline (\n or \r\n), in
 * new memory. Returns NULL with a reason naming the key and the file in err. */
static char *read_secret_file(const char *key, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read %s: %s", key, path, strerror(errno));
        return NULL;
    }
    size_t cap = 256, len = 0;
    char *buf = cn_xmalloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (len + 1 == cap) {
            if (cap >= 65536) {
                snprintf(err, errlen, "%s: %s is larger than 64 KiB", key, path);
                fclose(f);
                free(buf);
                return NULL;
            }
            cap *= 2;
            buf = cn_xrealloc(buf, cap);
        }
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        snprintf(err, errlen, "%s: cannot read %s", key, path);
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    if (len && buf[len - 1] == '\n')
        buf[--len] = '\0';
    if (len && buf[len - 1] == '\r')
        buf[--len] = '\0';
    if (memchr(buf, '\0', len)) {
        snprintf(err, errlen, "%s: %s holds a NUL byte", key, path);
        free(buf);
        return NULL;
    }
    return buf;
}

/* Each *_file key: the file's contents replace the value of the key it names; both
 * given (file or environment, non-empty) is an error. */
static int load_secret_files(struct cn_config *cfg, const bool *seen, char *err, size_t errlen)
{
    static const char *const pairs[][3] = {
        {"auth", "jwt_secret", "jwt_secret_file"},
        {"redis", "password", "password_file"},
        {"postgres", "url", "url_file"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        const struct key *v = find_key(pairs[i][0], pairs[i][1]);
        const struct key *f = find_key(pairs[i][0], pairs[i][2]);
        const char *path = *str_slot(cfg, f);
        if (path[0] == '\0')
            continue;
        char name[96];
        snprintf(name, sizeof name, "%s.%s", f->section, f->name);
        /* An empty value counts as not given: CHAT_AUTH_JWT_SECRET= clears a file's
         * jwt_secret so that a jwt_secret_file can take its place. */
        if (seen[v - keys] && (*str_slot(cfg, v))[0] != '\0') {
            snprintf(err, errlen, "%s: set together with %s.%s; give one of them", name, v->section,
                     v->name);
            return -1;
        }
        char *secret = read_secret_file(name, path, err, errlen);
        if (!secret)
            return -1;
        free(*str_slot(cfg, v));
        *str_slot(cfg, v) = secret;
    }
    return 0;
}

/* http.tls_*: both or neither; the files themselves are read (and a bad one
 * refused by name) when the listener starts (io/tls_certs.h). */
static int validate_http_tls(const struct cn_config *cfg, char *err, size_t errlen)
{
    bool cert = cfg->http_tls_cert_file[0] != '\0', key = cfg->http_tls_key_file[0] != '\0';
    if (cert != key) {
        snprintf(err, errlen, "%s: must be set together with %s for TLS",
                 cert ? "http.tls_cert_file" : "http.tls_key_file",
                 cert ? "http.tls_key_file (CHAT_HTTP_TLS_KEY_FILE)"
                      : "http.tls_cert_file (CHAT_HTTP_TLS_CERT_FILE)");
        return -1;
    }
    struct cn_trusted_proxies *p = cn_trusted_proxies_parse(cfg->http_trusted_proxies, err, errlen);
    if (!p)
        return -1;
    cn_trusted_proxies_free(p);
    return 0;
}

static int validate(const struct cn_config *cfg, char *err, size_t errlen)
{
    enum { MIN_SECRET = 32 };
    if (cfg->auth_jwt_secret[0] == '\0') {
        snprintf(err, errlen, "auth.jwt_secret: must be set (CHAT_AUTH_JWT_SECRET)");
        return -1;
    }
    if (strlen(cfg->auth_jwt_secret) < MIN_SECRET) {
        snprintf(err, errlen, "auth.jwt_secret: must be at least %d bytes", MIN_SECRET);
        return -1;
    }
    if (!cfg->dev_mode && cn_config_secret_is_shipped(cfg->auth_jwt_secret)) {
        snprintf(err, errlen,
                 "auth.jwt_secret: this secret ships with chat-node (a dev, test or example "
                 "configuration), so anyone can forge tokens with it; it is refused unless "
                 "node.dev_mode=true: set a random one (head -c 48 /dev/urandom | base64)");
        return -1;
    }
    if (cfg->presence_refresh_ms >= cfg->presence_ttl_ms) {
        snprintf(err, errlen,
                 "presence.refresh_ms: %d must be below presence.ttl_ms (%d), or users would "
                 "expire between two refreshes",
                 cfg->presence_refresh_ms, cfg->presence_ttl_ms);
        return -1;
    }
    if (strlen(cfg->node_id) == 0 || strlen(cfg->node_id) > 64) {
        snprintf(err, errlen, "node.id: must be 1..64 bytes (it names the node in presence)");
        return -1;
    }
    const char *cost = cfg->auth_password_hash_cost;
    if (strcmp(cost, "interactive") != 0 && strcmp(cost, "moderate") != 0 &&
        strcmp(cost, "min") != 0) {
        snprintf(err, errlen,
                 "auth.password_hash_cost: '%s' is not one of interactive, "
                 "moderate, min",
                 cost);
        return -1;
    }
    if (strcmp(cost, "min") == 0 && !cfg->dev_mode) {
        snprintf(err, errlen, "auth.password_hash_cost: min is refused unless node.dev_mode=true");
        return -1;
    }
    /* The bounds of cn_jwt_config (src/proto/jwt.h): 1..256 bytes. */
    const char *names[][2] = {{"auth.issuer", cfg->auth_issuer},
                              {"auth.audience", cfg->auth_audience}};
    for (int i = 0; i < 2; i++) {
        size_t n = strlen(names[i][1]);
        if (n == 0 || n > 256) {
            snprintf(err, errlen, "%s: must be 1..256 bytes", names[i][0]);
            return -1;
        }
    }
    if (cfg->auth_login_backoff_max_s < cfg->auth_login_backoff_base_s) {
        snprintf(err, errlen,
                 "auth.login_backoff_max_s: %d must be at least auth.login_backoff_base_s (%d)",
                 cfg->auth_login_backoff_max_s, cfg->auth_login_backoff_base_s);
        return -1;
    }
    const char *levels[] = {"debug", "info", "warn", "error"};
    bool ok = false;
    for (int i = 0; i < 4; i++)
        ok |= strcmp(cfg->log_level, levels[i]) == 0;
    if (!ok) {
        snprintf(err, errlen, "log.level: '%s' is not one of debug, info, warn, error",
                 cfg->log_level);
        return -1;
    }
    if (strcmp(cfg->log_format, "text") != 0 && strcmp(cfg->log_format, "json") != 0) {
        snprintf(err, errlen, "log.format: '%s' is not one of text, json", cfg->log_format);
        return -1;
    }
    if (cfg->node_id[0] == '\0' || strlen(cfg->node_id) > 64) {
        snprintf(err, errlen, "node.id: must be 1..64 characters");
        return -1;
    }
    if (cfg->kafka_brokers[0] == '\0') {
        snprintf(err, errlen, "kafka.brokers: must not be empty");
        return -1;
    }
    struct cn_http_origins *origins = cn_http_origins_parse(cfg->http_allowed_origins, err, errlen);
    if (!origins)
        return -1;
    cn_http_origins_free(origins);
    /* SO_REUSEPORT would let both bind the same port and split its connections. */
    if (cfg->admin_http_port == cfg->http_port) {
        snprintf(err, errlen, "admin.http_port: must differ from http.port (%d)", cfg->http_port);
        return -1;
    }
    if (strlen(cfg->admin_socket) >= 108) { /* sizeof sockaddr_un.sun_path */
        snprintf(err, errlen, "admin.socket: path longer than 107 bytes");
        return -1;
    }
    if (validate_http_tls(cfg, err, errlen) != 0)
        return -1;
    return 0;
}

int cn_config_load(struct cn_config *cfg, const char *path, char *const *envp, char *err,
                   size_t errlen)
{
    bool seen[NKEYS] = {0};
    if (path) {
        if (cn_ini_find_duplicate(path, err, errlen) != 0)
            return -1;
        struct ini_ctx ctx = {cfg, err, errlen, 0, seen};
        int rc = ini_parse(path, on_ini_pair, &ctx);
        if (rc == -1) {
            snprintf(err, errlen, "cannot open config file %s: %s", path, strerror(errno));
            return -1;
        }
        if (ctx.failed) {
            size_t n = strlen(err);
            snprintf(err + n, errlen - n, " (%s line %d)", path, rc);
            return -1;
        }
        if (rc != 0) {
            snprintf(err, errlen, "%s line %d: not a valid INI line", path, rc);
            return -1;
        }
    }
    for (char *const *e = envp; e && *e; e++) {
        if (strncmp(*e, "CHAT_", 5) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        size_t namelen = (size_t)(eq - *e);
        const struct key *match = NULL;
        for (size_t i = 0; i < NKEYS && !match; i++) {
            char name[96];
            env_name(&keys[i], name, sizeof name);
            if (strlen(name) == namelen && strncmp(name, *e, namelen) == 0)
                match = &keys[i];
        }
        if (!match) {
            snprintf(err, errlen, "unknown environment variable %.*s", (int)namelen, *e);
            return -1;
        }
        if (set_value(cfg, match, eq + 1, err, errlen) != 0)
            return -1;
        seen[match - keys] = true;
    }
    if (load_secret_files(cfg, seen, err, errlen) != 0)
        return -1;
    if (validate(cfg, err, errlen) != 0)
        return -1;
    if (cfg->http_io_threads == 0) {
        /* One per core: a single I/O thread is the serial bottleneck of the REST path
         * (docs/PERFORMANCE.md, REST). */
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->http_io_threads = cpus < 1 ? 1 : cpus > 64 ? 64 : (int)cpus;
    }
    return 0;
}

void cn_config_print_help(FILE *out)
{
    fprintf(out,
            "Configuration keys (INI [section] key = value, or the environment variable):\n\n");
    for (size_t i = 0; i < NKEYS; i++) {
        char name[96], full[96];
        env_name(&keys[i], name, sizeof name);
        snprintf(full, sizeof full, "%s.%s", keys[i].section, keys[i].name);
        fprintf(out, "  %-34s %-38s default: %s\n      %s\n", full, name,
                keys[i].def[0] ? keys[i].def : "(empty)", keys[i].help);
    }
    fprintf(out,
            "\n  [%s] (file only, no environment form)\n      every key is a librdkafka "
            "property (security.protocol, sasl.mechanisms, ssl.ca.location, ...) given to "
            "every Kafka client; librdkafka refuses an unknown one or a bad value at "
            "start-up\n",
            KAFKA_CLIENT_SECTION);
}

void cn_config_free(struct cn_config *cfg)
{
    for (size_t i = 0; i < NKEYS; i++) {
        if (keys[i].type == KEY_STR) {
            free(*str_slot(cfg, &keys[i]));
            *str_slot(cfg, &keys[i]) = NULL;
        }
    }
    for (size_t i = 0; i < 2 * cfg->kafka_client_count; i++)
        free(cfg->kafka_client[i]);
    free(cfg->kafka_client);
    cfg->kafka_client = NULL;
    cfg->kafka_client_count = 0;
}
