/* The consumer metrics of every consumer group (persistence, broadcast, read receipts),
 * rendered as one set of families with a `group` label:
 *
 *   chat_kafka_consumer_lag_messages{group,topic,partition}  records between the
 *       partition's end (high watermark of the last fetch) and the group's committed
 *       offset, for each partition this node owns; absent while either is unknown
 *       (no sentinel value);
 *   chat_kafka_consumer_assigned_partitions{group}  partitions this node owns now;
 *   chat_kafka_consumer_topic_partitions{group}  partitions the group's topic has (the
 *       configured count that start-up checks): summed assignments over the nodes below
 *       it means partitions nobody consumes;
 *   chat_kafka_consumer_commit_errors_total{group}  commits the broker refused.
 *
 * A closed group (shutdown) shows nothing. Memory: borrows the groups for the call. */
#ifndef CN_ACTORS_PIPELINE_CONSUMER_METRICS_H
#define CN_ACTORS_PIPELINE_CONSUMER_METRICS_H

#include <stddef.h>

#include "base/strbuf.h"

struct cn_pp_group;

struct cn_consumer_metrics_group {
    struct cn_pp_group *group; /* NULL: skipped (the pipeline is off) */
    int topic_partitions;      /* the topic's configured partitions; 0: not shown */
};

/* Appends the families for `n` groups. Any thread while the groups live; cannot fail. */
void cn_consumer_metrics_render(struct cn_strbuf *b, const struct cn_consumer_metrics_group *g,
                                size_t n);

#endif
