/* The frames of an open STOMP session and the answers they wait for; see
 * session_frames.h. */
#include "actors/session/session_frames.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/session/session_auth.h"
#include "actors/session/session_output.h"
#include "actors/session/session_subs.h"
#include "actors/session/session_timers.h"
#include "actors/session/session_typing.h"
#include "actors/sql/queries.h"
#include "base/log.h"

#define ROOM_PREFIX   "/topic/room."
#define SEND_CHAT     "/app/chat.send"
#define SEND_READ     "/app/chat.read"
#define SEND_REFRESH  "/app/auth.refresh"
#define SEND_TYPING   "/app/chat.typing"
#define RESUME_HEADER "x-resume-after"

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

static void on_subscribe(struct cn__session *s, struct cn_ws_in_frame *m)
{
    const struct cn_stomp_frame *f = m->frame;
    const char *id = cn_stomp_frame_get(f, "id", NULL);
    const char *dest = cn_stomp_frame_get(f, "destination", NULL);
    const char *ack = cn_stomp_frame_get(f, "ack", NULL);
    const char *receipt = cn_stomp_frame_get(f, "receipt", NULL);
    if (!id || !dest || !*id) {
        cn__session_fail(s, f, CN_WS_CLOSE_PROTOCOL, "SUBSCRIBE needs id and destination headers");
    } else if (ack && strcmp(ack, "auto") && strcmp(ack, "client") &&
               strcmp(ack, "client-individual")) {
        cn__session_fail(s, f, CN_WS_CLOSE_PROTOCOL,
                         "ack must be auto, client or client-individual");
    } else if (cn__session_sub_find(s, id)) {
        cn__session_fail(s, f, CN_WS_CLOSE_PROTOCOL, "duplicate subscription id");
    } else if (resume_of(f) == -2) {
        cn__session_fail(s, f, CN_WS_CLOSE_PROTOCOL,
                         "x-resume-after must be a non-negative integer (a message position)");
    } else if (s->nsubs >= s->deps->cfg.max_subscriptions) {
        cn__session_app_error(s, receipt, "TOO_MANY_SUBSCRIPTIONS",
                              "too many subscriptions on this connection");
    } else if (strcmp(dest, CN__SESSION_ERRORS_QUEUE) == 0) {
        cn__session_sub_add(s, id, 0, -1);
        cn__session_receipt(s, f);
    } else if (strcmp(dest, CN__SESSION_EVENTS_QUEUE) == 0) {
        /* Like the errors queue: the user's own, no membership to check. Each such
         * subscription of the connection gets every event. */
        cn__session_sub_add(s, id, 0, -1);
        cn__session_sub_find(s, id)->events = true;
        cn__session_receipt(s, f);
    } else {
        int64_t room = room_of(dest);
        if (!room) {
            cn__session_app_error(s, receipt, "UNKNOWN_DESTINATION", "unknown destination");
        } else {
            char uid[24], rid[24];
            snprintf(uid, sizeof uid, "%" PRId64, s->user_id);
            snprintf(rid, sizeof rid, "%" PRId64, room);
            const char *params[] = {uid, rid};
            int rc = cn_pg_pool_query(s->deps->pg, s->self, CN__SESSION_PG, (uint64_t)room,
                                      cn_sql(CN_SQL_ROOM_MEMBERSHIP), 2, params);
            if (rc == 0) {
                s->pending = m; /* answered in cn__session_pg_reply, in order */
                s->pending_room = room;
                s->pending_revoked = false;
                return;
            }
            cn__session_app_error(s, receipt, "UNAVAILABLE", "the database is busy; retry shortly");
        }
    }
    cn_msg_free(&m->hdr);
}

void cn__session_pg_reply(struct cn__session *s, struct cn_pg_reply *r)
{
    struct cn_ws_in_frame *m = s->pending;
    bool revoked = s->pending_revoked;
    s->pending = NULL;
    s->pending_room = 0;
    s->pending_revoked = false;
    if (!m || s->state != CN__SESSION_OPEN) {
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
        cn__session_app_error(s, receipt, "UNAVAILABLE",
                              "the database is unavailable; retry shortly");
    } else if (revoked || !cn_pg_rows_bool(r->rows, 0, "is_member")) {
        /* An unknown room answers the same: no probing which rooms exist. A membership
         * revoked while the query was out is refused whatever it answered: the answer
         * may have been read before the membership ended. */
        cn__session_app_error(s, receipt, "NOT_MEMBER", "not a member of this room");
    } else if (cn__session_sub_find(s, cn_stomp_frame_get(f, "id", NULL))) {
        /* Defensive: frames behind this one waited, so the id cannot have been taken. */
        cn__session_fail(s, f, CN_WS_CLOSE_PROTOCOL, "duplicate subscription id");
    } else {
        uint64_t key = cn__session_sub_add(s, cn_stomp_frame_get(f, "id", NULL), (int64_t)r->tag,
                                           resume_of(f));
        cn_msg_free(&r->hdr);
        if (s->deps->rooms && s->deps->rooms->subscribed) {
            /* The RECEIPT once the room is live: cn__session_join_done. */
            s->pending = m;
            s->join_key = key;
            cn__session_arm(s, &s->t_join, CN__SESSION_TIMER_JOIN, CN_SESSION_JOIN_WAIT_MS);
            return;
        }
        cn__session_receipt(s, f);
        cn_msg_free(&m->hdr);
        return;
    }
    cn_msg_free(&r->hdr);
    cn_msg_free(&m->hdr);
}

void cn__session_join_done(struct cn__session *s, uint64_t key, bool timed_out)
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
    if (m && s->state == CN__SESSION_OPEN)
        cn__session_receipt(s, m->frame);
    if (m)
        cn_msg_free(&m->hdr);
}

static void on_unsubscribe(struct cn__session *s, const struct cn_stomp_frame *f)
{
    const char *id = cn_stomp_frame_get(f, "id", NULL);
    if (!id) {
        cn__session_fail(s, f, CN_WS_CLOSE_PROTOCOL, "UNSUBSCRIBE needs an id header");
        return;
    }
    if (cn__session_sub_remove(s, id))
        cn__session_receipt(s, f);
    else
        cn__session_fail(s, f, CN_WS_CLOSE_PROTOCOL, "no subscription with this id");
}

static void on_send(struct cn__session *s, const struct cn_stomp_frame *f)
{
    const char *dest = cn_stomp_frame_get(f, "destination", NULL);
    const char *receipt = cn_stomp_frame_get(f, "receipt", NULL);
    if (!dest) {
        cn__session_fail(s, f, CN_WS_CLOSE_PROTOCOL, "SEND needs a destination header");
        return;
    }
    if (strcmp(dest, SEND_CHAT) == 0) {
        struct cn_send_request req;
        struct cn_json_error err;
        if (cn_json_decode_send(f->body, f->body_len, &req, &err) != 0) {
            char msg[160];
            cn_json_error_format(&err, msg, sizeof msg);
            cn__session_app_error(s, receipt, "INVALID_BODY", msg);
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
            cn__session_app_error(s, receipt, "UNAVAILABLE",
                                  rc == -ENOSYS ? "sending is not available on this node yet"
                                                : "sending is unavailable; retry shortly");
        return;
    }
    if (strcmp(dest, SEND_READ) == 0) {
        int64_t room = 0;
        struct cn_read_target target;
        struct cn_json_error err;
        if (cn_json_decode_read_receipt(f->body, f->body_len, &room, &target, &err) != 0) {
            char text[160];
            cn_json_error_format(&err, text, sizeof text);
            cn__session_app_error(s, receipt, "INVALID_BODY", text);
            return;
        }
        int rc = -ENOSYS;
        if (s->deps->send_sink) {
            struct cn_session_send send = {.session = s->self,
                                           .user_id = s->user_id,
                                           .session_id = s->id,
                                           .req = NULL,
                                           .read_room_id = room,
                                           .read_target = target,
                                           .receipt = receipt,
                                           .helper = &s->send_helper};
            rc = s->deps->send_sink(s->deps->send_ctx, &send);
            if (rc == 0)
                s->sends_inflight++; /* a drain waits for its answer */
        }
        if (rc != 0)
            cn__session_app_error(s, receipt, "UNAVAILABLE",
                                  "read receipts are unavailable; retry shortly");
        return;
    }
    if (strcmp(dest, SEND_REFRESH) == 0) {
        cn__session_refresh(s, f);
        return;
    }
    if (strcmp(dest, SEND_TYPING) == 0) {
        if (s->deps->redis)
            cn__session_typing(s, f);
        else
            cn__session_app_error(s, receipt, "UNAVAILABLE",
                                  "typing is not available on this node");
        return;
    }
    cn__session_app_error(s, receipt, "UNKNOWN_DESTINATION", "unknown destination");
}

void cn__session_open_frame(struct cn__session *s, struct cn_ws_in_frame *m)
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
            cn__session_fail(s, f, CN_WS_CLOSE_PROTOCOL, "ACK and NACK need an id header");
        else
            cn__session_receipt(s, f);
        break;
    case CN_STOMP_BEGIN:
    case CN_STOMP_COMMIT:
    case CN_STOMP_ABORT:
        cn__session_fail(s, f, CN_WS_CLOSE_PROTOCOL, "transactions are not supported");
        break;
    case CN_STOMP_DISCONNECT: {
        const char *r = cn_stomp_frame_get(f, "receipt", NULL);
        struct cn__session_hdr h[] = {{"receipt-id", r}};
        if (r)
            cn__session_write(s, CN_STOMP_RECEIPT, h, 1, NULL, 0, true, CN_WS_CLOSE_DISCONNECT);
        else
            cn__session_write_close(s, CN_WS_CLOSE_DISCONNECT);
        /* Timers stay armed: each finds the session closing and does nothing. */
        s->state = CN__SESSION_CLOSING;
        s->close_reason = CN_WS_CLOSE_DISCONNECT;
        break;
    }
    case CN_STOMP_CONNECT:
    case CN_STOMP_STOMP:
        cn__session_fail(s, f, CN_WS_CLOSE_PROTOCOL, "already connected");
        break;
    default:
        cn__session_fail(s, f, CN_WS_CLOSE_PROTOCOL, "not a client frame");
        break;
    }
    cn_msg_free(&m->hdr);
}

void cn__session_send_done(struct cn__session *s, struct cn_session_send_done *m)
{
    if (s->sends_inflight)
        s->sends_inflight--;
    if (s->state == CN__SESSION_OPEN) {
        if (m->code && m->close) {
            /* Sustained flooding: 1013, come back later. */
            cn__session_fail_receipt(s, m->receipt[0] ? m->receipt : NULL, CN_WS_CLOSE_FLOOD,
                                     m->message);
        } else if (m->code) {
            cn__session_app_error(s, m->receipt[0] ? m->receipt : NULL, m->code, m->message);
        } else if (m->receipt[0]) {
            cn__session_receipt_id(s, m->receipt);
        }
    }
    cn_msg_free(&m->hdr);
}
