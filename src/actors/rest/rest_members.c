/* Who is in a group room, beyond joining and leaving: POST /api/rooms/{id}/members
 * {"userIds"} (a member adds people), DELETE /api/rooms/{id}/members/{userId} (the
 * room's creator removes a member; anyone removes themselves, which is leaving) and
 * DELETE /api/rooms/{id} (the creator closes the room).
 *
 * Each is one statement (src/actors/sql/queries.sql: room_members_add, room_member_remove,
 * room_close) whose outcome gives the status. A membership that ends is then revoked on
 * the sockets (rest_revoke.h) and the answer waits for that, so a 200 means the removed
 * user's access has ended everywhere the revocation reaches. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/rest/abuse_limits.h"
#include "actors/rest/rest_request.h"
#include "actors/rest/rest_revoke.h"
#include "actors/rest/rest_rows.h"
#include "actors/rest/rest_user_events.h"
#include "actors/sql/queries.h"
#include "base/strbuf.h"
#include "base/xmalloc.h"
#include "io/pg_pool.h"

enum { STEP_START = 0, STEP_SQL, STEP_REVOKED };

void rest_members_add_step(struct cn_rest_req *req, cn_msg *m)
{
    if (req->step == STEP_START) {
        char uid[24], rid[24];
        snprintf(uid, sizeof uid, "%lld", (long long)req->user_id);
        snprintf(rid, sizeof rid, "%lld", (long long)req->room_id);
        struct cn_strbuf ids;
        cn_strbuf_init(&ids, 16 + req->nmembers * 20);
        cn_strbuf_append(&ids, "{", 1);
        for (size_t i = 0; i < req->nmembers; i++)
            cn_strbuf_printf(&ids, "%s%lld", i ? "," : "", (long long)req->member_ids[i]);
        cn_strbuf_append(&ids, "}", 1);
        const char *params[] = {uid, rid, ids.data};
        req->step = STEP_SQL;
        rest_sql(req, CN_SQL_ROOM_MEMBERS_ADD, 3, params);
        cn_strbuf_free(&ids);
        return;
    }
    struct cn_pg_reply *r = rest_pg_ok(req, m);
    if (!r)
        return;
    const char *outcome = rest_outcome(r);
    if (strcmp(outcome, "ok") == 0) {
        int64_t added[CN_GROUP_MAX_MEMBERS];
        size_t n =
            rest_parse_ids(cn_pg_rows_str(r->rows, 0, "added_ids"), added, CN_GROUP_MAX_MEMBERS);
        /* Everyone whose list shows the room changed: the members before (member count)
         * and the new ones (a new room). */
        rest_cache_invalidate_text(req, cn_pg_rows_str(r->rows, 0, "member_ids"), 0);
        rest_cache_invalidate(req, added, n);
        int64_t count = cn_pg_rows_i64(r->rows, 0, "member_count");
        rest_event_added(req, req->room_id, added, n, count);
        if (n > 0)
            rest_event_members_text(req, req->room_id, cn_pg_rows_str(r->rows, 0, "member_ids"), 0,
                                    count, 0);
        /* The router checked the budget; each member actually added counts. */
        for (size_t i = 0; i < n; i++)
            rest_budget_note(req, CN_ABUSE_INVITE);
        json_t *v = json_object();
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, json_integer(added[i]));
        json_object_set_new(v, "roomId", json_integer(req->room_id));
        json_object_set_new(v, "added", a);
        json_object_set_new(v, "memberCount",
                            json_integer(cn_pg_rows_i64(r->rows, 0, "member_count")));
        rest_reply_json(req, 200, v);
    } else if (strcmp(outcome, "unknown_member") == 0) {
        rest_reply_unknown_users(req, r->rows, "unknown_ids", "userIds");
    } else if (strcmp(outcome, "not_allowed") == 0) {
        rest_reply_not_allowed(req, r->rows, "not_allowed_ids", "userIds");
    } else {
        rest_reply_room_refusal(req, outcome, "a direct room keeps its two members");
    }
    cn_msg_free(m);
}

void rest_member_remove_step(struct cn_rest_req *req, cn_msg *m)
{
    if (req->step == STEP_START) {
        req->step = STEP_SQL;
        rest_sql_ids(req, CN_SQL_ROOM_MEMBER_REMOVE, 3,
                     (int64_t[]){req->user_id, req->room_id, req->sub_id});
        return;
    }
    if (req->step == STEP_REVOKED) {
        cn_msg_free(m);
        rest_reply_done(req, "userId", req->sub_id, "removed");
        return;
    }
    struct cn_pg_reply *r = rest_pg_ok(req, m);
    if (!r)
        return;
    const char *outcome = rest_outcome(r);
    if (strcmp(outcome, "ok") == 0) {
        rest_cache_invalidate_text(req, cn_pg_rows_str(r->rows, 0, "member_ids"), req->sub_id);
        /* Removing oneself is leaving. */
        rest_event_removed(req, req->room_id, &req->sub_id, 1,
                           req->sub_id == req->user_id ? CN_UEV_REASON_LEFT
                                                       : CN_UEV_REASON_REMOVED);
        rest_event_members_text(req, req->room_id, cn_pg_rows_str(r->rows, 0, "member_ids"),
                                req->sub_id, -1, 0);
        req->step = STEP_REVOKED;
        rest_revoke(req, req->room_id, &req->sub_id, 1);
    } else if (strcmp(outcome, "no_member") == 0) {
        rest_reply_error(req, 404, "MEMBER_NOT_FOUND", "userId: not a member of this room");
    } else {
        rest_reply_room_refusal(req, outcome, "a direct room keeps its two members");
    }
    cn_msg_free(m);
}

void rest_room_close_step(struct cn_rest_req *req, cn_msg *m)
{
    if (req->step == STEP_START) {
        req->step = STEP_SQL;
        rest_sql_ids(req, CN_SQL_ROOM_CLOSE, 2, (int64_t[]){req->user_id, req->room_id});
        return;
    }
    if (req->step == STEP_REVOKED) {
        cn_msg_free(m);
        rest_reply_done(req, NULL, 0, "closed");
        return;
    }
    struct cn_pg_reply *r = rest_pg_ok(req, m);
    if (!r)
        return;
    const char *outcome = rest_outcome(r);
    if (strcmp(outcome, "ok") == 0) {
        rest_cache_invalidate_text(req, cn_pg_rows_str(r->rows, 0, "member_ids"), 0);
        rest_event_removed_text(req, req->room_id, cn_pg_rows_str(r->rows, 0, "member_ids"),
                                CN_UEV_REASON_CLOSED);
        req->step = STEP_REVOKED;
        rest_revoke(req, req->room_id, NULL, 0); /* every member the room had */
    } else {
        rest_reply_room_refusal(req, outcome, "a direct room cannot be closed");
    }
    cn_msg_free(m);
}
