/* The state of one STOMP session actor, shared by the files that make it up. From
 * the bottom up: session_output.c (what the session writes to its socket, and the
 * start of its end), session_timers.c (connect deadline, heart-beats, token
 * expiry), session_subs.c (its subscriptions and the MESSAGEs delivered to them),
 * session_auth.c (CONNECT, /app/auth.refresh), session_typing.c (/app/chat.typing),
 * session_frames.c (the frames of an open session), and session.c on top (the
 * behaviour: life, dispatch, the frames held back, the end). Each file calls only
 * files listed before it. Not for use outside the session.
 *
 * Every field belongs to the session's own behaviour (one worker at a time). */
#ifndef CN_ACTORS_SESSION_SESSION_STATE_H
#define CN_ACTORS_SESSION_SESSION_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "actors/session/session_deps.h"
#include "base/log.h"
#include "io/ws_link.h"

enum cn__session_state { CN__SESSION_AWAIT_CONNECT, CN__SESSION_OPEN, CN__SESSION_CLOSING };

/* Message types of the session's own timers and replies. */
enum {
    CN__SESSION_TIMER_CONNECT = 0x57a0,
    CN__SESSION_TIMER_HB_IN,
    CN__SESSION_TIMER_HB_OUT,
    CN__SESSION_PG,
    CN__SESSION_TIMER_EXPIRY,
    CN__SESSION_TYPING_REPLY,
    CN__SESSION_TIMER_JOIN,
};

/* Typing (session_typing.c): at most one event per user and room this often. */
#define CN__SESSION_TYPING_EVERY_MS 3000

/* Frames held back behind a SUBSCRIBE that waits, before the session gives up. */
#define CN__SESSION_MAX_DEFERRED 1024u

struct cn__session_sub {
    struct cn__session_sub *next;
    char *id;     /* as the client sent it (decoded) */
    char *id_esc; /* escaped once, for MESSAGE */
    size_t id_esc_len;
    uint64_t key;       /* unique in the session, never reused */
    int64_t room_id;    /* 0 for /user/queue/errors and /user/queue/events */
    bool events;        /* a /user/queue/events subscription (room_id 0) */
    uint64_t typing_ms; /* when this session last sent typing for the room to Redis */
    bool revoked;       /* the user left the room: no deliveries, no typing */
};

/* A frame held back while an earlier one waits for the database. */
struct cn__session_deferred {
    struct cn__session_deferred *next;
    struct cn_ws_in_frame *m;
};

struct cn__session {
    const struct cn_session_deps *deps;
    cn_actor *self;
    struct cn_ws_peer peer;
    enum cn__session_state state;
    char id[40];
    int64_t user_id;
    uint32_t hb_in_ms, hb_out_ms;
    uint64_t t_connect, t_hb_in, t_hb_out, t_exp; /* timer ids, 0 = none */
    int64_t exp_s;  /* the token's exp (Unix seconds); moved by /app/auth.refresh */
    bool user_slot; /* holds a slot of deps->user_sessions */
    uint64_t rx_seen, rx_last_ms;
    uint64_t out_last_ms; /* coarse clock: the last frame or heart-beat written */
    int close_reason;     /* set when the session started the close */
    bool counted_open;
    bool presence_open;           /* told presence it opened; the close tells it once */
    struct cn__session_sub *subs; /* newest first */
    unsigned nsubs;
    uint64_t next_key, next_msg;
    /* The SUBSCRIBE waiting for room_membership, then (join_key set) for its room's
     * cn_session_joined. */
    struct cn_ws_in_frame *pending;
    int64_t pending_room; /* the room of a SUBSCRIBE in s->pending (0: none) */
    /* The membership of pending_room was revoked while its room_membership query was
     * out: its answer may predate the revocation, so the SUBSCRIBE is refused. */
    bool pending_revoked;
    uint64_t join_key; /* the subscription key s->pending waits to be joined; 0 none */
    uint64_t t_join;   /* timer id of that wait, 0 = none */
    struct cn__session_deferred *dq_head, *dq_tail;
    unsigned dq_len;
    cn_actor *send_helper;   /* the send sink's per-session actor (rate limiter), or NULL */
    unsigned sends_inflight; /* SENDs handed to the sink whose answer is still due */
    bool draining;           /* chat-admin drain: ERROR once in-flight work is done */
    int64_t drain_after_ms;  /* the reconnect hint of that ERROR */
    /* A CONNECT whose token checked out, waiting for user_by_id (its user was not known
     * to exist yet; session_auth.c). Frames that arrive meanwhile are held back. */
    bool connect_pending;
    const char *connect_version; /* static, from cn_stomp_version_pick */
    /* STOMP 1.0 (decided at CONNECT): header values are written unescaped. */
    bool raw;
    uint32_t connect_cx, connect_cy;
    int64_t connect_user_id, connect_exp_s;
    uint64_t opened_ms; /* cn_now_ms() at CONNECTED (0: never opened), for the close's log */
};

/* Sets this thread's log context to the session's (id, user, peer) for its turn. */
static inline void cn__session_log_ctx(const struct cn__session *s)
{
    struct cn_log_ctx ctx = {.session = s->id, .user = s->user_id, .peer = s->peer.client_addr};
    cn_log_ctx_set(&ctx);
}

#endif
