/* Counters of the WebSocket/STOMP front door, shown on /metrics.
 *
 * One instance per node, owned by the program (chat-node.c) and borrowed by the
 * transport (I/O threads) and every session actor (workers). Every field is a
 * relaxed atomic: each publishes nothing but itself, and /metrics reads them one
 * by one, so sums may be off by work in flight. */
#ifndef CN_IO_WS_COUNTERS_H
#define CN_IO_WS_COUNTERS_H

#include <stdatomic.h>

/* Why a session ended, counted once per connection. */
enum cn_ws_close_reason {
    CN_WS_CLOSE_PEER = 0,        /* the client closed the socket (or it broke) */
    CN_WS_CLOSE_DISCONNECT,      /* DISCONNECT frame */
    CN_WS_CLOSE_PROTOCOL,        /* bad frame, limit, frame before CONNECT, ... */
    CN_WS_CLOSE_AUTH,            /* missing or invalid token at CONNECT */
    CN_WS_CLOSE_APP_ERROR,       /* application error without /user/queue/errors */
    CN_WS_CLOSE_CONNECT_TIMEOUT, /* no CONNECT in time */
    CN_WS_CLOSE_HEARTBEAT,       /* client silent past the heart-beat grace */
    CN_WS_CLOSE_SLOW_CONSUMER,   /* outbound queue overflow */
    CN_WS_CLOSE_SHUTDOWN,        /* the node is stopping */
    CN_WS_CLOSE_KICKED,          /* chat-admin kick */
    CN_WS_CLOSE_DRAIN,           /* chat-admin drain: told to reconnect elsewhere */
    CN_WS_CLOSE_TOKEN_EXPIRED,   /* the JWT's exp passed without an auth.refresh */
    CN_WS_CLOSE_USER_LIMIT,      /* CONNECT over limits.sessions_per_user */
    CN_WS_CLOSE_TOO_LARGE,       /* a frame over stomp.max_frame_size (or a header limit) */
    CN_WS_CLOSE_FLOOD,           /* sustained flooding, or too many frames held back */
    CN_WS_CLOSE_INTERNAL,        /* the node could not do what a frame asked (database busy) */
    CN_WS_CLOSE__COUNT
};

/* Outcome of a CONNECT/STOMP frame. */
enum cn_ws_connect_result {
    CN_WS_CONNECT_OK = 0,
    CN_WS_CONNECT_NO_TOKEN,
    CN_WS_CONNECT_BAD_TOKEN,
    CN_WS_CONNECT_EXPIRED,
    CN_WS_CONNECT_BAD_VERSION,
    CN_WS_CONNECT_BAD_HEADER, /* malformed heart-beat */
    CN_WS_CONNECT__COUNT
};

/* Outcome of a SEND /app/auth.refresh. */
enum cn_ws_refresh_result {
    CN_WS_REFRESH_OK = 0,
    CN_WS_REFRESH_INVALID,    /* bad body, bad or expired token */
    CN_WS_REFRESH_WRONG_USER, /* a valid token of another user */
    CN_WS_REFRESH__COUNT
};

/* Why a connection was refused before it became a session. */
enum cn_ws_refusal {
    CN_WS_REFUSED_NODE_LIMIT = 0, /* limits.max_connections open already */
    CN_WS_REFUSED_ACCEPT_RATE,    /* over limits.accept_rate this second */
    CN_WS_REFUSED_USER_LIMIT,     /* the user has limits.sessions_per_user sessions */
    CN_WS_REFUSED__COUNT
};

/* Frames by command: index = enum cn_stomp_command (1..15); 0 is unused. */
#define CN_WS_COMMANDS 16

struct cn_ws_counters {
    atomic_uint_fast64_t connections_open; /* WebSocket connections on /ws right now */
    atomic_uint_fast64_t connections_total;
    atomic_uint_fast64_t sessions_open; /* connections past a successful CONNECT */
    atomic_uint_fast64_t connects[CN_WS_CONNECT__COUNT];
    atomic_uint_fast64_t disconnects[CN_WS_CLOSE__COUNT];
    atomic_uint_fast64_t frames_in[CN_WS_COMMANDS];
    atomic_uint_fast64_t frames_out[CN_WS_COMMANDS];
    atomic_uint_fast64_t heartbeats_out;
    atomic_uint_fast64_t slow_consumer_closes;
    atomic_uint_fast64_t app_errors; /* application errors answered (queue or ERROR) */
    atomic_uint_fast64_t refreshes[CN_WS_REFRESH__COUNT];
    atomic_uint_fast64_t refused[CN_WS_REFUSED__COUNT];
    /* Typing: SENDs taken, dropped by the session's own 3 s throttle, published
     * (Redis said first in 3 s), and events dropped under outbound pressure. */
    atomic_uint_fast64_t typing_in, typing_throttled, typing_published, typing_dropped;
    /* SUBSCRIBEs whose RECEIPT went before Redis confirmed the room's channel. */
    atomic_uint_fast64_t join_timeouts;
};

/* Label texts for the enums above (static). Cannot fail; "?" outside the range. */
const char *cn_ws_close_reason_name(int reason);

/* The WebSocket close code (RFC 6455 7.4.1) sent for a close reason: 1000 normal
 * (DISCONNECT), 1001 going away (shutdown), 1002 protocol error, 1008 policy
 * (authentication, token expiry, kick, application error), 1009 too big, 1011
 * internal error, 1012 service restart (drain), 1013 try again later (limits). */
int cn_ws_close_code(int reason);

/* A short reason text for the close frame (at most 40 bytes, static). */
const char *cn_ws_close_text(int reason);
const char *cn_ws_connect_result_name(int result);
const char *cn_ws_refresh_result_name(int result);
const char *cn_ws_refusal_name(int refusal);

#endif
