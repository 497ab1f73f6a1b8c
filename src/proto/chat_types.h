/* The chat data the codecs move between JSON, STOMP bodies and msgpack events: plain
 * structs that borrow their strings, and the enums with their wire names.
 *
 * These are views filled by the caller (from PostgreSQL rows, events or requests);
 * nothing here allocates or frees. */
#ifndef CN_PROTO_CHAT_TYPES_H
#define CN_PROTO_CHAT_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits shared by the decoders, encoders and event codec, in characters (code points). */
#define CN_CONTENT_MAX_CHARS   4000
#define CN_NICKNAME_MAX_CHARS  30
#define CN_ROOM_NAME_MAX_CHARS 100
#define CN_GROUP_MAX_MEMBERS   100
#define CN_UUID_STR_LEN        36

enum cn_message_type { CN_MSG_TEXT = 0, CN_MSG_IMAGE, CN_MSG_FILE, CN_MSG_SYSTEM };
enum cn_room_type { CN_ROOM_DIRECT = 0, CN_ROOM_GROUP };
/* Who may find and join a room: private (members add people or hand out invitations; the
 * default, and always for direct rooms) or public (anyone may find and join it). */
enum cn_room_visibility { CN_ROOM_PRIVATE = 0, CN_ROOM_PUBLIC };

/* "TEXT", "IMAGE", "FILE", "SYSTEM"; "TEXT" for an out-of-range value. */
const char *cn_message_type_name(enum cn_message_type t);
/* Parses the exact upper-case name of n bytes. Returns 0, or -1 when unknown. */
int cn_message_type_parse(const char *s, size_t n, enum cn_message_type *out);
/* "DIRECT" or "GROUP". */
const char *cn_room_type_name(enum cn_room_type t);
/* "private" or "public". */
const char *cn_room_visibility_name(enum cn_room_visibility v);
/* Parses the exact lower-case name of n bytes. Returns 0, or -1 when unknown. */
int cn_room_visibility_parse(const char *s, size_t n, enum cn_room_visibility *out);

/* Validates a UUID in its 36-character text form (either case) and writes the
 * canonical lower-case form plus NUL to out (37 bytes). Returns 0 or -1. */
int cn_uuid_canonical(const char *s, size_t n, char out[CN_UUID_STR_LEN + 1]);

/* user `{id,email,nickname,status,lastSeenAt}` */
struct cn_user {
    int64_t id;
    const char *email;
    const char *nickname;
    const char *status;      /* e.g. "ONLINE", "OFFLINE" */
    int64_t last_seen_at_ms; /* Unix ms; < 0 renders null */
};

/* message `{id,messageKey,roomId,senderId,senderNickname,content,type,createdAt,position}` */
struct cn_message {
    int64_t id;              /* 0: not stored yet, the field is left out */
    const char *message_key; /* canonical UUID, NUL-terminated */
    int64_t room_id;
    int64_t sender_id;
    const char *sender_nickname;
    size_t sender_nickname_len;
    const char *content; /* valid UTF-8, content_len bytes */
    size_t content_len;
    enum cn_message_type type;
    int64_t created_at_ms; /* Unix ms */
    int64_t position;      /* Kafka offset in the room's partition */
};

/* room `{id,name,type,visibility,createdBy,createdAt,memberCount,lastMessage,unreadCount,
 * peer}` */
struct cn_room {
    int64_t id;
    const char *name; /* NULL renders null (a direct room: the peer's nickname) */
    enum cn_room_type type;
    int64_t created_by;
    int64_t created_at_ms;
    int64_t member_count;
    const struct cn_message *last_message; /* NULL renders null */
    int64_t unread_count;
    enum cn_room_visibility visibility;
    const struct cn_user *peer; /* a direct room's other member; NULL renders null */
};

/* Formats Unix milliseconds as ISO-8601 UTC with milliseconds, e.g.
 * "2025-01-02T03:04:05.678Z" (24 characters plus NUL; years 0..9999). Returns the
 * length (24). Cannot fail: out-of-range inputs are clamped to that range. */
size_t cn_format_time_ms(int64_t ms, char out[25]);

#endif
