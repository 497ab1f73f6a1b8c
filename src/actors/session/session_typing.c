/* SEND /app/chat.typing {roomId}: "this user is typing in this room", through
 * Redis only (never Kafka, never PostgreSQL); see docs/PROTOCOL.md, "Typing".
 *
 * Only a room the session is subscribed to (membership was checked by that
 * SUBSCRIBE, so typing needs no query). Throttled twice: the session sends at
 * most one per room every CN__SESSION_TYPING_EVERY_MS to Redis, and one Lua script there
 * (SET typing:{room}:{user} NX PX 3000, then PUBLISH only if it was set) makes it
 * one per user and room across all the user's sessions and nodes. The event goes
 * out on room:{id} like a read event ("event typing <id>\n<JSON>") and the room
 * actors of every node deliver it with `x-event: typing`; it carries
 * `expiresInMs`, and a session drops one that waited longer than that (session_subs.c). */
#include "actors/session/session_typing.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/session/session_output.h"
#include "base/clock.h"
#include "io/redis_client.h"
#include "proto/broadcast_envelope.h"
#include "proto/json_requests.h"

/* Publishes ARGV[2] on KEYS[2] unless KEYS[1] exists; KEYS[1] then lives ARGV[1] ms. */
static const char typing_lua[] = "if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then "
                                 "redis.call('PUBLISH', KEYS[2], ARGV[2]) return 1 end return 0";

static void count(atomic_uint_fast64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed); /* relaxed: a count */
}

void cn__session_typing(struct cn__session *s, const struct cn_stomp_frame *f)
{
    struct cn_ws_counters *c = s->deps->counters;
    const char *receipt = cn_stomp_frame_get(f, "receipt", NULL);
    int64_t room = 0;
    struct cn_json_error err;
    if (cn_json_decode_typing(f->body, f->body_len, &room, &err) != 0) {
        char msg[160];
        cn_json_error_format(&err, msg, sizeof msg);
        cn__session_app_error(s, receipt, "INVALID_BODY", msg);
        return;
    }
    struct cn__session_sub *sub = NULL;
    for (struct cn__session_sub *x = s->subs; x; x = x->next)
        if (x->room_id == room && !x->revoked)
            sub = x;
    if (!sub) {
        cn__session_app_error(s, receipt, "NOT_SUBSCRIBED",
                              "subscribe to /topic/room.{roomId} before sending typing to it");
        return;
    }
    count(&c->typing_in);
    uint64_t now = cn_now_ms();
    if (sub->typing_ms && now - sub->typing_ms < CN__SESSION_TYPING_EVERY_MS) {
        count(&c->typing_throttled);
    } else if (s->deps->redis) {
        sub->typing_ms = now;
        char key[64], chan[32], id[64], body[128], ttl[16];
        snprintf(key, sizeof key, "typing:%" PRId64 ":%" PRId64, room, s->user_id);
        snprintf(chan, sizeof chan, "room:%" PRId64, room);
        snprintf(id, sizeof id, "typing-%" PRId64 "-%" PRId64 "-%" PRId64, room, s->user_id,
                 cn_wall_ms());
        int bl = snprintf(body, sizeof body,
                          "{\"type\":\"TYPING\",\"roomId\":%" PRId64 ",\"userId\":%" PRId64
                          ",\"expiresInMs\":%d}",
                          room, s->user_id, CN_TYPING_TTL_MS);
        snprintf(ttl, sizeof ttl, "%d", CN__SESSION_TYPING_EVERY_MS);
        size_t elen;
        char *event = cn_bc_event_render("typing", id, body, (size_t)bl, &elen);
        /* Defensive: the id is digits and dashes, at most 60 bytes, so it renders. */
        if (event) {
            const char *argv[] = {"EVAL", typing_lua, "2", key, chan, ttl, event};
            size_t argl[] = {4,   sizeof typing_lua - 1, 1, strlen(key), strlen(chan), strlen(ttl),
                             elen};
            /* The answer (published or not) comes back only to be counted. */
            cn_redis_command(s->deps->redis, s->self, CN__SESSION_TYPING_REPLY, 0, 7, argv, argl);
            free(event);
        }
    }
    /* Best effort by nature: the RECEIPT says "taken", not "delivered". */
    cn__session_receipt(s, f);
}

void cn__session_typing_reply(struct cn__session *s, struct cn_redis_reply *r)
{
    if (r->ok && cn_redis_kind(r->reply) == CN_REDIS_INTEGER) {
        if (cn_redis_int(r->reply) == 1)
            count(&s->deps->counters->typing_published);
        else
            count(&s->deps->counters->typing_throttled);
    }
    cn_msg_free(&r->hdr);
}
