/* Tests src/actors/pipeline/partition_pipeline.c: the shell against a step of the test's
 * own, on the real runtime, with the fake pool (the step's effect), the fake producer
 * (the DLT) and the fake consumer (batches, revokes, commits).
 *
 * The test step makes one pool call per attempt, "EFFECT" with the batch's first
 * offset and the attempt as parameters, and takes the answer as its verdict: rows are
 * done, sqlstate "RETRY" a retryable failure, "FAIL" a permanent one, 08003 (the pool's
 * STOPPING) a closed adapter. A refused call is a closed adapter when -ESHUTDOWN. A
 * message of type PING makes the step call "PING": as a mailbox is FIFO, seeing that
 * call proves the actor handled everything sent before it. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actors/pipeline/partition_pipeline.h"
#include "base/xmalloc.h"
#include "io/pg_pool.h"
#include "pipeline_testutil.h"

enum { MSG_EFFECT = CN_PP_MSG_STEP, MSG_PING };

struct owner {
    atomic_uint_fast64_t batches, retries, dlt_records, dlt_failures, partitions;
};

static atomic_int owners_freed;

static void owner_free(void *o)
{
    free(o);
    atomic_fetch_add(&owners_freed, 1);
}

static enum cn_pp_verdict effect(struct cn_pp *pp, const char *what, int attempt)
{
    char first[24], att[16];
    snprintf(first, sizeof first, "%lld", (long long)cn_pp_batch(pp)->records[0].offset);
    snprintf(att, sizeof att, "%d", attempt);
    const char *params[2] = {first, att};
    int rc = cn_pg_pool_query(FAKE_PG, cn_pp_self(pp), MSG_EFFECT, cn_pp_tag(pp), what, 2, params);
    if (rc == 0)
        return CN_PP_PENDING;
    if (rc == -ESHUTDOWN)
        return CN_PP_STOP;
    cn_pp_error(pp, "refused: %d", rc);
    return CN_PP_RETRY;
}

static enum cn_pp_verdict t_start(struct cn_pp *pp, void *st, const struct cn_kafka_batch *b,
                                  int attempt)
{
    (void)st;
    (void)b;
    return effect(pp, "EFFECT", attempt);
}

static enum cn_pp_verdict t_on_msg(struct cn_pp *pp, void *st, cn_msg *m)
{
    (void)st;
    if (m->type == MSG_PING) {
        const char *params[2] = {"ping", "0"};
        cn_pg_pool_query(FAKE_PG, cn_pp_self(pp), MSG_PING + 1, 0, "PING", 2, params);
        return CN_PP_PENDING;
    }
    const struct cn_pg_reply *r = (const struct cn_pg_reply *)m;
    if (m->type != MSG_EFFECT || !cn_pp_current(pp, r->tag))
        return CN_PP_PENDING;
    if (r->ok)
        return CN_PP_DONE;
    if (strcmp(r->sqlstate, CN_PG_SQLSTATE_STOPPING) == 0)
        return CN_PP_STOP;
    cn_pp_error(pp, "%s: %s", r->sqlstate, r->error);
    return strcmp(r->sqlstate, "FAIL") == 0 ? CN_PP_FAIL : CN_PP_RETRY;
}

static const struct cn_pp_step test_step = {
    .name = "test",
    .dlt_stage = "effect-stage",
    .start = t_start,
    .on_msg = t_on_msg,
};

struct env {
    cn_runtime *rt;
    struct owner *o;
    struct cn_pp_group *g;
};

static void env_start(struct env *e, int retries)
{
    atomic_store(&owners_freed, 0);
    e->rt = tu_runtime();
    e->o = cn_xcalloc(1, sizeof *e->o);
    static const char *const topics[] = {"t"};
    struct cn_pp_group_opts go = {
        .rt = e->rt,
        .step = &test_step,
        .owner = e->o,
        .owner_free = owner_free,
        .consumer = {.brokers = "fake", .group_id = "g", .topics = topics, .ntopics = 1},
        .dlt = FAKE_PRODUCER,
        .dlt_topic = "t.dlt",
        .retry = {.retries = retries, .first_ms = 50, .factor = 2},
        .counters =
            {
                .batches = &e->o->batches,
                .retries = &e->o->retries,
                .dlt_records = &e->o->dlt_records,
                .dlt_failures = &e->o->dlt_failures,
                .partitions = &e->o->partitions,
            },
    };
    char err[128];
    e->g = cn_pp_group_start(&go, err, sizeof err);
    CHECK(e->g != NULL);
}

/* Stops the group and the runtime; the owner must be freed exactly once by then. */
static void env_stop(struct env *e)
{
    cn_pp_group_close(e->g);
    cn_runtime_shutdown(e->rt);
    cn_pp_group_free(e->g);
    fake_reset();
    CHECK_EQ(atomic_load(&owners_freed), 1);
}

/* A batch of n records with values "v<offset>" and key "k". */
static void send_batch(int32_t partition, int64_t first, size_t n)
{
    char buf[8][16];
    const char *values[8];
    size_t lens[8];
    for (size_t i = 0; i < n; i++) {
        snprintf(buf[i], sizeof buf[i], "v%lld", (long long)first + (long long)i);
        values[i] = buf[i];
        lens[i] = strlen(buf[i]);
    }
    CHECK_EQ(fake_consumer_batch(partition, first, n, values, lens, "k"), 0);
}

/* Takes the next pool call, which must be `sql` for the batch at `first`, attempt
 * `attempt` (-1: any). */
static struct fake_call *take_effect(const char *sql, const char *first, int attempt)
{
    struct fake_call *c = tu_take(FAKE_KIND_PG);
    if (!c)
        return NULL;
    CHECK_STR(c->sql, sql);
    CHECK_STR(c->params[0], first);
    if (attempt >= 0) {
        char att[16];
        snprintf(att, sizeof att, "%d", attempt);
        CHECK_STR(c->params[1], att);
    }
    return c;
}

static const char *const no_cols[] = {"x"};

static void answer_ok(struct fake_call *c)
{
    if (c)
        fake_pg_rows(c, 1, no_cols, 0, NULL);
}

static void ping(cn_actor *a)
{
    cn_msg *m = cn_xcalloc(1, sizeof *m);
    cn_msg_init(m, MSG_PING, NULL);
    CHECK_EQ(cn_actor_send(a, m), 0);
    fake_call_free(take_effect("PING", "ping", 0));
}

/* Assigns the partition and holds a reference to its actor, so the test can see it stop. */
static cn_actor *assign_held(int32_t partition)
{
    cn_actor *a = fake_consumer_assign("t", partition);
    CHECK(a != NULL);
    if (a)
        cn_actor_ref(a);
    return a;
}

/* Waits until the held actor stopped, checks that it committed nothing and left no
 * call behind (no DLT record, no further effect), and drops the reference. */
static void check_stopped_clean(struct env *e, cn_actor *a)
{
    if (!a)
        return;
    CHECK(tu_wait_stopped(a));
    CHECK_EQ(fake_pending(FAKE_KIND_PG), 0);
    CHECK_EQ(fake_pending(FAKE_KIND_KAFKA), 0);
    CHECK_EQ(fake_consumer_commits_pending(), 0);
    CHECK_EQ(atomic_load(&e->o->batches), 0);
    cn_actor_unref(a);
}

/* The effect fails every attempt: two retries with growing waits, then each record goes
 * to the DLT with the error and its origin; the commit waits for every DLT ack. */
static void test_retry_then_dlt_then_commit(void)
{
    struct env e;
    env_start(&e, 2);
    CHECK(fake_consumer_assign("t", 3) != NULL);
    CHECK_EQ(atomic_load(&e.o->partitions), 1);
    send_batch(3, 10, 2);
    int64_t t0 = 0;
    for (int attempt = 0; attempt <= 2; attempt++) {
        struct fake_call *c = take_effect("EFFECT", "10", attempt);
        if (attempt == 1)
            CHECK_INT(tu_now_ms() - t0, >=, 50);
        if (attempt == 2)
            CHECK_INT(tu_now_ms() - t0, >=, 100); /* x2 */
        t0 = tu_now_ms();
        if (c)
            fake_pg_error(c, "RETRY", "db down");
    }
    struct fake_call *d[2];
    for (int i = 0; i < 2; i++) {
        d[i] = fake_next(FAKE_KIND_KAFKA, TU_WAIT_MS);
        CHECK(d[i] != NULL);
        if (!d[i])
            return;
        CHECK_STR(d[i]->topic, "t.dlt");
        CHECK_EQ(d[i]->partition, 3);
        CHECK_STR(d[i]->key, "k");
        CHECK_STR(fake_kafka_header(d[i], "error"), "RETRY: db down");
        CHECK_STR(fake_kafka_header(d[i], "error-stage"), "effect-stage");
        CHECK_STR(fake_kafka_header(d[i], "origin-topic"), "t");
        CHECK_STR(fake_kafka_header(d[i], "origin-partition"), "3");
        CHECK_STR(fake_kafka_header(d[i], "attempts"), "3");
    }
    CHECK_STR(d[0]->value, "v10");
    CHECK_STR(fake_kafka_header(d[0], "origin-offset"), "10");
    CHECK_STR(d[1]->value, "v11");
    CHECK_STR(fake_kafka_header(d[1], "origin-offset"), "11");
    /* One acknowledged, one failed: the failed one is produced again a second later;
     * by then the first ack was handled, and still nothing may be committed. */
    fake_kafka_ack(d[0], 3, 500);
    fake_kafka_fail(d[1], "broker down");
    struct fake_call *again = fake_next(FAKE_KIND_KAFKA, TU_WAIT_MS);
    CHECK(again != NULL);
    if (!again)
        return;
    CHECK_STR(fake_kafka_header(again, "origin-offset"), "11");
    CHECK_EQ(fake_consumer_commits_pending(), 0);
    fake_kafka_ack(again, 3, 501);
    struct fake_commit cm;
    CHECK(fake_consumer_next_commit(TU_WAIT_MS, &cm));
    CHECK_STR(cm.topic, "t");
    CHECK_EQ(cm.partition, 3);
    CHECK_EQ(cm.next_offset, 12);
    CHECK_EQ(atomic_load(&e.o->retries), 2);
    CHECK_EQ(atomic_load(&e.o->dlt_records), 2);
    CHECK_EQ(atomic_load(&e.o->dlt_failures), 1);
    CHECK_EQ(atomic_load(&e.o->batches), 1);
    env_stop(&e);
}

/* A permanent failure skips the retries: the DLT at once. */
static void test_permanent_failure_goes_to_the_dlt_at_once(void)
{
    struct env e;
    env_start(&e, 5);
    CHECK(fake_consumer_assign("t", 0) != NULL);
    send_batch(0, 7, 1);
    struct fake_call *c = take_effect("EFFECT", "7", 0);
    if (c)
        fake_pg_error(c, "FAIL", "bad data");
    struct fake_call *d = fake_next(FAKE_KIND_KAFKA, TU_WAIT_MS);
    CHECK(d != NULL);
    if (!d)
        return;
    CHECK_STR(fake_kafka_header(d, "error"), "FAIL: bad data");
    CHECK_STR(fake_kafka_header(d, "attempts"), "1");
    CHECK_EQ(fake_pending(FAKE_KIND_PG), 0); /* no retry was made */
    fake_kafka_ack(d, 0, 1);
    struct fake_commit cm;
    CHECK(fake_consumer_next_commit(TU_WAIT_MS, &cm));
    CHECK_EQ(cm.next_offset, 8);
    CHECK_EQ(atomic_load(&e.o->retries), 0);
    env_stop(&e);
}

/* Three batches queued at once: the second starts only when the first is committed (one
 * batch in flight, so no later batch can finish, or commit, first), and commits come in
 * offset order. */
static void test_one_batch_in_flight_commits_in_order(void)
{
    struct env e;
    env_start(&e, 0);
    cn_actor *a = fake_consumer_assign("t", 1);
    CHECK(a != NULL);
    send_batch(1, 0, 2);
    send_batch(1, 2, 2);
    send_batch(1, 4, 1);
    struct fake_call *first = take_effect("EFFECT", "0", 0);
    ping(a); /* every batch is in the actor now */
    CHECK_EQ(fake_pending(FAKE_KIND_PG), 0);
    CHECK_EQ(fake_consumer_commits_pending(), 0);
    answer_ok(first);
    struct fake_commit cm;
    CHECK(fake_consumer_next_commit(TU_WAIT_MS, &cm));
    CHECK_EQ(cm.next_offset, 2);
    answer_ok(take_effect("EFFECT", "2", 0));
    CHECK(fake_consumer_next_commit(TU_WAIT_MS, &cm));
    CHECK_EQ(cm.next_offset, 4);
    answer_ok(take_effect("EFFECT", "4", 0));
    CHECK(fake_consumer_next_commit(TU_WAIT_MS, &cm));
    CHECK_EQ(cm.next_offset, 5);
    CHECK_EQ(atomic_load(&e.o->batches), 3);
    env_stop(&e);
}

/* A revoke while a batch is in flight: the queued batch is dropped, nothing is
 * committed, and the reply that comes after the stop is refused without harm. */
static void test_revoke_mid_batch(void)
{
    struct env e;
    env_start(&e, 3);
    cn_actor *a = assign_held(2);
    send_batch(2, 0, 2);
    send_batch(2, 2, 2);
    struct fake_call *c = take_effect("EFFECT", "0", 0);
    fake_consumer_revoke(2);
    check_stopped_clean(&e, a);
    answer_ok(c); /* to a stopped actor: refused, freed */
    CHECK(tu_wait_count(&e.o->partitions, 0));
    CHECK_EQ(fake_consumer_commits_pending(), 0);
    env_stop(&e);
}

/* A pool that refuses with -ESHUTDOWN: the batch and the queue are dropped, neither
 * committed nor sent to the DLT, and the actor stops. */
static void test_refused_with_eshutdown_stops_without_commit_or_dlt(void)
{
    struct env e;
    env_start(&e, 3);
    cn_actor *a = assign_held(0);
    fake_refuse(FAKE_KIND_PG, -ESHUTDOWN);
    send_batch(0, 0, 1);
    /* May come after the stop (then the runtime refuses it): either way it is dropped. */
    const char *v = "v1";
    size_t vl = 2;
    fake_consumer_batch(0, 1, 1, &v, &vl, "k");
    check_stopped_clean(&e, a);
    CHECK_EQ(atomic_load(&e.o->retries), 0);
    env_stop(&e);
}

/* The pool's STOPPING answer (a query pending when it closed) does the same. */
static void test_stopping_reply_stops_without_commit_or_dlt(void)
{
    struct env e;
    env_start(&e, 3);
    cn_actor *a = assign_held(0);
    send_batch(0, 0, 1);
    struct fake_call *c = take_effect("EFFECT", "0", 0);
    if (c)
        fake_pg_error(c, CN_PG_SQLSTATE_STOPPING, "pool stopping");
    check_stopped_clean(&e, a);
    env_stop(&e);
}

/* A DLT producer that is closed when the retries run out: no commit, the actor stops. */
static void test_closed_dlt_producer_stops_without_commit(void)
{
    struct env e;
    env_start(&e, 0);
    cn_actor *a = assign_held(0);
    fake_refuse(FAKE_KIND_KAFKA, -ESHUTDOWN);
    send_batch(0, 0, 2);
    struct fake_call *c = take_effect("EFFECT", "0", 0);
    if (c)
        fake_pg_error(c, "RETRY", "db down");
    check_stopped_clean(&e, a);
    env_stop(&e);
}

/* Closing the group revokes every partition, and a later commit cannot reach the freed
 * consumer (ASan would see it): the batch finishing after the close is not committed. */
static void test_close_revokes_and_later_work_is_not_committed(void)
{
    struct env e;
    env_start(&e, 0);
    cn_actor *a = fake_consumer_assign("t", 0);
    CHECK(a != NULL);
    send_batch(0, 0, 1);
    struct fake_call *c = take_effect("EFFECT", "0", 0);
    cn_pp_group_close(e.g);
    struct cn_kafka_consumer_stats cs;
    size_t n = 0;
    CHECK(!cn_pp_group_consumer_stats(e.g, &cs, NULL, 0, &n));
    answer_ok(c);
    CHECK(tu_wait_count(&e.o->partitions, 0));
    CHECK_EQ(fake_consumer_commits_pending(), 0);
    env_stop(&e);
}

CN_TEST_MAIN(test_retry_then_dlt_then_commit, test_permanent_failure_goes_to_the_dlt_at_once,
             test_one_batch_in_flight_commits_in_order, test_revoke_mid_batch,
             test_refused_with_eshutdown_stops_without_commit_or_dlt,
             test_stopping_reply_stops_without_commit_or_dlt,
             test_closed_dlt_producer_stops_without_commit,
             test_close_revokes_and_later_work_is_not_committed)
