/* The persistence pipeline actor of one partition of chat.messages: stores each batch
 * with one messages_insert_batch round trip, drops the members' cached room lists,
 * then commits; failed inserts are retried on timers and end in the DLT. See
 * persist.h for the flow.
 *
 * One batch at a time: batches that arrive while one is in progress wait in a FIFO
 * here (the consumer bounds them with max_in_flight), because a second insert of the
 * same partition running beside the first could give a room's rows ids out of Kafka
 * order. Every reply and timer carries the sequence number of its batch, so nothing
 * of an earlier batch can be mistaken for the current one's. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/xmalloc.h"
#include "actors/pipeline/persist_internal.h"
#include "actors/sql/queries.h"

enum {
    MSG_INSERT = 10, /* struct cn_pg_reply of messages_insert_batch */
    MSG_MEMBERS,     /* struct cn_pg_reply of room_member_ids_many */
    MSG_DLT,         /* struct cn_kafka_delivery; tag = seq << 20 | record index */
    MSG_RETRY,       /* struct tick: retry the insert */
    MSG_DLT_RETRY,   /* struct tick: produce record `index` to the DLT again */
};

#define DLT_RETRY_MS   1000
#define IDX_BITS       20 /* batches are far below 2^20 records (batch_max <= 100,000) */
#define STOPPING_STATE "08003"

struct tick {
    cn_msg hdr;
    uint64_t seq;
    size_t index;
};

struct pstate {
    struct cn_persist *p;
    char *topic;
    int32_t partition;
    struct cn_kafka_batch **q; /* waiting batches, FIFO ring */
    size_t qhead, qlen, qcap;
    /* The batch in progress (NULL: idle) and its bookkeeping. */
    struct cn_kafka_batch *cur;
    uint64_t seq;
    const char **why; /* per record: NULL = decoded; else why it goes to the DLT */
    int *attempts_of; /* per record: the insert attempts behind its DLT record */
    size_t ngood;
    char *params[8];
    int attempts;       /* insert attempts made */
    size_t dlt_pending; /* DLT records not yet acknowledged */
    bool insert_done;   /* stored (and caches dropped), or handed to the DLT */
    char error[272];    /* the last insert error: sqlstate, ": ", message */
    /* After the batch insert failed every attempt, the events are inserted one by
     * one so that only those that fail alone go to the DLT (one bad room id must
     * not take the good events of its batch with it). */
    bool splitting;
    size_t split_i;         /* the record whose single insert is in flight */
    char (*split_err)[272]; /* per record: its own error, for its DLT header */
};

static void free_params(struct pstate *s)
{
    for (int i = 0; i < 8; i++) {
        free(s->params[i]);
        s->params[i] = NULL;
    }
}

static void end_batch(struct pstate *s)
{
    cn_msg_free(&s->cur->hdr);
    s->cur = NULL;
    free(s->why);
    free(s->attempts_of);
    free(s->split_err);
    s->why = NULL;
    s->attempts_of = NULL;
    s->split_err = NULL;
    s->splitting = false;
    free_params(s);
}

static void state_free(void *arg)
{
    struct pstate *s = arg;
    if (s->cur)
        end_batch(s);
    for (size_t i = 0; i < s->qlen; i++)
        cn_msg_free(&s->q[(s->qhead + i) % s->qcap]->hdr);
    free(s->q);
    free(s->topic);
    cn__persist_unref(s->p);
    free(s);
}

static void send_tick(cn_actor *self, uint32_t type, uint64_t seq, size_t index, uint64_t ms)
{
    struct tick *t = cn_xmalloc(sizeof *t);
    cn_msg_init(&t->hdr, type, NULL);
    t->seq = seq;
    t->index = index;
    cn_timer_after(cn_actor_runtime(self), self, ms, &t->hdr);
}

/* Produces record i of the current batch to the DLT with its error and origin. A
 * refused produce (queue full, broker trouble) is tried again after DLT_RETRY_MS:
 * the partition waits rather than losing the record. */
static void produce_dlt(cn_actor *self, struct pstate *s, size_t i)
{
    struct cn_persist *p = s->p;
    const struct cn_kafka_record *r = &s->cur->records[i];
    char part[16], off[24], att[16];
    snprintf(part, sizeof part, "%" PRId32, r->partition);
    snprintf(off, sizeof off, "%" PRId64, r->offset);
    snprintf(att, sizeof att, "%d", s->attempts_of[i]);
    const char *stage = s->attempts_of[i] == 0 ? "decode" : "insert";
    struct cn_kafka_header h[] = {
        {"error", s->why[i], strlen(s->why[i])},
        {"error-stage", stage, strlen(stage)},
        {"origin-topic", s->cur->topic, strlen(s->cur->topic)},
        {"origin-partition", part, strlen(part)},
        {"origin-offset", off, strlen(off)},
        {"attempts", att, strlen(att)},
    };
    if (!cn__persist_enter(p))
        return;
    /* Same partition number as the origin: the DLT twin has the same count, and a
     * garbage record may have no key to partition by. */
    int rc =
        cn_kafka_produce(p->o.dlt, p->dlt_topic, r->partition, r->key, r->keylen, r->value, r->len,
                         h, sizeof h / sizeof h[0], self, MSG_DLT, s->seq << IDX_BITS | i);
    cn__persist_leave(p);
    if (rc != 0) {
        atomic_fetch_add_explicit(&p->dlt_failures, 1, memory_order_relaxed);
        CN_WARN("persist", "%s[%d] offset %" PRId64 ": DLT produce refused (%s); retrying",
                s->topic, s->partition, r->offset, cn_kafka_produce_strerror(rc));
        send_tick(self, MSG_DLT_RETRY, s->seq, i, DLT_RETRY_MS);
    }
}

static void send_insert(cn_actor *self, struct pstate *s)
{
    struct cn_persist *p = s->p;
    if (!cn__persist_enter(p))
        return;
    int rc =
        cn_pg_pool_query(p->o.pg, self, MSG_INSERT, s->seq, cn_sql(CN_SQL_MESSAGES_INSERT_BATCH), 8,
                         (const char *const *)s->params);
    cn__persist_leave(p);
    s->attempts++;
    if (rc != 0) {
        /* Not queued (pool queue full): the same path as a failed insert. */
        struct cn_pg_reply *r = cn_xcalloc(1, sizeof *r);
        cn_msg_init(&r->hdr, MSG_INSERT, NULL);
        r->tag = s->seq;
        snprintf(r->error, sizeof r->error, "pool refused the query: %s", cn_pg_pool_strerror(rc));
        cn_actor_send(self, &r->hdr);
    }
}

static void maybe_finish(cn_actor *self, struct pstate *s);
static void next_single(cn_actor *self, struct pstate *s);

static void start_batch(cn_actor *self, struct pstate *s)
{
    while (!s->cur && s->qlen > 0) {
        s->cur = s->q[s->qhead];
        s->qhead = (s->qhead + 1) % s->qcap;
        s->qlen--;
        s->seq++;
        s->attempts = 0;
        s->ngood = 0;
        s->dlt_pending = 0;
        s->insert_done = false;
        s->error[0] = '\0';
        size_t n = s->cur->n;
        s->why = cn_xcalloc(n, sizeof *s->why);
        s->attempts_of = cn_xcalloc(n, sizeof *s->attempts_of);
        struct cn_persist_sql sql;
        cn__persist_sql_init(&sql);
        for (size_t i = 0; i < n; i++) {
            const struct cn_kafka_record *r = &s->cur->records[i];
            struct cn_chat_message_event e;
            int rc = r->value ? cn_event_decode_chat_message(r->value, r->len, &e)
                              : CN_EVENT_E_MALFORMED;
            if (rc != 0)
                s->why[i] = cn_event_strerror(rc);
            else if (memchr(e.content, '\0', e.content_len))
                s->why[i] = "content holds a NUL byte (PostgreSQL text cannot)";
            else {
                cn__persist_sql_add(&sql, &e, r->partition, r->offset);
                s->ngood++;
                continue;
            }
            atomic_fetch_add_explicit(&s->p->dlt_decode, 1, memory_order_relaxed);
            CN_WARN("persist", "%s[%d] offset %" PRId64 ": undecodable event to the DLT: %s",
                    s->topic, s->partition, r->offset, s->why[i]);
        }
        cn__persist_sql_finish(&sql, s->params);
        for (size_t i = 0; i < n; i++)
            if (s->why[i]) {
                s->dlt_pending++;
                produce_dlt(self, s, i);
            }
        if (s->ngood > 0)
            send_insert(self, s);
        else
            s->insert_done = true;
        maybe_finish(self, s); /* may start the next batch */
    }
}

/* Commits the current batch once it is stored (or in the DLT) and every DLT record of
 * it is acknowledged, then moves on. */
static void maybe_finish(cn_actor *self, struct pstate *s)
{
    if (!s->cur || !s->insert_done || s->dlt_pending > 0)
        return;
    struct cn_persist *p = s->p;
    int64_t next = s->cur->records[s->cur->n - 1].offset + 1;
    if (!cn__persist_enter(p))
        return;
    /* No consumer: the pipeline is stopping; the batch is redelivered to the next owner. */
    int rc = p->consumer ? cn_kafka_consumer_commit(p->consumer, s->cur->topic, s->partition, next)
                         : -ESHUTDOWN;
    cn__persist_leave(p);
    if (rc != 0)
        CN_WARN("persist", "%s[%d]: commit of %" PRId64 " refused: %s", s->topic, s->partition,
                next, strerror(-rc));
    atomic_fetch_add_explicit(&p->commits, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->batches, 1, memory_order_relaxed);
    end_batch(s);
    start_batch(self, s);
}

/* Split mode: inserts the next decodable record of the batch alone (one attempt:
 * the batch already had its retries), or ends the batch when none is left. */
static void next_single(cn_actor *self, struct pstate *s)
{
    while (s->split_i < s->cur->n && s->why[s->split_i])
        s->split_i++;
    if (s->split_i == s->cur->n) {
        /* The members' cached lists of rooms that got rows now expire by their TTL:
         * this path is rare, and the batch path drops them at once. */
        s->insert_done = true;
        maybe_finish(self, s);
        return;
    }
    const struct cn_kafka_record *r = &s->cur->records[s->split_i];
    struct cn_chat_message_event e;
    cn_event_decode_chat_message(r->value, r->len, &e); /* decoded fine in start_batch */
    struct cn_persist_sql sql;
    cn__persist_sql_init(&sql);
    cn__persist_sql_add(&sql, &e, r->partition, r->offset);
    free_params(s);
    cn__persist_sql_finish(&sql, s->params);
    send_insert(self, s);
}

static void on_single(cn_actor *self, struct pstate *s, const struct cn_pg_reply *r)
{
    size_t i = s->split_i++;
    if (r->ok) {
        atomic_fetch_add_explicit(&s->p->rows, (uint64_t)cn_pg_rows_count(r->rows),
                                  memory_order_relaxed);
    } else {
        if (strcmp(r->sqlstate, STOPPING_STATE) == 0)
            return; /* the next owner redoes the batch */
        snprintf(s->split_err[i], sizeof s->split_err[i], "%s%s%s", r->sqlstate,
                 r->sqlstate[0] ? ": " : "", r->error);
        s->why[i] = s->split_err[i];
        s->attempts_of[i] = s->p->o.retries + 1; /* the batch's attempts: this one was extra */
        s->dlt_pending++;
        produce_dlt(self, s, i);
    }
    next_single(self, s);
}

static void insert_failed(cn_actor *self, struct pstate *s, const struct cn_pg_reply *r)
{
    struct cn_persist *p = s->p;
    if (strcmp(r->sqlstate, STOPPING_STATE) == 0)
        return; /* the pool is stopping: the next owner redoes the batch */
    snprintf(s->error, sizeof s->error, "%s%s%s", r->sqlstate, r->sqlstate[0] ? ": " : "",
             r->error);
    int retries_done = s->attempts - 1;
    if (retries_done < p->o.retries) {
        uint64_t ms = (uint64_t)p->o.retry_backoff_ms;
        for (int i = 0; i < retries_done; i++)
            ms *= 4;
        CN_WARN("persist",
                "%s[%d]: insert of %zu events failed (attempt %d), retry in %" PRIu64 " ms: %s",
                s->topic, s->partition, s->ngood, s->attempts, ms, s->error);
        send_tick(self, MSG_RETRY, s->seq, 0, ms);
        return;
    }
    if (s->ngood > 1) {
        CN_WARN("persist", "%s[%d]: insert of %zu events failed %d times (%s): one by one now",
                s->topic, s->partition, s->ngood, s->attempts, s->error);
        s->splitting = true;
        s->split_err = cn_xcalloc(s->cur->n, sizeof *s->split_err);
        s->split_i = 0;
        next_single(self, s);
        return;
    }
    CN_WARN("persist", "%s[%d]: insert of %zu events failed %d times, to the DLT: %s", s->topic,
            s->partition, s->ngood, s->attempts, s->error);
    s->insert_done = true;
    for (size_t i = 0; i < s->cur->n; i++)
        if (!s->why[i]) {
            s->why[i] = s->error;
            s->attempts_of[i] = s->attempts;
            s->dlt_pending++;
            produce_dlt(self, s, i);
        }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Asks for the members of every room that got a row, so their cached room lists can
 * be dropped. Returns false when there is nothing to ask (then the batch is done). */
static bool ask_members(cn_actor *self, struct pstate *s, struct cn_pg_rows *res)
{
    struct cn_persist *p = s->p;
    int rows = cn_pg_rows_count(res);
    if (!p->o.redis || rows == 0)
        return false;
    int64_t *rooms = cn_xmalloc((size_t)rows * sizeof *rooms);
    for (int i = 0; i < rows; i++)
        rooms[i] = cn_pg_rows_i64(res, i, "room_id");
    qsort(rooms, (size_t)rows, sizeof *rooms, cmp_i64);
    struct cn_strbuf b;
    cn_strbuf_init(&b, 64);
    cn_strbuf_append(&b, "{", 1);
    for (int i = 0; i < rows; i++)
        if (i == 0 || rooms[i] != rooms[i - 1])
            cn_strbuf_printf(&b, "%s%" PRId64, i ? "," : "", rooms[i]);
    cn_strbuf_append(&b, "}", 1);
    free(rooms);
    char *arr = cn_strbuf_take(&b, NULL);
    const char *params[1] = {arr};
    int rc = -ESHUTDOWN;
    if (cn__persist_enter(p)) {
        rc = cn_pg_pool_query(p->o.pg, self, MSG_MEMBERS, s->seq,
                              cn_sql(CN_SQL_ROOM_MEMBER_IDS_MANY), 1, params);
        cn__persist_leave(p);
    }
    free(arr);
    if (rc != 0) {
        /* The rows are stored; the lists expire by their TTL. */
        CN_WARN("persist", "%s[%d]: cannot ask room members for cache invalidation: %s", s->topic,
                s->partition, cn_pg_pool_strerror(rc));
        return false;
    }
    return true;
}

static void on_insert(cn_actor *self, struct pstate *s, struct cn_pg_reply *r)
{
    if (!r->ok) {
        insert_failed(self, s, r);
        return;
    }
    struct cn_persist *p = s->p;
    uint64_t rows = (uint64_t)cn_pg_rows_count(r->rows);
    atomic_fetch_add_explicit(&p->rows, rows, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->duplicates, s->ngood - rows, memory_order_relaxed);
    if (ask_members(self, s, r->rows))
        return;
    s->insert_done = true;
    maybe_finish(self, s);
}

/* DEL rooms:{id} ... in one command, fire and forget: a failure leaves lists that
 * expire by their TTL, which is no reason to hold the partition. */
static void on_members(struct pstate *s, struct cn_pg_reply *r)
{
    struct cn_persist *p = s->p;
    int n = r->ok ? cn_pg_rows_count(r->rows) : 0;
    if (!r->ok)
        CN_WARN("persist", "%s[%d]: room members for cache invalidation: %s", s->topic,
                s->partition, r->error);
    if (n == 0)
        return;
    char(*keys)[32] = cn_xmalloc((size_t)n * sizeof *keys);
    const char **argv = cn_xmalloc(((size_t)n + 1) * sizeof *argv);
    argv[0] = "DEL";
    for (int i = 0; i < n; i++) {
        snprintf(keys[i], sizeof keys[i], "rooms:%lld",
                 (long long)cn_pg_rows_i64(r->rows, i, "user_id"));
        argv[i + 1] = keys[i];
    }
    if (cn__persist_enter(p)) {
        if (cn_redis_command(p->o.redis, NULL, 0, 0, n + 1, argv, NULL) == 0)
            atomic_fetch_add_explicit(&p->invalidations, (uint64_t)n, memory_order_relaxed);
        cn__persist_leave(p);
    }
    free(argv);
    free(keys);
}

static void on_dlt(cn_actor *self, struct pstate *s, struct cn_kafka_delivery *d)
{
    size_t i = (size_t)(d->tag & ((1u << IDX_BITS) - 1));
    if (d->ok) {
        atomic_fetch_add_explicit(&s->p->dlt_records, 1, memory_order_relaxed);
        s->dlt_pending--;
        maybe_finish(self, s);
        return;
    }
    atomic_fetch_add_explicit(&s->p->dlt_failures, 1, memory_order_relaxed);
    CN_WARN("persist", "%s[%d] offset %" PRId64 ": DLT delivery failed (%s); retrying", s->topic,
            s->partition, s->cur->records[i].offset, d->error);
    send_tick(self, MSG_DLT_RETRY, s->seq, i, DLT_RETRY_MS);
}

static void behave(cn_actor *self, void *state, cn_msg *m)
{
    struct pstate *s = state;
    switch (m->type) {
    case CN_PERSIST_MSG_BATCH:
        if (s->qlen == s->qcap) {
            size_t cap = s->qcap ? s->qcap * 2 : 8;
            struct cn_kafka_batch **q = cn_xmalloc(cap * sizeof *q);
            for (size_t i = 0; i < s->qlen; i++)
                q[i] = s->q[(s->qhead + i) % s->qcap];
            free(s->q);
            s->q = q;
            s->qcap = cap;
            s->qhead = 0;
        }
        s->q[(s->qhead + s->qlen) % s->qcap] = (struct cn_kafka_batch *)m;
        s->qlen++;
        start_batch(self, s);
        return; /* the batch is owned by the queue or the current batch now */
    case CN_PERSIST_MSG_REVOKE:
        /* Uncommitted work is redelivered to the next owner; inserts are idempotent. */
        cn_actor_stop(self);
        break;
    case MSG_INSERT: {
        struct cn_pg_reply *r = (struct cn_pg_reply *)m;
        if (s->cur && r->tag == s->seq) {
            if (s->splitting)
                on_single(self, s, r);
            else
                on_insert(self, s, r);
        }
        break;
    }
    case MSG_MEMBERS: {
        struct cn_pg_reply *r = (struct cn_pg_reply *)m;
        if (s->cur && r->tag == s->seq) {
            on_members(s, r);
            s->insert_done = true;
            maybe_finish(self, s);
        }
        break;
    }
    case MSG_DLT: {
        struct cn_kafka_delivery *d = (struct cn_kafka_delivery *)m;
        if (s->cur && d->tag >> IDX_BITS == s->seq)
            on_dlt(self, s, d);
        break;
    }
    case MSG_RETRY: {
        struct tick *t = (struct tick *)m;
        if (s->cur && t->seq == s->seq) {
            atomic_fetch_add_explicit(&s->p->retries, 1, memory_order_relaxed);
            send_insert(self, s);
        }
        break;
    }
    case MSG_DLT_RETRY: {
        struct tick *t = (struct tick *)m;
        if (s->cur && t->seq == s->seq)
            produce_dlt(self, s, t->index);
        break;
    }
    default:
        break;
    }
    cn_msg_free(m);
}

cn_actor *cn__persist_actor_spawn(void *arg, const char *topic, int32_t partition)
{
    struct cn_persist *p = arg;
    struct pstate *s = cn_xcalloc(1, sizeof *s);
    s->p = p;
    s->topic = cn_xstrdup(topic);
    s->partition = partition;
    /* acq_rel not needed for an increment by a holder: relaxed, like any refcount
     * increment; the owner's reference keeps p alive during this call. */
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    CN_INFO("persist", "%s[%d] assigned", topic, partition);
    return cn_actor_spawn(p->o.rt, behave, s, state_free);
}
