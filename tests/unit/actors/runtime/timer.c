/* Tests src/actors/runtime/timer.c: timers fire in deadline order within a tolerance, cancel
 * prevents delivery and frees the message, and pending timers are freed at shutdown
 * or dropped when their actor has stopped. */
#include "check.h"
#include "testutil.h"

#include <errno.h>

/* Sanitizers and a busy 2-core box make the timer thread late; never early. The bound
 * is about the OS giving the timer thread a core, not about the heap: 20 ms failed once
 * with three engineers' builds and test stacks on the 2 cores (ctest runs unit tests two
 * at a time, too). */
#define LATE_TOLERANCE_MS SCALE(40, 120)

enum { N_TIMERS = 10 };
static _Atomic uint64_t fire_count;
static uint64_t fire_seq[N_TIMERS], fire_at_ns[N_TIMERS]; /* actor only, read after */

static void recorder(cn_actor *self, void *state, cn_msg *msg)
{
    (void)self;
    (void)state;
    test_msg *m = (test_msg *)msg;
    uint64_t i = atomic_load(&fire_count);
    if (i < N_TIMERS) {
        fire_seq[i] = m->seq;
        fire_at_ns[i] = cn_now_ns();
    }
    cn_msg_free(msg);
    atomic_fetch_add(&fire_count, 1); /* seq_cst: publishes the arrays to the test */
}

static void test_timers_fire_in_order_within_tolerance(void)
{
    atomic_store(&fire_count, 0);
    cn_runtime *rt = cn_runtime_new(&(cn_runtime_config){.workers = 2});
    CHECK_EQ(cn_runtime_start(rt), 0);
    cn_actor *a = cn_actor_spawn(rt, recorder, NULL, NULL);
    /* Deadlines 10..100 ms set in scrambled order; seq = deadline in ms. */
    static const uint64_t ms[N_TIMERS] = {70, 10, 100, 40, 20, 90, 30, 60, 50, 80};
    uint64_t t0 = cn_now_ns();
    for (int i = 0; i < N_TIMERS; i++)
        CHECK_INT(cn_timer_after(rt, a, ms[i], &test_msg_new(0, ms[i])->hdr), >, 0);
    CHECK(WAIT_FOR(atomic_load(&fire_count) == N_TIMERS, 5000));
    uint64_t worst_late = 0;
    for (int i = 0; i < N_TIMERS; i++) {
        uint64_t want = (uint64_t)(i + 1) * 10;
        CHECK_EQ(fire_seq[i], want);
        uint64_t due = t0 + want * 1000000u;
        CHECK_INT(fire_at_ns[i], >=, due); /* never early */
        uint64_t late = fire_at_ns[i] > due ? fire_at_ns[i] - due : 0;
        worst_late = late > worst_late ? late : worst_late;
    }
    fprintf(stderr, "  worst lateness %.3f ms\n", (double)worst_late / 1e6);
    CHECK_INT(worst_late, <, (uint64_t)LATE_TOLERANCE_MS * 1000000u);
    struct cn_runtime_stats st;
    cn_runtime_stats(rt, &st);
    CHECK_EQ(st.timers_fired, N_TIMERS);
    CHECK_EQ(st.timers_pending, 0);
    cn_actor_unref(a);
    cn_runtime_shutdown(rt);
    CHECK(msgs_balanced());
}

static void test_same_deadline_fires_in_set_order(void)
{
    atomic_store(&fire_count, 0);
    cn_runtime *rt = cn_runtime_new(&(cn_runtime_config){.workers = 1});
    cn_actor *a = cn_actor_spawn(rt, recorder, NULL, NULL);
    /* Set before start, so all share "now + 0" within a few microseconds at most. */
    for (int i = 0; i < N_TIMERS; i++)
        cn_timer_after(rt, a, 0, &test_msg_new(0, (uint64_t)i)->hdr);
    CHECK_EQ(cn_runtime_start(rt), 0);
    CHECK(WAIT_FOR(atomic_load(&fire_count) == N_TIMERS, 5000));
    for (int i = 0; i < N_TIMERS; i++)
        CHECK_EQ(fire_seq[i], i);
    cn_actor_unref(a);
    cn_runtime_shutdown(rt);
    CHECK(msgs_balanced());
}

static void test_cancel_prevents_delivery_and_frees(void)
{
    atomic_store(&fire_count, 0);
    cn_runtime *rt = cn_runtime_new(&(cn_runtime_config){.workers = 2});
    CHECK_EQ(cn_runtime_start(rt), 0);
    cn_actor *a = cn_actor_spawn(rt, recorder, NULL, NULL);
    /* Many timers so the id table grows and the heap removes from the middle. */
    enum { N = 1000 };
    static uint64_t ids[N];
    for (int i = 0; i < N; i++)
        ids[i] = cn_timer_after(rt, a, 200 + (uint64_t)(i % 7), &test_msg_new(0, 0)->hdr);
    uint64_t freed_before = atomic_load(&msgs_freed);
    int cancelled = 0;
    for (int i = 0; i < N; i++) {
        if (i % 10 == 3)
            continue; /* keep 100 to fire */
        CHECK(cn_timer_cancel(rt, ids[i]));
        cancelled++;
    }
    CHECK_EQ(atomic_load(&msgs_freed) - freed_before, cancelled); /* freed by cancel */
    CHECK(!cn_timer_cancel(rt, ids[0]));                          /* already cancelled */
    CHECK(!cn_timer_cancel(rt, 0));                               /* never existed */
    CHECK(!cn_timer_cancel(rt, UINT64_MAX));                      /* never existed */
    CHECK(WAIT_FOR(atomic_load(&fire_count) == N - (uint64_t)cancelled, 5000));
    CHECK(!cn_timer_cancel(rt, ids[3])); /* already fired */
    struct cn_runtime_stats st;
    cn_runtime_stats(rt, &st);
    CHECK_EQ(st.timers_cancelled, cancelled);
    CHECK_EQ(st.timers_fired, N - cancelled);
    /* Nothing more arrives later. */
    uint64_t id = cn_timer_after(rt, a, 20, &test_msg_new(0, 0)->hdr);
    CHECK(WAIT_FOR(atomic_load(&fire_count) == N - (uint64_t)cancelled + 1, 5000));
    CHECK(!cn_timer_cancel(rt, id));
    CHECK_EQ(atomic_load(&fire_count), N - (uint64_t)cancelled + 1);
    cn_actor_unref(a);
    cn_runtime_shutdown(rt);
    CHECK(msgs_balanced());
}

static void test_timer_to_stopped_actor_is_dropped(void)
{
    atomic_store(&fire_count, 0);
    cn_runtime *rt = cn_runtime_new(&(cn_runtime_config){.workers = 2});
    CHECK_EQ(cn_runtime_start(rt), 0);
    cn_actor *a = cn_actor_spawn(rt, recorder, NULL, NULL);
    cn_timer_after(rt, a, 10, &test_msg_new(0, 0)->hdr);
    cn_actor_stop(a);
    cn_actor_unref(a); /* the timer's own reference keeps the handle valid */
    struct cn_runtime_stats st;
    /* The timer counts a firing before its send counts the drop: wait for both. */
    CHECK(
        WAIT_FOR((cn_runtime_stats(rt, &st), st.timers_fired == 1 && st.sends_dropped == 1), 5000));
    CHECK_EQ(atomic_load(&fire_count), 0);
    cn_runtime_shutdown(rt);
    CHECK(msgs_balanced());
}

static void test_shutdown_frees_pending_timers(void)
{
    cn_runtime *rt = cn_runtime_new(&(cn_runtime_config){.workers = 2});
    CHECK_EQ(cn_runtime_start(rt), 0);
    cn_actor *a = cn_actor_spawn(rt, recorder, NULL, NULL);
    for (int i = 0; i < 100; i++)
        cn_timer_after(rt, a, 60000, &test_msg_new(0, 0)->hdr);
    cn_actor_unref(a);
    cn_runtime_shutdown(rt);
    CHECK(msgs_balanced());
}

/* An actor that re-arms a timer for itself on every tick, and also sends to itself:
 * shutdown then stops the timer thread while behaviours still set timers. */
static _Atomic uint64_t ticks;

static void rearming(cn_actor *self, void *state, cn_msg *msg)
{
    (void)state;
    atomic_fetch_add(&ticks, 1);
    cn_runtime *rt = cn_actor_runtime(self);
    cn_timer_after(rt, self, 0, msg); /* hands the message on to the timer */
    cn_actor_send(self, &test_msg_new(0, 0)->hdr);
}

static void test_rearming_actor_during_shutdown(void)
{
    atomic_store(&ticks, 0);
    cn_runtime *rt = cn_runtime_new(&(cn_runtime_config){.workers = 2});
    CHECK_EQ(cn_runtime_start(rt), 0);
    cn_actor *a = cn_actor_spawn(rt, rearming, NULL, NULL);
    cn_actor_send(a, &test_msg_new(0, 0)->hdr);
    CHECK(WAIT_FOR(atomic_load(&ticks) > 1000, 5000));
    cn_runtime_shutdown(rt);
    cn_actor_unref(a);
    CHECK(msgs_balanced());
}

CN_TEST_MAIN(test_timers_fire_in_order_within_tolerance, test_same_deadline_fires_in_set_order,
             test_cancel_prevents_delivery_and_frees, test_timer_to_stopped_actor_is_dropped,
             test_shutdown_frees_pending_timers, test_rearming_actor_during_shutdown)
