/* The rate limiter actor of one STOMP session: the SEND path's per-session state
 * (sliding windows, membership and nickname caches, SENDs in order); see
 * send_sink.h for the whole path. Internal to send_sink.c and send_limiter.c. */
#ifndef CN_ACTORS_SESSION_SEND_LIMITER_H
#define CN_ACTORS_SESSION_SEND_LIMITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actors/session/send_sink.h"
#include "proto/chat_types.h"

#define CN__SEND_ITEM   0x5800
#define CN__SEND_FORGET 0x5803

/* One SEND, as a message to the limiter and then as its queue entry. */
struct cn__send_item {
    cn_msg hdr; /* type CN__SEND_ITEM; free_fn frees content */
    struct cn__send_item *next;
    uint64_t seq;
    int state; /* limiter-private */
    const char *code, *message;
    int close;
    bool is_read; /* SEND /app/chat.read: room_id + message_id, no content */
    int64_t message_id;
    int64_t room_id;
    enum cn_message_type type;
    bool has_key;
    char message_key[CN_UUID_STR_LEN + 1];
    char *content;
    size_t content_len;
    char receipt[]; /* "" when none */
};

/* Spawns the limiter of `session` (borrowed; the limiter keeps a reference) for
 * user `user_id`. Returns one reference for the caller. Cannot fail. */
cn_actor *cn__send_limiter_spawn(struct cn_send_sink *sink, cn_actor *session, int64_t user_id);

#endif
