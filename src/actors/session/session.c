/* The session actor's behaviour: its life from the upgrade to CLOSED, the dispatch
 * of every message it receives, the frames it holds back while a SUBSCRIBE waits,
 * chat-admin's kick and drain, and the end; see session.h. The work itself is in
 * the files below it (session_state.h lists them). */
#include "actors/session/session.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "actors/session/session_auth.h"
#include "actors/session/session_frames.h"
#include "actors/session/session_output.h"
#include "actors/session/session_state.h"
#include "actors/session/session_subs.h"
#include "actors/session/session_timers.h"
#include "actors/session/session_typing.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "io/ws_counters.h"

static void count(atomic_uint_fast64_t *c, int64_t d)
{
    atomic_fetch_add_explicit(c, (uint_fast64_t)d, memory_order_relaxed); /* relaxed: a count */
}

static void on_closed(struct cn__session *s, const struct cn_ws_in_closed *m)
{
    struct cn_ws_counters *c = s->deps->counters;
    /* The session's own reason wins: it knows why it asked for the close. The
     * transport's wins for what only it sees (peer, slow consumer, shutdown). */
    int reason = s->state == CN__SESSION_CLOSING && m->reason == CN_WS_CLOSE_PEER ? s->close_reason
                                                                                  : m->reason;
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
    if (s->opened_ms)
        CN_INFO("session", "closed after %.1f s: %s", (double)(cn_now_ms() - s->opened_ms) / 1e3,
                cn_ws_close_reason_name(reason));
    else if (reason == CN_WS_CLOSE_AUTH || reason == CN_WS_CLOSE_USER_LIMIT)
        CN_INFO("session", "refused at CONNECT: %s", cn_ws_close_reason_name(reason));
    else
        CN_DEBUG("session", "closed before CONNECT completed: %s", cn_ws_close_reason_name(reason));
    cn__session_end(s, reason);
    cn__session_subs_drop(s);
    cn_session_dir_closed(s->deps->directory, s->self);
    /* Stopped here, on a worker, not in session_free: that also runs inside
     * cn_runtime_shutdown, where only cn_actor_unref is allowed. */
    if (s->send_helper)
        cn_actor_stop(s->send_helper);
    cn_actor_stop(s->self);
}

/* Drain: once nothing is in flight, ERROR with the reconnect hint, then close. */
static void drain_check(struct cn__session *s)
{
    if (!s->draining || s->state != CN__SESSION_OPEN || s->sends_inflight || s->pending ||
        s->dq_head)
        return;
    char after[24];
    snprintf(after, sizeof after, "%" PRId64, s->drain_after_ms);
    struct cn__session_hdr h[] = {{"message", "node is draining; reconnect to another node"},
                                  {"x-reconnect-after-ms", after}};
    cn__session_write(s, CN_STOMP_ERROR, h, 2, NULL, 0, true, CN_WS_CLOSE_DRAIN);
    cn__session_end(s, CN_WS_CLOSE_DRAIN);
}

/* chat-admin: a kick ends the session now; a drain lets in-flight SENDs get their
 * answers first (drain_check), so a RECEIPT is never lost to a rolling restart. */
static void on_kick(struct cn__session *s, const struct cn_session_kick *k)
{
    if (s->state != CN__SESSION_OPEN)
        return;
    if (k->reconnect_after_ms < 0) {
        char msg[320];
        snprintf(msg, sizeof msg, "closed by the operator%s%s", k->reason[0] ? ": " : "",
                 k->reason);
        cn__session_fail(s, NULL, CN_WS_CLOSE_KICKED, msg);
        return;
    }
    s->draining = true;
    s->drain_after_ms = k->reconnect_after_ms;
    drain_check(s);
}

static void defer_frame(struct cn__session *s, struct cn_ws_in_frame *m)
{
    struct cn__session_deferred *d = cn_xmalloc(sizeof *d);
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
static void drain_deferred(struct cn__session *s)
{
    while (s->dq_head && !s->pending && s->state == CN__SESSION_OPEN) {
        struct cn__session_deferred *d = s->dq_head;
        s->dq_head = d->next;
        if (!s->dq_head)
            s->dq_tail = NULL;
        s->dq_len--;
        struct cn_ws_in_frame *m = d->m;
        free(d);
        cn__session_open_frame(s, m);
    }
}

static void on_frame(struct cn__session *s, struct cn_ws_in_frame *m)
{
    const struct cn_stomp_frame *f = m->frame;
    count(&s->deps->counters->frames_in[f->command], 1);
    switch (s->state) {
    case CN__SESSION_CLOSING:
        break;
    case CN__SESSION_AWAIT_CONNECT:
        if (s->connect_pending) {
            /* The CONNECT waits for its user's lookup: what follows it waits too, and
             * runs once the session is open (drain_deferred). */
            if (s->dq_len >= CN__SESSION_MAX_DEFERRED) {
                cn__session_fail(s, f, CN_WS_CLOSE_FLOOD,
                                 "too many frames waiting for CONNECT to complete");
                break;
            }
            defer_frame(s, m);
            return;
        }
        if (f->command == CN_STOMP_CONNECT || f->command == CN_STOMP_STOMP)
            cn__session_connect(s, f);
        else
            cn__session_fail(s, f, CN_WS_CLOSE_PROTOCOL, "expected CONNECT or STOMP first");
        break;
    case CN__SESSION_OPEN:
        if (s->draining)
            break; /* told to reconnect elsewhere: what it sends now is sent again there */
        if (s->pending || s->dq_head) {
            if (s->dq_len >= CN__SESSION_MAX_DEFERRED) {
                cn__session_fail(s, f, CN_WS_CLOSE_FLOOD,
                                 "too many frames waiting for an earlier SUBSCRIBE");
                break;
            }
            defer_frame(s, m);
            return;
        }
        cn__session_open_frame(s, m); /* takes m */
        return;
    }
    cn_msg_free(&m->hdr);
}

static void turn(struct cn__session *s, cn_msg *m)
{
    switch (m->type) {
    case CN_WS_IN_FRAME:
        on_frame(s, (struct cn_ws_in_frame *)m);
        return;
    case CN_WS_IN_PARSE_ERROR: {
        int code = ((struct cn_ws_in_error *)m)->code;
        /* Size limits are 1009 (message too big) on the wire, the rest 1002. */
        bool big = code == CN_STOMP_E_FRAME_TOO_LARGE || code == CN_STOMP_E_LINE_TOO_LONG ||
                   code == CN_STOMP_E_TOO_MANY_HEADERS;
        cn__session_fail(s, NULL, big ? CN_WS_CLOSE_TOO_LARGE : CN_WS_CLOSE_PROTOCOL,
                         cn_stomp_strerror(code));
        break;
    }
    case CN_WS_IN_CLOSED:
        on_closed(s, (struct cn_ws_in_closed *)m);
        break;
    case CN__SESSION_TIMER_CONNECT:
        cn__session_on_connect_timeout(s);
        break;
    case CN__SESSION_TIMER_HB_IN:
        cn__session_on_hb_in(s);
        break;
    case CN__SESSION_TIMER_HB_OUT:
        cn__session_on_hb_out(s);
        break;
    case CN__SESSION_TIMER_EXPIRY:
        cn__session_on_expiry(s);
        break;
    case CN__SESSION_TYPING_REPLY:
        cn__session_typing_reply(s, (struct cn_redis_reply *)m);
        return;
    case CN__SESSION_PG:
        if (s->connect_pending)
            cn__session_connect_user(s, (struct cn_pg_reply *)m);
        else
            cn__session_pg_reply(s, (struct cn_pg_reply *)m);
        drain_deferred(s);
        drain_check(s);
        return;
    case CN_SESSION_JOINED:
        cn__session_join_done(s, ((const struct cn_session_joined_msg *)m)->sub_key, false);
        drain_deferred(s);
        drain_check(s);
        break;
    case CN__SESSION_TIMER_JOIN:
        s->t_join = 0;
        cn__session_join_done(s, s->join_key, true);
        drain_deferred(s);
        drain_check(s);
        break;
    case CN_SESSION_DELIVER:
        cn__session_deliver(s, m);
        return;
    case CN_SESSION_SEND_DONE:
        cn__session_send_done(s, (struct cn_session_send_done *)m);
        drain_check(s);
        return;
    case CN_SESSION_KICK:
        on_kick(s, (const struct cn_session_kick *)m);
        break;
    case CN_SESSION_REVOKE:
        cn__session_revoke(s, (const struct cn_session_revoke *)m);
        break;
    case CN_SESSION_USER_EVENT:
        cn__session_user_event(s, (const struct cn_session_user_event *)m);
        break;
    default:
        break;
    }
    cn_msg_free(m);
}

static void behaviour(cn_actor *self, void *state, cn_msg *m)
{
    struct cn__session *s = state;
    (void)self;
    cn__session_log_ctx(s);
    turn(s, m);
    cn_log_ctx_clear();
}

static void session_free(void *state)
{
    struct cn__session *s = state;
    cn__session_subs_drop(s);
    if (s->pending)
        cn_msg_free(&s->pending->hdr);
    while (s->dq_head) {
        struct cn__session_deferred *d = s->dq_head;
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

cn_actor *cn_session_open(void *deps, const struct cn_ws_peer *peer)
{
    const struct cn_session_deps *d = deps;
    struct cn__session *s = cn_xcalloc(1, sizeof *s);
    s->deps = d;
    s->peer = *peer;
    s->state = CN__SESSION_AWAIT_CONNECT;
    snprintf(s->id, sizeof s->id, "%" PRIx64, peer->conn_id);
    cn_actor *a = cn_actor_spawn(d->rt, behaviour, s, session_free);
    s->self = a;
    /* Armed before any frame can arrive: the transport sends only after we return. */
    cn__session_arm(s, &s->t_connect, CN__SESSION_TIMER_CONNECT, d->cfg.connect_timeout_ms);
    return a;
}
