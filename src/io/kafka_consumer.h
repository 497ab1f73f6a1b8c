/* The Kafka consumer adapter: one librdkafka consumer per consumer group, driven by a
 * thread of its own that posts batches of records to pipeline actors, one actor per
 * assigned partition so that the order of a partition is the order its actor sees.
 *
 * Flow: when the group assigns a partition, the consumer asks the `pipeline` factory
 * for that partition's actor. Records are gathered per partition into batches of up
 * to batch_max records, sent when full or batch_linger_ms after their first record,
 * as a struct cn_kafka_batch (hdr.type = batch_type). The pipeline handles a batch,
 * then calls cn_kafka_consumer_commit with the next offset to read (nothing is
 * committed automatically: offsets move only after the effect), or
 * cn_kafka_consumer_done when it wants to acknowledge without committing.
 *
 * Backpressure: at most max_in_flight batches per partition are out (sent, neither
 * committed nor acknowledged). Beyond that the partition is paused at the broker
 * (rd_kafka_pause_partitions) and resumed when the pipeline catches up; the other
 * partitions keep flowing.
 *
 * Revocation (a rebalance, or the close): pending commits are applied first, then the
 * partition's actor gets a struct cn_kafka_revoke (hdr.type = revoke_type) and its
 * bookkeeping is dropped; commits that still arrive for the partition are dropped
 * (counted). What was not committed is redelivered to the next owner: consumers of
 * this adapter must be idempotent.
 *
 * Records are copied out of librdkafka into the batch (one allocation per batch), so a
 * batch outlives the consumer and the consumer's close never waits for actors. */
#ifndef CN_IO_KAFKA_CONSUMER_H
#define CN_IO_KAFKA_CONSUMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actors/runtime/runtime.h"
#include "io/kafka_producer.h" /* struct cn_kafka_header */

struct cn_kafka_consumer;

/* Returns the pipeline actor for a newly assigned partition; the consumer takes the
 * returned reference and drops it after the revoke message. `c` is the consumer the
 * actor commits to (borrowed: valid until cn_kafka_consumer_free, which runs after the
 * runtime has stopped); it may be called before cn_kafka_consumer_start has returned.
 * Runs on the consumer thread and must not block (spawning an actor is fine). NULL
 * leaves the partition paused (nothing consumed, nothing lost) until it is revoked. */
typedef cn_actor *(*cn_kafka_pipeline_fn)(void *arg, struct cn_kafka_consumer *c, const char *topic,
                                          int32_t partition);

struct cn_kafka_consumer_opts {
    const char *brokers;       /* bootstrap list; borrowed, copied */
    const char *group_id;      /* consumer group; borrowed, copied */
    const char *const *topics; /* subscribed topics; borrowed, copied */
    size_t ntopics;
    cn_kafka_pipeline_fn pipeline; /* required */
    void *pipeline_arg;
    uint32_t batch_type, revoke_type; /* hdr.type of the two messages */
    int batch_max;                    /* records per batch; 0 = 256 */
    int batch_linger_ms;              /* wait for a fuller batch; 0 = 5, -1 = none */
    int max_in_flight;                /* batches per partition; 0 = 32 */
    /* NULL = "roundrobin" (eager). "cooperative-sticky" is supported (incremental
     * assign/unassign), but librdkafka 2.0.2's mock cluster, our dev broker, keeps
     * declaring a cooperative member's partitions lost (5 s cycles, commits refused
     * with ILLEGAL_GENERATION) while the eager protocol rebalances cleanly. */
    const char *assignment_strategy;
    int session_timeout_ms; /* 0 = 10,000 */
    int fetch_wait_ms;      /* fetch.wait.max.ms; 0 = 10 */
    int close_timeout_ms;   /* longest wait to leave the group; 0 = 10,000 */
    const char *client_id;  /* NULL = "chat-node" */
};

/* One record. Pointers point into the batch's own memory. */
struct cn_kafka_record {
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms; /* -1 when the record has none */
    const void *key;      /* NULL for a null key */
    size_t keylen;
    const void *value; /* NULL for a null value */
    size_t len;
    const struct cn_kafka_header *headers; /* in record order; see cn_kafka_record_header */
    size_t nheaders;
};

/* A batch of consecutive records of one partition, in offset order. One allocation:
 * cn_msg_free frees the records, their bytes and `topic`. */
struct cn_kafka_batch {
    cn_msg hdr;
    const char *topic;
    int32_t partition;
    size_t n; /* >= 1 */
    struct cn_kafka_record *records;
    uint64_t consumed_ns; /* cn_now_ns() when its first record was polled: stage latency */
};

/* The partition was taken away from this consumer: stop committing for it. */
struct cn_kafka_revoke {
    cn_msg hdr;
    int32_t partition;
    char topic[]; /* NUL-terminated, part of the message */
};

/* Validates `o` (borrowed), creates the consumer, subscribes and starts the thread.
 * Does not wait for the group to assign anything. Returns the consumer or NULL with a
 * one-line reason in `err`. The caller closes it with cn_kafka_consumer_close and
 * frees it with cn_kafka_consumer_free. */
struct cn_kafka_consumer *cn_kafka_consumer_start(const struct cn_kafka_consumer_opts *o, char *err,
                                                  size_t errlen);

/* Shutdown is two steps, so that pipeline actors may commit at any time until the
 * runtime has stopped:
 *
 * cn_kafka_consumer_close: from its start, commit and done return -ESHUTDOWN. Applies
 * the commits already submitted, leaves the group (waiting at most close_timeout_ms),
 * sends each partition's actor its revoke message and drops the actor reference,
 * drops every record not yet sent, joins the thread and destroys the librdkafka
 * handle. Batches already sent stay valid. The memory stays: any thread may keep
 * calling commit and done (-ESHUTDOWN) and cn_kafka_consumer_stats (no partitions
 * any more). Call it while the actor runtime runs (revokes are sent to actors).
 * Owner thread; idempotent; NULL is a no-op. Cannot fail.
 *
 * cn_kafka_consumer_free: frees everything. The caller makes sure no thread can call
 * into the consumer any more (the actor runtime has shut down). A consumer not closed
 * yet is closed first, which is right only while the runtime still runs (close sends
 * to actors). Owner thread; NULL is a no-op. Cannot fail. */
void cn_kafka_consumer_close(struct cn_kafka_consumer *c);
void cn_kafka_consumer_free(struct cn_kafka_consumer *c);

/* Commits `next_offset` (last handled offset + 1) for the partition, asynchronously,
 * and acknowledges every batch of it that ends at or below that offset. Any thread.
 * Commits of one partition are sent in order; one that does not move the partition
 * forward, or that names a partition no longer assigned, is dropped (counted).
 * Returns 0 (queued), -EINVAL (bad arguments), or -ESHUTDOWN. */
int cn_kafka_consumer_commit(struct cn_kafka_consumer *c, const char *topic, int32_t partition,
                             int64_t next_offset);

/* Acknowledges the `nbatches` oldest batches of the partition without committing
 * (they were handled, their offsets are committed later or never). Any thread.
 * Returns 0, -EINVAL or -ESHUTDOWN. */
int cn_kafka_consumer_done(struct cn_kafka_consumer *c, const char *topic, int32_t partition,
                           size_t nbatches);

/* Finds the last header called `name` of `r`: returns true and sets *value (NULL for
 * a null value) and *len, or returns false when there is none. Pure. */
bool cn_kafka_record_header(const struct cn_kafka_record *r, const char *name, const void **value,
                            size_t *len);

struct cn_kafka_partition_stats {
    char topic[64];
    int32_t partition;
    int64_t committed;      /* last offset the broker confirmed as committed; -1 unknown */
    int64_t high_watermark; /* end offset seen in the last fetch; -1 unknown */
    int64_t lag;            /* high_watermark - committed; -1 when either is unknown */
    uint64_t in_flight;     /* batches out */
    bool paused;            /* by backpressure */
};

struct cn_kafka_consumer_stats {
    uint64_t records, batches;  /* sent to pipelines */
    uint64_t commits;           /* commit requests sent to the broker */
    uint64_t commits_dropped;   /* not assigned, or not moving forward */
    uint64_t commit_errors;     /* the broker refused a commit */
    uint64_t pauses, resumes;   /* backpressure transitions */
    uint64_t assigned, revoked; /* partitions, cumulative */
    uint64_t records_dropped;   /* consumed but never sent (revoked, no pipeline) */
    size_t partitions;          /* assigned right now */
};

/* Fills `out` and up to `cap` entries of `parts` (may be NULL when cap is 0), in no
 * particular order. Returns the number of assigned partitions (may exceed
 * cap). Any thread until cn_kafka_consumer_free; cannot fail. */
size_t cn_kafka_consumer_stats(struct cn_kafka_consumer *c, struct cn_kafka_consumer_stats *out,
                               struct cn_kafka_partition_stats *parts, size_t cap);

#endif
