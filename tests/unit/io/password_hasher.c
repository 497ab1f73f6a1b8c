/* Tests src/io/password_hasher.c on a real actor runtime: a collector actor records
 * every reply, and the test thread waits for an exact count under a deadline. Hash
 * then verify, wrong passwords, rehash hints, the dummy verify, refused input, 50
 * concurrent requests from several threads, the queue bound (-EBUSY), close with
 * requests pending or running (every accepted request answered exactly once),
 * submissions after and during close (-ESHUTDOWN, nothing lost), and replies to a
 * stopped actor. MIN limits keep it fast; one test runs the defaults. */
#include "check.h"
#include "deadline.h"

#include "io/password_hasher.h"

#include "base/clock.h"
#include "base/xmalloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define REPLY_TYPE  77u
#define MAX_REPLIES 512

struct got {
    uint32_t type;
    uint64_t tag;
    int ok, needs_rehash, error;
    char hash[crypto_pwhash_STRBYTES];
};

struct collector {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned n;
    struct got r[MAX_REPLIES];
};

static void collect(cn_actor *self, void *state, cn_msg *msg)
{
    (void)self;
    struct collector *c = state;
    struct cn_hasher_reply *rep = (struct cn_hasher_reply *)msg;
    pthread_mutex_lock(&c->mu);
    if (c->n < MAX_REPLIES) {
        struct got *g = &c->r[c->n];
        g->type = msg->type;
        g->tag = rep->tag;
        g->ok = rep->ok;
        g->needs_rehash = rep->needs_rehash;
        g->error = rep->error;
        memcpy(g->hash, rep->hash, sizeof g->hash);
    }
    c->n++;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    cn_msg_free(msg);
}

static void collector_free(void *state)
{
    struct collector *c = state;
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

struct env {
    cn_runtime *rt;
    cn_actor *actor;
    struct collector *col;
};

static struct env env_new(void)
{
    struct env e;
    e.rt = cn_runtime_new(&(cn_runtime_config){.workers = 2});
    CHECK_EQ(cn_runtime_start(e.rt), 0);
    e.col = cn_xcalloc(1, sizeof *e.col);
    pthread_mutex_init(&e.col->mu, NULL);
    pthread_cond_init(&e.col->cv, NULL);
    e.actor = cn_actor_spawn(e.rt, collect, e.col, collector_free);
    return e;
}

static void env_free(struct env *e)
{
    cn_runtime_shutdown(e->rt);
    cn_actor_unref(e->actor);
}

/* Waits until the collector holds at least `n` replies; false after `ms`. */
static bool wait_replies(struct collector *c, unsigned n, unsigned ms)
{
    struct timespec dl = cn_test_deadline((int)ms);
    pthread_mutex_lock(&c->mu);
    int rc = 0;
    while (c->n < n && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&c->cv, &c->mu, &dl);
    bool ok = c->n >= n;
    pthread_mutex_unlock(&c->mu);
    return ok;
}

static unsigned replies(struct collector *c)
{
    pthread_mutex_lock(&c->mu);
    unsigned n = c->n;
    pthread_mutex_unlock(&c->mu);
    return n;
}

/* Fast limits for tests. */
static cn_hasher *start_min(unsigned threads, unsigned max_queue)
{
    struct cn_hasher_config cfg = {.threads = threads,
                                   .max_queue = max_queue,
                                   .opslimit = crypto_pwhash_OPSLIMIT_MIN,
                                   .memlimit = crypto_pwhash_MEMLIMIT_MIN};
    cn_hasher *h = cn_hasher_start_config(&cfg);
    CHECK(h != NULL);
    return h;
}

#define DEADLINE_MS 20000

static void test_hash_then_verify(void)
{
    struct env e = env_new();
    /* One thread: requests run in order, and one thread's sends to one actor arrive
     * in order, so reply i answers request i. */
    cn_hasher *h = start_min(1, 0);
    const char pw[] = "correct horse battery staple";
    CHECK_EQ(cn_hasher_hash(h, e.actor, REPLY_TYPE, 1, pw, strlen(pw)), 0);
    CHECK(wait_replies(e.col, 1, DEADLINE_MS));
    struct got g = e.col->r[0];
    CHECK_EQ(g.type, REPLY_TYPE);
    CHECK_EQ(g.tag, 1);
    CHECK_EQ(g.ok, 1);
    CHECK_EQ(g.error, 0);
    CHECK_EQ(strncmp(g.hash, "$argon2id$", 10), 0);
    CHECK(strstr(g.hash, "m=8,t=1,") != NULL); /* the MIN limits were used */
    CHECK_EQ(crypto_pwhash_str_verify(g.hash, pw, strlen(pw)), 0);

    CHECK_EQ(cn_hasher_verify(h, e.actor, REPLY_TYPE, 2, pw, strlen(pw), g.hash), 0);
    CHECK_EQ(cn_hasher_verify(h, e.actor, REPLY_TYPE, 3, "wrong", 5, g.hash), 0);
    /* A prefix of the password and the password with one more byte. */
    CHECK_EQ(cn_hasher_verify(h, e.actor, REPLY_TYPE, 4, pw, strlen(pw) - 1, g.hash), 0);
    CHECK_EQ(
        cn_hasher_verify(h, e.actor, REPLY_TYPE, 5, "correct horse battery staple!", 29, g.hash),
        0);
    CHECK(wait_replies(e.col, 5, DEADLINE_MS));
    CHECK_EQ(e.col->r[1].tag, 2);
    CHECK_EQ(e.col->r[1].ok, 1);
    CHECK_EQ(e.col->r[1].needs_rehash, 0);
    CHECK_EQ(e.col->r[1].error, 0);
    CHECK_EQ(e.col->r[1].hash[0], 0);
    for (unsigned i = 2; i < 5; i++) {
        CHECK_EQ(e.col->r[i].tag, i + 1);
        CHECK_EQ(e.col->r[i].ok, 0);
        CHECK_EQ(e.col->r[i].error, 0);
    }
    cn_hasher_free(h);

    /* The same hash seen by a hasher with stronger limits: matches, wants a rehash. */
    struct cn_hasher_config cfg = {.threads = 1,
                                   .opslimit = crypto_pwhash_OPSLIMIT_MIN + 1,
                                   .memlimit = crypto_pwhash_MEMLIMIT_MIN};
    h = cn_hasher_start_config(&cfg);
    CHECK_EQ(cn_hasher_verify(h, e.actor, REPLY_TYPE, 6, pw, strlen(pw), g.hash), 0);
    CHECK(wait_replies(e.col, 6, DEADLINE_MS));
    CHECK_EQ(e.col->r[5].ok, 1);
    CHECK_EQ(e.col->r[5].needs_rehash, 1);
    cn_hasher_free(h);
    CHECK_EQ(replies(e.col), 6);
    env_free(&e);
}

static void test_dummy_verify(void)
{
    struct env e = env_new();
    cn_hasher *h = start_min(1, 0);
    CHECK_EQ(cn_hasher_verify_dummy(h, e.actor, REPLY_TYPE, 1, "anything", 8), 0);
    CHECK_EQ(cn_hasher_verify_dummy(h, e.actor, REPLY_TYPE, 2, "", 0), 0);
    CHECK(wait_replies(e.col, 2, DEADLINE_MS));
    for (unsigned i = 0; i < 2; i++) {
        CHECK_EQ(e.col->r[i].tag, i + 1);
        CHECK_EQ(e.col->r[i].ok, 0);
        CHECK_EQ(e.col->r[i].error, 0);
    }
    cn_hasher_free(h);
    env_free(&e);
}

static void test_refused_input(void)
{
    struct env e = env_new();
    cn_hasher *h = start_min(1, 0);
    char big[CN_HASHER_MAX_PASSWORD + 1];
    memset(big, 'x', sizeof big);
    char long_hash[crypto_pwhash_STRBYTES + 8];
    memset(long_hash, 'a', sizeof long_hash);
    memcpy(long_hash, "$argon2id$", 10);
    long_hash[sizeof long_hash - 1] = 0;
    const char *bcrypt = "$2b$12$abcdefghijklmnopqrstuuJ8qnM7M0V8NZk3T5zNvQm8bB2s5q1Wm";
    const char *argon2i = "$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g";

    CHECK_EQ(cn_hasher_hash(h, e.actor, REPLY_TYPE, 1, NULL, 0), -EINVAL);
    CHECK_EQ(cn_hasher_hash(h, NULL, REPLY_TYPE, 1, "pw", 2), -EINVAL);
    CHECK_EQ(cn_hasher_hash(NULL, e.actor, REPLY_TYPE, 1, "pw", 2), -EINVAL);
    CHECK_EQ(cn_hasher_hash(h, e.actor, REPLY_TYPE, 1, big, sizeof big), -E2BIG);
    CHECK_EQ(cn_hasher_verify(h, e.actor, REPLY_TYPE, 1, big, sizeof big, argon2i), -EINVAL);
    CHECK_EQ(cn_hasher_verify(h, e.actor, REPLY_TYPE, 1, "pw", 2, NULL), -EINVAL);
    CHECK_EQ(cn_hasher_verify(h, e.actor, REPLY_TYPE, 1, "pw", 2, ""), -EINVAL);
    CHECK_EQ(cn_hasher_verify(h, e.actor, REPLY_TYPE, 1, "pw", 2, bcrypt), -EINVAL);
    CHECK_EQ(cn_hasher_verify(h, e.actor, REPLY_TYPE, 1, "pw", 2, argon2i), -EINVAL);
    CHECK_EQ(cn_hasher_verify(h, e.actor, REPLY_TYPE, 1, "pw", 2, long_hash), -EINVAL);
    CHECK_EQ(cn_hasher_verify_dummy(h, e.actor, REPLY_TYPE, 1, big, sizeof big), -E2BIG);
    /* The longest password is accepted. */
    CHECK_EQ(cn_hasher_hash(h, e.actor, REPLY_TYPE, 2, big, CN_HASHER_MAX_PASSWORD), 0);
    /* Shaped like argon2id but unparseable: accepted, answered with -EINVAL. */
    CHECK_EQ(cn_hasher_verify(h, e.actor, REPLY_TYPE, 3, "pw", 2, "$argon2id$garbage"), 0);
    CHECK(wait_replies(e.col, 2, DEADLINE_MS));
    CHECK_EQ(e.col->r[0].tag, 2);
    CHECK_EQ(e.col->r[0].ok, 1);
    CHECK_EQ(e.col->r[1].tag, 3);
    CHECK_EQ(e.col->r[1].ok, 0);
    CHECK_EQ(e.col->r[1].error, -EINVAL);
    cn_hasher_free(h);
    /* Refused requests were never answered. */
    CHECK_EQ(replies(e.col), 2);
    env_free(&e);
}

static void test_bad_config(void)
{
    struct cn_hasher_config c = {.memlimit = 1};
    CHECK(cn_hasher_start_config(&c) == NULL);
    c = (struct cn_hasher_config){.threads = 65};
    CHECK(cn_hasher_start_config(&c) == NULL);
}

#define SUBMITTERS    5
#define PER_SUBMITTER 10

struct submitter {
    cn_hasher *h;
    cn_actor *actor;
    unsigned id;
    int failures;
};

static void password_for(uint64_t tag, char *out, size_t n)
{
    snprintf(out, n, "password-%llu", (unsigned long long)tag);
}

static void *submit_main(void *arg)
{
    struct submitter *s = arg;
    for (unsigned i = 0; i < PER_SUBMITTER; i++) {
        uint64_t tag = s->id * PER_SUBMITTER + i;
        char pw[32];
        password_for(tag, pw, sizeof pw);
        if (cn_hasher_hash(s->h, s->actor, REPLY_TYPE, tag, pw, strlen(pw)) != 0)
            s->failures++;
    }
    return NULL;
}

static void test_concurrent_requests(void)
{
    struct env e = env_new();
    cn_hasher *h = start_min(2, 64);
    pthread_t t[SUBMITTERS];
    struct submitter s[SUBMITTERS];
    for (unsigned i = 0; i < SUBMITTERS; i++) {
        s[i] = (struct submitter){h, e.actor, i, 0};
        pthread_create(&t[i], NULL, submit_main, &s[i]);
    }
    for (unsigned i = 0; i < SUBMITTERS; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ(s[i].failures, 0);
    }
    const unsigned total = SUBMITTERS * PER_SUBMITTER;
    CHECK(wait_replies(e.col, total, DEADLINE_MS));
    cn_hasher_free(h);
    CHECK_EQ(replies(e.col), total);
    /* Each tag answered once, with a hash of its own password. */
    unsigned seen[SUBMITTERS * PER_SUBMITTER] = {0};
    for (unsigned i = 0; i < total && i < replies(e.col); i++) {
        struct got *g = &e.col->r[i];
        CHECK_INT(g->tag, <, total);
        if (g->tag >= total)
            continue;
        seen[g->tag]++;
        CHECK_EQ(g->ok, 1);
        char pw[32];
        password_for(g->tag, pw, sizeof pw);
        CHECK_EQ(crypto_pwhash_str_verify(g->hash, pw, strlen(pw)), 0);
    }
    for (unsigned i = 0; i < total; i++)
        CHECK_EQ(seen[i], 1);
    env_free(&e);
}

static void test_queue_bound(void)
{
    struct env e = env_new();
    cn_hasher *h = start_min(2, 8);
    /* Paused: nothing leaves the queue, so the bound is hit exactly. */
    cn__hasher_pause(h, true);
    for (unsigned i = 0; i < 8; i++)
        CHECK_EQ(cn_hasher_hash(h, e.actor, REPLY_TYPE, i, "pw", 2), 0);
    CHECK_EQ(cn_hasher_hash(h, e.actor, REPLY_TYPE, 100, "pw", 2), -EBUSY);
    CHECK_EQ(cn_hasher_verify_dummy(h, e.actor, REPLY_TYPE, 101, "pw", 2), -EBUSY);
    cn__hasher_pause(h, false);
    CHECK(wait_replies(e.col, 8, DEADLINE_MS));
    for (unsigned i = 0; i < 8; i++) {
        CHECK_EQ(e.col->r[i].ok, 1);
        CHECK_INT(e.col->r[i].tag, <, 8);
    }
    /* Room again once drained. */
    CHECK_EQ(cn_hasher_hash(h, e.actor, REPLY_TYPE, 9, "pw", 2), 0);
    CHECK(wait_replies(e.col, 9, DEADLINE_MS));
    cn_hasher_free(h);
    CHECK_EQ(replies(e.col), 9);
    env_free(&e);
}

static void test_close_with_pending(void)
{
    struct env e = env_new();
    cn_hasher *h = start_min(2, 32);
    cn__hasher_pause(h, true);
    for (unsigned i = 0; i < 20; i++)
        CHECK_EQ(cn_hasher_hash(h, e.actor, REPLY_TYPE, i, "secret", 6), 0);
    cn_hasher_close(h);
    /* Every pending request answered with -ESHUTDOWN by close itself. */
    CHECK(wait_replies(e.col, 20, DEADLINE_MS));
    CHECK_EQ(replies(e.col), 20);
    for (unsigned i = 0; i < 20; i++) {
        CHECK_EQ(e.col->r[i].ok, 0);
        CHECK_EQ(e.col->r[i].error, -ESHUTDOWN);
        CHECK_EQ(e.col->r[i].hash[0], 0);
    }
    /* Closed, not freed: every call is refused, none is answered. */
    CHECK_EQ(cn_hasher_hash(h, e.actor, REPLY_TYPE, 100, "pw", 2), -ESHUTDOWN);
    CHECK_EQ(cn_hasher_verify_dummy(h, e.actor, REPLY_TYPE, 101, "pw", 2), -ESHUTDOWN);
    CHECK_EQ(cn_hasher_verify(h, e.actor, REPLY_TYPE, 102, "pw", 2,
                              "$argon2id$v=19$m=8,t=1,p=1$c29tZXNhbHQ$aGFzaA"),
             -ESHUTDOWN);
    cn_hasher_close(h); /* idempotent */
    cn_hasher_free(h);
    CHECK_EQ(replies(e.col), 20);
    env_free(&e);
}

#define CLOSE_RACERS 4
#define RACE_TAGS    (1u << 15)

/* Counts replies per tag (the collector keeps only the first MAX_REPLIES). */
struct tally {
    atomic_uint per_tag[RACE_TAGS];
    atomic_uint total, shutdown;
};

static void tally_reply(cn_actor *self, void *state, cn_msg *msg)
{
    (void)self;
    struct tally *t = state;
    struct cn_hasher_reply *rep = (struct cn_hasher_reply *)msg;
    if (rep->tag < RACE_TAGS)
        atomic_fetch_add(&t->per_tag[rep->tag], 1);
    if (rep->error == -ESHUTDOWN)
        atomic_fetch_add(&t->shutdown, 1);
    atomic_fetch_add(&t->total, 1);
    cn_msg_free(msg);
}

struct close_racer {
    cn_hasher *h;
    cn_actor *actor;
    unsigned id;
    unsigned accepted; /* its tags: id, id + CLOSE_RACERS, ... (`accepted` of them) */
    bool saw_shutdown;
    int other_rc; /* returns that are neither 0, -EBUSY nor -ESHUTDOWN */
};

/* Submits until the hasher refuses with -ESHUTDOWN (or its tags run out). */
static void *close_racer_main(void *arg)
{
    struct close_racer *r = arg;
    while (r->accepted < RACE_TAGS / CLOSE_RACERS) {
        uint64_t tag = (uint64_t)r->accepted * CLOSE_RACERS + r->id;
        int rc = cn_hasher_verify_dummy(r->h, r->actor, REPLY_TYPE, tag, "pw", 2);
        if (rc == 0) {
            r->accepted++;
        } else if (rc == -ESHUTDOWN) {
            r->saw_shutdown = true;
            break;
        } else if (rc != -EBUSY) {
            r->other_rc++;
        }
    }
    return NULL;
}

/* Threads keep submitting while the owner closes: each accepted request is answered
 * exactly once (done, or -ESHUTDOWN by close), and the threads end on -ESHUTDOWN. */
static void test_close_races_submitters(void)
{
    struct env e = env_new();
    struct tally *tl = cn_xcalloc(1, sizeof *tl);
    cn_actor *counter = cn_actor_spawn(e.rt, tally_reply, tl, NULL);
    cn_hasher *h = start_min(2, 16);
    pthread_t t[CLOSE_RACERS];
    struct close_racer r[CLOSE_RACERS];
    for (unsigned i = 0; i < CLOSE_RACERS; i++) {
        r[i] = (struct close_racer){.h = h, .actor = counter, .id = i};
        pthread_create(&t[i], NULL, close_racer_main, &r[i]);
    }
    uint64_t deadline = cn_now_ms() + DEADLINE_MS;
    while (atomic_load(&tl->total) < 50 && cn_now_ms() < deadline) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    CHECK_INT(atomic_load(&tl->total), >=, 50); /* well under way */
    cn_hasher_close(h);
    unsigned accepted = 0, saw = 0;
    for (unsigned i = 0; i < CLOSE_RACERS; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ(r[i].other_rc, 0);
        accepted += r[i].accepted;
        saw += r[i].saw_shutdown;
    }
    CHECK_EQ(saw, CLOSE_RACERS);
    while (atomic_load(&tl->total) < accepted && cn_now_ms() < deadline) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    cn_hasher_free(h);
    CHECK_EQ(atomic_load(&tl->total), accepted);
    for (unsigned i = 0; i < CLOSE_RACERS; i++)
        for (unsigned k = 0; k < r[i].accepted; k++)
            CHECK_EQ(atomic_load(&tl->per_tag[k * CLOSE_RACERS + i]), 1);
    fprintf(stderr, "  %u accepted, %u of them answered -ESHUTDOWN by close\n", accepted,
            atomic_load(&tl->shutdown));
    cn_actor_unref(counter);
    env_free(&e);
    free(tl);
}

static void test_close_while_running(void)
{
    struct env e = env_new();
    cn_hasher *h = start_min(1, 64);
    /* No pause: some requests run, some are still queued when close comes; either way
     * each gets exactly one answer. */
    for (unsigned i = 0; i < 40; i++)
        CHECK_EQ(cn_hasher_hash(h, e.actor, REPLY_TYPE, i, "secret", 6), 0);
    cn_hasher_free(h);
    CHECK(wait_replies(e.col, 40, DEADLINE_MS));
    CHECK_EQ(replies(e.col), 40);
    unsigned seen[40] = {0};
    for (unsigned i = 0; i < 40; i++) {
        struct got *g = &e.col->r[i];
        CHECK((g->ok == 1 && g->error == 0) || (g->ok == 0 && g->error == -ESHUTDOWN));
        if (g->tag < 40)
            seen[g->tag]++;
    }
    for (unsigned i = 0; i < 40; i++)
        CHECK_EQ(seen[i], 1);
    env_free(&e);
}

static void test_reply_to_stopped_actor(void)
{
    struct env e = env_new();
    struct collector *c2 = cn_xcalloc(1, sizeof *c2);
    pthread_mutex_init(&c2->mu, NULL);
    pthread_cond_init(&c2->cv, NULL);
    cn_actor *gone = cn_actor_spawn(e.rt, collect, c2, collector_free);
    cn_hasher *h = start_min(1, 8);
    cn__hasher_pause(h, true);
    CHECK_EQ(cn_hasher_hash(h, gone, REPLY_TYPE, 1, "pw", 2), 0);
    CHECK_EQ(cn_hasher_hash(h, gone, REPLY_TYPE, 2, "pw", 2), 0);
    /* Marker on the live actor, queued after both. */
    CHECK_EQ(cn_hasher_hash(h, e.actor, REPLY_TYPE, 3, "pw", 2), 0);
    cn_actor_stop(gone);
    struct cn_runtime_stats before;
    cn_runtime_stats(e.rt, &before);
    cn__hasher_pause(h, false);
    CHECK(wait_replies(e.col, 1, DEADLINE_MS));
    /* One thread, FIFO: both replies to the stopped actor were sent (and dropped)
     * before the marker's. */
    struct cn_runtime_stats after;
    cn_runtime_stats(e.rt, &after);
    CHECK_EQ(after.sends_dropped - before.sends_dropped, 2);
    cn_hasher_free(h);
    cn_actor_unref(gone); /* its state is freed by the runtime; ASan checks the rest */
    env_free(&e);
}

static void test_default_limits(void)
{
    struct env e = env_new();
    uint64_t t0 = cn_now_ns();
    cn_hasher *h = cn_hasher_start(0, 0);
    CHECK(h != NULL);
    CHECK_EQ(cn_hasher_hash(h, e.actor, REPLY_TYPE, 1, "password123", 11), 0);
    CHECK(wait_replies(e.col, 1, DEADLINE_MS));
    CHECK_EQ(e.col->r[0].ok, 1);
    /* INTERACTIVE: 64 MiB, 2 passes. */
    CHECK(strstr(e.col->r[0].hash, "$argon2id$v=19$m=65536,t=2,p=1$") == e.col->r[0].hash);
    CHECK_EQ(cn_hasher_verify(h, e.actor, REPLY_TYPE, 2, "password123", 11, e.col->r[0].hash), 0);
    CHECK(wait_replies(e.col, 2, DEADLINE_MS));
    CHECK_EQ(e.col->r[1].ok, 1);
    CHECK_EQ(e.col->r[1].needs_rehash, 0);
    cn_hasher_free(h);
    fprintf(stderr, "default limits: start + hash + verify took %.0f ms\n",
            (double)(cn_now_ns() - t0) / 1e6);
    env_free(&e);
}

CN_TEST_MAIN(test_hash_then_verify, test_dummy_verify, test_refused_input, test_bad_config,
             test_concurrent_requests, test_queue_bound, test_close_with_pending,
             test_close_races_submitters, test_close_while_running, test_reply_to_stopped_actor,
             test_default_limits)
