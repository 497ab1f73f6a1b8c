/* Internal to src/actors/rest: the state of one REST request and the request actor
 * that carries it from the router's decoded input to its HTTP answer.
 *
 * The router fills a cn_rest_req (taking copies of every string it needs) and
 * spawns the actor with it; each endpoint is a step function called with the
 * message that woke the actor (start, a PostgreSQL reply, a hasher reply, a Redis
 * reply). A step either issues the next call and returns, or answers with
 * rest_reply_json / rest_reply_error, which also stops the actor.
 *
 * Memory: the actor owns its cn_rest_req (freed by its state_free, which wipes
 * the password); messages are freed by the step that received them. */
#ifndef CN_ACTORS_REST_REST_REQUEST_H
#define CN_ACTORS_REST_REST_REQUEST_H

#include <jansson.h>

#include "actors/rest/rest.h"
#include "io/pg_rows.h"
#include "proto/chat_types.h"
#include "proto/refresh_token.h"

struct cn_pg_reply;

enum rest_endpoint {
    EP_SIGNUP,
    EP_LOGIN,
    EP_DIRECT_ROOM,
    EP_GROUP_ROOM,
    EP_JOIN,
    EP_LEAVE,
    EP_MY_ROOMS,
    EP_ROOM_DETAIL,
    EP_HISTORY,
    EP_READ,
    EP_REFRESH,
    EP_LOGOUT,
    /* Room access: visibility, invitations, members, closing, search (rest_invites.c,
     * rest_members.c, rest_public_rooms.c), people and blocks (rest_users.c). */
    EP_PUBLIC_ROOMS,
    EP_INVITE_CREATE,
    EP_INVITE_LIST,
    EP_INVITE_REVOKE,
    EP_INVITE_JOIN,
    EP_MEMBERS_ADD,
    EP_MEMBER_REMOVE,
    EP_ROOM_CLOSE,
    EP_USER_SEARCH,
    EP_USER_BLOCK,
    EP_USER_UNBLOCK,
    EP_USERS_BLOCKED,
};

/* Message types the request actor receives. */
enum rest_msg_type {
    REST_MSG_START = 1,
    REST_MSG_PG,
    REST_MSG_HASH,
    REST_MSG_REDIS,
    REST_MSG_KAFKA, /* struct cn_kafka_delivery */
    /* struct cn_membership_done: a membership revocation is applied on every node, or
     * its wait passed (rest_revoke.h) */
    REST_MSG_REVOKED,
};

struct cn_rest_req {
    const struct cn_rest_deps *deps;
    struct cn_http_later later;
    enum rest_endpoint ep;
    cn_actor *self;
    int step;
    int64_t user_id; /* from the token; 0 for signup and login */
    int64_t room_id; /* from the path */
    /* The token's user is not known to exist yet (known_users.h): user_by_id runs
     * before the endpoint's step (rest_request.c); cleared once it has. */
    bool check_user;

    /* Decoded inputs, owned. */
    char *email;
    char *password; /* wiped before it is freed */
    size_t password_len;
    char *nickname;
    char *name;
    int64_t target_id;
    int64_t member_ids[CN_GROUP_MAX_MEMBERS];
    size_t nmembers;
    int64_t message_id;
    bool has_position; /* POST .../read by position: read_position is the message's */
    int64_t read_position;
    int64_t cursor;
    int size;
    int64_t sub_id;   /* the path's second id: an invitation, or a member to remove */
    bool is_public;   /* group create: visibility */
    int max_uses;     /* invite create */
    int expires_in_s; /* invite create */
    char *token;      /* invite join: the bearer token, wiped before it is freed */
    size_t token_len;
    char *q;                /* searches: the query text (valid UTF-8) */
    uint32_t retry_after_s; /* direct room: > 0 when the creation budget is spent (the wait) */

    struct cn_pg_rows *held; /* a row kept between two steps (login: the user) */
    char *cached;            /* a body rendered for the cache, SET after the answer */

    /* Sign-up, login, refresh and logout (rest_auth.c, rest_sessions.c). */
    char *nickname_key;  /* the case fold of nickname (display_name.h) */
    char *password_hash; /* sign-up: kept for a retried insert */
    char *client_addr;   /* the peer's address: login's per-address budget, log lines */
    bool retried;        /* sign-up: the insert ran a second time */
    char refresh_token[CN_REFRESH_TOKEN_CHARS + 1];     /* presented, or issued */
    char refresh_hash[CN_REFRESH_HASH_HEX + 1];         /* its SHA-256 */
    char new_refresh_token[CN_REFRESH_TOKEN_CHARS + 1]; /* refresh: the successor */

    /* This node's number for the request (hex), in the log lines of its turns. */
    char request_id[20];
};

/* Frees req and everything it owns, wiping the password. */
void rest_req_free(void *req);

/* Spawns the request actor (takes req) and starts it. */
void rest_request_start(struct cn_rest_req *req);

/* Answers with JSON body `v` (taken) and status, then stops the actor. */
void rest_reply_json(struct cn_rest_req *req, int status, json_t *v);
/* Answers with a ready body (taken) and status, then stops the actor. */
void rest_reply_body(struct cn_rest_req *req, int status, char *body, size_t len);
/* Answers `{"error":{code,message}}` with status, then stops the actor. */
void rest_reply_error(struct cn_rest_req *req, int status, const char *code, const char *message);
/* rest_reply_error with a Retry-After header (429 and 503 refusals). */
void rest_reply_retry(struct cn_rest_req *req, int status, const char *code, const char *message,
                      uint32_t retry_after_s);

/* Sends a query; its reply arrives as REST_MSG_PG. Answers 503 itself and returns
 * -1 when the pool refuses it. */
int rest_sql(struct cn_rest_req *req, int sql_id, int nparams, const char *const *params);

/* rest_sql for statements whose parameters are all ids: values[i] as decimal text,
 * or SQL NULL where values[i] <= 0 (an absent cursor or message id). */
int rest_sql_ids(struct cn_rest_req *req, int sql_id, int n, const int64_t *values);

/* The first half of most steps: m is the PostgreSQL reply the actor was waiting for.
 * Returns it when the query succeeded; otherwise answers the fitting error, frees m and
 * returns NULL (the actor has answered). */
struct cn_pg_reply *rest_pg_ok(struct cn_rest_req *req, cn_msg *m);

/* The `outcome` column of a statement's first row ("" when there is none). */
const char *rest_outcome(const struct cn_pg_reply *r);

/* Drops the cached room list of every user in `ids_text` (a bigint[] in text form,
 * "{1,2,3}"; NULL or "{}" is none) and of `extra` when > 0. */
void rest_cache_invalidate_text(struct cn_rest_req *req, const char *ids_text, int64_t extra);

/* Counts one more attempt of `kind` against the caller's budget (abuse_limits.h, key
 * "user:<id>"), for counts decided after the fact (a direct room that was new, members
 * that were added). No-op without budgets. */
void rest_budget_note(struct cn_rest_req *req, int kind);

/* Room answers shared by the room endpoints (rest_rooms.c). */
/* Answers the room of the first row (the ROOM columns) with status. */
void rest_reply_room(struct cn_rest_req *req, int status, const struct cn_pg_rows *rows);
/* The refusal of a room statement's outcome: 'not_found' (or anything unexpected) 404
 * ROOM_NOT_FOUND, 'not_member' 403 NOT_A_MEMBER, 'not_group' 409 NOT_GROUP with
 * not_group_msg, 'not_creator' 403 NOT_ROOM_CREATOR. */
void rest_reply_room_refusal(struct cn_rest_req *req, const char *outcome,
                             const char *not_group_msg);
/* 200 `{<id_key>: id, roomId, <what>: true}` (id_key NULL: without it): the answer of a
 * leave, a removal, a closing, a revoked invitation. */
void rest_reply_done(struct cn_rest_req *req, const char *id_key, int64_t id, const char *what);
/* 404 USER_NOT_FOUND naming `field` and the ids of column ids_col ("{12,15}"). */
void rest_reply_unknown_users(struct cn_rest_req *req, const struct cn_pg_rows *rows,
                              const char *ids_col, const char *field);
/* 403 NOT_ALLOWED: the users of ids_col blocked the caller, who may not add them. */
void rest_reply_not_allowed(struct cn_rest_req *req, const struct cn_pg_rows *rows,
                            const char *ids_col, const char *field);

/* Answers the right error for a failed query reply (never a 500 for bad input:
 * constraint violations map to 4xx, outages to 503). */
void rest_reply_sql_error(struct cn_rest_req *req, const char *sqlstate, const char *error);

/* Drops the cached room list of each user (fire and forget; no-op without Redis). */
void rest_cache_invalidate(struct cn_rest_req *req, const int64_t *user_ids, size_t n);

/* Counts a room-list cache hit or miss. */
void rest_counters_cache(struct cn_rest_req *req, bool hit);

/* Answers 200 with a new access token for u, the refresh token given (borrowed) and its
 * expiry: the body of login and refresh (rest_sessions.c). */
void rest_reply_tokens(struct cn_rest_req *req, const struct cn_user *u, const char *refresh_token,
                       int64_t refresh_expires_at_ms);

/* Endpoint steps: each takes the message that woke the actor (NULL = start). */
void rest_signup_step(struct cn_rest_req *req, cn_msg *m);
void rest_login_step(struct cn_rest_req *req, cn_msg *m);
void rest_direct_room_step(struct cn_rest_req *req, cn_msg *m);
void rest_group_room_step(struct cn_rest_req *req, cn_msg *m);
void rest_join_step(struct cn_rest_req *req, cn_msg *m);
void rest_leave_step(struct cn_rest_req *req, cn_msg *m);
void rest_my_rooms_step(struct cn_rest_req *req, cn_msg *m);
void rest_room_detail_step(struct cn_rest_req *req, cn_msg *m);
void rest_history_step(struct cn_rest_req *req, cn_msg *m);
void rest_read_step(struct cn_rest_req *req, cn_msg *m);
void rest_refresh_step(struct cn_rest_req *req, cn_msg *m);
void rest_logout_step(struct cn_rest_req *req, cn_msg *m);
void rest_public_rooms_step(struct cn_rest_req *req, cn_msg *m);
void rest_invite_create_step(struct cn_rest_req *req, cn_msg *m);
void rest_invite_list_step(struct cn_rest_req *req, cn_msg *m);
void rest_invite_revoke_step(struct cn_rest_req *req, cn_msg *m);
void rest_invite_join_step(struct cn_rest_req *req, cn_msg *m);
void rest_members_add_step(struct cn_rest_req *req, cn_msg *m);
void rest_member_remove_step(struct cn_rest_req *req, cn_msg *m);
void rest_room_close_step(struct cn_rest_req *req, cn_msg *m);
void rest_user_search_step(struct cn_rest_req *req, cn_msg *m);
void rest_user_block_step(struct cn_rest_req *req, cn_msg *m);
void rest_user_unblock_step(struct cn_rest_req *req, cn_msg *m);
void rest_users_blocked_step(struct cn_rest_req *req, cn_msg *m);

#endif
