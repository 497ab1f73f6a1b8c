/* Kafka reachability probe and topic check, over one librdkafka handle kept for
 * the probe's lifetime (librdkafka reconnects by itself).
 *
 * Memory: the probe owns its rd_kafka_t; cn_kafka_probe_free destroys it. The
 * functions may be called from one thread at a time. */
#ifndef CN_IO_KAFKA_PROBE_H
#define CN_IO_KAFKA_PROBE_H

#include <stddef.h>

struct cn_kafka_probe;

/* A topic and the partition count it must have. */
struct cn_kafka_topic_spec {
    const char *name;
    int partitions;
};

/* Borrows brokers (copied by librdkafka). Returns NULL with a reason in err only
 * when the configuration itself is invalid; an unreachable cluster is not an
 * error here. */
struct cn_kafka_probe *cn_kafka_probe_new(const char *brokers, int timeout_ms, char *err,
                                          size_t errlen);

/* Fetches cluster metadata. Returns 0, or -1 with a reason in err. */
int cn_kafka_probe_check(struct cn_kafka_probe *p, char *err, size_t errlen);

/* Checks that each topic exists with its partition count; creates missing ones
 * through the Admin API (replication factor -1: the broker default). A topic with
 * another partition count is refused: the room -> partition mapping would change.
 * Returns 0, or -1 with a reason naming the topic in err. */
int cn_kafka_probe_ensure_topics(struct cn_kafka_probe *p, const struct cn_kafka_topic_spec *topics,
                                 size_t n, char *err, size_t errlen);

void cn_kafka_probe_free(struct cn_kafka_probe *p);

#endif
