/* Tests src/actors/runtime/inbox.c: many producers, one owner thread polling an eventfd;
 * nothing lost or duplicated, FIFO per producer, coalesced wake-ups, spurious
 * wake-ups ignored, leftovers freed at destroy. */
#include "check.h"
#include "testutil.h"

#include "actors/runtime/inbox.h"

#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#define PRODUCERS 4
static const uint64_t per_producer = SCALE(250000, 50000);

struct owner {
    cn_inbox ib;
    int fd;
    uint64_t next_seq[PRODUCERS];
    uint64_t received;
    uint64_t out_of_order;
    uint64_t drains;
};

static void take(void *ctx, cn_msg *m)
{
    struct owner *o = ctx;
    test_msg *t = (test_msg *)m;
    if (t->seq != o->next_seq[t->sender])
        o->out_of_order++;
    o->next_seq[t->sender] = t->seq + 1;
    o->received++;
    cn_msg_free(m);
}

static void *owner_main(void *arg)
{
    struct owner *o = arg;
    const uint64_t total = PRODUCERS * per_producer;
    uint64_t deadline = cn_now_ms() + 60000;
    while (o->received < total && cn_now_ms() < deadline) {
        struct pollfd p = {o->fd, POLLIN, 0};
        poll(&p, 1, 100);
        cn_wakefd_clear(o->fd);
        if (cn_inbox_drain(&o->ib, 256, take, o) > 0)
            o->drains++;
    }
    return NULL;
}

struct producer {
    cn_inbox *ib;
    unsigned id;
    uint64_t wakes;
};

static void *producer_main(void *arg)
{
    struct producer *p = arg;
    for (uint64_t i = 0; i < per_producer; i++)
        p->wakes += cn_inbox_push(p->ib, &test_msg_new(p->id, i)->hdr);
    return NULL;
}

static void test_producers_to_polling_owner(void)
{
    struct owner o = {0};
    o.fd = cn_wakefd_new();
    CHECK_INT(o.fd, >=, 0);
    cn_inbox_init(&o.ib, cn_wakefd_wake, (void *)(intptr_t)o.fd);
    pthread_t ot, pt[PRODUCERS];
    struct producer ps[PRODUCERS];
    pthread_create(&ot, NULL, owner_main, &o);
    for (unsigned i = 0; i < PRODUCERS; i++) {
        ps[i] = (struct producer){&o.ib, i, 0};
        pthread_create(&pt[i], NULL, producer_main, &ps[i]);
    }
    uint64_t wakes = 0;
    for (unsigned i = 0; i < PRODUCERS; i++) {
        pthread_join(pt[i], NULL);
        wakes += ps[i].wakes;
    }
    pthread_join(ot, NULL);
    CHECK_EQ(o.received, PRODUCERS * per_producer);
    CHECK_EQ(o.out_of_order, 0);
    for (unsigned i = 0; i < PRODUCERS; i++)
        CHECK_EQ(o.next_seq[i], per_producer);
    /* Coalescing: far fewer wake-ups than messages. */
    CHECK_INT(wakes, <, o.received / 4);
    cn_inbox_destroy(&o.ib);
    close(o.fd);
    CHECK(msgs_balanced());
}

static int wakes_seen;
static void count_wake(void *arg)
{
    (void)arg;
    wakes_seen++;
}

static void test_spurious_wake_and_budget(void)
{
    struct owner o = {0};
    cn_inbox_init(&o.ib, count_wake, NULL);
    wakes_seen = 0;
    /* Nothing pushed: a drain is a no-op. */
    CHECK_EQ(cn_inbox_drain(&o.ib, 10, take, &o), 0);
    for (uint64_t i = 0; i < 25; i++)
        cn_inbox_push(&o.ib, &test_msg_new(0, i)->hdr);
    CHECK_EQ(wakes_seen, 1);
    /* A budget of 10 leaves work behind and re-arms the wake-up itself. */
    CHECK_EQ(cn_inbox_drain(&o.ib, 10, take, &o), 10);
    CHECK_EQ(wakes_seen, 2);
    CHECK_EQ(cn_inbox_drain(&o.ib, 10, take, &o), 10);
    CHECK_EQ(cn_inbox_drain(&o.ib, 10, take, &o), 5);
    CHECK_EQ(wakes_seen, 3);
    CHECK_EQ(cn_inbox_drain(&o.ib, 10, take, &o), 0);
    CHECK_EQ(o.received, 25);
    CHECK_EQ(o.out_of_order, 0);
    /* Idle again: the next push wakes once more. */
    cn_inbox_push(&o.ib, &test_msg_new(0, 25)->hdr);
    CHECK_EQ(wakes_seen, 4);
    cn_inbox_destroy(&o.ib);
    CHECK(msgs_balanced());
}

static void test_destroy_frees_pending(void)
{
    cn_inbox ib;
    cn_inbox_init(&ib, count_wake, NULL);
    for (uint64_t i = 0; i < 7; i++)
        cn_inbox_push(&ib, &test_msg_new(0, i)->hdr);
    cn_inbox_destroy(&ib);
    CHECK(msgs_balanced());
    cn_inbox ib2;
    cn_inbox_init(&ib2, count_wake, NULL);
    cn_inbox_destroy(&ib2); /* never used: nothing to free, no crash */
}

CN_TEST_MAIN(test_producers_to_polling_owner, test_spurious_wake_and_budget,
             test_destroy_frees_pending)
