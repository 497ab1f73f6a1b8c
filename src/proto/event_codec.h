/* The Kafka event payloads: msgpack maps with a schema version.
 *
 * ChatMessageEvent (topic chat.messages, key roomId):
 *   {"kind":"ChatMessage","v":1,"messageKey":<uuid str>,"roomId":<int>,"senderId":<int>,
 *    "senderNickname":<str>,"content":<str>,"type":"TEXT"|"IMAGE"|"FILE"|"SYSTEM",
 *    "sentAt":<int, Unix ms>}
 * ReadReceiptEvent (topic chat.read-receipts, key roomId):
 *   {"kind":"ReadReceipt","v":1,"roomId":<int>,"userId":<int>,"messageId":<int>,
 *    "readAt":<int, Unix ms>}
 *
 * Encoding uses msgpack-c's packer. Decoding uses a small bounded reader of our own
 * rather than msgpack-c's unpacker, because the unpacker allocates an array of
 * msgpack_object for the element count an array or map header merely claims (5 bytes
 * can claim 4 billion entries). The reader allocates nothing; decoded strings borrow
 * from the input buffer. Decoding rejects an unknown kind or version and any field of
 * the wrong msgpack type; unknown keys are skipped (forward compatibility), also when
 * their values are nested (up to 32 levels). */
#ifndef CN_PROTO_EVENT_CODEC_H
#define CN_PROTO_EVENT_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "proto/chat_types.h"

#define CN_EVENT_SCHEMA_VERSION 1

enum cn_event_error {
    CN_EVENT_E_MALFORMED = -1, /* not msgpack, truncated, or bytes after the map */
    CN_EVENT_E_NOT_MAP = -2,   /* the top level is not a map */
    CN_EVENT_E_KIND = -3,      /* "kind" missing or another event */
    CN_EVENT_E_VERSION = -4,   /* "v" missing or a version this node does not know */
    CN_EVENT_E_MISSING = -5,   /* a required field is absent */
    CN_EVENT_E_TYPE = -6,      /* a field has the wrong msgpack type */
    CN_EVENT_E_VALUE = -7,     /* a value out of range: bad UUID, UTF-8, length, enum */
    CN_EVENT_E_DEPTH = -8,     /* an unknown value nests too deep */
};

/* Static text for a code. */
const char *cn_event_strerror(int code);

struct cn_chat_message_event {
    char message_key[CN_UUID_STR_LEN + 1]; /* canonical lower case */
    int64_t room_id;
    int64_t sender_id;
    const char *sender_nickname; /* not NUL-terminated when decoded: use the length */
    size_t sender_nickname_len;
    const char *content; /* idem */
    size_t content_len;
    enum cn_message_type type;
    int64_t sent_at_ms;
};

struct cn_read_receipt_event {
    int64_t room_id;
    int64_t user_id;
    int64_t message_id;
    int64_t read_at_ms;
};

/* Encode into a new buffer the caller frees with free(); *len_out gets its size.
 * Cannot fail (OOM aborts). The caller passes valid data (ids > 0, UTF-8 strings). */
char *cn_event_encode_chat_message(const struct cn_chat_message_event *e, size_t *len_out);
char *cn_event_encode_read_receipt(const struct cn_read_receipt_event *e, size_t *len_out);

/* Decode buf[0..len) into *out. Returns 0 or a negative enum cn_event_error; *out is
 * unspecified on error. Strings in *out borrow from buf. */
int cn_event_decode_chat_message(const char *buf, size_t len, struct cn_chat_message_event *out);
int cn_event_decode_read_receipt(const char *buf, size_t len, struct cn_read_receipt_event *out);

#endif
