/* The persistence pipeline (consumer group chat-persistence): every ChatMessageEvent of
 * chat.messages is stored in PostgreSQL exactly once, and offsets move only after that.
 *
 * The per-partition loop is the partition pipeline shell (partition_pipeline.h): one
 * actor per assigned partition, one batch at a time, so two batches of one partition
 * are never in flight and a room's rows get ids in Kafka order. This pipeline's step
 * (persist_step.c):
 *   decode -> one messages_insert_batch round trip (idempotent: replays and duplicates
 *   insert nothing; unread counts are counted when read) -> drop the cached room
 *   lists (rooms:{userId}) of every member of the rooms that got rows (one
 *   room_member_ids_many statement, one DEL) -> the shell commits the batch's offsets.
 * A failed insert is retried `retries` times on runtime timers (backoff x4 from
 * retry_backoff_ms: 100, 400, 1600 ms by default); then the events are inserted one by
 * one and those that fail alone go to chat.messages.dlt with the error and their
 * origin in headers, and the offsets are committed. A record that does not decode goes
 * to the DLT at once, without retries.
 *
 * Shutdown: cn_persist_close stops the consumer (actors get their revoke and stop).
 * Actors may call the pool, the producer and Redis until their revoke is handled, so
 * the caller closes those (they refuse later calls with -ESHUTDOWN or fail them at
 * once) before the runtime stops and frees them only after it stopped. A refusal by a closed
 * adapter leaves the batch uncommitted and out of the DLT: it is redelivered after the restart. */
#ifndef CN_ACTORS_PIPELINE_PERSIST_H
#define CN_ACTORS_PIPELINE_PERSIST_H

#include <stdint.h>

#include "actors/runtime/runtime.h"
#include "base/strbuf.h"
#include "io/kafka_consumer.h"
#include "io/kafka_producer.h"
#include "io/pg_pool.h"
#include "io/redis_client.h"

struct cn_persist;

struct cn_persist_opts {
    cn_runtime *rt;                /* borrowed; outlives the pipeline */
    const char *brokers;           /* borrowed, copied */
    const char *group_id;          /* NULL = "chat-persistence" */
    const char *topic;             /* NULL = "chat.messages" */
    const char *dlt_topic;         /* NULL = "<topic>.dlt" (same partition count) */
    struct cn_pg_pool *pg;         /* borrowed; freed after the runtime stopped */
    struct cn_kafka_producer *dlt; /* borrowed; freed after the runtime stopped */
    struct cn_redis *redis;        /* borrowed; NULL = no cache invalidation */
    int batch_max;                 /* records per batch; 0 = 256 */
    int batch_linger_ms;           /* 0 = 5 */
    int retries;                   /* insert retries before the DLT; 0 = none */
    int retry_backoff_ms;          /* first retry delay, x4 per retry; 0 = 100 */
    int fetch_wait_ms;             /* the consumer's fetch.wait.max.ms; 0 = 10 */
};

/* Counters; the per-partition committed offsets come from the consumer. */
struct cn_persist_stats {
    uint64_t batches;       /* batches handled to the end (stored or sent to the DLT) */
    uint64_t rows_inserted; /* rows the inserts returned */
    uint64_t duplicates;    /* decoded events that inserted nothing (replays) */
    uint64_t retries;       /* insert attempts after the first */
    uint64_t dlt_records;   /* records acknowledged by the DLT */
    uint64_t dlt_decode;    /* of those, records that did not decode */
    uint64_t dlt_failures;  /* DLT produce attempts that failed (retried) */
    uint64_t invalidations; /* rooms:{userId} keys deleted (DEL commands' keys) */
    uint64_t commits;       /* commit requests made (one per batch: = batches) */
};

/* Validates `o` (borrowed), starts the consumer for the group and returns the pipeline,
 * or NULL with a one-line reason in `err`. Owner thread. Freed by cn_persist_free. */
struct cn_persist *cn_persist_start(const struct cn_persist_opts *o, char *err, size_t errlen);

/* Stops the consumer (leaving the group; actors drop their work: what was not
 * committed is redelivered to the next owner). Call before closing the pool, the
 * producer and Redis, and before the runtime stops. Stats and metrics stay readable
 * (without the consumer's partitions) until cn_persist_free. Owner thread; idempotent;
 * NULL is a no-op. Cannot fail. */
void cn_persist_close(struct cn_persist *p);

/* Frees the consumer and drops the owner's reference: `p` is freed once its actors are
 * finalised too. After the runtime has shut down. No thread may use `p` afterwards.
 * Owner thread; NULL is a no-op. Cannot fail. */
void cn_persist_free(struct cn_persist *p);

/* Fills `out` (caller memory). Any thread until cn_persist_free; cannot fail. */
void cn_persist_stats(struct cn_persist *p, struct cn_persist_stats *out);

/* Appends the pipeline's Prometheus metrics (chat_persist_*) to `b`, including the
 * consumer's per-partition committed offsets (lag and assignment are the consumer
 * metrics of every group: consumer_metrics.h). NULL `p` appends nothing. Any thread
 * until cn_persist_free; cannot fail. */
void cn_persist_metrics_render(struct cn_strbuf *b, struct cn_persist *p);

/* The pipeline's consumer group (consumer_metrics.h). NULL for NULL. Any thread until
 * cn_persist_free. */
struct cn_pp_group;
struct cn_pp_group *cn_persist_group(struct cn_persist *p);

#endif
