/* Tests src/actors/runtime/mailbox.c: FIFO order, the idle token handed out exactly once per
 * empty-to-non-empty transition, and concurrent producers losing nothing. */
#include "check.h"
#include "testutil.h"

#include "actors/runtime/mailbox.h"

#include <pthread.h>

static void test_push_pop_fifo_and_token(void)
{
    cn_mailbox mb;
    cn_mailbox_init(&mb);
    CHECK(cn_mailbox_pop(&mb) == NULL);
    test_msg *m[3];
    for (int i = 0; i < 3; i++)
        m[i] = test_msg_new(0, (uint64_t)i);
    CHECK(cn_mailbox_push(&mb, &m[0]->hdr));  /* idle: this push takes the token */
    CHECK(!cn_mailbox_push(&mb, &m[1]->hdr)); /* held: no second scheduling */
    CHECK(!cn_mailbox_push(&mb, &m[2]->hdr));
    CHECK(!cn_mailbox_try_idle(&mb)); /* messages pending */
    for (int i = 0; i < 3; i++) {
        cn_msg *p = cn_mailbox_pop(&mb);
        CHECK(p == &m[i]->hdr);
        cn_msg_free(p);
    }
    CHECK(cn_mailbox_pop(&mb) == NULL);
    CHECK(cn_mailbox_try_idle(&mb));
    /* Idle again: the next push takes the token again, and so on. */
    test_msg *n = test_msg_new(0, 9);
    CHECK(cn_mailbox_push(&mb, &n->hdr));
    CHECK(cn_mailbox_pop(&mb) == &n->hdr);
    cn_msg_free(&n->hdr);
    CHECK(cn_mailbox_try_idle(&mb));
    CHECK(msgs_balanced());
}

static void test_single_message_cycles(void)
{
    /* The last message is detached by re-inserting the stub: exercise that path many
     * times, interleaving pops with pushes. */
    cn_mailbox mb;
    cn_mailbox_init(&mb);
    for (uint64_t i = 0; i < 1000; i++) {
        test_msg *a = test_msg_new(0, i), *b = test_msg_new(0, i);
        CHECK(cn_mailbox_push(&mb, &a->hdr));
        cn_msg *p = cn_mailbox_pop(&mb);
        CHECK(p == &a->hdr);
        CHECK(!cn_mailbox_push(&mb, &b->hdr));
        cn_msg_free(p);
        p = cn_mailbox_pop(&mb);
        CHECK(p == &b->hdr);
        cn_msg_free(p);
        CHECK(cn_mailbox_pop(&mb) == NULL);
        CHECK(cn_mailbox_try_idle(&mb));
    }
    CHECK(msgs_balanced());
}

/* Concurrent producers with the scheduling protocol played by hand: a producer whose
 * push returns true must find nobody holding the token. */
enum { PRODUCERS = 4 };
static cn_mailbox shared_mb;
static _Atomic int token_held;
static _Atomic uint64_t token_violations, tokens_granted;
static uint64_t per_producer;
static bool bursty; /* producers yield after each push, so the mailbox often drains */

static void *producer(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    for (uint64_t i = 0; i < per_producer; i++) {
        test_msg *m = test_msg_new(id, i);
        if (cn_mailbox_push(&shared_mb, &m->hdr)) {
            if (atomic_exchange(&token_held, 1) != 0)
                atomic_fetch_add(&token_violations, 1);
            atomic_fetch_add(&tokens_granted, 1);
        }
        if (bursty)
            sched_yield();
    }
    return NULL;
}

static void concurrent_producers(uint64_t count, bool yield)
{
    per_producer = count;
    bursty = yield;
    cn_mailbox_init(&shared_mb);
    atomic_store(&token_held, 0);
    atomic_store(&tokens_granted, 0);
    atomic_store(&token_violations, 0);
    pthread_t th[PRODUCERS];
    for (unsigned i = 0; i < PRODUCERS; i++)
        pthread_create(&th[i], NULL, producer, (void *)(uintptr_t)i);
    uint64_t next[PRODUCERS] = {0}, total = 0, order_errors = 0, idles = 0;
    uint64_t want = per_producer * PRODUCERS;
    uint64_t deadline = cn_now_ns() + 60ull * 1000000000u;
    while (total < want && cn_now_ns() < deadline) {
        if (!atomic_load(&token_held)) {
            sched_yield();
            continue;
        }
        cn_msg *p;
        while ((p = cn_mailbox_pop(&shared_mb)) != NULL) {
            test_msg *m = (test_msg *)p;
            if (m->seq != next[m->sender])
                order_errors++;
            next[m->sender] = m->seq + 1;
            total++;
            cn_msg_free(p);
        }
        /* Release the token the way a worker does: flag first, then the CAS; if the
         * CAS fails we still hold it, so take the flag back. */
        atomic_store(&token_held, 0);
        if (cn_mailbox_try_idle(&shared_mb))
            idles++;
        else if (atomic_exchange(&token_held, 1) != 0)
            atomic_fetch_add(&token_violations, 1);
    }
    for (unsigned i = 0; i < PRODUCERS; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(total, want);
    CHECK_EQ(order_errors, 0);
    CHECK_EQ(atomic_load(&token_violations), 0);
    /* Every grant but the outstanding one was returned by exactly one try_idle. */
    CHECK_EQ(atomic_load(&tokens_granted), idles + (atomic_load(&token_held) ? 1 : 0));
    cn_msg *p;
    while ((p = cn_mailbox_pop(&shared_mb)) != NULL)
        cn_msg_free(p);
    CHECK(msgs_balanced());
    fprintf(stderr, "  %llu messages, %llu token grants\n", (unsigned long long)total,
            (unsigned long long)atomic_load(&tokens_granted));
}

static void test_concurrent_producers_fifo_and_single_token(void)
{
    concurrent_producers(SCALE(1000000, 100000), false); /* flood: mailbox rarely empty */
    /* Trickle: the token must change hands often. How often a round drains the
     * mailbox depends on the scheduler (13 grants in one CI round of 40,000 under
     * ASan, over 1,000 on a quiet box), so rounds repeat, each checked in full, until
     * more than 100 handovers were exercised. */
    uint64_t grants = 0;
    for (int round = 0; round < 50 && grants <= 100; round++) {
        concurrent_producers(SCALE(50000, 10000), true);
        grants += atomic_load(&tokens_granted);
    }
    CHECK_INT(grants, >, 100);
}

CN_TEST_MAIN(test_push_pop_fifo_and_token, test_single_message_cycles,
             test_concurrent_producers_fifo_and_single_token)
