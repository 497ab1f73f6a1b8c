/* The commands of the admin socket (docs/ADMIN.md): one JSON request object in,
 * one JSON answer out. Pure dispatch over what the node lends it; the socket,
 * the thread and the framing are admin_server.c's.
 *
 * Runs on the admin thread, which may block (the Kafka lag queries do); it never
 * runs on an I/O thread or a worker.
 *
 * Memory: cn_admin_dispatch returns a new JSON value the caller owns (json_decref);
 * the request is borrowed. Everything in cn_admin_deps is borrowed and must
 * outlive the admin server. */
#ifndef CN_NODE_ADMIN_COMMANDS_H
#define CN_NODE_ADMIN_COMMANDS_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actors/runtime/runtime.h"

struct cn_health;
struct cn_ws_counters;
struct cn_room_registry;
struct cn_session_dir;
struct cn_send_path;

struct cn_admin_deps {
    const char *node_id;
    int64_t start_wall_ms;
    cn_runtime *rt;
    struct cn_health *health;
    const struct cn_ws_counters *ws;
    struct cn_room_registry *rooms; /* NULL: no fan-out */
    struct cn_session_dir *sessions;
    struct cn_send_path *send;
    const atomic_bool *draining; /* the node's draining flag (set by the drain) */
    const char *kafka_brokers;   /* for lag and the DLT commands */
    const char *postgres_url;    /* user, and the nicknames of sessions (io/admin_pg.h) */
    const char *redis_host;      /* presence sets and the relay to the other nodes */
    int redis_port;
    int relay_timeout_ms; /* how long user and kick --user wait for the other nodes */
    /* Starts the drain (once); returns at once. ctx is drain_ctx. */
    void (*drain)(void *ctx);
    void *drain_ctx;
    /* chat-admin tls reload: 0 with the new certificate described in msg, or -1
     * with the reason (the old certificate stays). ctx is tls_ctx; NULL: no TLS. */
    int (*tls_reload)(void *ctx, char *msg, size_t msglen);
    void *tls_ctx;
};

/* A cn_admin_dispatch_fn (io/admin_server.h); deps is a struct cn_admin_deps.
 * Answers one request: {"ok":true,"result":...} or
 * {"ok":false,"error":{"code":...,"message":...}}. *drain_started is set when the
 * request was a drain the node accepted. */
json_t *cn_admin_dispatch(void *deps, json_t *req, bool *drain_started);

/* A cn_admin_relay_fn (io/admin_relay.h); deps is a struct cn_admin_deps. Answers a
 * request another node relayed: only the node-local commands (sessions, kick), always
 * about this node alone; anything else is UNKNOWN_COMMAND. Runs on the relay's thread:
 * it touches nothing but the session directory (which has its own mutex). */
json_t *cn_admin_relay_dispatch(void *deps, json_t *req);

#endif
