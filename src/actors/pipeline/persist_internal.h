/* Internal to the persistence pipeline (persist*.c): the pipeline object, its step for
 * the partition pipeline shell, and the SQL parameter builder. */
#ifndef CN_ACTORS_PIPELINE_PERSIST_INTERNAL_H
#define CN_ACTORS_PIPELINE_PERSIST_INTERNAL_H

#include <stdatomic.h>

#include "actors/pipeline/partition_pipeline.h"
#include "actors/pipeline/persist.h"
#include "base/strbuf.h"
#include "proto/event_codec.h"

struct cn_persist {
    struct cn_persist_opts o; /* strings below are owned copies */
    char *brokers, *group_id, *topic, *dlt_topic;
    /* The shell's group: it owns this object (freed with the group's last reference,
     * which actors hold until their last turn). */
    struct cn_pp_group *group;
    /* Counters: relaxed increments by actors, relaxed loads by cn_persist_stats
     * (monotonic totals, no ordering with other data needed). */
    atomic_uint_fast64_t batches, rows, duplicates, retries, dlt_records, dlt_decode, dlt_failures,
        invalidations;
};

/* The step of the persistence pipeline (persist_step.c): decode, batch insert, cache
 * invalidation; record by record after the retries. Owner: the struct cn_persist. */
extern const struct cn_pp_step cn__persist_step;

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
