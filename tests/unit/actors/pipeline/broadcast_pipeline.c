/* Tests src/actors/pipeline/broadcast_pipeline.c (through cn_broadcast_start): a batch
 * of chat.messages becomes one Redis EVAL per run of up to 256 records, with each
 * record's room keys, offset, "<messageKey>\n<body>" and dedupe key
 * "<senderId>:<messageKey>"; the reply's per-record codes
 * are counted; a Redis failure retries the whole batch after a backoff, and the offsets
 * are committed only once every run of an attempt succeeded. The Lua script itself
 * (chained previous offsets, dedup) runs in Redis: the integration tests cover it. */
#include <stdio.h>
#include <string.h>

#include "actors/pipeline/broadcast_pipeline.h"
#include "base/strbuf.h"
#include "pipeline_testutil.h"

#define K1 "11111111-1111-4111-8111-111111111111"
#define K2 "22222222-2222-4222-8222-222222222222"

static struct cn_fanout_counters fc;

static struct cn_broadcast *start(cn_runtime *rt)
{
    memset(&fc, 0, sizeof fc);
    struct cn_broadcast_opts o = {
        .rt = rt,
        .redis = FAKE_REDIS,
        .brokers = "fake",
        .window_size = 50,
        .window_ttl_s = 60,
        .counters = &fc,
    };
    char err[128];
    struct cn_broadcast *b = cn_broadcast_start(&o, err, sizeof err);
    CHECK(b != NULL);
    CHECK(fake_consumer_assign("chat.messages", 2) != NULL);
    CHECK_EQ(atomic_load(&fc.bc_partitions), 1);
    return b;
}

static void stop(cn_runtime *rt, struct cn_broadcast *b)
{
    cn_broadcast_close(b);
    cn_runtime_shutdown(rt);
    cn_broadcast_free(b);
    fake_reset();
    CHECK_EQ(atomic_load(&fc.bc_partitions), 0);
}

static uint64_t e2e_observed(void)
{
    uint64_t n = 0;
    for (int i = 0; i <= CN_FANOUT_E2E_BUCKETS; i++)
        n += atomic_load(&fc.e2e_buckets[i]);
    return n;
}

/* A RESP array of n integers `v`. */
static char *resp_ints(size_t n, int v)
{
    struct cn_strbuf b;
    cn_strbuf_init(&b, 16 + 4 * n);
    cn_strbuf_printf(&b, "*%zu\r\n", n);
    for (size_t i = 0; i < n; i++)
        cn_strbuf_printf(&b, ":%d\r\n", v);
    return cn_strbuf_take(&b, NULL);
}

static void test_records_become_one_eval_then_commit(void)
{
    cn_runtime *rt = tu_runtime();
    struct cn_broadcast *b = start(rt);
    struct tu_rec recs[3] = {tu_chat_event(K1, 7, 1, "hello"), tu_garbage(),
                             tu_chat_event(K2, 8, 2, "again")};
    tu_send(2, 40, recs, 3, "7");
    struct fake_call *c = tu_take(FAKE_KIND_REDIS);
    if (!c)
        return;
    /* EVAL script 6 keys(3 per record) cap ttl kcap, then offset body dedupe-key per record. */
    CHECK_EQ(c->argc, 18);
    CHECK_STR(c->argv[0], "EVAL");
    CHECK(strstr(c->argv[1], "PUBLISH") != NULL);
    CHECK_STR(c->argv[2], "6");
    CHECK_STR(c->argv[3], "room:7:window");
    CHECK_STR(c->argv[4], "room:7");
    CHECK_STR(c->argv[5], "room:7:keys");
    CHECK_STR(c->argv[6], "room:8:window");
    CHECK_STR(c->argv[9], "50");
    CHECK_STR(c->argv[10], "60");
    CHECK_STR(c->argv[11], "4096");
    CHECK_STR(c->argv[12], "40");
    CHECK(strncmp(c->argv[13], K1 "\n{", strlen(K1) + 2) == 0);
    CHECK(strstr(c->argv[13], "\"position\":40") != NULL);
    CHECK_STR(c->argv[14], "1:" K1); /* the sender's key: sender 1 */
    CHECK_STR(c->argv[15], "42");
    CHECK_STR(c->argv[17], "2:" K2);
    CHECK_EQ(fake_consumer_commits_pending(), 0);
    /* Published, and a sender's messageKey the room already had. */
    fake_redis_answer(c, "*2\r\n:1\r\n:2\r\n");
    CHECK_EQ(tu_commit(), 43);
    CHECK_EQ(atomic_load(&fc.bc_published), 1);
    CHECK_EQ(atomic_load(&fc.bc_retried_keys), 1);
    CHECK_EQ(atomic_load(&fc.bc_bad), 1);
    CHECK_EQ(e2e_observed(), 2);
    stop(rt, b);
}

static void test_runs_of_256_and_a_failed_run_retries_the_batch(void)
{
    cn_runtime *rt = tu_runtime();
    struct cn_broadcast *b = start(rt);
    struct tu_rec recs[300];
    for (int i = 0; i < 300; i++) {
        char key[CN_UUID_STR_LEN + 8];
        snprintf(key, sizeof key, "%08d-1111-4111-8111-111111111111", i);
        recs[i] = tu_chat_event(key, 1 + i % 5, 1, "m");
    }
    tu_send(2, 0, recs, 300, "1");
    char *all256 = resp_ints(256, 1), *dup256 = resp_ints(256, 0), *all44 = resp_ints(44, 1);

    struct fake_call *r1 = tu_take(FAKE_KIND_REDIS), *r2 = tu_take(FAKE_KIND_REDIS);
    if (!r1 || !r2)
        return;
    CHECK_STR(r1->argv[2], "768"); /* 256 records x 3 keys */
    CHECK_STR(r2->argv[2], "132"); /* the other 44 */
    CHECK_STR(r2->argv[3 + 132 + 3], "256");
    int64_t t0 = tu_now_ms();
    fake_redis_answer(r1, all256);
    fake_redis_down(r2, "redis down");

    /* The whole batch again, after the backoff; nothing was committed. */
    r1 = tu_take(FAKE_KIND_REDIS);
    r2 = tu_take(FAKE_KIND_REDIS);
    if (!r1 || !r2)
        return;
    CHECK_INT(tu_now_ms() - t0, >=, 100);
    CHECK_EQ(fake_consumer_commits_pending(), 0);
    CHECK_STR(r1->argv[2], "768");
    CHECK_STR(r2->argv[2], "132");
    fake_redis_answer(r1, dup256); /* already in the window */
    fake_redis_answer(r2, all44);
    CHECK_EQ(tu_commit(), 300);
    CHECK_EQ(atomic_load(&fc.bc_retries), 1);
    CHECK_EQ(atomic_load(&fc.bc_published), 300);
    CHECK_EQ(atomic_load(&fc.bc_duplicates), 256);
    CHECK_EQ(e2e_observed(), 300); /* the first attempt only */
    free(all256);
    free(dup256);
    free(all44);
    stop(rt, b);
}

CN_TEST_MAIN(test_records_become_one_eval_then_commit,
             test_runs_of_256_and_a_failed_run_retries_the_batch)
