/* The frames of an open STOMP session: SUBSCRIBE (membership through one
 * room_membership statement), UNSUBSCRIBE, SEND, ACK/NACK, DISCONNECT, and the
 * seams' messages (fan-out deliveries, producer answers); see ws_session.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "actors/sql/queries.h"
#include "actors/session/session_internal.h"
#include "proto/stomp_escape.h"

#define ROOM_PREFIX   "/topic/room."
#define ERRORS_QUEUE  "/user/queue/errors"
#define SEND_CHAT     "/app/chat.send"
#define SEND_READ     "/app/chat.read"
#define SEND_REFRESH  "/app/auth.refresh"
#define SEND_TYPING   "/app/chat.typing"
#define RESUME_HEADER "x-resume-after"

static struct ws_sub *find_sub(struct ws_session *s, const char *id)
{
    for (struct ws_sub *x = s->subs; x; x = x->next)
        if (strcmp(x->id, id) == 0)
            return x;
    return NULL;
}

/* Returns the new subscription's key. */
static uint64_t add_sub(struct ws_session *s, const char *id, int64_t room_id, int64_t resume_after)
{
    struct ws_sub *x = cn_xcalloc(1, sizeof *x);
    size_t n = strlen(id);
    x->id = cn_xstrdup(id);
    x->id_esc = cn_xmalloc(cn_stomp_escaped_len(id, n) + 1);
    x->id_esc_len = cn_stomp_escape(x->id_esc, id, n);
    x->id_esc[x->id_esc_len] = '\0';
    x->key = ++s->next_key;
    x->room_id = room_id;
    x->next = s->subs;
    s->subs = x;
    s->nsubs++;
    if (room_id && s->deps->rooms && s->deps->rooms->subscribed)
        s->deps->rooms->subscribed(s->deps->rooms->ctx, room_id, s->self, x->key, resume_after);
    return x->key;
}

static void free_sub(struct ws_session *s, struct ws_sub *x)
{
    if (x->room_id && !x->revoked && s->deps->rooms && s->deps->rooms->unsubscribed)
        s->deps->rooms->unsubscribed(s->deps->rooms->ctx, x->room_id, s->self, x->key);
    free(x->id);
    free(x->id_esc);
    free(x);
}

void sess_drop_subs(struct ws_session *s)
{
    while (s->subs) {
        struct ws_sub *x = s->subs;
        s->subs = x->next;
        free_sub(s, x);
    }
    s->nsubs = 0;
}

/* "/topic/room.<digits>" with a positive id that fits int64; 0 otherwise. */
static int64_t room_of(const char *dest)
{
    size_t plen = sizeof ROOM_PREFIX - 1;
    if (strncmp(dest, ROOM_PREFIX, plen) != 0)
        return 0;
    const char *p = dest + plen;
    if (!*p || strlen(p) > 18)
        return 0;
    int64_t v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        v = v * 10 + (*p - '0');
    }
    return v;
}

/* The x-resume-after header of f: -1 when absent, the position when it is a
 * decimal non-negative integer of at most 18 digits, -2 otherwise. */
static int64_t resume_of(const struct cn_stomp_frame *f)
{
    const char *p = cn_stomp_frame_get(f, RESUME_HEADER, NULL);
    if (!p)
        return -1;
    if (!*p || strlen(p) > 18)
        return -2;
    int64_t v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -2;
        v = v * 10 + (*p - '0');
    }
    return v;
}

static void on_subscribe(struct ws_session *s, struct cn_ws_in_frame *m)
{
    const struct cn_stomp_frame *f = m->frame;
    const char *id = cn_stomp_frame_get(f, "id", NULL);
    const char *dest = cn_stomp_frame_get(f, "destination", NULL);
    const char *ack = cn_stomp_frame_get(f, "ack", NULL);
    const char *receipt = cn_stomp_frame_get(f, "receipt", NULL);
    if (!id || !dest || !*id) {
        sess_fail(s, f, CN_WS_CLOSE_PROTOCOL, "SUBSCRIBE needs id and destination headers");
    } else if (ack && strcmp(ack, "auto") && strcmp(ack, "client") &&
               strcmp(ack, "client-individual")) {
        sess_fail(s, f, CN_WS_CLOSE_PROTOCOL, "ack must be auto, client or client-individual");
    } else if (find_sub(s, id)) {
        sess_fail(s, f, CN_WS_CLOSE_PROTOCOL, "duplicate subscription id");
    } else if (resume_of(f) == -2) {
        sess_fail(s, f, CN_WS_CLOSE_PROTOCOL,
                  "x-resume-after must be a non-negative integer (a message position)");
    } else if (s->nsubs >= s->deps->cfg.max_subscriptions) {
        sess_app_error(s, receipt, "TOO_MANY_SUBSCRIPTIONS",
                       "too many subscriptions on this connection");
    } else if (strcmp(dest, ERRORS_QUEUE) == 0) {
        add_sub(s, id, 0, -1);
        sess_receipt(s, f);
    } else {
        int64_t room = room_of(dest);
        if (!room) {
            sess_app_error(s, receipt, "UNKNOWN_DESTINATION", "unknown destination");
        } else {
            char uid[24], rid[24];
            snprintf(uid, sizeof uid, "%" PRId64, s->user_id);
            snprintf(rid, sizeof rid, "%" PRId64, room);
            const char *params[] = {uid, rid};
            int rc = cn_pg_pool_query(s->deps->pg, s->self, SESS_PG, (uint64_t)room,
                                      cn_sql(CN_SQL_ROOM_MEMBERSHIP), 2, params);
            if (rc == 0) {
                s->pending = m; /* answered in sess_pg_reply, in order */
                return;
            }
            sess_app_error(s, receipt, "UNAVAILABLE", "the database is busy; retry shortly");
        }
    }
    cn_msg_free(&m->hdr);
}

void sess_pg_reply(struct ws_session *s, struct cn_pg_reply *r)
{
    struct cn_ws_in_frame *m = s->pending;
    s->pending = NULL;
    if (!m || s->state != ST_OPEN) {
        cn_msg_free(&r->hdr);
        if (m)
            cn_msg_free(&m->hdr);
        return;
    }
    const struct cn_stomp_frame *f = m->frame;
    const char *receipt = cn_stomp_frame_get(f, "receipt", NULL);
    if (!r->ok || cn_pg_rows_count(r->rows) != 1) {
        CN_WARN("ws", "session %s: room_membership failed (%s): %s", s->id,
                r->sqlstate[0] ? r->sqlstate : "-", r->error);
        sess_app_error(s, receipt, "UNAVAILABLE", "the database is unavailable; retry shortly");
    } else if (!cn_pg_rows_bool(r->rows, 0, "is_member")) {
        /* An unknown room answers the same: no probing which rooms exist. */
        sess_app_error(s, receipt, "NOT_MEMBER", "not a member of this room");
    } else if (find_sub(s, cn_stomp_frame_get(f, "id", NULL))) {
        /* Defensive: frames behind this one waited, so the id cannot have been taken. */
        sess_fail(s, f, CN_WS_CLOSE_PROTOCOL, "duplicate subscription id");
    } else {
        uint64_t key = add_sub(s, cn_stomp_frame_get(f, "id", NULL), (int64_t)r->tag, resume_of(f));
        cn_msg_free(&r->hdr);
        if (s->deps->rooms && s->deps->rooms->subscribed) {
            s->pending = m; /* the RECEIPT once the room is live: sess_join_done */
            sess_await_join(s, key);
            return;
        }
        sess_receipt(s, f);
        cn_msg_free(&m->hdr);
        return;
    }
    cn_msg_free(&r->hdr);
    cn_msg_free(&m->hdr);
}

struct joined_msg {
    cn_msg hdr;
    uint64_t key;
};

int cn_session_joined(cn_actor *session, uint64_t sub_key)
{
    struct joined_msg *j = cn_xmalloc(sizeof *j);
    cn_msg_init(&j->hdr, CN_SESSION_JOINED, NULL);
    j->key = sub_key;
    return cn_actor_send(session, &j->hdr);
}

uint64_t cn_session_joined_key(const cn_msg *m)
{
    return ((const struct joined_msg *)m)->key;
}

void sess_join_done(struct ws_session *s, uint64_t key, bool timed_out)
{
    if (!s->join_key || key != s->join_key)
        return; /* a join of a subscription that did not wait (or waited out) */
    struct cn_ws_in_frame *m = s->pending;
    s->pending = NULL;
    s->join_key = 0;
    if (s->t_join && !timed_out) {
        cn_timer_cancel(s->deps->rt, s->t_join);
        s->t_join = 0;
    }
    if (timed_out) {
        CN_WARN("ws",
                "session %s: room channel not confirmed by Redis within %d ms; "
                "RECEIPT sent, live delivery starts when Redis is back",
                s->id, CN_SESSION_JOIN_WAIT_MS);
        atomic_fetch_add_explicit(&s->deps->counters->join_timeouts, 1, memory_order_relaxed);
    }
    if (m && s->state == ST_OPEN)
        sess_receipt(s, m->frame);
    if (m)
        cn_msg_free(&m->hdr);
}

static void on_unsubscribe(struct ws_session *s, const struct cn_stomp_frame *f)
{
    const char *id = cn_stomp_frame_get(f, "id", NULL);
    if (!id) {
        sess_fail(s, f, CN_WS_CLOSE_PROTOCOL, "UNSUBSCRIBE needs an id header");
        return;
    }
    for (struct ws_sub **pp = &s->subs; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->id, id) == 0) {
            struct ws_sub *x = *pp;
            *pp = x->next;
            s->nsubs--;
            free_sub(s, x);
            sess_receipt(s, f);
            return;
        }
    }
    sess_fail(s, f, CN_WS_CLOSE_PROTOCOL, "no subscription with this id");
}

static void on_send(struct ws_session *s, const struct cn_stomp_frame *f)
{
    const char *dest = cn_stomp_frame_get(f, "destination", NULL);
    const char *receipt = cn_stomp_frame_get(f, "receipt", NULL);
    if (!dest) {
        sess_fail(s, f, CN_WS_CLOSE_PROTOCOL, "SEND needs a destination header");
        return;
    }
    if (strcmp(dest, SEND_CHAT) == 0) {
        struct cn_send_request req;
        struct cn_json_error err;
        if (cn_json_decode_send(f->body, f->body_len, &req, &err) != 0) {
            char msg[160];
            cn_json_error_format(&err, msg, sizeof msg);
            sess_app_error(s, receipt, "INVALID_BODY", msg);
            cn_send_request_clear(&req);
            return;
        }
        int rc = -ENOSYS;
        if (s->deps->send_sink) {
            struct cn_session_send send = {.session = s->self,
                                           .user_id = s->user_id,
                                           .session_id = s->id,
                                           .req = &req,
                                           .receipt = receipt,
                                           .helper = &s->send_helper};
            rc = s->deps->send_sink(s->deps->send_ctx, &send);
            if (rc == 0)
                s->sends_inflight++; /* a drain waits for its answer */
        }
        cn_send_request_clear(&req);
        /* Until the Kafka producer is wired there is no sink: say so honestly
         * rather than pretend the message was accepted. */
        if (rc != 0)
            sess_app_error(s, receipt, "UNAVAILABLE",
                           rc == -ENOSYS ? "sending is not available on this node yet"
                                         : "sending is unavailable; retry shortly");
        return;
    }
    if (strcmp(dest, SEND_READ) == 0) {
        int64_t room = 0, msg = 0;
        struct cn_json_error err;
        if (cn_json_decode_read_receipt(f->body, f->body_len, &room, &msg, &err) != 0) {
            char text[160];
            cn_json_error_format(&err, text, sizeof text);
            sess_app_error(s, receipt, "INVALID_BODY", text);
            return;
        }
        int rc = -ENOSYS;
        if (s->deps->send_sink) {
            struct cn_session_send send = {.session = s->self,
                                           .user_id = s->user_id,
                                           .session_id = s->id,
                                           .req = NULL,
                                           .read_room_id = room,
                                           .read_message_id = msg,
                                           .receipt = receipt,
                                           .helper = &s->send_helper};
            rc = s->deps->send_sink(s->deps->send_ctx, &send);
            if (rc == 0)
                s->sends_inflight++; /* a drain waits for its answer */
        }
        if (rc != 0)
            sess_app_error(s, receipt, "UNAVAILABLE",
                           "read receipts are unavailable; retry shortly");
        return;
    }
    if (strcmp(dest, SEND_REFRESH) == 0) {
        sess_refresh(s, f);
        return;
    }
    if (strcmp(dest, SEND_TYPING) == 0) {
        if (s->deps->redis)
            sess_typing(s, f);
        else
            sess_app_error(s, receipt, "UNAVAILABLE", "typing is not available on this node");
        return;
    }
    sess_app_error(s, receipt, "UNKNOWN_DESTINATION", "unknown destination");
}

void sess_open_frame(struct ws_session *s, struct cn_ws_in_frame *m)
{
    const struct cn_stomp_frame *f = m->frame;
    switch (f->command) {
    case CN_STOMP_SUBSCRIBE:
        on_subscribe(s, m); /* takes m */
        return;
    case CN_STOMP_UNSUBSCRIBE:
        on_unsubscribe(s, f);
        break;
    case CN_STOMP_SEND:
        on_send(s, f);
        break;
    case CN_STOMP_ACK:
    case CN_STOMP_NACK:
        /* Every subscription delivers as auto for now (no fan-out yet), so there
         * is nothing to acknowledge; the frame is still checked and receipted. */
        if (!cn_stomp_frame_get(f, "id", NULL))
            sess_fail(s, f, CN_WS_CLOSE_PROTOCOL, "ACK and NACK need an id header");
        else
            sess_receipt(s, f);
        break;
    case CN_STOMP_BEGIN:
    case CN_STOMP_COMMIT:
    case CN_STOMP_ABORT:
        sess_fail(s, f, CN_WS_CLOSE_PROTOCOL, "transactions are not supported");
        break;
    case CN_STOMP_DISCONNECT: {
        const char *r = cn_stomp_frame_get(f, "receipt", NULL);
        struct sess_hdr h[] = {{"receipt-id", r}};
        if (r) {
            sess_send_frame(s, CN_STOMP_RECEIPT, h, 1, NULL, 0, true, CN_WS_CLOSE_DISCONNECT);
        } else {
            struct cn_ws_out *o = cn_ws_out_new(s->peer.conn_id, 0);
            o->close_after = true;
            o->close_reason = CN_WS_CLOSE_DISCONNECT;
            cn_ws_out_push(&s->peer, o);
        }
        s->state = ST_CLOSING;
        s->close_reason = CN_WS_CLOSE_DISCONNECT;
        break;
    }
    case CN_STOMP_CONNECT:
    case CN_STOMP_STOMP:
        sess_fail(s, f, CN_WS_CLOSE_PROTOCOL, "already connected");
        break;
    default:
        sess_fail(s, f, CN_WS_CLOSE_PROTOCOL, "not a client frame");
        break;
    }
    cn_msg_free(&m->hdr);
}

struct deliver_msg {
    cn_msg hdr;
    uint64_t sub_key;
    struct cn_ws_shared_msg *shared;
};

static void deliver_free(cn_msg *m)
{
    cn_ws_shared_msg_unref(((struct deliver_msg *)m)->shared);
    free(m);
}

int cn_session_deliver(cn_actor *session, uint64_t sub_key, struct cn_ws_shared_msg *shared)
{
    struct deliver_msg *d = cn_xmalloc(sizeof *d);
    cn_msg_init(&d->hdr, CN_SESSION_DELIVER, deliver_free);
    d->sub_key = sub_key;
    d->shared = shared;
    return cn_actor_send(session, &d->hdr);
}

/* The user left x's room: the subscription ends here (the room stops delivering
 * to it) but its id stays known, so the client's UNSUBSCRIBE is still answered. */
static void revoke_sub(struct ws_session *s, struct ws_sub *x)
{
    if (s->deps->rooms && s->deps->rooms->unsubscribed)
        s->deps->rooms->unsubscribed(s->deps->rooms->ctx, x->room_id, s->self, x->key);
    if (s->send_helper && s->deps->send_forget_room)
        s->deps->send_forget_room(s->send_helper, x->room_id);
    x->revoked = true;
}

void sess_deliver(struct ws_session *s, cn_msg *m)
{
    struct deliver_msg *d = (struct deliver_msg *)m;
    struct ws_sub *x = NULL;
    if (s->state == ST_OPEN)
        for (x = s->subs; x && x->key != d->sub_key; x = x->next)
            ;
    if (x && x->revoked)
        x = NULL;
    if (x && d->shared->expires_ms && cn_now_ms() > d->shared->expires_ms) {
        /* A typing event that waited past its expiry says nothing true any more. */
        atomic_fetch_add_explicit(&s->deps->counters->typing_dropped, 1, memory_order_relaxed);
        x = NULL;
    }
    if (x) {
        size_t n = cn_stomp_message_size(x->id_esc_len, 0, d->shared->len);
        struct cn_ws_out *o = cn_ws_out_new(s->peer.conn_id, n);
        long len = cn_stomp_message_render((char *)o->data, CN_WS_PRE + n, CN_WS_PRE, x->id_esc,
                                           x->id_esc_len, NULL, 0, d->shared->data, d->shared->len);
        o->len = (size_t)len; /* sized by cn_stomp_message_size: cannot fail */
        o->droppable = d->shared->expires_ms != 0;
        atomic_fetch_add_explicit(&s->deps->counters->frames_out[CN_STOMP_MESSAGE], 1,
                                  memory_order_relaxed);
        s->out_since_tick = true;
        cn_ws_out_push(&s->peer, o);
        if (d->shared->revoke_user && d->shared->revoke_user == s->user_id)
            revoke_sub(s, x);
    }
    cn_msg_free(m);
}

void sess_send_done(struct ws_session *s, struct cn_session_send_done *m)
{
    if (s->sends_inflight)
        s->sends_inflight--;
    if (s->state == ST_OPEN) {
        if (m->code && m->close) {
            sess_fail_receipt(s, m->receipt[0] ? m->receipt : NULL, CN_WS_CLOSE_PROTOCOL,
                              m->message);
        } else if (m->code) {
            sess_app_error(s, m->receipt[0] ? m->receipt : NULL, m->code, m->message);
        } else if (m->receipt[0]) {
            struct sess_hdr h[] = {{"receipt-id", m->receipt}};
            sess_send_frame(s, CN_STOMP_RECEIPT, h, 1, NULL, 0, false, 0);
        }
    }
    cn_msg_free(&m->hdr);
}

struct cn_ws_shared_msg *cn_ws_shared_msg_new(const struct cn_stomp_message_fields *f)
{
    size_t len;
    char *tail = cn_stomp_message_shared_new(f, &len);
    struct cn_ws_shared_msg *m = cn_xmalloc(sizeof *m + len);
    atomic_init(&m->refs, 1);
    m->expires_ms = 0;
    m->revoke_user = 0;
    m->len = len;
    memcpy(m->data, tail, len);
    free(tail);
    return m;
}

void cn_ws_shared_msg_ref(struct cn_ws_shared_msg *m)
{
    if (m)
        atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

void cn_ws_shared_msg_unref(struct cn_ws_shared_msg *m)
{
    /* acq_rel: the last dropper sees every other holder's reads done. */
    if (m && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
        free(m);
}
