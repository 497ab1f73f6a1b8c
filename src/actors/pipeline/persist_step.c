/* The persistence pipeline's step for the partition pipeline shell: stores a batch of
 * chat.messages with one messages_insert_batch round trip, then drops the members'
 * cached room lists. See persist.h for the flow; the shell (partition_pipeline.h) does
 * the FIFO, the retries, the DLT and the commit.
 *
 * Undecodable records go to the DLT at once (stage "decode", 0 attempts). When the
 * batch insert failed every attempt, the events are inserted one by one, so that only
 * those that fail alone go to the DLT: one bad room id must not take the good events of
 * its batch with it. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/pipeline/persist_internal.h"
#include "actors/pipeline/room_lists.h"
#include "actors/sql/queries.h"
#include "base/log.h"
#include "base/xmalloc.h"

enum {
    MSG_INSERT = CN_PP_MSG_STEP, /* struct cn_pg_reply of messages_insert_batch */
    MSG_MEMBERS,                 /* struct cn_pg_reply of room_member_ids_many */
};

/* Per partition; the fields belong to the batch in progress. */
struct pstate {
    size_t ngood;    /* records that decoded */
    char *params[8]; /* the insert's arrays: the whole batch, or one record when splitting */
    bool splitting;  /* inserting record by record after the retries */
    size_t split_i;  /* the record whose single insert is in flight */
};

static void free_params(struct pstate *s)
{
    for (int i = 0; i < 8; i++) {
        free(s->params[i]);
        s->params[i] = NULL;
    }
}

static void end(struct cn_pp *pp, void *st)
{
    (void)pp;
    struct pstate *s = st;
    free_params(s);
    s->ngood = 0;
    s->splitting = false;
}

static void count(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed); /* relaxed: a statistic */
}

static int send_insert(struct cn_pp *pp, struct pstate *s)
{
    struct cn_persist *p = cn_pp_owner(pp);
    return cn_pg_pool_query(p->o.pg, cn_pp_self(pp), MSG_INSERT, cn_pp_tag(pp),
                            cn_sql(CN_SQL_MESSAGES_INSERT_BATCH), 8,
                            (const char *const *)s->params);
}

/* The batch insert failed (cn_pp_error holds why): retry, or give up. */
static enum cn_pp_verdict insert_failed(struct cn_pp *pp, struct pstate *s)
{
    int64_t ms = cn_pp_retry_ms(pp);
    if (ms < 0)
        return CN_PP_FAIL; /* give_up tells */
    CN_WARN("persist",
            "%s[%d]: insert of %zu events failed (attempt %d), retry in %" PRId64 " ms: %s",
            cn_pp_topic(pp), cn_pp_partition(pp), s->ngood, cn_pp_attempts(pp), ms,
            cn_pp_error_text(pp));
    return CN_PP_RETRY;
}

static enum cn_pp_verdict insert(struct cn_pp *pp, struct pstate *s)
{
    int rc = send_insert(pp, s);
    if (rc == 0)
        return CN_PP_PENDING;
    if (rc == -ESHUTDOWN)
        return CN_PP_STOP;
    /* Not queued (pool queue full): the same path as a failed insert. */
    cn_pp_error(pp, "pool refused the query: %s", cn_pg_pool_strerror(rc));
    return insert_failed(pp, s);
}

static enum cn_pp_verdict start(struct cn_pp *pp, void *st, const struct cn_kafka_batch *b,
                                int attempt)
{
    struct pstate *s = st;
    if (attempt > 0)
        return insert(pp, s); /* a retry: the same arrays */
    struct cn_persist *p = cn_pp_owner(pp);
    struct cn_persist_sql sql;
    cn__persist_sql_init(&sql);
    for (size_t i = 0; i < b->n; i++) {
        const struct cn_kafka_record *r = &b->records[i];
        struct cn_chat_message_event e;
        const char *why = NULL;
        int rc =
            r->value ? cn_event_decode_chat_message(r->value, r->len, &e) : CN_EVENT_E_MALFORMED;
        if (rc != 0)
            why = cn_event_strerror(rc);
        else if (memchr(e.content, '\0', e.content_len))
            why = "content holds a NUL byte (PostgreSQL text cannot)";
        if (!why) {
            cn__persist_sql_add(&sql, &e, r->partition, r->offset);
            s->ngood++;
            continue;
        }
        count(&p->dlt_decode, 1);
        CN_WARN("persist", "%s[%d] offset %" PRId64 ": undecodable event to the DLT: %s",
                cn_pp_topic(pp), cn_pp_partition(pp), r->offset, why);
        cn_pp_dlt(pp, i, why, "decode", 0);
    }
    cn__persist_sql_finish(&sql, s->params);
    return s->ngood > 0 ? insert(pp, s) : CN_PP_DONE;
}

/* Split mode: inserts the next decodable record of the batch alone (one attempt: the
 * batch already had its retries), or ends the batch when none is left. A record the
 * pool refuses fails alone. */
static enum cn_pp_verdict next_single(struct cn_pp *pp, struct pstate *s)
{
    struct cn_persist *p = cn_pp_owner(pp);
    const struct cn_kafka_batch *b = cn_pp_batch(pp);
    for (;;) {
        while (s->split_i < b->n && cn_pp_in_dlt(pp, s->split_i))
            s->split_i++;
        if (s->split_i == b->n) {
            /* The members' cached lists of rooms that got rows now expire by their TTL:
             * this path is rare, and the batch path drops them at once. */
            return CN_PP_DONE;
        }
        const struct cn_kafka_record *r = &b->records[s->split_i];
        struct cn_chat_message_event e;
        cn_event_decode_chat_message(r->value, r->len, &e); /* decoded fine in start */
        struct cn_persist_sql sql;
        cn__persist_sql_init(&sql);
        cn__persist_sql_add(&sql, &e, r->partition, r->offset);
        free_params(s);
        cn__persist_sql_finish(&sql, s->params);
        int rc = send_insert(pp, s);
        if (rc == 0)
            return CN_PP_PENDING;
        if (rc == -ESHUTDOWN)
            return CN_PP_STOP;
        char err[96];
        snprintf(err, sizeof err, "pool refused the query: %s", cn_pg_pool_strerror(rc));
        cn_pp_dlt(pp, s->split_i++, err, "insert", p->o.retries + 1);
    }
}

static enum cn_pp_verdict give_up(struct cn_pp *pp, void *st)
{
    struct pstate *s = st;
    if (s->ngood > 1) {
        CN_WARN("persist", "%s[%d]: insert of %zu events failed %d times (%s): one by one now",
                cn_pp_topic(pp), cn_pp_partition(pp), s->ngood, cn_pp_attempts(pp),
                cn_pp_error_text(pp));
        s->splitting = true;
        s->split_i = 0;
        return next_single(pp, s);
    }
    CN_WARN("persist", "%s[%d]: insert of %zu events failed %d times, to the DLT: %s",
            cn_pp_topic(pp), cn_pp_partition(pp), s->ngood, cn_pp_attempts(pp),
            cn_pp_error_text(pp));
    return CN_PP_FAIL; /* the shell sends the event to the DLT */
}

static enum cn_pp_verdict on_single(struct cn_pp *pp, struct pstate *s, const struct cn_pg_reply *r)
{
    struct cn_persist *p = cn_pp_owner(pp);
    size_t i = s->split_i++;
    if (r->ok) {
        count(&p->rows, (uint64_t)cn_pg_rows_count(r->rows));
    } else {
        if (strcmp(r->sqlstate, CN_PG_SQLSTATE_STOPPING) == 0)
            return CN_PP_STOP; /* the pool is closing: the batch is redelivered */
        char err[272];
        snprintf(err, sizeof err, "%s%s%s", r->sqlstate, r->sqlstate[0] ? ": " : "", r->error);
        /* The batch's attempts: this one was extra. */
        cn_pp_dlt(pp, i, err, "insert", p->o.retries + 1);
    }
    return next_single(pp, s);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Asks for the members of every room that got a row, so their cached room lists can
 * be dropped. Returns false when there is nothing to ask (then the batch is done). */
static bool ask_members(struct cn_pp *pp, const struct cn_pg_rows *res)
{
    struct cn_persist *p = cn_pp_owner(pp);
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
    int rc = cn_pg_pool_query(p->o.pg, cn_pp_self(pp), MSG_MEMBERS, cn_pp_tag(pp),
                              cn_sql(CN_SQL_ROOM_MEMBER_IDS_MANY), 1, params);
    free(arr);
    if (rc != 0) {
        /* The rows are stored; the lists expire by their TTL. */
        CN_WARN("persist", "%s[%d]: cannot ask room members for cache invalidation: %s",
                cn_pp_topic(pp), cn_pp_partition(pp), cn_pg_pool_strerror(rc));
        return false;
    }
    return true;
}

static enum cn_pp_verdict on_insert(struct cn_pp *pp, struct pstate *s, const struct cn_pg_reply *r)
{
    if (!r->ok) {
        if (strcmp(r->sqlstate, CN_PG_SQLSTATE_STOPPING) == 0)
            return CN_PP_STOP; /* the pool is closing: the batch is redelivered */
        cn_pp_error(pp, "%s%s%s", r->sqlstate, r->sqlstate[0] ? ": " : "", r->error);
        return insert_failed(pp, s);
    }
    struct cn_persist *p = cn_pp_owner(pp);
    uint64_t rows = (uint64_t)cn_pg_rows_count(r->rows);
    count(&p->rows, rows);
    count(&p->duplicates, s->ngood - rows);
    return ask_members(pp, r->rows) ? CN_PP_PENDING : CN_PP_DONE;
}

/* Drops the members' cached room lists, fire and forget: a failure leaves lists that
 * expire by their TTL, which is no reason to hold the partition. */
static void on_members(struct cn_pp *pp, const struct cn_pg_reply *r)
{
    struct cn_persist *p = cn_pp_owner(pp);
    if (!r->ok) {
        CN_WARN("persist", "%s[%d]: room members for cache invalidation: %s", cn_pp_topic(pp),
                cn_pp_partition(pp), r->error);
        return;
    }
    count(&p->invalidations, cn__room_lists_drop(p->o.redis, r->rows, "user_id"));
}

static enum cn_pp_verdict on_msg(struct cn_pp *pp, void *st, cn_msg *m)
{
    struct pstate *s = st;
    const struct cn_pg_reply *r = (const struct cn_pg_reply *)m;
    if ((m->type != MSG_INSERT && m->type != MSG_MEMBERS) || !cn_pp_current(pp, r->tag))
        return CN_PP_PENDING; /* defensive: not ours, or of an attempt given up */
    if (m->type == MSG_MEMBERS) {
        on_members(pp, r);
        return CN_PP_DONE;
    }
    return s->splitting ? on_single(pp, s, r) : on_insert(pp, s, r);
}

const struct cn_pp_step cn__persist_step = {
    .name = "persist",
    .dlt_stage = "insert",
    .state_size = sizeof(struct pstate),
    .start = start,
    .on_msg = on_msg,
    .give_up = give_up,
    .end = end,
};
