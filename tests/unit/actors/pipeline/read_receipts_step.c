/* Tests src/actors/pipeline/read_receipts_step.c (through cn_read_receipts_start): a
 * batch of chat.read-receipts becomes one read_receipts_apply with the three id arrays;
 * each membership that moved is told to its room (a PUBLISH of a "read" event) and its
 * reader's cached room list is dropped; then the offsets are committed. An undecodable
 * record goes to chat.read-receipts.dlt at once; a failed apply is retried with the
 * same arrays, and a batch that keeps failing goes to the DLT with its headers, after
 * which the partition moves on. */
#include <stdio.h>
#include <string.h>

#include "actors/pipeline/read_receipts.h"
#include "actors/sql/queries.h"
#include "pipeline_testutil.h"

static struct cn_read_receipts *start(cn_runtime *rt, int retries)
{
    struct cn_read_receipts_opts o = {
        .rt = rt,
        .brokers = "fake",
        .pg = FAKE_PG,
        .redis = FAKE_REDIS,
        .dlt = FAKE_PRODUCER,
        .invalidate_cache = true,
        .retries = retries,
        .retry_backoff_ms = 10,
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

/* The next record produced: to chat.read-receipts.dlt, for origin offset `offset` of
 * partition 1, at stage `stage` after `attempts`. Returns it (the caller acks it). */
static struct fake_call *expect_dlt(int64_t offset, const char *stage, const char *attempts)
{
    struct fake_call *d = tu_take(FAKE_KIND_KAFKA);
    if (!d)
        return NULL;
    char off[24];
    snprintf(off, sizeof off, "%lld", (long long)offset);
    CHECK_STR(d->topic, CN_READ_RECEIPTS_DLT_TOPIC);
    CHECK_EQ(d->partition, 1); /* the origin's partition number */
    CHECK_STR(fake_kafka_header(d, "error-stage"), stage);
    CHECK_STR(fake_kafka_header(d, "attempts"), attempts);
    CHECK_STR(fake_kafka_header(d, "origin-topic"), CN_READ_RECEIPTS_TOPIC);
    CHECK_STR(fake_kafka_header(d, "origin-partition"), "1");
    CHECK_STR(fake_kafka_header(d, "origin-offset"), off);
    CHECK(fake_kafka_header(d, "error") != NULL);
    return d;
}

static void test_receipts_are_applied_told_to_the_room_then_committed(void)
{
    cn_runtime *rt = tu_runtime();
    struct cn_read_receipts *p = start(rt, 0);
    struct tu_rec recs[3] = {tu_receipt_event(7, 3, 55), tu_garbage(), tu_receipt_event(8, 4, 60)};
    tu_send(1, 0, recs, 3, "7");

    /* The garbage: to the DLT at once, no attempts; the commit waits for its ack. */
    struct fake_call *d = expect_dlt(1, "decode", "0");
    if (!d)
        return;
    fake_kafka_ack(d, 1, 0);

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
    CHECK_EQ(s.dlt_records, 1);
    stop(rt, p);
}

static void test_failed_apply_is_retried_with_the_same_arrays(void)
{
    cn_runtime *rt = tu_runtime();
    struct cn_read_receipts *p = start(rt, 0);
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
    CHECK_INT(tu_now_ms() - t0, >=, 10);
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

/* A batch of undecodable records only: both to the DLT, committed once acknowledged. */
static void test_nothing_decodes_goes_to_the_dlt_then_commits(void)
{
    cn_runtime *rt = tu_runtime();
    struct cn_read_receipts *p = start(rt, 0);
    struct tu_rec recs[2] = {tu_garbage(), tu_garbage()};
    tu_send(1, 20, recs, 2, NULL);
    struct fake_call *d1 = expect_dlt(20, "decode", "0");
    struct fake_call *d2 = expect_dlt(21, "decode", "0");
    if (!d1 || !d2)
        return;
    fake_kafka_ack(d1, 1, 5);
    CHECK_EQ(fake_consumer_commits_pending(), 0); /* one still unacknowledged */
    fake_kafka_ack(d2, 1, 6);
    CHECK_EQ(tu_commit(), 22);
    CHECK_EQ(fake_pending(FAKE_KIND_PG), 0);
    struct cn_read_receipts_stats s;
    cn_read_receipts_stats(p, &s);
    CHECK_EQ(s.bad, 2);
    CHECK_EQ(s.dlt_records, 2);
    stop(rt, p);
}

/* An apply that keeps failing: `retries` retries, then every record of the batch to the
 * DLT (stage apply, the error, all attempts), the commit, and the next batch is applied. */
static void test_batch_failing_after_the_retries_goes_to_the_dlt_and_the_partition_moves_on(void)
{
    cn_runtime *rt = tu_runtime();
    struct cn_read_receipts *p = start(rt, 2);
    struct tu_rec recs[2] = {tu_receipt_event(7, 3, 55), tu_receipt_event(7, 4, 56)};
    tu_send(1, 30, recs, 2, "7");
    for (int attempt = 0; attempt < 3; attempt++) {
        struct fake_call *c = tu_take(FAKE_KIND_PG);
        if (!c)
            return;
        fake_pg_error(c, "57P01", "terminating connection");
    }
    struct fake_call *d1 = expect_dlt(30, "apply", "3");
    struct fake_call *d2 = expect_dlt(31, "apply", "3");
    if (!d1 || !d2)
        return;
    CHECK_STR(fake_kafka_header(d1, "error"), "57P01: terminating connection");
    CHECK_STR(d1->key, "7"); /* key and value as they were: a replay is the same record */
    CHECK_EQ(fake_consumer_commits_pending(), 0);
    fake_kafka_ack(d1, 1, 7);
    fake_kafka_ack(d2, 1, 8);
    CHECK_EQ(tu_commit(), 32);

    /* The partition goes on: the next batch is applied. */
    struct tu_rec next[1] = {tu_receipt_event(7, 3, 57)};
    tu_send(1, 32, next, 1, "7");
    struct fake_call *c = tu_take(FAKE_KIND_PG);
    if (!c)
        return;
    CHECK_STR(c->params[2], "{57}");
    fake_pg_rows(c, 3, moved_cols, 0, NULL);
    CHECK_EQ(tu_commit(), 33);
    struct cn_read_receipts_stats s;
    cn_read_receipts_stats(p, &s);
    CHECK_EQ(s.retries, 2);
    CHECK_EQ(s.dlt_records, 2);
    CHECK_EQ(s.batches, 2);
    stop(rt, p);
}

CN_TEST_MAIN(test_receipts_are_applied_told_to_the_room_then_committed,
             test_failed_apply_is_retried_with_the_same_arrays,
             test_nothing_decodes_goes_to_the_dlt_then_commits,
             test_batch_failing_after_the_retries_goes_to_the_dlt_and_the_partition_moves_on)
