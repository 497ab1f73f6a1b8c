/* Room endpoints: POST /api/rooms/direct, POST /api/rooms/group,
 * POST /api/rooms/{id}/join, POST /api/rooms/{id}/leave, GET /api/rooms/{id}, POST
 * /api/rooms/{id}/read (the only one that answers after Kafka rather than PostgreSQL: see
 * rest_read_step).
 *
 * A room the caller may not see (a private group or a direct room of others, a closed
 * room) answers 404 ROOM_NOT_FOUND everywhere, exactly like an id that does not exist:
 * the statements report it as 'not_found' (src/actors/sql/queries.sql, "Who may see a
 * room").
 *
 * Each is one SQL statement whose `outcome` column (or documented zero-row
 * answer) tells the handler which status to give, so a refusal never costs a
 * second round trip (src/actors/sql/queries.sql). Writes that change a user's room list
 * drop that list from the cache. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/strbuf.h"
#include "base/xmalloc.h"
#include "proto/broadcast_envelope.h"
#include "io/kafka_producer.h"
#include "io/pg_pool.h"
#include "actors/sql/queries.h"
#include "actors/pipeline/read_receipts.h"
#include "io/redis_client.h"
#include "actors/session/send_path.h"
#include "actors/rest/abuse_limits.h"
#include "actors/rest/rest_request.h"
#include "actors/rest/rest_revoke.h"
#include "actors/rest/rest_rows.h"
#include "actors/rest/rest_user_events.h"
#include "proto/event_codec.h"
#include "proto/json_responses.h"

enum { STEP_START = 0, STEP_DONE, STEP_MEMBERS, STEP_PRODUCED, STEP_REVOKED };

static const char *outcome_of(const struct cn_pg_rows *res)
{
    const char *o = cn_pg_rows_count(res) > 0 ? cn_pg_rows_str(res, 0, "outcome") : NULL;
    return o ? o : "";
}

void rest_reply_room(struct cn_rest_req *req, int status, const struct cn_pg_rows *res)
{
    struct cn_room room;
    struct cn_message lm;
    struct cn_user peer;
    rest_row_room(res, 0, &room, &lm, &peer);
    rest_reply_json(req, status, cn_json_room(&room));
}

void rest_reply_done(struct cn_rest_req *req, const char *id_key, int64_t id, const char *what)
{
    json_t *v = json_object();
    if (id_key)
        json_object_set_new(v, id_key, json_integer(id));
    json_object_set_new(v, "roomId", json_integer(req->room_id));
    json_object_set_new(v, what, json_true());
    rest_reply_json(req, 200, v);
}

/* Refuses `field` listing the ids of `ids_col` ("{12,15}") with status/code and `what`
 * ("no such user", "cannot be added by you"). */
static void reply_ids(struct cn_rest_req *req, const struct cn_pg_rows *rows, const char *ids_col,
                      int status, const char *code, const char *field, const char *what)
{
    char msg[200];
    const char *ids = cn_pg_rows_str(rows, 0, ids_col);
    snprintf(msg, sizeof msg, "%s: %s: %.150s", field, what, ids ? ids : "?");
    rest_reply_error(req, status, code, msg);
}

void rest_reply_not_allowed(struct cn_rest_req *req, const struct cn_pg_rows *rows,
                            const char *ids_col, const char *field)
{
    /* Says that these users cannot be added by the caller, not why: the caller learns no
     * more than that the addition is refused. */
    reply_ids(req, rows, ids_col, 403, "NOT_ALLOWED", field, "cannot be added by you");
}

void rest_reply_room_refusal(struct cn_rest_req *req, const char *outcome,
                             const char *not_group_msg)
{
    if (strcmp(outcome, "not_member") == 0) {
        rest_reply_error(req, 403, "NOT_A_MEMBER", "you are not a member of this room");
    } else if (strcmp(outcome, "not_group") == 0) {
        rest_reply_error(req, 409, "NOT_GROUP", not_group_msg);
    } else if (strcmp(outcome, "not_creator") == 0) {
        rest_reply_error(req, 403, "NOT_ROOM_CREATOR", "only the room's creator may do this");
    } else {
        /* 'not_found', and defensively anything else: a room the caller cannot see. */
        rest_reply_error(req, 404, "ROOM_NOT_FOUND", "no such room");
    }
}

void rest_reply_unknown_users(struct cn_rest_req *req, const struct cn_pg_rows *rows,
                              const char *ids_col, const char *field)
{
    reply_ids(req, rows, ids_col, 404, "USER_NOT_FOUND", field, "no such user");
}

void rest_direct_room_step(struct cn_rest_req *req, cn_msg *m)
{
    if (req->step == STEP_START) {
        req->step = STEP_DONE;
        char me[24], target[24];
        snprintf(me, sizeof me, "%lld", (long long)req->user_id);
        snprintf(target, sizeof target, "%lld", (long long)req->target_id);
        const char *params[] = {me, target, req->retry_after_s == 0 ? "t" : "f"};
        rest_sql(req, CN_SQL_DIRECT_ROOM_OPEN, 3, params);
        return;
    }
    struct cn_pg_reply *r = rest_pg_ok(req, m);
    if (!r)
        return;
    const char *outcome = outcome_of(r->rows);
    if (strcmp(outcome, "ok") == 0) {
        bool created = cn_pg_rows_bool(r->rows, 0, "created");
        if (created) {
            int64_t users[2] = {req->user_id, req->target_id};
            rest_cache_invalidate(req, users, 2);
            rest_event_added(req, cn_pg_rows_i64(r->rows, 0, "id"), users, 2, 2);
            /* Only a new room counts against the creation budget (the router checked it
             * and, when it was spent, told the statement not to create one): opening an
             * existing room is how clients show it, whatever the budget. */
            rest_budget_note(req, CN_ABUSE_ROOM_CREATE);
        }
        rest_reply_room(req, created ? 201 : 200, r->rows);
    } else if (strcmp(outcome, "self") == 0) {
        rest_reply_error(req, 400, "VALIDATION_FAILED",
                         "targetUserId: cannot open a direct room with yourself");
    } else if (strcmp(outcome, "no_target") == 0) {
        rest_reply_error(req, 404, "USER_NOT_FOUND", "targetUserId: no such user");
    } else if (strcmp(outcome, "blocked") == 0) {
        rest_reply_error(req, 403, "USER_BLOCKED",
                         "targetUserId: you block this user; unblock them first");
    } else if (strcmp(outcome, "blocked_by") == 0) {
        rest_reply_error(req, 403, "NOT_ALLOWED",
                         "targetUserId: you cannot open a direct room with this user");
    } else if (strcmp(outcome, "over_budget") == 0) {
        rest_reply_retry(req, 429, "RATE_LIMITED", "too many requests; retry after the time given",
                         req->retry_after_s);
    } else {
        rest_reply_error(req, 401, "UNAUTHORIZED", "the token's user no longer exists");
    }
    cn_msg_free(m);
}

void rest_group_room_step(struct cn_rest_req *req, cn_msg *m)
{
    if (req->step == STEP_START) {
        char creator[24];
        snprintf(creator, sizeof creator, "%lld", (long long)req->user_id);
        struct cn_strbuf ids;
        cn_strbuf_init(&ids, 16 + req->nmembers * 20);
        cn_strbuf_append(&ids, "{", 1);
        for (size_t i = 0; i < req->nmembers; i++)
            cn_strbuf_printf(&ids, "%s%lld", i ? "," : "", (long long)req->member_ids[i]);
        cn_strbuf_append(&ids, "}", 1);
        const char *params[] = {
            creator, req->name, ids.data,
            cn_room_visibility_name(req->is_public ? CN_ROOM_PUBLIC : CN_ROOM_PRIVATE)};
        req->step = STEP_DONE;
        rest_sql(req, CN_SQL_GROUP_ROOM_CREATE, 4, params);
        cn_strbuf_free(&ids);
        return;
    }
    struct cn_pg_reply *r = rest_pg_ok(req, m);
    if (!r)
        return;
    const char *outcome = outcome_of(r->rows);
    if (strcmp(outcome, "ok") == 0) {
        int64_t users[CN_GROUP_MAX_MEMBERS + 1];
        memcpy(users, req->member_ids, req->nmembers * sizeof users[0]);
        users[req->nmembers] = req->user_id;
        rest_cache_invalidate(req, users, req->nmembers + 1);
        /* The creator may be listed too: one event each (the router dropped duplicates
         * among the listed ids). */
        size_t k = 0;
        for (size_t i = 0; i <= req->nmembers; i++)
            if (i == req->nmembers || users[i] != req->user_id)
                users[k++] = users[i];
        rest_event_added(req, cn_pg_rows_i64(r->rows, 0, "id"), users, k, -1);
        rest_reply_room(req, 201, r->rows);
    } else if (strcmp(outcome, "unknown_member") == 0) {
        rest_reply_unknown_users(req, r->rows, "unknown_member_ids", "memberIds");
    } else if (strcmp(outcome, "not_allowed") == 0) {
        rest_reply_not_allowed(req, r->rows, "not_allowed_ids", "memberIds");
    } else {
        rest_reply_error(req, 401, "UNAUTHORIZED", "the token's user no longer exists");
    }
    cn_msg_free(m);
}

/* After a join, every member's room list shows a new member count: fetch the
 * member ids (one more statement, only on a real join) and drop their lists. */
void rest_join_step(struct cn_rest_req *req, cn_msg *m)
{
    if (req->step == STEP_START) {
        req->step = STEP_DONE;
        rest_sql_ids(req, CN_SQL_ROOM_JOIN, 2, (int64_t[]){req->user_id, req->room_id});
        return;
    }
    struct cn_pg_reply *r = rest_pg_ok(req, m);
    if (!r)
        return;
    if (req->step == STEP_MEMBERS) {
        int n = cn_pg_rows_count(r->rows);
        int64_t *users = cn_xcalloc((size_t)n + 1, sizeof *users);
        for (int i = 0; i < n; i++)
            users[i] = cn_pg_rows_i64(r->rows, i, "user_id");
        rest_cache_invalidate(req, users, (size_t)n);
        rest_event_added(req, req->room_id, &req->user_id, 1, n);
        rest_event_members(req, req->room_id, users, (size_t)n, req->user_id, n);
        free(users);
        /* The room row was kept from the join. */
        rest_reply_room(req, 200, req->held);
        cn_msg_free(m);
        return;
    }
    const char *outcome = outcome_of(r->rows);
    if (strcmp(outcome, "ok") == 0) {
        if (!cn_pg_rows_bool(r->rows, 0, "joined")) {
            rest_reply_room(req, 200, r->rows); /* already a member: nothing changed */
        } else {
            req->held = r->rows;
            r->rows = NULL;
            req->step = STEP_MEMBERS;
            rest_sql_ids(req, CN_SQL_ROOM_MEMBER_IDS, 1, &req->room_id);
        }
    } else if (strcmp(outcome, "not_found") == 0) {
        rest_reply_error(req, 404, "ROOM_NOT_FOUND", "no such room");
    } else {
        rest_reply_error(req, 409, "NOT_JOINABLE", "a direct room cannot be joined");
    }
    cn_msg_free(m);
}

/* The room event for the room's subscribers: the room actors of every node hand it to
 * each subscription of the room. Fire and forget, like the read events: the leaver's
 * own sessions do not depend on it (rest_revoke tells them, subscribed or not, and
 * waits for every node); when it reaches one of the leaver's subscriptions first, the
 * session ends that subscription on it (session/session_subs.c) and the revocation
 * finds nothing left to end there. */
static void publish_leave(struct cn_rest_req *req)
{
    if (!req->deps->events)
        return;
    char chan[32], id[64], body[96];
    snprintf(chan, sizeof chan, "room:%" PRId64, req->room_id);
    snprintf(id, sizeof id, "leave-%" PRId64 "-%" PRId64 "-%" PRId64, req->room_id, req->user_id,
             cn_wall_ms());
    int bl = snprintf(body, sizeof body,
                      "{\"type\":\"LEAVE\",\"roomId\":%" PRId64 ",\"userId\":%" PRId64 "}",
                      req->room_id, req->user_id);
    size_t elen;
    char *event = cn_bc_event_render("leave", id, body, (size_t)bl, &elen);
    if (!event) /* defensive: the id is digits and dashes, at most 59 bytes */
        return;
    const char *argv[] = {"PUBLISH", chan, event};
    size_t argl[] = {7, strlen(chan), elen};
    cn_redis_command(req->deps->events, NULL, 0, 0, 3, argv, argl);
    free(event);
}

/* POST /api/rooms/{id}/leave: one statement that deletes the membership and
 * returns the members left, whose room lists (member count) and the leaver's
 * are dropped; then the leave event for the room, and the revocation of the leaver's
 * membership on every node; 200 once every node applied it (rest_revoke.h). */
void rest_leave_step(struct cn_rest_req *req, cn_msg *m)
{
    if (req->step == STEP_START) {
        req->step = STEP_DONE;
        rest_sql_ids(req, CN_SQL_ROOM_LEAVE, 2, (int64_t[]){req->user_id, req->room_id});
        return;
    }
    if (req->step == STEP_REVOKED) {
        cn_msg_free(m); /* the revocation's outcome: the membership is gone either way */
        rest_reply_done(req, NULL, 0, "left");
        return;
    }
    struct cn_pg_reply *r = rest_pg_ok(req, m);
    if (!r)
        return;
    const char *outcome = outcome_of(r->rows);
    if (strcmp(outcome, "ok") == 0) {
        rest_cache_invalidate_text(req, cn_pg_rows_str(r->rows, 0, "member_ids"), req->user_id);
        rest_event_removed(req, req->room_id, &req->user_id, 1, CN_UEV_REASON_LEFT);
        rest_event_members_text(req, req->room_id, cn_pg_rows_str(r->rows, 0, "member_ids"), 0, -1,
                                0);
        publish_leave(req);
        req->step = STEP_REVOKED;
        rest_revoke(req, req->room_id, &req->user_id, 1);
    } else if (strcmp(outcome, "not_found") == 0) {
        rest_reply_error(req, 404, "ROOM_NOT_FOUND", "no such room");
    } else if (strcmp(outcome, "not_member") == 0) {
        rest_reply_error(req, 403, "NOT_A_MEMBER", "you are not a member of this room");
    } else {
        rest_reply_error(req, 409, "NOT_LEAVABLE", "a direct room cannot be left");
    }
    cn_msg_free(m);
}

void rest_room_detail_step(struct cn_rest_req *req, cn_msg *m)
{
    if (req->step == STEP_START) {
        req->step = STEP_DONE;
        rest_sql_ids(req, CN_SQL_ROOM_DETAIL, 2, (int64_t[]){req->user_id, req->room_id});
        return;
    }
    struct cn_pg_reply *r = rest_pg_ok(req, m);
    if (!r)
        return;
    int n = cn_pg_rows_count(r->rows);
    if (n == 0) {
        rest_reply_error(req, 404, "ROOM_NOT_FOUND", "no such room");
    } else if (!cn_pg_rows_bool(r->rows, 0, "is_member")) {
        rest_reply_error(req, 403, "NOT_A_MEMBER", "you are not a member of this room");
    } else {
        struct cn_room room;
        struct cn_message lm;
        struct cn_user peer;
        rest_row_room(r->rows, 0, &room, &lm, &peer);
        struct cn_user *members = cn_xcalloc((size_t)n, sizeof *members);
        for (int i = 0; i < n; i++) {
            members[i].id = cn_pg_rows_i64(r->rows, i, "member_id");
            members[i].email = NULL; /* other members' emails are not shown */
            members[i].nickname = cn_pg_rows_str(r->rows, i, "member_nickname");
            members[i].status = cn_pg_rows_str(r->rows, i, "member_status");
            members[i].last_seen_at_ms = cn_pg_rows_str(r->rows, i, "member_last_seen_at_ms")
                                             ? cn_pg_rows_i64(r->rows, i, "member_last_seen_at_ms")
                                             : -1;
        }
        json_t *v = cn_json_room_detail(&room, members, (size_t)n);
        free(members);
        rest_reply_json(req, 200, v);
    }
    cn_msg_free(m);
}

/* The answer of a read: the position and unread count the receipt leaves (as checked;
 * the pipeline applies it a moment later). `res` is the read_receipt_check row. */
static void reply_read(struct cn_rest_req *req, const struct cn_pg_rows *res)
{
    json_t *v = json_object();
    json_object_set_new(v, "roomId", json_integer(req->room_id));
    json_object_set_new(v, "lastReadMessageId",
                        cn_pg_rows_str(res, 0, "last_read_message_id")
                            ? json_integer(cn_pg_rows_i64(res, 0, "last_read_message_id"))
                            : json_null());
    json_object_set_new(v, "unreadCount",
                        json_integer(cn_pg_rows_str(res, 0, "unread_count")
                                         ? cn_pg_rows_i64(res, 0, "unread_count")
                                         : 0));
    rest_reply_json(req, 200, v);
}

/* Produces the ReadReceiptEvent; the delivery report arrives as REST_MSG_KAFKA. Answers
 * 503 itself when the producer refuses it. */
static void produce_receipt(struct cn_rest_req *req, int64_t message_id)
{
    struct cn_read_receipt_event ev = {
        .room_id = req->room_id,
        .user_id = req->user_id,
        .message_id = message_id,
        .read_at_ms = cn_wall_ms(),
    };
    size_t len;
    char *value = cn_event_encode_read_receipt(&ev, &len);
    char key[24];
    int keylen = snprintf(key, sizeof key, "%" PRId64, req->room_id);
    static const char ct[] = "application/msgpack", version[] = "1";
    const struct cn_kafka_header hdrs[] = {
        {"content-type", ct, sizeof ct - 1},
        {"schema-version", version, sizeof version - 1},
    };
    struct cn_send_path *send = req->deps->send;
    int rc = -ESHUTDOWN;
    /* A closed producer refuses with -ESHUTDOWN: 503 like any refusal. */
    if (send)
        rc =
            cn_kafka_produce(send->producer, CN_READ_RECEIPTS_TOPIC, CN_KAFKA_PARTITION_BY_KEY, key,
                             (size_t)keylen, value, len, hdrs, 2, req->self, REST_MSG_KAFKA, 0);
    free(value);
    if (rc != 0)
        rest_reply_error(req, 503, "UNAVAILABLE",
                         rc == -EAGAIN ? "the receipt queue is full; retry shortly"
                                       : "read receipts are unavailable; retry shortly");
}

/* Runs read_receipt_check for the request's target: a message id, a position (the
 * room's stored message there; 0 is a position, so not through rest_sql_ids, which
 * sends values <= 0 as NULL) or neither (the latest). */
static void check_read(struct cn_rest_req *req)
{
    char user[24], room[24], msg[24], pos[24];
    snprintf(user, sizeof user, "%" PRId64, req->user_id);
    snprintf(room, sizeof room, "%" PRId64, req->room_id);
    snprintf(msg, sizeof msg, "%" PRId64, req->message_id);
    snprintf(pos, sizeof pos, "%" PRId64, req->read_position);
    const char *params[4] = {user, room, req->message_id > 0 ? msg : NULL,
                             req->has_position ? pos : NULL};
    rest_sql(req, CN_SQL_READ_RECEIPT_CHECK, 4, params);
}

/* POST /api/rooms/{id}/read: read_receipt_check, then the event to
 * chat.read-receipts; 200 once Kafka acknowledged it (the position moves when the
 * chat-read-receipt pipeline applies it, which also drops the reader's room list). An
 * empty room has nothing to read: 200 at once, and the list is dropped here. A
 * `position` that names no stored message of the room (none there, or one still on
 * its way to PostgreSQL) is 404 MESSAGE_NOT_FOUND like an unknown messageId. */
void rest_read_step(struct cn_rest_req *req, cn_msg *m)
{
    if (req->step == STEP_START) {
        req->step = STEP_DONE;
        check_read(req);
        return;
    }
    if (req->step == STEP_PRODUCED) {
        struct cn_kafka_delivery *d = (struct cn_kafka_delivery *)m;
        if (d->ok)
            reply_read(req, req->held);
        else
            rest_reply_error(req, 503, "UNAVAILABLE", "the receipt was not stored; retry shortly");
        cn_msg_free(m);
        return;
    }
    struct cn_pg_reply *r = rest_pg_ok(req, m);
    if (!r)
        return;
    const char *outcome = outcome_of(r->rows);
    if (strcmp(outcome, "ok") == 0) {
        if (!cn_pg_rows_str(r->rows, 0, "message_id")) {
            rest_cache_invalidate(req, &req->user_id, 1);
            reply_read(req, r->rows);
        } else {
            int64_t message_id = cn_pg_rows_i64(r->rows, 0, "message_id");
            req->held = r->rows;
            r->rows = NULL;
            req->step = STEP_PRODUCED;
            produce_receipt(req, message_id);
        }
    } else if (strcmp(outcome, "not_found") == 0) {
        rest_reply_error(req, 404, "ROOM_NOT_FOUND", "no such room");
    } else if (strcmp(outcome, "not_member") == 0) {
        rest_reply_error(req, 403, "NOT_A_MEMBER", "you are not a member of this room");
    } else if (req->has_position) {
        rest_reply_error(req, 404, "MESSAGE_NOT_FOUND",
                         "position: no stored message of this room has this position");
    } else {
        rest_reply_error(req, 404, "MESSAGE_NOT_FOUND", "messageId: not a message of this room");
    }
    cn_msg_free(m);
}
