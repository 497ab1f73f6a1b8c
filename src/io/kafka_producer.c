/* The Kafka producer: configuration, produce, delivery reports, stop; see
 * kafka_producer.h. Kafka's partitioner is in kafka_producer_partition.c.
 *
 * Threads: submitters call rd_kafka_producev directly (librdkafka's queue is the
 * hand-off; an inbox of ours would only add a copy and a wake-up). The delivery
 * thread loops in rd_kafka_poll, which runs on_delivery for each finished record: it
 * fills the report that cn_kafka_produce allocated up front (so a report never needs
 * memory at a time when memory could be short) and sends it.
 *
 * Compression: none by default. Chat events are a few hundred bytes of msgpack with
 * random UUIDs; at linger 2 ms the batches per partition are small, lz4 saves little
 * and costs CPU on every node (measured in the integration test, which prints both).
 *
 * Stopping without losing a report: cn_kafka_produce announces itself in
 * `submitters` before it looks at `stopping`, and cn_kafka_producer_close sets
 * `stopping` before it waits for `submitters` to reach zero (both seq_cst, so one of
 * the two sees the other). After that wait no record can enter librdkafka's queue,
 * so flush + purge + a final poll reports every record exactly once. */
#include "io/kafka_producer.h"
#include "io/kafka_client_conf.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "proto/prom.h"

#define MOD             "kafka"
#define DEF_LINGER      2
#define DEF_MSG_TIMEOUT 30000
#define DEF_MAX_QUEUE   100000
#define DEF_FLUSH       5000
/* A delivery report ends the wait at once; the bound only matters to an idle node,
 * where each turn is a wake-up, and close ends the wait with rd_kafka_yield. */
#define POLL_MS 1000

struct cn_kafka_producer {
    rd_kafka_t *rk;
    pthread_t thread;
    int flush_timeout_ms;

    /* seq_cst, paired with `submitters`: see the file comment. */
    atomic_bool stopping;
    atomic_uint submitters;
    /* Release store by cn_kafka_producer_close after the final flush, acquire load by
     * the delivery thread: it then serves the last reports and exits. */
    atomic_bool quit;
    /* Set (relaxed) by the error callback on a fatal error; read by submitters. A
     * stale read only lets one more record through, which librdkafka then refuses. */
    atomic_bool fatal;

    /* Delivery thread only (it is the one thread that polls, so callbacks never run
     * concurrently): deliveries are failing since the last success. */
    bool failing;

    /* cn_kafka_producer_close waits here for in_flight to reach zero; the delivery
     * thread broadcasts when its report makes it zero. */
    pthread_mutex_t drain_lock;
    pthread_cond_t drain_cond;

    /* Counters: relaxed, they order nothing. */
    _Atomic uint64_t produced, delivered, failed, rejected, in_flight, outages;
    _Atomic uint64_t latency_buckets[CN_KAFKA_LATENCY_BUCKETS + 1], latency_sum_us;
};

const uint64_t cn_kafka_latency_bounds_us[CN_KAFKA_LATENCY_BUCKETS] = {
    500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 5000000};

/* One accepted record's report, allocated by cn_kafka_produce and passed through
 * librdkafka as the message opaque. `d` is first, so free() of the report (its
 * free_fn is NULL) frees the whole allocation. */
struct pending {
    struct cn_kafka_delivery d;
    cn_actor *to; /* our reference, dropped after the send */
};

#define RELAXED            memory_order_relaxed
#define COUNT(p, field, n) atomic_fetch_add_explicit(&(p)->field, (n), RELAXED)

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    /* librdkafka repeats a broker's trouble once per second per broker; our own
     * transition logs (on_delivery, on_error) say it once. */
    (void)level;
    cn_log(CN_LOG_DEBUG, MOD, "producer %s: %s", fac, buf);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct cn_kafka_producer *p = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[256];
        rd_kafka_fatal_error(rk, why, sizeof why);
        atomic_store_explicit(&p->fatal, true, RELAXED);
        CN_ERROR(MOD, "producer fatal error, no more records are accepted: %s", why);
        return;
    }
    CN_DEBUG(MOD, "producer: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct cn_kafka_producer *p = opaque;
    bool ok = m->err == RD_KAFKA_RESP_ERR_NO_ERROR &&
              rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_PERSISTED;
    if (atomic_fetch_sub_explicit(&p->in_flight, 1, RELAXED) == 1) {
        pthread_mutex_lock(&p->drain_lock);
        pthread_cond_broadcast(&p->drain_cond);
        pthread_mutex_unlock(&p->drain_lock);
    }
    COUNT(p, delivered, ok ? 1 : 0);
    COUNT(p, failed, ok ? 0 : 1);
    int64_t us = ok ? rd_kafka_message_latency(m) : -1;
    if (us >= 0) {
        int b = 0;
        while (b < CN_KAFKA_LATENCY_BUCKETS && (uint64_t)us > cn_kafka_latency_bounds_us[b])
            b++;
        COUNT(p, latency_buckets[b], 1);
        COUNT(p, latency_sum_us, (uint64_t)us);
    }
    if (ok && p->failing) {
        CN_INFO(MOD, "deliveries succeed again");
        p->failing = false;
    } else if (!ok && !p->failing && m->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE &&
               m->err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
        CN_WARN(MOD, "deliveries failing (%s partition %d): %s; logged once until one succeeds",
                rd_kafka_topic_name(m->rkt), (int)m->partition, rd_kafka_err2str(m->err));
        p->failing = true;
        COUNT(p, outages, 1);
    }

    struct pending *q = m->_private;
    if (!q)
        return; /* fire and forget */
    q->d.ok = ok;
    q->d.partition = m->partition;
    q->d.offset = ok ? m->offset : -1;
    if (!ok) {
        const char *why =
            m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT
                ? "producer stopping"
            : m->err ? rd_kafka_err2str(m->err)
                     : "not acknowledged by all replicas";
        snprintf(q->d.error, sizeof q->d.error, "%s", why);
    }
    cn_actor *to = q->to;
    /* A stopped actor refuses the report and frees it: nothing else to do. */
    cn_actor_send(to, &q->d.hdr);
    cn_actor_unref(to);
}

static void *delivery_main(void *arg)
{
    struct cn_kafka_producer *p = arg;
    /* acquire pairs with the release store in cn_kafka_producer_close. */
    while (!atomic_load_explicit(&p->quit, memory_order_acquire))
        rd_kafka_poll(p->rk, POLL_MS);
    /* Reports queued between the last poll and the flag. */
    while (rd_kafka_poll(p->rk, 0) > 0)
        ;
    return NULL;
}

static int set(rd_kafka_conf_t *conf, const char *k, const char *v, char *err, size_t errlen)
{
    char why[256];
    if (rd_kafka_conf_set(conf, k, v, why, sizeof why) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "kafka producer: %s=%s: %s", k, v, why);
        return -1;
    }
    return 0;
}

/* Waits up to `ms` for every accepted record to be reported. Returns true if so. */
static bool wait_drained(struct cn_kafka_producer *p, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    bool done;
    pthread_mutex_lock(&p->drain_lock);
    while (!(done = atomic_load_explicit(&p->in_flight, RELAXED) == 0) &&
           pthread_cond_timedwait(&p->drain_cond, &p->drain_lock, &until) != ETIMEDOUT)
        ;
    done = atomic_load_explicit(&p->in_flight, RELAXED) == 0;
    pthread_mutex_unlock(&p->drain_lock);
    return done;
}

static void free_producer(struct cn_kafka_producer *p)
{
    pthread_mutex_destroy(&p->drain_lock);
    pthread_cond_destroy(&p->drain_cond);
    free(p);
}

struct cn_kafka_producer *cn_kafka_producer_start(const char *brokers, char *err, size_t errlen)
{
    struct cn_kafka_producer_opts o = {.brokers = brokers};
    return cn_kafka_producer_start_opts(&o, err, errlen);
}

struct cn_kafka_producer *cn_kafka_producer_start_opts(const struct cn_kafka_producer_opts *o,
                                                       char *err, size_t errlen)
{
    if (!o || !o->brokers || !*o->brokers) {
        snprintf(err, errlen, "kafka producer: no brokers");
        return NULL;
    }
    if (o->linger_ms < -1 || o->message_timeout_ms < 0 || o->max_queue < 0 ||
        o->flush_timeout_ms < 0) {
        snprintf(err, errlen, "kafka producer: limits and timeouts must not be negative");
        return NULL;
    }
    struct cn_kafka_producer *p = cn_xcalloc(1, sizeof *p);
    pthread_mutex_init(&p->drain_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->drain_cond, &ca);
    pthread_condattr_destroy(&ca);
    p->flush_timeout_ms = o->flush_timeout_ms ? o->flush_timeout_ms : DEF_FLUSH;
    char linger[16], tmo[16], maxq[16];
    snprintf(linger, sizeof linger, "%d",
             o->linger_ms == -1 ? 0
             : o->linger_ms     ? o->linger_ms
                                : DEF_LINGER);
    snprintf(tmo, sizeof tmo, "%d",
             o->message_timeout_ms ? o->message_timeout_ms : DEF_MSG_TIMEOUT);
    snprintf(maxq, sizeof maxq, "%d", o->max_queue ? o->max_queue : DEF_MAX_QUEUE);

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (set(conf, "bootstrap.servers", o->brokers, err, errlen) ||
        set(conf, "client.id", o->client_id ? o->client_id : "chat-node", err, errlen) ||
        /* Idempotence implies acks=all and in-order retries without duplicates; both
         * are spelled out so that a reader does not have to know that. */
        set(conf, "enable.idempotence", "true", err, errlen) ||
        set(conf, "acks", "all", err, errlen) || set(conf, "linger.ms", linger, err, errlen) ||
        /* One request in flight per broker connection. librdkafka 2.0.2's idempotent
         * producer allows a partition a new request only while fewer than 5 of its
         * *messages* are in flight; past that its broker thread polls with a zero
         * timeout until the acknowledgement comes, so at 5,000 records/s the three
         * broker threads spun 0.34 cores and the RECEIPT p99 was 55 ms. With one
         * request in flight the next batch waits in librdkafka's output queue, which
         * its loop sleeps on: 0.01 cores, RECEIPT p99 10 ms (docs/PERFORMANCE.md,
         * 2026-12-07). Order and idempotence are as before. */
        set(conf, "max.in.flight.requests.per.connection", "1", err, errlen) ||
        set(conf, "compression.type", o->compression ? o->compression : "none", err, errlen) ||
        set(conf, "message.timeout.ms", tmo, err, errlen) ||
        set(conf, "queue.buffering.max.messages", maxq, err, errlen) ||
        /* Java-compatible murmur2 for keyed records: cn_kafka_partition_for_key. */
        set(conf, "partitioner", "murmur2_random", err, errlen) ||
        /* Reports for failures only would hide successes from the actors. */
        set(conf, "delivery.report.only.error", "false", err, errlen) ||
        /* Small produce requests go out while others await their acks: without
         * this, Nagle holds them for the broker's delayed ACK. */
        set(conf, "socket.nagle.disable", "true", err, errlen) ||
        cn_kafka_client_conf_apply(conf, err, errlen)) {
        rd_kafka_conf_destroy(conf);
        free_producer(p);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, p);
    char why[512];
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!p->rk) {
        snprintf(err, errlen, "kafka producer: %s", why);
        rd_kafka_conf_destroy(conf);
        free_producer(p);
        return NULL;
    }
    int rc = pthread_create(&p->thread, NULL, delivery_main, p);
    if (rc != 0) {
        snprintf(err, errlen, "kafka producer: cannot start the delivery thread: %s", strerror(rc));
        rd_kafka_destroy(p->rk);
        free_producer(p);
        return NULL;
    }
    return p;
}

void cn_kafka_producer_close(struct cn_kafka_producer *p)
{
    if (!p || !p->rk)
        return;
    /* seq_cst store, then seq_cst loads of submitters: pairs with the seq_cst
     * increment then load of `stopping` in cn_kafka_produce. */
    atomic_store_explicit(&p->stopping, true, memory_order_seq_cst);
    while (atomic_load_explicit(&p->submitters, memory_order_seq_cst) != 0)
        sched_yield(); /* a submitter is between its check and its return: a few µs */

    /* Not rd_kafka_flush: it would poll on this thread too, and callbacks would then
     * run on two threads at once. The delivery thread keeps polling; we wait. */
    if (!wait_drained(p, p->flush_timeout_ms)) {
        CN_WARN(MOD, "producer stop: %d records undelivered after %d ms; failing them",
                rd_kafka_outq_len(p->rk), p->flush_timeout_ms);
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        /* Purged records are reported by the next polls; this only guards against a
         * librdkafka that would hold one back. */
        if (!wait_drained(p, 10000))
            CN_ERROR(MOD, "producer stop: %llu records never reported",
                     (unsigned long long)atomic_load_explicit(&p->in_flight, RELAXED));
    }
    atomic_store_explicit(&p->quit, true, memory_order_release);
    /* Ends the delivery thread's current rd_kafka_poll now rather than after POLL_MS (a
     * yield that finds no poll running makes the next one return at once). */
    rd_kafka_yield(p->rk);
    pthread_join(p->thread, NULL);
    rd_kafka_destroy(p->rk);
    p->rk = NULL;
}

void cn_kafka_producer_free(struct cn_kafka_producer *p)
{
    if (!p)
        return;
    cn_kafka_producer_close(p);
    free_producer(p);
}

static int map_error(rd_kafka_resp_err_t e)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
        return -EAGAIN;
    case RD_KAFKA_RESP_ERR__FATAL:
        return -EIO;
    default:
        /* Unknown topic or partition, size over message.max.bytes, bad arguments. */
        return -EINVAL;
    }
}

int cn_kafka_produce(struct cn_kafka_producer *p, const char *topic, int32_t partition,
                     const void *key, size_t keylen, const void *value, size_t len,
                     const struct cn_kafka_header *headers, size_t nheaders, cn_actor *reply_to,
                     uint32_t msg_type, uint64_t tag)
{
    if (!p || !topic || !*topic || partition < CN_KAFKA_PARTITION_BY_KEY ||
        (partition == CN_KAFKA_PARTITION_BY_KEY && !key) || (nheaders > 0 && !headers))
        return -EINVAL;
    for (size_t i = 0; i < nheaders; i++)
        if (!headers[i].name)
            return -EINVAL;
    atomic_fetch_add_explicit(&p->submitters, 1, memory_order_seq_cst);
    int rc = 0;
    if (atomic_load_explicit(&p->stopping, memory_order_seq_cst)) {
        rc = -ESHUTDOWN;
        goto out;
    }
    if (atomic_load_explicit(&p->fatal, RELAXED)) {
        rc = -EIO;
        goto out;
    }
    struct pending *q = NULL;
    if (reply_to) {
        q = cn_xcalloc(1, sizeof *q);
        cn_msg_init(&q->d.hdr, msg_type, NULL);
        q->d.tag = tag;
        q->d.partition = -1;
        q->d.offset = -1;
        cn_actor_ref(reply_to);
        q->to = reply_to;
    }
    rd_kafka_headers_t *hs = NULL;
    if (nheaders) {
        hs = rd_kafka_headers_new(nheaders);
        for (size_t i = 0; i < nheaders; i++)
            rd_kafka_header_add(hs, headers[i].name, -1, headers[i].value,
                                headers[i].value ? (ssize_t)headers[i].len : 0);
    }
    /* Counted before the record can be reported, so in_flight never underflows. */
    COUNT(p, in_flight, 1);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(topic),
        RD_KAFKA_V_PARTITION(partition == CN_KAFKA_PARTITION_BY_KEY ? RD_KAFKA_PARTITION_UA
                                                                    : partition),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key ? keylen : 0),
        RD_KAFKA_V_VALUE((void *)value, value ? len : 0), RD_KAFKA_V_HEADERS(hs),
        RD_KAFKA_V_OPAQUE(q), RD_KAFKA_V_END);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        atomic_fetch_sub_explicit(&p->in_flight, 1, RELAXED);
        /* On failure the headers were not taken. */
        if (hs)
            rd_kafka_headers_destroy(hs);
        if (q) {
            cn_actor_unref(q->to);
            free(q);
        }
        rc = map_error(e);
        if (rc == -EAGAIN)
            COUNT(p, rejected, 1);
        goto out;
    }
    COUNT(p, produced, 1);
out:
    /* release: our enqueue happens-before cn_kafka_producer_close seeing zero. */
    atomic_fetch_sub_explicit(&p->submitters, 1, memory_order_release);
    return rc;
}

const char *cn_kafka_produce_strerror(int rc)
{
    switch (rc) {
    case 0:
        return "ok";
    case -EINVAL:
        return "invalid record (arguments, unknown topic or partition, or too large)";
    case -EAGAIN:
        return "kafka producer queue full";
    case -ESHUTDOWN:
        return "kafka producer stopping";
    case -EIO:
        return "kafka producer failed";
    default:
        return "unknown error";
    }
}

void cn_kafka_producer_stats(struct cn_kafka_producer *p, struct cn_kafka_producer_stats *out)
{
    memset(out, 0, sizeof *out);
    out->produced = atomic_load_explicit(&p->produced, RELAXED);
    out->delivered = atomic_load_explicit(&p->delivered, RELAXED);
    out->failed = atomic_load_explicit(&p->failed, RELAXED);
    out->rejected = atomic_load_explicit(&p->rejected, RELAXED);
    out->in_flight = atomic_load_explicit(&p->in_flight, RELAXED);
    out->outages = atomic_load_explicit(&p->outages, RELAXED);
    for (int i = 0; i <= CN_KAFKA_LATENCY_BUCKETS; i++)
        out->latency_buckets[i] = atomic_load_explicit(&p->latency_buckets[i], RELAXED);
    out->latency_sum_us = atomic_load_explicit(&p->latency_sum_us, RELAXED);
}

void cn_kafka_producer_metrics_render(struct cn_strbuf *b, struct cn_kafka_producer *p)
{
    if (!p)
        return;
    struct cn_kafka_producer_stats st;
    cn_kafka_producer_stats(p, &st);
    cn_prom_counter(b, "chat_kafka_produced_total", "Records accepted by the SEND path's producer.",
                    st.produced);
    cn_prom_counter(b, "chat_kafka_delivered_total",
                    "Records acknowledged by every in-sync replica.", st.delivered);
    cn_prom_counter(b, "chat_kafka_delivery_failures_total",
                    "Records whose delivery failed (timeout, broker error, purge).", st.failed);
    cn_prom_counter(b, "chat_kafka_produce_rejected_total",
                    "Records refused because librdkafka's queue was full.", st.rejected);
    cn_prom_gauge(b, "chat_kafka_in_flight", "Records produced and not yet reported.",
                  (double)st.in_flight);
    cn_prom_counter(b, "chat_kafka_outages_total", "Transitions into deliveries failing.",
                    st.outages);
    /* Buckets are counted one by one; Prometheus wants them cumulative. */
    cn_prom_family(b, "chat_kafka_produce_duration_seconds", "histogram",
                   "Produce to acknowledgement (acks=all) of the SEND path's records.");
    uint64_t cumulative = 0;
    for (int i = 0; i < CN_KAFKA_LATENCY_BUCKETS; i++) {
        char label[32];
        cumulative += st.latency_buckets[i];
        snprintf(label, sizeof label, "le=\"%g\"", (double)cn_kafka_latency_bounds_us[i] / 1e6);
        cn_prom_sample_u64(b, "chat_kafka_produce_duration_seconds_bucket", label, cumulative);
    }
    cumulative += st.latency_buckets[CN_KAFKA_LATENCY_BUCKETS];
    cn_prom_sample_u64(b, "chat_kafka_produce_duration_seconds_bucket", "le=\"+Inf\"", cumulative);
    cn_prom_sample_f64(b, "chat_kafka_produce_duration_seconds_sum", NULL,
                       (double)st.latency_sum_us / 1e6);
    cn_prom_sample_u64(b, "chat_kafka_produce_duration_seconds_count", NULL, cumulative);
}
