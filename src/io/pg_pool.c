/* The PostgreSQL pool: its thread, queue, dispatch and reconnect policy; see
 * pg_pool.h. One connection's libpq state machine is in pg_pool_conn.c, the
 * prepared-statement cache in pg_pool_stmt.c, requests and replies in pg_pool_req.c.
 *
 * The pool thread owns everything but the counters: the FIFO of queued requests,
 * the connections, the backoff timers. It sleeps in poll() on the inbox's eventfd
 * and the connections' sockets, with a timeout that is the nearest of: the oldest
 * queued request's deadline, a reconnect time, a connect deadline.
 *
 * Stopping without losing a reply: cn_pg_pool_query announces itself in
 * `submitters` before it looks at `stopping`, and cn_pg_pool_close sets `stopping`
 * before it waits for `submitters` to reach zero (both seq_cst, so one of the two
 * sees the other). After that wait no push can come, so the thread may drain the
 * inbox one last time and answer everything it holds. */
#include "io/pg_pool.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "actors/runtime/inbox.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "io/pg_pool_conn.h"
#include "io/pg_pool_req.h"

#define MAX_SIZE          64
#define MAX_PARAMS        65535 /* the protocol's 16-bit parameter count */
#define MAX_STMTS         256   /* prepared statements per connection */
#define DRAIN_BUDGET      1024  /* inbox messages per loop turn */
#define DEF_MAX_QUEUE     10000
#define DEF_QUERY_TIMEOUT 5000
#define DEF_CONNECT       5000
#define DEF_BACKOFF_MIN   100
#define DEF_BACKOFF_MAX   5000

const uint64_t cn_pg_latency_bounds_us[CN_PG_LATENCY_BUCKETS] = {
    500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000};

struct cn_pg_pool {
    /* Set before the thread starts, read-only afterwards. */
    int size;
    uint64_t max_queue;
    int query_timeout_ms;
    int connect_timeout_ms;
    int backoff_min_ms, backoff_max_ms;
    char *url, *app;
    const char *kw[3], *val[3];
    int wakefd;
    pthread_t thread;
    bool closed; /* owner thread: cn_pg_pool_close has run */

    cn_inbox inbox; /* any thread pushes, the pool thread drains */
    /* seq_cst, paired with `submitters`: see the file comment. */
    atomic_bool stopping;
    atomic_uint submitters;
    /* Release store by cn_pg_pool_close once no submitter remains, acquire load by
     * the pool thread: after it, the inbox gets no more pushes. */
    atomic_bool quit;

    /* Pool thread only. */
    struct cn__pg_conn *conns;
    struct cn__pg_req *q_head, *q_tail;
    int up;
    bool outage; /* no connection has been up since the last one went down */

    /* Start-up handshake between cn_pg_pool_start_opts and the thread. */
    pthread_mutex_t start_lock;
    pthread_cond_t start_cond;
    int start_attempted, start_up; /* guarded by start_lock */
    char start_err[256];           /* guarded by start_lock */

    /* Counters: relaxed everywhere, they order nothing. `queued` is also the
     * backpressure bound: submitters add, the pool thread subtracts. */
    _Atomic uint64_t queries, prepares, errors, reconnects, in_flight, queued, rejected, timeouts,
        conns_up;
    _Atomic uint64_t lat_bucket[CN_PG_LATENCY_BUCKETS + 1], lat_sum_ns, lat_count;
};

#define RELAXED            memory_order_relaxed
#define COUNT(p, field, n) atomic_fetch_add_explicit(&(p)->field, (n), RELAXED)
#define UNCOUNT(p, field)  atomic_fetch_sub_explicit(&(p)->field, 1, RELAXED)

/* ---- replies ---- */

static void record_latency(struct cn_pg_pool *p, uint64_t ns, int ok)
{
    uint64_t us = ns / 1000u;
    int b = 0;
    while (b < CN_PG_LATENCY_BUCKETS && us > cn_pg_latency_bounds_us[b])
        b++;
    COUNT(p, lat_bucket[b], 1);
    COUNT(p, lat_sum_ns, ns);
    COUNT(p, lat_count, 1);
    if (!ok)
        COUNT(p, errors, 1);
}

static void reply(struct cn_pg_pool *p, struct cn__pg_req *q, PGresult *res, const char *state,
                  const char *msg)
{
    uint64_t lat;
    int ok = cn__pg_req_reply(q, res, state, msg, cn_now_ns(), &lat);
    record_latency(p, lat, ok);
}

/* ---- the FIFO ---- */

static void enqueue(void *ctx, cn_msg *m)
{
    struct cn_pg_pool *p = ctx;
    struct cn__pg_req *q = (struct cn__pg_req *)m;
    q->next = NULL;
    if (p->q_tail)
        p->q_tail->next = q;
    else
        p->q_head = q;
    p->q_tail = q;
}

static struct cn__pg_req *dequeue(struct cn_pg_pool *p)
{
    struct cn__pg_req *q = p->q_head;
    if (q) {
        p->q_head = q->next;
        if (!p->q_head)
            p->q_tail = NULL;
        UNCOUNT(p, queued);
    }
    return q;
}

/* Fails queued requests whose deadline has passed. Requests are stamped just before
 * they are pushed, so the FIFO is in deadline order up to the few microseconds by
 * which concurrent submitters may overtake each other: looking at the head is
 * enough. */
static void expire(struct cn_pg_pool *p, uint64_t now)
{
    while (p->q_head && p->q_head->deadline_ns <= now) {
        struct cn__pg_req *q = dequeue(p);
        char msg[128];
        const char *state;
        if (p->up == 0) {
            state = CN_PG_SQLSTATE_UNAVAILABLE;
            snprintf(msg, sizeof msg, "database unavailable: no connection for %d ms",
                     p->query_timeout_ms);
        } else {
            state = CN_PG_SQLSTATE_TIMEOUT;
            snprintf(msg, sizeof msg, "database busy: query waited %d ms for a connection",
                     p->query_timeout_ms);
        }
        COUNT(p, timeouts, 1);
        reply(p, q, NULL, state, msg);
    }
}

/* ---- connection events ---- */

static void note_first_attempt(struct cn_pg_pool *p, struct cn__pg_conn *c, bool up)
{
    if (c->attempted)
        return;
    c->attempted = true;
    pthread_mutex_lock(&p->start_lock);
    p->start_attempted++;
    if (up)
        p->start_up++;
    else if (!p->start_err[0])
        snprintf(p->start_err, sizeof p->start_err, "%s", c->err);
    pthread_cond_signal(&p->start_cond);
    pthread_mutex_unlock(&p->start_lock);
}

static void schedule_retry(struct cn_pg_pool *p, struct cn__pg_conn *c, uint64_t now)
{
    c->retry_at_ns = now + (uint64_t)c->backoff_ms * 1000000u;
    c->backoff_ms = c->backoff_ms * 2 > p->backoff_max_ms ? p->backoff_max_ms : c->backoff_ms * 2;
}

static void on_events(struct cn_pg_pool *p, struct cn__pg_conn *c, unsigned ev, uint64_t now)
{
    if (ev & CN__PG_EV_PREPARED)
        COUNT(p, prepares, 1);
    if (ev & CN__PG_EV_EXECUTED)
        COUNT(p, queries, 1);
    if (ev & CN__PG_EV_DONE) {
        PGresult *res;
        const char *state, *msg;
        struct cn__pg_req *q = cn__pg_conn_take(c, &res, &state, &msg);
        UNCOUNT(p, in_flight);
        reply(p, q, res, state, msg);
    }
    if (ev & CN__PG_EV_CONNECTED) {
        c->backoff_ms = p->backoff_min_ms;
        if (c->ever_up)
            COUNT(p, reconnects, 1);
        if (c->outage_logged)
            CN_INFO("postgres", "connection %d restored after %llu ms (%u failed attempts)", c->id,
                    (unsigned long long)((now - c->down_since_ns) / 1000000u), c->failed_attempts);
        c->ever_up = true;
        c->outage_logged = false;
        c->failed_attempts = 0;
        if (p->up++ == 0 && p->outage) {
            CN_INFO("postgres", "a connection is up again; queued queries resume");
            p->outage = false;
        }
        COUNT(p, conns_up, 1);
        note_first_attempt(p, c, true);
    }
    if (ev & CN__PG_EV_CONNECT_FAILED) {
        c->failed_attempts++;
        if (!c->outage_logged) {
            CN_WARN("postgres", "connection %d cannot connect: %s; retrying with backoff", c->id,
                    c->err);
            c->outage_logged = true;
            c->down_since_ns = now;
        } else {
            CN_DEBUG("postgres", "connection %d: attempt %u failed: %s", c->id, c->failed_attempts,
                     c->err);
        }
        schedule_retry(p, c, now);
        note_first_attempt(p, c, false);
    }
    if (ev & CN__PG_EV_BROKEN) {
        CN_WARN("postgres", "connection %d lost: %s; reconnecting", c->id, c->err);
        c->outage_logged = true;
        c->down_since_ns = now;
        UNCOUNT(p, conns_up);
        if (--p->up == 0) {
            CN_WARN("postgres", "no connection is up; queries wait up to %d ms each",
                    p->query_timeout_ms);
            p->outage = true;
        }
        schedule_retry(p, c, now);
    }
}

/* Starts connections whose retry time has come and fails those past their connect
 * deadline. */
static void run_timers(struct cn_pg_pool *p, uint64_t now)
{
    for (int i = 0; i < p->size; i++) {
        struct cn__pg_conn *c = &p->conns[i];
        if (c->state == CN__PG_DOWN && c->retry_at_ns <= now)
            on_events(p, c, cn__pg_conn_connect(c, p->kw, p->val, now, p->connect_timeout_ms), now);
        else
            on_events(p, c, cn__pg_conn_tick(c, now), now);
    }
}

static void dispatch(struct cn_pg_pool *p, uint64_t now)
{
    for (int i = 0; i < p->size && p->q_head; i++) {
        struct cn__pg_conn *c = &p->conns[i];
        if (c->state != CN__PG_IDLE)
            continue;
        struct cn__pg_req *q = dequeue(p);
        COUNT(p, in_flight, 1);
        on_events(p, c, cn__pg_conn_send(c, q), now);
    }
}

/* Milliseconds until the nearest timed event, for poll(); -1 when there is none. */
static int next_timeout_ms(struct cn_pg_pool *p, uint64_t now)
{
    uint64_t next = UINT64_MAX;
    if (p->q_head)
        next = p->q_head->deadline_ns;
    for (int i = 0; i < p->size; i++) {
        const struct cn__pg_conn *c = &p->conns[i];
        if (c->state == CN__PG_DOWN && c->retry_at_ns < next)
            next = c->retry_at_ns;
        else if (c->state == CN__PG_CONNECTING && c->connect_deadline_ns < next)
            next = c->connect_deadline_ns;
    }
    if (next == UINT64_MAX)
        return -1;
    if (next <= now)
        return 0;
    uint64_t ms = (next - now + 999999u) / 1000000u; /* round up: never wake early */
    return ms > 60000 ? 60000 : (int)ms;
}

/* Answers everything the pool still holds with CN_PG_SQLSTATE_STOPPING and closes
 * the connections. Runs on the pool thread after `quit`. */
static void shut_down(struct cn_pg_pool *p)
{
    const char *msg = "database connection pool is stopping";
    cn_inbox_drain(&p->inbox, SIZE_MAX, enqueue, p);
    cn_inbox_destroy(&p->inbox);
    for (struct cn__pg_req *q; (q = dequeue(p)) != NULL;)
        reply(p, q, NULL, CN_PG_SQLSTATE_STOPPING, msg);
    for (int i = 0; i < p->size; i++) {
        struct cn__pg_conn *c = &p->conns[i];
        if (c->req) {
            PGresult *res;
            const char *state, *m;
            struct cn__pg_req *q = cn__pg_conn_take(c, &res, &state, &m);
            PQclear(res); /* a partial result: the query's outcome is unknown */
            UNCOUNT(p, in_flight);
            reply(p, q, NULL, CN_PG_SQLSTATE_STOPPING, msg);
        }
        if (c->state == CN__PG_IDLE || c->state == CN__PG_BUSY)
            UNCOUNT(p, conns_up);
        cn__pg_conn_close(c);
    }
}

static void *pool_main(void *arg)
{
    struct cn_pg_pool *p = arg;
    struct pollfd *pfd = cn_xcalloc((size_t)p->size + 1, sizeof *pfd);
    int *slot = cn_xcalloc((size_t)p->size, sizeof *slot); /* conn -> pfd index or -1 */

    /* acquire pairs with the release store in cn_pg_pool_close. */
    while (!atomic_load_explicit(&p->quit, memory_order_acquire)) {
        uint64_t now = cn_now_ns();
        run_timers(p, now);
        expire(p, now);
        dispatch(p, now);

        int n = 1;
        pfd[0] = (struct pollfd){.fd = p->wakefd, .events = POLLIN};
        for (int i = 0; i < p->size; i++) {
            slot[i] = -1;
            if (cn__pg_conn_pollfd(&p->conns[i], &pfd[n]))
                slot[i] = n++;
        }
        int rc = poll(pfd, (nfds_t)n, next_timeout_ms(p, now));
        if (rc < 0 && errno != EINTR) {
            /* Defensive: poll only fails on bad arguments or ENOMEM; do not spin. */
            CN_ERROR("postgres", "poll: %s", strerror(errno));
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
            continue;
        }
        now = cn_now_ns();
        if (pfd[0].revents & POLLIN) {
            cn_wakefd_clear(p->wakefd);
            cn_inbox_drain(&p->inbox, DRAIN_BUDGET, enqueue, p);
        }
        for (int i = 0; i < p->size; i++)
            if (slot[i] >= 0 && pfd[slot[i]].revents)
                on_events(p, &p->conns[i], cn__pg_conn_ready(&p->conns[i], pfd[slot[i]].revents),
                          now);
    }
    shut_down(p);
    free(slot);
    free(pfd);
    return NULL;
}

/* ---- public API ---- */

static void free_pool(struct cn_pg_pool *p)
{
    if (p->wakefd >= 0)
        close(p->wakefd);
    pthread_mutex_destroy(&p->start_lock);
    pthread_cond_destroy(&p->start_cond);
    free(p->conns);
    free(p->url);
    free(p->app);
    free(p);
}

struct cn_pg_pool *cn_pg_pool_start(const char *url, int size, char *err, size_t errlen)
{
    struct cn_pg_pool_opts o = {.url = url, .size = size};
    return cn_pg_pool_start_opts(&o, err, errlen);
}

static int opt_or(int v, int def)
{
    return v == 0 ? def : v;
}

struct cn_pg_pool *cn_pg_pool_start_opts(const struct cn_pg_pool_opts *o, char *err, size_t errlen)
{
    if (!o || !o->url || !*o->url) {
        snprintf(err, errlen, "postgres: no connection URL");
        return NULL;
    }
    if (o->size < 1 || o->size > MAX_SIZE) {
        snprintf(err, errlen, "postgres: pool size %d is outside 1..%d", o->size, MAX_SIZE);
        return NULL;
    }
    if (o->max_queue < 0 || o->query_timeout_ms < 0 || o->connect_timeout_ms < 0 ||
        o->backoff_min_ms < 0 || o->backoff_max_ms < 0) {
        snprintf(err, errlen, "postgres: pool limits and timeouts must not be negative");
        return NULL;
    }
    char *perr = NULL;
    PQconninfoOption *parsed = PQconninfoParse(o->url, &perr);
    if (!parsed) {
        const char *why = perr ? perr : "out of memory";
        snprintf(err, errlen, "postgres: invalid connection URL: %.*s", (int)strcspn(why, "\n"),
                 why);
        PQfreemem(perr);
        return NULL;
    }
    PQconninfoFree(parsed);

    struct cn_pg_pool *p = cn_xcalloc(1, sizeof *p);
    p->size = o->size;
    p->max_queue = (uint64_t)opt_or(o->max_queue, DEF_MAX_QUEUE);
    p->query_timeout_ms = opt_or(o->query_timeout_ms, DEF_QUERY_TIMEOUT);
    p->connect_timeout_ms = opt_or(o->connect_timeout_ms, DEF_CONNECT);
    p->backoff_min_ms = opt_or(o->backoff_min_ms, DEF_BACKOFF_MIN);
    p->backoff_max_ms = opt_or(o->backoff_max_ms, DEF_BACKOFF_MAX);
    if (p->backoff_max_ms < p->backoff_min_ms)
        p->backoff_max_ms = p->backoff_min_ms;
    p->url = cn_xstrdup(o->url);
    p->app = cn_xstrdup(o->application_name ? o->application_name : "chat-node");
    /* An explicit application_name overrides one in the URL; the default does not. */
    p->kw[0] = "dbname";
    p->val[0] = p->url;
    p->kw[1] = o->application_name ? "application_name" : "fallback_application_name";
    p->val[1] = p->app;
    pthread_mutex_init(&p->start_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->start_cond, &ca);
    pthread_condattr_destroy(&ca);

    p->wakefd = cn_wakefd_new();
    if (p->wakefd < 0) {
        snprintf(err, errlen, "postgres: eventfd: %s", strerror(-p->wakefd));
        free_pool(p);
        return NULL;
    }
    cn_inbox_init(&p->inbox, cn_wakefd_wake, (void *)(intptr_t)p->wakefd);
    p->conns = cn_xcalloc((size_t)p->size, sizeof *p->conns);
    for (int i = 0; i < p->size; i++) {
        cn__pg_conn_init(&p->conns[i], i, !o->no_prepare, MAX_STMTS);
        p->conns[i].backoff_ms = p->backoff_min_ms;
    }
    int rc = pthread_create(&p->thread, NULL, pool_main, p);
    if (rc != 0) {
        snprintf(err, errlen, "postgres: cannot start the pool thread: %s", strerror(rc));
        free_pool(p);
        return NULL;
    }

    /* Each connection's first attempt ends within connect_timeout_ms (its own
     * deadline); the extra second only guards against a stuck thread. */
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += p->connect_timeout_ms / 1000 + 1;
    until.tv_nsec += (long)(p->connect_timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->start_lock);
    while (p->start_attempted < p->size &&
           pthread_cond_timedwait(&p->start_cond, &p->start_lock, &until) != ETIMEDOUT)
        ;
    int up = p->start_up;
    if (up == 0) {
        if (p->start_err[0])
            snprintf(err, errlen, "postgres %s", p->start_err);
        else
            snprintf(err, errlen, "postgres: no connection within %d ms", p->connect_timeout_ms);
    }
    pthread_mutex_unlock(&p->start_lock);
    if (up == 0) {
        cn_pg_pool_free(p);
        return NULL;
    }
    if (up < p->size)
        CN_WARN("postgres", "pool started with %d of %d connections; the rest keep retrying", up,
                p->size);
    return p;
}

void cn_pg_pool_close(struct cn_pg_pool *p)
{
    if (!p || p->closed)
        return;
    p->closed = true;
    /* seq_cst store, then seq_cst loads of submitters: pairs with the seq_cst
     * increment then load of `stopping` in cn_pg_pool_query. */
    atomic_store_explicit(&p->stopping, true, memory_order_seq_cst);
    while (atomic_load_explicit(&p->submitters, memory_order_seq_cst) != 0)
        sched_yield(); /* a submitter is between its check and its push: a few ns */
    atomic_store_explicit(&p->quit, true, memory_order_release);
    cn_wakefd_wake((void *)(intptr_t)p->wakefd);
    pthread_join(p->thread, NULL);
}

void cn_pg_pool_free(struct cn_pg_pool *p)
{
    if (!p)
        return;
    cn_pg_pool_close(p);
    /* Defensive: the contract says no caller is left, but one that entered
     * cn_pg_pool_query just before is on its way out with -ESHUTDOWN: let it leave
     * before the memory goes. */
    while (atomic_load_explicit(&p->submitters, memory_order_seq_cst) != 0)
        sched_yield();
    free_pool(p);
}

int cn_pg_pool_query(struct cn_pg_pool *p, cn_actor *reply_to, uint32_t msg_type, uint64_t tag,
                     const char *sql, int nparams, const char *const *params)
{
    if (!p || !reply_to || !sql || !*sql || nparams < 0 || nparams > MAX_PARAMS ||
        (nparams > 0 && !params))
        return -EINVAL;
    atomic_fetch_add_explicit(&p->submitters, 1, memory_order_seq_cst);
    int rc = 0;
    if (atomic_load_explicit(&p->stopping, memory_order_seq_cst)) {
        rc = -ESHUTDOWN;
    } else if (atomic_fetch_add_explicit(&p->queued, 1, RELAXED) >= p->max_queue) {
        UNCOUNT(p, queued);
        COUNT(p, rejected, 1);
        rc = -EAGAIN;
    } else {
        struct cn__pg_req *q =
            cn__pg_req_new(reply_to, msg_type, tag, sql, nparams, params, cn_now_ns(),
                           (uint64_t)p->query_timeout_ms * 1000000u);
        cn_inbox_push(&p->inbox, &q->hdr);
    }
    /* release: our push happens-before cn_pg_pool_close or cn_pg_pool_free seeing zero (its
     * seq_cst load). */
    atomic_fetch_sub_explicit(&p->submitters, 1, memory_order_release);
    return rc;
}

const char *cn_pg_pool_strerror(int rc)
{
    switch (rc) {
    case 0:
        return "ok";
    case -EINVAL:
        return "invalid query arguments";
    case -EAGAIN:
        return "database queue full";
    case -ESHUTDOWN:
        return "database pool stopping";
    default:
        return "unknown error";
    }
}

void cn_pg_pool_stats(struct cn_pg_pool *p, struct cn_pg_pool_stats *out)
{
    memset(out, 0, sizeof *out);
    out->queries = atomic_load_explicit(&p->queries, RELAXED);
    out->prepares = atomic_load_explicit(&p->prepares, RELAXED);
    out->errors = atomic_load_explicit(&p->errors, RELAXED);
    out->reconnects = atomic_load_explicit(&p->reconnects, RELAXED);
    out->in_flight = atomic_load_explicit(&p->in_flight, RELAXED);
    out->queued = atomic_load_explicit(&p->queued, RELAXED);
    out->rejected = atomic_load_explicit(&p->rejected, RELAXED);
    out->timeouts = atomic_load_explicit(&p->timeouts, RELAXED);
    out->conns_up = atomic_load_explicit(&p->conns_up, RELAXED);
    out->conns_total = (uint64_t)p->size;
    for (int i = 0; i <= CN_PG_LATENCY_BUCKETS; i++)
        out->latency_buckets[i] = atomic_load_explicit(&p->lat_bucket[i], RELAXED);
    out->latency_sum_ns = atomic_load_explicit(&p->lat_sum_ns, RELAXED);
    out->latency_count = atomic_load_explicit(&p->lat_count, RELAXED);
}
