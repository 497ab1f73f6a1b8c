/* The STOMP session actor: one per WebSocket connection on /ws.
 *
 * It lives in src/io rather than src/actors/chat because it talks to adapters
 * directly (the PostgreSQL pool for membership, the WebSocket transport for its
 * output), and src/actors must not depend on src/io. The state it keeps is one
 * connection's: who the user is, its subscriptions (id -> room), its heart-beat
 * timers; no chat state shared with anyone.
 *
 * Life: spawned by the transport when the upgrade completes (cn_ws_session_open
 * is the transport's cn_ws_open_fn). It waits for CONNECT/STOMP (closing the
 * connection after stomp.connect_timeout_ms otherwise), authenticates the JWT,
 * answers CONNECTED, runs heart-beats both ways, closes the session when the
 * token's exp passes (unless SEND /app/auth.refresh brought a newer token of
 * the same user), and handles SUBSCRIBE,
 * UNSUBSCRIBE, SEND, ACK/NACK and DISCONNECT in arrival order (a frame that waits
 * for the database holds back the ones behind it, so receipts stay cumulative).
 * Errors follow docs/PROTOCOL.md: protocol errors are ERROR then close;
 * application errors go to /user/queue/errors when subscribed, else ERROR then
 * close. It stops when the transport reports the connection closed.
 *
 * The seams for the parts built next (the Kafka producer, room fan-out) are in
 * ws_session_seams.h. */
#ifndef CN_ACTORS_SESSION_SESSION_H
#define CN_ACTORS_SESSION_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "actors/runtime/runtime.h"
#include "io/pg_pool.h"
#include "actors/presence/presence.h"
#include "actors/session/session_directory.h"
#include "io/ws_counters.h"
#include "io/ws_link.h"
#include "actors/session/user_sessions.h"
#include "actors/session/session_seams.h"

struct cn_ws_session_config {
    uint32_t heartbeat_ms;       /* the server's sx,sy and the floor for 0 (issue 9) */
    uint32_t connect_timeout_ms; /* CONNECT must arrive within this */
    uint32_t max_subscriptions;  /* per session */
};

/* What every session borrows; owned by the program and alive until the runtime
 * has shut down. */
struct cn_ws_session_deps {
    cn_runtime *rt;
    struct cn_pg_pool *pg;
    const uint8_t *jwt_key;
    size_t jwt_key_len;
    struct cn_ws_session_config cfg;
    struct cn_ws_counters *counters;
    /* The SEND seam. NULL until the Kafka producer path is wired by the node:
     * until then every valid SEND /app/chat.send is refused with the application
     * error UNAVAILABLE. */
    cn_session_send_sink send_sink;
    void *send_ctx;
    cn_session_forget_room_fn send_forget_room; /* NULL with no sink */
    /* The room fan-out seam; NULL until room actors exist. */
    const struct cn_session_room_hooks *rooms;
    /* Told of every session that completed CONNECT and of its close; NULL: no
     * presence (presence.enabled = false). */
    struct cn_presence *presence;
    /* Told of every open session and its close, for the admin socket (kick,
     * drain, listings); NULL: none. */
    struct cn_session_dir *directory;
    /* limits.sessions_per_user; NULL: no limit. */
    struct cn_user_sessions *user_sessions;
    /* SEND /app/chat.typing goes here (Redis only); NULL: typing is refused. */
    struct cn_redis *redis;
};

/* A cn_ws_open_fn: spawns the session of a new connection. `deps` is a struct
 * cn_ws_session_deps (borrowed); takes peer->rx. Returns one actor reference for
 * the transport. Any thread; cannot fail. */
cn_actor *cn_ws_session_open(void *deps, const struct cn_ws_peer *peer);

#endif
