/* The persistence pipeline as a whole: options, the group chat-persistence on the
 * partition pipeline shell, counters and the metrics section. The per-partition work is
 * persist_step.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/xmalloc.h"
#include "actors/pipeline/persist_internal.h"
#include "proto/prom.h"

static void persist_free(void *arg)
{
    struct cn_persist *p = arg;
    free(p->brokers);
    free(p->group_id);
    free(p->topic);
    free(p->dlt_topic);
    free(p);
}

struct cn_persist *cn_persist_start(const struct cn_persist_opts *o, char *err, size_t errlen)
{
    if (!o || !o->rt || !o->brokers || !o->pg || !o->dlt) {
        snprintf(err, errlen, "persist: runtime, brokers, pool and DLT producer are required");
        return NULL;
    }
    if (o->batch_max < 0 || o->batch_max > 100000 || o->retries < 0 || o->retries > 10 ||
        o->retry_backoff_ms < 0) {
        snprintf(err, errlen, "persist: batch_max 0..100000, retries 0..10, backoff >= 0");
        return NULL;
    }
    struct cn_persist *p = cn_xcalloc(1, sizeof *p);
    p->o = *o;
    p->brokers = cn_xstrdup(o->brokers);
    p->group_id = cn_xstrdup(o->group_id ? o->group_id : "chat-persistence");
    p->topic = cn_xstrdup(o->topic ? o->topic : "chat.messages");
    if (o->dlt_topic) {
        p->dlt_topic = cn_xstrdup(o->dlt_topic);
    } else {
        size_t n = strlen(p->topic) + 5;
        p->dlt_topic = cn_xmalloc(n);
        snprintf(p->dlt_topic, n, "%s.dlt", p->topic);
    }
    if (p->o.retry_backoff_ms == 0)
        p->o.retry_backoff_ms = 100;

    const char *topics[1] = {p->topic};
    struct cn_pp_group_opts go = {
        .rt = o->rt,
        .step = &cn__persist_step,
        .owner = p,
        .owner_free = persist_free,
        .consumer =
            {
                .brokers = p->brokers,
                .group_id = p->group_id,
                .topics = topics,
                .ntopics = 1,
                .batch_max = o->batch_max,
                .batch_linger_ms = o->batch_linger_ms,
                .client_id = "chat-node-persist",
                .fetch_wait_ms = o->fetch_wait_ms,
            },
        .dlt = o->dlt,
        .dlt_topic = p->dlt_topic,
        /* backoff x4: 100, 400, 1600 ms by default */
        .retry = {.retries = p->o.retries, .first_ms = p->o.retry_backoff_ms, .factor = 4},
        .counters =
            {
                .batches = &p->batches,
                .retries = &p->retries,
                .dlt_records = &p->dlt_records,
                .dlt_failures = &p->dlt_failures,
            },
    };
    /* Actors never read `group` (the shell hands them the owner), so it may be set after
     * the consumer started. */
    p->group = cn_pp_group_start(&go, err, errlen);
    if (!p->group) {
        persist_free(p);
        return NULL;
    }
    CN_INFO("persist", "group %s consuming %s (DLT %s, %d retries from %d ms)", p->group_id,
            p->topic, p->dlt_topic, p->o.retries, p->o.retry_backoff_ms);
    return p;
}

void cn_persist_close(struct cn_persist *p)
{
    if (p)
        cn_pp_group_close(p->group);
}

struct cn_pp_group *cn_persist_group(struct cn_persist *p)
{
    return p ? p->group : NULL;
}

void cn_persist_free(struct cn_persist *p)
{
    if (p)
        cn_pp_group_free(p->group); /* frees p with the group's last reference */
}

void cn_persist_stats(struct cn_persist *p, struct cn_persist_stats *out)
{
    out->batches = atomic_load_explicit(&p->batches, memory_order_relaxed);
    out->rows_inserted = atomic_load_explicit(&p->rows, memory_order_relaxed);
    out->duplicates = atomic_load_explicit(&p->duplicates, memory_order_relaxed);
    out->retries = atomic_load_explicit(&p->retries, memory_order_relaxed);
    out->dlt_records = atomic_load_explicit(&p->dlt_records, memory_order_relaxed);
    out->dlt_decode = atomic_load_explicit(&p->dlt_decode, memory_order_relaxed);
    out->dlt_failures = atomic_load_explicit(&p->dlt_failures, memory_order_relaxed);
    out->invalidations = atomic_load_explicit(&p->invalidations, memory_order_relaxed);
    out->commits = out->batches; /* every batch ends with one commit request */
}

void cn_persist_metrics_render(struct cn_strbuf *b, struct cn_persist *p)
{
    if (!p)
        return;
    struct cn_persist_stats s;
    cn_persist_stats(p, &s);
    cn_prom_counter(b, "chat_persist_batches_total", "batches stored or sent to the DLT",
                    s.batches);
    cn_prom_counter(b, "chat_persist_rows_inserted_total", "messages rows inserted",
                    s.rows_inserted);
    cn_prom_counter(b, "chat_persist_duplicates_total",
                    "events that inserted nothing (replays, duplicate messageKeys)", s.duplicates);
    cn_prom_counter(b, "chat_persist_retries_total", "insert attempts after a failure", s.retries);
    cn_prom_counter(b, "chat_persist_dlt_records_total", "records acknowledged by the DLT",
                    s.dlt_records);
    cn_prom_counter(b, "chat_persist_dlt_undecodable_total",
                    "records sent to the DLT because they did not decode", s.dlt_decode);
    cn_prom_counter(b, "chat_persist_dlt_failures_total", "DLT produce attempts that failed",
                    s.dlt_failures);
    cn_prom_counter(b, "chat_persist_cache_invalidations_total",
                    "rooms:{userId} keys deleted after new messages", s.invalidations);

    /* The consumer's part: none once the pipeline is closed. */
    struct cn_kafka_consumer_stats cs;
    struct cn_kafka_partition_stats parts[64];
    size_t n;
    if (cn_pp_group_consumer_stats(p->group, &cs, parts, 64, &n)) {
        if (n > 64)
            n = 64;
        cn_prom_family(b, "chat_persist_committed_offset", "gauge",
                       "next offset to read, as committed, per partition (absent until known)");
        char lbl[128];
        for (size_t i = 0; i < n; i++) {
            if (parts[i].committed < 0)
                continue; /* no sentinel: absent until known */
            snprintf(lbl, sizeof lbl, "topic=\"%.64s\",partition=\"%d\"", parts[i].topic,
                     (int)parts[i].partition);
            cn_prom_sample_f64(b, "chat_persist_committed_offset", lbl, (double)parts[i].committed);
        }
    }
}
