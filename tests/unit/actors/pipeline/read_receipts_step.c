/* Tests src/actors/pipeline/read_receipts_step.c (through cn_read_receipts_start): a
 * batch of chat.read-receipts becomes one read_receipts_apply with the three id arrays;
 * each membership that moved is told to its room (a PUBLISH of a "read" event) and its
 * reader's cached room list is dropped; then the offsets are committed. A failed apply
 * is retried with the same arrays. */
#include <stdio.h>
#include <string.h>

#include "actors/pipeline/read_receipts.h"
#include "actors/sql/queries.h"
#include "pipeline_testutil.h"

static struct cn_read_receipts *start(cn_runtime *rt)
{
    struct cn_read_receipts_opts o = {
        .rt = rt,
        .brokers = "fake",
        .pg = FAKE_PG,
        .redis = FAKE_REDIS,
        .invalidate_cache = true,
    };
    char err[128];
    struct cn_read_receipts *p = cn_read_receipts_start(&o, err, sizeof err);
    CHECK(p != NULL);
    CHECK(fake_consumer_assign(CN_READ_RECEIPTS_TOPIC, 1) != NULL);
    return p;
}

static void stop(cn_runtime *rt, struct cn_read_receipts *p)
{
    cn_read_receipts_close(p);
    cn_runtime_shutdown(rt);
    cn_read_receipts_free(p);
    fake_reset();
}

static const char *const moved_cols[] = {"room_id", "user_id", "last_read_message_id"};

static void test_receipts_are_applied_told_to_the_room_then_committed(void)
{
    cn_runtime *rt = tu_runtime();
    struct cn_read_receipts *p = start(rt);
    struct tu_rec recs[3] = {tu_receipt_event(7, 3, 55), tu_garbage(), tu_receipt_event(8, 4, 60)};
    tu_send(1, 0, recs, 3, "7");

    struct fake_call *c = tu_take(FAKE_KIND_PG);
    if (!c)
        return;
    CHECK_STR(c->sql, cn_sql(CN_SQL_READ_RECEIPTS_APPLY));
    CHECK_EQ(c->nparams, 3);
    CHECK_STR(c->params[0], "{7,8}");
    CHECK_STR(c->params[1], "{3,4}");
    CHECK_STR(c->params[2], "{55,60}");
    CHECK_EQ(fake_consumer_commits_pending(), 0);
    /* Only the first membership moved (the second was already further). */
    static const char *const row[] = {"7", "3", "55"};
    fake_pg_rows(c, 3, moved_cols, 1, row);

    struct fake_call *pub = tu_take(FAKE_KIND_REDIS);
    if (!pub)
        return;
    CHECK_EQ(pub->argc, 3);
    CHECK_STR(pub->argv[0], "PUBLISH");
    CHECK_STR(pub->argv[1], "room:7");
    char body[CN_READ_EVENT_BODY_MAX];
    cn_read_event_body(body, sizeof body, 7, 3, 55);
    char want[256];
    snprintf(want, sizeof want, "event read read-7-3-55\n%s", body);
    CHECK_STR(pub->argv[2], want);
    fake_call_free(pub);
    tu_expect_del(1, "rooms:3", "rooms:3");

    CHECK_EQ(tu_commit(), 3);
    struct cn_read_receipts_stats s;
    cn_read_receipts_stats(p, &s);
    CHECK_EQ(s.batches, 1);
    CHECK_EQ(s.events, 2);
    CHECK_EQ(s.bad, 1);
    CHECK_EQ(s.moved, 1);
    CHECK_EQ(s.published, 1);
    CHECK_EQ(s.invalidations, 1);
    CHECK_EQ(s.retries, 0);
    stop(rt, p);
}

static void test_failed_apply_is_retried_with_the_same_arrays(void)
{
    cn_runtime *rt = tu_runtime();
    struct cn_read_receipts *p = start(rt);
    struct tu_rec recs[1] = {tu_receipt_event(7, 3, 55)};
    tu_send(1, 10, recs, 1, "7");
    struct fake_call *c = tu_take(FAKE_KIND_PG);
    if (!c)
        return;
    int64_t t0 = tu_now_ms();
    fake_pg_error(c, "08006", "connection lost");
    c = tu_take(FAKE_KIND_PG);
    if (!c)
        return;
    CHECK_INT(tu_now_ms() - t0, >=, 100);
    CHECK_EQ(fake_consumer_commits_pending(), 0);
    CHECK_STR(c->params[0], "{7}");
    CHECK_STR(c->params[2], "{55}");
    fake_pg_rows(c, 3, moved_cols, 0, NULL); /* nothing moved: nothing to tell */
    CHECK_EQ(tu_commit(), 11);
    CHECK_EQ(fake_pending(FAKE_KIND_REDIS), 0);
    struct cn_read_receipts_stats s;
    cn_read_receipts_stats(p, &s);
    CHECK_EQ(s.retries, 1);
    CHECK_EQ(s.batches, 1);
    stop(rt, p);
}

/* A batch of undecodable records only is committed at once. */
static void test_nothing_decodes_commits_at_once(void)
{
    cn_runtime *rt = tu_runtime();
    struct cn_read_receipts *p = start(rt);
    struct tu_rec recs[2] = {tu_garbage(), tu_garbage()};
    tu_send(1, 20, recs, 2, NULL);
    CHECK_EQ(tu_commit(), 22);
    CHECK_EQ(fake_pending(FAKE_KIND_PG), 0);
    struct cn_read_receipts_stats s;
    cn_read_receipts_stats(p, &s);
    CHECK_EQ(s.bad, 2);
    stop(rt, p);
}

CN_TEST_MAIN(test_receipts_are_applied_told_to_the_room_then_committed,
             test_failed_apply_is_retried_with_the_same_arrays,
             test_nothing_decodes_commits_at_once)
