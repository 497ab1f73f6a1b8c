/* SEND /app/auth.refresh: a live session swaps its token for a newer one of the
 * same user, which moves the session's expiry (see ws_session.h and
 * docs/PROTOCOL.md, "Token expiry and refresh").
 *
 * The token comes in an `Authorization: Bearer <jwt>` header of the SEND, or in
 * the body `{accessToken}` (the header wins when both are there). Refusals are
 * application errors (INVALID_BODY, INVALID_TOKEN, WRONG_USER): the session and
 * its old expiry stay as they were. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "actors/session/session_internal.h"
#include "proto/json_requests.h"
#include "proto/jwt.h"

static void count(struct ws_session *s, int result)
{
    atomic_fetch_add_explicit(&s->deps->counters->refreshes[result], 1, memory_order_relaxed);
}

static void check_token(struct ws_session *s, const char *token, const char *receipt)
{
    struct cn_token_claims claims;
    int rc =
        cn_jwt_verify(s->deps->jwt_key, s->deps->jwt_key_len, token, (int64_t)time(NULL), &claims);
    if (rc != 0) {
        char msg[96];
        snprintf(msg, sizeof msg, "token refused: %s", cn_jwt_strerror(rc));
        count(s, CN_WS_REFRESH_INVALID);
        sess_app_error(s, receipt, "INVALID_TOKEN", msg);
        return;
    }
    if (claims.user_id != s->user_id) {
        count(s, CN_WS_REFRESH_WRONG_USER);
        sess_app_error(s, receipt, "WRONG_USER",
                       "the token is for another user than this session's");
        return;
    }
    count(s, CN_WS_REFRESH_OK);
    s->exp_s = claims.exp;
    sess_arm_expiry(s);
    if (receipt) {
        struct sess_hdr h[] = {{"receipt-id", receipt}};
        sess_send_frame(s, CN_STOMP_RECEIPT, h, 1, NULL, 0, false, 0);
    }
}

void sess_refresh(struct ws_session *s, const struct cn_stomp_frame *f)
{
    const char *receipt = cn_stomp_frame_get(f, "receipt", NULL);
    const char *auth = cn_stomp_frame_get(f, "Authorization", NULL);
    if (!auth)
        auth = cn_stomp_frame_get(f, "authorization", NULL);
    if (auth) {
        const char *token;
        size_t len;
        if (cn_jwt_from_authorization(auth, &token, &len) != 0) {
            count(s, CN_WS_REFRESH_INVALID);
            sess_app_error(s, receipt, "INVALID_TOKEN",
                           "token refused: Authorization must be 'Bearer <token>'");
            return;
        }
        check_token(s, token, receipt);
        return;
    }
    struct cn_refresh_request req;
    struct cn_json_error err;
    if (cn_json_decode_refresh(f->body, f->body_len, &req, &err) != 0) {
        char msg[160];
        cn_json_error_format(&err, msg, sizeof msg);
        count(s, CN_WS_REFRESH_INVALID);
        sess_app_error(s, receipt, "INVALID_BODY", msg);
        cn_refresh_request_clear(&req);
        return;
    }
    check_token(s, req.access_token, receipt);
    cn_refresh_request_clear(&req);
}
