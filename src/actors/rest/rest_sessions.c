/* POST /api/auth/refresh and POST /api/auth/logout: the refresh tokens of a login.
 *
 * Refresh trades a refresh token for a new access token and a new refresh token in one
 * statement (refresh_token_rotate): the presented token is spent, its successor joins
 * the same family. A token is good once: presenting a spent one means two parties hold
 * it (a stolen copy, or a client that lost an answer), so the whole family is revoked and
 * both must log in again. Logout revokes the token's family and answers 204 whether or
 * not the token was known, so it tells nothing about tokens.
 *
 * Only the SHA-256 of a token reaches PostgreSQL (refresh_token.h). Neither endpoint
 * needs an access token: the refresh token is the credential. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actors/rest/known_users.h"
#include "actors/rest/rest_request.h"
#include "actors/rest/rest_rows.h"
#include "actors/sql/queries.h"
#include "io/http_server.h"
#include "io/pg_pool.h"
#include "proto/json_responses.h"
#include "proto/jwt.h"

enum { STEP_START = 0, STEP_ROTATED, STEP_REVOKED };

void rest_reply_tokens(struct cn_rest_req *req, const struct cn_user *u, const char *refresh_token,
                       int64_t refresh_expires_at_ms)
{
    const struct cn_rest_deps *d = req->deps;
    char *token = cn_jwt_issue(&d->jwt, u->id, (int64_t)time(NULL), d->token_ttl_s);
    if (!token) { /* defensive: the config was validated at start */
        rest_reply_error(req, 503, "UNAVAILABLE", "tokens cannot be issued; retry later");
        return;
    }
    rest_reply_json(req, 200,
                    cn_json_login(token, d->token_ttl_s, refresh_token, refresh_expires_at_ms, u));
    free(token);
}

static void rotated(struct cn_rest_req *req, struct cn_pg_reply *r)
{
    if (!r->ok) {
        rest_reply_sql_error(req, r->sqlstate, r->error);
        return;
    }
    const char *outcome = cn_pg_rows_str(r->rows, 0, "outcome");
    if (!outcome) /* defensive: the statement always answers one row */
        outcome = "unknown";
    if (strcmp(outcome, "ok") == 0) {
        struct cn_user u;
        rest_row_user(r->rows, 0, &u);
        cn_known_users_add(req->deps->known_users, u.id);
        rest_reply_tokens(req, &u, req->new_refresh_token,
                          cn_pg_rows_i64(r->rows, 0, "refresh_expires_at_ms"));
    } else if (strcmp(outcome, "reused") == 0) {
        rest_reply_error(req, 401, "UNAUTHORIZED",
                         "refresh token already used: the session is ended; log in again");
    } else if (strcmp(outcome, "expired") == 0) {
        rest_reply_error(req, 401, "UNAUTHORIZED", "refresh token expired; log in again");
    } else if (strcmp(outcome, "revoked") == 0) {
        rest_reply_error(req, 401, "UNAUTHORIZED", "refresh token revoked; log in again");
    } else {
        rest_reply_error(req, 401, "UNAUTHORIZED", "unknown refresh token; log in again");
    }
}

void rest_refresh_step(struct cn_rest_req *req, cn_msg *m)
{
    switch (req->step) {
    case STEP_START: {
        char new_hash[CN_REFRESH_HASH_HEX + 1];
        cn_refresh_token_hash(req->refresh_token, strlen(req->refresh_token), req->refresh_hash);
        cn_refresh_token_new(req->new_refresh_token, new_hash);
        char ttl[24];
        snprintf(ttl, sizeof ttl, "%lld", (long long)req->deps->refresh_ttl_s);
        const char *params[] = {req->refresh_hash, new_hash, ttl};
        req->step = STEP_ROTATED;
        rest_sql(req, CN_SQL_REFRESH_TOKEN_ROTATE, 3, params);
        return;
    }
    case STEP_ROTATED:
        rotated(req, (struct cn_pg_reply *)m);
        cn_msg_free(m);
        return;
    }
}

/* 204: no body, no Content-Type. */
static void reply_no_content(struct cn_rest_req *req)
{
    struct cn_http_response resp = {.status = 204};
    cn_http_reply(&req->later, &resp);
    cn_actor_stop(req->self);
}

void rest_logout_step(struct cn_rest_req *req, cn_msg *m)
{
    switch (req->step) {
    case STEP_START: {
        cn_refresh_token_hash(req->refresh_token, strlen(req->refresh_token), req->refresh_hash);
        const char *params[] = {req->refresh_hash};
        req->step = STEP_REVOKED;
        rest_sql(req, CN_SQL_REFRESH_TOKEN_REVOKE, 1, params);
        return;
    }
    case STEP_REVOKED: {
        struct cn_pg_reply *r = (struct cn_pg_reply *)m;
        if (!r->ok)
            rest_reply_sql_error(req, r->sqlstate, r->error);
        else
            reply_no_content(req);
        cn_msg_free(m);
        return;
    }
    }
}
