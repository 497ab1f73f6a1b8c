/* Internal to the session actor (ws_session.c: life, CONNECT, heart-beats,
 * output and errors; ws_session_frames.c: the frames of an open session). */
#ifndef CN_ACTORS_SESSION_SESSION_INTERNAL_H
#define CN_ACTORS_SESSION_SESSION_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "actors/session/session.h"

enum sess_state { ST_AWAIT_CONNECT, ST_OPEN, ST_CLOSING };

/* Message types of the session's own timers and replies. */
enum {
    SESS_TIMER_CONNECT = 0x57a0,
    SESS_TIMER_HB_IN,
    SESS_TIMER_HB_OUT,
    SESS_PG,
    SESS_TIMER_EXPIRY,
    SESS_TYPING_REPLY,
    SESS_TIMER_JOIN,
};

/* Typing (ws_session_typing.c): at most one event per user and room this often. */
#define CN_TYPING_EVERY_MS 3000

struct ws_sub {
    struct ws_sub *next;
    char *id;     /* as the client sent it (decoded) */
    char *id_esc; /* escaped once, for MESSAGE */
    size_t id_esc_len;
    uint64_t key;       /* unique in the session, never reused */
    int64_t room_id;    /* 0 for /user/queue/errors */
    uint64_t typing_ms; /* when this session last sent typing for the room to Redis */
    bool revoked;       /* the user left the room: no deliveries, no typing */
};

/* A frame held back while an earlier one waits for the database. */
struct ws_deferred {
    struct ws_deferred *next;
    struct cn_ws_in_frame *m;
};

#define SESS_MAX_DEFERRED 1024u

struct ws_session {
    const struct cn_ws_session_deps *deps;
    cn_actor *self;
    struct cn_ws_peer peer;
    enum sess_state state;
    char id[40];
    int64_t user_id;
    uint32_t hb_in_ms, hb_out_ms;
    uint64_t t_connect, t_hb_in, t_hb_out, t_exp; /* timer ids, 0 = none */
    int64_t exp_s;  /* the token's exp (Unix seconds); moved by /app/auth.refresh */
    bool user_slot; /* holds a slot of deps->user_sessions */
    uint64_t rx_seen, rx_last_ms;
    bool out_since_tick;
    int close_reason; /* set when the session started the close */
    bool counted_open;
    bool presence_open; /* told presence it opened; the close tells it once */
    struct ws_sub *subs;
    unsigned nsubs;
    uint64_t next_key, next_msg;
    /* The SUBSCRIBE waiting for room_membership, then (join_key set) for its room's
     * cn_session_joined. */
    struct cn_ws_in_frame *pending;
    uint64_t join_key; /* the subscription key s->pending waits to be joined; 0 none */
    uint64_t t_join;   /* timer id of that wait, 0 = none */
    struct ws_deferred *dq_head, *dq_tail;
    unsigned dq_len;
    cn_actor *send_helper;   /* the send sink's per-session actor (rate limiter), or NULL */
    unsigned sends_inflight; /* SENDs handed to the sink whose answer is still due */
    bool draining;           /* chat-admin drain: ERROR once in-flight work is done */
    int64_t drain_after_ms;  /* the reconnect hint of that ERROR */
};

struct sess_hdr {
    const char *name;
    const char *value; /* NULL: the header is left out */
};

/* Renders and queues a frame (headers escaped per command, content-length for
 * bodies). Counts it. */
void sess_send_frame(struct ws_session *s, enum cn_stomp_command cmd, const struct sess_hdr *h,
                     int n, const char *body, size_t body_len, bool close_after, int reason);

/* ERROR (message, receipt-id when not NULL) then close, for `reason`. */
void sess_fail_receipt(struct ws_session *s, const char *receipt, int reason, const char *message);

/* RECEIPT for f when it asked for one. */
void sess_receipt(struct ws_session *s, const struct cn_stomp_frame *f);

/* ERROR (message, receipt-id of f when it had one) then close, for `reason`. */
void sess_fail(struct ws_session *s, const struct cn_stomp_frame *f, int reason,
               const char *message);

/* An application error per docs/PROTOCOL.md: a MESSAGE on /user/queue/errors
 * when subscribed, else ERROR then close. receipt may be NULL. */
void sess_app_error(struct ws_session *s, const char *receipt, const char *code,
                    const char *message);

/* (Re)arms the expiry timer at s->exp_s. */
void sess_arm_expiry(struct ws_session *s);

/* SEND /app/chat.typing, and its Redis answer (ws_session_typing.c). */
struct cn_redis_reply;
void sess_typing(struct ws_session *s, const struct cn_stomp_frame *f);
void sess_typing_reply(struct ws_session *s, struct cn_redis_reply *r);

/* SEND /app/auth.refresh (ws_session_auth.c). */
void sess_refresh(struct ws_session *s, const struct cn_stomp_frame *f);

/* Handles one frame of an open session; takes m unless it keeps it in
 * s->pending (then the session waits for the database). */
void sess_open_frame(struct ws_session *s, struct cn_ws_in_frame *m);

/* The room_membership reply of s->pending. Takes m. */
void sess_pg_reply(struct ws_session *s, struct cn_pg_reply *m);

/* Holds s->pending until the room joins subscription `key` (at most
 * CN_SESSION_JOIN_WAIT_MS), and its end: the RECEIPT (joined or waited out). */
void sess_await_join(struct ws_session *s, uint64_t key);
void sess_join_done(struct ws_session *s, uint64_t key, bool timed_out);
uint64_t cn_session_joined_key(const cn_msg *m); /* of a CN_SESSION_JOINED */

/* A fan-out delivery. Takes m. */
void sess_deliver(struct ws_session *s, cn_msg *m);

/* A producer answer. Takes m. */
void sess_send_done(struct ws_session *s, struct cn_session_send_done *m);

/* Drain: once nothing is in flight, ERROR with the reconnect hint, then close. */
void sess_drain_check(struct ws_session *s);

/* Ends every subscription (room hooks told) and frees them. */
void sess_drop_subs(struct ws_session *s);

#endif
