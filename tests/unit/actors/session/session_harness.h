/* What the session tests share: a session actor on a real runtime, wired to the fake
 * adapters (fakes.h: FAKE_PG, FAKE_PRODUCER, FAKE_REDIS), the fake socket
 * (fake_ws.h), the real SEND path (send_path.h) and a room-hooks double of our own
 * that records every subscribed/unsubscribed call. The test plays the transport,
 * the database, Kafka and the rooms, and reads what the session wrote.
 *
 * Header-only (static inline) so each test file's CHECKs count for it. Every wait
 * has a deadline (HARNESS_WAIT_MS); none sleeps and hopes. */
#ifndef CN_TESTS_UNIT_SESSION_HARNESS_H
#define CN_TESTS_UNIT_SESSION_HARNESS_H

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actors/session/send_path.h"
#include "deadline.h"
#include "actors/session/session.h"
#include "actors/sql/queries.h"
#include "check.h"
#include "unit/fakes/fake_ws.h"
#include "unit/fakes/fakes.h"
#include "proto/jwt.h"

#define HARNESS_WAIT_MS 5000

static const char harness_key[] = "unit-test-key-of-thirty-two-bytes";
static const struct cn_jwt_config harness_jwt = {(const uint8_t *)harness_key,
                                                 sizeof harness_key - 1, "chat-node", "chat-node"};

/* ---- The room hooks double ------------------------------------------------------- */

struct room_call {
    bool subscribed; /* false: unsubscribed */
    int64_t room_id;
    uint64_t key;
    int64_t resume_after; /* subscribed only */
};

#define ROOM_CALLS_MAX 64

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct room_call calls[ROOM_CALLS_MAX];
    unsigned n, taken;
} room_calls = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {{0}}, 0, 0};

static inline void room_record(struct room_call c)
{
    pthread_mutex_lock(&room_calls.mu);
    if (room_calls.n < ROOM_CALLS_MAX)
        room_calls.calls[room_calls.n++] = c;
    pthread_cond_broadcast(&room_calls.cv);
    pthread_mutex_unlock(&room_calls.mu);
}

static inline void rooms_subscribed(void *ctx, int64_t room_id, cn_actor *session, uint64_t key,
                                    int64_t resume_after)
{
    (void)ctx, (void)session;
    room_record((struct room_call){true, room_id, key, resume_after});
}

static inline void rooms_unsubscribed(void *ctx, int64_t room_id, cn_actor *session, uint64_t key)
{
    (void)ctx, (void)session;
    room_record((struct room_call){false, room_id, key, 0});
}

/* The next hook call in order, waiting up to timeout_ms; false when none came. */
static inline bool room_next(struct room_call *out, int timeout_ms)
{
    struct timespec until = cn_test_deadline(timeout_ms);
    pthread_mutex_lock(&room_calls.mu);
    while (room_calls.taken == room_calls.n) {
        if (pthread_cond_timedwait(&room_calls.cv, &room_calls.mu, &until) == ETIMEDOUT)
            break;
    }
    bool got = room_calls.taken < room_calls.n;
    if (got)
        *out = room_calls.calls[room_calls.taken++];
    pthread_mutex_unlock(&room_calls.mu);
    return got;
}

static inline unsigned room_pending(void)
{
    pthread_mutex_lock(&room_calls.mu);
    unsigned n = room_calls.n - room_calls.taken;
    pthread_mutex_unlock(&room_calls.mu);
    return n;
}

/* ---- The session and its wiring --------------------------------------------------- */

struct harness {
    cn_runtime *rt;
    struct cn_ws_counters counters;
    struct cn_send_path send;
    struct cn_session_room_hooks rooms;
    struct cn_session_deps deps;
    /* Filled by harness_stop: adapter calls nobody took, once every actor ended. */
    size_t left_pg, left_kafka;
};

/* Starts a runtime and wires deps; `limits` are the SEND path's. */
static inline void harness_start(struct harness *h, struct cn_send_limits limits)
{
    memset(h, 0, sizeof *h);
    pthread_mutex_lock(&room_calls.mu);
    room_calls.n = room_calls.taken = 0;
    pthread_mutex_unlock(&room_calls.mu);
    cn_runtime_config rc = {.workers = 2};
    h->rt = cn_runtime_new(&rc);
    if (!h->rt || cn_runtime_start(h->rt) != 0) {
        fprintf(stderr, "cannot start the runtime\n");
        abort();
    }
    h->send.rt = h->rt;
    h->send.pg = FAKE_PG;
    h->send.producer = FAKE_PRODUCER;
    h->send.limits = limits;
    h->send.member_ttl_ms = 60000; /* longer than any test: expiry is tested on its own */
    h->rooms = (struct cn_session_room_hooks){
        .subscribed = rooms_subscribed,
        .unsubscribed = rooms_unsubscribed,
    };
    h->deps = (struct cn_session_deps){
        .rt = h->rt,
        .pg = FAKE_PG,
        .jwt = harness_jwt,
        /* Long enough that no heart-beat or deadline fires during a test. */
        .cfg = {.heartbeat_ms = 60000, .connect_timeout_ms = 60000, .max_subscriptions = 8},
        .counters = &h->counters,
        .send_sink = cn_send_path_take,
        .send_ctx = &h->send,
        .send_forget_room = cn_send_path_forget_room,
        .rooms = &h->rooms,
        .redis = FAKE_REDIS,
    };
}

static inline struct cn_send_limits harness_limits(uint32_t rate, uint32_t window_ms)
{
    return (struct cn_send_limits){.rate = rate, .window_ms = window_ms};
}

/* Shuts the runtime down (every actor finalised), counts the adapter calls left
 * untaken, then forgets what the fakes hold. The room calls stay readable until
 * the next harness_start. */
static inline void harness_stop(struct harness *h)
{
    cn_runtime_shutdown(h->rt);
    h->left_pg = fake_pending(FAKE_KIND_PG);
    h->left_kafka = fake_pending(FAKE_KIND_KAFKA);
    fake_reset();
    fake_ws_reset();
}

/* Sends the session one frame: printf-style text without the closing NUL. */
static inline void harness_send(cn_actor *session, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf - 1) {
        fprintf(stderr, "harness_send: frame too long\n");
        abort();
    }
    fake_ws_send(session, buf, (size_t)n + 1); /* + the NUL that ends a frame */
}

/* What the session wrote next, as a frame (caller frees), or NULL after the
 * deadline or when it was no frame. *close_after (may be NULL) says whether the
 * connection is to close after it, *reason why. */
static inline struct cn_stomp_frame *harness_next(uint64_t conn, bool *close_after, int *reason)
{
    struct cn_ws_out *o = fake_ws_next(conn, HARNESS_WAIT_MS);
    if (!o)
        return NULL;
    struct cn_stomp_frame *f = fake_ws_frame(o);
    if (close_after)
        *close_after = o->close_after;
    if (reason)
        *reason = o->close_reason;
    cn_msg_free(&o->hdr);
    return f;
}

/* The next frame when it is a `cmd` (caller frees); NULL otherwise (the check fails,
 * saying what came instead). */
static inline struct cn_stomp_frame *harness_expect(uint64_t conn, enum cn_stomp_command cmd)
{
    struct cn_stomp_frame *f = harness_next(conn, NULL, NULL);
    CHECK(f != NULL);
    if (f && f->command != cmd) {
        fprintf(stderr, "expected %s, got %s (message: %s)\n", cn_stomp_command_name(cmd),
                cn_stomp_command_name(f->command), cn_stomp_frame_get(f, "message", NULL));
        CHECK_EQ(f->command, cmd);
        free(f);
        return NULL;
    }
    return f;
}

/* The next frame is a RECEIPT for `receipt`. */
static inline void harness_expect_receipt(uint64_t conn, const char *receipt)
{
    struct cn_stomp_frame *f = harness_expect(conn, CN_STOMP_RECEIPT);
    if (f)
        CHECK_STR(cn_stomp_frame_get(f, "receipt-id", NULL), receipt);
    free(f);
}

/* The next frame is an application error `code` on /user/queue/errors
 * (subscription `sub`), for `receipt` (NULL: none). */
static inline void harness_expect_app_error(uint64_t conn, const char *sub, const char *code,
                                            const char *receipt)
{
    struct cn_stomp_frame *f = harness_expect(conn, CN_STOMP_MESSAGE);
    if (!f)
        return;
    CHECK_STR(cn_stomp_frame_get(f, "destination", NULL), "/user/queue/errors");
    CHECK_STR(cn_stomp_frame_get(f, "subscription", NULL), sub);
    if (receipt)
        CHECK_STR(cn_stomp_frame_get(f, "receipt-id", NULL), receipt);
    else
        CHECK(cn_stomp_frame_get(f, "receipt-id", NULL) == NULL);
    char want[96];
    snprintf(want, sizeof want, "\"code\":\"%s\"", code);
    if (!strstr(f->body, want)) {
        fprintf(stderr, "expected %s in %s\n", want, f->body);
        CHECK(strstr(f->body, want) != NULL);
    }
    free(f);
}

/* A token of user_id signed with the harness's key, valid an hour (free() it). */
static inline char *harness_token(int64_t user_id)
{
    return cn_jwt_issue(&harness_jwt, user_id, (int64_t)time(NULL), 3600);
}

/* Opens the session of connection conn: one actor reference for the test. */
static inline cn_actor *harness_open(struct harness *h, uint64_t conn)
{
    struct cn_ws_peer peer = fake_ws_peer(conn);
    return cn_session_open(&h->deps, &peer);
}

/* Opens a session and CONNECTs it as user_id; checks the CONNECTED. */
static inline cn_actor *harness_connect(struct harness *h, uint64_t conn, int64_t user_id)
{
    cn_actor *s = harness_open(h, conn);
    char *token = harness_token(user_id);
    harness_send(s, "CONNECT\naccept-version:1.2\nhost:chat\nAuthorization:Bearer %s\n\n", token);
    free(token);
    struct cn_stomp_frame *f = harness_expect(conn, CN_STOMP_CONNECTED);
    if (f) {
        char user[24];
        snprintf(user, sizeof user, "%lld", (long long)user_id);
        CHECK_STR(cn_stomp_frame_get(f, "user-name", NULL), user);
    }
    free(f);
    return s;
}

/* Subscribes to /user/queue/errors as `id`; checks the RECEIPT. */
static inline void harness_subscribe_errors(cn_actor *s, uint64_t conn, const char *id)
{
    harness_send(s, "SUBSCRIBE\nid:%s\ndestination:/user/queue/errors\nreceipt:sub-%s\n\n", id, id);
    char r[64];
    snprintf(r, sizeof r, "sub-%s", id);
    harness_expect_receipt(conn, r);
}

/* ---- The fake database ------------------------------------------------------------ */

/* The next PostgreSQL call when it runs statement `id`; NULL otherwise (checked). */
static inline struct fake_call *harness_pg(enum cn_sql_id id)
{
    struct fake_call *c = fake_next(FAKE_KIND_PG, HARNESS_WAIT_MS);
    CHECK(c != NULL);
    if (c && strcmp(c->sql, cn_sql(id)) != 0) {
        fprintf(stderr, "expected statement %d, got: %.60s\n", (int)id, c->sql);
        CHECK(strcmp(c->sql, cn_sql(id)) == 0);
        fake_call_free(c);
        return NULL;
    }
    return c;
}

/* Answers room_membership (c taken; NULL is a no-op). */
static inline void harness_membership(struct fake_call *c, bool exists, bool member)
{
    if (!c)
        return;
    const char *names[] = {"room_exists", "is_member", "room_type"};
    const char *values[] = {exists ? "t" : "f", member ? "t" : "f", exists ? "GROUP" : NULL};
    fake_pg_rows(c, 3, names, 1, values);
}

/* Answers user_by_id with one user called `nickname` (c taken; NULL is a no-op). */
static inline void harness_nickname(struct fake_call *c, const char *nickname)
{
    if (!c)
        return;
    const char *names[] = {"id", "nickname"};
    const char *values[] = {c->params[0], nickname};
    fake_pg_rows(c, 2, names, 1, values);
}

#endif
