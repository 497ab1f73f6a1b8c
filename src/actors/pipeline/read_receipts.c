/* The read-receipt pipeline as a whole: options, the group chat-read-receipt on the
 * partition pipeline shell, counters, the metrics section and the room event's body.
 * The per-partition work is read_receipts_step.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/log.h"
#include "base/xmalloc.h"
#include "proto/prom.h"
#include "actors/pipeline/read_receipts_internal.h"

static void rr_free(void *arg)
{
    struct cn_read_receipts *p = arg;
    free(p->brokers);
    free(p);
}

struct cn_read_receipts *cn_read_receipts_start(const struct cn_read_receipts_opts *o, char *err,
                                                size_t errlen)
{
    if (!o || !o->rt || !o->brokers || !o->pg || !o->redis || !o->dlt) {
        snprintf(err, errlen,
                 "read receipts: runtime, brokers, pool, redis and DLT producer are required");
        return NULL;
    }
    if (o->batch_max < 0 || o->batch_max > 100000 || o->retries < -1 || o->retries > 10 ||
        o->retry_backoff_ms < 0) {
        snprintf(err, errlen, "read receipts: batch_max 0..100000, retries -1..10, backoff >= 0");
        return NULL;
    }
    struct cn_read_receipts *p = cn_xcalloc(1, sizeof *p);
    p->o = *o;
    p->brokers = cn_xstrdup(o->brokers);
    p->o.brokers = p->brokers;
    if (p->o.retries == 0)
        p->o.retries = 3;
    else if (p->o.retries < 0)
        p->o.retries = 0;
    if (p->o.retry_backoff_ms == 0)
        p->o.retry_backoff_ms = 100;
    static const char *const topics[1] = {CN_READ_RECEIPTS_TOPIC};
    struct cn_pp_group_opts go = {
        .rt = o->rt,
        .step = &cn__rr_step,
        .owner = p,
        .owner_free = rr_free,
        .consumer =
            {
                .brokers = p->brokers,
                .group_id = CN_READ_RECEIPTS_GROUP,
                .topics = topics,
                .ntopics = 1,
                .batch_max = o->batch_max,
                .batch_linger_ms = -1, /* latency first: a reader waits for the unread count */
                .client_id = "chat-node-read-receipts",
                .fetch_wait_ms = o->fetch_wait_ms,
            },
        /* Like the persistence pipeline: a few retries (100, 400, 1600 ms by default),
         * then the batch goes to the DLT and the partition moves on. The statement
         * cannot fail for bad data, so what is parked there is an outage's, for the
         * operator to replay; holding the partition instead would hold every room of
         * it behind one stuck batch. */
        .dlt = o->dlt,
        .dlt_topic = CN_READ_RECEIPTS_DLT_TOPIC,
        .retry = {.retries = p->o.retries, .first_ms = p->o.retry_backoff_ms, .factor = 4},
        .counters =
            {
                .batches = &p->batches,
                .retries = &p->retries,
                .dlt_records = &p->dlt_records,
                .dlt_failures = &p->dlt_failures,
            },
    };
    p->group = cn_pp_group_start(&go, err, errlen);
    if (!p->group) {
        rr_free(p);
        return NULL;
    }
    CN_INFO("receipts", "group %s consuming %s (DLT %s, %d retries from %d ms)",
            CN_READ_RECEIPTS_GROUP, CN_READ_RECEIPTS_TOPIC, CN_READ_RECEIPTS_DLT_TOPIC,
            p->o.retries, p->o.retry_backoff_ms);
    return p;
}

void cn_read_receipts_close(struct cn_read_receipts *p)
{
    if (p)
        cn_pp_group_close(p->group);
}

struct cn_pp_group *cn_read_receipts_group(struct cn_read_receipts *p)
{
    return p ? p->group : NULL;
}

void cn_read_receipts_free(struct cn_read_receipts *p)
{
    if (p)
        cn_pp_group_free(p->group); /* frees p with the group's last reference */
}

static uint64_t ld(atomic_uint_fast64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed); /* relaxed: a count */
}

void cn_read_receipts_stats(struct cn_read_receipts *p, struct cn_read_receipts_stats *out)
{
    out->batches = ld(&p->batches);
    out->events = ld(&p->events);
    out->moved = ld(&p->moved);
    out->bad = ld(&p->bad);
    out->retries = ld(&p->retries);
    out->invalidations = ld(&p->invalidations);
    out->published = ld(&p->published);
    out->dlt_records = ld(&p->dlt_records);
    out->dlt_failures = ld(&p->dlt_failures);
}

void cn_read_receipts_metrics_render(struct cn_strbuf *b, struct cn_read_receipts *p)
{
    if (!p)
        return;
    struct cn_read_receipts_stats s;
    cn_read_receipts_stats(p, &s);
    cn_prom_counter(b, "chat_read_receipts_batches_total", "receipt batches applied and committed",
                    s.batches);
    cn_prom_counter(b, "chat_read_receipts_events_total", "receipt events decoded", s.events);
    cn_prom_counter(b, "chat_read_receipts_moved_total", "memberships whose read position moved",
                    s.moved);
    cn_prom_counter(b, "chat_read_receipts_bad_events_total",
                    "records of chat.read-receipts that did not decode (sent to the DLT)", s.bad);
    cn_prom_counter(b, "chat_read_receipts_retries_total", "apply attempts after a failure",
                    s.retries);
    cn_prom_counter(b, "chat_read_receipts_cache_invalidations_total",
                    "rooms:{userId} keys deleted after a read", s.invalidations);
    cn_prom_counter(b, "chat_read_receipts_published_total", "read events published to rooms",
                    s.published);
    cn_prom_counter(b, "chat_read_receipts_dlt_records_total",
                    "records acknowledged by chat.read-receipts.dlt", s.dlt_records);
    cn_prom_counter(b, "chat_read_receipts_dlt_failures_total",
                    "produce attempts to chat.read-receipts.dlt that failed (retried)",
                    s.dlt_failures);
}

int cn_read_event_body(char *buf, size_t cap, int64_t room_id, int64_t user_id, int64_t message_id)
{
    int n = snprintf(buf, cap,
                     "{\"type\":\"READ\",\"roomId\":%" PRId64 ",\"userId\":%" PRId64
                     ",\"messageId\":%" PRId64 "}",
                     room_id, user_id, message_id);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}
