/* The read-receipt pipeline (consumer group chat-read-receipt on chat.read-receipts):
 * every ReadReceiptEvent (proto/event_codec.h) moves its member's read position in
 * PostgreSQL, drops the reader's cached room list and tells the room's subscribers.
 *
 * Producers: POST /api/rooms/{id}/read (rest_rooms.c) and SEND /app/chat.read (the
 * session's limiter, send_limiter.c) check membership and the message with
 * read_receipt_check, then produce the event keyed by the decimal room id, so a room's
 * receipts are applied in the order Kafka holds them.
 *
 * The per-partition loop is the partition pipeline shell (partition_pipeline.h): one
 * actor per assigned partition, ONE batch at a time. This pipeline's step
 * (read_receipts_step.c):
 *   decode (an undecodable record goes to chat.read-receipts.dlt at once, stage
 *   "decode", 0 attempts) -> one read_receipts_apply round trip (per member only the
 *   batch's highest message counts; the position never moves backwards; idempotent)
 *   -> for each membership that moved: one DEL of the readers' rooms:{userId} keys,
 *   and a PUBLISH on room:{roomId} of a "read" event (broadcast_envelope.h) that room
 *   actors forward to their subscribers -> commit.
 * A failed apply is retried `retries` times on runtime timers (backoff x4 from
 * retry_backoff_ms: 100, 400, 1600 ms by default), like the persistence pipeline's
 * inserts; then every decoded record of the batch goes to chat.read-receipts.dlt
 * (stage "apply") with the error and its origin in headers (the headers of
 * chat.messages.dlt, partition_pipeline.h) and the batch is committed once the DLT
 * acknowledged them, so the partition moves on. The statement touches only integers
 * and cannot fail for bad data: what lands there is an outage's, and `chat-admin dlt
 * replay --topic chat.read-receipts.dlt` puts it back (applying a receipt twice
 * changes nothing). The DEL and PUBLISH are fire and forget: a lost DEL leaves a list
 * that expires by its TTL, a lost event is what Pub/Sub gives anyway (clients see the
 * position in GET /api/rooms).
 *
 * Shutdown: cn_read_receipts_close stops the consumer (actors get their revoke and
 * stop). Actors may call the pool and Redis until their revoke is handled, so the
 * caller closes those (and the DLT producer) before the runtime stops and frees them only after
 * it stopped; a refusal by a closed pool or producer leaves the batch uncommitted and out of the
 * DLT, for redelivery. Memory: the pipeline owns copies of its strings; actors hold a reference
 * each, the last drop frees. */
#ifndef CN_ACTORS_PIPELINE_READ_RECEIPTS_H
#define CN_ACTORS_PIPELINE_READ_RECEIPTS_H

#include <stdbool.h>
#include <stdint.h>

#include "actors/runtime/runtime.h"
#include "base/strbuf.h"
#include "io/kafka_producer.h"
#include "io/pg_pool.h"
#include "io/redis_client.h"

#define CN_READ_RECEIPTS_TOPIC     "chat.read-receipts"
#define CN_READ_RECEIPTS_DLT_TOPIC "chat.read-receipts.dlt"
#define CN_READ_RECEIPTS_GROUP     "chat-read-receipt"

struct cn_read_receipts;

struct cn_read_receipts_opts {
    cn_runtime *rt;         /* borrowed; outlives the pipeline */
    const char *brokers;    /* borrowed, copied */
    struct cn_pg_pool *pg;  /* borrowed; freed after the runtime stopped */
    struct cn_redis *redis; /* borrowed; required (the room events) */
    /* borrowed; freed after the runtime stopped. Required: a receipt that cannot be
     * applied is parked there rather than lost. */
    struct cn_kafka_producer *dlt;
    bool invalidate_cache; /* drop rooms:{userId} (false when the room cache is off) */
    int batch_max;         /* records per batch; 0 = 256 */
    int retries;           /* apply retries before the DLT; 0 = 3, -1 = none */
    int retry_backoff_ms;  /* first retry delay, x4 per retry; 0 = 100 */
    int fetch_wait_ms;     /* the consumer's fetch.wait.max.ms; 0 = 10 */
};

struct cn_read_receipts_stats {
    uint64_t batches;       /* batches applied and committed */
    uint64_t events;        /* decoded events */
    uint64_t moved;         /* memberships whose read position moved */
    uint64_t bad;           /* records that did not decode (sent to the DLT) */
    uint64_t retries;       /* apply attempts after a failure */
    uint64_t dlt_records;   /* records acknowledged by the DLT (undecodable or given up) */
    uint64_t dlt_failures;  /* DLT produce attempts refused or failed (retried) */
    uint64_t invalidations; /* rooms:{userId} keys deleted */
    uint64_t published;     /* read events published */
};

/* Validates `o` (borrowed), starts the consumer and returns the pipeline, or NULL with
 * a one-line reason in `err`. Owner thread. Freed by cn_read_receipts_free. */
struct cn_read_receipts *cn_read_receipts_start(const struct cn_read_receipts_opts *o, char *err,
                                                size_t errlen);

/* Stops the consumer (uncommitted batches are redelivered to the next owner). Call
 * before closing the pool and Redis, and before the runtime stops. Owner thread;
 * idempotent; NULL is a no-op. Cannot fail. */
void cn_read_receipts_close(struct cn_read_receipts *p);

/* Frees the consumer and drops the owner's reference (`p` goes with its last actor).
 * After the runtime has shut down. Owner thread; NULL is a no-op. Cannot fail. */
void cn_read_receipts_free(struct cn_read_receipts *p);

/* The pipeline's consumer group (consumer_metrics.h). NULL for NULL. Any thread until
 * cn_read_receipts_free. */
struct cn_pp_group;
struct cn_pp_group *cn_read_receipts_group(struct cn_read_receipts *p);

/* Fills `out` (caller memory). Any thread until cn_read_receipts_free; cannot fail. */
void cn_read_receipts_stats(struct cn_read_receipts *p, struct cn_read_receipts_stats *out);

/* Appends chat_read_receipts_* to `b`; NULL `p` appends nothing. Any thread until
 * cn_read_receipts_free; cannot fail. */
void cn_read_receipts_metrics_render(struct cn_strbuf *b, struct cn_read_receipts *p);

/* Enough for cn_read_event_body with any three int64 ids. */
#define CN_READ_EVENT_BODY_MAX 128

/* The JSON body of the MESSAGE a room's subscribers get for a read receipt,
 * {"type":"READ","roomId":..,"userId":..,"messageId":..}, NUL-terminated into buf (cap
 * bytes). Returns its length, or -1 when cap is too small (CN_READ_EVENT_BODY_MAX
 * always suffices). Pure. */
int cn_read_event_body(char *buf, size_t cap, int64_t room_id, int64_t user_id, int64_t message_id);

#endif
