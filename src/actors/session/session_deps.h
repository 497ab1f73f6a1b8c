/* What every STOMP session actor borrows from the node: its configuration, the
 * adapters it calls, its counters, and the seams to the SEND path, the room actors,
 * presence, the admin's session directory and the per-user session limit. The node
 * fills one struct cn_session_deps and hands it to the transport as the ctx of
 * cn_session_open (session.h). Types only. */
#ifndef CN_ACTORS_SESSION_SESSION_DEPS_H
#define CN_ACTORS_SESSION_SESSION_DEPS_H

#include <stddef.h>
#include <stdint.h>

#include "actors/presence/presence.h"
#include "actors/runtime/runtime.h"
#include "actors/session/session_directory.h"
#include "actors/session/session_seams.h"
#include "actors/session/user_sessions.h"
#include "io/pg_pool.h"
#include "io/ws_counters.h"
#include "proto/jwt.h"

struct cn_known_users;

struct cn_session_config {
    uint32_t heartbeat_ms;       /* the server's sx,sy: the floor for clients that ask */
    uint32_t connect_timeout_ms; /* CONNECT must arrive within this */
    uint32_t max_subscriptions;  /* per session */
};

/* What every session borrows; owned by the program and alive until the runtime
 * has shut down. */
struct cn_session_deps {
    cn_runtime *rt;
    struct cn_pg_pool *pg;
    struct cn_jwt_config jwt; /* access tokens: key, iss, aud (strings borrowed) */
    struct cn_session_config cfg;
    struct cn_ws_counters *counters;
    /* The SEND seam (the node wires cn_send_path_take, send_path.h). NULL: every
     * valid SEND /app/chat.send or /app/chat.read is refused with the application
     * error UNAVAILABLE. */
    cn_session_send_sink send_sink;
    void *send_ctx;
    cn_session_forget_room_fn send_forget_room; /* NULL with no sink */
    /* The room fan-out seam; NULL: no fan-out (a SUBSCRIBE's RECEIPT then follows
     * the membership check at once). */
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
    /* Users seen to exist (actors/rest/known_users.h): a CONNECT whose token names a
     * user not in it waits for one user_by_id and is refused when the user is gone.
     * NULL: no check. */
    struct cn_known_users *known_users;
};

#endif
