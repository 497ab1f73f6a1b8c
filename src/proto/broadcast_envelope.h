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
#ifndef CN_PROTO_BROADCAST_ENVELOPE_H
#define CN_PROTO_BROADCAST_ENVELOPE_H

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

/* A room event without a position (a read receipt), published on the same channel
 * room:{roomId} by the read-receipt pipeline:
 *
 *     "event <name> <id>\n<JSON body>"
 *
 * name is 1..15 lower-case letters (the STOMP `x-event` header: "read"), id 1..64
 * characters of [A-Za-z0-9-] (the STOMP message-id). An envelope starts with a digit or
 * '-', an event with 'e', so one channel carries both unambiguously. Events are never
 * stored in the room's window and carry no offsets: gap repair and resume ignore them. */
#define CN_BC_EVENT_NAME_MAX 15
#define CN_BC_EVENT_ID_MAX   64

struct cn_bc_event {
    char name[CN_BC_EVENT_NAME_MAX + 1];
    char id[CN_BC_EVENT_ID_MAX + 1];
    const char *body; /* borrowed from the parsed buffer */
    size_t body_len;
};

/* Whether buf[0..len) is an event rather than an envelope (it starts with "event ").
 * Pure; cannot fail. */
int cn_bc_is_event(const char *buf, size_t len);

/* Parses an event (buf borrowed; `out->body` points into it). Returns 0, or -EINVAL
 * for a bad name or id or a missing newline. Pure. */
int cn_bc_event_parse(const char *buf, size_t len, struct cn_bc_event *out);

/* Renders "event <name> <id>\n<body>" into a new allocation (caller frees) and sets
 * *len_out. Returns NULL (nothing allocated) for a name or id that
 * cn_bc_event_parse would refuse. */
char *cn_bc_event_render(const char *name, const char *id, const char *body, size_t body_len,
                         size_t *len_out);

#endif
