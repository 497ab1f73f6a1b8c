/* Tests the Redis adapter's two-step shutdown (src/io/redis_client.c) against a fake
 * Redis of a few dozen lines on a loopback port, on a real actor runtime: close answers
 * every command still pending (ok = 0, "client stopping") exactly once, calls after
 * close are answered at once (ok = 0, "client closed") or refused (-ESHUTDOWN), the
 * stats stay readable until free, and threads that keep submitting while the owner
 * closes lose no reply and get none twice.
 *
 * The fake speaks just enough RESP: PING -> +PONG, SUBSCRIBE -> one confirmation per
 * channel, any other command -> +OK, or no answer at all while `hold` is set (the
 * commands then stay pending in the adapter). */
#include "check.h"

#include "io/redis_client.h"

#include "base/clock.h"
#include "base/xmalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REPLY_TYPE  91u
#define PUBSUB_TYPE 92u
#define DEADLINE_MS 10000
#define MAX_CONNS   8

/* ---- the fake Redis ---- */

struct fake {
    int listen_fd, wake[2];
    int port;
    pthread_t thread;
    atomic_bool hold;     /* leave ordinary commands unanswered */
    atomic_uint held;     /* commands left unanswered */
    atomic_uint answered; /* ordinary commands answered +OK */
    int fd[MAX_CONNS];
    char *buf[MAX_CONNS];
    size_t len[MAX_CONNS];
};

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return; /* the client went away: nothing to tell it */
        p += w;
        n -= (size_t)w;
    }
}

/* Parses one "*N\r\n$len\r\narg\r\n..." command at b[0..n). Returns the bytes it
 * takes, 0 when incomplete. Sets argc and the first three arguments. */
static size_t parse_command(const char *b, size_t n, int *argc, const char *argv[3], size_t argl[3])
{
    const char *p = b, *end = b + n;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl || *p != '*')
        return 0;
    *argc = atoi(p + 1);
    p = nl + 1;
    for (int i = 0; i < *argc; i++) {
        nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
        if (!nl || *p != '$')
            return 0;
        size_t len = (size_t)atol(p + 1);
        p = nl + 1;
        if ((size_t)(end - p) < len + 2)
            return 0;
        if (i < 3) {
            argv[i] = p;
            argl[i] = len;
        }
        p += len + 2;
    }
    return (size_t)(p - b);
}

static bool is_cmd(const char *a, size_t len, const char *name)
{
    return len == strlen(name) && strncasecmp(a, name, len) == 0;
}

static void answer(struct fake *f, int fd, int argc, const char *argv[3], size_t argl[3])
{
    char out[256];
    if (is_cmd(argv[0], argl[0], "PING")) {
        send_all(fd, "+PONG\r\n", 7);
    } else if (is_cmd(argv[0], argl[0], "SUBSCRIBE")) {
        /* The adapter subscribes one channel per command, except when it
         * resubscribes after a reconnect (not done here). */
        (void)argc;
        int n = snprintf(out, sizeof out, "*3\r\n$9\r\nsubscribe\r\n$%zu\r\n%.*s\r\n:1\r\n",
                         argl[1], (int)argl[1], argv[1]);
        send_all(fd, out, (size_t)n);
    } else if (atomic_load(&f->hold)) {
        atomic_fetch_add(&f->held, 1);
    } else {
        send_all(fd, "+OK\r\n", 5);
        atomic_fetch_add(&f->answered, 1);
    }
}

static void *fake_main(void *arg)
{
    struct fake *f = arg;
    for (;;) {
        struct pollfd pfd[2 + MAX_CONNS];
        pfd[0] = (struct pollfd){.fd = f->wake[0], .events = POLLIN};
        pfd[1] = (struct pollfd){.fd = f->listen_fd, .events = POLLIN};
        for (int i = 0; i < MAX_CONNS; i++)
            pfd[2 + i] = (struct pollfd){.fd = f->fd[i], .events = POLLIN};
        if (poll(pfd, 2 + MAX_CONNS, -1) < 0)
            continue;
        if (pfd[0].revents)
            return NULL;
        if (pfd[1].revents & POLLIN) {
            int fd = accept(f->listen_fd, NULL, NULL);
            for (int i = 0; fd >= 0 && i < MAX_CONNS; i++)
                if (f->fd[i] < 0) {
                    f->fd[i] = fd;
                    f->len[i] = 0;
                    fd = -1;
                }
            if (fd >= 0)
                close(fd);
        }
        for (int i = 0; i < MAX_CONNS; i++) {
            if (f->fd[i] < 0 || !pfd[2 + i].revents)
                continue;
            f->buf[i] = cn_xrealloc(f->buf[i], f->len[i] + 65536);
            ssize_t r = recv(f->fd[i], f->buf[i] + f->len[i], 65536, 0);
            if (r <= 0) {
                close(f->fd[i]);
                f->fd[i] = -1;
                continue;
            }
            f->len[i] += (size_t)r;
            size_t at = 0, used;
            int argc;
            const char *argv[3];
            size_t argl[3];
            while ((used = parse_command(f->buf[i] + at, f->len[i] - at, &argc, argv, argl)) > 0) {
                answer(f, f->fd[i], argc, argv, argl);
                at += used;
            }
            memmove(f->buf[i], f->buf[i] + at, f->len[i] - at);
            f->len[i] -= at;
        }
    }
}

static struct fake *fake_start(void)
{
    struct fake *f = cn_xcalloc(1, sizeof *f);
    for (int i = 0; i < MAX_CONNS; i++)
        f->fd[i] = -1;
    f->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK_EQ(bind(f->listen_fd, (struct sockaddr *)&sa, sizeof sa), 0);
    CHECK_EQ(listen(f->listen_fd, 16), 0);
    socklen_t sl = sizeof sa;
    getsockname(f->listen_fd, (struct sockaddr *)&sa, &sl);
    f->port = ntohs(sa.sin_port);
    CHECK_EQ(pipe2(f->wake, O_CLOEXEC), 0);
    pthread_create(&f->thread, NULL, fake_main, f);
    return f;
}

static void fake_stop(struct fake *f)
{
    CHECK_EQ(write(f->wake[1], "x", 1), 1);
    pthread_join(f->thread, NULL);
    for (int i = 0; i < MAX_CONNS; i++) {
        if (f->fd[i] >= 0)
            close(f->fd[i]);
        free(f->buf[i]);
    }
    close(f->listen_fd);
    close(f->wake[0]);
    close(f->wake[1]);
    free(f);
}

/* ---- what actors receive ---- */

#define TAGS (1u << 17)

/* Counts Redis replies per tag and by outcome; keeps Pub/Sub kinds seen. */
struct tally {
    atomic_uint per_tag[TAGS];
    atomic_uint total, ok, stopping, closed, other;
    atomic_uint subscribed;
};

static void tally_behaviour(cn_actor *self, void *state, cn_msg *m)
{
    (void)self;
    struct tally *t = state;
    if (m->type == PUBSUB_TYPE) {
        if (((struct cn_redis_pubsub *)m)->kind == CN_REDIS_PUBSUB_SUBSCRIBED)
            atomic_fetch_add(&t->subscribed, 1);
        cn_msg_free(m);
        return;
    }
    struct cn_redis_reply *r = (struct cn_redis_reply *)m;
    if (r->tag < TAGS)
        atomic_fetch_add(&t->per_tag[r->tag], 1);
    if (r->ok)
        atomic_fetch_add(&t->ok, 1);
    else if (strcmp(r->error, "redis: client stopping") == 0)
        atomic_fetch_add(&t->stopping, 1);
    else if (strcmp(r->error, "redis: client closed") == 0)
        atomic_fetch_add(&t->closed, 1);
    else
        atomic_fetch_add(&t->other, 1);
    atomic_fetch_add(&t->total, 1);
    cn_msg_free(m);
}

/* Waits until *v >= n; false after `ms`. */
static bool wait_at_least(atomic_uint *v, unsigned n, unsigned ms)
{
    uint64_t until = cn_now_ms() + ms;
    while (atomic_load(v) < n) {
        if (cn_now_ms() >= until)
            return false;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return true;
}

struct env {
    cn_runtime *rt;
    cn_actor *actor;
    struct tally *tally;
    struct fake *fake;
    struct cn_redis *redis;
};

static struct env env_new(void)
{
    struct env e;
    e.rt = cn_runtime_new(&(cn_runtime_config){.workers = 2});
    CHECK_EQ(cn_runtime_start(e.rt), 0);
    e.tally = cn_xcalloc(1, sizeof *e.tally);
    e.actor = cn_actor_spawn(e.rt, tally_behaviour, e.tally, NULL);
    e.fake = fake_start();
    char err[256];
    e.redis = cn_redis_start("127.0.0.1", e.fake->port, err, sizeof err);
    CHECK(e.redis != NULL);
    CHECK(cn_redis_wait_up(e.redis, true, DEADLINE_MS));
    return e;
}

static void env_free(struct env *e)
{
    cn_runtime_shutdown(e->rt);
    cn_redis_free(e->redis); /* after the runtime, as chat-node does */
    cn_actor_unref(e->actor);
    fake_stop(e->fake);
    free(e->tally);
}

static int get(struct cn_redis *r, cn_actor *a, uint64_t tag)
{
    const char *argv[] = {"GET", "k"};
    return cn_redis_command(r, a, REPLY_TYPE, tag, 2, argv, NULL);
}

/* ---- tests ---- */

static void test_close_answers_pending(void)
{
    struct env e = env_new();
    CHECK_EQ(cn_redis_subscribe(e.redis, "room:1", e.actor, PUBSUB_TYPE), 0);
    CHECK(wait_at_least(&e.tally->subscribed, 1, DEADLINE_MS));
    CHECK_EQ(get(e.redis, e.actor, 0), 0);
    CHECK(wait_at_least(&e.tally->ok, 1, DEADLINE_MS)); /* the fake answers */

    atomic_store(&e.fake->hold, true);
    for (uint64_t t = 1; t <= 10; t++)
        CHECK_EQ(get(e.redis, e.actor, t), 0);
    CHECK(wait_at_least(&e.fake->held, 10, DEADLINE_MS));
    CHECK_EQ(atomic_load(&e.tally->total), 1);

    cn_redis_close(e.redis);
    /* Every pending command answered once, by close, before it returned. */
    CHECK(wait_at_least(&e.tally->total, 11, DEADLINE_MS));
    CHECK_EQ(atomic_load(&e.tally->stopping), 10);

    /* Closed, not freed: a command is answered at once, the rest refused. */
    CHECK_EQ(get(e.redis, e.actor, 11), 0);
    CHECK(wait_at_least(&e.tally->closed, 1, DEADLINE_MS));
    CHECK_EQ(cn_redis_subscribe(e.redis, "room:2", e.actor, PUBSUB_TYPE), -ESHUTDOWN);
    CHECK_EQ(cn_redis_unsubscribe(e.redis, "room:1", e.actor), -ESHUTDOWN);
    CHECK(!cn_redis_is_up(e.redis));
    CHECK(!cn_redis_wait_up(e.redis, false, 10));
    struct cn_redis_stats st;
    cn_redis_stats(e.redis, &st);
    CHECK_EQ(st.commands, 12);
    CHECK_EQ(st.replies_ok, 1);
    CHECK_EQ(st.errors, 11);
    CHECK_EQ(st.pending, 0);
    CHECK_EQ(st.channels, 0); /* the subscription went with the close */
    CHECK(!st.up && !st.sub_up);
    cn_redis_close(e.redis); /* idempotent */

    for (unsigned t = 0; t <= 11; t++)
        CHECK_EQ(atomic_load(&e.tally->per_tag[t]), 1);
    CHECK_EQ(atomic_load(&e.tally->total), 12);
    CHECK_EQ(atomic_load(&e.tally->other), 0);
    env_free(&e);
}

#define RACERS 3

struct racer {
    struct cn_redis *redis;
    cn_actor *actor;
    struct tally *tally;
    unsigned id, calls;
    int bad_rc;
};

/* Sends commands until it has seen the close answer one of them (or its tags run
 * out); every call must return 0. */
static void *racer_main(void *arg)
{
    struct racer *r = arg;
    while (r->calls < TAGS / RACERS && atomic_load(&r->tally->closed) == 0) {
        if (get(r->redis, r->actor, (uint64_t)r->calls * RACERS + r->id) != 0)
            r->bad_rc++;
        /* A short breath now and then, so the tags outlast the close. */
        if (++r->calls % 128 == 0) {
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

/* Threads keep sending while the owner closes: each command is answered exactly
 * once, whether Redis answered it, the close failed it, or it came after. */
static void test_close_races_commands(void)
{
    struct env e = env_new();
    pthread_t th[RACERS];
    struct racer rs[RACERS];
    for (unsigned i = 0; i < RACERS; i++) {
        rs[i] = (struct racer){.redis = e.redis, .actor = e.actor, .tally = e.tally, .id = i};
        pthread_create(&th[i], NULL, racer_main, &rs[i]);
    }
    CHECK(wait_at_least(&e.tally->ok, 300, DEADLINE_MS));
    cn_redis_close(e.redis);
    unsigned calls = 0;
    for (unsigned i = 0; i < RACERS; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(rs[i].bad_rc, 0);
        calls += rs[i].calls;
    }
    CHECK(wait_at_least(&e.tally->total, calls, DEADLINE_MS));
    CHECK_EQ(atomic_load(&e.tally->total), calls);
    CHECK_INT(atomic_load(&e.tally->closed), >, 0);
    CHECK_EQ(atomic_load(&e.tally->other), 0);
    for (unsigned i = 0; i < RACERS; i++)
        for (unsigned k = 0; k < rs[i].calls; k++)
            CHECK_EQ(atomic_load(&e.tally->per_tag[k * RACERS + i]), 1);
    fprintf(stderr, "  %u commands: %u ok, %u failed by close, %u after it\n", calls,
            atomic_load(&e.tally->ok), atomic_load(&e.tally->stopping),
            atomic_load(&e.tally->closed));
    env_free(&e);
}

/* Free without an explicit close closes first; a handle that never reached Redis
 * closes as well. */
static void test_free_closes(void)
{
    cn_runtime *rt = cn_runtime_new(&(cn_runtime_config){.workers = 1});
    CHECK_EQ(cn_runtime_start(rt), 0);
    struct tally *t = cn_xcalloc(1, sizeof *t);
    cn_actor *a = cn_actor_spawn(rt, tally_behaviour, t, NULL);
    /* A bound socket that does not listen: every connect is refused. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    char err[256];
    struct cn_redis *r = cn_redis_start("127.0.0.1", ntohs(sa.sin_port), err, sizeof err);
    CHECK(r != NULL);
    CHECK_EQ(cn_redis_subscribe(r, "room:3", a, PUBSUB_TYPE), 0);
    CHECK_EQ(get(r, a, 1), 0); /* Redis is down: answered at once, ok = 0 */
    CHECK(wait_at_least(&t->total, 1, DEADLINE_MS));
    CHECK_EQ(atomic_load(&t->other), 1);
    cn_redis_free(r); /* closes first: the subscription's reference goes too */
    cn_runtime_shutdown(rt);
    cn_actor_unref(a);
    close(fd);
    free(t);
}

CN_TEST_MAIN(test_close_answers_pending, test_close_races_commands, test_free_closes)
