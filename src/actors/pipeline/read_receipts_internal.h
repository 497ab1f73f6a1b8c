/* Internal to the read-receipt pipeline (read_receipts*.c): the shared pipeline object
 * and the gate around adapter calls (the same shape as persist_internal.h). */
#ifndef CN_ACTORS_PIPELINE_READ_RECEIPTS_INTERNAL_H
#define CN_ACTORS_PIPELINE_READ_RECEIPTS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "io/kafka_consumer.h"
#include "actors/pipeline/read_receipts.h"

struct cn_read_receipts {
    struct cn_read_receipts_opts o; /* brokers below is an owned copy */
    char *brokers;
    /* Read-locked around every adapter call of an actor, write-locked by start (until
     * `consumer` is set) and close (to set `closed`): once close holds it, no actor is
     * inside the pool, Redis or the consumer, and none enters again. */
    pthread_rwlock_t gate;
    bool closed;                        /* under gate */
    struct cn_kafka_consumer *consumer; /* under gate */
    /* One for the owner plus one per live actor; acq_rel decrements so the last one
     * sees every other holder's writes before freeing. */
    atomic_uint refs;
    /* Relaxed counters: monotonic totals, nothing is published through them. */
    atomic_uint_fast64_t batches, events, moved, bad, retries, invalidations, published;
};

/* Enters the gate: true (call cn__rr_leave after the adapter call) or false when the
 * pipeline is closing (nothing to leave). Any thread. */
bool cn__rr_enter(struct cn_read_receipts *p);
void cn__rr_leave(struct cn_read_receipts *p);

/* Drops one reference; the last frees `p`. Any thread; cannot fail. */
void cn__rr_unref(struct cn_read_receipts *p);

/* The consumer's pipeline factory: spawns one partition's actor, which holds a
 * reference to `arg` (the struct cn_read_receipts). */
cn_actor *cn__rr_actor_spawn(void *arg, const char *topic, int32_t partition);

enum { CN_RR_MSG_BATCH = 1, CN_RR_MSG_REVOKE = 2 };

#endif
