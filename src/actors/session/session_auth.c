/* CONNECT and /app/auth.refresh; see session_auth.h. */
#include "actors/session/session_auth.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "actors/rest/known_users.h"
#include "actors/session/session_output.h"
#include "actors/session/session_timers.h"
#include "actors/sql/queries.h"
#include "base/clock.h"
#include "base/log.h"
#include "io/pg_pool.h"
#include "proto/json_requests.h"
#include "proto/jwt.h"
#include "proto/stomp_negotiate.h"

static void count(atomic_uint_fast64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed); /* relaxed: a count */
}

/* The Authorization header, in either spelling. */
static const char *authorization(const struct cn_stomp_frame *f)
{
    const char *auth = cn_stomp_frame_get(f, "Authorization", NULL);
    return auth ? auth : cn_stomp_frame_get(f, "authorization", NULL);
}

/* The token checked out and its user exists: the per-user session limit, then the
 * session is open (CONNECTED, heart-beats, expiry timer, presence, directory). */
static void open_session(struct cn__session *s, const char *version, uint32_t cx, uint32_t cy,
                         int64_t user_id, int64_t exp_s)
{
    struct cn_ws_counters *c = s->deps->counters;
    if (cn_user_sessions_acquire(s->deps->user_sessions, user_id) != 0) {
        count(&c->refused[CN_WS_REFUSED_USER_LIMIT]);
        char msg[128];
        snprintf(msg, sizeof msg,
                 "too many sessions for this user (limits.sessions_per_user = %u); retry later",
                 cn_user_sessions_limit(s->deps->user_sessions));
        cn__session_fail(s, NULL, CN_WS_CLOSE_USER_LIMIT, msg);
        return;
    }
    s->user_slot = true;
    count(&c->connects[CN_WS_CONNECT_OK]);
    count(&c->sessions_open);
    s->counted_open = true;
    s->user_id = user_id;
    s->state = CN__SESSION_OPEN;
    s->opened_ms = cn_now_ms();
    cn__session_log_ctx(s);
    CN_INFO("session", "opened (STOMP %s)", version);
    cn_presence_opened(s->deps->presence, s->user_id);
    s->presence_open = true;
    cn_session_dir_opened(s->deps->directory, s->self, s->id, s->user_id, s->peer.client_addr);
    if (s->t_connect)
        cn_timer_cancel(s->deps->rt, s->t_connect);
    s->t_connect = 0;

    /* CONNECTED advertises the node's interval for each direction the client wants
     * (spec: 0 for a direction it declined); what runs is negotiated in
     * cn__session_heartbeat_start. */
    uint32_t hb = s->deps->cfg.heartbeat_ms;
    char hbv[32], user[24];
    snprintf(hbv, sizeof hbv, "%u,%u", cy ? hb : 0, cx ? hb : 0);
    snprintf(user, sizeof user, "%" PRId64, s->user_id);
    struct cn__session_hdr h[] = {{"version", version},
                                  {"heart-beat", hbv},
                                  {"session", s->id},
                                  {"server", "chat-node/" CN_VERSION},
                                  {"user-name", user}};
    cn__session_write(s, CN_STOMP_CONNECTED, h, 5, NULL, 0, false, 0);
    cn__session_heartbeat_start(s, cx, cy);
    s->exp_s = exp_s;
    cn__session_arm_expiry(s);
}

void cn__session_connect(struct cn__session *s, const struct cn_stomp_frame *f)
{
    struct cn_ws_counters *c = s->deps->counters;
    /* The transport applied the same rule to this frame (ws_link.h). */
    int max_minor = s->peer.stomp_max_minor ? s->peer.stomp_max_minor : 12; /* 0: unset */
    const char *version =
        cn_stomp_version_pick(cn_stomp_frame_get(f, "accept-version", NULL), max_minor);
    if (!version) {
        count(&c->connects[CN_WS_CONNECT_BAD_VERSION]);
        cn__session_fail(s, NULL, CN_WS_CLOSE_PROTOCOL,
                         max_minor == 12 ? "unsupported STOMP version: this server speaks 1.0, "
                                           "1.1 and 1.2"
                         : max_minor == 11
                             ? "unsupported STOMP version: the v11.stomp subprotocol speaks 1.0 "
                               "and 1.1"
                             : "unsupported STOMP version: the v10.stomp subprotocol speaks 1.0");
        return;
    }
    s->raw = strcmp(version, "1.0") == 0;
    uint32_t cx, cy;
    if (cn_stomp_heartbeat_parse(cn_stomp_frame_get(f, "heart-beat", NULL), &cx, &cy) != 0) {
        count(&c->connects[CN_WS_CONNECT_BAD_HEADER]);
        cn__session_fail(s, NULL, CN_WS_CLOSE_PROTOCOL,
                         cn_stomp_strerror(CN_STOMP_E_BAD_HEARTBEAT));
        return;
    }
    /* The token: Authorization: Bearer <jwt>, or the passcode header holding it
     * (what many JavaScript clients can set). */
    const char *auth = authorization(f);
    const char *token = NULL;
    size_t token_len = 0;
    if (auth) {
        if (cn_jwt_from_authorization(auth, &token, &token_len) != 0) {
            count(&c->connects[CN_WS_CONNECT_BAD_TOKEN]);
            cn__session_fail(s, NULL, CN_WS_CLOSE_AUTH,
                             "authentication failed: Authorization must be 'Bearer <token>'");
            return;
        }
    } else if ((token = cn_stomp_frame_get(f, "passcode", NULL)) != NULL) {
        if (strncasecmp(token, "Bearer ", 7) == 0)
            token += 7;
    }
    if (!token || !*token) {
        count(&c->connects[CN_WS_CONNECT_NO_TOKEN]);
        cn__session_fail(s, NULL, CN_WS_CLOSE_AUTH,
                         "authentication required: send Authorization: Bearer <token>");
        return;
    }
    struct cn_token_claims claims;
    int rc = cn_jwt_verify(&s->deps->jwt, token, (int64_t)time(NULL), &claims);
    if (rc != 0) {
        count(
            &c->connects[rc == CN_JWT_EEXPIRED ? CN_WS_CONNECT_EXPIRED : CN_WS_CONNECT_BAD_TOKEN]);
        char msg[96];
        snprintf(msg, sizeof msg, "authentication failed: %s", cn_jwt_strerror(rc));
        cn__session_fail(s, NULL, CN_WS_CLOSE_AUTH, msg);
        return;
    }
    if (cn_known_users_has(s->deps->known_users, claims.user_id)) {
        open_session(s, version, cx, cy, claims.user_id, claims.exp);
        return;
    }
    /* A signed token of a user this node has not seen: is the user there? The frames
     * that follow wait (session.c) until the answer is in. */
    char uid[24];
    snprintf(uid, sizeof uid, "%" PRId64, claims.user_id);
    const char *params[] = {uid};
    if (cn_pg_pool_query(s->deps->pg, s->self, CN__SESSION_PG, 0, cn_sql(CN_SQL_USER_BY_ID), 1,
                         params) != 0) {
        cn__session_fail(s, NULL, CN_WS_CLOSE_AUTH,
                         "authentication unavailable: the database is busy; retry shortly");
        return;
    }
    s->connect_pending = true;
    s->connect_version = version;
    s->connect_cx = cx;
    s->connect_cy = cy;
    s->connect_user_id = claims.user_id;
    s->connect_exp_s = claims.exp;
}

void cn__session_connect_user(struct cn__session *s, struct cn_pg_reply *r)
{
    s->connect_pending = false;
    if (s->state != CN__SESSION_AWAIT_CONNECT) { /* closed meanwhile (connect timeout) */
        cn_msg_free(&r->hdr);
        return;
    }
    if (!r->ok) {
        CN_WARN("ws", "session %s: user_by_id failed (%s): %s", s->id,
                r->sqlstate[0] ? r->sqlstate : "-", r->error);
        cn__session_fail(s, NULL, CN_WS_CLOSE_AUTH,
                         "authentication unavailable: the database did not answer; retry shortly");
    } else if (cn_pg_rows_count(r->rows) == 0) {
        count(&s->deps->counters->connects[CN_WS_CONNECT_BAD_TOKEN]);
        cn__session_fail(s, NULL, CN_WS_CLOSE_AUTH,
                         "authentication failed: the user of this token does not exist");
    } else {
        cn_known_users_add(s->deps->known_users, s->connect_user_id);
        open_session(s, s->connect_version, s->connect_cx, s->connect_cy, s->connect_user_id,
                     s->connect_exp_s);
    }
    cn_msg_free(&r->hdr);
}

static void count_refresh(struct cn__session *s, int result)
{
    count(&s->deps->counters->refreshes[result]);
}

static void check_token(struct cn__session *s, const char *token, const char *receipt)
{
    struct cn_token_claims claims;
    int rc = cn_jwt_verify(&s->deps->jwt, token, (int64_t)time(NULL), &claims);
    if (rc != 0) {
        char msg[96];
        snprintf(msg, sizeof msg, "token refused: %s", cn_jwt_strerror(rc));
        count_refresh(s, CN_WS_REFRESH_INVALID);
        cn__session_app_error(s, receipt, "INVALID_TOKEN", msg);
        return;
    }
    if (claims.user_id != s->user_id) {
        count_refresh(s, CN_WS_REFRESH_WRONG_USER);
        cn__session_app_error(s, receipt, "WRONG_USER",
                              "the token is for another user than the one connected");
        return;
    }
    count_refresh(s, CN_WS_REFRESH_OK);
    s->exp_s = claims.exp;
    cn__session_arm_expiry(s);
    cn__session_receipt_id(s, receipt);
}

void cn__session_refresh(struct cn__session *s, const struct cn_stomp_frame *f)
{
    const char *receipt = cn_stomp_frame_get(f, "receipt", NULL);
    const char *auth = authorization(f);
    if (auth) {
        const char *token;
        size_t len;
        if (cn_jwt_from_authorization(auth, &token, &len) != 0) {
            count_refresh(s, CN_WS_REFRESH_INVALID);
            cn__session_app_error(s, receipt, "INVALID_TOKEN",
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
        count_refresh(s, CN_WS_REFRESH_INVALID);
        cn__session_app_error(s, receipt, "INVALID_BODY", msg);
        cn_refresh_request_clear(&req);
        return;
    }
    check_token(s, req.access_token, receipt);
    cn_refresh_request_clear(&req);
}
