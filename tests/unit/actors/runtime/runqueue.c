/* Tests src/actors/runtime/runqueue.c: the per-worker ring (FIFO, full, concurrent owner and
 * thieves taking every entry exactly once) and the injection queue. */
#include "check.h"
#include "testutil.h"

#include "actors/runtime/runqueue.h"

#include <pthread.h>

static void test_localq_fifo_and_full(void)
{
    static cn__localq q;
    static cn__runnable r[CN__LOCALQ_CAP + 1];
    cn__localq_init(&q);
    CHECK(!cn__localq_nonempty(&q));
    CHECK(cn__localq_pop(&q) == NULL);
    for (unsigned i = 0; i < CN__LOCALQ_CAP; i++)
        CHECK(cn__localq_push(&q, &r[i]));
    CHECK(!cn__localq_push(&q, &r[CN__LOCALQ_CAP])); /* boundary: exactly full */
    CHECK(cn__localq_nonempty(&q));
    for (unsigned i = 0; i < CN__LOCALQ_CAP; i++)
        CHECK(cn__localq_pop(&q) == &r[i]);
    CHECK(cn__localq_pop(&q) == NULL);
    /* Wrap-around: indexes keep growing past the capacity. */
    for (unsigned round = 0; round < 3; round++) {
        for (unsigned i = 0; i < 200; i++)
            CHECK(cn__localq_push(&q, &r[i]));
        for (unsigned i = 0; i < 200; i++)
            CHECK(cn__localq_pop(&q) == &r[i]);
    }
}

enum { THIEVES = 3 };
static cn__localq shared_q;
static cn__runnable *items;
static _Atomic uint32_t *taken; /* per item: times popped */
static _Atomic bool owner_done;
static _Atomic uint64_t stolen_total;
static uint64_t n_items;

static void *thief(void *arg)
{
    (void)arg;
    uint64_t n = 0;
    for (;;) {
        cn__runnable *r = cn__localq_pop(&shared_q);
        if (r) {
            atomic_fetch_add(&taken[r - items], 1);
            n++;
        } else if (atomic_load(&owner_done) && !cn__localq_nonempty(&shared_q)) {
            break;
        }
    }
    atomic_fetch_add(&stolen_total, n);
    return NULL;
}

static void test_localq_owner_and_thieves_take_each_once(void)
{
    n_items = SCALE(2000000, 200000);
    items = cn_xcalloc(n_items, sizeof *items);
    taken = cn_xcalloc(n_items, sizeof *taken);
    cn__localq_init(&shared_q);
    pthread_t th[THIEVES];
    for (int i = 0; i < THIEVES; i++)
        pthread_create(&th[i], NULL, thief, NULL);
    uint64_t own = 0;
    for (uint64_t i = 0; i < n_items;) {
        if (cn__localq_push(&shared_q, &items[i])) {
            i++;
        } else {
            cn__runnable *r = cn__localq_pop(&shared_q); /* full: the owner takes some */
            if (r) {
                atomic_fetch_add(&taken[r - items], 1);
                own++;
            }
        }
    }
    atomic_store(&owner_done, true);
    for (int i = 0; i < THIEVES; i++)
        pthread_join(th[i], NULL);
    uint64_t bad = 0;
    for (uint64_t i = 0; i < n_items; i++)
        bad += atomic_load(&taken[i]) != 1;
    CHECK_EQ(bad, 0);
    CHECK_EQ(own + atomic_load(&stolen_total), n_items);
    free(items);
    free((void *)taken);
}

static void test_injectq_fifo(void)
{
    cn__injectq q;
    cn__runnable r[5];
    cn__injectq_init(&q);
    CHECK(!cn__injectq_nonempty(&q));
    CHECK(cn__injectq_pop(&q) == NULL);
    for (int i = 0; i < 5; i++)
        cn__injectq_push(&q, &r[i]);
    CHECK(cn__injectq_nonempty(&q));
    for (int i = 0; i < 5; i++)
        CHECK(cn__injectq_pop(&q) == &r[i]);
    CHECK(cn__injectq_pop(&q) == NULL);
    cn__injectq_destroy(&q);
}

CN_TEST_MAIN(test_localq_fifo_and_full, test_localq_owner_and_thieves_take_each_once,
             test_injectq_fifo)
