/* Tests src/actors/membership/membership.c on the real runtime against the fake Redis
 * client (tests/unit/fakes): the test plays Redis (PUBLISH counts, the subscriber
 * connection's messages and reconnects) and the other nodes (their events and acks),
 * and watches what the actor sends: CN_SESSION_REVOKE to sessions listed in a real
 * session directory (small recorder actors of the test), the one cn_membership_done to
 * the actor that asked, and the SEND path's cache epoch.
 *
 * Absence is checked without sleeping: a recorder's mailbox keeps a total push order,
 * so once a marker the test pushes after observing some later effect of the actor has
 * arrived, anything the actor sent before that effect has arrived too. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "deadline.h"
#include "unit/fakes/fakes.h"

#include "actors/membership/membership.h"
#include "actors/session/send_path.h"
#include "actors/session/session_directory.h"
#include "io/redis_client.h"
#include "proto/revoke_event.h"

#define WAIT_MS   5000
#define DONE_TYPE 0x7001
#define MARKER    0x7002

/* ---- Recorders: stand-ins for sessions and for the REST request actor ---- */

struct entry {
    uint32_t type;
    int64_t room_id;
    char kind[16];
    struct cn_membership_done done;
};

struct rec {
    cn_actor *a;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct entry e[64];
    size_t n, taken;
};

static void rec_behaviour(cn_actor *self, void *st, cn_msg *m)
{
    (void)self;
    struct rec *r = st;
    struct entry e = {.type = m->type};
    if (m->type == CN_SESSION_REVOKE) {
        const struct cn_session_revoke *rv = (const struct cn_session_revoke *)m;
        e.room_id = rv->room_id;
        snprintf(e.kind, sizeof e.kind, "%s", rv->kind);
    } else if (m->type == DONE_TYPE) {
        e.done = *(const struct cn_membership_done *)m;
    }
    cn_msg_free(m);
    pthread_mutex_lock(&r->mu);
    if (r->n < 64)
        r->e[r->n++] = e;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void rec_free(void *st)
{
    (void)st; /* the fixture owns the recorder */
}

/* The next message the recorder got, waiting up to WAIT_MS; false when none came. */
static bool rec_next(struct rec *r, struct entry *out)
{
    struct timespec until = cn_test_deadline(WAIT_MS);
    pthread_mutex_lock(&r->mu);
    while (r->taken == r->n)
        if (pthread_cond_timedwait(&r->cv, &r->mu, &until) == ETIMEDOUT)
            break;
    bool got = r->taken < r->n;
    if (got)
        *out = r->e[r->taken++];
    pthread_mutex_unlock(&r->mu);
    return got;
}

/* Pushes a marker and checks that it is the next thing the recorder got: nothing
 * pushed before it is still missing. */
static void rec_expect_nothing_more(struct rec *r)
{
    cn_msg *m = malloc(sizeof *m);
    if (!m)
        abort();
    cn_msg_init(m, MARKER, NULL);
    cn_actor_send(r->a, m);
    struct entry e;
    CHECK(rec_next(r, &e));
    CHECK_EQ(e.type, MARKER);
}

/* ---- The fixture ---- */

static struct {
    cn_runtime *rt;
    struct cn_session_dir *dir;
    struct cn_send_path send;
    struct cn_membership *m;
    cn_actor *actor; /* the membership actor (a reference of the test's), as subscribed */
    uint32_t pubsub; /* the message type it subscribed with */
    char ack[CN_REVOKE_ACK_MAX + 1];
    struct rec *recs[8];
    int nrecs;
} F;

static struct rec *rec_new(void)
{
    struct rec *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->a = cn_actor_spawn(F.rt, rec_behaviour, r, rec_free);
    F.recs[F.nrecs++] = r;
    return r;
}

/* A session of user_id in the directory. */
static struct rec *session_of(int64_t user_id)
{
    struct rec *r = rec_new();
    char id[24];
    snprintf(id, sizeof id, "s%d", F.nrecs);
    cn_session_dir_opened(F.dir, r->a, id, user_id, NULL);
    return r;
}

static void start(uint32_t wait_ms)
{
    memset(&F, 0, sizeof F);
    cn_runtime_config rc = {.workers = 2};
    F.rt = cn_runtime_new(&rc);
    if (!F.rt || cn_runtime_start(F.rt) != 0)
        abort();
    F.dir = cn_session_dir_new();
    struct cn_membership_opts o = {
        .rt = F.rt,
        .redis = FAKE_REDIS,
        .sessions = F.dir,
        .send = &F.send,
        .node_id = "node x/1", /* the space and slash become '_' in the ack channel */
        .wait_ms = wait_ms,
    };
    char err[128];
    F.m = cn_membership_start(&o, err, sizeof err);
    CHECK(F.m != NULL);
    struct fake_call *c = fake_next(FAKE_KIND_SUB, WAIT_MS);
    CHECK(c != NULL);
    if (c) {
        CHECK_STR(c->argv[0], "SUBSCRIBE");
        CHECK_STR(c->argv[1], CN_REVOKE_CHANNEL);
        cn_actor_ref(c->reply_to);
        F.actor = c->reply_to;
        F.pubsub = c->msg_type;
        fake_call_free(c);
    }
    c = fake_next(FAKE_KIND_SUB, WAIT_MS);
    CHECK(c != NULL);
    if (c) {
        CHECK(strncmp(c->argv[1], "membership:ack:node_x_1:", 24) == 0);
        CHECK_EQ(strlen(c->argv[1]), 24 + 16);
        CHECK_STR(c->argv[1], cn_membership_ack_channel(F.m));
        snprintf(F.ack, sizeof F.ack, "%s", c->argv[1]);
        fake_call_free(c);
    }
}

static void stop(void)
{
    for (int i = 0; i < F.nrecs; i++)
        cn_session_dir_closed(F.dir, F.recs[i]->a);
    cn_membership_close(F.m);
    cn_runtime_shutdown(F.rt);
    fake_reset();
    if (F.actor)
        cn_actor_unref(F.actor);
    cn_membership_free(F.m);
    cn_session_dir_free(F.dir);
    for (int i = 0; i < F.nrecs; i++) {
        cn_actor_unref(F.recs[i]->a);
        free(F.recs[i]);
    }
}

static void deliver(int kind, const char *channel, const char *payload)
{
    fake_redis_publish(F.actor, F.pubsub, kind, channel, payload, strlen(payload));
}

/* The next Redis command: a PUBLISH on `channel`; its payload parsed into *ev when ev
 * is not NULL. The call is the test's (answer or free it). */
static struct fake_call *next_publish(const char *channel, struct cn_revoke_event *ev)
{
    struct fake_call *c = fake_next(FAKE_KIND_REDIS, WAIT_MS);
    CHECK(c != NULL);
    if (!c)
        return NULL;
    CHECK_EQ(c->argc, 3);
    CHECK_STR(c->argv[0], "PUBLISH");
    CHECK_STR(c->argv[1], channel);
    if (ev)
        CHECK_EQ(cn_revoke_event_parse(c->argv[2], c->argvlen[2], ev), 0);
    return c;
}

static uint64_t epoch(void)
{
    return atomic_load(&F.send.member_epoch);
}

/* Waits (with a deadline) until cond() holds. */
static bool eventually(bool (*cond)(void))
{
    for (int i = 0; i < WAIT_MS; i++) {
        if (cond())
            return true;
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
    return cond();
}

static bool epoch_is_1(void)
{
    return epoch() == 1;
}

static bool epoch_is_2(void)
{
    return epoch() == 2;
}

/* ---- Tests ---- */

static void test_subscribed_and_resubscribed_drop_every_cache(void)
{
    start(1000);
    deliver(CN_REDIS_PUBSUB_SUBSCRIBED, CN_REVOKE_CHANNEL, "");
    CHECK(eventually(epoch_is_1));
    /* The ack channel's own confirmations say nothing about revocations. */
    deliver(CN_REDIS_PUBSUB_SUBSCRIBED, F.ack, "");
    deliver(CN_REDIS_PUBSUB_RESUBSCRIBED, F.ack, "");
    deliver(CN_REDIS_PUBSUB_RESUBSCRIBED, CN_REVOKE_CHANNEL, "");
    CHECK(eventually(epoch_is_2));
    struct cn_membership_stats st;
    cn_membership_stats(F.m, &st);
    CHECK_EQ(st.cache_drops, 2);
    stop();
}

static void test_revocation_tells_local_sessions_then_waits_for_every_node(void)
{
    start(60000);
    struct rec *bob1 = session_of(7), *bob2 = session_of(7), *carol = session_of(8);
    struct rec *waiter = rec_new();
    int64_t users[] = {7};
    cn_membership_revoke(F.m, 42, users, 1, "leave", waiter->a, DONE_TYPE, 99);
    struct cn_revoke_event ev;
    struct fake_call *pub = next_publish(CN_REVOKE_CHANNEL, &ev);
    /* Told before the event went out, each of bob's sessions once, carol's none. */
    struct entry e;
    for (int i = 0; i < 2; i++) {
        struct rec *r = i ? bob2 : bob1;
        CHECK(rec_next(r, &e));
        CHECK_EQ(e.type, CN_SESSION_REVOKE);
        CHECK_EQ(e.room_id, 42);
        CHECK_STR(e.kind, "leave");
        rec_expect_nothing_more(r);
    }
    rec_expect_nothing_more(carol);
    CHECK_STR(ev.ack, F.ack);
    CHECK_EQ(ev.room_id, 42);
    CHECK_STR(ev.kind, "leave");
    CHECK_EQ(ev.nusers, 1);
    char *self_copy = pub ? strndup(pub->argv[2], pub->argvlen[2]) : NULL;
    if (pub)
        fake_redis_answer(pub, ":2\r\n"); /* this node and one other */
    /* This node's own copy is its ack, and it does not tell the sessions again. */
    if (self_copy)
        deliver(CN_REDIS_PUBSUB_MESSAGE, CN_REVOKE_CHANNEL, self_copy);
    free(self_copy);
    /* An unrelated event from elsewhere, whose ack proves the actor handled the above. */
    char *other = cn_revoke_event_render(5, "membership:ack:other:1", 77, "removed", 1, users, 1,
                                         &(size_t){0});
    deliver(CN_REDIS_PUBSUB_MESSAGE, CN_REVOKE_CHANNEL, other);
    free(other);
    struct fake_call *ack = next_publish("membership:ack:other:1", NULL);
    if (ack) {
        CHECK_STR(ack->argv[2], "ack 5");
        fake_call_free(ack);
    }
    CHECK(rec_next(bob1, &e) && e.room_id == 77); /* the other event, not ours again */
    rec_expect_nothing_more(bob1);
    rec_expect_nothing_more(waiter); /* one ack of two: still waiting */
    char a[32];
    cn_revoke_ack_render(a, ev.id);
    deliver(CN_REDIS_PUBSUB_MESSAGE, F.ack, a);
    CHECK(rec_next(waiter, &e));
    CHECK_EQ(e.type, DONE_TYPE);
    CHECK_EQ(e.done.tag, 99);
    CHECK_EQ(e.done.nodes, 2);
    CHECK_EQ(e.done.acks, 2);
    CHECK(!e.done.timed_out);
    /* A late or repeated ack finds nothing to answer. */
    deliver(CN_REDIS_PUBSUB_MESSAGE, F.ack, a);
    rec_expect_nothing_more(waiter);
    struct cn_membership_stats st;
    cn_membership_stats(F.m, &st);
    CHECK_EQ(st.revocations, 1);
    CHECK_EQ(st.remote, 1);
    CHECK_EQ(st.sessions_told, 4); /* ours to bob's two sessions, then the other event's */
    CHECK_EQ(st.timeouts, 0);
    stop();
}

static void test_the_wait_is_bounded(void)
{
    start(150);
    struct rec *waiter = rec_new();
    int64_t users[] = {7};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cn_membership_revoke(F.m, 42, users, 1, "leave", waiter->a, DONE_TYPE, 1);
    struct cn_revoke_event ev;
    struct fake_call *pub = next_publish(CN_REVOKE_CHANNEL, &ev);
    if (pub)
        fake_redis_answer(pub, ":3\r\n");
    char a[32];
    cn_revoke_ack_render(a, ev.id);
    deliver(CN_REDIS_PUBSUB_MESSAGE, F.ack, a); /* one node of three */
    struct entry e;
    CHECK(rec_next(waiter, &e));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    CHECK_INT(ms, >=, 140);
    CHECK(e.done.timed_out);
    CHECK_EQ(e.done.nodes, 3);
    CHECK_EQ(e.done.acks, 1);
    struct cn_membership_stats st;
    cn_membership_stats(F.m, &st);
    CHECK_EQ(st.timeouts, 1);
    stop();
}

static void test_redis_down_answers_at_once(void)
{
    start(60000);
    struct rec *bob = session_of(7), *waiter = rec_new();
    int64_t users[] = {7};
    cn_membership_revoke(F.m, 42, users, 1, "removed", waiter->a, DONE_TYPE, 1);
    struct fake_call *pub = next_publish(CN_REVOKE_CHANNEL, NULL);
    if (pub)
        fake_redis_down(pub, "redis: down");
    struct entry e;
    CHECK(rec_next(waiter, &e));
    CHECK_EQ(e.done.nodes, 0);
    CHECK(!e.done.timed_out);
    /* The local session was told all the same. */
    CHECK(rec_next(bob, &e));
    CHECK_STR(e.kind, "removed");
    struct cn_membership_stats st;
    cn_membership_stats(F.m, &st);
    CHECK_EQ(st.publish_fails, 1);
    stop();
}

static void test_no_wait_answers_after_publishing(void)
{
    start(0);
    struct rec *waiter = rec_new();
    int64_t users[] = {7};
    cn_membership_revoke(F.m, 42, users, 1, "leave", waiter->a, DONE_TYPE, 1);
    struct entry e;
    CHECK(rec_next(waiter, &e));
    CHECK(!e.done.timed_out);
    struct fake_call *pub = next_publish(CN_REVOKE_CHANNEL, NULL);
    if (pub)
        fake_redis_answer(pub, ":2\r\n"); /* late: dropped */
    rec_expect_nothing_more(waiter);
    stop();
}

static void test_a_closed_room_tells_every_session(void)
{
    start(60000);
    struct rec *s1 = session_of(7), *s2 = session_of(8), *s3 = session_of(9);
    cn_membership_revoke(F.m, 42, NULL, 0, "closed", NULL, 0, 0);
    struct cn_revoke_event ev;
    struct fake_call *pub = next_publish(CN_REVOKE_CHANNEL, &ev);
    CHECK_EQ(ev.nusers, 0);
    CHECK_STR(ev.kind, "closed");
    fake_call_free(pub);
    struct rec *all[] = {s1, s2, s3};
    for (int i = 0; i < 3; i++) {
        struct entry e;
        CHECK(rec_next(all[i], &e));
        CHECK_EQ(e.room_id, 42);
        CHECK_STR(e.kind, "closed");
    }
    stop();
}

static void test_more_users_than_one_event_holds_go_in_several(void)
{
    start(60000);
    struct rec *waiter = rec_new();
    size_t n = CN_REVOKE_MAX_USERS + 10;
    int64_t *users = calloc(n, sizeof *users);
    if (!users)
        abort();
    for (size_t i = 0; i < n; i++)
        users[i] = (int64_t)i + 1;
    cn_membership_revoke(F.m, 42, users, n, "removed", waiter->a, DONE_TYPE, 1);
    free(users);
    struct cn_revoke_event ev1, ev2;
    struct fake_call *p1 = next_publish(CN_REVOKE_CHANNEL, &ev1);
    struct fake_call *p2 = next_publish(CN_REVOKE_CHANNEL, &ev2);
    CHECK_EQ(ev1.nusers, CN_REVOKE_MAX_USERS);
    CHECK_EQ(ev2.nusers, 10);
    CHECK_EQ(ev1.id, ev2.id);
    if (p1)
        fake_redis_answer(p1, ":1\r\n");
    if (p2)
        fake_redis_answer(p2, ":1\r\n");
    char a[32];
    cn_revoke_ack_render(a, ev1.id);
    deliver(CN_REDIS_PUBSUB_MESSAGE, F.ack, a);
    rec_expect_nothing_more(waiter); /* each event reached one node: two acks due */
    deliver(CN_REDIS_PUBSUB_MESSAGE, F.ack, a);
    struct entry e;
    CHECK(rec_next(waiter, &e));
    CHECK_EQ(e.done.nodes, 2);
    CHECK_EQ(e.done.acks, 2);
    stop();
}

static bool bad_is_3(void)
{
    struct cn_membership_stats st;
    cn_membership_stats(F.m, &st);
    return st.bad_events == 3;
}

static void test_malformed_messages_are_counted_and_change_nothing(void)
{
    start(60000);
    struct rec *bob = session_of(7);
    deliver(CN_REDIS_PUBSUB_MESSAGE, CN_REVOKE_CHANNEL, "revoke 1 x 42 leave 0 7,");
    deliver(CN_REDIS_PUBSUB_MESSAGE, CN_REVOKE_CHANNEL, "hello");
    deliver(CN_REDIS_PUBSUB_MESSAGE, F.ack, "ack x");
    CHECK(eventually(bad_is_3));
    rec_expect_nothing_more(bob);
    CHECK_EQ(fake_pending(FAKE_KIND_REDIS), 0); /* no ack for what did not parse */
    stop();
}

static void test_close_answers_what_waits_and_later_calls_at_once(void)
{
    start(60000);
    struct rec *waiter = rec_new();
    int64_t users[] = {7};
    cn_membership_revoke(F.m, 42, users, 1, "leave", waiter->a, DONE_TYPE, 1);
    struct fake_call *pub = next_publish(CN_REVOKE_CHANNEL, NULL);
    if (pub)
        fake_redis_answer(pub, ":2\r\n");
    cn_membership_close(F.m);
    for (int i = 0; i < 2; i++) {
        struct fake_call *c = fake_next(FAKE_KIND_SUB, WAIT_MS);
        CHECK(c != NULL);
        if (c)
            CHECK_STR(c->argv[0], "UNSUBSCRIBE");
        fake_call_free(c);
    }
    struct entry e;
    CHECK(rec_next(waiter, &e));
    CHECK(e.done.timed_out);
    cn_membership_revoke(F.m, 43, users, 1, "leave", waiter->a, DONE_TYPE, 2);
    CHECK(rec_next(waiter, &e));
    CHECK_EQ(e.done.tag, 2);
    CHECK_EQ(e.done.nodes, 0);
    CHECK_EQ(fake_pending(FAKE_KIND_REDIS), 0); /* nothing published once closed */
    stop();
}

static void test_bad_arguments_are_answered_at_once(void)
{
    start(60000);
    struct rec *waiter = rec_new();
    int64_t users[] = {0};
    cn_membership_revoke(F.m, 42, users, 1, "leave", waiter->a, DONE_TYPE, 1);
    cn_membership_revoke(F.m, 0, NULL, 0, "closed", waiter->a, DONE_TYPE, 2);
    cn_membership_revoke(F.m, 42, NULL, 0, "Closed", waiter->a, DONE_TYPE, 3);
    struct entry e;
    for (int i = 1; i <= 3; i++) {
        CHECK(rec_next(waiter, &e));
        CHECK_EQ(e.done.tag, (uint64_t)i);
    }
    CHECK_EQ(fake_pending(FAKE_KIND_REDIS), 0);
    stop();
}

CN_TEST_MAIN(test_subscribed_and_resubscribed_drop_every_cache,
             test_revocation_tells_local_sessions_then_waits_for_every_node,
             test_the_wait_is_bounded, test_redis_down_answers_at_once,
             test_no_wait_answers_after_publishing, test_a_closed_room_tells_every_session,
             test_more_users_than_one_event_holds_go_in_several,
             test_malformed_messages_are_counted_and_change_nothing,
             test_close_answers_what_waits_and_later_calls_at_once,
             test_bad_arguments_are_answered_at_once)
