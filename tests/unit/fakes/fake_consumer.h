/* A fake Kafka consumer for the pipelines' unit tests: it defines the functions of
 * io/kafka_consumer.h (cn_kafka_consumer_start, _close, _free, _commit, _done, _stats,
 * cn_kafka_record_header) and is linked in place of the real adapter, so a pipeline
 * under test runs on the real runtime while the test plays the consumer thread: it
 * assigns partitions (the pipeline factory is called), sends batches and revokes, and
 * takes the commits the pipeline makes with fake_consumer_next_commit.
 *
 * One consumer at a time. As the real one, it refuses commits with -ESHUTDOWN once
 * closed and its memory is freed by cn_kafka_consumer_free, so a commit after the free
 * is a use after free that ASan reports. Threads:
 * commits arrive on workers; everything else is the test thread's. */
#ifndef CN_TESTS_UNIT_FAKE_CONSUMER_H
#define CN_TESTS_UNIT_FAKE_CONSUMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actors/runtime/runtime.h"

struct fake_commit {
    char topic[64];
    int32_t partition;
    int64_t next_offset; /* as given to cn_kafka_consumer_commit */
};

/* Calls the running consumer's pipeline factory for (topic, partition) and keeps the
 * actor until its revoke. Returns the actor (borrowed) or NULL (no consumer, the
 * factory declined, or too many partitions). */
cn_actor *fake_consumer_assign(const char *topic, int32_t partition);

/* Sends the partition's actor a batch of n records at offsets first..first+n-1:
 * values[i] (lens[i] bytes; a NULL value is a null value) and `key` (NULL: none) for
 * every record, all copied. Returns what cn_actor_send returns, or -ENOENT when the
 * partition is not assigned. */
int fake_consumer_batch(int32_t partition, int64_t first, size_t n, const char *const *values,
                        const size_t *lens, const char *key);

/* Sends the partition's actor its revoke and forgets it, as a rebalance does. */
void fake_consumer_revoke(int32_t partition);

/* Takes the oldest commit not yet taken, waiting up to timeout_ms. False when none
 * came in time. */
bool fake_consumer_next_commit(int timeout_ms, struct fake_commit *out);

/* Commits made and not yet taken, right now. */
size_t fake_consumer_commits_pending(void);

/* Forgets the commits (between tests). */
void fake_consumer_reset(void);

#endif
