/* The REST router: path and method matching, bearer token check and body
 * decoding on the I/O thread, then a request actor for the rest; see rest.h.
 *
 * Everything here is bounded work on bytes the server already holds, so it can
 * run on the I/O thread. Every refusal is a JSON error with a fitting status. */
#include <errno.h>
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

struct route {
    enum rest_endpoint ep;
    const char *method;
    bool needs_auth;
    bool has_body;
};

/* Maps the path to an endpoint. Returns 0, 404 (no such resource), 405 (known
 * resource, other method) or 400 (bad room id); fills room_id for room paths. */
static int match(const char *method, const char *path, struct route *r, int64_t *room_id)
{
    static const struct {
        const char *path;
        struct route route;
    } fixed[] = {
        {"/api/auth/signup", {EP_SIGNUP, "POST", false, true}},
        {"/api/auth/login", {EP_LOGIN, "POST", false, true}},
        {"/api/auth/refresh", {EP_REFRESH, "POST", false, true}},
        {"/api/auth/logout", {EP_LOGOUT, "POST", false, true}},
        {"/api/rooms/direct", {EP_DIRECT_ROOM, "POST", true, true}},
        {"/api/rooms/group", {EP_GROUP_ROOM, "POST", true, true}},
        {"/api/rooms", {EP_MY_ROOMS, "GET", true, false}},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (strcmp(path, fixed[i].path) == 0) {
            *r = fixed[i].route;
            return strcmp(method, r->method) == 0 ? 0 : 405;
        }
    }
    static const char prefix[] = "/api/rooms/";
    if (strncmp(path, prefix, sizeof prefix - 1) != 0)
        return 404;
    const char *id = path + sizeof prefix - 1;
    const char *slash = strchr(id, '/');
    size_t idlen = slash ? (size_t)(slash - id) : strlen(id);
    const char *rest = slash ? slash : "";
    static const struct {
        const char *suffix;
        struct route route;
    } sub[] = {
        {"", {EP_ROOM_DETAIL, "GET", true, false}},
        {"/join", {EP_JOIN, "POST", true, false}},
        {"/leave", {EP_LEAVE, "POST", true, false}},
        {"/messages", {EP_HISTORY, "GET", true, false}},
        {"/read", {EP_READ, "POST", true, true}},
    };
    for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
        if (strcmp(rest, sub[i].suffix) == 0) {
            *r = sub[i].route;
            if (parse_id(id, idlen, room_id) != 0)
                return 400;
            return strcmp(method, r->method) == 0 ? 0 : 405;
        }
    }
    return 404;
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
        }
        cn_group_room_request_clear(&g);
        break;
    }
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
    struct route route;
    int64_t room_id = 0;
    switch (match(hr->method, hr->path, &route, &room_id)) {
    case 404:
        cn_http_error(resp, 404, "NOT_FOUND", "no such resource");
        return true;
    case 405:
        cn_http_error(resp, 405, "METHOD_NOT_ALLOWED", route.method);
        return true;
    case 400:
        cn_http_error(resp, 400, "VALIDATION_FAILED", "roomId: must be a positive integer");
        return true;
    }

    const char *addr = hr->client_addr ? hr->client_addr : "";
    if (route.ep == EP_SIGNUP && !within_budget(deps, CN_ABUSE_SIGNUP, addr, resp))
        return true;
    if (route.ep == EP_LOGIN && !failures_within_budget(deps, addr, resp))
        return true;

    struct cn_rest_req *req = cn_xcalloc(1, sizeof *req);
    req->deps = deps;
    req->later = *later;
    req->ep = route.ep;
    req->room_id = room_id;
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
    if (route.ep == EP_LOGIN)
        req->client_addr = cn_xstrdup(addr);
    if (route.has_body && hr->body_len > 0 && !is_json(hr->content_type)) {
        cn_http_error(resp, 415, "UNSUPPORTED_MEDIA_TYPE", "send the body as application/json");
        rest_req_free(req);
        return true;
    }
    if (route.has_body && decode_body(hr, req, resp) != 0) {
        rest_req_free(req);
        return true;
    }
    if (route.ep == EP_HISTORY) {
        const char *why;
        if (decode_history_query(hr->query, req, &why) != 0) {
            cn_http_error(resp, 400, "VALIDATION_FAILED", why);
            rest_req_free(req);
            return true;
        }
    }
    resp->deferred = true;
    rest_request_start(req);
    return true;
}
