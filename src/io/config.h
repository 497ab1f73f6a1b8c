/* chat-node configuration: one INI file plus CHAT_<SECTION>_<KEY> environment
 * overrides, described by a single table of keys (config.c) that also drives
 * --help, so a key cannot exist without a default and a description.
 *
 * Memory: cn_config owns every string it holds; cn_config_free releases them. */
#ifndef CN_IO_CONFIG_H
#define CN_IO_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

struct cn_config {
    char *node_id;
    bool dev_mode;
    char *http_host;
    int http_port;
    int http_io_threads;
    int http_request_timeout_s;
    int http_max_body;
    int http_max_header_bytes;
    char *http_static_dir;
    char *http_allowed_origins;
    int runtime_workers;
    int runtime_spin_rounds;
    char *postgres_url;
    int postgres_pool_size;
    int postgres_query_timeout_ms;
    int postgres_max_queue;
    char *redis_host;
    int redis_port;
    char *kafka_brokers;
    int kafka_messages_partitions;
    int kafka_read_receipts_partitions;
    bool persist_enabled;
    int persist_batch_max;
    int persist_batch_linger_ms;
    int persist_retries;
    int persist_retry_backoff_ms;
    char *auth_jwt_secret;
    int auth_token_ttl_s;
    int auth_hasher_threads;
    int auth_hasher_queue;
    char *auth_password_hash_cost;
    char *auth_issuer;
    char *auth_audience;
    int auth_refresh_ttl_s;
    int auth_login_backoff_after;
    int auth_login_backoff_base_s;
    int auth_login_backoff_max_s;
    int cache_rooms_ttl_s;
    bool cache_rooms_enabled;
    bool fanout_broadcast_enabled;
    int fanout_window_size;
    int fanout_window_ttl_s;
    int fanout_dedup_keys;
    char *admin_socket;
    char *admin_http_host;
    int admin_http_port;
    int admin_drain_batch;
    int admin_drain_batch_interval_ms;
    int admin_drain_reconnect_jitter_ms;
    char *log_level;
    char *log_format; /* text or json */
    int startup_connect_attempts;
    int startup_connect_retry_ms;
    int shutdown_timeout_ms;
    int health_interval_ms;
    int stomp_max_frame_size;
    int stomp_max_headers;
    int stomp_max_header_line;
    int stomp_heartbeat_ms;
    int stomp_connect_timeout_ms;
    int stomp_max_outbound_bytes;
    int stomp_max_subscriptions;
    int limits_send_rate;
    int limits_send_burst_close;
    int limits_send_burst_window_ms;
    int limits_sessions_per_user;
    int limits_max_connections;
    int limits_accept_rate;
    int limits_signups_per_hour;         /* per client address */
    int limits_login_failures_per_hour;  /* per client address */
    int limits_rooms_per_hour;           /* per user */
    int limits_invites_per_hour;         /* per user */
    int limits_user_searches_per_minute; /* per user */
    int kafka_send_timeout_ms;
    int kafka_linger_ms;
    int kafka_broadcast_fetch_wait_ms;
    int kafka_fetch_wait_ms;
    bool receipts_enabled;
    bool presence_enabled;
    int presence_ttl_ms;
    int presence_refresh_ms;
    int presence_sweep_ms;
    int membership_revoke_wait_ms;
    int membership_cache_ttl_ms;
    int ws_ping_interval_s;
    int ws_pong_timeout_s;
    int ws_tcp_keepalive_s;
    /* Authenticated dependencies and secrets from files. A *_file key names a file
     * whose contents (one trailing newline stripped) become the key without _file at
     * load time; setting both is an error. */
    char *redis_username;
    char *redis_password;
    char *redis_password_file;
    char *auth_jwt_secret_file;
    char *postgres_url_file;
    /* [kafka.client]: librdkafka properties for every Kafka client, in file order,
     * key, value, key, value, ... (kafka_client_count pairs; owned). No env form. */
    char **kafka_client;
    size_t kafka_client_count;
    char *http_tls_cert_file;   /* "": plain HTTP */
    char *http_tls_key_file;    /* set together with http_tls_cert_file */
    char *http_trusted_proxies; /* IPs/CIDRs whose X-Forwarded-For is believed */
};

/* Fills `cfg` with every default. Strings are owned by cfg. Cannot fail. */
void cn_config_defaults(struct cn_config *cfg);

/* Loads `path` (NULL: none) over the defaults, then applies CHAT_* variables from
 * `envp` (NULL-terminated, borrowed), then validates. On failure returns -1 and
 * writes a one-line message naming the key (and file line) into err; cfg then
 * holds what was loaded so far and must still be freed. */
int cn_config_load(struct cn_config *cfg, const char *path, char *const *envp, char *err,
                   size_t errlen);

/* Writes the --help key listing (key, env name, default, meaning) to `out`. */
void cn_config_print_help(FILE *out);

/* Frees the strings cfg owns; cfg may be reused after cn_config_defaults. */
void cn_config_free(struct cn_config *cfg);

/* The built-in JWT secret of dev mode: refused when dev_mode is off. */
extern const char cn_config_dev_jwt_secret[];

/* True when `secret` is the built-in dev secret or one the repository ships (its dev and
 * test configurations, examples in the docs): refused when dev_mode is off. */
bool cn_config_secret_is_shipped(const char *secret);

#endif
