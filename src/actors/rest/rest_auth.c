/* POST /api/auth/signup and POST /api/auth/login.
 *
 * Signup: hash the password on the hasher threads, then one INSERT that yields no
 * row when the email is taken (409). Login: one SELECT by email, then a verify on
 * the hasher threads; an unknown email is verified against a dummy hash so that
 * the answer takes as long as for a wrong password (no account probing by timing). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/xmalloc.h"
#include "io/password_hasher.h"
#include "io/pg_pool.h"
#include "actors/sql/queries.h"
#include "actors/rest/rest_request.h"
#include "actors/rest/rest_rows.h"
#include "proto/json_responses.h"
#include "proto/jwt.h"

enum { STEP_START = 0, STEP_HASHED, STEP_STORED, STEP_FOUND, STEP_VERIFIED };

static void reply_hasher_error(struct cn_rest_req *req, const struct cn_hasher_reply *h)
{
    (void)h;
    rest_reply_error(req, 503, "BUSY", "too many sign-ups or logins at once; retry shortly");
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
            cn_msg_free(m);
            return;
        }
        const char *params[] = {req->email, h->hash, req->nickname};
        req->step = STEP_STORED;
        rest_sql(req, CN_SQL_USER_SIGNUP, 3, params);
        cn_msg_free(m);
        return;
    }
    case STEP_STORED: {
        struct cn_pg_reply *r = (struct cn_pg_reply *)m;
        if (!r->ok) {
            rest_reply_sql_error(req, r->sqlstate, r->error);
        } else if (cn_pg_rows_count(r->rows) == 0) {
            rest_reply_error(req, 409, "EMAIL_TAKEN", "email: is already registered");
        } else {
            struct cn_user u;
            rest_row_user(r->rows, 0, &u);
            rest_reply_json(req, 201, cn_json_user(&u));
        }
        cn_msg_free(m);
        return;
    }
    }
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
    case STEP_FOUND: {
        struct cn_pg_reply *r = (struct cn_pg_reply *)m;
        if (!r->ok) {
            rest_reply_sql_error(req, r->sqlstate, r->error);
            cn_msg_free(m);
            return;
        }
        int rc;
        req->step = STEP_VERIFIED;
        if (cn_pg_rows_count(r->rows) == 0) {
            rc = cn_hasher_verify_dummy(req->deps->hasher, req->self, REST_MSG_HASH, 0,
                                        req->password, req->password_len);
        } else {
            req->held = r->rows;
            r->rows = NULL; /* kept for the answer */
            rc = cn_hasher_verify(req->deps->hasher, req->self, REST_MSG_HASH, 0, req->password,
                                  req->password_len, cn_pg_rows_str(req->held, 0, "password_hash"));
        }
        cn_msg_free(m);
        if (rc != 0)
            rest_reply_error(req, 503, "BUSY", "too many logins at once; retry shortly");
        return;
    }
    case STEP_VERIFIED: {
        struct cn_hasher_reply *h = (struct cn_hasher_reply *)m;
        if (h->error) {
            reply_hasher_error(req, h);
        } else if (!h->ok || !req->held) {
            rest_reply_error(req, 401, "INVALID_CREDENTIALS", "email or password is wrong");
        } else {
            struct cn_user u;
            rest_row_user(req->held, 0, &u);
            const struct cn_rest_deps *d = req->deps;
            char *token =
                cn_jwt_issue(d->jwt_key, d->jwt_key_len, u.id, (int64_t)time(NULL), d->token_ttl_s);
            rest_reply_json(req, 200, cn_json_login(token, d->token_ttl_s, &u));
            free(token);
        }
        cn_msg_free(m);
        return;
    }
    }
}
