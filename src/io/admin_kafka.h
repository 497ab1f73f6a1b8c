/* The admin commands that ask Kafka: consumer lag and the dead-letter topics.
 * They block (metadata, OffsetFetch, fetching DLT records, producing a replay),
 * which is why they run on the admin thread with short-lived librdkafka handles
 * of their own; nothing of the node's pipelines is touched.
 *
 * Memory: each returns a new JSON value (the command's result) the caller owns,
 * or NULL with a reason in err; a reason starting with '!' is the caller's fault
 * (a bad argument) rather than Kafka's. `req` is borrowed. */
#ifndef CN_IO_ADMIN_KAFKA_H
#define CN_IO_ADMIN_KAFKA_H

#include <jansson.h>
#include <stddef.h>

/* Per consumer group and partition: committed offset, end offset, lag. */
json_t *cn_admin_kafka_lag(const char *brokers, char *err, size_t errlen);

/* {"action":"list"|"show"|"replay", "topic":..., "since_ms":..., "partition":...,
 * "offset":..., "limit":...}: see docs/ADMIN.md. */
json_t *cn_admin_kafka_dlt(const char *brokers, json_t *req, char *err, size_t errlen);

#endif
