/* Tests src/io/pg_pool*.c against a real PostgreSQL (CN_TEST_PG_URL) and a real actor
 * runtime: a collector actor receives every reply and the test thread waits on it
 * under deadlines.
 *
 * Covered: start failures (dead port, a port that accepts but never answers, bad
 * options); 1,000 concurrent queries from four threads answered exactly once with
 * the right tag and value, and the statement counter; parameters with SQL
 * metacharacters and UTF-8 round-tripped verbatim; server errors (42601, 23505);
 * pg_terminate_backend of every pool connection (in-flight queries fail, the pool
 * reconnects); a full outage through a TCP proxy the test cuts and restores (queued
 * queries fail at their deadline, later ones succeed); the queue bound and the queue
 * deadline; stop with queries queued, in flight and racing submitters; replies to a
 * stopped actor; prepared statements against unnamed ones (correctness, and the
 * timing printed for docs).
 *
 * Outside `ops/dev test`, a missing CN_TEST_PG_URL skips (exit 77); with
 * CN_TEST_REQUIRE_STACK=1 it fails. */
#include "check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libpq-fe.h>
#include <fcntl.h>
#include <sched.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "actors/runtime/runtime.h"
#include "base/clock.h"
#include "base/xmalloc.h"
#include "io/pg_pool.h"

#ifdef CN_SANITIZED
#define SLOW 4
#else
#define SLOW 1
#endif

#define REPLY_TYPE 7

/* Polls `cond` until it holds or `ms` (stretched under sanitizers) pass. */
#define WAIT_FOR(cond, ms)                                                                         \
    ({                                                                                             \
        uint64_t wf_deadline = cn_now_ns() + (uint64_t)(ms)*SLOW * 1000000u;                       \
        bool wf_ok;                                                                                \
        while (!(wf_ok = (cond)) && cn_now_ns() < wf_deadline) {                                   \
            struct timespec wf_ts = {0, 1000000};                                                  \
            nanosleep(&wf_ts, NULL);                                                               \
        }                                                                                          \
        wf_ok;                                                                                     \
    })

/* ---- environment ---- */

/* The adapter carries a libpq result as struct cn_pg_rows (io/pg_rows.c); this test of the
 * adapter reads it with libpq to check what the server answered, byte for byte. */
static const PGresult *res_of(const struct cn_pg_reply *r)
{
    return (const PGresult *)r->rows;
}

static const char *pg_url(void)
{
    const char *url = getenv("CN_TEST_PG_URL");
    if (url && *url)
        return url;
    const char *req = getenv("CN_TEST_REQUIRE_STACK");
    if (req && strcmp(req, "1") == 0) {
        fprintf(stderr, "CN_TEST_PG_URL is not set but CN_TEST_REQUIRE_STACK=1\n");
        exit(1);
    }
    fprintf(stderr, "skip: CN_TEST_PG_URL not set (run under ops/dev test)\n");
    exit(77);
}

/* Parts of the test URL, to build a key=value string aimed elsewhere (the proxy). */
struct pg_target {
    char host[128], port[16], user[64], password[64], dbname[64];
};

static void parse_target(struct pg_target *t)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(pg_url(), &perr);
    if (!opts) {
        fprintf(stderr, "bad CN_TEST_PG_URL: %s\n", perr ? perr : "?");
        exit(1);
    }
    memset(t, 0, sizeof *t);
    snprintf(t->host, sizeof t->host, "127.0.0.1");
    snprintf(t->port, sizeof t->port, "5432");
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val)
            continue;
        if (!strcmp(o->keyword, "host"))
            snprintf(t->host, sizeof t->host, "%s", o->val);
        else if (!strcmp(o->keyword, "port"))
            snprintf(t->port, sizeof t->port, "%s", o->val);
        else if (!strcmp(o->keyword, "user"))
            snprintf(t->user, sizeof t->user, "%s", o->val);
        else if (!strcmp(o->keyword, "password"))
            snprintf(t->password, sizeof t->password, "%s", o->val);
        else if (!strcmp(o->keyword, "dbname"))
            snprintf(t->dbname, sizeof t->dbname, "%s", o->val);
    }
    PQconninfoFree(opts);
}

/* ---- the collector actor ---- */

struct collector {
    pthread_mutex_t lock;
    size_t cap;
    struct cn_pg_reply **slot; /* first reply per tag, kept for the test */
    unsigned *count;           /* replies per tag */
    uint64_t total, bad_type, bad_tag;
};

static struct collector *collector_new(size_t cap)
{
    struct collector *c = cn_xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    c->cap = cap;
    c->slot = cn_xcalloc(cap, sizeof *c->slot);
    c->count = cn_xcalloc(cap, sizeof *c->count);
    return c;
}

static void collector_free(struct collector *c)
{
    for (size_t i = 0; i < c->cap; i++)
        cn_msg_free(c->slot[i] ? &c->slot[i]->hdr : NULL);
    free(c->slot);
    free(c->count);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static void collector_behaviour(cn_actor *self, void *state, cn_msg *msg)
{
    (void)self;
    struct collector *c = state;
    struct cn_pg_reply *r = (struct cn_pg_reply *)msg;
    pthread_mutex_lock(&c->lock);
    c->total++;
    if (msg->type != REPLY_TYPE)
        c->bad_type++;
    if (r->tag >= c->cap) {
        c->bad_tag++;
    } else {
        c->count[r->tag]++;
        if (!c->slot[r->tag]) {
            c->slot[r->tag] = r;
            r = NULL;
        }
    }
    pthread_mutex_unlock(&c->lock);
    cn_msg_free(r ? &r->hdr : NULL);
}

static uint64_t collector_total(struct collector *c)
{
    pthread_mutex_lock(&c->lock);
    uint64_t n = c->total;
    pthread_mutex_unlock(&c->lock);
    return n;
}

static bool collector_has(struct collector *c, uint64_t tag)
{
    pthread_mutex_lock(&c->lock);
    bool has = c->slot[tag] != NULL;
    pthread_mutex_unlock(&c->lock);
    return has;
}

/* Waits for the reply to `tag` and takes it (caller frees with cn_msg_free); NULL
 * after the deadline. */
static struct cn_pg_reply *collector_take(struct collector *c, uint64_t tag, int ms)
{
    if (!WAIT_FOR(collector_has(c, tag), ms))
        return NULL;
    pthread_mutex_lock(&c->lock);
    struct cn_pg_reply *r = c->slot[tag];
    c->slot[tag] = NULL;
    pthread_mutex_unlock(&c->lock);
    return r;
}

struct fixture {
    cn_runtime *rt;
    cn_actor *actor;
    struct collector *col;
};

static void fixture_start(struct fixture *f, size_t cap)
{
    cn_runtime_config cfg = {.workers = 2};
    f->rt = cn_runtime_new(&cfg);
    CHECK_EQ(cn_runtime_start(f->rt), 0);
    f->col = collector_new(cap);
    f->actor = cn_actor_spawn(f->rt, collector_behaviour, f->col, NULL);
}

static void fixture_stop(struct fixture *f)
{
    cn_runtime_shutdown(f->rt);
    cn_actor_unref(f->actor);
    CHECK_EQ(f->col->bad_type, 0);
    CHECK_EQ(f->col->bad_tag, 0);
    collector_free(f->col);
}

/* Submits one query and waits for its reply (caller frees). */
static struct cn_pg_reply *run1(struct fixture *f, struct cn_pg_pool *p, uint64_t tag,
                                const char *sql, int n, const char *const *params)
{
    int rc = cn_pg_pool_query(p, f->actor, REPLY_TYPE, tag, sql, n, params);
    CHECK_EQ(rc, 0);
    if (rc != 0)
        return NULL;
    struct cn_pg_reply *r = collector_take(f->col, tag, 10000);
    CHECK(r != NULL);
    return r;
}

static void check_ok(struct cn_pg_reply *r)
{
    CHECK(r != NULL);
    if (!r)
        return;
    if (!r->ok)
        fprintf(stderr, "  unexpected error %s: %s\n", r->sqlstate, r->error);
    CHECK_EQ(r->ok, 1);
    CHECK(r->rows != NULL);
}

static struct cn_pg_pool_stats stats_of(struct cn_pg_pool *p)
{
    struct cn_pg_pool_stats s;
    cn_pg_pool_stats(p, &s);
    return s;
}

static struct cn_pg_pool *start_or_fail(const struct cn_pg_pool_opts *o)
{
    char err[256] = "";
    struct cn_pg_pool *p = cn_pg_pool_start_opts(o, err, sizeof err);
    if (!p) {
        fprintf(stderr, "pool start failed: %s\n", err);
        exit(1);
    }
    return p;
}

/* A loopback port with nothing listening: bound, read back, closed. */
static int dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        abort();
    close(fd);
    return ntohs(a.sin_port);
}

/* A listening socket that is never accepted from: connects succeed (the kernel
 * completes the handshake) and then nothing is ever said. */
static int silent_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        abort();
    *port = ntohs(a.sin_port);
    return fd;
}

/* ---- start-up ---- */

static void test_start_failures(void)
{
    char err[256], url[256], want[64];
    (void)pg_url(); /* skip or fail before anything else when the stack is missing */

    int port = dead_port();
    snprintf(url, sizeof url, "postgresql://chat:secret-pw@127.0.0.1:%d/chat", port);
    uint64_t t0 = cn_now_ns();
    struct cn_pg_pool *p = cn_pg_pool_start(url, 2, err, sizeof err);
    CHECK(p == NULL);
    snprintf(want, sizeof want, "127.0.0.1:%d", port);
    fprintf(stderr, "  dead port: %s\n", err);
    CHECK(strstr(err, want) != NULL);
    CHECK(strstr(err, "secret-pw") == NULL);
    CHECK_INT(cn_now_ns() - t0, <, 3000000000ull * SLOW);

    int lfd = silent_listener(&port);
    snprintf(url, sizeof url, "postgresql://chat@127.0.0.1:%d/chat", port);
    struct cn_pg_pool_opts o = {.url = url, .size = 2, .connect_timeout_ms = 300};
    t0 = cn_now_ns();
    p = cn_pg_pool_start_opts(&o, err, sizeof err);
    uint64_t took_ms = (cn_now_ns() - t0) / 1000000u;
    CHECK(p == NULL);
    fprintf(stderr, "  silent port: %s (%llu ms)\n", err, (unsigned long long)took_ms);
    snprintf(want, sizeof want, "127.0.0.1:%d", port);
    CHECK(strstr(err, want) != NULL);
    CHECK(strstr(err, "no answer within 300 ms") != NULL);
    CHECK_INT(took_ms, >=, 290);
    CHECK_INT(took_ms, <, 1500 * SLOW);
    close(lfd);

    CHECK(cn_pg_pool_start("postgresql://[::1", 1, err, sizeof err) == NULL);
    CHECK(strstr(err, "invalid connection URL") != NULL);
    CHECK(cn_pg_pool_start(pg_url(), 0, err, sizeof err) == NULL);
    CHECK(strstr(err, "pool size 0") != NULL);
    CHECK(cn_pg_pool_start(pg_url(), 65, err, sizeof err) == NULL);
    CHECK(cn_pg_pool_start(NULL, 1, err, sizeof err) == NULL);
    CHECK(strstr(err, "no connection URL") != NULL);
    struct cn_pg_pool_opts neg = {.url = pg_url(), .size = 1, .query_timeout_ms = -1};
    CHECK(cn_pg_pool_start_opts(&neg, err, sizeof err) == NULL);
    CHECK(strstr(err, "negative") != NULL);
}

static void test_invalid_queries(void)
{
    struct fixture f;
    fixture_start(&f, 4);
    struct cn_pg_pool_opts o = {.url = pg_url(), .size = 1};
    struct cn_pg_pool *p = start_or_fail(&o);
    const char *one[] = {"1"};
    CHECK_EQ(cn_pg_pool_query(NULL, f.actor, REPLY_TYPE, 0, "SELECT 1", 0, NULL), -EINVAL);
    CHECK_EQ(cn_pg_pool_query(p, NULL, REPLY_TYPE, 0, "SELECT 1", 0, NULL), -EINVAL);
    CHECK_EQ(cn_pg_pool_query(p, f.actor, REPLY_TYPE, 0, NULL, 0, NULL), -EINVAL);
    CHECK_EQ(cn_pg_pool_query(p, f.actor, REPLY_TYPE, 0, "", 0, NULL), -EINVAL);
    CHECK_EQ(cn_pg_pool_query(p, f.actor, REPLY_TYPE, 0, "SELECT $1", -1, one), -EINVAL);
    CHECK_EQ(cn_pg_pool_query(p, f.actor, REPLY_TYPE, 0, "SELECT $1", 1, NULL), -EINVAL);
    CHECK_EQ(cn_pg_pool_query(p, f.actor, REPLY_TYPE, 0, "SELECT $1", 65536, one), -EINVAL);
    CHECK_STR(cn_pg_pool_strerror(-EAGAIN), "database queue full");
    struct cn_pg_pool_stats s = stats_of(p);
    CHECK_EQ(s.queries, 0);
    CHECK_EQ(s.queued, 0);
    cn_pg_pool_free(p);
    CHECK_EQ(collector_total(f.col), 0);
    fixture_stop(&f);
}

/* ---- close, then free ---- */

/* cn_pg_pool_close answers what is queued and in flight (sqlstate STOPPING), then
 * refuses with -ESHUTDOWN while the memory and the counters stay, until free. */
static void test_close_then_free(void)
{
    struct fixture f;
    fixture_start(&f, 8);
    struct cn_pg_pool_opts o = {.url = pg_url(), .size = 1};
    struct cn_pg_pool *p = start_or_fail(&o);
    for (uint64_t t = 0; t < 3; t++)
        CHECK_EQ(cn_pg_pool_query(p, f.actor, REPLY_TYPE, t, "SELECT pg_sleep(0.5)", 0, NULL), 0);
    CHECK(WAIT_FOR(stats_of(p).in_flight == 1 && stats_of(p).queued == 2, 5000));
    cn_pg_pool_close(p);
    for (uint64_t t = 0; t < 3; t++) {
        struct cn_pg_reply *r = collector_take(f.col, t, 5000);
        CHECK(r != NULL);
        if (r) {
            CHECK_EQ(r->ok, 0);
            CHECK_STR(r->sqlstate, CN_PG_SQLSTATE_STOPPING);
        }
        cn_msg_free(r ? &r->hdr : NULL);
    }
    CHECK_EQ(cn_pg_pool_query(p, f.actor, REPLY_TYPE, 4, "SELECT 1", 0, NULL), -ESHUTDOWN);
    struct cn_pg_pool_stats s = stats_of(p);
    CHECK_EQ(s.in_flight, 0);
    CHECK_EQ(s.queued, 0);
    CHECK_EQ(s.conns_up, 0);
    CHECK_EQ(s.errors, 3);
    cn_pg_pool_close(p); /* idempotent */
    fixture_stop(&f);    /* the runtime goes first, as in chat-node */
    cn_pg_pool_free(p);
}

/* ---- 1,000 concurrent queries ---- */

enum { SUBMITTERS = 4, PER_SUBMITTER = 250, TOTAL = SUBMITTERS * PER_SUBMITTER };

struct submit_arg {
    struct cn_pg_pool *pool;
    cn_actor *actor;
    int first;
    _Atomic int failures;
};

static void *submitter(void *arg)
{
    struct submit_arg *a = arg;
    for (int i = a->first; i < a->first + PER_SUBMITTER; i++) {
        char n[24], t[32];
        snprintf(n, sizeof n, "%d", i);
        snprintf(t, sizeof t, "tag-%d", i);
        const char *params[] = {n, t};
        if (cn_pg_pool_query(a->pool, a->actor, REPLY_TYPE, (uint64_t)i,
                             "SELECT $1::bigint * 2, $2::text", 2, params) != 0)
            atomic_fetch_add(&a->failures, 1);
    }
    return NULL;
}

static void test_concurrent_1000(void)
{
    struct fixture f;
    fixture_start(&f, TOTAL);
    struct cn_pg_pool_opts o = {.url = pg_url(), .size = 4};
    struct cn_pg_pool *p = start_or_fail(&o);
    CHECK_EQ(stats_of(p).conns_up, 4);

    pthread_t th[SUBMITTERS];
    struct submit_arg args[SUBMITTERS];
    for (int i = 0; i < SUBMITTERS; i++) {
        args[i] = (struct submit_arg){.pool = p, .actor = f.actor, .first = i * PER_SUBMITTER};
        pthread_create(&th[i], NULL, submitter, &args[i]);
    }
    for (int i = 0; i < SUBMITTERS; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(atomic_load(&args[i].failures), 0);
    }
    CHECK(WAIT_FOR(collector_total(f.col) >= TOTAL, 20000));
    CHECK(WAIT_FOR(stats_of(p).in_flight == 0 && stats_of(p).queued == 0, 5000));
    CHECK_EQ(collector_total(f.col), TOTAL);

    int wrong = 0;
    for (int i = 0; i < TOTAL; i++) {
        if (f.col->count[i] != 1) {
            wrong++;
            continue;
        }
        struct cn_pg_reply *r = collector_take(f.col, (uint64_t)i, 0);
        char want[24], tag[32];
        snprintf(want, sizeof want, "%d", 2 * i);
        snprintf(tag, sizeof tag, "tag-%d", i);
        if (!r || !r->ok || PQntuples(res_of(r)) != 1 ||
            strcmp(PQgetvalue(res_of(r), 0, 0), want) != 0 ||
            strcmp(PQgetvalue(res_of(r), 0, 1), tag) != 0)
            wrong++;
        cn_msg_free(r ? &r->hdr : NULL);
    }
    CHECK_EQ(wrong, 0);

    struct cn_pg_pool_stats s = stats_of(p);
    CHECK_EQ(s.queries, TOTAL); /* one statement per query: the counter REST tests use */
    CHECK_INT(s.prepares, >=, 1);
    CHECK_INT(s.prepares, <=, 4); /* one SQL text, prepared once per connection at most */
    CHECK_EQ(s.errors, 0);
    CHECK_EQ(s.latency_count, TOTAL);
    uint64_t sum = 0;
    for (int i = 0; i <= CN_PG_LATENCY_BUCKETS; i++)
        sum += s.latency_buckets[i];
    CHECK_EQ(sum, TOTAL);
    cn_pg_pool_free(p);
    fixture_stop(&f);
}

/* ---- verbatim parameters and server errors ---- */

static void test_verbatim_and_errors(void)
{
    struct fixture f;
    fixture_start(&f, 64);
    /* One connection: the temp table lives in that session. */
    struct cn_pg_pool_opts o = {.url = pg_url(), .size = 1};
    struct cn_pg_pool *p = start_or_fail(&o);
    uint64_t tag = 0;
    struct cn_pg_reply *r;

    r = run1(&f, p, tag++, "CREATE TEMP TABLE pgpool_t (id int PRIMARY KEY, v text, u text UNIQUE)",
             0, NULL);
    check_ok(r);
    cn_msg_free(r ? &r->hdr : NULL);

    const char *values[] = {
        "'; DROP TABLE pgpool_t; --",
        "back\\slash \\x41 and \"double\" and 'single' quotes",
        "$1 $2 %s %n ? :name",
        "h\xc3\xa9llo w\xc3\xb6rld \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x8e\x89", /* héllo wörld 世界 🎉
                                                                                */
        "",
        "line1\nline2\ttab\r",
        NULL, /* SQL NULL */
    };
    enum { NV = sizeof values / sizeof values[0] };
    for (int i = 0; i < NV; i++) {
        char id[8], u[16];
        snprintf(id, sizeof id, "%d", i);
        snprintf(u, sizeof u, "u%d", i);
        const char *params[] = {id, values[i], u};
        r = run1(&f, p, tag++, "INSERT INTO pgpool_t (id, v, u) VALUES ($1, $2, $3)", 3, params);
        check_ok(r);
        if (r && r->ok)
            CHECK_STR(PQcmdTuples((PGresult *)res_of(r)), "1");
        cn_msg_free(r ? &r->hdr : NULL);
    }
    r = run1(&f, p, tag++, "SELECT id, v FROM pgpool_t ORDER BY id", 0, NULL);
    check_ok(r);
    if (r && r->ok) {
        CHECK_EQ(PQntuples(res_of(r)), NV);
        for (int i = 0; i < NV && i < PQntuples(res_of(r)); i++) {
            if (values[i]) {
                CHECK_EQ(PQgetisnull(res_of(r), i, 1), 0);
                CHECK_STR(PQgetvalue(res_of(r), i, 1), values[i]);
            } else {
                CHECK_EQ(PQgetisnull(res_of(r), i, 1), 1);
            }
        }
    }
    cn_msg_free(r ? &r->hdr : NULL);

    /* A syntax error: ok = 0, SQLSTATE 42601, a message, no result; the connection
     * stays usable. */
    r = run1(&f, p, tag++, "SELEC 1", 0, NULL);
    CHECK(r != NULL);
    if (r) {
        CHECK_EQ(r->ok, 0);
        CHECK(r->rows == NULL);
        CHECK_STR(r->sqlstate, "42601");
        CHECK(strstr(r->error, "syntax error") != NULL);
        CHECK(strchr(r->error, '\n') == NULL);
        cn_msg_free(&r->hdr);
    }

    /* A unique violation: 23505. */
    const char *dup[] = {"100", "x", "u1"};
    r = run1(&f, p, tag++, "INSERT INTO pgpool_t (id, v, u) VALUES ($1, $2, $3)", 3, dup);
    CHECK(r != NULL);
    if (r) {
        CHECK_EQ(r->ok, 0);
        CHECK_STR(r->sqlstate, "23505");
        CHECK(strstr(r->error, "duplicate key") != NULL);
        cn_msg_free(&r->hdr);
    }

    /* Too few parameters for the statement: a clean server error. */
    r = run1(&f, p, tag++, "SELECT $1::int + $2::int", 1, dup);
    CHECK(r != NULL);
    if (r) {
        CHECK_EQ(r->ok, 0);
        CHECK_INT(strlen(r->sqlstate), ==, 5);
        CHECK(r->error[0] != '\0');
        cn_msg_free(&r->hdr);
    }

    r = run1(&f, p, tag++, "SELECT count(*) FROM pgpool_t", 0, NULL);
    check_ok(r);
    if (r && r->ok)
        CHECK_STR(PQgetvalue(res_of(r), 0, 0), "7");
    cn_msg_free(r ? &r->hdr : NULL);

    struct cn_pg_pool_stats s = stats_of(p);
    CHECK_EQ(s.errors, 3);
    CHECK_EQ(s.reconnects, 0);
    cn_pg_pool_free(p);
    fixture_stop(&f);
}

/* ---- pg_terminate_backend ---- */

static int admin_exec(PGconn *admin, const char *sql, const char *app)
{
    const char *params[] = {app};
    PGresult *res = PQexecParams(admin, sql, 1, NULL, params, NULL, NULL, 0);
    int n = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1
                ? atoi(PQgetvalue(res, 0, 0))
                : -1;
    if (n < 0)
        fprintf(stderr, "  admin query failed: %s", PQerrorMessage(admin));
    PQclear(res);
    return n;
}

static void test_terminate_backend(void)
{
    struct fixture f;
    fixture_start(&f, 128);
    char app[64];
    snprintf(app, sizeof app, "cn-pgpool-test-%d", (int)getpid());
    struct cn_pg_pool_opts o = {
        .url = pg_url(), .size = 4, .application_name = app, .backoff_min_ms = 50};
    struct cn_pg_pool *p = start_or_fail(&o);
    PGconn *admin = PQconnectdb(pg_url());
    CHECK_EQ(PQstatus(admin), CONNECTION_OK);
    const char *count_sql = "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1";
    CHECK_EQ(admin_exec(admin, count_sql, app), 4);

    /* Two queries in flight, two idle connections. */
    for (uint64_t t = 0; t < 2; t++)
        CHECK_EQ(cn_pg_pool_query(p, f.actor, REPLY_TYPE, t, "SELECT pg_sleep(60)", 0, NULL), 0);
    CHECK(WAIT_FOR(stats_of(p).in_flight == 2, 5000));

    CHECK_EQ(admin_exec(admin,
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE application_name = $1",
                        app),
             4);
    for (uint64_t t = 0; t < 2; t++) {
        struct cn_pg_reply *r = collector_take(f.col, t, 10000);
        CHECK(r != NULL);
        if (!r)
            continue;
        fprintf(stderr, "  in-flight query %d: %s %s\n", (int)t, r->sqlstate, r->error);
        CHECK_EQ(r->ok, 0);
        CHECK(strcmp(r->sqlstate, "57P01") == 0 || strcmp(r->sqlstate, "08006") == 0);
        CHECK(r->error[0] != '\0');
        cn_msg_free(&r->hdr);
    }
    /* Every connection (the idle ones too) notices and comes back. */
    CHECK(WAIT_FOR(stats_of(p).reconnects >= 4 && stats_of(p).conns_up == 4, 10000));
    CHECK_EQ(admin_exec(admin, count_sql, app), 4);

    for (uint64_t t = 10; t < 60; t++)
        CHECK_EQ(cn_pg_pool_query(p, f.actor, REPLY_TYPE, t, "SELECT 1", 0, NULL), 0);
    int ok = 0;
    for (uint64_t t = 10; t < 60; t++) {
        struct cn_pg_reply *r = collector_take(f.col, t, 10000);
        ok += r && r->ok;
        cn_msg_free(r ? &r->hdr : NULL);
    }
    CHECK_EQ(ok, 50);
    struct cn_pg_pool_stats s = stats_of(p);
    CHECK_EQ(s.errors, 2);
    CHECK_INT(s.reconnects, >=, 4);
    PQfinish(admin);
    cn_pg_pool_free(p);
    CHECK_EQ(collector_total(f.col), 52);
    fixture_stop(&f);
}

/* ---- a full outage, through a proxy the test can cut ---- */

enum { PROXY_PAIRS = 16 };

struct proxy {
    pthread_t thread;
    int ctl[2]; /* commands: 'c' cut, 'r' restore, 'q' quit */
    int port;
    struct sockaddr_in target;
    int first_lfd; /* listening before the thread starts, so the pool can connect at once */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned done; /* commands handled, under lock */
};

static int proxy_listen(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)port)};
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0) {
        perror("proxy listen");
        abort();
    }
    return fd;
}

static void *proxy_main(void *arg)
{
    struct proxy *px = arg;
    int lfd = px->first_lfd;
    int pair[PROXY_PAIRS][2];
    for (int i = 0; i < PROXY_PAIRS; i++)
        pair[i][0] = pair[i][1] = -1;
    for (;;) {
        struct pollfd pfd[2 + 2 * PROXY_PAIRS];
        int n = 0;
        pfd[n++] = (struct pollfd){.fd = px->ctl[0], .events = POLLIN};
        pfd[n++] = (struct pollfd){.fd = lfd, .events = POLLIN};
        for (int i = 0; i < PROXY_PAIRS; i++) {
            pfd[n++] = (struct pollfd){.fd = pair[i][0], .events = POLLIN};
            pfd[n++] = (struct pollfd){.fd = pair[i][1], .events = POLLIN};
        }
        if (poll(pfd, (nfds_t)n, -1) < 0)
            continue;
        if (pfd[0].revents & POLLIN) {
            char cmd;
            if (read(px->ctl[0], &cmd, 1) != 1)
                abort();
            if (cmd == 'c' || cmd == 'q') {
                if (lfd >= 0)
                    close(lfd);
                lfd = -1;
                for (int i = 0; i < PROXY_PAIRS; i++)
                    for (int k = 0; k < 2; k++)
                        if (pair[i][k] >= 0) {
                            close(pair[i][k]);
                            pair[i][k] = -1;
                        }
            } else if (cmd == 'r' && lfd < 0) {
                lfd = proxy_listen(px->port);
            }
            pthread_mutex_lock(&px->lock);
            px->done++;
            pthread_cond_broadcast(&px->cond);
            pthread_mutex_unlock(&px->lock);
            if (cmd == 'q')
                return NULL;
            continue;
        }
        if (lfd >= 0 && (pfd[1].revents & POLLIN)) {
            int a = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            int b = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            int slot = -1;
            for (int i = 0; i < PROXY_PAIRS && slot < 0; i++)
                if (pair[i][0] < 0)
                    slot = i;
            if (a < 0 || slot < 0 ||
                connect(b, (struct sockaddr *)&px->target, sizeof px->target) != 0) {
                if (a >= 0)
                    close(a);
                close(b);
            } else {
                pair[slot][0] = a;
                pair[slot][1] = b;
            }
        }
        for (int i = 0; i < PROXY_PAIRS; i++) {
            for (int k = 0; k < 2; k++) {
                short rev = pfd[2 + 2 * i + k].revents;
                if (pair[i][k] < 0 || !rev)
                    continue;
                char buf[16384];
                ssize_t got = read(pair[i][k], buf, sizeof buf);
                bool dead = got <= 0;
                for (ssize_t off = 0; !dead && off < got;) {
                    ssize_t w = write(pair[i][1 - k], buf + off, (size_t)(got - off));
                    if (w <= 0)
                        dead = true;
                    else
                        off += w;
                }
                if (dead) {
                    close(pair[i][0]);
                    close(pair[i][1]);
                    pair[i][0] = pair[i][1] = -1;
                    break;
                }
            }
        }
    }
}

/* Sends a command and waits until the proxy thread has carried it out. */
static void proxy_cmd(struct proxy *px, char cmd)
{
    pthread_mutex_lock(&px->lock);
    unsigned want = px->done + 1;
    if (write(px->ctl[1], &cmd, 1) != 1)
        abort();
    while (px->done < want)
        pthread_cond_wait(&px->cond, &px->lock);
    pthread_mutex_unlock(&px->lock);
}

static void proxy_start(struct proxy *px, const struct pg_target *t)
{
    memset(px, 0, sizeof *px);
    px->port = dead_port();
    px->target.sin_family = AF_INET;
    px->target.sin_port = htons((uint16_t)atoi(t->port));
    if (inet_pton(AF_INET, t->host, &px->target.sin_addr) != 1) {
        fprintf(stderr, "the proxy test needs an IPv4 host in CN_TEST_PG_URL, not %s\n", t->host);
        exit(1);
    }
    if (pipe2(px->ctl, O_CLOEXEC) != 0)
        abort();
    pthread_mutex_init(&px->lock, NULL);
    pthread_cond_init(&px->cond, NULL);
    px->first_lfd = proxy_listen(px->port);
    pthread_create(&px->thread, NULL, proxy_main, px);
}

static void proxy_stop(struct proxy *px)
{
    proxy_cmd(px, 'q');
    pthread_join(px->thread, NULL);
    close(px->ctl[0]);
    close(px->ctl[1]);
    pthread_mutex_destroy(&px->lock);
    pthread_cond_destroy(&px->cond);
}

static void test_outage_via_proxy(void)
{
    struct pg_target t;
    parse_target(&t);
    struct proxy px;
    proxy_start(&px, &t);
    char url[512];
    snprintf(url, sizeof url, "host=127.0.0.1 port=%d user=%s password=%s dbname=%s", px.port,
             t.user, t.password, t.dbname);

    struct fixture f;
    fixture_start(&f, 64);
    struct cn_pg_pool_opts o = {.url = url,
                                .size = 2,
                                .query_timeout_ms = 1500,
                                .backoff_min_ms = 20,
                                .backoff_max_ms = 200,
                                .connect_timeout_ms = 2000};
    struct cn_pg_pool *p = start_or_fail(&o);
    struct cn_pg_reply *r = run1(&f, p, 0, "SELECT 1", 0, NULL);
    check_ok(r);
    cn_msg_free(r ? &r->hdr : NULL);

    /* Cut everything: both connections break, reconnects are refused. Queries wait
     * for their deadline, then fail with a clear error; none hangs. */
    proxy_cmd(&px, 'c');
    CHECK(WAIT_FOR(stats_of(p).conns_up == 0, 5000));
    uint64_t t0 = cn_now_ns();
    for (uint64_t tag = 1; tag <= 3; tag++)
        CHECK_EQ(cn_pg_pool_query(p, f.actor, REPLY_TYPE, tag, "SELECT 1", 0, NULL), 0);
    for (uint64_t tag = 1; tag <= 3; tag++) {
        r = collector_take(f.col, tag, 5000);
        CHECK(r != NULL);
        if (!r)
            continue;
        CHECK_EQ(r->ok, 0);
        CHECK_STR(r->sqlstate, CN_PG_SQLSTATE_UNAVAILABLE);
        CHECK(strstr(r->error, "no connection for 1500 ms") != NULL);
        CHECK_INT(r->latency_ns, >=, 1500000000ull);
        cn_msg_free(&r->hdr);
    }
    uint64_t waited_ms = (cn_now_ns() - t0) / 1000000u;
    CHECK_INT(waited_ms, <, 1500 + 1000 * SLOW);
    CHECK_EQ(stats_of(p).timeouts, 3);

    /* A query queued during the outage is sent once the database is back. */
    CHECK_EQ(cn_pg_pool_query(p, f.actor, REPLY_TYPE, 4, "SELECT 42", 0, NULL), 0);
    proxy_cmd(&px, 'r');
    r = collector_take(f.col, 4, 5000);
    check_ok(r);
    if (r && r->ok)
        CHECK_STR(PQgetvalue(res_of(r), 0, 0), "42");
    cn_msg_free(r ? &r->hdr : NULL);
    CHECK(WAIT_FOR(stats_of(p).conns_up == 2, 5000));
    CHECK_INT(stats_of(p).reconnects, >=, 2);

    cn_pg_pool_free(p);
    fixture_stop(&f);
    proxy_stop(&px);
}

/* ---- the queue bound, the queue deadline, stop with a query in flight ---- */

static void test_queue_bound_and_deadline(void)
{
    struct fixture f;
    fixture_start(&f, 16);
    struct cn_pg_pool_opts o = {
        .url = pg_url(), .size = 1, .max_queue = 5, .query_timeout_ms = 300};
    struct cn_pg_pool *p = start_or_fail(&o);
    CHECK_EQ(cn_pg_pool_query(p, f.actor, REPLY_TYPE, 0, "SELECT pg_sleep(30)", 0, NULL), 0);
    CHECK(WAIT_FOR(stats_of(p).in_flight == 1 && stats_of(p).queued == 0, 5000));
    for (uint64_t t = 1; t <= 5; t++)
        CHECK_EQ(cn_pg_pool_query(p, f.actor, REPLY_TYPE, t, "SELECT 1", 0, NULL), 0);
    CHECK_EQ(cn_pg_pool_query(p, f.actor, REPLY_TYPE, 6, "SELECT 1", 0, NULL), -EAGAIN);
    CHECK_EQ(stats_of(p).rejected, 1);
    for (uint64_t t = 1; t <= 5; t++) {
        struct cn_pg_reply *r = collector_take(f.col, t, 5000);
        CHECK(r != NULL);
        if (!r)
            continue;
        CHECK_EQ(r->ok, 0);
        CHECK_STR(r->sqlstate, CN_PG_SQLSTATE_TIMEOUT);
        CHECK(strstr(r->error, "database busy") != NULL);
        CHECK_INT(r->latency_ns, >=, 300000000ull);
        cn_msg_free(&r->hdr);
    }
    /* The queue has room again. */
    CHECK_EQ(stats_of(p).queued, 0);

    /* Stop while pg_sleep(30) runs: it is answered at once, not after 30 s. */
    uint64_t t0 = cn_now_ns();
    cn_pg_pool_free(p);
    struct cn_pg_reply *r = collector_take(f.col, 0, 5000);
    CHECK_INT((cn_now_ns() - t0) / 1000000u, <, 3000 * SLOW);
    CHECK(r != NULL);
    if (r) {
        CHECK_EQ(r->ok, 0);
        CHECK_STR(r->sqlstate, CN_PG_SQLSTATE_STOPPING);
        cn_msg_free(&r->hdr);
    }
    CHECK_EQ(collector_total(f.col), 6);
    fixture_stop(&f);
}

/* ---- stop under load, and replies to a stopped actor ---- */

enum { RACERS = 3, RACE_CAP = 1 << 20 };

struct racer {
    struct cn_pg_pool *pool;
    cn_actor *actor;
    _Atomic uint64_t *next_tag;
    _Atomic uint64_t accepted;
    uint64_t other_rc;
};

static void *racer_main(void *arg)
{
    struct racer *r = arg;
    for (;;) {
        uint64_t tag = atomic_fetch_add(r->next_tag, 1);
        if (tag >= RACE_CAP)
            return NULL;
        int rc;
        /* A full queue is backpressure: retry the same tag a moment later. */
        while ((rc = cn_pg_pool_query(r->pool, r->actor, REPLY_TYPE, tag, "SELECT 1", 0, NULL)) ==
               -EAGAIN)
            sched_yield();
        if (rc == 0)
            atomic_fetch_add(&r->accepted, 1);
        else if (rc == -ESHUTDOWN)
            return NULL;
        else
            r->other_rc++;
    }
}

static void test_stop_under_load(void)
{
    struct fixture f;
    fixture_start(&f, RACE_CAP);
    struct cn_pg_pool_opts o = {.url = pg_url(), .size = 2, .max_queue = 2000};
    struct cn_pg_pool *p = start_or_fail(&o);

    /* A second actor, stopped while its queries run: the replies are dropped by the
     * runtime and freed (ASan checks). */
    struct collector *gone_col = collector_new(8);
    cn_actor *gone = cn_actor_spawn(f.rt, collector_behaviour, gone_col, NULL);
    for (uint64_t t = 0; t < 4; t++)
        CHECK_EQ(cn_pg_pool_query(p, gone, REPLY_TYPE, t, "SELECT pg_sleep(0.2)", 0, NULL), 0);
    cn_actor_stop(gone);

    _Atomic uint64_t next_tag = 0;
    struct racer rs[RACERS];
    pthread_t th[RACERS];
    for (int i = 0; i < RACERS; i++) {
        rs[i] = (struct racer){.pool = p, .actor = f.actor, .next_tag = &next_tag};
        pthread_create(&th[i], NULL, racer_main, &rs[i]);
    }
    CHECK(WAIT_FOR(stats_of(p).latency_count >= 500 && stats_of(p).queued > 0, 20000));
    cn_pg_pool_close(p); /* racers see -ESHUTDOWN and end */
    uint64_t accepted = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(th[i], NULL);
        accepted += atomic_load(&rs[i].accepted);
        CHECK_EQ(rs[i].other_rc, 0);
    }
    CHECK_EQ(cn_pg_pool_query(p, f.actor, REPLY_TYPE, 0, "SELECT 1", 0, NULL), -ESHUTDOWN);
    struct cn_pg_pool_stats s = stats_of(p);
    CHECK_EQ(s.in_flight, 0);
    CHECK_EQ(s.queued, 0);
    CHECK_EQ(s.conns_up, 0);
    cn_pg_pool_free(p);
    CHECK_INT(accepted, >, 0);
    /* Every accepted query is answered exactly once: ok, or stopped. */
    CHECK(WAIT_FOR(collector_total(f.col) >= accepted, 10000));
    CHECK_EQ(collector_total(f.col), accepted);
    uint64_t ok = 0, stopped = 0, dup = 0;
    for (uint64_t t = 0; t < RACE_CAP && t < atomic_load(&next_tag); t++) {
        if (f.col->count[t] > 1)
            dup++;
        if (f.col->slot[t]) {
            if (f.col->slot[t]->ok)
                ok++;
            else if (!strcmp(f.col->slot[t]->sqlstate, CN_PG_SQLSTATE_STOPPING))
                stopped++;
        }
    }
    fprintf(stderr, "  accepted %llu: %llu answered, %llu stopped\n", (unsigned long long)accepted,
            (unsigned long long)ok, (unsigned long long)stopped);
    CHECK_EQ(dup, 0);
    CHECK_EQ(ok + stopped, accepted);
    CHECK_INT(stopped, >, 0);
    fixture_stop(&f);
    cn_actor_unref(gone);
    CHECK_EQ(gone_col->total, 0);
    collector_free(gone_col);
}

/* ---- prepared against unnamed statements ---- */

static double run_catalog_load(struct fixture *f, int no_prepare, int n, uint64_t base)
{
    struct cn_pg_pool_opts o = {.url = pg_url(), .size = 2, .no_prepare = no_prepare};
    struct cn_pg_pool *p = start_or_fail(&o);
    /* A join of the shape the REST handlers use: planning is a real part of its cost. */
    const char *sql = "SELECT c.relname, n.nspname, count(a.attnum) FROM pg_class c "
                      "JOIN pg_namespace n ON n.oid = c.relnamespace "
                      "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
                      "WHERE n.nspname = $1 AND c.relkind = $2 "
                      "GROUP BY c.relname, n.nspname ORDER BY c.relname LIMIT $3";
    const char *params[] = {"pg_catalog", "r", "5"};
    enum { WINDOW = 16 };
    uint64_t t0 = cn_now_ns();
    int bad = 0;
    for (int i = 0; i < n; i += WINDOW) {
        for (int k = i; k < i + WINDOW && k < n; k++)
            CHECK_EQ(cn_pg_pool_query(p, f->actor, REPLY_TYPE, base + (uint64_t)k, sql, 3, params),
                     0);
        for (int k = i; k < i + WINDOW && k < n; k++) {
            struct cn_pg_reply *r = collector_take(f->col, base + (uint64_t)k, 10000);
            if (!r || !r->ok || PQntuples(res_of(r)) != 5)
                bad++;
            cn_msg_free(r ? &r->hdr : NULL);
        }
    }
    double secs = (double)(cn_now_ns() - t0) / 1e9;
    CHECK_EQ(bad, 0);
    struct cn_pg_pool_stats s = stats_of(p);
    CHECK_EQ(s.queries, (uint64_t)n);
    if (no_prepare)
        CHECK_EQ(s.prepares, 0);
    else
        CHECK_INT(s.prepares, <=, 2);
    cn_pg_pool_free(p);
    return (double)n / secs;
}

static void test_prepared_vs_unnamed(void)
{
    enum { N = 2000 / SLOW };
    struct fixture f;
    fixture_start(&f, 4 * N);
    /* Alternate, twice each, so a warming cache or a noisy neighbour does not favour
     * one side. */
    double prep = 0, unnamed = 0;
    prep += run_catalog_load(&f, 0, N, 0);
    unnamed += run_catalog_load(&f, 1, N, N);
    prep += run_catalog_load(&f, 0, N, 2 * N);
    unnamed += run_catalog_load(&f, 1, N, 3 * N);
    fprintf(stderr,
            "  catalog join, window 16, 2 connections: prepared %.0f q/s, unnamed %.0f q/s\n",
            prep / 2, unnamed / 2);
    fixture_stop(&f);
}

CN_TEST_MAIN(test_start_failures, test_invalid_queries, test_close_then_free, test_concurrent_1000,
             test_verbatim_and_errors, test_terminate_backend, test_outage_via_proxy,
             test_queue_bound_and_deadline, test_stop_under_load, test_prepared_vs_unnamed)
