/* Internal to the Kafka consumer: turning librdkafka messages into one batch message
 * (kafka_consumer_batch.c). */
#ifndef CN_IO_KAFKA_CONSUMER_BATCH_H
#define CN_IO_KAFKA_CONSUMER_BATCH_H

#include <librdkafka/rdkafka.h>

#include "io/kafka_consumer.h"

/* Copies the `n` (>= 1) messages `m` (borrowed, all of one topic and partition, in
 * offset order) into one newly allocated struct cn_kafka_batch of type `type`, freed
 * by cn_msg_free. The caller still destroys the messages. Cannot fail (allocation
 * aborts). */
struct cn_kafka_batch *cn__kafka_batch_new(rd_kafka_message_t *const *m, size_t n, uint32_t type);

#endif
