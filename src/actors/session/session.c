/* The session actor's life: CONNECT, heart-beats, output, errors and the end;
 * see ws_session.h. Frames of an open session are in ws_session_frames.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "io/redis_client.h"
#include "actors/session/session_internal.h"
#include "proto/json_responses.h"
#include "proto/jwt.h"
#include "proto/stomp_negotiate.h"
#include "proto/stomp_writer.h"

static void count(atomic_uint_fast64_t *c, int64_t d)
{
    atomic_fetch_add_explicit(c, (uint_fast64_t)d, memory_order_relaxed);
}

void sess_send_frame(struct ws_session *s, enum cn_stomp_command cmd, const struct sess_hdr *h,
                     int n, const char *body, size_t body_len, bool close_after, int reason)
{
    /* An upper bound: escaping at most doubles a value; content-length and the
     * separators fit in the constant. So finish cannot run out of room. */
    size_t cap = 64 + body_len;
    for (int i = 0; i < n; i++)
        if (h[i].value)
            cap += strlen(h[i].name) * 2 + strlen(h[i].value) * 2 + 2;
    struct cn_ws_out *o = cn_ws_out_new(s->peer.conn_id, cap);
    struct cn_stomp_writer w;
    cn_stomp_writer_init(&w, (char *)o->data, CN_WS_PRE + cap, CN_WS_PRE, cmd);
    for (int i = 0; i < n; i++)
        if (h[i].value)
            cn_stomp_writer_header(&w, h[i].name, h[i].value, strlen(h[i].value));
    long len = cn_stomp_writer_finish(&w, body, body_len);
    if (len < 0) { /* defensive: the bound above makes this unreachable */
        CN_ERROR("ws", "session %s: cannot render %s (%ld)", s->id, cn_stomp_command_name(cmd),
                 len);
        abort();
    }
    o->len = (size_t)len;
    o->close_after = close_after;
    o->close_reason = reason;
    count(&s->deps->counters->frames_out[cmd], 1);
    s->out_since_tick = true;
    cn_ws_out_push(&s->peer, o);
}

static void cancel_timers(struct ws_session *s)
{
    cn_runtime *rt = s->deps->rt;
    if (s->t_connect)
        cn_timer_cancel(rt, s->t_connect);
    if (s->t_hb_in)
        cn_timer_cancel(rt, s->t_hb_in);
    if (s->t_hb_out)
        cn_timer_cancel(rt, s->t_hb_out);
    if (s->t_exp)
        cn_timer_cancel(rt, s->t_exp);
    if (s->t_join)
        cn_timer_cancel(rt, s->t_join);
    s->t_connect = s->t_hb_in = s->t_hb_out = s->t_exp = s->t_join = 0;
}

/* From here on the session only waits for the transport's CLOSED. */
static void begin_close(struct ws_session *s, int reason)
{
    s->state = ST_CLOSING;
    s->close_reason = reason;
    cancel_timers(s);
}

void sess_receipt(struct ws_session *s, const struct cn_stomp_frame *f)
{
    const char *r = cn_stomp_frame_get(f, "receipt", NULL);
    if (!r)
        return;
    struct sess_hdr h[] = {{"receipt-id", r}};
    sess_send_frame(s, CN_STOMP_RECEIPT, h, 1, NULL, 0, false, 0);
}

static void fail_with(struct ws_session *s, const char *receipt, int reason, const char *message,
                      const char *json, size_t json_len)
{
    if (s->state == ST_CLOSING)
        return;
    struct sess_hdr h[] = {{"message", message},
                           {"receipt-id", receipt},
                           {"content-type", json ? "application/json" : NULL}};
    sess_send_frame(s, CN_STOMP_ERROR, h, 3, json, json_len, true, reason);
    begin_close(s, reason);
}

void sess_fail_receipt(struct ws_session *s, const char *receipt, int reason, const char *message)
{
    fail_with(s, receipt, reason, message, NULL, 0);
}

void sess_fail(struct ws_session *s, const struct cn_stomp_frame *f, int reason,
               const char *message)
{
    fail_with(s, f ? cn_stomp_frame_get(f, "receipt", NULL) : NULL, reason, message, NULL, 0);
}

static struct ws_sub *errors_sub(struct ws_session *s)
{
    /* The first /user/queue/errors subscription gets the errors. */
    struct ws_sub *found = NULL;
    for (struct ws_sub *x = s->subs; x; x = x->next)
        if (x->room_id == 0)
            found = x; /* subs is newest first: the last match is the oldest */
    return found;
}

void sess_app_error(struct ws_session *s, const char *receipt, const char *code,
                    const char *message)
{
    count(&s->deps->counters->app_errors, 1);
    size_t len;
    char *body = cn_json_dump(cn_json_error_body(code, message), &len);
    struct ws_sub *q = errors_sub(s);
    if (q && s->state == ST_OPEN) {
        char mid[64];
        snprintf(mid, sizeof mid, "%s-e%" PRIu64, s->id, ++s->next_msg);
        struct sess_hdr h[] = {
            {"subscription", q->id}, {"destination", "/user/queue/errors"}, {"message-id", mid},
            {"receipt-id", receipt}, {"content-type", "application/json"},
        };
        sess_send_frame(s, CN_STOMP_MESSAGE, h, 5, body, len, false, 0);
    } else {
        fail_with(s, receipt, CN_WS_CLOSE_APP_ERROR, message, body, len);
    }
    free(body);
}

static void arm(struct ws_session *s, uint64_t *id, uint32_t type, uint64_t ms)
{
    cn_msg *m = cn_xmalloc(sizeof *m);
    cn_msg_init(m, type, NULL);
    *id = cn_timer_after(s->deps->rt, s->self, ms, m);
}

void sess_await_join(struct ws_session *s, uint64_t key)
{
    s->join_key = key;
    arm(s, &s->t_join, SESS_TIMER_JOIN, CN_SESSION_JOIN_WAIT_MS);
}

void sess_arm_expiry(struct ws_session *s)
{
    if (s->t_exp)
        cn_timer_cancel(s->deps->rt, s->t_exp);
    int64_t left = s->exp_s * 1000 - cn_wall_ms();
    arm(s, &s->t_exp, SESS_TIMER_EXPIRY, left > 0 ? (uint64_t)left : 0);
}

static void on_expiry(struct ws_session *s)
{
    s->t_exp = 0;
    if (s->state != ST_OPEN)
        return;
    /* The timer runs on the monotonic clock, exp is wall time: if the wall clock
     * was set back meanwhile, wait for the rest. */
    if (cn_wall_ms() < s->exp_s * 1000) {
        sess_arm_expiry(s);
        return;
    }
    sess_fail(s, NULL, CN_WS_CLOSE_TOKEN_EXPIRED, "token-expired");
}

static uint64_t hb_in_tick(const struct ws_session *s)
{
    /* Check twice per interval, so the close comes close to the 2x bound. */
    return s->hb_in_ms / 2 ? s->hb_in_ms / 2 : 1;
}

static void on_connect(struct ws_session *s, const struct cn_stomp_frame *f)
{
    struct cn_ws_counters *c = s->deps->counters;
    const char *version = cn_stomp_version_negotiate(cn_stomp_frame_get(f, "accept-version", NULL));
    if (!version) {
        count(&c->connects[CN_WS_CONNECT_BAD_VERSION], 1);
        sess_fail(s, NULL, CN_WS_CLOSE_PROTOCOL,
                  "unsupported STOMP version: this server speaks 1.1 and 1.2");
        return;
    }
    uint32_t cx, cy;
    if (cn_stomp_heartbeat_parse(cn_stomp_frame_get(f, "heart-beat", NULL), &cx, &cy) != 0) {
        count(&c->connects[CN_WS_CONNECT_BAD_HEADER], 1);
        sess_fail(s, NULL, CN_WS_CLOSE_PROTOCOL, cn_stomp_strerror(CN_STOMP_E_BAD_HEARTBEAT));
        return;
    }
    /* The token: Authorization: Bearer <jwt>, or the passcode header holding it
     * (what many JavaScript clients can set). */
    const char *auth = cn_stomp_frame_get(f, "Authorization", NULL);
    if (!auth)
        auth = cn_stomp_frame_get(f, "authorization", NULL);
    const char *token = NULL;
    size_t token_len = 0;
    if (auth) {
        if (cn_jwt_from_authorization(auth, &token, &token_len) != 0) {
            count(&c->connects[CN_WS_CONNECT_BAD_TOKEN], 1);
            sess_fail(s, NULL, CN_WS_CLOSE_AUTH,
                      "authentication failed: Authorization must be 'Bearer <token>'");
            return;
        }
    } else if ((token = cn_stomp_frame_get(f, "passcode", NULL)) != NULL) {
        if (strncasecmp(token, "Bearer ", 7) == 0)
            token += 7;
    }
    if (!token || !*token) {
        count(&c->connects[CN_WS_CONNECT_NO_TOKEN], 1);
        sess_fail(s, NULL, CN_WS_CLOSE_AUTH,
                  "authentication required: send Authorization: Bearer <token>");
        return;
    }
    struct cn_token_claims claims;
    int rc =
        cn_jwt_verify(s->deps->jwt_key, s->deps->jwt_key_len, token, (int64_t)time(NULL), &claims);
    if (rc != 0) {
        count(&c->connects[rc == CN_JWT_EEXPIRED ? CN_WS_CONNECT_EXPIRED : CN_WS_CONNECT_BAD_TOKEN],
              1);
        char msg[96];
        snprintf(msg, sizeof msg, "authentication failed: %s", cn_jwt_strerror(rc));
        sess_fail(s, NULL, CN_WS_CLOSE_AUTH, msg);
        return;
    }
    if (cn_user_sessions_acquire(s->deps->user_sessions, claims.user_id) != 0) {
        count(&c->refused[CN_WS_REFUSED_USER_LIMIT], 1);
        char msg[128];
        snprintf(msg, sizeof msg,
                 "too many sessions for this user (limits.sessions_per_user = %u); retry later",
                 cn_user_sessions_limit(s->deps->user_sessions));
        sess_fail(s, NULL, CN_WS_CLOSE_USER_LIMIT, msg);
        return;
    }
    s->user_slot = true;
    count(&c->connects[CN_WS_CONNECT_OK], 1);
    count(&c->sessions_open, 1);
    s->counted_open = true;
    s->user_id = claims.user_id;
    s->state = ST_OPEN;
    cn_presence_opened(s->deps->presence, s->user_id);
    s->presence_open = true;
    cn_session_dir_opened(s->deps->directory, s->self, s->id, s->user_id);
    if (s->t_connect)
        cn_timer_cancel(s->deps->rt, s->t_connect);
    s->t_connect = 0;

    /* The spec's rule against our sx = sy = heartbeat_ms, then the floor (issue 9):
     * a direction the client switched off (0) still runs at the node's interval,
     * so a dead client is noticed and an idle link is kept warm. */
    uint32_t hb = s->deps->cfg.heartbeat_ms;
    cn_stomp_heartbeat_negotiate(cx, cy, hb, hb, &s->hb_in_ms, &s->hb_out_ms);
    if (!s->hb_in_ms)
        s->hb_in_ms = hb;
    if (!s->hb_out_ms)
        s->hb_out_ms = hb;
    char hbv[32], user[24];
    snprintf(hbv, sizeof hbv, "%u,%u", hb, hb);
    snprintf(user, sizeof user, "%" PRId64, s->user_id);
    struct sess_hdr h[] = {{"version", version},
                           {"heart-beat", hbv},
                           {"session", s->id},
                           {"server", "chat-node/" CN_VERSION},
                           {"user-name", user}};
    sess_send_frame(s, CN_STOMP_CONNECTED, h, 5, NULL, 0, false, 0);
    s->rx_seen = atomic_load_explicit(&s->peer.rx->chunks, memory_order_relaxed);
    s->rx_last_ms = cn_now_ms();
    s->out_since_tick = false;
    arm(s, &s->t_hb_in, SESS_TIMER_HB_IN, hb_in_tick(s));
    arm(s, &s->t_hb_out, SESS_TIMER_HB_OUT, s->hb_out_ms);
    s->exp_s = claims.exp;
    sess_arm_expiry(s);
}

static void on_hb_in(struct ws_session *s)
{
    s->t_hb_in = 0;
    if (s->state != ST_OPEN)
        return;
    uint64_t seen = atomic_load_explicit(&s->peer.rx->chunks, memory_order_relaxed);
    uint64_t now = cn_now_ms();
    if (seen != s->rx_seen) {
        s->rx_seen = seen;
        s->rx_last_ms = now;
    } else if (now - s->rx_last_ms > 2ull * s->hb_in_ms) {
        char msg[96];
        snprintf(msg, sizeof msg, "heart-beat timeout: nothing received for %" PRIu64 " ms",
                 now - s->rx_last_ms);
        sess_fail(s, NULL, CN_WS_CLOSE_HEARTBEAT, msg);
        return;
    }
    arm(s, &s->t_hb_in, SESS_TIMER_HB_IN, hb_in_tick(s));
}

static void on_hb_out(struct ws_session *s)
{
    s->t_hb_out = 0;
    if (s->state != ST_OPEN)
        return;
    if (!s->out_since_tick) {
        struct cn_ws_out *o = cn_ws_out_new(s->peer.conn_id, 1);
        o->data[CN_WS_PRE] = '\n';
        count(&s->deps->counters->heartbeats_out, 1);
        cn_ws_out_push(&s->peer, o);
    }
    s->out_since_tick = false;
    arm(s, &s->t_hb_out, SESS_TIMER_HB_OUT, s->hb_out_ms);
}

static void on_closed(struct ws_session *s, const struct cn_ws_in_closed *m)
{
    struct cn_ws_counters *c = s->deps->counters;
    /* The session's own reason wins: it knows why it asked for the close. The
     * transport's wins for what only it sees (peer, slow consumer, shutdown). */
    int reason =
        s->state == ST_CLOSING && m->reason == CN_WS_CLOSE_PEER ? s->close_reason : m->reason;
    count(&c->disconnects[reason], 1);
    if (s->counted_open)
        count(&c->sessions_open, -1);
    s->counted_open = false;
    /* Here and not in session_free, which also runs inside cn_runtime_shutdown, where
     * no actor may be sent to. The node's shutdown closes every session first. */
    if (s->presence_open)
        cn_presence_closed(s->deps->presence, s->user_id);
    s->presence_open = false;
    if (s->user_slot)
        cn_user_sessions_release(s->deps->user_sessions, s->user_id);
    s->user_slot = false;
    begin_close(s, reason);
    sess_drop_subs(s);
    cn_session_dir_closed(s->deps->directory, s->self);
    /* Stopped here, on a worker, not in session_free: that also runs inside
     * cn_runtime_shutdown, where only cn_actor_unref is allowed. */
    if (s->send_helper)
        cn_actor_stop(s->send_helper);
    cn_actor_stop(s->self);
}

/* chat-admin: a kick ends the session now; a drain lets in-flight SENDs get their
 * answers first (sess_drain_check), so a RECEIPT is never lost to a rolling restart. */
static void on_kick(struct ws_session *s, const struct cn_session_kick *k)
{
    if (s->state != ST_OPEN)
        return;
    if (k->reconnect_after_ms < 0) {
        char msg[320];
        snprintf(msg, sizeof msg, "closed by the operator%s%s", k->reason[0] ? ": " : "",
                 k->reason);
        sess_fail(s, NULL, CN_WS_CLOSE_KICKED, msg);
        return;
    }
    s->draining = true;
    s->drain_after_ms = k->reconnect_after_ms;
    sess_drain_check(s);
}

void sess_drain_check(struct ws_session *s)
{
    if (!s->draining || s->state != ST_OPEN || s->sends_inflight || s->pending || s->dq_head)
        return;
    char after[24];
    snprintf(after, sizeof after, "%" PRId64, s->drain_after_ms);
    struct sess_hdr h[] = {{"message", "node is draining; reconnect to another node"},
                           {"x-reconnect-after-ms", after}};
    sess_send_frame(s, CN_STOMP_ERROR, h, 2, NULL, 0, true, CN_WS_CLOSE_DRAIN);
    begin_close(s, CN_WS_CLOSE_DRAIN);
}

static void defer_frame(struct ws_session *s, struct cn_ws_in_frame *m)
{
    struct ws_deferred *d = cn_xmalloc(sizeof *d);
    d->next = NULL;
    d->m = m;
    if (s->dq_tail)
        s->dq_tail->next = d;
    else
        s->dq_head = d;
    s->dq_tail = d;
    s->dq_len++;
}

/* Runs held-back frames until one waits for the database again. */
static void drain_deferred(struct ws_session *s)
{
    while (s->dq_head && !s->pending && s->state == ST_OPEN) {
        struct ws_deferred *d = s->dq_head;
        s->dq_head = d->next;
        if (!s->dq_head)
            s->dq_tail = NULL;
        s->dq_len--;
        struct cn_ws_in_frame *m = d->m;
        free(d);
        sess_open_frame(s, m);
    }
}

static void on_frame(struct ws_session *s, struct cn_ws_in_frame *m)
{
    const struct cn_stomp_frame *f = m->frame;
    count(&s->deps->counters->frames_in[f->command], 1);
    switch (s->state) {
    case ST_CLOSING:
        break;
    case ST_AWAIT_CONNECT:
        if (f->command == CN_STOMP_CONNECT || f->command == CN_STOMP_STOMP)
            on_connect(s, f);
        else
            sess_fail(s, f, CN_WS_CLOSE_PROTOCOL, "expected CONNECT or STOMP first");
        break;
    case ST_OPEN:
        if (s->draining)
            break; /* told to reconnect elsewhere: what it sends now is sent again there */
        if (s->pending || s->dq_head) {
            if (s->dq_len >= SESS_MAX_DEFERRED) {
                sess_fail(s, f, CN_WS_CLOSE_PROTOCOL,
                          "too many frames waiting for an earlier SUBSCRIBE");
                break;
            }
            defer_frame(s, m);
            return;
        }
        sess_open_frame(s, m);
        return;
    }
    cn_msg_free(&m->hdr);
}

static void behaviour(cn_actor *self, void *state, cn_msg *m)
{
    struct ws_session *s = state;
    (void)self;
    switch (m->type) {
    case CN_WS_IN_FRAME:
        on_frame(s, (struct cn_ws_in_frame *)m);
        return;
    case CN_WS_IN_PARSE_ERROR:
        sess_fail(s, NULL, CN_WS_CLOSE_PROTOCOL,
                  cn_stomp_strerror(((struct cn_ws_in_error *)m)->code));
        break;
    case CN_WS_IN_CLOSED:
        on_closed(s, (struct cn_ws_in_closed *)m);
        break;
    case SESS_TIMER_CONNECT:
        s->t_connect = 0;
        if (s->state == ST_AWAIT_CONNECT) {
            char msg[96];
            snprintf(msg, sizeof msg, "no CONNECT frame within %u ms",
                     s->deps->cfg.connect_timeout_ms);
            sess_fail(s, NULL, CN_WS_CLOSE_CONNECT_TIMEOUT, msg);
        }
        break;
    case SESS_TIMER_HB_IN:
        on_hb_in(s);
        break;
    case SESS_TIMER_HB_OUT:
        on_hb_out(s);
        break;
    case SESS_TIMER_EXPIRY:
        on_expiry(s);
        break;
    case SESS_TYPING_REPLY:
        sess_typing_reply(s, (struct cn_redis_reply *)m);
        return;
    case SESS_PG:
        sess_pg_reply(s, (struct cn_pg_reply *)m);
        drain_deferred(s);
        sess_drain_check(s);
        return;
    case CN_SESSION_JOINED:
    case SESS_TIMER_JOIN:
        if (m->type == SESS_TIMER_JOIN) {
            s->t_join = 0;
            sess_join_done(s, s->join_key, true);
        } else {
            sess_join_done(s, cn_session_joined_key(m), false);
        }
        drain_deferred(s);
        sess_drain_check(s);
        break;
    case CN_SESSION_DELIVER:
        sess_deliver(s, m);
        return;
    case CN_SESSION_SEND_DONE:
        sess_send_done(s, (struct cn_session_send_done *)m);
        sess_drain_check(s);
        return;
    case CN_SESSION_KICK:
        on_kick(s, (const struct cn_session_kick *)m);
        break;
    default:
        break;
    }
    cn_msg_free(m);
}

static void session_free(void *state)
{
    struct ws_session *s = state;
    sess_drop_subs(s);
    if (s->pending)
        cn_msg_free(&s->pending->hdr);
    while (s->dq_head) {
        struct ws_deferred *d = s->dq_head;
        s->dq_head = d->next;
        cn_msg_free(&d->m->hdr);
        free(d);
    }
    /* Runtime shutdown finalises live actors without a CLOSED: keep the gauge true. */
    if (s->counted_open)
        count(&s->deps->counters->sessions_open, -1);
    if (s->user_slot)
        cn_user_sessions_release(s->deps->user_sessions, s->user_id);
    if (s->send_helper)
        cn_actor_unref(s->send_helper);
    cn_ws_rx_unref(s->peer.rx);
    free(s);
}

cn_actor *cn_ws_session_open(void *deps, const struct cn_ws_peer *peer)
{
    const struct cn_ws_session_deps *d = deps;
    struct ws_session *s = cn_xcalloc(1, sizeof *s);
    s->deps = d;
    s->peer = *peer;
    s->state = ST_AWAIT_CONNECT;
    snprintf(s->id, sizeof s->id, "%" PRIx64, peer->conn_id);
    cn_actor *a = cn_actor_spawn(d->rt, behaviour, s, session_free);
    s->self = a;
    /* Armed before any frame can arrive: the transport sends only after we return. */
    arm(s, &s->t_connect, SESS_TIMER_CONNECT, d->cfg.connect_timeout_ms);
    return a;
}
