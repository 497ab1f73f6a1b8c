/* The REST router: path and method matching, bearer token check and body
 * decoding on the I/O thread, then a request actor for the rest; see rest.h.
 *
 * Everything here is bounded work on bytes the server already holds, so it can
 * run on the I/O thread. Every refusal is a JSON error with a fitting status. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/clock.h"
#include "base/xmalloc.h"
#include "io/http_server.h"
#include "actors/rest/abuse_limits.h"
#include "actors/rest/known_users.h"
#include "actors/rest/rest.h"
#include "actors/rest/rest_request.h"
#include "proto/json_requests.h"
#include "actors/rest/token_cache.h"
#include "proto/jwt.h"
#include "proto/utf8.h"

#define HISTORY_DEFAULT_SIZE 20
#define HISTORY_MAX_SIZE     100

/* Parses a positive decimal id of at most 18 digits (fits int64). */
static int parse_id(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 18 || s[0] == '0')
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int verify_token(const struct cn_rest_deps *deps, const struct cn_http_later *later,
                        const char *token, size_t len, struct cn_token_claims *claims)
{
    int64_t now = (int64_t)time(NULL);
    if (deps->token_caches && later->thread < deps->token_cache_count)
        return cn_token_cache_verify(deps->token_caches[later->thread], &deps->jwt, token, len, now,
                                     claims);
    char *tok = cn_xstrndup(token, len);
    int rc = cn_jwt_verify(&deps->jwt, tok, now, claims);
    free(tok);
    return rc;
}

/* Counts one attempt against a budget (abuse_limits.h). Returns false, with resp filled
 * with the 429, when the budget is spent. */
static bool within_budget(const struct cn_rest_deps *deps, enum cn_abuse_kind kind, const char *key,
                          struct cn_http_response *resp)
{
    uint32_t wait = cn_abuse_take(deps->abuse, kind, key, cn_wall_ms());
    if (wait == 0)
        return true;
    cn_http_error(resp, 429, "RATE_LIMITED", "too many requests; retry after the time given");
    resp->retry_after_s = (int)wait;
    return false;
}

/* Logins from an address that spent its budget of failed logins are refused; the
 * attempt itself is not counted (only a failure is, by rest_auth.c). */
static bool failures_within_budget(const struct cn_rest_deps *deps, const char *addr,
                                   struct cn_http_response *resp)
{
    uint32_t wait = cn_abuse_check(deps->abuse, CN_ABUSE_LOGIN_FAILURE, addr, cn_wall_ms());
    if (wait == 0)
        return true;
    cn_http_error(resp, 429, "RATE_LIMITED",
                  "too many failed logins from this address; retry after the time given");
    resp->retry_after_s = (int)wait;
    return false;
}

/* The per-user budgets of abuse_limits.h, counted once a request is known to be valid:
 *   - group rooms: taken here;
 *   - direct rooms: checked here, refused by the statement only when a new room would be
 *     made (the pair's existing room is always answered), counted by the actor when one was;
 *   - invitations: taken here;
 *   - members added: checked here, counted by the actor per member added;
 *   - user searches: taken here.
 * Returns false with the 429 in resp. */
static bool within_user_budget(const struct cn_rest_deps *deps, struct cn_rest_req *req,
                               struct cn_http_response *resp)
{
    char key[32];
    snprintf(key, sizeof key, "user:%lld", (long long)req->user_id);
    uint32_t wait = 0;
    switch (req->ep) {
    case EP_GROUP_ROOM:
        return within_budget(deps, CN_ABUSE_ROOM_CREATE, key, resp);
    case EP_INVITE_CREATE:
        return within_budget(deps, CN_ABUSE_INVITE, key, resp);
    case EP_USER_SEARCH:
        return within_budget(deps, CN_ABUSE_USER_SEARCH, key, resp);
    case EP_DIRECT_ROOM:
        /* Not refused here: the pair's existing room is answered whatever the budget. */
        req->retry_after_s = cn_abuse_check(deps->abuse, CN_ABUSE_ROOM_CREATE, key, cn_wall_ms());
        return true;
    case EP_MEMBERS_ADD:
        wait = cn_abuse_check(deps->abuse, CN_ABUSE_INVITE, key, cn_wall_ms());
        break;
    default:
        return true;
    }
    if (wait == 0)
        return true;
    cn_http_error(resp, 429, "RATE_LIMITED", "too many requests; retry after the time given");
    resp->retry_after_s = (int)wait;
    return false;
}

struct route {
    const char *pattern; /* "/api/rooms/{roomId}/invites": {name} is one id segment */
    const char *method;
    enum rest_endpoint ep;
    bool needs_auth;
    bool has_body;
};

/* Every route. A pattern without {…} wins over one with (GET /api/rooms/public is not room
 * "public"); one resource may have several rows, one per method. */
static const struct route routes[] = {
    {"/api/auth/signup", "POST", EP_SIGNUP, false, true},
    {"/api/auth/login", "POST", EP_LOGIN, false, true},
    {"/api/auth/refresh", "POST", EP_REFRESH, false, true},
    {"/api/auth/logout", "POST", EP_LOGOUT, false, true},
    {"/api/rooms/direct", "POST", EP_DIRECT_ROOM, true, true},
    {"/api/rooms/group", "POST", EP_GROUP_ROOM, true, true},
    {"/api/rooms", "GET", EP_MY_ROOMS, true, false},
    {"/api/rooms/public", "GET", EP_PUBLIC_ROOMS, true, false},
    {"/api/rooms/join", "POST", EP_INVITE_JOIN, true, true},
    {"/api/users", "GET", EP_USER_SEARCH, true, false},
    {"/api/users/blocked", "GET", EP_USERS_BLOCKED, true, false},
    {"/api/rooms/{roomId}", "GET", EP_ROOM_DETAIL, true, false},
    {"/api/rooms/{roomId}", "DELETE", EP_ROOM_CLOSE, true, false},
    {"/api/rooms/{roomId}/join", "POST", EP_JOIN, true, false},
    {"/api/rooms/{roomId}/leave", "POST", EP_LEAVE, true, false},
    {"/api/rooms/{roomId}/messages", "GET", EP_HISTORY, true, false},
    {"/api/rooms/{roomId}/read", "POST", EP_READ, true, true},
    {"/api/rooms/{roomId}/invites", "POST", EP_INVITE_CREATE, true, true},
    {"/api/rooms/{roomId}/invites", "GET", EP_INVITE_LIST, true, false},
    {"/api/rooms/{roomId}/invites/{inviteId}", "DELETE", EP_INVITE_REVOKE, true, false},
    {"/api/rooms/{roomId}/members", "POST", EP_MEMBERS_ADD, true, true},
    {"/api/rooms/{roomId}/members/{userId}", "DELETE", EP_MEMBER_REMOVE, true, false},
    {"/api/users/{userId}/block", "POST", EP_USER_BLOCK, true, false},
    {"/api/users/{userId}/block", "DELETE", EP_USER_UNBLOCK, true, false},
};
#define NROUTES (sizeof routes / sizeof routes[0])

/* The outcome of matching a request line. */
struct match {
    const struct route *route; /* the route (0) or the resource's first one (405) */
    const char *resource;      /* the matched pattern (0, 405, 400); NULL: 404 */
    char allowed[32];          /* 405: the resource's methods, "GET, DELETE" */
    int64_t ids[2];            /* the {…} segments, in order */
    char bad_field[24];        /* 400: the {name} that is not an id */
};

/* Whether path has the shape of pattern: the same segments, {…} matching any one. Fills
 * the wildcard segments (start, length) in order; returns their count, or -1. */
static int shape(const char *pattern, const char *path, const char *seg[2], size_t len[2],
                 const char *names[2], size_t name_len[2])
{
    int n = 0;
    const char *p = pattern, *q = path;
    while (*p && *q) {
        if (*p != '/' || *q != '/')
            return -1;
        p++, q++;
        const char *pe = strchr(p, '/'), *qe = strchr(q, '/');
        size_t pl = pe ? (size_t)(pe - p) : strlen(p), ql = qe ? (size_t)(qe - q) : strlen(q);
        if (pl > 2 && p[0] == '{' && p[pl - 1] == '}') {
            if (n == 2) /* defensive: no pattern has more */
                return -1;
            seg[n] = q, len[n] = ql, names[n] = p + 1, name_len[n] = pl - 2;
            n++;
        } else if (pl != ql || strncmp(p, q, pl) != 0) {
            return -1;
        }
        p += pl, q += ql;
    }
    return *p || *q ? -1 : n;
}

/* Maps the path and method to a route. Returns 0, 404 (no such resource), 405 (known
 * resource, other method) or 400 (a {…} segment that is not an id). */
static int match(const char *method, const char *path, struct match *out)
{
    memset(out, 0, sizeof *out);
    const char *resource = NULL;
    const char *seg[2], *names[2];
    size_t len[2], name_len[2];
    int nseg = -1;
    /* A literal pattern first, then the first pattern with ids that fits. */
    for (int pass = 0; pass < 2 && !resource; pass++)
        for (size_t i = 0; i < NROUTES && !resource; i++) {
            bool literal = strchr(routes[i].pattern, '{') == NULL;
            if (literal != (pass == 0))
                continue;
            nseg = shape(routes[i].pattern, path, seg, len, names, name_len);
            if (nseg >= 0)
                resource = routes[i].pattern;
        }
    if (!resource)
        return 404;
    out->resource = resource;
    for (int k = 0; k < nseg; k++) {
        if (parse_id(seg[k], len[k], &out->ids[k]) != 0) {
            snprintf(out->bad_field, sizeof out->bad_field, "%.*s", (int)name_len[k], names[k]);
            return 400;
        }
    }
    for (size_t i = 0; i < NROUTES; i++) {
        if (strcmp(routes[i].pattern, resource) != 0)
            continue;
        if (!out->route)
            out->route = &routes[i];
        if (strcmp(method, routes[i].method) == 0) {
            out->route = &routes[i];
            return 0;
        }
        size_t used = strlen(out->allowed);
        snprintf(out->allowed + used, sizeof out->allowed - used, "%s%s", used ? ", " : "",
                 routes[i].method);
    }
    return 405;
}

/* Finds `key=` in an lws query string ("a=1&b=2"). Returns the value and its length. */
static const char *query_param(const char *query, const char *key, size_t *len)
{
    size_t klen = strlen(key);
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (n > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            *len = n - klen - 1;
            return p + klen + 1;
        }
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

#define SEARCH_DEFAULT_SIZE 20
#define SEARCH_MAX_SIZE     50
#define SEARCH_MAX_CHARS    100
#define USER_SEARCH_MIN     2

/* GET /api/rooms/public and GET /api/users: `q` (min_chars..100 characters, no control
 * characters; the HTTP server has already percent-decoded it), `cursor` (an id) and `size`
 * (1..50, default 20). */
static int decode_search_query(const char *query, long min_chars, struct cn_rest_req *req,
                               const char **why)
{
    size_t n;
    const char *v = query_param(query, "q", &n);
    if (!v)
        v = "", n = 0;
    long chars = cn_utf8_count(v, n);
    bool control = false;
    for (size_t i = 0; i < n; i++)
        control |= (unsigned char)v[i] < 0x20 || v[i] == 0x7f;
    if (chars < 0 || control) {
        *why = "q: must be valid UTF-8 without control characters";
        return -1;
    }
    if (chars < min_chars || chars > SEARCH_MAX_CHARS) {
        *why = min_chars > 0 ? "q: must be 2..100 characters" : "q: must be at most 100 characters";
        return -1;
    }
    req->q = cn_xstrndup(v, n);
    req->cursor = 0;
    v = query_param(query, "cursor", &n);
    if (v && parse_id(v, n, &req->cursor) != 0) {
        *why = "cursor: must be a positive integer";
        return -1;
    }
    req->size = SEARCH_DEFAULT_SIZE;
    v = query_param(query, "size", &n);
    if (v) {
        int64_t size;
        if (parse_id(v, n, &size) != 0 || size > SEARCH_MAX_SIZE) {
            *why = "size: must be 1..50";
            return -1;
        }
        req->size = (int)size;
    }
    return 0;
}

static int decode_history_query(const char *query, struct cn_rest_req *req, const char **why)
{
    size_t n;
    const char *v = query_param(query, "cursor", &n);
    req->cursor = 0;
    if (v && parse_id(v, n, &req->cursor) != 0) {
        *why = "cursor: must be a positive integer";
        return -1;
    }
    req->size = HISTORY_DEFAULT_SIZE;
    v = query_param(query, "size", &n);
    if (v) {
        int64_t size;
        if (parse_id(v, n, &size) != 0 || size > HISTORY_MAX_SIZE) {
            *why = "size: must be 1..100";
            return -1;
        }
        req->size = (int)size;
    }
    return 0;
}

/* True for "application/json" with or without parameters (charset=utf-8). A body
 * without a Content-Type is taken as JSON too, as curl and many clients send it. */
static bool is_json(const char *content_type)
{
    if (!content_type)
        return true;
    static const char json[] = "application/json";
    return strncasecmp(content_type, json, sizeof json - 1) == 0 &&
           (content_type[sizeof json - 1] == '\0' || content_type[sizeof json - 1] == ';' ||
            content_type[sizeof json - 1] == ' ');
}

/* Decodes the body into req. Returns 0, or fills resp with the 400 and returns -1. */
static int decode_body(const struct cn_http_request *hr, struct cn_rest_req *req,
                       struct cn_http_response *resp)
{
    struct cn_json_error err = {0};
    const char *body = hr->body ? hr->body : "";
    size_t len = hr->body ? hr->body_len : 0;
    int rc = 0;
    switch (req->ep) {
    case EP_SIGNUP:
    case EP_LOGIN: {
        struct cn_auth_request a;
        rc = req->ep == EP_SIGNUP ? cn_json_decode_signup(body, len, &a, &err)
                                  : cn_json_decode_login(body, len, &a, &err);
        if (rc == 0) {
            req->email = cn_xstrdup(a.email);
            req->password = cn_xstrndup(a.password, a.password_len);
            req->password_len = a.password_len;
            /* Taken: the decoder made them. */
            req->nickname = a.nickname;
            req->nickname_key = a.nickname_key;
            a.nickname = a.nickname_key = NULL;
        }
        cn_auth_request_clear(&a);
        break;
    }
    case EP_REFRESH:
    case EP_LOGOUT:
        rc = cn_json_decode_refresh_token(body, len, req->refresh_token, &err);
        break;
    case EP_DIRECT_ROOM:
        rc = cn_json_decode_direct_room(body, len, &req->target_id, &err);
        if (rc == 0 && req->target_id == req->user_id) {
            cn_http_error(resp, 400, "VALIDATION_FAILED",
                          "targetUserId: cannot open a direct room with yourself");
            return -1;
        }
        break;
    case EP_GROUP_ROOM: {
        struct cn_group_room_request g;
        rc = cn_json_decode_group_room(body, len, &g, &err);
        if (rc == 0) {
            req->name = cn_xstrndup(g.name, g.name_len);
            memcpy(req->member_ids, g.member_ids, g.nmembers * sizeof g.member_ids[0]);
            req->nmembers = g.nmembers;
            req->is_public = g.visibility == CN_ROOM_PUBLIC;
        }
        cn_group_room_request_clear(&g);
        break;
    }
    case EP_INVITE_CREATE:
        rc = cn_json_decode_invite_create(body, len, &req->max_uses, &req->expires_in_s, &err);
        break;
    case EP_INVITE_JOIN: {
        struct cn_invite_join_request j;
        rc = cn_json_decode_invite_join(body, len, &j, &err);
        if (rc == 0) {
            req->token = cn_xstrndup(j.token, j.token_len);
            req->token_len = j.token_len;
        }
        cn_invite_join_request_clear(&j);
        break;
    }
    case EP_MEMBERS_ADD:
        rc = cn_json_decode_members_add(body, len, req->member_ids, &req->nmembers, &err);
        break;
    case EP_READ: {
        struct cn_read_target t;
        rc = cn_json_decode_read(body, len, &t, &err);
        req->message_id = t.message_id;
        req->has_position = t.has_position;
        req->read_position = t.position;
        break;
    }
    default:
        return 0;
    }
    if (rc == 0)
        return 0;
    char msg[160];
    cn_json_error_format(&err, msg, sizeof msg);
    cn_http_error(resp, 400, rc == CN_JSON_E_SYNTAX ? "INVALID_JSON" : "VALIDATION_FAILED", msg);
    return -1;
}

bool cn_rest_handle(const struct cn_rest_deps *deps, const struct cn_http_request *hr,
                    struct cn_http_response *resp, const struct cn_http_later *later)
{
    if (strncmp(hr->path, "/api/", 5) != 0 && strcmp(hr->path, "/api") != 0)
        return false;
    struct match mt;
    int matched = match(hr->method, hr->path, &mt);
    /* The request metrics' route label: the pattern, never the path (bounded series). */
    resp->route = mt.resource ? mt.resource : "/api/*";
    switch (matched) {
    case 404:
        cn_http_error(resp, 404, "NOT_FOUND", "no such resource");
        return true;
    case 405:
        cn_http_error(resp, 405, "METHOD_NOT_ALLOWED", mt.allowed);
        return true;
    case 400: {
        char msg[64];
        snprintf(msg, sizeof msg, "%s: must be a positive integer", mt.bad_field);
        cn_http_error(resp, 400, "VALIDATION_FAILED", msg);
        return true;
    }
    }
    const struct route route = *mt.route;

    const char *addr = hr->client_addr ? hr->client_addr : "";
    if (route.ep == EP_SIGNUP && !within_budget(deps, CN_ABUSE_SIGNUP, addr, resp))
        return true;
    if (route.ep == EP_LOGIN && !failures_within_budget(deps, addr, resp))
        return true;

    struct cn_rest_req *req = cn_xcalloc(1, sizeof *req);
    req->deps = deps;
    req->later = *later;
    req->ep = route.ep;
    /* The path's ids: {roomId} first where there is one, then the second id; a {userId}
     * alone (the block routes) is the target user. */
    if (strncmp(route.pattern, "/api/rooms/{", 12) == 0) {
        req->room_id = mt.ids[0];
        req->sub_id = mt.ids[1];
    } else {
        req->target_id = mt.ids[0];
    }
    if (route.needs_auth) {
        const char *token;
        size_t toklen;
        struct cn_token_claims claims;
        if (!hr->authorization) {
            cn_http_error(resp, 401, "UNAUTHORIZED", "missing bearer token");
            rest_req_free(req);
            return true;
        }
        int rc = cn_jwt_from_authorization(hr->authorization, &token, &toklen);
        if (rc == 0)
            rc = verify_token(deps, later, token, toklen, &claims);
        if (rc != 0) {
            cn_http_error(resp, 401, "UNAUTHORIZED", cn_jwt_strerror(rc));
            rest_req_free(req);
            return true;
        }
        req->user_id = claims.user_id;
        /* A signed token says who, not that the user still exists: the first request of
         * a user this node has not seen yet looks it up (rest_request.c). */
        req->check_user = !cn_known_users_has(deps->known_users, claims.user_id);
    }
    req->client_addr = cn_xstrdup(addr); /* login's budget, and every request's log lines */
    if (route.has_body && hr->body_len > 0 && !is_json(hr->content_type)) {
        cn_http_error(resp, 415, "UNSUPPORTED_MEDIA_TYPE", "send the body as application/json");
        rest_req_free(req);
        return true;
    }
    if (route.has_body && decode_body(hr, req, resp) != 0) {
        rest_req_free(req);
        return true;
    }
    if (route.ep == EP_HISTORY || route.ep == EP_PUBLIC_ROOMS || route.ep == EP_USER_SEARCH) {
        const char *why;
        int rc = route.ep == EP_HISTORY
                     ? decode_history_query(hr->query, req, &why)
                     : decode_search_query(
                           hr->query, route.ep == EP_USER_SEARCH ? USER_SEARCH_MIN : 0, req, &why);
        if (rc != 0) {
            cn_http_error(resp, 400, "VALIDATION_FAILED", why);
            rest_req_free(req);
            return true;
        }
    }
    if ((route.ep == EP_USER_BLOCK || route.ep == EP_USER_UNBLOCK) &&
        req->target_id == req->user_id) {
        cn_http_error(resp, 400, "VALIDATION_FAILED", "userId: cannot block yourself");
        rest_req_free(req);
        return true;
    }
    if (!within_user_budget(deps, req, resp)) {
        rest_req_free(req);
        return true;
    }
    resp->deferred = true;
    rest_request_start(req);
    return true;
}
