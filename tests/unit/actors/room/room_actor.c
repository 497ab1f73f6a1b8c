/* Tests of the room actor (src/actors/room/room_actor.c, with the catch-up reader
 * room_catchup.c) on the real runtime against the fake adapters (tests/unit/fakes):
 * the test plays the Redis subscriber (fake_redis_publish of broadcast envelopes), answers
 * the room's window reads and PostgreSQL queries, and watches what the room sends to
 * sessions, which are small actors of the test's own that record every
 * CN_SESSION_DELIVER and CN_SESSION_JOINED they receive.
 *
 * Absence is checked without sleeping: a room handles its mail in order and a session's
 * mailbox keeps one sender's order, so once a later "marker" delivery has arrived,
 * anything the room would have sent before it has arrived too. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "unit/fakes/fakes.h"

#include "actors/room/room_actor.h"
#include "actors/session/session_seams.h"
#include "actors/sql/queries.h"
#include "io/pg_pool.h"
#include "io/redis_client.h"
#include "proto/broadcast_envelope.h"

#define ROOM_ID   7
#define WAIT_MS   5000
#define NO_RESUME (-1)

/* ---- Sessions of the test's own ----
 *
 * The two messages a room sends a session have layouts the session part keeps to itself
 * (session_frames.c, cn_session_deliver and cn_session_joined); a fake session reads them
 * as the real one does. */
struct deliver_msg {
    cn_msg hdr;
    uint64_t sub_key;
    struct cn_ws_shared_msg *shared;
};

struct joined_msg {
    cn_msg hdr;
    uint64_t key;
};

struct entry {
    uint32_t type; /* CN_SESSION_DELIVER or CN_SESSION_JOINED */
    uint64_t sub;
    int64_t pos; /* DELIVER: the position its message-id stands for */
    int from_pg; /* DELIVER: the body has the stored row's "id" */
    int body_ok; /* DELIVER: the body says "position":pos */
};

struct sess {
    cn_actor *a;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct entry *e;
    size_t n, cap;
};

/* Positions travel as message keys: a canonical UUID whose last group is the number. */
static void key_of(int64_t pos, char out[CN_UUID_STR_LEN + 1])
{
    snprintf(out, CN_UUID_STR_LEN + 1, "00000000-0000-4000-8000-%012" PRId64, pos);
}

static void record_delivery(struct entry *e, const struct cn_ws_shared_msg *m)
{
    const char *data = m->data, *end = m->data + m->len;
    const char *id = memmem(data, m->len, "message-id:", 11);
    e->pos = id && end - id > 11 + CN_UUID_STR_LEN ? strtoll(id + 11 + 24, NULL, 10) : -1;
    const char *body = memmem(data, m->len, "\n\n", 2);
    size_t blen = body ? (size_t)(end - body) : 0;
    char want[48];
    int wl = snprintf(want, sizeof want, "\"position\":%" PRId64, e->pos);
    e->body_ok = body && memmem(body, blen, want, (size_t)wl) != NULL;
    e->from_pg = body && memmem(body, blen, "\"id\":", 5) != NULL;
}

static void sess_behaviour(cn_actor *self, void *st, cn_msg *m)
{
    (void)self;
    struct sess *s = st;
    struct entry e = {.type = m->type, .pos = -1};
    if (m->type == CN_SESSION_DELIVER) {
        const struct deliver_msg *d = (const struct deliver_msg *)m;
        e.sub = d->sub_key;
        record_delivery(&e, d->shared);
    } else if (m->type == CN_SESSION_JOINED) {
        e.sub = ((const struct joined_msg *)m)->key;
    }
    cn_msg_free(m);
    pthread_mutex_lock(&s->mu);
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->e = realloc(s->e, s->cap * sizeof *s->e);
        if (!s->e)
            abort();
    }
    s->e[s->n++] = e;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* ---- The fixture: a runtime, one room actor, its channel ---- */

static struct {
    cn_runtime *rt;
    cn_actor *room;
    uint32_t pubsub; /* the message type the room subscribed with */
    struct cn_fanout_counters counters;
    struct sess *sess[4];
    int nsess;
} F;

static struct sess *sess_new(void)
{
    struct sess *s = calloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->a = cn_actor_spawn(F.rt, sess_behaviour, s, NULL);
    F.sess[F.nsess++] = s;
    return s;
}

/* Waits until s has received n messages (WAIT_MS at the most); returns how many it has. */
static size_t sess_wait(struct sess *s, size_t n)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&s->mu);
    while (s->n < n && pthread_cond_timedwait(&s->cv, &s->mu, &until) == 0) {
    }
    size_t got = s->n;
    pthread_mutex_unlock(&s->mu);
    return got;
}

static size_t sess_count(struct sess *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->n;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static struct entry sess_at(struct sess *s, size_t i)
{
    pthread_mutex_lock(&s->mu);
    struct entry e = i < s->n ? s->e[i] : (struct entry){0};
    pthread_mutex_unlock(&s->mu);
    return e;
}

/* Checks that subscription `sub` of s got exactly the positions want[0..n), in that
 * order, each body carrying its position, and that those in pg_lo..pg_hi (and only
 * those) came from PostgreSQL. */
static void check_deliveries(int line, struct sess *s, uint64_t sub, int64_t pg_lo, int64_t pg_hi,
                             const int64_t *want, size_t n)
{
    pthread_mutex_lock(&s->mu);
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        const struct entry *e = &s->e[i];
        if (e->type != CN_SESSION_DELIVER || e->sub != sub)
            continue;
        if (k >= n || e->pos != want[k] || !e->body_ok ||
            e->from_pg != (e->pos >= pg_lo && e->pos <= pg_hi)) {
            fprintf(stderr,
                    "line %d: sub %" PRIu64 " delivery %zu: position %" PRId64
                    " (body ok %d, from PostgreSQL %d), expected %" PRId64 "\n",
                    line, sub, k, e->pos, e->body_ok, e->from_pg, k < n ? want[k] : -1);
            cn__test_failed = 1;
        }
        k++;
    }
    pthread_mutex_unlock(&s->mu);
    if (k != n) {
        fprintf(stderr, "line %d: sub %" PRIu64 " got %zu deliveries, expected %zu\n", line, sub, k,
                n);
        cn__test_failed = 1;
    }
}

#define POSITIONS(...) ((const int64_t[]){__VA_ARGS__})
#define NPOS(...)      (sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))
/* CHECK_DELIVERED(session, sub, NO_PG or PG_RANGE(lo, hi), positions...) */
#define NO_PG            1, 0
#define PG_RANGE(lo, hi) lo, hi
#define CHECK_DELIVERED(s, sub, pg, ...)                                                           \
    check_deliveries(__LINE__, s, sub, pg, POSITIONS(__VA_ARGS__), NPOS(__VA_ARGS__))

static uint64_t counter(atomic_uint_fast64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static void setup(void)
{
    fake_reset();
    memset(&F, 0, sizeof F);
    F.rt = cn_runtime_new(&(cn_runtime_config){.workers = 2});
    CHECK_EQ(cn_runtime_start(F.rt), 0);
    struct cn_room_deps deps = {.redis = FAKE_REDIS, .pg = FAKE_PG, .counters = &F.counters};
    F.room = cn_room_actor_spawn(F.rt, &deps, ROOM_ID, NULL);
    struct fake_call *c = fake_next(FAKE_KIND_SUB, WAIT_MS);
    CHECK(c != NULL);
    if (c) {
        CHECK_STR(c->argv[0], "SUBSCRIBE");
        CHECK_STR(c->argv[1], "room:7");
        CHECK(c->reply_to == F.room);
        F.pubsub = c->msg_type;
        fake_call_free(c);
    }
}

/* STOP: the room leaves its channel; then everything goes. */
static void teardown(void)
{
    cn_msg *stop = calloc(1, sizeof *stop); /* as the registry sends it */
    stop->type = CN_ROOM_STOP;
    cn_actor_send(F.room, stop);
    struct fake_call *c = fake_next(FAKE_KIND_SUB, WAIT_MS);
    CHECK(c != NULL);
    if (c) {
        CHECK_STR(c->argv[0], "UNSUBSCRIBE");
        CHECK_STR(c->argv[1], "room:7");
    }
    fake_call_free(c);
    cn_runtime_shutdown(F.rt);
    cn_actor_unref(F.room);
    for (int i = 0; i < F.nsess; i++) {
        cn_actor_unref(F.sess[i]->a);
        pthread_mutex_destroy(&F.sess[i]->mu);
        pthread_cond_destroy(&F.sess[i]->cv);
        free(F.sess[i]->e);
        free(F.sess[i]);
    }
    fake_reset();
}

static void join(struct sess *s, uint64_t sub, int64_t resume_after)
{
    cn_actor_send(F.room, cn_room_member_msg(CN_ROOM_JOIN, s->a, sub, resume_after));
}

static void leave(struct sess *s, uint64_t sub)
{
    cn_actor_send(F.room, cn_room_member_msg(CN_ROOM_LEAVE, s->a, sub, NO_RESUME));
}

/* The envelope of position `pos` whose previous message of the room was `prev`. */
static int envelope(char *buf, size_t cap, int64_t pos, int64_t prev)
{
    char key[CN_UUID_STR_LEN + 1];
    key_of(pos, key);
    int n = snprintf(buf, cap, "%" PRId64 " %" PRId64 " %s\n{\"position\":%" PRId64 "}", pos, prev,
                     key, pos);
    struct cn_bc_envelope e;
    CHECK_EQ(cn_bc_envelope_parse(buf, (size_t)n, &e), 0);
    return n;
}

static void publish(int64_t pos, int64_t prev)
{
    char buf[160];
    int n = envelope(buf, sizeof buf, pos, prev);
    fake_redis_publish(F.room, F.pubsub, CN_REDIS_PUBSUB_MESSAGE, "room:7", buf, (size_t)n);
}

static void notice(int kind)
{
    fake_redis_publish(F.room, F.pubsub, kind, "room:7", "", 0);
}

/* Takes the room's next window read and checks it asks for what follows `after`. */
static struct fake_call *expect_window_read(int line, int64_t after)
{
    struct fake_call *c = fake_next(FAKE_KIND_REDIS, WAIT_MS);
    if (!c) {
        fprintf(stderr, "line %d: no window read\n", line);
        cn__test_failed = 1;
        return NULL;
    }
    char min[24];
    snprintf(min, sizeof min, "(%" PRId64, after);
    CHECK_EQ(c->argc, 4);
    if (c->argc == 4) {
        CHECK_STR(c->argv[0], "ZRANGEBYSCORE");
        CHECK_STR(c->argv[1], "room:7:window");
        CHECK_STR(c->argv[2], min);
        CHECK_STR(c->argv[3], "+inf");
    }
    if (c->argc != 4 || strcmp(c->argv[2], min) != 0)
        fprintf(stderr, "line %d: unexpected window read\n", line);
    return c;
}
#define EXPECT_WINDOW_READ(after) expect_window_read(__LINE__, after)

/* Answers a window read with the rows pos[i] (prev[i]), as ZRANGEBYSCORE does
 * (window_rows(c, ROWS(positions...), ROWS(their prevs...))). */
static void window_rows(struct fake_call *c, const int64_t *pos, size_t n, const int64_t *prev,
                        size_t nprev)
{
    CHECK_EQ(n, nprev);
    if (!c || n != nprev)
        return;
    size_t cap = 32 + n * 200, len = 0;
    char *resp = malloc(cap);
    len += (size_t)snprintf(resp, cap, "*%zu\r\n", n);
    for (size_t i = 0; i < n; i++) {
        char env[160];
        int el = envelope(env, sizeof env, pos[i], prev[i]);
        len += (size_t)snprintf(resp + len, cap - len, "$%d\r\n%s\r\n", el, env);
    }
    fake_redis_answer(c, resp);
    free(resp);
}

/* Answers with the consecutive rows first..last, each following the one before
 * (the first following first_prev). */
static void window_run(struct fake_call *c, int64_t first_prev, int64_t first, int64_t last)
{
    size_t n = last >= first ? (size_t)(last - first + 1) : 0;
    int64_t *pos = calloc(n + 1, sizeof *pos), *prev = calloc(n + 1, sizeof *prev);
    for (size_t i = 0; i < n; i++) {
        pos[i] = first + (int64_t)i;
        prev[i] = i ? pos[i] - 1 : first_prev;
    }
    window_rows(c, pos, n, prev, n);
    free(pos);
    free(prev);
}

/* Takes the room's next PostgreSQL query: room_messages_after_offset(7, after,
 * before, 1000), before -1 standing for NULL. */
static struct fake_call *expect_pg_read(int line, int64_t after, int64_t before)
{
    struct fake_call *c = fake_next(FAKE_KIND_PG, WAIT_MS);
    if (!c) {
        fprintf(stderr, "line %d: no PostgreSQL read\n", line);
        cn__test_failed = 1;
        return NULL;
    }
    char a[24], b[24];
    snprintf(a, sizeof a, "%" PRId64, after);
    snprintf(b, sizeof b, "%" PRId64, before);
    CHECK_STR(c->sql, cn_sql(CN_SQL_ROOM_MESSAGES_AFTER_OFFSET));
    CHECK_EQ(c->nparams, 4);
    if (c->nparams == 4) {
        CHECK_STR(c->params[0], "7");
        CHECK_STR(c->params[1], a);
        if (before >= 0)
            CHECK_STR(c->params[2], b);
        else
            CHECK(c->params[2] == NULL);
        CHECK_STR(c->params[3], "1000");
        if (strcmp(c->params[1], a) != 0)
            fprintf(stderr, "line %d: unexpected PostgreSQL read\n", line);
    }
    return c;
}
#define EXPECT_PG_READ(after, before) expect_pg_read(__LINE__, after, before)

/* Answers a PostgreSQL read with the stored messages at positions pos[0..n). */
static void pg_rows(struct fake_call *c, const int64_t *pos, size_t n)
{
    if (!c)
        return;
    static const char *const names[] = {
        "id",      "message_key", "room_id",       "sender_id",       "sender_nickname",
        "content", "type",        "created_at_ms", "kafka_partition", "kafka_offset"};
    enum { NCOLS = 10 };
    char(*text)[2][40] = calloc(n + 1, sizeof *text); /* per row: id, position */
    char(*keys)[CN_UUID_STR_LEN + 1] = calloc(n + 1, sizeof *keys);
    const char **values = calloc((n + 1) * NCOLS, sizeof *values);
    for (size_t i = 0; i < n; i++) {
        snprintf(text[i][0], sizeof text[i][0], "%" PRId64, 100000 + pos[i]);
        snprintf(text[i][1], sizeof text[i][1], "%" PRId64, pos[i]);
        key_of(pos[i], keys[i]);
        const char *row[NCOLS] = {text[i][0], keys[i],         "7", "3",       "ann", "hello",
                                  "TEXT",     "1700000000000", "2", text[i][1]};
        memcpy(values + i * NCOLS, row, sizeof row);
    }
    fake_pg_rows(c, NCOLS, names, (int)n, values);
    free(values);
    free(keys);
    free(text);
}

static void pg_run(struct fake_call *c, int64_t first, int64_t last)
{
    size_t n = last >= first ? (size_t)(last - first + 1) : 0;
    int64_t *pos = calloc(n + 1, sizeof *pos);
    for (size_t i = 0; i < n; i++)
        pos[i] = first + (int64_t)i;
    pg_rows(c, pos, n);
    free(pos);
}

#define ROWS(...) POSITIONS(__VA_ARGS__), NPOS(__VA_ARGS__)

/* A live room with one plain subscription (a, sub 1) that has had `first` delivered. */
static struct sess *live_room(int64_t first)
{
    struct sess *a = sess_new();
    join(a, 1, NO_RESUME);
    notice(CN_REDIS_PUBSUB_SUBSCRIBED);
    publish(first, -1);
    CHECK_EQ(sess_wait(a, 2), 2);
    return a;
}

/* ---- Joining ---- */

static void test_join_answered_once_channel_is_live(void)
{
    setup();
    struct sess *a = sess_new(), *b = sess_new();
    join(a, 1, NO_RESUME);
    /* Before Redis confirmed the channel: deliveries, but no joined notice yet. */
    publish(10, -1);
    CHECK_EQ(sess_wait(a, 1), 1);
    CHECK_EQ(sess_at(a, 0).type, CN_SESSION_DELIVER);
    notice(CN_REDIS_PUBSUB_SUBSCRIBED);
    CHECK_EQ(sess_wait(a, 2), 2);
    CHECK_EQ(sess_at(a, 1).type, CN_SESSION_JOINED);
    CHECK_EQ(sess_at(a, 1).sub, 1);
    /* Once live, a join is answered at once. */
    join(b, 5, NO_RESUME);
    CHECK_EQ(sess_wait(b, 1), 1);
    CHECK_EQ(sess_at(b, 0).type, CN_SESSION_JOINED);
    CHECK_EQ(sess_at(b, 0).sub, 5);
    /* A second SUBSCRIBED (another cn_redis_subscribe) joins nobody twice. */
    notice(CN_REDIS_PUBSUB_SUBSCRIBED);
    publish(11, 10);
    CHECK_EQ(sess_wait(b, 2), 2);
    CHECK_EQ(sess_wait(a, 3), 3);
    CHECK_EQ(sess_at(b, 1).type, CN_SESSION_DELIVER);
    CHECK_EQ(sess_at(a, 2).type, CN_SESSION_DELIVER);
    CHECK_DELIVERED(a, 1, NO_PG, 10, 11);
    CHECK_DELIVERED(b, 5, NO_PG, 11);
    teardown();
}

/* ---- Live delivery ---- */

static void test_live_in_order_without_duplicates(void)
{
    setup();
    struct sess *a = sess_new(), *b = sess_new();
    join(a, 1, NO_RESUME);
    join(a, 2, NO_RESUME);
    join(b, 3, NO_RESUME);
    notice(CN_REDIS_PUBSUB_SUBSCRIBED);
    publish(10, -1);
    publish(11, 10);
    publish(12, 11);
    publish(11, 10); /* a redelivery */
    publish(13, 12);
    CHECK_EQ(sess_wait(a, 2 + 8), 2 + 8);
    CHECK_EQ(sess_wait(b, 1 + 4), 1 + 4);
    CHECK_DELIVERED(a, 1, NO_PG, 10, 11, 12, 13);
    CHECK_DELIVERED(a, 2, NO_PG, 10, 11, 12, 13);
    CHECK_DELIVERED(b, 3, NO_PG, 10, 11, 12, 13);
    CHECK_EQ(counter(&F.counters.duplicates_dropped), 1);
    CHECK_EQ(counter(&F.counters.delivered), 12);
    /* A subscription that left gets nothing more; the others go on. */
    leave(a, 2);
    publish(14, 13);
    publish(15, 14);
    CHECK_EQ(sess_wait(b, 1 + 6), 1 + 6);
    CHECK_EQ(sess_wait(a, 2 + 10), 2 + 10);
    CHECK_DELIVERED(a, 1, NO_PG, 10, 11, 12, 13, 14, 15);
    CHECK_DELIVERED(a, 2, NO_PG, 10, 11, 12, 13);
    CHECK_EQ(fake_pending(FAKE_KIND_REDIS), 0);
    CHECK_EQ(counter(&F.counters.gap_repairs), 0);
    teardown();
}

/* ---- Gap repair ---- */

static void test_gap_repaired_from_window(void)
{
    setup();
    struct sess *a = live_room(10);
    publish(11, 10);
    CHECK_EQ(sess_wait(a, 3), 3);
    publish(14, 13); /* 12 and 13 were missed */
    struct fake_call *w = EXPECT_WINDOW_READ(11);
    publish(15, 14); /* waits behind the repair */
    window_rows(w, ROWS(11, 12, 13, 14), ROWS(10, 11, 12, 13));
    publish(16, 15);
    CHECK_EQ(sess_wait(a, 1 + 7), 1 + 7);
    CHECK_DELIVERED(a, 1, NO_PG, 10, 11, 12, 13, 14, 15, 16);
    CHECK_EQ(fake_pending(FAKE_KIND_PG), 0);
    CHECK_EQ(counter(&F.counters.gap_repairs), 1);
    CHECK_EQ(counter(&F.counters.repaired_window), 3);
    CHECK_EQ(counter(&F.counters.repaired_postgres), 0);
    teardown();
}

static void test_gap_repaired_from_postgres_below_window(void)
{
    setup();
    struct sess *a = live_room(10);
    publish(20, 19);
    /* The window starts at 18, whose previous is 17: 11..17 are only in PostgreSQL. */
    window_rows(EXPECT_WINDOW_READ(10), ROWS(18, 19, 20), ROWS(17, 18, 19));
    pg_rows(EXPECT_PG_READ(10, 18), ROWS(12, 15, 17));
    publish(21, 20);
    CHECK_EQ(sess_wait(a, 1 + 8), 1 + 8);
    CHECK_DELIVERED(a, 1, PG_RANGE(12, 17), 10, 12, 15, 17, 18, 19, 20, 21);
    CHECK_EQ(counter(&F.counters.repaired_postgres), 3);
    CHECK_EQ(counter(&F.counters.repaired_window), 3);
    CHECK_EQ(fake_pending(FAKE_KIND_REDIS), 0); /* 21 followed 20: no new repair */
    teardown();
}

/* PostgreSQL trails the broadcast: the page stops at 12 while the window's 18 follows
 * 17. Going on with the window would lose 15 and 17 for good; the repair waits and asks
 * again from 12. */
static void test_gap_repair_waits_for_postgres_behind_window(void)
{
    setup();
    struct sess *a = live_room(10);
    publish(20, 19);
    window_rows(EXPECT_WINDOW_READ(10), ROWS(18, 19, 20), ROWS(17, 18, 19));
    pg_rows(EXPECT_PG_READ(10, 18), ROWS(12));
    pg_rows(EXPECT_PG_READ(12, 18), ROWS(15, 17));
    publish(21, 20);
    CHECK_EQ(sess_wait(a, 1 + 8), 1 + 8);
    CHECK_DELIVERED(a, 1, PG_RANGE(12, 17), 10, 12, 15, 17, 18, 19, 20, 21);
    CHECK_EQ(counter(&F.counters.repaired_postgres), 3);
    CHECK_EQ(fake_pending(FAKE_KIND_PG), 0);
    teardown();
}

static void test_gap_repair_with_redis_down_reads_postgres(void)
{
    setup();
    struct sess *a = live_room(10);
    publish(13, 12);
    fake_redis_down(EXPECT_WINDOW_READ(10), "redis unreachable");
    /* Nothing from the window: PostgreSQL up to the envelope that showed the hole. */
    pg_rows(EXPECT_PG_READ(10, 13), ROWS(11, 12));
    CHECK_EQ(sess_wait(a, 1 + 4), 1 + 4);
    CHECK_DELIVERED(a, 1, PG_RANGE(11, 12), 10, 11, 12, 13);
    teardown();
}

static void test_gap_repair_with_postgres_failing_goes_on(void)
{
    setup();
    struct sess *a = live_room(10);
    publish(13, 12);
    fake_redis_down(EXPECT_WINDOW_READ(10), "redis unreachable");
    fake_pg_error(EXPECT_PG_READ(10, 13), "08006", "connection lost");
    /* What could not be filled stays a hole; the room goes on from 13. */
    publish(14, 13);
    CHECK_EQ(sess_wait(a, 1 + 3), 1 + 3);
    CHECK_DELIVERED(a, 1, NO_PG, 10, 13, 14);
    CHECK_EQ(fake_pending(FAKE_KIND_REDIS), 0);
    /* The next hole is repaired again; an empty window leaves it to PostgreSQL. */
    publish(16, 15);
    window_rows(EXPECT_WINDOW_READ(14), NULL, 0, NULL, 0);
    pg_rows(EXPECT_PG_READ(14, 16), ROWS(15));
    CHECK_EQ(sess_wait(a, 1 + 5), 1 + 5);
    CHECK_DELIVERED(a, 1, PG_RANGE(15, 15), 10, 13, 14, 15, 16);
    CHECK_EQ(counter(&F.counters.gap_repairs), 2);
    /* PostgreSQL refusing the query (queue full) is the same as failing. */
    fake_refuse(FAKE_KIND_PG, -EAGAIN);
    publish(19, 18);
    fake_redis_down(EXPECT_WINDOW_READ(16), "redis unreachable");
    CHECK_EQ(sess_wait(a, 1 + 6), 1 + 6);
    CHECK_DELIVERED(a, 1, PG_RANGE(15, 15), 10, 13, 14, 15, 16, 19);
    teardown();
}

static void test_gap_repair_reads_one_postgres_page(void)
{
    setup();
    struct sess *a = live_room(10);
    publish(5000, 4999);
    window_rows(EXPECT_WINDOW_READ(10), NULL, 0, NULL, 0);
    pg_run(EXPECT_PG_READ(10, 5000), 11, 1010); /* a full page */
    CHECK_EQ(sess_wait(a, 1 + 1 + 1000 + 1), 1 + 1 + 1000 + 1);
    /* A repair reads one page and goes on from what is pending. */
    CHECK_EQ(fake_pending(FAKE_KIND_PG), 0);
    struct entry last = sess_at(a, 1 + 1 + 1000);
    CHECK_EQ(last.pos, 5000);
    CHECK_EQ(sess_at(a, 2).pos, 11);
    CHECK_EQ(sess_at(a, 1 + 1000).pos, 1010);
    CHECK_EQ(counter(&F.counters.repaired_postgres), 1000);
    teardown();
}

static void test_resubscribe_repairs(void)
{
    setup();
    struct sess *a = live_room(10);
    notice(CN_REDIS_PUBSUB_RESUBSCRIBED);
    window_rows(EXPECT_WINDOW_READ(10), ROWS(11, 12), ROWS(10, 11));
    CHECK_EQ(sess_wait(a, 1 + 3), 1 + 3);
    CHECK_DELIVERED(a, 1, NO_PG, 10, 11, 12);
    /* Nothing missed: an empty window and nothing pending ask PostgreSQL nothing. */
    notice(CN_REDIS_PUBSUB_RESUBSCRIBED);
    window_rows(EXPECT_WINDOW_READ(12), NULL, 0, NULL, 0);
    publish(13, 12);
    CHECK_EQ(sess_wait(a, 1 + 4), 1 + 4);
    CHECK_DELIVERED(a, 1, NO_PG, 10, 11, 12, 13);
    CHECK_EQ(fake_pending(FAKE_KIND_PG), 0);
    CHECK_EQ(counter(&F.counters.gap_repairs), 2);
    teardown();
}

/* ---- Resume ---- */

static void test_resume_from_window_waits_for_channel(void)
{
    setup();
    struct sess *a = sess_new(), *b = sess_new();
    join(a, 1, NO_RESUME);
    join(b, 2, 5);
    publish(8, -1); /* live: a has it, b holds it */
    CHECK_EQ(sess_wait(a, 1), 1);
    CHECK_EQ(fake_pending(FAKE_KIND_REDIS), 0); /* no window read before the channel is live */
    notice(CN_REDIS_PUBSUB_SUBSCRIBED);
    struct fake_call *w = EXPECT_WINDOW_READ(5);
    CHECK_EQ(sess_wait(b, 1), 1);
    CHECK_EQ(sess_at(b, 0).type, CN_SESSION_JOINED);
    window_run(w, 5, 6, 8);
    publish(9, 8);
    CHECK_EQ(sess_wait(b, 1 + 4), 1 + 4);
    CHECK_DELIVERED(b, 2, NO_PG, 6, 7, 8, 9);
    CHECK_EQ(sess_wait(a, 2 + 1), 2 + 1);
    CHECK_DELIVERED(a, 1, NO_PG, 8, 9);
    CHECK_EQ(fake_pending(FAKE_KIND_PG), 0);
    teardown();
}

static void test_resume_from_postgres_holds_live(void)
{
    setup();
    struct sess *a = live_room(20), *b = sess_new();
    join(b, 2, 10);
    struct fake_call *w = EXPECT_WINDOW_READ(10);
    publish(21, 20);
    CHECK_EQ(sess_wait(a, 3), 3); /* the others are not held up */
    CHECK_EQ(sess_count(b), 1);   /* its joined notice only */
    window_run(w, 18, 19, 21);
    pg_rows(EXPECT_PG_READ(10, 19), ROWS(12, 15, 18));
    publish(22, 21);
    CHECK_EQ(sess_wait(b, 1 + 7), 1 + 7);
    CHECK_DELIVERED(b, 2, PG_RANGE(12, 18), 12, 15, 18, 19, 20, 21, 22);
    CHECK_EQ(sess_wait(a, 4), 4);
    CHECK_DELIVERED(a, 1, NO_PG, 20, 21, 22);
    CHECK_EQ(counter(&F.counters.repaired_postgres), 3);
    CHECK_EQ(counter(&F.counters.repaired_window), 3);
    teardown();
}

/* A subscription moved from a drained node resumes after 10 while persistence trails
 * (the consumer groups rebalance): PostgreSQL has 12 and 15 but not yet 18, which the
 * window's oldest row (19) follows. The member waits for 18 rather than skip it. */
static void test_resume_waits_for_postgres_behind_window(void)
{
    setup();
    struct sess *a = live_room(20), *b = sess_new();
    join(b, 2, 10);
    window_run(EXPECT_WINDOW_READ(10), 18, 19, 21);
    pg_rows(EXPECT_PG_READ(10, 19), ROWS(12, 15));
    publish(21, 20); /* held for b meanwhile */
    CHECK_EQ(sess_wait(a, 3), 3);
    struct fake_call *again = EXPECT_PG_READ(15, 19);
    CHECK_EQ(sess_wait(b, 1 + 2), 1 + 2); /* joined, 12, 15: nothing past the hole */
    pg_rows(again, ROWS(18));
    publish(22, 21);
    CHECK_EQ(sess_wait(b, 1 + 7), 1 + 7);
    CHECK_DELIVERED(b, 2, PG_RANGE(12, 18), 12, 15, 18, 19, 20, 21, 22);
    CHECK_EQ(fake_pending(FAKE_KIND_PG), 0);
    teardown();
}

static void test_resume_reads_postgres_in_pages(void)
{
    setup();
    struct sess *a = live_room(3000), *b = sess_new();
    join(b, 2, 0);
    /* 3000 follows 2500: the offsets between are other rooms' (one partition). */
    window_run(EXPECT_WINDOW_READ(0), 2500, 3000, 3000);
    pg_run(EXPECT_PG_READ(0, 3000), 1, 1000);
    pg_run(EXPECT_PG_READ(1000, 3000), 1001, 2000);
    pg_run(EXPECT_PG_READ(2000, 3000), 2001, 2500); /* short: the last page */
    publish(3001, 3000);
    CHECK_EQ(sess_wait(b, 1 + 2502), 1 + 2502);
    CHECK_EQ(fake_pending(FAKE_KIND_PG), 0);
    int in_order = 1;
    for (size_t i = 0; i < 2500; i++)
        if (sess_at(b, 1 + i).pos != (int64_t)i + 1 || !sess_at(b, 1 + i).from_pg)
            in_order = 0;
    CHECK(in_order);
    CHECK_EQ(sess_at(b, 1 + 2500).pos, 3000);
    CHECK_EQ(sess_at(b, 1 + 2501).pos, 3001);
    CHECK_EQ(sess_wait(a, 3), 3);
    CHECK_DELIVERED(a, 1, NO_PG, 3000, 3001);
    teardown();
}

static void test_resume_with_redis_down_reads_all_from_postgres(void)
{
    setup();
    struct sess *a = live_room(20), *b = sess_new();
    join(b, 2, 17);
    fake_redis_down(EXPECT_WINDOW_READ(17), "redis unreachable");
    pg_rows(EXPECT_PG_READ(17, -1), ROWS(18, 19, 20));
    publish(21, 20);
    CHECK_EQ(sess_wait(b, 1 + 4), 1 + 4);
    CHECK_DELIVERED(b, 2, PG_RANGE(18, 20), 18, 19, 20, 21);
    CHECK_EQ(sess_wait(a, 3), 3);
    CHECK_DELIVERED(a, 1, NO_PG, 20, 21);
    teardown();
}

static void test_resume_with_postgres_failing_goes_live(void)
{
    setup();
    struct sess *a = live_room(20), *b = sess_new();
    join(b, 2, 17);
    struct fake_call *w = EXPECT_WINDOW_READ(17);
    publish(21, 20);
    CHECK_EQ(sess_wait(a, 3), 3);
    fake_redis_down(w, "redis unreachable");
    fake_pg_error(EXPECT_PG_READ(17, -1), "57014", "timeout");
    /* The held 21 shows a hole after 17: up to three rounds try to fill it. */
    for (int round = 2; round <= 3; round++) {
        fake_redis_down(EXPECT_WINDOW_READ(17), "redis unreachable");
        fake_pg_error(EXPECT_PG_READ(17, -1), "57014", "timeout");
    }
    publish(22, 21);
    CHECK_EQ(sess_wait(b, 1 + 2), 1 + 2);
    CHECK_DELIVERED(b, 2, NO_PG, 21, 22);
    teardown();
}

static void test_resume_at_or_after_last_is_live_at_once(void)
{
    setup();
    struct sess *a = live_room(20), *b = sess_new();
    join(b, 2, 20);
    publish(21, 20);
    CHECK_EQ(sess_wait(b, 1 + 1), 1 + 1);
    CHECK_DELIVERED(b, 2, NO_PG, 21);
    CHECK_EQ(fake_pending(FAKE_KIND_REDIS), 0);
    CHECK_EQ(sess_wait(a, 3), 3);
    teardown();
}

static void test_resume_second_round_fills_hole_before_live(void)
{
    setup();
    struct sess *b = sess_new();
    join(b, 2, 5);
    notice(CN_REDIS_PUBSUB_SUBSCRIBED);
    struct fake_call *w = EXPECT_WINDOW_READ(5);
    /* 9 went out after the window read: 7 and 8 fall between the two. */
    publish(9, 8);
    window_rows(w, ROWS(6), ROWS(5));
    window_run(EXPECT_WINDOW_READ(6), 6, 7, 9);
    CHECK_EQ(sess_wait(b, 1 + 4), 1 + 4);
    CHECK_DELIVERED(b, 2, NO_PG, 6, 7, 8, 9);
    /* Live from there: 10 follows 9, nothing to repair. */
    publish(10, 9);
    CHECK_EQ(sess_wait(b, 1 + 5), 1 + 5);
    CHECK_DELIVERED(b, 2, NO_PG, 6, 7, 8, 9, 10);
    CHECK_EQ(fake_pending(FAKE_KIND_REDIS), 0);
    CHECK_EQ(fake_pending(FAKE_KIND_PG), 0);
    teardown();
}

static void test_leave_during_resume_drops_it(void)
{
    setup();
    struct sess *a = live_room(20), *b = sess_new();
    join(b, 2, 10);
    struct fake_call *w = EXPECT_WINDOW_READ(10);
    publish(21, 20);
    leave(b, 2);
    window_run(w, 18, 19, 21); /* for a subscription that has ended: no PostgreSQL read */
    publish(22, 21);
    CHECK_EQ(sess_wait(a, 4), 4);
    CHECK_DELIVERED(a, 1, NO_PG, 20, 21, 22);
    CHECK_EQ(sess_count(b), 1);
    CHECK_EQ(fake_pending(FAKE_KIND_PG), 0);
    teardown();
}

CN_TEST_MAIN(test_join_answered_once_channel_is_live, test_live_in_order_without_duplicates,
             test_gap_repaired_from_window, test_gap_repaired_from_postgres_below_window,
             test_gap_repair_waits_for_postgres_behind_window,
             test_gap_repair_with_redis_down_reads_postgres,
             test_gap_repair_with_postgres_failing_goes_on, test_gap_repair_reads_one_postgres_page,
             test_resubscribe_repairs, test_resume_from_window_waits_for_channel,
             test_resume_from_postgres_holds_live, test_resume_waits_for_postgres_behind_window,
             test_resume_reads_postgres_in_pages,
             test_resume_with_redis_down_reads_all_from_postgres,
             test_resume_with_postgres_failing_goes_live,
             test_resume_at_or_after_last_is_live_at_once,
             test_resume_second_round_fills_hole_before_live, test_leave_during_resume_drops_it)
