/* The read-receipt pipeline's step for the partition pipeline shell: applies a batch
 * of chat.read-receipts with one read_receipts_apply round trip, then drops the
 * readers' cached room lists and tells the rooms. See read_receipts.h for the flow; the
 * shell (partition_pipeline.h) does the FIFO, the retries, the DLT and the commit.
 *
 * Undecodable records go to the DLT at once (stage "decode", 0 attempts). When the
 * apply failed every attempt, the shell sends the batch's other records there (stage
 * "apply"): no record-by-record split as in persistence, because the statement has no
 * foreign key and only integers, so one record cannot fail where its batch would not. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/pipeline/read_receipts_internal.h"
#include "actors/pipeline/room_lists.h"
#include "actors/sql/queries.h"
#include "base/log.h"
#include "base/strbuf.h"
#include "base/xmalloc.h"
#include "proto/broadcast_envelope.h"
#include "proto/event_codec.h"

enum { MSG_APPLY = CN_PP_MSG_STEP };

struct rstate {
    bool failing;    /* the last attempt failed (log the outage once, across batches) */
    char *params[3]; /* the batch's arrays: room ids, user ids, message ids */
};

static void end(struct cn_pp *pp, void *st)
{
    (void)pp;
    struct rstate *s = st;
    for (int i = 0; i < 3; i++) {
        free(s->params[i]);
        s->params[i] = NULL;
    }
}

static void count(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed); /* relaxed: a count */
}

/* The apply failed (cn_pp_error holds why): retry after the shell's backoff, or, with
 * no retry left, the shell sends the batch's records to the DLT. The outage is logged
 * once across batches, and every batch given up. */
static enum cn_pp_verdict apply_failed(struct cn_pp *pp, struct rstate *s)
{
    int64_t ms = cn_pp_retry_ms(pp);
    if (ms < 0) {
        CN_WARN("receipts", "%s[%d]: applying %zu receipts failed %d times, to the DLT: %s",
                cn_pp_topic(pp), cn_pp_partition(pp), cn_pp_batch(pp)->n, cn_pp_attempts(pp),
                cn_pp_error_text(pp));
        s->failing = true;
        return CN_PP_FAIL;
    }
    if (!s->failing)
        CN_WARN("receipts", "%s[%d]: applying %zu receipts failed: %s (retrying)", cn_pp_topic(pp),
                cn_pp_partition(pp), cn_pp_batch(pp)->n, cn_pp_error_text(pp));
    s->failing = true;
    return CN_PP_RETRY;
}

/* Decodes the batch into the three arrays (first attempt), then applies them. */
static enum cn_pp_verdict start(struct cn_pp *pp, void *st, const struct cn_kafka_batch *x,
                                int attempt)
{
    struct rstate *s = st;
    struct cn_read_receipts *p = cn_pp_owner(pp);
    if (attempt == 0) {
        struct cn_strbuf a[3];
        for (int i = 0; i < 3; i++) {
            cn_strbuf_init(&a[i], 16 + x->n * 12);
            cn_strbuf_append(&a[i], "{", 1);
        }
        size_t good = 0;
        for (size_t i = 0; i < x->n; i++) {
            const struct cn_kafka_record *r = &x->records[i];
            struct cn_read_receipt_event ev;
            int rc = r->value ? cn_event_decode_read_receipt(r->value, r->len, &ev)
                              : CN_EVENT_E_MALFORMED;
            if (rc != 0) {
                count(&p->bad, 1);
                CN_WARN("receipts", "%s[%d]@%" PRId64 ": undecodable event to the DLT: %s",
                        cn_pp_topic(pp), cn_pp_partition(pp), r->offset, cn_event_strerror(rc));
                cn_pp_dlt(pp, i, cn_event_strerror(rc), "decode", 0);
                continue;
            }
            const char *sep = good ? "," : "";
            cn_strbuf_printf(&a[0], "%s%" PRId64, sep, ev.room_id);
            cn_strbuf_printf(&a[1], "%s%" PRId64, sep, ev.user_id);
            cn_strbuf_printf(&a[2], "%s%" PRId64, sep, ev.message_id);
            good++;
        }
        count(&p->events, good);
        for (int i = 0; i < 3; i++) {
            cn_strbuf_append(&a[i], "}", 1);
            s->params[i] = cn_strbuf_take(&a[i], NULL);
        }
        if (good == 0)
            return CN_PP_DONE; /* nothing to apply: commit once the DLT acknowledged */
    }
    int rc =
        cn_pg_pool_query(p->o.pg, cn_pp_self(pp), MSG_APPLY, cn_pp_tag(pp),
                         cn_sql(CN_SQL_READ_RECEIPTS_APPLY), 3, (const char *const *)s->params);
    if (rc == 0)
        return CN_PP_PENDING;
    if (rc == -ESHUTDOWN)
        return CN_PP_STOP; /* closing: the batch is redelivered */
    cn_pp_error(pp, "pool refused the apply: %s", cn_pg_pool_strerror(rc));
    return apply_failed(pp, s);
}

/* For every membership that moved: PUBLISH a read event on its room, and DEL its
 * reader's room list (one command for all). Fire and forget (see read_receipts.h). */
static void tell(struct cn_read_receipts *p, const struct cn_pg_rows *res)
{
    int n = cn_pg_rows_count(res);
    count(&p->moved, (uint64_t)n);
    for (int i = 0; i < n; i++) {
        int64_t room = cn_pg_rows_i64(res, i, "room_id");
        int64_t user = cn_pg_rows_i64(res, i, "user_id");
        int64_t msg = cn_pg_rows_i64(res, i, "last_read_message_id");
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
    if (p->o.invalidate_cache)
        count(&p->invalidations, cn__room_lists_drop(p->o.redis, res, "user_id"));
}

static enum cn_pp_verdict on_msg(struct cn_pp *pp, void *st, cn_msg *m)
{
    struct rstate *s = st;
    const struct cn_pg_reply *r = (const struct cn_pg_reply *)m;
    if (m->type != MSG_APPLY || !cn_pp_current(pp, r->tag))
        return CN_PP_PENDING; /* defensive: a reply of an attempt that was given up */
    if (!r->ok) {
        if (strcmp(r->sqlstate, CN_PG_SQLSTATE_STOPPING) == 0)
            return CN_PP_STOP; /* the pool is closing: the batch is redelivered */
        cn_pp_error(pp, "%s%s%s", r->sqlstate, r->sqlstate[0] ? ": " : "", r->error);
        return apply_failed(pp, s);
    }
    if (s->failing)
        CN_INFO("receipts", "%s[%d]: applying receipts works again", cn_pp_topic(pp),
                cn_pp_partition(pp));
    s->failing = false;
    tell(cn_pp_owner(pp), r->rows);
    return CN_PP_DONE;
}

const struct cn_pp_step cn__rr_step = {
    .name = "receipts",
    .dlt_stage = "apply",
    .state_size = sizeof(struct rstate),
    .start = start,
    .on_msg = on_msg,
    .end = end,
};
