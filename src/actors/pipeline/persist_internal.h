/* Internal to the persistence pipeline (persist*.c): the shared pipeline object, the
 * gate around adapter calls, and the SQL parameter builder. */
#ifndef CN_ACTORS_PIPELINE_PERSIST_INTERNAL_H
#define CN_ACTORS_PIPELINE_PERSIST_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "base/strbuf.h"
#include "actors/pipeline/persist.h"
#include "proto/event_codec.h"

struct cn_persist {
    struct cn_persist_opts o; /* strings below are owned copies */
    char *brokers, *group_id, *topic, *dlt_topic;
    /* Taken for reading around every adapter call of an actor and for writing by
     * start (until `consumer` is set) and stop (to set `closed`): so an actor never
     * sees a NULL consumer, and once stop has the write lock no actor is inside the
     * pool, the producer or Redis, and none will enter again. */
    pthread_rwlock_t gate;
    bool closed;                        /* under gate */
    struct cn_kafka_consumer *consumer; /* under gate */
    /* One for the owner plus one per live actor (dropped in its state_free): the
     * last one frees the object, which actors read until their last turn. acq_rel
     * decrement pairs with the other holders' decrements. */
    atomic_uint refs;
    /* Counters: relaxed increments by actors, relaxed loads by cn_persist_stats
     * (monotonic totals, no ordering with other data needed). */
    atomic_uint_fast64_t batches, rows, duplicates, retries, dlt_records, dlt_decode, dlt_failures,
        invalidations, commits;
};

/* Enters the gate: returns true (then the caller calls cn__persist_leave after its
 * adapter call) or false when the pipeline is stopping (nothing to leave). Any
 * thread; never blocks for longer than a start or another holder's call. */
bool cn__persist_enter(struct cn_persist *p);
void cn__persist_leave(struct cn_persist *p);

/* Drops one reference; the last frees `p`. Any thread; cannot fail. */
void cn__persist_unref(struct cn_persist *p);

/* The consumer's pipeline factory (cn_kafka_pipeline_fn): spawns the actor of one
 * partition, which holds a reference to `arg` (the struct cn_persist). */
cn_actor *cn__persist_actor_spawn(void *arg, const char *topic, int32_t partition);

/* hdr.type of the consumer's messages to the actors. */
enum { CN_PERSIST_MSG_BATCH = 1, CN_PERSIST_MSG_REVOKE = 2 };

/* The eight text-format array parameters of messages_insert_batch, built one event
 * at a time. */
struct cn_persist_sql {
    struct cn_strbuf a[8];
    size_t n;
};

/* Starts an empty set of arrays. Cannot fail. */
void cn__persist_sql_init(struct cn_persist_sql *s);

/* Appends one decoded event (borrowed) stored at (partition, offset). Cannot fail. */
void cn__persist_sql_add(struct cn_persist_sql *s, const struct cn_chat_message_event *e,
                         int32_t partition, int64_t offset);

/* Closes the arrays and moves them into params[0..8) (NUL-terminated strings the caller
 * frees with free()); `s` is empty afterwards. Cannot fail. */
void cn__persist_sql_finish(struct cn_persist_sql *s, char *params[8]);

/* Writes `s[0..n)` as one element of a text[] literal: double-quoted, with \ and "
 * escaped. Pure; cannot fail. */
void cn__persist_sql_text_elem(struct cn_strbuf *b, const char *s, size_t n);

#endif
