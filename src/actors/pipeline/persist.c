/* The persistence pipeline as a whole: options, the consumer of group
 * chat-persistence, the gate that lets shutdown stop the adapters under the actors,
 * counters and the metrics section. The per-partition work is persist_actor.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/xmalloc.h"
#include "actors/pipeline/persist_internal.h"
#include "proto/prom.h"

bool cn__persist_enter(struct cn_persist *p)
{
    pthread_rwlock_rdlock(&p->gate);
    if (p->closed) {
        pthread_rwlock_unlock(&p->gate);
        return false;
    }
    return true;
}

void cn__persist_leave(struct cn_persist *p)
{
    pthread_rwlock_unlock(&p->gate);
}

void cn__persist_unref(struct cn_persist *p)
{
    /* acq_rel: the last holder must see every other holder's writes before freeing. */
    if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
        return;
    pthread_rwlock_destroy(&p->gate);
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
    atomic_init(&p->refs, 1);
    pthread_rwlock_init(&p->gate, NULL);

    const char *topics[1] = {p->topic};
    struct cn_kafka_consumer_opts co = {
        .brokers = p->brokers,
        .group_id = p->group_id,
        .topics = topics,
        .ntopics = 1,
        .pipeline = cn__persist_actor_spawn,
        .pipeline_arg = p,
        .batch_type = CN_PERSIST_MSG_BATCH,
        .revoke_type = CN_PERSIST_MSG_REVOKE,
        .batch_max = o->batch_max,
        .batch_linger_ms = o->batch_linger_ms,
        .client_id = "chat-node-persist",
    };
    /* Held until `consumer` is set: an actor spawned by an early assignment waits at
     * the gate instead of seeing no consumer. */
    pthread_rwlock_wrlock(&p->gate);
    p->consumer = cn_kafka_consumer_start(&co, err, errlen);
    pthread_rwlock_unlock(&p->gate);
    if (!p->consumer) {
        cn__persist_unref(p);
        return NULL;
    }
    CN_INFO("persist", "group %s consuming %s (DLT %s, %d retries from %d ms)", p->group_id,
            p->topic, p->dlt_topic, p->o.retries, p->o.retry_backoff_ms);
    return p;
}

void cn_persist_close(struct cn_persist *p)
{
    if (!p)
        return;
    /* The consumer first. It is taken out of reach under the gate, so no actor calls
     * into it while (or after) it is freed; commits made before are applied by its
     * stop, later ones are skipped and their batches redelivered to the next owner
     * (inserts are idempotent). It sends every actor its revoke; no batch follows. */
    pthread_rwlock_wrlock(&p->gate);
    struct cn_kafka_consumer *c = p->consumer;
    p->consumer = NULL;
    pthread_rwlock_unlock(&p->gate);
    cn_kafka_consumer_stop(c);
    /* Then the adapters: once the write lock is held no actor is inside one. */
    pthread_rwlock_wrlock(&p->gate);
    p->closed = true;
    pthread_rwlock_unlock(&p->gate);
}

void cn_persist_stop(struct cn_persist *p)
{
    if (!p)
        return;
    cn_persist_close(p);
    cn__persist_unref(p);
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
    out->commits = atomic_load_explicit(&p->commits, memory_order_relaxed);
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

    /* The consumer is read under the gate: stop clears it. */
    pthread_rwlock_rdlock(&p->gate);
    if (p->consumer) {
        struct cn_kafka_consumer_stats cs;
        struct cn_kafka_partition_stats parts[64];
        size_t n = cn_kafka_consumer_stats(p->consumer, &cs, parts, 64);
        if (n > 64)
            n = 64;
        cn_prom_counter(b, "chat_persist_commit_errors_total", "commits the broker refused",
                        cs.commit_errors);
        cn_prom_gauge(b, "chat_persist_partitions_assigned", "partitions owned by this node",
                      (double)cs.partitions);
        cn_prom_family(b, "chat_persist_committed_offset", "gauge",
                       "next offset to read, as committed, per partition (-1 unknown)");
        char lbl[128];
        for (size_t i = 0; i < n; i++) {
            snprintf(lbl, sizeof lbl, "topic=\"%.64s\",partition=\"%d\"", parts[i].topic,
                     (int)parts[i].partition);
            cn_prom_sample_f64(b, "chat_persist_committed_offset", lbl, (double)parts[i].committed);
        }
        cn_prom_family(b, "chat_persist_lag", "gauge",
                       "records behind the end of the partition (-1 unknown)");
        for (size_t i = 0; i < n; i++) {
            snprintf(lbl, sizeof lbl, "topic=\"%.64s\",partition=\"%d\"", parts[i].topic,
                     (int)parts[i].partition);
            cn_prom_sample_f64(b, "chat_persist_lag", lbl, (double)parts[i].lag);
        }
    }
    pthread_rwlock_unlock(&p->gate);
}
