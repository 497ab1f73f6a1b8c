/* librdkafka properties the operator passes through ([kafka.client] in the config:
 * security.protocol, sasl.*, ssl.*, ...), applied to every rd_kafka_conf_t the node
 * builds: producers, consumers, the admin and probe clients.
 *
 * The list is process-wide: cn_kafka_client_conf_set is called once at start-up,
 * before any Kafka client exists, and it is read-only afterwards, so any thread may
 * apply it without a lock.
 *
 * Memory: this module owns a copy of the list (set copies, clear frees). The values
 * may hold secrets (sasl.password): no message here contains a value. */
#ifndef CN_IO_KAFKA_CLIENT_CONF_H
#define CN_IO_KAFKA_CLIENT_CONF_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

/* Copies `n` key/value pairs (kv[2i] the key, kv[2i+1] the value; borrowed) and checks
 * each one with librdkafka itself on a scratch conf. Returns 0, or -1 with
 * "kafka.client.<key>: <librdkafka's message>" in err (the list is then empty). */
int cn_kafka_client_conf_set(char *const *kv, size_t n, char *err, size_t errlen);

/* Frees the copy. Shutdown only. Cannot fail. */
void cn_kafka_client_conf_clear(void);

/* Applies the list to `conf` (after the node's own settings, so the operator's win).
 * Returns 0, or -1 with the same message as set in err. */
int cn_kafka_client_conf_apply(rd_kafka_conf_t *conf, char *err, size_t errlen);

#endif
