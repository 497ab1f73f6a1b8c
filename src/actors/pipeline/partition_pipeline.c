/* The partition pipeline shell (see partition_pipeline.h): the group (consumer, owner,
 * references) and the per-partition actor (FIFO, one batch in flight, retries, DLT,
 * ordered commits) that runs a group's step.
 *
 * Tags: every attempt of a batch has its own number (`seq`), carried by the step's
 * requests and the retry timer, so a late reply of an attempt that was given up is
 * never taken for the current one's. DLT deliveries and their retry timers carry the
 * batch's number (`bseq`) and the record's index, because a DLT record outlives the
 * attempt that failed it. */
#include "actors/pipeline/partition_pipeline.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/xmalloc.h"

enum {
    MSG_BATCH = 1, /* struct cn_kafka_batch, from the consumer */
    MSG_REVOKE,    /* struct cn_kafka_revoke, from the consumer */
    MSG_RETRY,     /* struct tick (seq = attempt): start the effect again */
    MSG_DLT,       /* struct cn_kafka_delivery; tag = bseq << IDX_BITS | record index */
    MSG_DLT_RETRY, /* struct tick (seq = bseq, index): produce the record again */
};

#define DLT_RETRY_MS 1000
#define IDX_BITS     20      /* batches are far below 2^20 records (batch_max <= 100,000) */
#define MAX_WAIT_MS  3600000 /* bounds a backoff without a cap: an hour */

struct tick {
    cn_msg hdr;
    uint64_t seq;
    size_t index;
};

/* A record of the current batch handed to the DLT. */
struct dlt_rec {
    char *error; /* owned; NULL: not in the DLT */
    const char *stage;
    int attempts;
};

struct cn_pp_group {
    struct cn_pp_group_opts o;
    /* Owner only (start, close, free); the actors commit to the consumer the factory
     * handed them, which stays valid until cn_pp_group_free. */
    struct cn_kafka_consumer *consumer;
    /* Set by cn_pp_group_close; read by /metrics threads (relaxed: a flag, it
     * publishes nothing, and the consumer's memory stays valid either way). */
    atomic_bool closed;
    /* One for the owner plus one per live actor. acq_rel decrement: the last holder
     * must see every other holder's writes before freeing; increments by a holder are
     * relaxed (the holder's reference keeps the group alive). */
    atomic_uint refs;
    char group_id[64]; /* the consumer group, for /metrics labels */
};

struct cn_pp {
    struct cn_pp_group *g;
    struct cn_kafka_consumer *consumer; /* where commits go (from the factory) */
    const struct cn_pp_step *step;
    cn_actor *self; /* set at each turn: the actor runs only on its own turns */
    char topic[64];
    int32_t partition;
    /* The FIFO, linked through hdr.next. `head` is the batch in progress: it is started
     * the moment it becomes the head, so a head always has an effect under way. */
    struct cn_kafka_batch *head, *tail;
    uint64_t seq;  /* the current attempt */
    uint64_t bseq; /* the current batch */
    int attempts;  /* begun for the head */
    bool effect_done, gave_up;
    bool closed;         /* the DLT producer refused with -ESHUTDOWN: stop at the next step */
    size_t dlt_pending;  /* DLT records not yet acknowledged */
    struct dlt_rec *dlt; /* per record of the head, allocated by the first cn_pp_dlt */
    char error[272];
    max_align_t st[]; /* the step's state, state_size bytes */
};

static void count(atomic_uint_fast64_t *c, int64_t n)
{
    if (c) /* relaxed: a statistic, read by /metrics only */
        atomic_fetch_add_explicit(c, (uint64_t)n, memory_order_relaxed);
}

static void group_unref(struct cn_pp_group *g)
{
    /* acq_rel: pairs with the other holders' decrements (see `refs`). */
    if (atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (g->o.owner_free)
        g->o.owner_free(g->o.owner);
    free(g);
}

/* ---- the batch in progress ---------------------------------------------------------- */

static void arm(struct cn_pp *pp, uint32_t type, uint64_t seq, size_t index, int64_t ms)
{
    struct tick *t = cn_xmalloc(sizeof *t);
    cn_msg_init(&t->hdr, type, NULL);
    t->seq = seq;
    t->index = index;
    cn_timer_after(cn_actor_runtime(pp->self), pp->self, (uint64_t)ms, &t->hdr);
}

/* The head is over: the step frees its part, then the batch goes. */
static void end_batch(struct cn_pp *pp)
{
    struct cn_kafka_batch *x = pp->head;
    if (pp->step->end)
        pp->step->end(pp, pp->st);
    if (pp->dlt) {
        for (size_t i = 0; i < x->n; i++)
            free(pp->dlt[i].error);
        free(pp->dlt);
        pp->dlt = NULL;
    }
    pp->head = (struct cn_kafka_batch *)x->hdr.next;
    if (!pp->head)
        pp->tail = NULL;
    cn_msg_free(&x->hdr);
}

static enum cn_pp_verdict begin_attempt(struct cn_pp *pp)
{
    pp->seq++;
    if (pp->attempts++ > 0)
        count(pp->g->o.counters.retries, 1);
    return pp->step->start(pp, pp->st, pp->head, pp->attempts - 1);
}

static enum cn_pp_verdict begin_batch(struct cn_pp *pp)
{
    pp->bseq++;
    pp->attempts = 0;
    pp->effect_done = false;
    pp->gave_up = false;
    pp->dlt_pending = 0;
    pp->error[0] = '\0';
    return begin_attempt(pp);
}

/* Produces DLT record i of the head with its error and origin. Same partition number as
 * the origin: the DLT twin has the same count, and a garbage record may have no key to
 * partition by. */
static void produce_dlt(struct cn_pp *pp, size_t i)
{
    struct cn_pp_group *g = pp->g;
    const struct cn_kafka_record *r = &pp->head->records[i];
    const struct dlt_rec *d = &pp->dlt[i];
    char part[16], off[24], att[16];
    snprintf(part, sizeof part, "%" PRId32, r->partition);
    snprintf(off, sizeof off, "%" PRId64, r->offset);
    snprintf(att, sizeof att, "%d", d->attempts);
    struct cn_kafka_header h[] = {
        {"error", d->error, strlen(d->error)},
        {"error-stage", d->stage, strlen(d->stage)},
        {"origin-topic", pp->head->topic, strlen(pp->head->topic)},
        {"origin-partition", part, strlen(part)},
        {"origin-offset", off, strlen(off)},
        {"attempts", att, strlen(att)},
    };
    int rc = cn_kafka_produce(g->o.dlt, g->o.dlt_topic, r->partition, r->key, r->keylen, r->value,
                              r->len, h, sizeof h / sizeof h[0], pp->self, MSG_DLT,
                              pp->bseq << IDX_BITS | i);
    if (rc == -ESHUTDOWN) {
        pp->closed = true; /* no retry: the batch is redelivered after the restart */
        return;
    }
    if (rc != 0) {
        /* Queue full, broker trouble: the partition waits rather than losing the record. */
        count(g->o.counters.dlt_failures, 1);
        CN_WARN(pp->step->name, "%s[%d] offset %" PRId64 ": DLT produce refused (%s); retrying",
                pp->topic, pp->partition, r->offset, cn_kafka_produce_strerror(rc));
        arm(pp, MSG_DLT_RETRY, pp->bseq, i, DLT_RETRY_MS);
    }
}

/* Every record of the head that is not in the DLT yet goes there with the last error. */
static void dlt_rest(struct cn_pp *pp)
{
    const char *stage = pp->step->dlt_stage ? pp->step->dlt_stage : "effect";
    for (size_t i = 0; i < pp->head->n && !pp->closed; i++)
        cn_pp_dlt(pp, i, pp->error, stage, pp->attempts);
}

static enum cn_pp_verdict give_up(struct cn_pp *pp)
{
    if (!pp->gave_up && pp->step->give_up) {
        pp->gave_up = true;
        enum cn_pp_verdict v = pp->step->give_up(pp, pp->st);
        if (v != CN_PP_FAIL && v != CN_PP_RETRY)
            return v;
    }
    pp->gave_up = true;
    dlt_rest(pp);
    return CN_PP_DONE;
}

static void commit(struct cn_pp *pp)
{
    struct cn_pp_group *g = pp->g;
    const struct cn_kafka_batch *x = pp->head;
    int64_t next = x->records[x->n - 1].offset + 1;
    count(g->o.counters.batches, 1); /* first: whoever sees the commit sees the count */
    /* -ESHUTDOWN once the group is closing: the batch is redelivered to the next owner. */
    int rc = cn_kafka_consumer_commit(pp->consumer, x->topic, pp->partition, next);
    if (rc != 0)
        CN_WARN(pp->step->name, "%s[%d]: commit of %" PRId64 " refused: %s", pp->topic,
                pp->partition, next, strerror(-rc));
}

/* An adapter is closed: nothing of the queue is committed or sent to the DLT, so all of
 * it comes again after the restart. state_free frees it. */
static void stop(struct cn_pp *pp)
{
    size_t n = 0;
    for (struct cn_kafka_batch *x = pp->head; x; x = (struct cn_kafka_batch *)x->hdr.next)
        n++;
    CN_INFO(pp->step->name, "%s[%d]: an adapter is closed; %zu batches left for redelivery",
            pp->topic, pp->partition, n);
    cn_actor_stop(pp->self);
}

/* Acts on the step's verdict about the head, and goes on with the next batches for as
 * long as they finish at once. */
static void advance(struct cn_pp *pp, enum cn_pp_verdict v)
{
    for (;;) {
        if (pp->closed)
            v = CN_PP_STOP;
        switch (v) {
        case CN_PP_PENDING:
            return;
        case CN_PP_RETRY: {
            int64_t ms = cn_pp_retry_ms(pp);
            if (ms >= 0) {
                arm(pp, MSG_RETRY, pp->seq, 0, ms);
                return;
            }
            v = give_up(pp);
            continue;
        }
        case CN_PP_FAIL:
            v = give_up(pp);
            continue;
        case CN_PP_STOP:
            stop(pp);
            return;
        case CN_PP_DONE:
            pp->effect_done = true;
            break;
        }
        if (pp->dlt_pending > 0)
            return; /* the last acknowledgement comes back here */
        commit(pp);
        end_batch(pp);
        if (!pp->head)
            return;
        v = begin_batch(pp);
    }
}

static void on_dlt(struct cn_pp *pp, const struct cn_kafka_delivery *d)
{
    size_t i = (size_t)(d->tag & ((1u << IDX_BITS) - 1));
    if (d->ok) {
        count(pp->g->o.counters.dlt_records, 1);
        pp->dlt_pending--;
        if (pp->effect_done)
            advance(pp, CN_PP_DONE);
        return;
    }
    count(pp->g->o.counters.dlt_failures, 1);
    CN_WARN(pp->step->name, "%s[%d] offset %" PRId64 ": DLT delivery failed (%s); retrying",
            pp->topic, pp->partition, pp->head->records[i].offset, d->error);
    arm(pp, MSG_DLT_RETRY, pp->bseq, i, DLT_RETRY_MS);
}

/* ---- the actor -------------------------------------------------------------------- */

static void behave(cn_actor *self, void *state, cn_msg *m)
{
    struct cn_pp *pp = state;
    pp->self = self;
    switch (m->type) {
    case MSG_BATCH: {
        struct cn_kafka_batch *x = (struct cn_kafka_batch *)m;
        atomic_store_explicit(&x->hdr.next, NULL, memory_order_relaxed); /* ours now */
        if (pp->tail) {
            atomic_store_explicit(&pp->tail->hdr.next, &x->hdr, memory_order_relaxed);
            pp->tail = x;
            return; /* waits for the head */
        }
        pp->head = pp->tail = x;
        advance(pp, begin_batch(pp));
        return; /* owned by the FIFO */
    }
    case MSG_REVOKE:
        /* Uncommitted batches are redelivered to the next owner. */
        cn_actor_stop(self);
        break;
    case MSG_RETRY:
        if (pp->head && ((struct tick *)m)->seq == pp->seq)
            advance(pp, begin_attempt(pp));
        break;
    case MSG_DLT: {
        struct cn_kafka_delivery *d = (struct cn_kafka_delivery *)m;
        if (pp->head && d->tag >> IDX_BITS == pp->bseq)
            on_dlt(pp, d);
        break;
    }
    case MSG_DLT_RETRY: {
        struct tick *t = (struct tick *)m;
        if (pp->head && t->seq == pp->bseq) {
            produce_dlt(pp, t->index);
            if (pp->closed)
                advance(pp, CN_PP_STOP);
        }
        break;
    }
    default:
        if (m->type >= CN_PP_MSG_STEP && pp->head)
            advance(pp, pp->step->on_msg(pp, pp->st, m));
        break;
    }
    cn_msg_free(m);
}

static void state_free(void *state)
{
    struct cn_pp *pp = state;
    if (pp->head)
        end_batch(pp); /* the head was started: the step has its part to free */
    while (pp->head) {
        struct cn_kafka_batch *x = pp->head;
        pp->head = (struct cn_kafka_batch *)x->hdr.next;
        cn_msg_free(&x->hdr);
    }
    count(pp->g->o.counters.partitions, -1);
    group_unref(pp->g);
    free(pp);
}

/* The consumer's pipeline factory (consumer thread). */
static cn_actor *spawn(void *arg, struct cn_kafka_consumer *c, const char *topic, int32_t partition)
{
    struct cn_pp_group *g = arg;
    const struct cn_pp_step *step = g->o.step;
    size_t st = (step->state_size + sizeof(max_align_t) - 1) / sizeof(max_align_t);
    struct cn_pp *pp = cn_xcalloc(1, sizeof *pp + st * sizeof(max_align_t));
    pp->g = g;
    pp->consumer = c;
    pp->step = step;
    snprintf(pp->topic, sizeof pp->topic, "%s", topic);
    pp->partition = partition;
    /* relaxed: an increment by a holder; the owner's reference keeps g alive here. */
    atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
    count(g->o.counters.partitions, 1);
    CN_INFO(step->name, "%s[%d] assigned", topic, partition);
    return cn_actor_spawn(g->o.rt, behave, pp, state_free);
}

/* ---- the group -------------------------------------------------------------------- */

struct cn_pp_group *cn_pp_group_start(const struct cn_pp_group_opts *o, char *err, size_t errlen)
{
    if (!o || !o->rt || !o->step || !o->step->name || !o->step->start || !o->step->on_msg ||
        (o->dlt && !o->dlt_topic) || o->retry.retries < -1 || o->retry.first_ms < 0 ||
        o->retry.factor < 1 || o->retry.max_ms < 0) {
        snprintf(err, errlen, "partition pipeline: runtime, step, DLT topic or retry are invalid");
        return NULL;
    }
    struct cn_pp_group *g = cn_xcalloc(1, sizeof *g);
    g->o = *o;
    snprintf(g->group_id, sizeof g->group_id, "%s",
             o->consumer.group_id ? o->consumer.group_id : "");
    atomic_init(&g->refs, 1);
    atomic_init(&g->closed, false);
    struct cn_kafka_consumer_opts co = o->consumer;
    co.pipeline = spawn;
    co.pipeline_arg = g;
    co.batch_type = MSG_BATCH;
    co.revoke_type = MSG_REVOKE;
    g->consumer = cn_kafka_consumer_start(&co, err, errlen);
    if (!g->consumer) {
        g->o.owner_free = NULL; /* the caller keeps the owner */
        group_unref(g);
        return NULL;
    }
    return g;
}

void cn_pp_group_close(struct cn_pp_group *g)
{
    if (!g)
        return;
    /* Commits made before are applied by the close, later ones are refused and their
     * batches redelivered to the next owner. */
    atomic_store_explicit(&g->closed, true, memory_order_relaxed);
    cn_kafka_consumer_close(g->consumer);
}

void cn_pp_group_free(struct cn_pp_group *g)
{
    if (!g)
        return;
    cn_kafka_consumer_free(g->consumer); /* closes it first if the owner did not */
    g->consumer = NULL;
    group_unref(g);
}

bool cn_pp_group_consumer_stats(struct cn_pp_group *g, struct cn_kafka_consumer_stats *out,
                                struct cn_kafka_partition_stats *parts, size_t cap, size_t *nparts)
{
    bool open = !atomic_load_explicit(&g->closed, memory_order_relaxed);
    if (open)
        *nparts = cn_kafka_consumer_stats(g->consumer, out, parts, cap);
    return open;
}

const char *cn_pp_group_id(const struct cn_pp_group *g)
{
    return g->group_id;
}

/* ---- for steps -------------------------------------------------------------------- */

void *cn_pp_owner(const struct cn_pp *pp)
{
    return pp->g->o.owner;
}

cn_actor *cn_pp_self(const struct cn_pp *pp)
{
    return pp->self;
}

const char *cn_pp_topic(const struct cn_pp *pp)
{
    return pp->topic;
}

int32_t cn_pp_partition(const struct cn_pp *pp)
{
    return pp->partition;
}

const struct cn_kafka_batch *cn_pp_batch(const struct cn_pp *pp)
{
    return pp->head;
}

uint64_t cn_pp_tag(const struct cn_pp *pp)
{
    return pp->seq;
}

bool cn_pp_current(const struct cn_pp *pp, uint64_t tag)
{
    return pp->head && tag == pp->seq;
}

int cn_pp_attempts(const struct cn_pp *pp)
{
    return pp->attempts;
}

int64_t cn_pp_retry_ms(const struct cn_pp *pp)
{
    const struct cn_pp_retry *r = &pp->g->o.retry;
    int done = pp->attempts - 1; /* retries made so far */
    if (pp->gave_up || (r->retries >= 0 && done >= r->retries))
        return -1;
    int64_t ms = r->first_ms;
    for (int i = 0; i < done && ms < MAX_WAIT_MS; i++)
        ms *= r->factor;
    if (ms > MAX_WAIT_MS)
        ms = MAX_WAIT_MS;
    return r->max_ms > 0 && ms > r->max_ms ? r->max_ms : ms;
}

void cn_pp_error(struct cn_pp *pp, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pp->error, sizeof pp->error, fmt, ap);
    va_end(ap);
}

const char *cn_pp_error_text(const struct cn_pp *pp)
{
    return pp->error;
}

void cn_pp_dlt(struct cn_pp *pp, size_t i, const char *error, const char *stage, int attempts)
{
    const struct cn_kafka_batch *x = pp->head;
    if (!x || i >= x->n || (pp->dlt && pp->dlt[i].error))
        return;
    if (!pp->dlt)
        pp->dlt = cn_xcalloc(x->n, sizeof *pp->dlt);
    struct dlt_rec *d = &pp->dlt[i];
    d->error = cn_xstrdup(error ? error : "");
    d->stage = stage ? stage : "effect";
    d->attempts = attempts;
    if (!pp->g->o.dlt) {
        CN_WARN(pp->step->name, "%s[%d] offset %" PRId64 ": no DLT, record skipped: %s", pp->topic,
                pp->partition, x->records[i].offset, d->error);
        return;
    }
    pp->dlt_pending++;
    produce_dlt(pp, i);
}

bool cn_pp_in_dlt(const struct cn_pp *pp, size_t i)
{
    return pp->head && pp->dlt && i < pp->head->n && pp->dlt[i].error;
}
