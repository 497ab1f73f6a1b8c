/* Encoders for the REST responses of DESIGN.md "Contracts", with the camelCase field
 * names Spring clients expect, built with jansson.
 *
 * Builders return a new jansson reference (the caller owns it: json_decref, or hand
 * it to cn_json_dump which takes it) so that responses compose: a room embeds its last
 * message, a login response embeds the user. Field order is fixed and documented in
 * docs/PROTOCOL.md. All inputs are borrowed. Cannot fail (OOM aborts). Strings must be
 * valid UTF-8 (they come from our own validated inputs or the database); an invalid
 * one renders as null rather than producing invalid JSON. */
#ifndef CN_PROTO_JSON_RESPONSES_H
#define CN_PROTO_JSON_RESPONSES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/chat_types.h"

/* `{id,email,nickname,status,lastSeenAt}` */
json_t *cn_json_user(const struct cn_user *u);

/* `{id?,messageKey,roomId,senderId,senderNickname,content,type,createdAt,position}`;
 * the same bytes as cn_message_body_render once dumped. */
json_t *cn_json_message(const struct cn_message *m);

/* `{id,nickname,status,lastSeenAt}`: a user as others see them (no email). */
json_t *cn_json_user_public(const struct cn_user *u);

/* `{id,name,type,visibility,createdBy,createdAt,memberCount,lastMessage,unreadCount,peer}`;
 * peer is cn_json_user_public or null. */
json_t *cn_json_room(const struct cn_room *r);

/* A room plus `members`: an array of users. */
json_t *cn_json_room_detail(const struct cn_room *r, const struct cn_user *members, size_t n);

/* GET /api/rooms: a JSON array of rooms. */
json_t *cn_json_room_list(const struct cn_room *rooms, size_t n);

/* `{messages,nextCursor,hasNext}`; next_cursor <= 0 renders null. */
json_t *cn_json_history_page(const struct cn_message *msgs, size_t n, int64_t next_cursor,
                             bool has_next);

/* A public room as a search lists it (for anyone, so without the last message or a
 * reader's unread count). */
struct cn_public_room {
    int64_t id;
    const char *name;
    int64_t created_by;
    int64_t created_at_ms;
    int64_t member_count;
    bool is_member; /* the searcher's own membership */
};

/* GET /api/rooms/public: `{rooms:[{id,name,type,visibility,createdBy,createdAt,memberCount,
 * isMember}],nextCursor,hasNext}`; next_cursor <= 0 renders null. */
json_t *cn_json_public_rooms_page(const struct cn_public_room *rooms, size_t n, int64_t next_cursor,
                                  bool has_next);

/* An invitation to a room. */
struct cn_invite {
    int64_t id;
    const char *token; /* the bearer token: only in the answer that created it; NULL omits */
    int64_t room_id;
    int64_t created_by;
    int64_t created_at_ms;
    int64_t expires_at_ms;
    int64_t max_uses;
    int64_t uses;
};

/* `{id,token?,roomId,createdBy,createdAt,expiresAt,maxUses,uses}` */
json_t *cn_json_invite(const struct cn_invite *inv);
/* A JSON array of invitations. */
json_t *cn_json_invite_list(const struct cn_invite *invites, size_t n);

/* GET /api/users: `{users:[{id,nickname,status}],nextCursor,hasNext}` (never an email). */
json_t *cn_json_users_page(const struct cn_user *users, size_t n, int64_t next_cursor,
                           bool has_next);

/* A user the caller blocks. */
struct cn_blocked_user {
    int64_t id;
    const char *nickname;
    int64_t blocked_at_ms;
};

/* GET /api/users/blocked: `[{id,nickname,blockedAt}]`. */
json_t *cn_json_blocked_list(const struct cn_blocked_user *users, size_t n);

/* Login and refresh: `{accessToken,tokenType:"Bearer",expiresIn,refreshToken,
 * refreshExpiresAt,user}`; expiresIn in seconds, refreshExpiresAt an ISO-8601 time. */
json_t *cn_json_login(const char *access_token, int64_t expires_in_s, const char *refresh_token,
                      int64_t refresh_expires_at_ms, const struct cn_user *u);

/* `{"error":{"code":…,"message":…}}` */
json_t *cn_json_error_body(const char *code, const char *message);

/* Serializes compactly (no spaces, keys in insertion order) and takes `v`. Returns a
 * NUL-terminated string the caller frees with free(); *len_out (may be NULL) gets its
 * length. Cannot fail (OOM aborts). */
char *cn_json_dump(json_t *v, size_t *len_out);

#endif
