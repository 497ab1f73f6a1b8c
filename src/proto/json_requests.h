/* Decoders and validation for the JSON request bodies: the STOMP SEND bodies
 * (/app/chat.send, /app/chat.typing, /app/auth.refresh) and every REST body of
 * DESIGN.md "Contracts".
 *
 * Each decoder parses with jansson (which rejects invalid UTF-8, "\u0000" and lone
 * surrogates), rejects duplicate keys, ignores unknown keys, and validates every
 * field. On failure it returns a negative code and fills *err with a field name and a
 * static message, e.g. {"content", "must be 1..4000 characters"}; both are static,
 * client-safe strings. On success the request holds a reference to the parsed
 * document and its strings borrow from it: release it with the matching _clear
 * function (which is also safe after a failed decode). Lengths are in bytes, limits
 * in characters (code points). */
#ifndef CN_PROTO_JSON_REQUESTS_H
#define CN_PROTO_JSON_REQUESTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/chat_types.h"
#include "proto/refresh_token.h"

#define CN_JSON_MAX_BODY      65536u /* bytes: larger bodies fail before parsing */
#define CN_PASSWORD_MIN_CHARS 10
#define CN_PASSWORD_MAX_CHARS 128
#define CN_EMAIL_MAX_CHARS    254
#define CN_TOKEN_MAX_BYTES    4096

enum cn_json_error_code {
    CN_JSON_E_SYNTAX = -1,  /* not JSON, not an object, too large, duplicate key */
    CN_JSON_E_INVALID = -2, /* a field is missing or fails validation */
};

struct cn_json_error {
    const char *field;   /* static: "content", "memberIds", or "body" for the whole */
    const char *message; /* static: "must be 1..4000 characters" */
};

/* Writes "field: message" with a NUL into buf (truncated to cap). Returns the length
 * it needed, like snprintf. */
size_t cn_json_error_format(const struct cn_json_error *e, char *buf, size_t cap);

/* SEND /app/chat.send `{roomId, content, type?, messageKey?}` */
struct cn_send_request {
    int64_t room_id;
    const char *content; /* NUL-terminated, content_len bytes */
    size_t content_len;
    enum cn_message_type type; /* TEXT when absent */
    bool has_message_key;
    char message_key[CN_UUID_STR_LEN + 1]; /* canonical lower case when present */
    json_t *root;
};
int cn_json_decode_send(const char *body, size_t len, struct cn_send_request *out,
                        struct cn_json_error *err);
void cn_send_request_clear(struct cn_send_request *r);

/* The message a read receipt is up to: its id, or its position (the `position` of a
 * MESSAGE body: live MESSAGEs carry no id). At most one is given; neither means the
 * room's latest message (REST's empty body only). Zeroed = neither. */
struct cn_read_target {
    int64_t message_id; /* > 0 when given, else 0 */
    bool has_position;
    int64_t position; /* >= 0 when has_position, else 0 */
};

/* SEND /app/chat.read `{roomId, messageId | position}`: roomId and exactly one of
 * messageId and position (a STOMP client always knows the message it shows;
 * "everything" is REST's empty body). Nothing to clear; on failure both outputs are
 * zeroed. */
int cn_json_decode_read_receipt(const char *body, size_t len, int64_t *room_id,
                                struct cn_read_target *target, struct cn_json_error *err);

/* SEND /app/chat.typing `{roomId}` (no strings, nothing to clear) */
int cn_json_decode_typing(const char *body, size_t len, int64_t *room_id,
                          struct cn_json_error *err);

/* SEND /app/auth.refresh `{accessToken}`: the new JWT for the session */
struct cn_refresh_request {
    const char *access_token;
    size_t access_token_len;
    json_t *root;
};
int cn_json_decode_refresh(const char *body, size_t len, struct cn_refresh_request *out,
                           struct cn_json_error *err);
void cn_refresh_request_clear(struct cn_refresh_request *r);

/* POST /api/auth/signup `{email, password, nickname}` and POST /api/auth/login
 * `{email, password}` (nickname is NULL for login).
 *
 * Sign-up's password: 10..128 characters, not only white space, not on the list of
 * common passwords (src/proto/common_passwords.h; compared ignoring ASCII case).
 * Sign-up's nickname: cleaned by cn_display_name_clean (NFC, trimmed, no control or
 * invisible formatting characters, not blank), then 1..30 characters; `nickname` is
 * the clean form and `nickname_key` its case fold (cn_display_name_key), both owned
 * by the request. Login checks only that the password is 1..128 characters. */
struct cn_auth_request {
    const char *email;
    const char *password;
    size_t password_len;
    char *nickname;     /* owned; NULL for login */
    char *nickname_key; /* owned; NULL for login */
    json_t *root;
};
int cn_json_decode_signup(const char *body, size_t len, struct cn_auth_request *out,
                          struct cn_json_error *err);
int cn_json_decode_login(const char *body, size_t len, struct cn_auth_request *out,
                         struct cn_json_error *err);
void cn_auth_request_clear(struct cn_auth_request *r);

/* POST /api/auth/refresh and POST /api/auth/logout `{refreshToken}`: a token of the
 * shape cn_refresh_token_new makes (43 base64url characters), copied into `token`
 * (NUL-terminated; "" on failure). Nothing to clear. */
int cn_json_decode_refresh_token(const char *body, size_t len,
                                 char token[CN_REFRESH_TOKEN_CHARS + 1], struct cn_json_error *err);

/* POST /api/rooms/direct `{targetUserId}` */
int cn_json_decode_direct_room(const char *body, size_t len, int64_t *target_user_id,
                               struct cn_json_error *err);

/* POST /api/rooms/group `{name, memberIds, visibility?}`: duplicates in memberIds are
 * dropped, first occurrence order kept; at most CN_GROUP_MAX_MEMBERS distinct ids;
 * visibility "private" (the default) or "public". */
struct cn_group_room_request {
    const char *name; /* the cleaned name (display_name.h), NUL-terminated */
    size_t name_len;
    char *clean_name; /* owns what name points to */
    int64_t member_ids[CN_GROUP_MAX_MEMBERS];
    size_t nmembers;
    enum cn_room_visibility visibility;
    json_t *root;
};
int cn_json_decode_group_room(const char *body, size_t len, struct cn_group_room_request *out,
                              struct cn_json_error *err);
void cn_group_room_request_clear(struct cn_group_room_request *r);

/* Invitations: how many joins one may admit and how long it lives. */
#define CN_INVITE_DEFAULT_USES    25
#define CN_INVITE_MAX_USES        1000
#define CN_INVITE_DEFAULT_TTL_S   604800 /* 7 days */
#define CN_INVITE_MIN_TTL_S       60
#define CN_INVITE_MAX_TTL_S       2592000 /* 30 days */
#define CN_INVITE_TOKEN_MAX_CHARS 256

/* POST /api/rooms/{id}/invites `{maxUses?, expiresInSeconds?}`; an empty body takes the
 * defaults. Nothing to clear. */
int cn_json_decode_invite_create(const char *body, size_t len, int *max_uses, int *expires_in_s,
                                 struct cn_json_error *err);

/* POST /api/rooms/join `{inviteToken}`: a string of 1..256 characters (its content is not
 * validated: a malformed token is one that matches no invitation). */
struct cn_invite_join_request {
    const char *token;
    size_t token_len;
    json_t *root;
};
int cn_json_decode_invite_join(const char *body, size_t len, struct cn_invite_join_request *out,
                               struct cn_json_error *err);
void cn_invite_join_request_clear(struct cn_invite_join_request *r);

/* POST /api/rooms/{id}/members `{userIds}`: 1..CN_GROUP_MAX_MEMBERS distinct ids
 * (duplicates dropped, first order kept). Nothing to clear; *n is 0 on failure. */
int cn_json_decode_members_add(const char *body, size_t len, int64_t user_ids[CN_GROUP_MAX_MEMBERS],
                               size_t *n, struct cn_json_error *err);

/* POST /api/rooms/{id}/read `{messageId?, position?}`: at most one of the two; an
 * empty body or `{}` means "everything" (*target zeroed). On failure *target is zeroed. */
int cn_json_decode_read(const char *body, size_t len, struct cn_read_target *target,
                        struct cn_json_error *err);

#endif
