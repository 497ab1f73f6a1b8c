/* Tests src/actors/pipeline/persist_step.c (through cn_persist_start): a batch of
 * chat.messages becomes one messages_insert_batch with the records' keys and offsets,
 * the members' cached room lists are dropped, and the offsets are committed after the
 * rows come back; undecodable records go to the DLT at once; a batch that keeps failing
 * is inserted record by record and only the record that fails alone goes to the DLT.
 * The fake pool, producer, Redis and consumer stand in for the adapters. */
#include <stdio.h>
#include <string.h>

#include "actors/pipeline/persist.h"
#include "actors/sql/queries.h"
#include "base/strbuf.h"
#include "pipeline_testutil.h"

#define K1 "11111111-1111-4111-8111-111111111111"
#define K2 "22222222-2222-4222-8222-222222222222"

static cn_actor *actor; /* partition 0's */

static struct cn_persist *start(cn_runtime *rt, int retries)
{
    struct cn_persist_opts o = {
        .rt = rt,
        .brokers = "fake",
        .pg = FAKE_PG,
        .dlt = FAKE_PRODUCER,
        .redis = FAKE_REDIS,
        .retries = retries,
        .retry_backoff_ms = 10,
    };
    char err[128];
    struct cn_persist *p = cn_persist_start(&o, err, sizeof err);
    CHECK(p != NULL);
    actor = fake_consumer_assign("chat.messages", 0);
    CHECK(actor != NULL);
    return p;
}

static void stop(cn_runtime *rt, struct cn_persist *p)
{
    cn_persist_close(p);
    cn_runtime_shutdown(rt);
    cn_persist_free(p);
    fake_reset();
}

static void test_batch_is_one_insert_then_cache_drop_then_commit(void)
{
    cn_runtime *rt = tu_runtime();
    struct cn_persist *p = start(rt, 3);
    struct tu_rec recs[3] = {tu_chat_event(K1, 7, 1, "hello"), tu_garbage(),
                             tu_chat_event(K2, 8, 2, "a \"quoted\", text")};
    tu_send(0, 100, recs, 3, "7");

    /* The record that does not decode: to the DLT at once, no retries. */
    struct fake_call *d = tu_take(FAKE_KIND_KAFKA);
    if (!d)
        return;
    CHECK_STR(d->topic, "chat.messages.dlt");
    CHECK_EQ(d->partition, 0);
    CHECK_STR(fake_kafka_header(d, "error-stage"), "decode");
    CHECK_STR(fake_kafka_header(d, "attempts"), "0");
    CHECK_STR(fake_kafka_header(d, "origin-offset"), "101");
    fake_kafka_ack(d, 0, 9);

    /* One INSERT for the two others, their keys, rooms, contents and offsets. */
    struct fake_call *c = tu_take(FAKE_KIND_PG);
    if (!c)
        return;
    CHECK_STR(c->sql, cn_sql(CN_SQL_MESSAGES_INSERT_BATCH));
    CHECK_EQ(c->nparams, 8);
    CHECK_STR(c->params[0], "{" K1 "," K2 "}");
    CHECK_STR(c->params[1], "{7,8}");
    CHECK_STR(c->params[2], "{1,2}");
    CHECK_STR(c->params[3], "{\"hello\",\"a \\\"quoted\\\", text\"}");
    CHECK_STR(c->params[6], "{0,0}");
    CHECK_STR(c->params[7], "{100,102}");
    CHECK_EQ(fake_consumer_commits_pending(), 0);
    /* One row: the second event was a replay. */
    static const char *const room_col[] = {"room_id"};
    static const char *const rooms[] = {"7"};
    fake_pg_rows(c, 1, room_col, 1, rooms);

    /* The members of room 7, whose cached lists are dropped in one DEL. */
    struct fake_call *m = tu_take(FAKE_KIND_PG);
    if (!m)
        return;
    CHECK_STR(m->sql, cn_sql(CN_SQL_ROOM_MEMBER_IDS_MANY));
    CHECK_STR(m->params[0], "{7}");
    CHECK_EQ(fake_consumer_commits_pending(), 0);
    static const char *const user_col[] = {"user_id"};
    static const char *const users[] = {"1", "2", "3"};
    fake_pg_rows(m, 1, user_col, 3, users);
    tu_expect_del(3, "rooms:1", "rooms:3");

    CHECK_EQ(tu_commit(), 103);
    struct cn_persist_stats s;
    cn_persist_stats(p, &s);
    CHECK_EQ(s.batches, 1);
    CHECK_EQ(s.commits, 1);
    CHECK_EQ(s.rows_inserted, 1);
    CHECK_EQ(s.duplicates, 1);
    CHECK_EQ(s.dlt_records, 1);
    CHECK_EQ(s.dlt_decode, 1);
    CHECK_EQ(s.invalidations, 3);
    CHECK_EQ(s.retries, 0);

    /* The /metrics section: the counters and the consumer's committed offset. */
    struct cn_strbuf b;
    cn_strbuf_init(&b, 1024);
    cn_persist_metrics_render(&b, p);
    char *text = cn_strbuf_take(&b, NULL);
    CHECK(strstr(text, "chat_persist_batches_total 1\n") != NULL);
    CHECK(strstr(text, "chat_persist_committed_offset{topic=\"chat.messages\",partition=\"0\"} "
                       "103\n") != NULL);
    free(text);
    stop(rt, p);
}

static void test_failing_batch_is_split_and_only_the_bad_record_goes_to_the_dlt(void)
{
    cn_runtime *rt = tu_runtime();
    struct cn_persist *p = start(rt, 1);
    struct tu_rec recs[2] = {tu_chat_event(K1, 7, 1, "good"), tu_chat_event(K2, 999, 1, "bad")};
    tu_send(0, 5, recs, 2, "7");

    /* The batch fails twice (one retry). */
    for (int attempt = 0; attempt < 2; attempt++) {
        struct fake_call *c = tu_take(FAKE_KIND_PG);
        if (!c)
            return;
        CHECK_STR(c->params[0], "{" K1 "," K2 "}");
        fake_pg_error(c, "23503", "violates foreign key constraint");
    }
    /* Then one by one: the first is stored, the second fails alone. */
    struct fake_call *c = tu_take(FAKE_KIND_PG);
    if (!c)
        return;
    CHECK_STR(c->sql, cn_sql(CN_SQL_MESSAGES_INSERT_BATCH));
    CHECK_STR(c->params[0], "{" K1 "}");
    static const char *const room_col[] = {"room_id"};
    static const char *const rooms[] = {"7"};
    fake_pg_rows(c, 1, room_col, 1, rooms);
    c = tu_take(FAKE_KIND_PG);
    if (!c)
        return;
    CHECK_STR(c->params[0], "{" K2 "}");
    CHECK_STR(c->params[7], "{6}");
    fake_pg_error(c, "23503", "violates foreign key constraint");

    struct fake_call *d = tu_take(FAKE_KIND_KAFKA);
    if (!d)
        return;
    CHECK_STR(d->topic, "chat.messages.dlt");
    CHECK_STR(fake_kafka_header(d, "error"), "23503: violates foreign key constraint");
    CHECK_STR(fake_kafka_header(d, "error-stage"), "insert");
    CHECK_STR(fake_kafka_header(d, "attempts"), "2");
    CHECK_STR(fake_kafka_header(d, "origin-offset"), "6");
    CHECK_EQ(fake_consumer_commits_pending(), 0);
    fake_kafka_ack(d, 0, 1);
    CHECK_EQ(tu_commit(), 7);

    struct cn_persist_stats s;
    cn_persist_stats(p, &s);
    CHECK_EQ(s.retries, 1);
    CHECK_EQ(s.rows_inserted, 1);
    CHECK_EQ(s.dlt_records, 1);
    CHECK_EQ(s.dlt_decode, 0);
    CHECK_EQ(s.invalidations, 0); /* the split path leaves the lists to their TTL */
    stop(rt, p);
}

/* A single event that keeps failing goes to the DLT with the batch's attempts. */
static void test_single_failing_event_goes_to_the_dlt_after_the_retries(void)
{
    cn_runtime *rt = tu_runtime();
    struct cn_persist *p = start(rt, 2);
    struct tu_rec recs[1] = {tu_chat_event(K1, 999, 1, "bad")};
    tu_send(0, 40, recs, 1, "999");
    for (int attempt = 0; attempt < 3; attempt++) {
        struct fake_call *c = tu_take(FAKE_KIND_PG);
        if (!c)
            return;
        fake_pg_error(c, "23503", "fk");
    }
    struct fake_call *d = tu_take(FAKE_KIND_KAFKA);
    if (!d)
        return;
    CHECK_STR(fake_kafka_header(d, "error"), "23503: fk");
    CHECK_STR(fake_kafka_header(d, "attempts"), "3");
    CHECK_STR(d->key, "999");
    fake_kafka_ack(d, 0, 1);
    CHECK_EQ(tu_commit(), 41);
    stop(rt, p);
}

/* The pool closed under a pending insert: nothing committed, nothing in the DLT. */
static void test_pool_closing_leaves_the_batch_for_redelivery(void)
{
    cn_runtime *rt = tu_runtime();
    struct cn_persist *p = start(rt, 3);
    cn_actor_ref(actor);
    struct tu_rec recs[2] = {tu_chat_event(K1, 7, 1, "hello"), tu_chat_event(K2, 7, 1, "later")};
    tu_send(0, 0, recs, 1, "7");
    tu_send(0, 1, recs + 1, 1, "7"); /* waits behind the first */
    struct fake_call *c = tu_take(FAKE_KIND_PG);
    if (!c)
        return;
    fake_pg_error(c, "08003", "pool stopping");
    CHECK(tu_wait_stopped(actor));
    cn_actor_unref(actor);
    CHECK_EQ(fake_pending(FAKE_KIND_PG), 0); /* the second batch was dropped */
    CHECK_EQ(fake_pending(FAKE_KIND_KAFKA), 0);
    CHECK_EQ(fake_consumer_commits_pending(), 0);
    struct cn_persist_stats s;
    cn_persist_stats(p, &s);
    CHECK_EQ(s.batches, 0);
    CHECK_EQ(s.retries, 0);
    stop(rt, p);
}

CN_TEST_MAIN(test_batch_is_one_insert_then_cache_drop_then_commit,
             test_failing_batch_is_split_and_only_the_bad_record_goes_to_the_dlt,
             test_single_failing_event_goes_to_the_dlt_after_the_retries,
             test_pool_closing_leaves_the_batch_for_redelivery)
