/* The room actor: one per room that has subscribers on this node. It keeps the
 * room's local subscriptions (session, sub_key), listens on Redis channel
 * room:{id} (cn_redis_subscribe), and turns each envelope (broadcast_envelope.h)
 * into one shared MESSAGE tail delivered to every subscription, in offset order.
 *
 * Gap check: each envelope names the previous offset of the room. When that is
 * not the offset this actor delivered last (a message was published while the
 * subscriber connection was down), or the adapter reports RESUBSCRIBED, the actor
 * repairs: it reads what follows its last offset from the room's Redis window,
 * and from PostgreSQL (room_messages_after_offset) for what the window no longer
 * holds, delivers that in order, and only then the envelopes that arrived
 * meanwhile. Offsets at or below the last delivered are dropped, so nothing is
 * delivered twice. Deliveries go through cn_session_deliver, which only queues:
 * a slow session never holds the room up.
 *
 * Resume: a JOIN may carry a position; that subscription alone gets what
 * followed it (window, else PostgreSQL) before any live message, deduplicated
 * against the live ones held for it meanwhile (see "Resume" in room_actor.c).
 *
 * The repair and each resume read "the room's messages after position X" with one
 * reader (room_catchup.h): the repair's gives to every subscription, a resume's to
 * its own.
 *
 * Joins: each JOIN is answered with cn_session_joined once Redis confirmed the
 * channel (at once after that), which releases the SUBSCRIBE's RECEIPT; a
 * resume's catch-up starts then too, so the window read and live delivery leave
 * no hole between them.
 *
 * The actor is created and told about subscriptions by the room registry
 * (room_registry.h), which also sends the final stop. */
#ifndef CN_ACTORS_ROOM_ROOM_ACTOR_H
#define CN_ACTORS_ROOM_ROOM_ACTOR_H

#include <stdint.h>

#include "actors/runtime/runtime.h"
#include "io/pg_pool.h"
#include "io/redis_client.h"
#include "actors/room/room_counters.h"
#include "actors/room/room_rate.h"

#define CN_ROOM_JOIN  0x6301
#define CN_ROOM_LEAVE 0x6302
#define CN_ROOM_STOP  0x6303

/* JOIN / LEAVE of one subscription. The message holds a reference to `session`
 * (cn_actor_ref by the sender); the room takes it over on JOIN and drops it on
 * LEAVE. Allocate with cn_room_member_msg. */
struct cn_room_member_msg {
    cn_msg hdr;
    cn_actor *session;
    uint64_t sub_key;
    int64_t resume_after; /* JOIN: the position to resume after, -1 none */
};

/* A JOIN or LEAVE (type) for `session` (borrowed; the message takes a reference).
 * resume_after >= 0 (JOIN): the subscription first gets the room's messages
 * after that position (window, else PostgreSQL), then live ones. Cannot fail. */
cn_msg *cn_room_member_msg(uint32_t type, cn_actor *session, uint64_t sub_key,
                           int64_t resume_after);

/* What a room actor needs; borrowed, outlives every room actor. */
struct cn_room_deps {
    struct cn_redis *redis;
    struct cn_pg_pool *pg;
    struct cn_fanout_counters *counters;
};

/* Spawns the actor of room `room_id` and subscribes it to room:{id}. Returns one
 * reference for the caller. *rate (when rate is non-NULL) is the room's message
 * rate (room_rate.h), in the actor's state: readable until the actor is sent
 * CN_ROOM_STOP. Any thread; cannot fail. */
cn_actor *cn_room_actor_spawn(cn_runtime *rt, const struct cn_room_deps *deps, int64_t room_id,
                              const struct cn_room_rate **rate);

#endif
