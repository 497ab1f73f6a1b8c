/* Finding people and blocking them: GET /api/users?q=&cursor=&size= (a nickname prefix,
 * case-insensitively, or an exact email), POST and DELETE /api/users/{id}/block, GET
 * /api/users/blocked.
 *
 * A search never shows an email (a match by email shows the user like any other), never
 * the searcher, and never a user who blocked the searcher. Searches are budgeted per user
 * by the router (CN_ABUSE_USER_SEARCH), which also refuses a q shorter than 2 characters:
 * together they keep the user table from being listed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/rest/rest_request.h"
#include "actors/sql/queries.h"
#include "base/xmalloc.h"
#include "io/pg_pool.h"
#include "proto/json_responses.h"

/* The users_search rows: the email match (first page only), then size + 1 nickname
 * matches at most; the extra nickname row only says whether there is a next page. */
static json_t *render_search(const struct cn_rest_req *req, const struct cn_pg_rows *rows)
{
    int total = cn_pg_rows_count(rows);
    struct cn_user *users = cn_xcalloc((size_t)total + 1, sizeof *users);
    size_t n = 0;
    int nick_rows = 0;
    int64_t next = 0;
    bool has_next = false;
    for (int i = 0; i < total; i++) {
        bool by_email = cn_pg_rows_bool(rows, i, "by_email");
        if (!by_email && ++nick_rows > req->size) {
            has_next = true;
            break;
        }
        struct cn_user *u = &users[n++];
        u->id = cn_pg_rows_i64(rows, i, "id");
        u->nickname = cn_pg_rows_str(rows, i, "nickname");
        u->status = cn_pg_rows_str(rows, i, "status");
        if (!u->status)
            u->status = "OFFLINE";
        if (!by_email)
            next = u->id;
    }
    json_t *v = cn_json_users_page(users, n, has_next ? next : 0, has_next);
    free(users);
    return v;
}

void rest_user_search_step(struct cn_rest_req *req, cn_msg *m)
{
    if (req->step == 0) {
        char uid[24], cursor[24], size[16];
        snprintf(uid, sizeof uid, "%lld", (long long)req->user_id);
        snprintf(cursor, sizeof cursor, "%lld", (long long)req->cursor);
        snprintf(size, sizeof size, "%d", req->size);
        const char *params[] = {uid, req->q, req->cursor > 0 ? cursor : NULL, size};
        req->step = 1;
        rest_sql(req, CN_SQL_USERS_SEARCH, 4, params);
        return;
    }
    struct cn_pg_reply *r = rest_pg_ok(req, m);
    if (!r)
        return;
    rest_reply_json(req, 200, render_search(req, r->rows));
    cn_msg_free(m);
}

static void reply_block_state(struct cn_rest_req *req, bool blocked)
{
    json_t *v = json_object();
    json_object_set_new(v, "userId", json_integer(req->target_id));
    json_object_set_new(v, "blocked", json_boolean(blocked));
    rest_reply_json(req, 200, v);
}

void rest_user_block_step(struct cn_rest_req *req, cn_msg *m)
{
    if (req->step == 0) {
        req->step = 1;
        rest_sql_ids(req, CN_SQL_USER_BLOCK, 2, (int64_t[]){req->user_id, req->target_id});
        return;
    }
    struct cn_pg_reply *r = rest_pg_ok(req, m);
    if (!r)
        return;
    const char *outcome = rest_outcome(r);
    if (strcmp(outcome, "ok") == 0)
        reply_block_state(req, true);
    else if (strcmp(outcome, "self") == 0)
        rest_reply_error(req, 400, "VALIDATION_FAILED", "userId: cannot block yourself");
    else if (strcmp(outcome, "too_many") == 0)
        rest_reply_error(req, 409, "TOO_MANY_BLOCKS", "you already block 1000 users");
    else
        rest_reply_error(req, 404, "USER_NOT_FOUND", "userId: no such user");
    cn_msg_free(m);
}

void rest_user_unblock_step(struct cn_rest_req *req, cn_msg *m)
{
    if (req->step == 0) {
        req->step = 1;
        rest_sql_ids(req, CN_SQL_USER_UNBLOCK, 2, (int64_t[]){req->user_id, req->target_id});
        return;
    }
    struct cn_pg_reply *r = rest_pg_ok(req, m);
    if (!r)
        return;
    if (strcmp(rest_outcome(r), "ok") == 0)
        reply_block_state(req, false);
    else
        rest_reply_error(req, 404, "USER_NOT_FOUND", "userId: no such user");
    cn_msg_free(m);
}

void rest_users_blocked_step(struct cn_rest_req *req, cn_msg *m)
{
    if (req->step == 0) {
        req->step = 1;
        rest_sql_ids(req, CN_SQL_USERS_BLOCKED, 1, &req->user_id);
        return;
    }
    struct cn_pg_reply *r = rest_pg_ok(req, m);
    if (!r)
        return;
    int n = cn_pg_rows_count(r->rows);
    struct cn_blocked_user *users = cn_xcalloc((size_t)n + 1, sizeof *users);
    for (int i = 0; i < n; i++) {
        users[i].id = cn_pg_rows_i64(r->rows, i, "id");
        users[i].nickname = cn_pg_rows_str(r->rows, i, "nickname");
        users[i].blocked_at_ms = cn_pg_rows_i64(r->rows, i, "blocked_at_ms");
    }
    json_t *v = cn_json_blocked_list(users, (size_t)n);
    free(users);
    rest_reply_json(req, 200, v);
    cn_msg_free(m);
}
