/* Integration tests of the Redis adapter (src/io/redis_client.c) with a real actor
 * runtime and real redis-servers.
 *
 * Commands that only read and write keys of their own use the private stack's Redis
 * (CN_TEST_REDIS_HOST/PORT from `ops/dev test`). Tests that stop, restart or kill
 * connections of a Redis start their own redis-server on a free port, so the shared
 * stack is never disturbed. Without the stack variables the test is skipped (exit
 * 77), unless CN_TEST_REQUIRE_STACK=1 says the stack must be there: then it fails.
 *
 * Replies reach "collector" actors that put every message into a locked queue the
 * test thread waits on with deadlines; nothing here sleeps and hopes. */
#include "check.h"
#include "deadline.h"

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "actors/runtime/runtime.h"
#include "base/clock.h"
#include "base/xmalloc.h"
#include "io/redis_client.h"
#include "io/redis_auth.h"

#ifdef CN_SANITIZED
#define SLOW 4
#else
#define SLOW 1
#endif

#define REPLY_TYPE  7
#define PUBSUB_TYPE 8
#define MARKER_TYPE 9

static cn_runtime *rt;
static const char *stack_host;
static char stack_password[256], stack_user[64]; /* the stack's Redis credentials, if any */
static int stack_port;

/* ---- collector actors ------------------------------------------------------------ */

struct collector {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    cn_msg **items;
    size_t head, count, cap;
    uint64_t received;
    cn_actor *actor;
};

static void collect(cn_actor *self, void *state, cn_msg *m)
{
    (void)self;
    struct collector *c = state;
    pthread_mutex_lock(&c->mu);
    if (c->head + c->count == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->items = cn_xrealloc(c->items, c->cap * sizeof *c->items);
    }
    c->items[c->head + c->count++] = m;
    c->received++;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
}

static void collector_destroy(void *state)
{
    struct collector *c = state;
    for (size_t i = 0; i < c->count; i++)
        cn_msg_free(c->items[c->head + i]);
    free(c->items);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cond);
    free(c);
}

static void ensure_setup(void);

static struct collector *collector_new(void)
{
    ensure_setup();
    struct collector *c = cn_xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cond, NULL);
    /* The runtime frees the state after the actor's last turn (collector_free). */
    c->actor = cn_actor_spawn(rt, collect, c, collector_destroy);
    return c;
}

/* Waits up to `ms` for the next message; the caller owns it. NULL on timeout. */
static cn_msg *collector_take(struct collector *c, int ms)
{
    struct timespec until = cn_test_deadline(ms);
    cn_msg *m = NULL;
    pthread_mutex_lock(&c->mu);
    while (c->count == 0)
        if (pthread_cond_timedwait(&c->cond, &c->mu, &until) == ETIMEDOUT)
            break;
    if (c->count) {
        m = c->items[c->head++];
        c->count--;
        if (!c->count)
            c->head = 0;
    }
    pthread_mutex_unlock(&c->mu);
    return m;
}

static uint64_t collector_received(struct collector *c)
{
    pthread_mutex_lock(&c->mu);
    uint64_t n = c->received;
    pthread_mutex_unlock(&c->mu);
    return n;
}

/* Stops the actor; the runtime frees `c` and what it still holds after the last
 * turn, so `c` must not be touched afterwards. */
static void collector_free(struct collector *c)
{
    cn_actor *a = c->actor;
    cn_actor_stop(a);
    cn_actor_unref(a);
}

static struct cn_redis_reply *take_reply(struct collector *c, int ms)
{
    cn_msg *m = collector_take(c, ms);
    if (m && m->type != REPLY_TYPE) {
        fprintf(stderr, "unexpected message type %u\n", m->type);
        cn_msg_free(m);
        return NULL;
    }
    return (struct cn_redis_reply *)m;
}

/* Runs one command and waits for its reply (NULL after 5 s). */
static struct cn_redis_reply *run(struct cn_redis *r, struct collector *c, int argc,
                                  const char *const *argv, const size_t *lens)
{
    if (cn_redis_command(r, c->actor, REPLY_TYPE, 42, argc, argv, lens) != 0)
        return NULL;
    return take_reply(c, 5000 * SLOW);
}

#define WAIT_FOR(cond, ms)                                                                         \
    ({                                                                                             \
        uint64_t wf_deadline = cn_now_ns() + (uint64_t)(ms)*1000000u;                              \
        bool wf_ok;                                                                                \
        while (!(wf_ok = (cond)) && cn_now_ns() < wf_deadline) {                                   \
            struct timespec wf_ts = {0, 1000000};                                                  \
            nanosleep(&wf_ts, NULL);                                                               \
        }                                                                                          \
        wf_ok;                                                                                     \
    })

static struct cn_redis_stats stats_of(struct cn_redis *r)
{
    struct cn_redis_stats s;
    cn_redis_stats(r, &s);
    return s;
}

/* ---- a redis-server of the test's own -------------------------------------------- */

struct own_redis {
    int port;
    pid_t pid;
};

static int free_port(void)
{
    ensure_setup();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        perror("free_port");
        exit(1);
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* Pings until it answers or the deadline passes. */
static bool ping_ok(int port)
{
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    bool ok = false;
    char err[256];
    if (c && !c->err && cn_redis_auth_sync(c, "127.0.0.1", port, err, sizeof err) == 0) {
        redisReply *rep = redisCommand(c, "PING");
        ok = rep && rep->type == REDIS_REPLY_STATUS;
        if (rep)
            freeReplyObject(rep);
    }
    if (c)
        redisFree(c);
    return ok;
}

static bool own_redis_start(struct own_redis *o)
{
    char port[16];
    snprintf(port, sizeof port, "%d", o->port);
    o->pid = fork();
    if (o->pid < 0)
        return false;
    if (o->pid == 0) {
        /* Dies with the test, even when CTest kills it at its deadline. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, STDOUT_FILENO);
        if (stack_password[0]) {
            /* The stack's Redis wants a password (and the adapter sends it): so does
             * this one, with the same ACL users (ops/lib/stack.sh). */
            char user[320];
            snprintf(user, sizeof user, ">%s", stack_password);
            execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save",
                   "", "--appendonly", "no", "--user", "default", "on", user, "~*", "&*", "+@all",
                   "--user", stack_user, "on", user, "~*", "&*", "+@all", (char *)NULL);
        } else {
            execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save",
                   "", "--appendonly", "no", (char *)NULL);
        }
        _exit(127);
    }
    return WAIT_FOR(ping_ok(o->port), 10000);
}

static void own_redis_kill(struct own_redis *o)
{
    if (o->pid <= 0)
        return;
    kill(o->pid, SIGKILL);
    waitpid(o->pid, NULL, 0);
    o->pid = 0;
}

/* ---- stderr capture, to count log lines ------------------------------------------ */

struct capture {
    int saved;
    char path[64];
};

static void capture_begin(struct capture *cap)
{
    snprintf(cap->path, sizeof cap->path, "/tmp/cn-redis-test-%d.log", (int)getpid());
    int fd = open(cap->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cap->saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
}

/* Restores stderr, echoes what was captured, and returns how many lines contain
 * `needle` (and, via *other, how many contain `needle2`). */
static int capture_end(struct capture *cap, const char *needle, const char *needle2, int *other)
{
    dup2(cap->saved, STDERR_FILENO);
    close(cap->saved);
    FILE *f = fopen(cap->path, "r");
    int n = 0;
    *other = 0;
    char line[1024];
    while (f && fgets(line, sizeof line, f)) {
        fputs(line, stderr);
        n += strstr(line, needle) != NULL;
        *other += strstr(line, needle2) != NULL;
    }
    if (f)
        fclose(f);
    unlink(cap->path);
    return n;
}

/* ---- tests ----------------------------------------------------------------------- */

static struct cn_redis *start_on(const char *host, int port, int command_timeout_ms)
{
    ensure_setup();
    struct cn_redis_config cfg;
    cn_redis_config_defaults(&cfg);
    cfg.host = host;
    cfg.port = port;
    if (command_timeout_ms)
        cfg.command_timeout_ms = command_timeout_ms;
    char err[256];
    struct cn_redis *r = cn_redis_start_config(&cfg, err, sizeof err);
    if (!r)
        fprintf(stderr, "cn_redis_start: %s\n", err);
    return r;
}

static void test_invalid_input(void)
{
    ensure_setup();
    char err[256];
    CHECK(cn_redis_start("127.0.0.1", 0, err, sizeof err) == NULL);
    CHECK(strstr(err, "port 0") != NULL);
    CHECK(cn_redis_start("", 6379, err, sizeof err) == NULL);
    CHECK(strstr(err, "host") != NULL);
    struct cn_redis_config cfg;
    cn_redis_config_defaults(&cfg);
    cfg.host = "127.0.0.1";
    cfg.port = 6379;
    cfg.backoff_max_ms = 10;
    CHECK(cn_redis_start_config(&cfg, err, sizeof err) == NULL);

    struct cn_redis *r = start_on(stack_host, stack_port, 0);
    CHECK(r != NULL);
    if (!r)
        return;
    const char *bad[] = {"GET", NULL};
    CHECK_EQ(cn_redis_command(r, NULL, 1, 0, 0, bad, NULL), -EINVAL);
    CHECK_EQ(cn_redis_command(r, NULL, 1, 0, 2, bad, NULL), -EINVAL);
    CHECK_EQ(cn_redis_command(NULL, NULL, 1, 0, 1, bad, NULL), -EINVAL);
    const char *sub[] = {"subscribe", "x"};
    CHECK_EQ(cn_redis_command(r, NULL, 1, 0, 2, sub, NULL), -ENOTSUP);
    const char *mon[] = {"MONITOR"};
    CHECK_EQ(cn_redis_command(r, NULL, 1, 0, 1, mon, NULL), -ENOTSUP);
    const char *big[] = {"SET", "k", "v"};
    size_t big_lens[] = {3, 1, (size_t)CN_REDIS_MAX_CMD_BYTES + 1};
    CHECK_EQ(cn_redis_command(r, NULL, 1, 0, 3, big, big_lens), -EMSGSIZE);

    struct collector *c = collector_new();
    CHECK_EQ(cn_redis_subscribe(r, "", c->actor, 1), -EINVAL);
    CHECK_EQ(cn_redis_subscribe(r, NULL, c->actor, 1), -EINVAL);
    CHECK_EQ(cn_redis_subscribe(r, "ch", NULL, 1), -EINVAL);
    char *huge = cn_xmalloc(CN_REDIS_MAX_CHANNEL_LEN + 2);
    memset(huge, 'c', CN_REDIS_MAX_CHANNEL_LEN + 1);
    huge[CN_REDIS_MAX_CHANNEL_LEN + 1] = '\0';
    CHECK_EQ(cn_redis_subscribe(r, huge, c->actor, 1), -EINVAL);
    CHECK_EQ(cn_redis_unsubscribe(r, huge, c->actor), -EINVAL);
    free(huge);
    cn_redis_free(r);
    CHECK(collector_take(c, 0) == NULL); /* nothing is sent for a refused call */
    collector_free(c);
}

static void test_binary_roundtrip(void)
{
    struct cn_redis *r = start_on(stack_host, stack_port, 0);
    CHECK(r != NULL);
    if (!r)
        return;
    CHECK(cn_redis_wait_up(r, false, 5000 * SLOW));
    struct collector *c = collector_new();
    char key[64];
    int klen = snprintf(key, sizeof key, "cn:test:redis_client:%d:bin", (int)getpid());
    static const char value[] = "a\0b\r\n\xff\0z";
    size_t vlen = sizeof value - 1;

    const char *set[] = {"SET", key, value, "EX", "300"};
    size_t set_lens[] = {3, (size_t)klen, vlen, 2, 3};
    struct cn_redis_reply *rep = run(r, c, 5, set, set_lens);
    CHECK(rep && rep->ok && rep->tag == 42 && cn_redis_kind(rep->reply) == CN_REDIS_STATUS);
    CHECK(rep && rep->error[0] == '\0');
    cn_msg_free(rep ? &rep->hdr : NULL);

    const char *get[] = {"GET", key};
    size_t get_lens[] = {3, (size_t)klen};
    rep = run(r, c, 2, get, get_lens);
    CHECK(rep && rep->ok && rep->reply && cn_redis_kind(rep->reply) == CN_REDIS_STRING);
    if (rep && rep->reply) {
        size_t got_len = 0;
        const char *got = cn_redis_str(rep->reply, &got_len);
        CHECK_MEM(got, got_len, value, vlen);
    }
    cn_msg_free(rep ? &rep->hdr : NULL);

    const char *ttl[] = {"TTL", key};
    rep = run(r, c, 2, ttl, get_lens);
    CHECK(rep && rep->ok && cn_redis_kind(rep->reply) == CN_REDIS_INTEGER);
    if (rep)
        CHECK_INT(cn_redis_int(rep->reply), >, 290);
    cn_msg_free(rep ? &rep->hdr : NULL);

    /* Redis's own errors come back with ok = 0 and the error reply. */
    const char *incr[] = {"INCR", key};
    rep = run(r, c, 2, incr, get_lens);
    CHECK(rep && !rep->ok && rep->reply && cn_redis_kind(rep->reply) == CN_REDIS_ERROR);
    CHECK(rep && strncmp(rep->error, "redis: ERR", 10) == 0);
    cn_msg_free(rep ? &rep->hdr : NULL);

    const char *del[] = {"DEL", key};
    rep = run(r, c, 2, del, get_lens);
    CHECK(rep && rep->ok && cn_redis_int(rep->reply) == 1);
    cn_msg_free(rep ? &rep->hdr : NULL);

    rep = run(r, c, 2, get, get_lens); /* argvlen NULL: C strings */
    CHECK(rep && rep->ok && cn_redis_kind(rep->reply) == CN_REDIS_NIL);
    cn_msg_free(rep ? &rep->hdr : NULL);

    /* Fire and forget still runs. */
    const char *set2[] = {"SET", key, "x"};
    CHECK_EQ(cn_redis_command(r, NULL, 0, 0, 3, set2, NULL), 0);
    CHECK(WAIT_FOR(stats_of(r).pending == 0, 5000 * SLOW));
    rep = run(r, c, 2, get, NULL);
    CHECK(rep && rep->ok && cn_redis_kind(rep->reply) == CN_REDIS_STRING &&
          strcmp(cn_redis_str(rep->reply, NULL), "x") == 0);
    cn_msg_free(rep ? &rep->hdr : NULL);
    rep = run(r, c, 2, del, NULL);
    cn_msg_free(rep ? &rep->hdr : NULL);

    struct cn_redis_stats s = stats_of(r);
    CHECK_EQ(s.commands, 9);
    CHECK_EQ(s.replies_ok, 8);
    CHECK_EQ(s.errors, 1);
    CHECK_EQ(s.outages, 0);
    CHECK(s.up);
    cn_redis_free(r);
    collector_free(c);
}

#define THREADS        4
#define PER_THREAD     2500
#define TOTAL_COMMANDS (THREADS * PER_THREAD)

struct submitter {
    struct cn_redis *r;
    struct collector *c;
    unsigned index;
    int failures;
};

static void *submit_many(void *arg)
{
    struct submitter *s = arg;
    for (unsigned i = 0; i < PER_THREAD; i++) {
        uint64_t tag = (uint64_t)s->index * PER_THREAD + i;
        char text[32];
        snprintf(text, sizeof text, "%llu", (unsigned long long)tag);
        const char *argv[] = {"ECHO", text};
        if (cn_redis_command(s->r, s->c->actor, REPLY_TYPE, tag, 2, argv, NULL) != 0)
            s->failures++;
    }
    return NULL;
}

static void test_many_threads(void)
{
    struct cn_redis *r = start_on(stack_host, stack_port, 0);
    CHECK(r != NULL);
    if (!r)
        return;
    CHECK(cn_redis_wait_up(r, false, 5000 * SLOW));
    struct collector *c = collector_new();
    pthread_t th[THREADS];
    struct submitter sub[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        sub[i] = (struct submitter){.r = r, .c = c, .index = i};
        pthread_create(&th[i], NULL, submit_many, &sub[i]);
    }
    for (unsigned i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(sub[i].failures, 0);
    }
    uint8_t *seen = cn_xcalloc(TOTAL_COMMANDS, 1);
    int bad = 0, dup = 0;
    for (int n = 0; n < TOTAL_COMMANDS; n++) {
        struct cn_redis_reply *rep = take_reply(c, 10000 * SLOW);
        if (!rep) {
            fprintf(stderr, "only %d of %d replies\n", n, TOTAL_COMMANDS);
            CHECK(rep != NULL);
            break;
        }
        char want[32];
        snprintf(want, sizeof want, "%llu", (unsigned long long)rep->tag);
        if (!rep->ok || rep->tag >= TOTAL_COMMANDS || !rep->reply ||
            strcmp(cn_redis_str(rep->reply, NULL), want) != 0)
            bad++;
        else if (seen[rep->tag]++)
            dup++;
        cn_msg_free(&rep->hdr);
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(dup, 0);
    int missing = 0;
    for (int i = 0; i < TOTAL_COMMANDS; i++)
        missing += !seen[i];
    CHECK_EQ(missing, 0);
    free(seen);
    struct cn_redis_stats s = stats_of(r);
    CHECK_EQ(s.commands, TOTAL_COMMANDS);
    CHECK_EQ(s.replies_ok, TOTAL_COMMANDS);
    CHECK_EQ(s.pending, 0);
    cn_redis_free(r);
    /* Nothing more arrives after every command was answered once. */
    CHECK_EQ(collector_received(c), TOTAL_COMMANDS);
    collector_free(c);
}

/* Runs `n` commands while Redis is down; each must fail with ok = 0 within 200 ms. */
static void expect_fast_failures(struct cn_redis *r, struct collector *c, int n)
{
    const char *get[] = {"GET", "cn:test:redis_client:down"};
    uint64_t worst_ns = 0;
    for (int i = 0; i < n; i++) {
        uint64_t t0 = cn_now_ns();
        struct cn_redis_reply *rep = run(r, c, 2, get, NULL);
        uint64_t dt = cn_now_ns() - t0;
        worst_ns = dt > worst_ns ? dt : worst_ns;
        CHECK(rep && !rep->ok && rep->reply == NULL);
        CHECK(rep && strstr(rep->error, "unreachable") != NULL);
        cn_msg_free(rep ? &rep->hdr : NULL);
    }
    CHECK_INT(worst_ns / 1000000u, <, 200);
}

static void test_outage_and_recovery(void)
{
    struct own_redis own = {.port = free_port()};
    CHECK(own_redis_start(&own));
    struct cn_redis *r = start_on("127.0.0.1", own.port, 0);
    CHECK(r != NULL);
    if (!r) {
        own_redis_kill(&own);
        return;
    }
    CHECK(cn_redis_wait_up(r, true, 5000 * SLOW));
    struct collector *c = collector_new();
    const char *ping[] = {"PING"};
    struct cn_redis_reply *rep = run(r, c, 1, ping, NULL);
    CHECK(rep && rep->ok);
    cn_msg_free(rep ? &rep->hdr : NULL);

    struct capture cap;
    capture_begin(&cap);
    own_redis_kill(&own);
    CHECK(WAIT_FOR(!cn_redis_is_up(r), 5000 * SLOW));
    expect_fast_failures(r, c, 20);
    /* Several reconnect attempts fail meanwhile; none of them may log again. */
    uint64_t failures0 = stats_of(r).connect_failures;
    CHECK(WAIT_FOR(stats_of(r).connect_failures >= failures0 + 4, 10000 * SLOW));
    expect_fast_failures(r, c, 20);

    CHECK(own_redis_start(&own));
    CHECK(cn_redis_wait_up(r, true, 10000 * SLOW));
    int back = 0;
    int unreachable = capture_end(&cap, "unreachable", "reachable again", &back);
    CHECK_EQ(unreachable, 1);
    CHECK_EQ(back, 1);

    rep = run(r, c, 1, ping, NULL);
    CHECK(rep && rep->ok && strcmp(cn_redis_str(rep->reply, NULL), "PONG") == 0);
    cn_msg_free(rep ? &rep->hdr : NULL);
    struct cn_redis_stats s = stats_of(r);
    CHECK_EQ(s.outages, 1);
    CHECK_INT(s.reconnects, >=, 1);
    CHECK_INT(s.sub_reconnects, >=, 1);
    CHECK_EQ(s.failed_fast, 40);
    CHECK_EQ(s.pending, 0);
    cn_redis_free(r);
    own_redis_kill(&own);
    collector_free(c);
}

static void test_unreachable_from_start(void)
{
    struct cn_redis *r = start_on("127.0.0.1", free_port(), 0);
    CHECK(r != NULL);
    if (!r)
        return;
    struct collector *c = collector_new();
    CHECK(!cn_redis_wait_up(r, false, 300));
    expect_fast_failures(r, c, 5);
    CHECK(WAIT_FOR(stats_of(r).outages == 1, 2000 * SLOW));
    cn_redis_free(r);
    collector_free(c);
}

/* A command without a reply for command_timeout_ms ends the connection: it fails,
 * and the adapter reconnects by itself. */
static void test_command_timeout(void)
{
    struct cn_redis *r = start_on(stack_host, stack_port, 300);
    CHECK(r != NULL);
    if (!r)
        return;
    CHECK(cn_redis_wait_up(r, false, 5000 * SLOW));
    struct collector *c = collector_new();
    char key[64];
    snprintf(key, sizeof key, "cn:test:redis_client:%d:never", (int)getpid());
    const char *blpop[] = {"BLPOP", key, "0"};
    uint64_t t0 = cn_now_ns();
    struct cn_redis_reply *rep = run(r, c, 3, blpop, NULL);
    uint64_t ms = (cn_now_ns() - t0) / 1000000u;
    CHECK(rep && !rep->ok && strstr(rep->error, "command_timeout") != NULL);
    CHECK_INT(ms, >=, 290);
    CHECK_INT(ms, <, 2000 * SLOW);
    cn_msg_free(rep ? &rep->hdr : NULL);
    CHECK_EQ(stats_of(r).timeouts, 1);
    CHECK(cn_redis_wait_up(r, false, 5000 * SLOW));
    const char *ping[] = {"PING"};
    rep = run(r, c, 1, ping, NULL);
    CHECK(rep && rep->ok);
    cn_msg_free(rep ? &rep->hdr : NULL);
    CHECK_INT(stats_of(r).reconnects, >=, 1);
    cn_redis_free(r);
    collector_free(c);
}

/* A frozen server (SIGSTOP) accepts connections but never answers: the command in
 * flight fails after command_timeout_ms, later ones fail fast, and after SIGCONT
 * the adapter is back by itself. */
static void test_frozen_server(void)
{
    struct own_redis own = {.port = free_port()};
    CHECK(own_redis_start(&own));
    ensure_setup();
    struct cn_redis_config cfg;
    cn_redis_config_defaults(&cfg);
    cfg.host = "127.0.0.1";
    cfg.port = own.port;
    cfg.command_timeout_ms = 300;
    cfg.connect_timeout_ms = 300;
    char err[256];
    struct cn_redis *r = cn_redis_start_config(&cfg, err, sizeof err);
    CHECK(r && cn_redis_wait_up(r, true, 5000 * SLOW));
    if (!r) {
        own_redis_kill(&own);
        return;
    }
    struct collector *c = collector_new();
    kill(own.pid, SIGSTOP);
    const char *ping[] = {"PING"};
    uint64_t t0 = cn_now_ns();
    struct cn_redis_reply *rep = run(r, c, 1, ping, NULL);
    uint64_t ms = (cn_now_ns() - t0) / 1000000u;
    CHECK(rep && !rep->ok && strstr(rep->error, "command_timeout") != NULL);
    CHECK_INT(ms, <, 2000 * SLOW);
    cn_msg_free(rep ? &rep->hdr : NULL);
    CHECK(!cn_redis_is_up(r));
    /* Reconnects reach the frozen server's backlog, but it never answers PING. */
    uint64_t failures0 = stats_of(r).connect_failures;
    CHECK(WAIT_FOR(stats_of(r).connect_failures >= failures0 + 2, 10000 * SLOW));
    CHECK(!cn_redis_is_up(r));
    expect_fast_failures(r, c, 5);
    kill(own.pid, SIGCONT);
    CHECK(cn_redis_wait_up(r, false, 10000 * SLOW));
    rep = run(r, c, 1, ping, NULL);
    CHECK(rep && rep->ok);
    cn_msg_free(rep ? &rep->hdr : NULL);
    struct cn_redis_stats s = stats_of(r);
    CHECK_EQ(s.outages, 1);
    CHECK_EQ(s.timeouts, 1);
    cn_redis_free(r);
    own_redis_kill(&own);
    collector_free(c);
}

static bool client_list_has(struct cn_redis *probe, struct collector *c, const char *needle)
{
    const char *list[] = {"CLIENT", "LIST"};
    struct cn_redis_reply *rep = run(probe, c, 2, list, NULL);
    bool has = rep && rep->ok && cn_redis_kind(rep->reply) == CN_REDIS_STRING &&
               strstr(cn_redis_str(rep->reply, NULL), needle) != NULL;
    cn_msg_free(rep ? &rep->hdr : NULL);
    return has;
}

/* Closing with commands in flight answers each exactly once; after the close a
 * command is answered at once with ok = 0 and a subscription is refused; free frees
 * everything (the ASan build checks the freeing). */
static void test_close_with_commands_in_flight(void)
{
    struct cn_redis *r = start_on(stack_host, stack_port, 0);
    struct cn_redis *probe = start_on(stack_host, stack_port, 0);
    CHECK(r && probe);
    if (!r || !probe) {
        cn_redis_free(r);
        cn_redis_free(probe);
        return;
    }
    CHECK(cn_redis_wait_up(r, false, 5000 * SLOW));
    CHECK(cn_redis_wait_up(probe, false, 5000 * SLOW));
    struct collector *c = collector_new(), *pc = collector_new();
    char key[64];
    snprintf(key, sizeof key, "cn:test:redis_client:%d:blocked", (int)getpid());
    const char *blpop[] = {"BLPOP", key, "0"};
    CHECK_EQ(cn_redis_command(r, c->actor, REPLY_TYPE, 0, 3, blpop, NULL), 0);
    /* Wait until Redis itself holds the command, so it is truly in flight. */
    CHECK(WAIT_FOR(client_list_has(probe, pc, "cmd=blpop"), 5000 * SLOW));
    const int extra = 1000;
    for (int i = 1; i <= extra; i++) {
        const char *echo[] = {"ECHO", "queued behind a blocked command"};
        CHECK_EQ(cn_redis_command(r, c->actor, REPLY_TYPE, (uint64_t)i, 2, echo, NULL), 0);
    }
    cn_redis_close(r);
    uint8_t seen[1001] = {0};
    int n = 0, ok = 0;
    struct cn_redis_reply *rep;
    while (n < extra + 1 && (rep = take_reply(c, 5000 * SLOW))) {
        n++;
        if (rep->tag <= (uint64_t)extra)
            seen[rep->tag]++;
        ok += rep->ok;
        if (!rep->ok)
            CHECK(strstr(rep->error, "stopping") != NULL);
        cn_msg_free(&rep->hdr);
    }
    CHECK_EQ(n, extra + 1);
    CHECK_EQ(ok, 0); /* all were queued behind BLPOP on the one connection */
    int once = 0;
    for (int i = 0; i <= extra; i++)
        once += seen[i] == 1;
    CHECK_EQ(once, extra + 1);
    CHECK(collector_take(c, 100) == NULL);
    /* Closed, not freed: answered at once with ok = 0, or refused. */
    const char *ping[] = {"PING"};
    CHECK_EQ(cn_redis_command(r, c->actor, REPLY_TYPE, 5000, 1, ping, NULL), 0);
    rep = take_reply(c, 5000 * SLOW);
    CHECK(rep != NULL);
    if (rep) {
        CHECK_EQ(rep->tag, 5000);
        CHECK_EQ(rep->ok, 0);
        CHECK(strstr(rep->error, "closed") != NULL);
        cn_msg_free(&rep->hdr);
    }
    CHECK_EQ(cn_redis_subscribe(r, "cn:test:closed", c->actor, REPLY_TYPE), -ESHUTDOWN);
    CHECK(!cn_redis_is_up(r));
    cn_redis_free(r);
    cn_redis_free(probe);
    collector_free(c);
    collector_free(pc);
}

static struct cn_redis_pubsub *take_pubsub(struct collector *c, int ms)
{
    cn_msg *m = collector_take(c, ms);
    if (m && m->type != PUBSUB_TYPE) {
        fprintf(stderr, "unexpected message type %u\n", m->type);
        cn_msg_free(m);
        return NULL;
    }
    return (struct cn_redis_pubsub *)m;
}

static void expect_pubsub(struct collector *c, enum cn_redis_pubsub_kind kind, const char *chan,
                          const char *payload, size_t payload_len)
{
    struct cn_redis_pubsub *m = take_pubsub(c, 5000 * SLOW);
    CHECK(m != NULL);
    if (!m)
        return;
    CHECK_EQ(m->kind, kind);
    CHECK_MEM(m->channel, m->channel_len, chan, strlen(chan));
    CHECK_MEM(m->payload, m->payload_len, payload, payload_len);
    cn_msg_free(&m->hdr);
}

static long long publish(struct cn_redis *r, struct collector *c, const char *chan,
                         const char *payload, size_t len)
{
    const char *argv[] = {"PUBLISH", chan, payload};
    size_t lens[] = {7, strlen(chan), len};
    struct cn_redis_reply *rep = run(r, c, 3, argv, lens);
    long long n = rep && rep->ok ? cn_redis_int(rep->reply) : -1;
    cn_msg_free(rep ? &rep->hdr : NULL);
    return n;
}

/* The marker is sent after everything the adapter may have sent to `c`: when it
 * arrives first, `c` was sent nothing (mailboxes are FIFO). */
static bool nothing_pending(struct collector *c)
{
    cn_msg *marker = cn_xmalloc(sizeof *marker);
    cn_msg_init(marker, MARKER_TYPE, NULL);
    cn_actor_send(c->actor, marker);
    cn_msg *m = collector_take(c, 5000 * SLOW);
    bool ok = m && m->type == MARKER_TYPE;
    cn_msg_free(m);
    return ok;
}

static void test_pubsub(void)
{
    struct own_redis own = {.port = free_port()};
    CHECK(own_redis_start(&own));
    struct cn_redis *r = start_on("127.0.0.1", own.port, 0);
    CHECK(r != NULL);
    if (!r) {
        own_redis_kill(&own);
        return;
    }
    CHECK(cn_redis_wait_up(r, true, 5000 * SLOW));
    struct collector *a = collector_new(), *b = collector_new(), *c = collector_new();
    const char *ch = "room:test-1";
    CHECK_EQ(cn_redis_subscribe(r, ch, a->actor, PUBSUB_TYPE), 0);
    CHECK_EQ(cn_redis_subscribe(r, ch, b->actor, PUBSUB_TYPE), 0);
    CHECK_EQ(cn_redis_subscribe(r, ch, b->actor, PUBSUB_TYPE), 0); /* again: no second copy */
    expect_pubsub(a, CN_REDIS_PUBSUB_SUBSCRIBED, ch, "", 0);
    expect_pubsub(b, CN_REDIS_PUBSUB_SUBSCRIBED, ch, "", 0);
    CHECK_EQ(stats_of(r).channels, 1);

    static const char payload[] = "{\"x\":1}\0tail";
    size_t plen = sizeof payload - 1;
    CHECK_EQ(publish(r, c, ch, payload, plen), 1); /* one server-side subscriber: the adapter */
    expect_pubsub(a, CN_REDIS_PUBSUB_MESSAGE, ch, payload, plen);
    expect_pubsub(b, CN_REDIS_PUBSUB_MESSAGE, ch, payload, plen);
    CHECK(nothing_pending(b));

    /* Kill the subscriber connection: it comes back, resubscribes, tells both. */
    const char *kill_sub[] = {"CLIENT", "KILL", "TYPE", "pubsub"};
    struct cn_redis_reply *rep = run(r, c, 4, kill_sub, NULL);
    CHECK(rep && rep->ok && cn_redis_int(rep->reply) == 1);
    cn_msg_free(rep ? &rep->hdr : NULL);
    expect_pubsub(a, CN_REDIS_PUBSUB_RESUBSCRIBED, ch, "", 0);
    expect_pubsub(b, CN_REDIS_PUBSUB_RESUBSCRIBED, ch, "", 0);
    CHECK_EQ(stats_of(r).sub_reconnects, 1);
    CHECK(stats_of(r).up);
    CHECK_EQ(stats_of(r).outages, 0);
    CHECK_EQ(publish(r, c, ch, "after", 5), 1);
    expect_pubsub(a, CN_REDIS_PUBSUB_MESSAGE, ch, "after", 5);
    expect_pubsub(b, CN_REDIS_PUBSUB_MESSAGE, ch, "after", 5);

    /* Unsubscribed actors get nothing more; the last one out unsubscribes the server. */
    CHECK_EQ(cn_redis_unsubscribe(r, ch, a->actor), 0);
    CHECK_EQ(publish(r, c, ch, "only b", 6), 1);
    expect_pubsub(b, CN_REDIS_PUBSUB_MESSAGE, ch, "only b", 6);
    CHECK(nothing_pending(a));
    CHECK_EQ(cn_redis_unsubscribe(r, ch, b->actor), 0);
    CHECK(WAIT_FOR(stats_of(r).channels == 0, 5000 * SLOW));
    CHECK_EQ(publish(r, c, ch, "nobody", 6), 0);

    /* A stopped actor loses its subscription without unsubscribing. */
    struct collector *d = collector_new();
    const char *ch2 = "room:test-2";
    CHECK_EQ(cn_redis_subscribe(r, ch2, d->actor, PUBSUB_TYPE), 0);
    expect_pubsub(d, CN_REDIS_PUBSUB_SUBSCRIBED, ch2, "", 0);
    collector_free(d); /* stops it; d is gone */
    CHECK_EQ(publish(r, c, ch2, "x", 1), 1);
    CHECK(WAIT_FOR(stats_of(r).channels == 0, 5000 * SLOW));
    CHECK(WAIT_FOR(publish(r, c, ch2, "y", 1) == 0, 5000 * SLOW));

    /* Subscriptions still held at stop are released (ASan checks the references). */
    CHECK_EQ(cn_redis_subscribe(r, "room:test-3", a->actor, PUBSUB_TYPE), 0);
    expect_pubsub(a, CN_REDIS_PUBSUB_SUBSCRIBED, "room:test-3", "", 0);
    struct cn_redis_stats s = stats_of(r);
    /* Received: the first payload, "after", "only b", "x"; delivered: 2 + 2 + 1 + 0. */
    CHECK_EQ(s.pubsub_received, 4);
    CHECK_EQ(s.pubsub_delivered, 5);
    cn_redis_free(r);
    own_redis_kill(&own);
    collector_free(a);
    collector_free(b);
    collector_free(c);
}

/* Many channels come back after a reconnect (the batched resubscribe). */
static void test_resubscribe_many(void)
{
    struct own_redis own = {.port = free_port()};
    CHECK(own_redis_start(&own));
    struct cn_redis *r = start_on("127.0.0.1", own.port, 0);
    CHECK(r && cn_redis_wait_up(r, true, 5000 * SLOW));
    if (!r) {
        own_redis_kill(&own);
        return;
    }
    struct collector *a = collector_new(), *c = collector_new();
    const int n = 1500;
    for (int i = 0; i < n; i++) {
        char ch[32];
        snprintf(ch, sizeof ch, "room:%d", i);
        CHECK_EQ(cn_redis_subscribe(r, ch, a->actor, PUBSUB_TYPE), 0);
    }
    int got = 0;
    struct cn_redis_pubsub *m;
    while (got < n && (m = take_pubsub(a, 5000 * SLOW))) {
        got += m->kind == CN_REDIS_PUBSUB_SUBSCRIBED;
        cn_msg_free(&m->hdr);
    }
    CHECK_EQ(got, n);
    own_redis_kill(&own);
    CHECK(WAIT_FOR(!stats_of(r).sub_up, 5000 * SLOW));
    CHECK(own_redis_start(&own));
    got = 0;
    while (got < n && (m = take_pubsub(a, 10000 * SLOW))) {
        got += m->kind == CN_REDIS_PUBSUB_RESUBSCRIBED;
        cn_msg_free(&m->hdr);
    }
    CHECK_EQ(got, n);
    CHECK(cn_redis_wait_up(r, true, 5000 * SLOW));
    CHECK_EQ(publish(r, c, "room:1499", "z", 1), 1);
    expect_pubsub(a, CN_REDIS_PUBSUB_MESSAGE, "room:1499", "z", 1);
    CHECK_EQ(stats_of(r).channels, (uint64_t)n);
    cn_redis_free(r);
    own_redis_kill(&own);
    collector_free(a);
    collector_free(c);
}

static void shutdown_runtime(void)
{
    cn_runtime_shutdown(rt);
}

/* Reads the stack's address and starts the runtime, once; every test calls it
 * first so that CN_TEST_ONLY can pick any one of them. */
static void ensure_setup(void)
{
    if (rt)
        return;
    stack_host = getenv("CN_TEST_REDIS_HOST");
    const char *port = getenv("CN_TEST_REDIS_PORT");
    if (!stack_host || !port) {
        const char *req = getenv("CN_TEST_REQUIRE_STACK");
        if (req && strcmp(req, "1") == 0) {
            fprintf(stderr, "CN_TEST_REDIS_HOST/PORT missing but CN_TEST_REQUIRE_STACK=1\n");
            exit(1);
        }
        fprintf(stderr, "skipped: CN_TEST_REDIS_HOST/PORT not set (run under ops/dev test)\n");
        exit(77);
    }
    stack_port = atoi(port);
    /* The test stack's Redis has an ACL user and a password (CN_TEST_REDIS_USER,
     * CN_TEST_REDIS_PASSWORD_FILE): every connection authenticates, as a node's do. */
    const char *pwfile = getenv("CN_TEST_REDIS_PASSWORD_FILE");
    const char *user = getenv("CN_TEST_REDIS_USER");
    if (pwfile && pwfile[0]) {
        FILE *f = fopen(pwfile, "r");
        if (!f || !fgets(stack_password, sizeof stack_password, f)) {
            fprintf(stderr, "cannot read %s\n", pwfile);
            exit(1);
        }
        fclose(f);
        stack_password[strcspn(stack_password, "\r\n")] = '\0';
        snprintf(stack_user, sizeof stack_user, "%s", user && user[0] ? user : "default");
        cn_redis_auth_set(stack_user, stack_password);
    }
    /* The adapter's thread blocks SIGPIPE itself; the test's own hiredis probes
     * (ping_ok) write from this thread. */
    signal(SIGPIPE, SIG_IGN);
    rt = cn_runtime_new(&(cn_runtime_config){.workers = 2});
    cn_runtime_start(rt);
    atexit(shutdown_runtime);
}

CN_TEST_MAIN(test_invalid_input, test_binary_roundtrip, test_many_threads, test_outage_and_recovery,
             test_unreachable_from_start, test_command_timeout, test_frozen_server,
             test_close_with_commands_in_flight, test_pubsub, test_resubscribe_many)
