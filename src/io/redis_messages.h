/* The messages the Redis adapter (redis_client.h) sends to actors: the answer to a
 * command (struct cn_redis_reply) and what a subscriber receives (struct
 * cn_redis_pubsub). Plain types, no hiredis: chat actors read them, and the values
 * inside through redis_value.h. */
#ifndef CN_IO_REDIS_MESSAGES_H
#define CN_IO_REDIS_MESSAGES_H

#include <stddef.h>
#include <stdint.h>

#include "actors/runtime/runtime.h"
#include "io/redis_value.h"

/* The answer to one command; the message type is the one given to cn_redis_command.
 * The receiving actor owns it and frees it with cn_msg_free (which frees `reply`). */
struct cn_redis_reply {
    cn_msg hdr;
    uint64_t tag; /* as given to cn_redis_command */
    /* 1 when Redis answered with anything but an error reply. 0 when Redis was
     * unreachable, the connection was lost or timed out, the adapter was closing or
     * closed (cn_redis_close), or Redis answered with an error (then `reply` is that
     * error reply). */
    int ok;
    struct cn_redis_value *reply; /* owned by the message (redis_value.h); NULL when no
                                     answer came from Redis */
    char error[128];              /* why ok == 0, for logs and clients; "" when ok */
};

/* What a subscriber receives; the message type is the one given to cn_redis_subscribe.
 * Freed with cn_msg_free. `channel` and `payload` point into the message itself and
 * are NUL-terminated for convenience (the lengths are authoritative: payloads may hold
 * NUL bytes). */
enum cn_redis_pubsub_kind {
    CN_REDIS_PUBSUB_MESSAGE = 1, /* a message published on `channel` */
    /* `channel` is now subscribed on the server: messages published from now on
     * arrive. Sent once per cn_redis_subscribe that added the actor. payload is "". */
    CN_REDIS_PUBSUB_SUBSCRIBED,
    /* The subscriber connection was lost and is back, `channel` is subscribed again;
     * messages published while it was down were missed. payload is "". */
    CN_REDIS_PUBSUB_RESUBSCRIBED,
};

struct cn_redis_pubsub {
    cn_msg hdr;
    enum cn_redis_pubsub_kind kind;
    const char *channel;
    size_t channel_len;
    const char *payload;
    size_t payload_len;
};

#endif
