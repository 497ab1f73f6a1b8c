/* The Kafka producer adapter: one idempotent librdkafka producer per process, shared
 * by every thread, with a thread of its own that serves delivery reports.
 *
 * Any thread produces with cn_kafka_produce (rd_kafka_t is thread-safe, so there is
 * no hand-off queue of ours: librdkafka's own queue is the buffer and its bound is the
 * backpressure). The outcome of each accepted record travels back to the asking actor
 * as a struct cn_kafka_delivery. The producer is idempotent with acks=all, so ok = 1
 * means every in-sync replica has the record: "durably accepted", never "maybe".
 *
 * Room -> partition: a record produced with CN_KAFKA_PARTITION_BY_KEY goes to
 * cn_kafka_partition_for_key(key, partition count), which is Kafka's Java default
 * partitioner (murmur2 of the key bytes, sign bit cleared, modulo the count), so every
 * node and every Kafka client computes the same partition for the same room. The
 * producer uses librdkafka's `murmur2_random` partitioner, which is that function;
 * the integration test proves that records land where the function says.
 *
 * Failure model: a record that cannot be queued is refused synchronously with a
 * negative errno and no report. Every accepted record gets exactly one report: the
 * broker's acknowledgement, an error (message.timeout.ms passed with its partition
 * unavailable, a broker error), or a purge by cn_kafka_producer_close. Outages are
 * logged once per transition, not once per record. */
#ifndef CN_IO_KAFKA_PRODUCER_H
#define CN_IO_KAFKA_PRODUCER_H

#include <stddef.h>
#include <stdint.h>

#include "actors/runtime/runtime.h"
#include "base/strbuf.h"

struct cn_kafka_producer;

/* `partition` value of cn_kafka_produce: the partition is chosen from the key. */
#define CN_KAFKA_PARTITION_BY_KEY (-1)

struct cn_kafka_producer_opts {
    const char *brokers;     /* bootstrap list host:port,...; borrowed, copied */
    int linger_ms;           /* batching delay; 0 = 2, -1 = none */
    const char *compression; /* "none", "lz4", ...; NULL = "none" (see the .c for why) */
    int message_timeout_ms;  /* delivery deadline of one record; 0 = 30,000 */
    int max_queue;           /* records queued in librdkafka; 0 = 100,000 */
    int flush_timeout_ms;    /* cn_kafka_producer_close's wait for delivery; 0 = 5,000 */
    const char *client_id;   /* NULL = "chat-node" */
};

/* Starts a producer with the defaults above. See cn_kafka_producer_start_opts. */
struct cn_kafka_producer *cn_kafka_producer_start(const char *brokers, char *err, size_t errlen);

/* Validates `o` (borrowed), creates the librdkafka handle and starts the delivery
 * thread. Does not wait for the cluster: an unreachable cluster shows as records that
 * fail at their deadline. Returns the producer, or NULL with a one-line reason in `err`
 * (bad options, a configuration librdkafka refuses). The caller owns the producer: it
 * closes it with cn_kafka_producer_close and frees it with cn_kafka_producer_free.
 * Any thread. */
struct cn_kafka_producer *cn_kafka_producer_start_opts(const struct cn_kafka_producer_opts *o,
                                                       char *err, size_t errlen);

/* Shutdown is two steps, so that actors may produce at any time until the runtime
 * has stopped:
 *
 * cn_kafka_producer_close: from now on cn_kafka_produce returns -ESHUTDOWN (no
 * report). Waits up to flush_timeout_ms for the records in flight to be delivered,
 * purges the rest (each gets a failed report, "producer stopping"), sends every
 * remaining report (dropping the actor references), stops the delivery thread and
 * destroys the librdkafka handle. The memory stays: any thread may keep calling
 * cn_kafka_produce (-ESHUTDOWN), cn_kafka_producer_stats and the metrics render. Call
 * it while the actor runtime runs (reports are sent to actors). Owner thread;
 * idempotent; NULL is a no-op. Cannot fail.
 *
 * cn_kafka_producer_free: frees everything. The caller makes sure no thread can call
 * into the producer any more (the actor runtime has shut down, the metrics page is
 * gone). A producer not closed yet is closed first, which is right only while the
 * runtime still runs (close sends to actors). Owner thread; NULL is a no-op. Cannot
 * fail. */
void cn_kafka_producer_close(struct cn_kafka_producer *p);
void cn_kafka_producer_free(struct cn_kafka_producer *p);

/* A record header: `name` is a C string, `value` (may be NULL for a null value) is
 * `len` bytes. Borrowed by cn_kafka_produce, which copies it. */
struct cn_kafka_header {
    const char *name;
    const void *value;
    size_t len;
};

/* Queues one record. Any thread. Copies `topic`, `key` (keylen bytes; NULL = no key),
 * `value` (len bytes; NULL = a null value) and the `nheaders` headers.
 * `partition` is CN_KAFKA_PARTITION_BY_KEY (needs a key) or an explicit partition.
 * `reply_to` is borrowed: the producer holds its own reference until the report is
 * sent. NULL means fire and forget (the outcome is only counted). The report is a
 * struct cn_kafka_delivery with hdr.type = msg_type and tag = `tag`; the receiving
 * behaviour owns it and frees it with cn_msg_free.
 * Returns 0 (exactly one report follows), or, with no report:
 *   -EINVAL     NULL producer/topic, BY_KEY without a key, a partition < -1, an
 *               unknown topic or partition, a record over message.max.bytes;
 *   -EAGAIN     librdkafka's queue holds max_queue records (back off: backpressure);
 *   -ESHUTDOWN  the producer is closed (cn_kafka_producer_close);
 *   -EIO        the producer hit a fatal error (logged) and produces no more. */
int cn_kafka_produce(struct cn_kafka_producer *p, const char *topic, int32_t partition,
                     const void *key, size_t keylen, const void *value, size_t len,
                     const struct cn_kafka_header *headers, size_t nheaders, cn_actor *reply_to,
                     uint32_t msg_type, uint64_t tag);

/* A short static text for a cn_kafka_produce return code. Cannot fail. */
const char *cn_kafka_produce_strerror(int rc);

/* The outcome of one record. */
struct cn_kafka_delivery {
    cn_msg hdr;
    uint64_t tag;
    int ok;            /* 1 = acknowledged by all in-sync replicas */
    int32_t partition; /* where it went (or was meant to go); -1 when never chosen */
    int64_t offset;    /* its offset when ok, else -1 */
    char error[128];   /* librdkafka's reason when !ok, else "" */
};

/* Kafka's default (Java) partitioner: (murmur2(key) & 0x7fffffff) % partitions, with
 * murmur2's seed 0x9747b28c. The same key and count give the same partition on every
 * node, in every language. Returns -1 when partitions < 1. Any thread; pure. */
int32_t cn_kafka_partition_for_key(const void *key, size_t len, int32_t partitions);

/* The raw 32-bit murmur2 hash of Kafka's partitioner (for tests against published
 * values). Pure. */
uint32_t cn_kafka_murmur2(const void *key, size_t len);

#define CN_KAFKA_LATENCY_BUCKETS 12
extern const uint64_t cn_kafka_latency_bounds_us[CN_KAFKA_LATENCY_BUCKETS];

struct cn_kafka_producer_stats {
    uint64_t produced;  /* accepted by cn_kafka_produce */
    uint64_t delivered; /* reports with ok = 1 */
    uint64_t failed;    /* reports with ok = 0 */
    uint64_t rejected;  /* refused with -EAGAIN */
    uint64_t in_flight; /* accepted, not yet reported */
    uint64_t outages;   /* transitions into "deliveries failing" */
    /* Acknowledged records by produce-to-ack latency (librdkafka's own measure):
     * bucket i counts latencies <= bound i and > bound i-1; the last is +Inf. */
    uint64_t latency_buckets[CN_KAFKA_LATENCY_BUCKETS + 1];
    uint64_t latency_sum_us;
};

/* Fills `out` (caller memory) with counters read one by one. Any thread until
 * cn_kafka_producer_free; cannot fail. */
void cn_kafka_producer_stats(struct cn_kafka_producer *p, struct cn_kafka_producer_stats *out);

/* Appends the chat_kafka_produce_* families (counters and the latency histogram) of
 * p to a /metrics page. NULL p: nothing. Any thread; cannot fail. */
void cn_kafka_producer_metrics_render(struct cn_strbuf *b, struct cn_kafka_producer *p);

#endif
