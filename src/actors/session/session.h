/* The STOMP session actor: one per WebSocket connection on /ws.
 *
 * The state it keeps is one connection's: who the user is, its subscriptions
 * (id -> room), its heart-beat timers; no chat state shared with anyone. It reads
 * rows through the PostgreSQL pool (membership), writes its socket through the
 * WebSocket link (io/ws_link.h), and reaches the rest of the realtime path through
 * the seams of session_seams.h (the SEND path, the room actors).
 *
 * Life: spawned by the transport when the upgrade completes (cn_session_open is
 * the transport's cn_ws_open_fn). It waits for CONNECT/STOMP (closing the
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
 * Its files, from the bottom up, are listed in session_state.h. */
#ifndef CN_ACTORS_SESSION_SESSION_H
#define CN_ACTORS_SESSION_SESSION_H

#include "actors/runtime/runtime.h"
#include "actors/session/session_deps.h"
#include "io/ws_link.h"

/* A cn_ws_open_fn: spawns the session of a new connection. `deps` is a struct
 * cn_session_deps (borrowed, alive until the runtime has shut down); takes
 * peer->rx. Returns one actor reference for the transport. Any thread; cannot
 * fail. */
cn_actor *cn_session_open(void *deps, const struct cn_ws_peer *peer);

#endif
