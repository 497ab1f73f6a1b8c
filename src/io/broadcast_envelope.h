/* The envelope the broadcast pipeline publishes on room:{roomId} and keeps in the
 * room's Redis window (a sorted set scored by Kafka offset):
 *
 *     "<offset> <prev> <messageKey>\n<MESSAGE JSON body>"
 *
 * offset is the event's Kafka offset (the message's `position`), prev the offset of
 * the previous message of the same room (-1 when the window knew none), messageKey
 * the canonical UUID (used as the STOMP message-id). The text before the body is
 * short and fixed-format so that the Lua script that publishes can build it with
 * string concatenation, and the room actor can parse it without a JSON parser. */
#ifndef CN_IO_BROADCAST_ENVELOPE_H
#define CN_IO_BROADCAST_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/chat_types.h"

struct cn_bc_envelope {
    int64_t offset;
    int64_t prev;
    char message_key[CN_UUID_STR_LEN + 1];
    const char *body; /* borrowed from the parsed buffer */
    size_t body_len;
};

/* Parses buf[0..len) (borrowed; `out->body` points into it). Returns 0, or -EINVAL
 * for anything that is not an envelope (a negative offset, prev >= offset, a bad
 * key). Pure. */
int cn_bc_envelope_parse(const char *buf, size_t len, struct cn_bc_envelope *out);

#endif
