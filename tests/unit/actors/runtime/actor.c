/* Tests src/actors/runtime/actor.c on a running runtime: per-sender FIFO, nothing lost or
 * duplicated under concurrent senders (into one actor and spread over 1,000), an
 * actor never running on two workers at once, stop semantics (pending messages
 * freed, later sends dropped and counted, state_free once) and leak-free shutdown. */
#include "check.h"
#include "testutil.h"

#include <errno.h>
#include <pthread.h>

enum { SENDERS = 4 };

/* ---- counting state ---- */

typedef struct counting {
    uint64_t next_seq[SENDERS]; /* token holder only: TSan checks the hand-over */
    uint64_t handled;
    _Atomic int in_turn;
} counting;

static _Atomic uint64_t total_handled, order_errors, overlap_errors, states_freed;

static void counting_behaviour(cn_actor *self, void *state, cn_msg *msg)
{
    (void)self;
    counting *c = state;
    if (atomic_exchange(&c->in_turn, 1) != 0)
        atomic_fetch_add(&overlap_errors, 1);
    test_msg *m = (test_msg *)msg;
    if (m->seq != c->next_seq[m->sender])
        atomic_fetch_add(&order_errors, 1);
    c->next_seq[m->sender] = m->seq + 1;
    c->handled++;
    cn_msg_free(msg);
    atomic_store(&c->in_turn, 0);
    atomic_fetch_add(&total_handled, 1);
}

static void counting_free(void *state)
{
    atomic_fetch_add(&states_freed, 1);
    free(state);
}

static cn_actor *spawn_counting(cn_runtime *rt)
{
    counting *c = cn_xcalloc(1, sizeof *c);
    return cn_actor_spawn(rt, counting_behaviour, c, counting_free);
}

static void reset_counters(void)
{
    atomic_store(&total_handled, 0);
    atomic_store(&order_errors, 0);
    atomic_store(&overlap_errors, 0);
    atomic_store(&states_freed, 0);
}

/* ---- senders ---- */

typedef struct sender_arg {
    unsigned id;
    cn_actor **actors;
    unsigned n_actors;
    uint64_t count;
} sender_arg;

static void *sender_main(void *p)
{
    sender_arg *s = p;
    /* Message i goes to actor i % n; the sequence number is per (sender, actor). */
    uint64_t *seq = cn_xcalloc(s->n_actors, sizeof *seq);
    for (uint64_t i = 0; i < s->count; i++) {
        unsigned k = (unsigned)(i % s->n_actors);
        test_msg *m = test_msg_new(s->id, seq[k]++);
        if (cn_actor_send(s->actors[k], &m->hdr) != 0)
            abort();
    }
    free(seq);
    return NULL;
}

static void run_senders(cn_actor **actors, unsigned n_actors, uint64_t per_sender)
{
    pthread_t th[SENDERS];
    sender_arg args[SENDERS];
    for (unsigned i = 0; i < SENDERS; i++) {
        args[i] = (sender_arg){i, actors, n_actors, per_sender};
        pthread_create(&th[i], NULL, sender_main, &args[i]);
    }
    for (unsigned i = 0; i < SENDERS; i++)
        pthread_join(th[i], NULL);
}

static void many_senders_spin(unsigned n_actors, uint64_t per_sender, unsigned workers,
                              int spin_rounds)
{
    reset_counters();
    cn_runtime *rt =
        cn_runtime_new(&(cn_runtime_config){.workers = workers, .spin_rounds = spin_rounds});
    CHECK_EQ(cn_runtime_start(rt), 0);
    cn_actor **actors = cn_xcalloc(n_actors, sizeof *actors);
    for (unsigned i = 0; i < n_actors; i++)
        actors[i] = spawn_counting(rt);
    uint64_t want = per_sender * SENDERS;
    uint64_t t0 = cn_now_ns();
    run_senders(actors, n_actors, per_sender);
    CHECK(WAIT_FOR(atomic_load(&total_handled) >= want, 60000));
    double secs = (double)(cn_now_ns() - t0) / 1e9;
    CHECK_EQ(atomic_load(&total_handled), want);
    CHECK_EQ(atomic_load(&order_errors), 0);
    CHECK_EQ(atomic_load(&overlap_errors), 0);
    struct cn_runtime_stats st;
    /* Workers add their counts at the end of a turn: wait for the last one. */
    CHECK(WAIT_FOR((cn_runtime_stats(rt, &st), st.messages == want), 5000));
    CHECK_EQ(st.messages, want);
    CHECK_EQ(st.actors_alive, n_actors);
    uint64_t steals = 0;
    for (unsigned i = 0; i < st.workers; i++)
        steals += st.worker[i].steals;
    fprintf(stderr, "  %u actors, %llu msgs in %.2f s (%.0f/s), steals %llu\n", n_actors,
            (unsigned long long)want, secs, (double)want / secs, (unsigned long long)steals);
    for (unsigned i = 0; i < n_actors; i++)
        cn_actor_unref(actors[i]);
    cn_runtime_shutdown(rt);
    CHECK_EQ(atomic_load(&states_freed), n_actors);
    CHECK(msgs_balanced());
    free(actors);
}

static void many_senders(unsigned n_actors, uint64_t per_sender, unsigned workers)
{
    many_senders_spin(n_actors, per_sender, workers, 0);
}

static void test_fifo_per_sender_4x1m_into_one_actor(void)
{
    many_senders(1, SCALE(1000000, 250000), 2);
}

static void test_4x1m_spread_over_1000_actors(void)
{
    many_senders(1000, SCALE(1000000, 250000), 2);
}

static void test_never_concurrent_with_more_workers_than_cores(void)
{
    /* Four workers on a two-core box get preempted mid-turn, which is when a second
     * scheduling of the same actor would show. */
    many_senders(8, SCALE(250000, 25000), 4);
}

static void test_no_spinning_worker_loses_no_wakeup(void)
{
    /* spin_rounds -1 (chat-node's default): every idle worker parks at once, so each
     * send that finds the actor idle must wake one; a lost wake-up stalls the wait. */
    many_senders_spin(100, SCALE(250000, 25000), 2, -1);
}

/* ---- stop ---- */

typedef struct stopper {
    uint64_t stop_at, handled;
} stopper;

static _Atomic uint64_t stopper_handled;

static void stopper_behaviour(cn_actor *self, void *state, cn_msg *msg)
{
    stopper *s = state;
    cn_msg_free(msg);
    if (++s->handled == s->stop_at)
        cn_actor_stop(self); /* stops itself in the middle of a batch */
    atomic_fetch_add(&stopper_handled, 1);
}

static void stopper_free(void *state)
{
    atomic_fetch_add(&states_freed, 1);
    free(state);
}

static void test_stop_frees_pending_and_drops_later_sends(void)
{
    reset_counters();
    atomic_store(&stopper_handled, 0);
    cn_runtime *rt = cn_runtime_new(&(cn_runtime_config){.workers = 2, .batch = 16});
    stopper *s = cn_xcalloc(1, sizeof *s);
    s->stop_at = 10;
    cn_actor *a = cn_actor_spawn(rt, stopper_behaviour, s, stopper_free);
    /* Queue everything before the workers start, so the stop lands with 990 pending. */
    for (uint64_t i = 0; i < 1000; i++)
        CHECK_EQ(cn_actor_send(a, &test_msg_new(0, i)->hdr), 0);
    struct cn_actor_stats as;
    cn_actor_stats(a, &as);
    CHECK_EQ(as.mailbox_depth, 1000);
    CHECK_EQ(as.mailbox_hwm, 1000);
    CHECK_EQ(cn_runtime_start(rt), 0);
    CHECK(WAIT_FOR(atomic_load(&states_freed) == 1, 5000));
    CHECK_EQ(atomic_load(&stopper_handled), 10); /* nothing delivered after the stop */
    CHECK(msgs_balanced());                      /* the other 990 were freed */

    /* The caller's reference still works: sends are refused, freed and counted. */
    for (uint64_t i = 0; i < 5; i++)
        CHECK_EQ(cn_actor_send(a, &test_msg_new(0, i)->hdr), -ESHUTDOWN);
    cn_actor_stop(a); /* idempotent */
    cn_actor_stats(a, &as);
    CHECK(as.stopped);
    CHECK_EQ(as.sends_dropped, 5);
    CHECK_EQ(as.messages, 10);
    struct cn_runtime_stats st;
    cn_runtime_stats(rt, &st);
    CHECK_EQ(st.sends_dropped, 5);
    CHECK_EQ(st.msgs_discarded, 990);
    /* The worker counts the actor dead just after it frees the state: wait for it. */
    CHECK(WAIT_FOR((cn_runtime_stats(rt, &st), st.actors_alive == 0), 5000));
    CHECK(msgs_balanced());
    cn_actor_unref(a);
    cn_runtime_shutdown(rt);
    CHECK_EQ(atomic_load(&states_freed), 1);
}

typedef struct stop_race_arg {
    cn_actor *a;
    unsigned id;
    uint64_t sent_ok, dropped;
} stop_race_arg;

static void *racing_sender(void *p)
{
    stop_race_arg *r = p;
    for (uint64_t i = 0;; i++) {
        int rc = cn_actor_send(r->a, &test_msg_new(r->id, i)->hdr);
        if (rc == 0) {
            r->sent_ok++;
        } else {
            r->dropped++;
            if (r->dropped >= 100)
                break;
        }
    }
    return NULL;
}

static void test_stop_from_other_thread_races_senders(void)
{
    /* Senders hammer actors that another thread stops; every message must be either
     * handled or freed, and the handles must stay valid (ASan) until unref. */
    reset_counters();
    cn_runtime *rt = cn_runtime_new(&(cn_runtime_config){.workers = 2});
    CHECK_EQ(cn_runtime_start(rt), 0);
    unsigned rounds = SCALE(200, 40);
    for (unsigned round = 0; round < rounds; round++) {
        cn_actor *a = spawn_counting(rt);
        stop_race_arg args[2] = {{a, 0, 0, 0}, {a, 1, 0, 0}};
        pthread_t th[2];
        for (int i = 0; i < 2; i++) {
            cn_actor_ref(a); /* each sender thread holds its own reference */
            pthread_create(&th[i], NULL, racing_sender, &args[i]);
        }
        CHECK(WAIT_FOR(atomic_load(&total_handled) > 0 || round % 2, 5000));
        cn_actor_stop(a);
        for (int i = 0; i < 2; i++) {
            pthread_join(th[i], NULL);
            cn_actor_unref(a);
        }
        cn_actor_unref(a);
    }
    CHECK(WAIT_FOR(atomic_load(&states_freed) == rounds, 10000));
    CHECK_EQ(atomic_load(&overlap_errors), 0);
    CHECK_EQ(atomic_load(&order_errors), 0);
    cn_runtime_shutdown(rt);
    CHECK(msgs_balanced());
}

/* ---- shutdown ---- */

static void test_shutdown_frees_actors_and_pending_messages(void)
{
    reset_counters();
    cn_runtime *rt = cn_runtime_new(&(cn_runtime_config){.workers = 2});
    cn_actor *a[100];
    for (int i = 0; i < 100; i++) {
        a[i] = spawn_counting(rt);
        for (int j = 0; j < 50; j++)
            cn_actor_send(a[i], &test_msg_new(0, (uint64_t)j)->hdr);
    }
    CHECK_EQ(cn_runtime_start(rt), 0);
    /* Shut down while work is still queued: the rest must be freed, not leaked. */
    for (int i = 0; i < 50; i++)
        cn_actor_unref(a[i]);
    cn_runtime_shutdown(rt);
    CHECK_EQ(atomic_load(&states_freed), 100);
    CHECK_EQ(atomic_load(&overlap_errors), 0);
    /* Handles still referenced survive the runtime until their last unref. */
    for (int i = 50; i < 100; i++)
        cn_actor_unref(a[i]);
    CHECK(msgs_balanced());
}

static void test_shutdown_without_start(void)
{
    reset_counters();
    cn_runtime *rt = cn_runtime_new(NULL);
    CHECK_INT(cn_runtime_workers(rt), >=, 1);
    cn_actor *a = spawn_counting(rt);
    cn_actor_send(a, &test_msg_new(0, 0)->hdr);
    cn_actor_stop(a);
    cn_runtime_shutdown(rt);
    cn_actor_unref(a);
    CHECK_EQ(atomic_load(&states_freed), 1);
    CHECK_EQ(atomic_load(&total_handled), 0);
    CHECK(msgs_balanced());
}

CN_TEST_MAIN(test_fifo_per_sender_4x1m_into_one_actor, test_4x1m_spread_over_1000_actors,
             test_never_concurrent_with_more_workers_than_cores,
             test_no_spinning_worker_loses_no_wakeup, test_stop_frees_pending_and_drops_later_sends,
             test_stop_from_other_thread_races_senders,
             test_shutdown_frees_actors_and_pending_messages, test_shutdown_without_start)
