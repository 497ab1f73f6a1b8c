/* POST /api/auth/signup and POST /api/auth/login.
 *
 * Signup: hash the password on the hasher threads, then one INSERT that says whether it
 * made the user or which of email and nickname was taken (409 EMAIL_TAKEN or
 * NICKNAME_TAKEN). The router has already refused weak passwords and unclean nicknames
 * (json_requests.h) and applied the per-address sign-up budget.
 *
 * Login: one SELECT by email that also reads the email's back-off (login_throttle); a
 * login in back-off is refused (429 + Retry-After) before any password check, whether
 * or not the account exists and whatever the password. Otherwise the password is
 * verified on the hasher threads (an unknown email against a dummy hash, so the answer
 * takes as long as for a wrong password: no account probing by timing). A failure is
 * counted for the email in PostgreSQL (so the back-off is cluster-wide) and for the
 * client's address on this node (abuse_limits.h), then answered 401. A success ends the
 * email's back-off, starts a refresh-token family, and answers the tokens.
 *
 * Every login outcome is logged at INFO (module "auth") with the peer and request id
 * of the context, the user id when known, and the email only as a short hash (the
 * first 12 hex digits of its SHA-256: enough to tie attempts together, not to read). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/rest/abuse_limits.h"
#include "actors/rest/known_users.h"
#include "actors/rest/rest_request.h"
#include "actors/rest/rest_rows.h"
#include "actors/sql/queries.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "io/password_hasher.h"
#include "io/pg_pool.h"
#include "proto/json_responses.h"

enum {
    STEP_START = 0,
    STEP_HASHED,   /* signup: the password's hash */
    STEP_STORED,   /* signup: user_signup */
    STEP_FOUND,    /* login: user_by_email */
    STEP_VERIFIED, /* login: the password check */
    STEP_FAILED,   /* login: login_failure_record */
    STEP_SESSION,  /* login: login_session_start */
};

/* One INFO line about a login: `what` is the outcome ("succeeded", "failed: ..."). */
static void log_login(const struct cn_rest_req *req, int64_t user_id, const char *what)
{
    unsigned char h[crypto_hash_sha256_BYTES];
    const char *email = req->email ? req->email : "";
    crypto_hash_sha256(h, (const unsigned char *)email, strlen(email));
    char hex[2 * crypto_hash_sha256_BYTES + 1];
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    hex[12] = '\0';
    struct cn_log_ctx ctx = {
        .user = user_id, .peer = req->client_addr, .request_id = req->request_id};
    CN_INFO_CTX("auth", &ctx, "login %s (email sha256:%s)", what, hex);
}

static void reply_hasher_error(struct cn_rest_req *req, const struct cn_hasher_reply *h)
{
    (void)h;
    rest_reply_error(req, 503, "BUSY", "too many sign-ups or logins at once; retry shortly");
}

static void run_signup(struct cn_rest_req *req)
{
    const char *params[] = {req->email, req->password_hash, req->nickname, req->nickname_key};
    req->step = STEP_STORED;
    rest_sql(req, CN_SQL_USER_SIGNUP, 4, params);
}

static void signup_stored(struct cn_rest_req *req, struct cn_pg_reply *r)
{
    if (!r->ok) {
        rest_reply_sql_error(req, r->sqlstate, r->error);
        return;
    }
    const char *outcome = cn_pg_rows_str(r->rows, 0, "outcome");
    if (!outcome) /* defensive: the statement always answers one row */
        outcome = "";
    if (strcmp(outcome, "ok") == 0) {
        struct cn_user u;
        rest_row_user(r->rows, 0, &u);
        cn_known_users_add(req->deps->known_users, u.id);
        rest_reply_json(req, 201, cn_json_user(&u));
    } else if (strcmp(outcome, "email_taken") == 0) {
        rest_reply_error(req, 409, "EMAIL_TAKEN", "email: is already registered");
    } else if (strcmp(outcome, "nickname_taken") == 0) {
        rest_reply_error(req, 409, "NICKNAME_TAKEN", "nickname: is already taken");
    } else if (!req->retried) {
        /* A sign-up that committed after our snapshot took the email or the nickname:
         * once more, the statement sees it and says which. */
        req->retried = true;
        run_signup(req);
    } else {
        rest_reply_error(req, 409, "CONFLICT", "the email or nickname was just taken; retry");
    }
}

void rest_signup_step(struct cn_rest_req *req, cn_msg *m)
{
    switch (req->step) {
    case STEP_START:
        req->step = STEP_HASHED;
        if (cn_hasher_hash(req->deps->hasher, req->self, REST_MSG_HASH, 0, req->password,
                           req->password_len) != 0)
            rest_reply_error(req, 503, "BUSY", "too many sign-ups at once; retry shortly");
        return;
    case STEP_HASHED: {
        struct cn_hasher_reply *h = (struct cn_hasher_reply *)m;
        if (h->error || !h->ok) {
            reply_hasher_error(req, h);
        } else {
            req->password_hash = cn_xstrdup(h->hash);
            run_signup(req);
        }
        cn_msg_free(m);
        return;
    }
    case STEP_STORED:
        signup_stored(req, (struct cn_pg_reply *)m);
        cn_msg_free(m);
        return;
    }
}

/* user_by_email answered: refuse during the back-off, else check the password. */
static void login_found(struct cn_rest_req *req, struct cn_pg_reply *r)
{
    if (!r->ok) {
        rest_reply_sql_error(req, r->sqlstate, r->error);
        return;
    }
    if (cn_pg_rows_count(r->rows) != 1) { /* defensive: always one row */
        rest_reply_error(req, 503, "UNAVAILABLE", "retry shortly");
        return;
    }
    int64_t wait = cn_pg_rows_i64(r->rows, 0, "retry_after_s");
    if (wait > 0) {
        log_login(req, 0, "refused: the account is in its failed-login back-off");
        rest_reply_retry(req, 429, "RATE_LIMITED",
                         "too many failed logins for this account; retry after the time given",
                         (uint32_t)wait);
        return;
    }
    int rc;
    req->step = STEP_VERIFIED;
    if (!cn_pg_rows_str(r->rows, 0, "id")) {
        rc = cn_hasher_verify_dummy(req->deps->hasher, req->self, REST_MSG_HASH, 0, req->password,
                                    req->password_len);
    } else {
        req->held = r->rows;
        r->rows = NULL; /* kept for the answer */
        rc = cn_hasher_verify(req->deps->hasher, req->self, REST_MSG_HASH, 0, req->password,
                              req->password_len, cn_pg_rows_str(req->held, 0, "password_hash"));
    }
    if (rc != 0)
        rest_reply_error(req, 503, "BUSY", "too many logins at once; retry shortly");
}

/* The password check answered: count a failure, or start the session. */
static void login_verified(struct cn_rest_req *req, const struct cn_hasher_reply *h)
{
    const struct cn_rest_deps *d = req->deps;
    if (h->error) {
        reply_hasher_error(req, h);
        return;
    }
    if (!h->ok || !req->held) {
        log_login(req, req->held ? cn_pg_rows_i64(req->held, 0, "id") : 0,
                  req->held ? "failed: wrong password" : "failed: no account with this email");
        cn_abuse_note(d->abuse, CN_ABUSE_LOGIN_FAILURE, req->client_addr ? req->client_addr : "",
                      cn_wall_ms());
        char after[16], base[16], max[16];
        snprintf(after, sizeof after, "%d", d->login_backoff.after);
        snprintf(base, sizeof base, "%d", d->login_backoff.base_s);
        snprintf(max, sizeof max, "%d", d->login_backoff.max_s);
        const char *params[] = {req->email, after, base, max};
        req->step = STEP_FAILED;
        rest_sql(req, CN_SQL_LOGIN_FAILURE_RECORD, 4, params);
        return;
    }
    struct cn_user u;
    rest_row_user(req->held, 0, &u);
    cn_known_users_add(d->known_users, u.id);
    cn_refresh_token_new(req->refresh_token, req->refresh_hash);
    char uid[24], ttl[24];
    snprintf(uid, sizeof uid, "%lld", (long long)u.id);
    snprintf(ttl, sizeof ttl, "%lld", (long long)d->refresh_ttl_s);
    const char *params[] = {req->email, uid, req->refresh_hash, ttl};
    req->step = STEP_SESSION;
    rest_sql(req, CN_SQL_LOGIN_SESSION_START, 4, params);
}

void rest_login_step(struct cn_rest_req *req, cn_msg *m)
{
    switch (req->step) {
    case STEP_START: {
        const char *params[] = {req->email};
        req->step = STEP_FOUND;
        rest_sql(req, CN_SQL_USER_BY_EMAIL, 1, params);
        return;
    }
    case STEP_FOUND:
        login_found(req, (struct cn_pg_reply *)m);
        cn_msg_free(m);
        return;
    case STEP_VERIFIED:
        login_verified(req, (struct cn_hasher_reply *)m);
        cn_msg_free(m);
        return;
    case STEP_FAILED: {
        struct cn_pg_reply *r = (struct cn_pg_reply *)m;
        /* The answer is 401 either way: the credentials were wrong. A count that could
         * not be stored is logged; the per-address budget still counted it. */
        if (!r->ok)
            CN_WARN("rest", "login_failure_record failed (%s): %s",
                    r->sqlstate[0] ? r->sqlstate : "-", r->error);
        rest_reply_error(req, 401, "INVALID_CREDENTIALS", "email or password is wrong");
        cn_msg_free(m);
        return;
    }
    case STEP_SESSION: {
        struct cn_pg_reply *r = (struct cn_pg_reply *)m;
        if (!r->ok) {
            rest_reply_sql_error(req, r->sqlstate, r->error);
        } else if (cn_pg_rows_count(r->rows) != 1) { /* defensive: an INSERT ... RETURNING */
            rest_reply_error(req, 503, "UNAVAILABLE", "retry shortly");
        } else {
            struct cn_user u;
            rest_row_user(req->held, 0, &u);
            log_login(req, u.id, "succeeded");
            rest_reply_tokens(req, &u, req->refresh_token,
                              cn_pg_rows_i64(r->rows, 0, "refresh_expires_at_ms"));
        }
        cn_msg_free(m);
        return;
    }
    }
}
