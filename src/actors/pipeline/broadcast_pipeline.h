/* The broadcast pipeline: consumer group `chat-broadcast` on chat.messages, one
 * actor per assigned partition. Each event is decoded, its MESSAGE JSON body is
 * rendered once (position = the Kafka offset, no `id` yet), and one Lua EVAL on
 * the Redis command connection appends it to the room's window (a sorted set
 * `room:{id}:window` scored by offset, capped and expiring) and PUBLISHes the
 * envelope (broadcast_envelope.h) on `room:{id}`: one round trip, atomic.
 *
 * The previous offset of the room is read by the script from the window itself,
 * not kept in the partition actor: the window is the one place that survives a
 * restart or a rebalance, and reading it inside the script makes "append, then
 * tell the previous offset" atomic. The same read makes redelivery harmless: an
 * offset at or below the window's newest is neither stored nor published again.
 *
 * A client that gets no RECEIPT (its node died) sends the message again with the
 * same messageKey, so Kafka may hold it twice, at two offsets. A messageKey is its
 * sender's idempotency key within a room: PostgreSQL keeps the first row per (room,
 * sender, messageKey) (ON CONFLICT); the script does the same for subscribers: the
 * room's last `dedup_keys` "<senderId>:<messageKey>" pairs are in the sorted set
 * `room:{id}:keys` (scored by offset, expiring with the window), and a later offset
 * with a known pair is neither stored nor published. The same key from another sender
 * (or in another room) is another message: published, and stored. The room's offset
 * chain (`prev`) skips a retry, as the stored rows do.
 *
 * The per-partition loop is the partition pipeline shell (partition_pipeline.h): one
 * actor per assigned partition, one batch at a time; this file is its step.
 * Offsets are committed after the whole batch is in Redis. A Redis failure
 * retries the batch after a backoff (the script is idempotent), so nothing is
 * skipped while Redis is down; the consumer pauses the partition meanwhile.
 * Undecodable events are skipped and counted (the persistence pipeline owns the
 * DLT). */
#ifndef CN_ACTORS_PIPELINE_BROADCAST_PIPELINE_H
#define CN_ACTORS_PIPELINE_BROADCAST_PIPELINE_H

#include <stddef.h>

#include "actors/runtime/runtime.h"
#include "io/redis_client.h"
#include "actors/room/room_counters.h"

struct cn_broadcast;

struct cn_broadcast_opts {
    cn_runtime *rt;
    struct cn_redis *redis;
    const char *brokers; /* borrowed */
    int window_size;     /* messages kept per room */
    int window_ttl_s;    /* the window expires after this long without a message */
    int dedup_keys;      /* sender+messageKey pairs remembered per room (0 = 4096) */
    int fetch_wait_ms;   /* the consumer's fetch.wait.max.ms (0 = 10) */
    struct cn_fanout_counters *counters; /* borrowed; outlives the pipeline */
};

/* Starts the consumer. Returns the pipeline or NULL with a reason in err. The caller
 * closes it with cn_broadcast_close before the runtime stops and frees it with
 * cn_broadcast_free after. */
struct cn_broadcast *cn_broadcast_start(const struct cn_broadcast_opts *o, char *err,
                                        size_t errlen);

/* Leaves the group: partition actors get their revoke and stop; later commits are
 * refused. Actors may call Redis until their revoke is handled: close Redis after
 * this, free it after the runtime stopped. Owner thread; idempotent; NULL is a no-op;
 * cannot fail. */
void cn_broadcast_close(struct cn_broadcast *b);

/* Frees the consumer and drops the owner's reference: `b` is freed once its actors are
 * finalised too. After the runtime has shut down. Owner thread; NULL is a no-op;
 * cannot fail. */
void cn_broadcast_free(struct cn_broadcast *b);

/* The pipeline's consumer group, for its consumer metrics (consumer_metrics.h). NULL
 * for NULL. Any thread until cn_broadcast_free. */
struct cn_pp_group;
struct cn_pp_group *cn_broadcast_group(struct cn_broadcast *b);

#endif
