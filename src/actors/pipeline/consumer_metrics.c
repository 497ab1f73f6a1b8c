/* Consumer metrics of every group; see consumer_metrics.h. */
#include "actors/pipeline/consumer_metrics.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "actors/pipeline/partition_pipeline.h"
#include "base/xmalloc.h"
#include "proto/prom.h"

/* More partitions than any topic of ours has (1024 is the configured maximum). */
#define PARTS_MAX 1024

struct snap {
    bool open;
    struct cn_kafka_consumer_stats cs;
    struct cn_kafka_partition_stats *parts;
    size_t n;
};

void cn_consumer_metrics_render(struct cn_strbuf *b, const struct cn_consumer_metrics_group *g,
                                size_t n)
{
    /* One snapshot per group, so that every family shows the same moment. */
    struct snap *s = cn_xcalloc(n ? n : 1, sizeof *s);
    for (size_t i = 0; i < n; i++) {
        if (!g[i].group)
            continue;
        s[i].parts = cn_xmalloc(PARTS_MAX * sizeof *s[i].parts);
        s[i].open =
            cn_pp_group_consumer_stats(g[i].group, &s[i].cs, s[i].parts, PARTS_MAX, &s[i].n);
        if (s[i].n > PARTS_MAX)
            s[i].n = PARTS_MAX;
    }
    char glbl[96], lbl[256];
    cn_prom_family(b, "chat_kafka_consumer_lag_messages", "gauge",
                   "Records behind the end of each partition this node consumes, per group "
                   "(high watermark minus committed offset).");
    for (size_t i = 0; i < n; i++) {
        if (!s[i].open)
            continue;
        cn_prom_label(glbl, sizeof glbl, "group", cn_pp_group_id(g[i].group));
        for (size_t k = 0; k < s[i].n; k++) {
            const struct cn_kafka_partition_stats *p = &s[i].parts[k];
            if (p->lag < 0)
                continue; /* unknown: absent, never a sentinel */
            char tl[96];
            cn_prom_label(tl, sizeof tl, "topic", p->topic);
            snprintf(lbl, sizeof lbl, "%s,%s,partition=\"%d\"", glbl, tl, (int)p->partition);
            cn_prom_sample_u64(b, "chat_kafka_consumer_lag_messages", lbl, (uint64_t)p->lag);
        }
    }
    cn_prom_family(b, "chat_kafka_consumer_assigned_partitions", "gauge",
                   "Partitions of the group's topic this node consumes now.");
    for (size_t i = 0; i < n; i++) {
        if (!s[i].open)
            continue;
        cn_prom_label(glbl, sizeof glbl, "group", cn_pp_group_id(g[i].group));
        cn_prom_sample_u64(b, "chat_kafka_consumer_assigned_partitions", glbl, s[i].n);
    }
    cn_prom_family(b, "chat_kafka_consumer_topic_partitions", "gauge",
                   "Partitions the group's topic has (as configured and checked at start-up).");
    for (size_t i = 0; i < n; i++) {
        if (!s[i].open || g[i].topic_partitions <= 0)
            continue;
        cn_prom_label(glbl, sizeof glbl, "group", cn_pp_group_id(g[i].group));
        cn_prom_sample_u64(b, "chat_kafka_consumer_topic_partitions", glbl,
                           (uint64_t)g[i].topic_partitions);
    }
    cn_prom_family(b, "chat_kafka_consumer_commit_errors_total", "counter",
                   "Offset commits the broker refused, per group.");
    for (size_t i = 0; i < n; i++) {
        if (!s[i].open)
            continue;
        cn_prom_label(glbl, sizeof glbl, "group", cn_pp_group_id(g[i].group));
        cn_prom_sample_u64(b, "chat_kafka_consumer_commit_errors_total", glbl,
                           s[i].cs.commit_errors);
    }
    for (size_t i = 0; i < n; i++)
        free(s[i].parts);
    free(s);
}
