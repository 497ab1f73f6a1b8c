/* The read-receipt pipeline actor of one partition of chat.read-receipts: applies each
 * batch with one read_receipts_apply round trip, then drops the readers' cached room
 * lists, tells the rooms, and commits. See read_receipts.h for the flow.
 *
 * One batch at a time (later ones wait in a FIFO linked through hdr.next), so a room's
 * receipts are applied in Kafka order. The apply reply and the retry timer carry the
 * batch's sequence number, so nothing of an earlier attempt is mistaken for the
 * current one's. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/strbuf.h"
#include "base/xmalloc.h"
#include "proto/broadcast_envelope.h"
#include "actors/sql/queries.h"
#include "actors/pipeline/read_receipts_internal.h"
#include "proto/event_codec.h"

enum { MSG_APPLY = 10, MSG_RETRY };

#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 2000

struct tick {
    cn_msg hdr;
    uint64_t seq;
};

struct rstate {
    struct cn_read_receipts *p;
    char topic[64];
    int32_t partition;
    struct cn_kafka_batch *head, *tail; /* head: in progress; the rest wait */
    uint64_t seq;                       /* of the head's current attempt */
    int backoff_ms;
    bool failing; /* the last attempt failed (log the outage once) */
    char *params[3];
};

static void free_params(struct rstate *s)
{
    for (int i = 0; i < 3; i++) {
        free(s->params[i]);
        s->params[i] = NULL;
    }
}

static void state_free(void *arg)
{
    struct rstate *s = arg;
    while (s->head) {
        struct cn_kafka_batch *x = s->head;
        s->head = (struct cn_kafka_batch *)x->hdr.next;
        cn_msg_free(&x->hdr);
    }
    free_params(s);
    cn__rr_unref(s->p);
    free(s);
}

static void count(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed); /* relaxed: a count */
}

static void start_head(cn_actor *self, struct rstate *s);

/* The head batch is applied: commit it and go on with the next. */
static void finish_head(cn_actor *self, struct rstate *s)
{
    struct cn_kafka_batch *x = s->head;
    int64_t next = x->records[x->n - 1].offset + 1;
    if (cn__rr_enter(s->p)) {
        int rc = s->p->consumer
                     ? cn_kafka_consumer_commit(s->p->consumer, x->topic, s->partition, next)
                     : -ESHUTDOWN;
        cn__rr_leave(s->p);
        if (rc != 0)
            CN_WARN("receipts", "%s[%d]: commit of %" PRId64 " refused: %s", s->topic, s->partition,
                    next, strerror(-rc));
    }
    count(&s->p->batches, 1);
    free_params(s);
    s->head = (struct cn_kafka_batch *)x->hdr.next;
    if (!s->head)
        s->tail = NULL;
    cn_msg_free(&x->hdr);
    if (s->head)
        start_head(self, s);
}

static void arm_retry(cn_actor *self, struct rstate *s)
{
    s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : RETRY_MIN_MS;
    if (s->backoff_ms > RETRY_MAX_MS)
        s->backoff_ms = RETRY_MAX_MS;
    struct tick *t = cn_xmalloc(sizeof *t);
    cn_msg_init(&t->hdr, MSG_RETRY, NULL);
    t->seq = s->seq;
    cn_timer_after(cn_actor_runtime(self), self, (uint64_t)s->backoff_ms, &t->hdr);
}

static void send_apply(cn_actor *self, struct rstate *s)
{
    s->seq++;
    int rc = -ESHUTDOWN;
    if (cn__rr_enter(s->p)) {
        rc =
            cn_pg_pool_query(s->p->o.pg, self, MSG_APPLY, s->seq,
                             cn_sql(CN_SQL_READ_RECEIPTS_APPLY), 3, (const char *const *)s->params);
        cn__rr_leave(s->p);
    }
    if (rc == -ESHUTDOWN)
        return; /* closing: the next owner redoes the batch */
    if (rc != 0) {
        CN_WARN("receipts", "%s[%d]: pool refused the apply (%s); retrying", s->topic, s->partition,
                cn_pg_pool_strerror(rc));
        arm_retry(self, s);
    }
}

/* Decodes the head batch into the three arrays; applies it, or commits at once when
 * nothing in it decoded. */
static void start_head(cn_actor *self, struct rstate *s)
{
    struct cn_kafka_batch *x = s->head;
    struct cn_strbuf a[3];
    for (int i = 0; i < 3; i++) {
        cn_strbuf_init(&a[i], 16 + x->n * 12);
        cn_strbuf_append(&a[i], "{", 1);
    }
    size_t good = 0;
    for (size_t i = 0; i < x->n; i++) {
        const struct cn_kafka_record *r = &x->records[i];
        struct cn_read_receipt_event ev;
        int rc =
            r->value ? cn_event_decode_read_receipt(r->value, r->len, &ev) : CN_EVENT_E_MALFORMED;
        if (rc != 0) {
            count(&s->p->bad, 1);
            CN_WARN("receipts", "%s[%d]@%" PRId64 ": skipping undecodable event: %s", s->topic,
                    s->partition, r->offset, cn_event_strerror(rc));
            continue;
        }
        const char *sep = good ? "," : "";
        cn_strbuf_printf(&a[0], "%s%" PRId64, sep, ev.room_id);
        cn_strbuf_printf(&a[1], "%s%" PRId64, sep, ev.user_id);
        cn_strbuf_printf(&a[2], "%s%" PRId64, sep, ev.message_id);
        good++;
    }
    count(&s->p->events, good);
    for (int i = 0; i < 3; i++) {
        cn_strbuf_append(&a[i], "}", 1);
        s->params[i] = cn_strbuf_take(&a[i], NULL);
    }
    if (good == 0) {
        finish_head(self, s);
        return;
    }
    send_apply(self, s);
}

/* For every membership that moved: DEL its reader's room list (one command for all)
 * and PUBLISH a read event on its room. Fire and forget (see read_receipts.h). */
static void tell(struct rstate *s, const struct cn_pg_rows *res)
{
    struct cn_read_receipts *p = s->p;
    int n = cn_pg_rows_count(res);
    count(&p->moved, (uint64_t)n);
    if (n == 0 || !cn__rr_enter(p))
        return;
    char(*keys)[32] = cn_xmalloc((size_t)n * sizeof *keys);
    const char **argv = cn_xmalloc(((size_t)n + 1) * sizeof *argv);
    argv[0] = "DEL";
    for (int i = 0; i < n; i++) {
        int64_t room = cn_pg_rows_i64(res, i, "room_id");
        int64_t user = cn_pg_rows_i64(res, i, "user_id");
        int64_t msg = cn_pg_rows_i64(res, i, "last_read_message_id");
        snprintf(keys[i], sizeof keys[i], "rooms:%" PRId64, user);
        argv[i + 1] = keys[i];
        char body[CN_READ_EVENT_BODY_MAX], id[CN_BC_EVENT_ID_MAX + 1], channel[32];
        int blen = cn_read_event_body(body, sizeof body, room, user, msg);
        snprintf(id, sizeof id, "read-%" PRId64 "-%" PRId64 "-%" PRId64, room, user, msg);
        snprintf(channel, sizeof channel, "room:%" PRId64, room);
        size_t len;
        char *payload = blen < 0 ? NULL : cn_bc_event_render("read", id, body, (size_t)blen, &len);
        if (payload) {
            const char *pv[] = {"PUBLISH", channel, payload};
            const size_t pl[] = {7, strlen(channel), len};
            if (cn_redis_command(p->o.redis, NULL, 0, 0, 3, pv, pl) == 0)
                count(&p->published, 1);
            free(payload);
        }
    }
    if (p->o.invalidate_cache && cn_redis_command(p->o.redis, NULL, 0, 0, n + 1, argv, NULL) == 0)
        count(&p->invalidations, (uint64_t)n);
    cn__rr_leave(p);
    free(argv);
    free(keys);
}

static void on_apply(cn_actor *self, struct rstate *s, struct cn_pg_reply *r)
{
    if (!s->head || r->tag != s->seq)
        return; /* defensive: a reply of an attempt that was given up */
    if (!r->ok) {
        if (strcmp(r->sqlstate, CN_PG_SQLSTATE_STOPPING) == 0)
            return; /* the pool is stopping: the next owner redoes the batch */
        if (!s->failing)
            CN_WARN("receipts", "%s[%d]: applying %zu receipts failed: %s%s%s (retrying)", s->topic,
                    s->partition, s->head->n, r->sqlstate, r->sqlstate[0] ? ": " : "", r->error);
        s->failing = true;
        count(&s->p->retries, 1);
        arm_retry(self, s);
        return;
    }
    if (s->failing)
        CN_INFO("receipts", "%s[%d]: applying receipts works again", s->topic, s->partition);
    s->failing = false;
    s->backoff_ms = 0;
    tell(s, r->rows);
    finish_head(self, s);
}

static void behave(cn_actor *self, void *state, cn_msg *m)
{
    struct rstate *s = state;
    switch (m->type) {
    case CN_RR_MSG_BATCH: {
        struct cn_kafka_batch *x = (struct cn_kafka_batch *)m;
        x->hdr.next = NULL;
        bool idle = s->head == NULL;
        if (s->tail)
            s->tail->hdr.next = &x->hdr;
        else
            s->head = x;
        s->tail = x;
        if (idle)
            start_head(self, s);
        return; /* owned by the FIFO */
    }
    case CN_RR_MSG_REVOKE:
        /* Uncommitted batches are redelivered to the next owner; applying is idempotent. */
        cn_actor_stop(self);
        break;
    case MSG_APPLY:
        on_apply(self, s, (struct cn_pg_reply *)m);
        break;
    case MSG_RETRY:
        if (s->head && ((struct tick *)m)->seq == s->seq)
            send_apply(self, s);
        break;
    default:
        break;
    }
    cn_msg_free(m);
}

cn_actor *cn__rr_actor_spawn(void *arg, const char *topic, int32_t partition)
{
    struct cn_read_receipts *p = arg;
    struct rstate *s = cn_xcalloc(1, sizeof *s);
    s->p = p;
    snprintf(s->topic, sizeof s->topic, "%s", topic);
    s->partition = partition;
    /* relaxed: an increment by a holder (the owner's reference keeps p alive). */
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    CN_INFO("receipts", "%s[%d] assigned", topic, partition);
    return cn_actor_spawn(p->o.rt, behave, s, state_free);
}
