/* The request actor and the helpers every endpoint step uses; see rest_request.h. */
#include "actors/rest/rest_request.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/rest/abuse_limits.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "io/http_server.h"
#include "io/pg_pool.h"
#include "actors/sql/queries.h"
#include "actors/rest/known_users.h"
#include "io/redis_client.h"
#include "proto/json_responses.h"

void rest_req_free(void *p)
{
    struct cn_rest_req *req = p;
    if (!req)
        return;
    if (req->password) {
        sodium_memzero(req->password, req->password_len);
        free(req->password);
    }
    if (req->token) {
        sodium_memzero(req->token, req->token_len);
        free(req->token);
    }
    free(req->q);
    free(req->email);
    free(req->nickname);
    free(req->nickname_key);
    free(req->password_hash);
    free(req->client_addr);
    sodium_memzero(req->refresh_token, sizeof req->refresh_token);
    sodium_memzero(req->new_refresh_token, sizeof req->new_refresh_token);
    free(req->name);
    free(req->cached);
    if (req->held)
        cn_pg_rows_free(req->held);
    free(req);
}

typedef void (*step_fn)(struct cn_rest_req *, cn_msg *);

static const step_fn steps[] = {
    [EP_SIGNUP] = rest_signup_step,
    [EP_LOGIN] = rest_login_step,
    [EP_DIRECT_ROOM] = rest_direct_room_step,
    [EP_GROUP_ROOM] = rest_group_room_step,
    [EP_JOIN] = rest_join_step,
    [EP_LEAVE] = rest_leave_step,
    [EP_MY_ROOMS] = rest_my_rooms_step,
    [EP_ROOM_DETAIL] = rest_room_detail_step,
    [EP_HISTORY] = rest_history_step,
    [EP_READ] = rest_read_step,
    [EP_REFRESH] = rest_refresh_step,
    [EP_LOGOUT] = rest_logout_step,
    [EP_PUBLIC_ROOMS] = rest_public_rooms_step,
    [EP_INVITE_CREATE] = rest_invite_create_step,
    [EP_INVITE_LIST] = rest_invite_list_step,
    [EP_INVITE_REVOKE] = rest_invite_revoke_step,
    [EP_INVITE_JOIN] = rest_invite_join_step,
    [EP_MEMBERS_ADD] = rest_members_add_step,
    [EP_MEMBER_REMOVE] = rest_member_remove_step,
    [EP_ROOM_CLOSE] = rest_room_close_step,
    [EP_USER_SEARCH] = rest_user_search_step,
    [EP_USER_BLOCK] = rest_user_block_step,
    [EP_USER_UNBLOCK] = rest_user_unblock_step,
    [EP_USERS_BLOCKED] = rest_users_blocked_step,
};

/* The answer to the user_by_id of a token whose user was not known to exist: the
 * endpoint runs only when the user is there. */
static void user_checked(struct cn_rest_req *req, cn_msg *m)
{
    struct cn_pg_reply *r = (struct cn_pg_reply *)m;
    req->check_user = false;
    if (m->type != REST_MSG_PG) { /* defensive: nothing else was asked for */
        cn_msg_free(m);
        rest_reply_error(req, 503, "UNAVAILABLE", "retry shortly");
        return;
    }
    if (!r->ok) {
        rest_reply_sql_error(req, r->sqlstate, r->error);
    } else if (cn_pg_rows_count(r->rows) == 0) {
        rest_reply_error(req, 401, "UNAUTHORIZED", "the user of this token does not exist");
    } else {
        cn_known_users_add(req->deps->known_users, req->user_id);
        cn_msg_free(m);
        steps[req->ep](req, NULL);
        return;
    }
    cn_msg_free(m);
}

static void turn(struct cn_rest_req *req, cn_msg *m)
{
    if (m->type == REST_MSG_START) {
        cn_msg_free(m);
        if (req->check_user)
            rest_sql_ids(req, CN_SQL_USER_BY_ID, 1, &req->user_id);
        else
            steps[req->ep](req, NULL);
    } else if (req->check_user) {
        user_checked(req, m);
    } else {
        /* The step owns m from here. */
        steps[req->ep](req, m);
    }
}

static void behaviour(cn_actor *self, void *state, cn_msg *m)
{
    struct cn_rest_req *req = state;
    (void)self;
    /* The request's context on every line its turn logs (copied: req may be freed
     * by the answer within the turn). */
    struct cn_log_ctx ctx = {.user = req->user_id,
                             .room = req->room_id,
                             .peer = req->client_addr,
                             .request_id = req->request_id};
    cn_log_ctx_set(&ctx);
    turn(req, m);
    cn_log_ctx_clear();
}

void rest_request_start(struct cn_rest_req *req)
{
    /* relaxed: the count only has to be unique */
    static atomic_uint_fast64_t next_id;
    uint64_t id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed) + 1;
    snprintf(req->request_id, sizeof req->request_id, "%" PRIx64, id);
    atomic_fetch_add_explicit(&req->deps->counters->requests, 1, memory_order_relaxed);
    cn_actor *a = cn_actor_spawn(req->deps->rt, behaviour, req, rest_req_free);
    req->self = a;
    cn_msg *start = cn_xmalloc(sizeof *start);
    cn_msg_init(start, REST_MSG_START, NULL);
    cn_actor_send(a, start);
    /* The runtime keeps the actor alive until it stops; our spawn reference is
     * not needed, since only adapters (holding their own references) send to it. */
    cn_actor_unref(a);
}

void rest_reply_body(struct cn_rest_req *req, int status, char *body, size_t len)
{
    struct cn_http_response resp = {
        .status = status, .content_type = "application/json", .body = body, .body_len = len};
    cn_http_reply(&req->later, &resp);
    cn_actor_stop(req->self);
}

void rest_reply_json(struct cn_rest_req *req, int status, json_t *v)
{
    size_t len;
    char *body = cn_json_dump(v, &len);
    rest_reply_body(req, status, body, len);
}

void rest_reply_error(struct cn_rest_req *req, int status, const char *code, const char *message)
{
    rest_reply_json(req, status, cn_json_error_body(code, message));
}

void rest_reply_retry(struct cn_rest_req *req, int status, const char *code, const char *message,
                      uint32_t retry_after_s)
{
    size_t len;
    char *body = cn_json_dump(cn_json_error_body(code, message), &len);
    struct cn_http_response resp = {.status = status,
                                    .content_type = "application/json",
                                    .body = body,
                                    .body_len = len,
                                    .retry_after_s = (int)retry_after_s};
    cn_http_reply(&req->later, &resp);
    cn_actor_stop(req->self);
}

int rest_sql(struct cn_rest_req *req, int sql_id, int nparams, const char *const *params)
{
    int rc = cn_pg_pool_query(req->deps->pg, req->self, REST_MSG_PG, 0,
                              cn_sql((enum cn_sql_id)sql_id), nparams, params);
    if (rc != 0) {
        rest_reply_error(req, 503, "UNAVAILABLE", "the database is overloaded; retry shortly");
        return -1;
    }
    return 0;
}

int rest_sql_ids(struct cn_rest_req *req, int sql_id, int n, const int64_t *values)
{
    enum { MAX_IDS = 8 };
    char text[MAX_IDS][24];
    const char *params[MAX_IDS];
    for (int i = 0; i < n && i < MAX_IDS; i++) {
        snprintf(text[i], sizeof text[i], "%lld", (long long)values[i]);
        params[i] = values[i] > 0 ? text[i] : NULL;
    }
    return rest_sql(req, sql_id, n < MAX_IDS ? n : MAX_IDS, params);
}

struct cn_pg_reply *rest_pg_ok(struct cn_rest_req *req, cn_msg *m)
{
    struct cn_pg_reply *r = (struct cn_pg_reply *)m;
    if (r->ok)
        return r;
    rest_reply_sql_error(req, r->sqlstate, r->error);
    cn_msg_free(m);
    return NULL;
}

const char *rest_outcome(const struct cn_pg_reply *r)
{
    const char *o = cn_pg_rows_count(r->rows) > 0 ? cn_pg_rows_str(r->rows, 0, "outcome") : NULL;
    return o ? o : "";
}

void rest_cache_invalidate_text(struct cn_rest_req *req, const char *ids_text, int64_t extra)
{
    /* At most one id per two bytes of "{1,2}": size the array from the text. */
    size_t max = (ids_text ? strlen(ids_text) / 2 : 0) + 2;
    int64_t *users = cn_xcalloc(max, sizeof *users);
    size_t n = 0;
    for (const char *p = ids_text ? ids_text : ""; *p && n + 1 < max;) {
        if (*p >= '0' && *p <= '9') {
            char *end;
            users[n++] = strtoll(p, &end, 10);
            p = end;
        } else {
            p++;
        }
    }
    if (extra > 0)
        users[n++] = extra;
    rest_cache_invalidate(req, users, n);
    free(users);
}

void rest_reply_sql_error(struct cn_rest_req *req, const char *sqlstate, const char *error)
{
    /* Class 23 (integrity) means the input referred to something that is not
     * there or already is: the client's doing. Class 08 and friends: ours. */
    if (strncmp(sqlstate, "23", 2) == 0) {
        rest_reply_error(req, 409, "CONFLICT", "the request conflicts with existing data");
        return;
    }
    if (strncmp(sqlstate, "22", 2) == 0) {
        rest_reply_error(req, 400, "VALIDATION_FAILED", "a value is out of range");
        return;
    }
    CN_WARN("rest", "query failed (%s): %s", sqlstate[0] ? sqlstate : "-", error);
    rest_reply_error(req, 503, "UNAVAILABLE", "the database is unavailable; retry shortly");
}

void rest_budget_note(struct cn_rest_req *req, int kind)
{
    if (!req->deps->abuse)
        return;
    char key[32];
    snprintf(key, sizeof key, "user:%lld", (long long)req->user_id);
    cn_abuse_note(req->deps->abuse, (enum cn_abuse_kind)kind, key, cn_wall_ms());
}

void rest_counters_cache(struct cn_rest_req *req, bool hit)
{
    struct cn_rest_counters *c = req->deps->counters;
    atomic_fetch_add_explicit(hit ? &c->cache_hits : &c->cache_misses, 1, memory_order_relaxed);
}

void rest_cache_invalidate(struct cn_rest_req *req, const int64_t *user_ids, size_t n)
{
    if (!req->deps->redis || n == 0)
        return;
    /* One DEL for all keys: one round trip whatever the room size. */
    const char **argv = cn_xmalloc((n + 1) * sizeof *argv);
    size_t *lens = cn_xmalloc((n + 1) * sizeof *lens);
    char(*keys)[32] = cn_xmalloc(n * sizeof *keys);
    argv[0] = "DEL";
    lens[0] = 3;
    for (size_t i = 0; i < n; i++) {
        lens[i + 1] =
            (size_t)snprintf(keys[i], sizeof keys[i], "rooms:%lld", (long long)user_ids[i]);
        argv[i + 1] = keys[i];
    }
    cn_redis_command(req->deps->redis, NULL, 0, 0, (int)(n + 1), argv, lens);
    free(keys);
    free(lens);
    free(argv);
}
