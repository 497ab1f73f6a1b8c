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

/* `{id,name,type,createdBy,createdAt,memberCount,lastMessage,unreadCount}` */
json_t *cn_json_room(const struct cn_room *r);

/* A room plus `members`: an array of users. */
json_t *cn_json_room_detail(const struct cn_room *r, const struct cn_user *members, size_t n);

/* GET /api/rooms: a JSON array of rooms. */
json_t *cn_json_room_list(const struct cn_room *rooms, size_t n);

/* `{messages,nextCursor,hasNext}`; next_cursor <= 0 renders null. */
json_t *cn_json_history_page(const struct cn_message *msgs, size_t n, int64_t next_cursor,
                             bool has_next);

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
