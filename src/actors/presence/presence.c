/* The presence actor (see presence.h): per-user session counts on this node, the
 * Redis sets that say which nodes vouch for a user, and the users.status transitions.
 *
 * Every Redis call and query carries an op code and, where it matters, the user id in
 * its tag (op << 56 | user id; user ids are bigserial values far below 2^56), so a
 * reply finds its purpose without a table of pending calls. `inflight` counts the
 * replies awaited, for cn_presence_drain. */
#include "actors/presence/presence.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/strbuf.h"
#include "base/u64map.h"
#include "base/xmalloc.h"
#include "proto/prom.h"
#include "actors/sql/queries.h"

enum {
    PR_OPENED = 0x6501,
    PR_CLOSED,
    PR_REDIS,
    PR_PG,
    PR_TICK_REFRESH,
    PR_TICK_SWEEP,
    PR_DRAIN,
};

enum {
    OP_TOUCH_FIRST = 1, /* Redis: vouch for a user's first local session */
    OP_ONLINE,          /* PG: presence_online of one user */
    OP_LEAVE,           /* Redis: withdraw and count the other nodes */
    OP_OFFLINE,         /* PG: presence_offline of one user */
    OP_REFRESH_TOUCH,   /* Redis: the refresh's vouching */
    OP_REFRESH_ONLINE,  /* PG: the refresh's presence_online */
    OP_SWEEP_LOCK,      /* Redis: SET NX of the sweep lock */
    OP_SWEEP_PAGE,      /* PG: presence_online_page */
    OP_SWEEP_LIVE,      /* Redis: which of the page's users nobody vouches for */
    OP_SWEEP_OFFLINE,   /* PG: presence_offline of those */
};

#define TAG(op, user) ((uint64_t)(op) << 56 | (uint64_t)(user))
#define TAG_OP(tag)   ((int)((tag) >> 56))
#define TAG_USER(tag) ((int64_t)((tag) & ((UINT64_C(1) << 56) - 1)))

#define CHUNK      500 /* users per EVAL or array parameter */
#define SWEEP_PAGE "500"
#define SWEEP_LOCK "presence:sweep-lock"

/* KEYS: presence:{userId}...; ARGV: node id, ttl ms. Vouches for every user until now
 * + ttl (Redis server time, the one clock every node shares), drops expired entries,
 * and keeps the key alive at least as long as the new entry. */
static const char TOUCH_LUA[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local ttl = tonumber(ARGV[2])\n"
    "for _, k in ipairs(KEYS) do\n"
    "  redis.call('ZADD', k, now + ttl, ARGV[1])\n"
    "  redis.call('ZREMRANGEBYSCORE', k, '-inf', now)\n"
    "  if redis.call('PTTL', k) < ttl then redis.call('PEXPIRE', k, ttl) end\n"
    "end\n"
    "return #KEYS\n";

/* KEYS: presence:{userId}; ARGV: node id. Withdraws this node and returns how many
 * other nodes still vouch for the user. */
static const char LEAVE_LUA[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('ZREM', KEYS[1], ARGV[1])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
    "return redis.call('ZCARD', KEYS[1])\n";

/* KEYS: presence:{userId}... Returns the 1-based indexes of the keys nobody vouches
 * for any more (expired entries dropped first). */
static const char LIVE_LUA[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local dead = {}\n"
    "for i, k in ipairs(KEYS) do\n"
    "  redis.call('ZREMRANGEBYSCORE', k, '-inf', now)\n"
    "  if redis.call('ZCARD', k) == 0 then dead[#dead + 1] = i end\n"
    "end\n"
    "return dead\n";

struct user_msg {
    cn_msg hdr;
    int64_t user_id;
};

struct cn_presence {
    struct cn_presence_opts o;
    char *node_id;
    cn_actor *actor; /* the owner's reference */
    bool closed;     /* owner thread: cn_presence_close has run */
    /* Drain: the actor sets `drained` under mu (and signals) once asked to and idle. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool drained;
    /* One for the owner, one for the actor's state; acq_rel: the last drop sees every
     * other holder's writes. */
    atomic_uint refs;
    /* Relaxed counters: totals and one gauge, nothing published through them. */
    atomic_uint_fast64_t users, online, offline, swept, sweeps, refreshes, failures;
};

/* The actor's state. */
struct pstate {
    struct cn_presence *p;
    cn_actor *self;
    struct cn_u64map count; /* user id -> (uintptr_t) open sessions on this node */
    size_t inflight;        /* Redis replies and query answers awaited */
    bool draining;
    bool sweeping;
    int64_t sweep_after; /* last user id of the previous page */
    int64_t *page;       /* the current page's user ids */
    size_t npage;
};

static void count(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed); /* relaxed: a count */
}

static void unref(struct cn_presence *p)
{
    if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
        return;
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->node_id);
    free(p);
}

/* Sends a Redis command whose reply comes back as PR_REDIS with `tag`. Returns
 * whether a reply will come (after cn_redis_close it still does, a failed one). */
static bool redis_call(struct pstate *s, uint64_t tag, int argc, const char **argv)
{
    int rc = cn_redis_command(s->p->o.redis, s->self, PR_REDIS, tag, argc, argv, NULL);
    if (rc != 0)
        return false;
    s->inflight++;
    return true;
}

/* Sends a statement whose answer comes back as PR_PG with `tag`. After
 * cn_pg_pool_close the pool refuses it (-ESHUTDOWN), quietly. */
static bool pg_call(struct pstate *s, uint64_t tag, enum cn_sql_id id, int n, const char **params)
{
    int rc = cn_pg_pool_query(s->p->o.pg, s->self, PR_PG, tag, cn_sql(id), n, params);
    if (rc != 0) {
        if (rc != -ESHUTDOWN) {
            count(&s->p->failures, 1);
            CN_WARN("presence", "%s refused: %s", cn_sql_name(id), cn_pg_pool_strerror(rc));
        }
        return false;
    }
    s->inflight++;
    return true;
}

/* presence_online / presence_offline for ids[0..n) as one bigint[] parameter. */
static void pg_ids(struct pstate *s, int op, int64_t user, enum cn_sql_id id, const int64_t *ids,
                   size_t n)
{
    struct cn_strbuf b;
    cn_strbuf_init(&b, 16 + n * 12);
    cn_strbuf_append(&b, "{", 1);
    for (size_t i = 0; i < n; i++)
        cn_strbuf_printf(&b, "%s%" PRId64, i ? "," : "", ids[i]);
    cn_strbuf_append(&b, "}", 1);
    char *arr = cn_strbuf_take(&b, NULL);
    const char *params[1] = {arr};
    pg_call(s, TAG(op, user), id, 1, params);
    free(arr);
}

/* EVAL of `script` over presence:{ids[i]} with `nargs` ARGV entries. */
static bool eval_users(struct pstate *s, uint64_t tag, const char *script, const int64_t *ids,
                       size_t n, int nargs, const char **args)
{
    size_t argc = 3 + n + (size_t)nargs;
    const char **argv = cn_xmalloc(argc * sizeof *argv);
    char(*keys)[40] = cn_xmalloc((n ? n : 1) * sizeof *keys);
    char nkeys[24];
    snprintf(nkeys, sizeof nkeys, "%zu", n);
    argv[0] = "EVAL";
    argv[1] = script;
    argv[2] = nkeys;
    for (size_t i = 0; i < n; i++) {
        snprintf(keys[i], sizeof keys[i], CN_PRESENCE_KEY "%" PRId64, ids[i]);
        argv[3 + i] = keys[i];
    }
    for (int i = 0; i < nargs; i++)
        argv[3 + n + (size_t)i] = args[i];
    bool ok = redis_call(s, tag, (int)argc, argv);
    free(keys);
    free(argv);
    return ok;
}

static bool touch(struct pstate *s, int op, int64_t user, const int64_t *ids, size_t n)
{
    char ttl[16];
    snprintf(ttl, sizeof ttl, "%d", s->p->o.ttl_ms);
    const char *args[2] = {s->p->node_id, ttl};
    return eval_users(s, TAG(op, user), TOUCH_LUA, ids, n, 2, args);
}

static size_t local_sessions(const struct pstate *s, int64_t user)
{
    return (size_t)(uintptr_t)cn_u64map_get(&s->count, (uint64_t)user);
}

/* Wakes cn_presence_drain once asked to drain and nothing is left to do. */
static void check_drained(struct pstate *s)
{
    if (!s->draining || s->inflight > 0 || s->count.len > 0)
        return;
    pthread_mutex_lock(&s->p->mu);
    s->p->drained = true;
    pthread_cond_broadcast(&s->p->cv);
    pthread_mutex_unlock(&s->p->mu);
}

static void on_opened(struct pstate *s, int64_t user)
{
    size_t n = local_sessions(s, user) + 1;
    cn_u64map_put(&s->count, (uint64_t)user, (void *)(uintptr_t)n);
    if (n > 1)
        return;
    atomic_store_explicit(&s->p->users, s->count.len, memory_order_relaxed);
    /* Vouch first, then ONLINE: a sweep never sees an ONLINE user of ours without
     * our entry. Without Redis, ONLINE at once (the refresh vouches later). */
    if (!touch(s, OP_TOUCH_FIRST, user, &user, 1))
        pg_ids(s, OP_ONLINE, user, CN_SQL_PRESENCE_ONLINE, &user, 1);
}

static void on_closed(struct pstate *s, int64_t user)
{
    size_t n = local_sessions(s, user);
    if (n == 0) { /* defensive: a close without an open */
        CN_WARN("presence", "close of user %" PRId64 " without an open session", user);
        return;
    }
    if (n > 1) {
        cn_u64map_put(&s->count, (uint64_t)user, (void *)(uintptr_t)(n - 1));
        return;
    }
    cn_u64map_del(&s->count, (uint64_t)user);
    atomic_store_explicit(&s->p->users, s->count.len, memory_order_relaxed);
    const char *args[1] = {s->p->node_id};
    if (!eval_users(s, TAG(OP_LEAVE, user), LEAVE_LUA, &user, 1, 1, args))
        pg_ids(s, OP_OFFLINE, user, CN_SQL_PRESENCE_OFFLINE, &user, 1);
}

/* Every refresh_ms: vouch again for all local users and re-assert ONLINE for them. */
static void on_refresh(struct pstate *s)
{
    count(&s->p->refreshes, 1);
    int64_t *ids = cn_xmalloc((s->count.len ? s->count.len : 1) * sizeof *ids);
    size_t n = 0;
    for (size_t i = 0; i < s->count.cap; i++)
        if (s->count.slots[i].key)
            ids[n++] = (int64_t)s->count.slots[i].key;
    for (size_t at = 0; at < n; at += CHUNK) {
        size_t k = n - at < CHUNK ? n - at : CHUNK;
        touch(s, OP_REFRESH_TOUCH, 0, ids + at, k);
        pg_ids(s, OP_REFRESH_ONLINE, 0, CN_SQL_PRESENCE_ONLINE, ids + at, k);
    }
    free(ids);
}

static void sweep_done(struct pstate *s)
{
    s->sweeping = false;
    free(s->page);
    s->page = NULL;
    s->npage = 0;
}

static void sweep_next_page(struct pstate *s)
{
    char after[24];
    snprintf(after, sizeof after, "%" PRId64, s->sweep_after);
    const char *params[2] = {after, SWEEP_PAGE};
    if (!pg_call(s, TAG(OP_SWEEP_PAGE, 0), CN_SQL_PRESENCE_ONLINE_PAGE, 2, params))
        sweep_done(s);
}

/* Every sweep_ms: the node that wins the lock (held for one interval, so at most one
 * sweep runs per interval in the cluster) looks for ONLINE users nobody vouches for. */
static void on_sweep_tick(struct pstate *s)
{
    if (s->sweeping || s->draining)
        return;
    char px[16];
    snprintf(px, sizeof px, "%d", s->p->o.sweep_ms);
    const char *argv[] = {"SET", SWEEP_LOCK, s->p->node_id, "NX", "PX", px};
    if (redis_call(s, TAG(OP_SWEEP_LOCK, 0), 6, argv))
        s->sweeping = true;
}

static void on_page(struct pstate *s, const struct cn_pg_rows *res)
{
    int rows = cn_pg_rows_count(res);
    if (rows == 0) {
        sweep_done(s);
        return;
    }
    free(s->page);
    s->page = cn_xmalloc((size_t)rows * sizeof *s->page);
    s->npage = (size_t)rows;
    for (int i = 0; i < rows; i++)
        s->page[i] = cn_pg_rows_i64(res, i, "id");
    s->sweep_after = s->page[rows - 1];
    if (!eval_users(s, TAG(OP_SWEEP_LIVE, 0), LIVE_LUA, s->page, s->npage, 0, NULL))
        sweep_done(s);
}

/* The page was full: there may be more ONLINE users after it. */
static void sweep_continue(struct pstate *s)
{
    if (s->npage == (size_t)atoi(SWEEP_PAGE))
        sweep_next_page(s);
    else
        sweep_done(s);
}

static void on_live(struct pstate *s, const struct cn_redis_value *r)
{
    int64_t *dead = cn_xmalloc((s->npage ? s->npage : 1) * sizeof *dead);
    size_t n = 0;
    for (size_t i = 0; i < cn_redis_count(r); i++) {
        const struct cn_redis_value *x = cn_redis_at(r, i);
        long long at = cn_redis_int(x);
        if (cn_redis_kind(x) != CN_REDIS_INTEGER || at < 1 || (size_t)at > s->npage)
            continue; /* defensive: the script returns indexes into KEYS */
        int64_t user = s->page[at - 1];
        /* Ours are vouched for by the next refresh at the latest: not dead. */
        if (local_sessions(s, user) == 0)
            dead[n++] = user;
    }
    if (n > 0)
        pg_ids(s, OP_SWEEP_OFFLINE, 0, CN_SQL_PRESENCE_OFFLINE, dead, n);
    else
        sweep_continue(s);
    free(dead);
}

static void on_redis(struct pstate *s, struct cn_redis_reply *r)
{
    s->inflight--;
    int op = TAG_OP(r->tag);
    int64_t user = TAG_USER(r->tag);
    if (!r->ok) {
        count(&s->p->failures, 1);
        CN_DEBUG("presence", "redis call %d failed: %s", op, r->error);
    }
    switch (op) {
    case OP_TOUCH_FIRST:
        /* ONLINE whether or not Redis took it (see presence.h), unless the session
         * closed meanwhile (then its close's OFFLINE follows this one anyway). */
        if (local_sessions(s, user) > 0)
            pg_ids(s, OP_ONLINE, user, CN_SQL_PRESENCE_ONLINE, &user, 1);
        break;
    case OP_LEAVE: {
        long long others = r->ok ? cn_redis_int(r->reply) : 0;
        /* A session of the user opened again meanwhile: it holds the user ONLINE. */
        if (others == 0 && local_sessions(s, user) == 0)
            pg_ids(s, OP_OFFLINE, user, CN_SQL_PRESENCE_OFFLINE, &user, 1);
        break;
    }
    case OP_SWEEP_LOCK:
        if (r->ok && cn_redis_kind(r->reply) == CN_REDIS_STATUS) {
            count(&s->p->sweeps, 1);
            s->sweep_after = 0;
            sweep_next_page(s);
        } else {
            sweep_done(s); /* another node sweeps this interval (nil), or Redis is down */
        }
        break;
    case OP_SWEEP_LIVE:
        if (r->ok)
            on_live(s, r->reply);
        else
            sweep_done(s);
        break;
    default: /* OP_REFRESH_TOUCH: nothing to do on the answer */
        break;
    }
    cn_msg_free(&r->hdr);
}

static void on_pg(struct pstate *s, struct cn_pg_reply *r)
{
    s->inflight--;
    int op = TAG_OP(r->tag);
    if (!r->ok) {
        count(&s->p->failures, 1);
        if (strcmp(r->sqlstate, CN_PG_SQLSTATE_STOPPING) != 0)
            CN_WARN("presence", "statement %d failed: %s: %s", op, r->sqlstate, r->error);
        if (op == OP_SWEEP_PAGE || op == OP_SWEEP_OFFLINE)
            sweep_done(s);
        cn_msg_free(&r->hdr);
        return;
    }
    uint64_t rows = (uint64_t)cn_pg_rows_count(r->rows);
    switch (op) {
    case OP_ONLINE:
    case OP_REFRESH_ONLINE:
        count(&s->p->online, rows);
        break;
    case OP_OFFLINE:
        count(&s->p->offline, rows);
        break;
    case OP_SWEEP_PAGE:
        on_page(s, r->rows);
        break;
    case OP_SWEEP_OFFLINE:
        count(&s->p->swept, rows);
        if (rows > 0)
            CN_INFO("presence", "sweep: %" PRIu64 " users nobody vouched for are OFFLINE", rows);
        sweep_continue(s);
        break;
    default:
        break;
    }
    cn_msg_free(&r->hdr);
}

static void arm(struct pstate *s, uint32_t type, int ms)
{
    cn_msg *m = cn_xmalloc(sizeof *m);
    cn_msg_init(m, type, NULL);
    cn_timer_after(s->p->o.rt, s->self, (uint64_t)ms, m);
}

static void behave(cn_actor *self, void *state, cn_msg *m)
{
    struct pstate *s = state;
    (void)self;
    switch (m->type) {
    case PR_OPENED:
        on_opened(s, ((struct user_msg *)m)->user_id);
        break;
    case PR_CLOSED:
        on_closed(s, ((struct user_msg *)m)->user_id);
        break;
    case PR_REDIS:
        on_redis(s, (struct cn_redis_reply *)m);
        check_drained(s);
        return;
    case PR_PG:
        on_pg(s, (struct cn_pg_reply *)m);
        check_drained(s);
        return;
    case PR_TICK_REFRESH:
        if (!s->draining)
            on_refresh(s);
        arm(s, PR_TICK_REFRESH, s->p->o.refresh_ms);
        break;
    case PR_TICK_SWEEP:
        on_sweep_tick(s);
        arm(s, PR_TICK_SWEEP, s->p->o.sweep_ms);
        break;
    case PR_DRAIN:
        s->draining = true;
        break;
    default:
        break;
    }
    check_drained(s);
    cn_msg_free(m);
}

static void state_free(void *arg)
{
    struct pstate *s = arg;
    cn_u64map_free(&s->count);
    free(s->page);
    unref(s->p);
    free(s);
}

struct cn_presence *cn_presence_start(const struct cn_presence_opts *o, char *err, size_t errlen)
{
    if (!o || !o->rt || !o->pg || !o->redis || !o->node_id) {
        snprintf(err, errlen, "presence: runtime, pool, redis and node id are required");
        return NULL;
    }
    size_t idlen = strlen(o->node_id);
    if (idlen == 0 || idlen > 64) {
        snprintf(err, errlen, "presence: node.id must be 1..64 bytes");
        return NULL;
    }
    if (o->ttl_ms < 100 || o->refresh_ms < 50 || o->refresh_ms >= o->ttl_ms || o->sweep_ms < 50) {
        snprintf(err, errlen, "presence: refresh_ms (%d) must be below ttl_ms (%d); sweep_ms >= 50",
                 o->refresh_ms, o->ttl_ms);
        return NULL;
    }
    struct cn_presence *p = cn_xcalloc(1, sizeof *p);
    p->o = *o;
    p->node_id = cn_xstrdup(o->node_id);
    p->o.node_id = p->node_id;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    atomic_init(&p->refs, 2); /* the owner and the actor's state */
    struct pstate *s = cn_xcalloc(1, sizeof *s);
    s->p = p;
    cn_u64map_init(&s->count);
    p->actor = cn_actor_spawn(o->rt, behave, s, state_free);
    s->self = p->actor;
    arm(s, PR_TICK_REFRESH, o->refresh_ms);
    arm(s, PR_TICK_SWEEP, o->sweep_ms);
    CN_INFO("presence", "node %s: ttl %d ms, refresh %d ms, sweep %d ms", p->node_id, o->ttl_ms,
            o->refresh_ms, o->sweep_ms);
    return p;
}

static void send_user(struct cn_presence *p, uint32_t type, int64_t user_id)
{
    if (!p || user_id <= 0)
        return;
    struct user_msg *m = cn_xmalloc(sizeof *m);
    cn_msg_init(&m->hdr, type, NULL);
    m->user_id = user_id;
    cn_actor_send(p->actor, &m->hdr); /* -ESHUTDOWN: the node is stopping; fine */
}

void cn_presence_opened(struct cn_presence *p, int64_t user_id)
{
    send_user(p, PR_OPENED, user_id);
}

void cn_presence_closed(struct cn_presence *p, int64_t user_id)
{
    send_user(p, PR_CLOSED, user_id);
}

bool cn_presence_drain(struct cn_presence *p, int timeout_ms)
{
    if (!p)
        return true;
    cn_msg *m = cn_xmalloc(sizeof *m);
    cn_msg_init(m, PR_DRAIN, NULL);
    if (cn_actor_send(p->actor, m) != 0)
        return false;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->mu);
    while (!p->drained)
        if (pthread_cond_timedwait(&p->cv, &p->mu, &dl) == ETIMEDOUT)
            break;
    bool ok = p->drained;
    pthread_mutex_unlock(&p->mu);
    return ok;
}

void cn_presence_close(struct cn_presence *p)
{
    if (!p || p->closed)
        return;
    p->closed = true;
    cn_actor_stop(p->actor);
}

void cn_presence_free(struct cn_presence *p)
{
    if (!p)
        return;
    /* No cn_actor_stop here: after the runtime's shutdown only an unref is valid. */
    cn_actor_unref(p->actor);
    unref(p);
}

void cn_presence_stats(struct cn_presence *p, struct cn_presence_stats *out)
{
    out->users = atomic_load_explicit(&p->users, memory_order_relaxed);
    out->online = atomic_load_explicit(&p->online, memory_order_relaxed);
    out->offline = atomic_load_explicit(&p->offline, memory_order_relaxed);
    out->swept = atomic_load_explicit(&p->swept, memory_order_relaxed);
    out->sweeps = atomic_load_explicit(&p->sweeps, memory_order_relaxed);
    out->refreshes = atomic_load_explicit(&p->refreshes, memory_order_relaxed);
    out->failures = atomic_load_explicit(&p->failures, memory_order_relaxed);
}

void cn_presence_metrics_render(struct cn_strbuf *b, struct cn_presence *p)
{
    if (!p)
        return;
    struct cn_presence_stats s;
    cn_presence_stats(p, &s);
    cn_prom_gauge(b, "chat_presence_local_users", "users with a STOMP session on this node",
                  (double)s.users);
    cn_prom_counter(b, "chat_presence_online_total", "users this node turned ONLINE", s.online);
    cn_prom_counter(b, "chat_presence_offline_total",
                    "users this node turned OFFLINE after their last session closed", s.offline);
    cn_prom_counter(b, "chat_presence_swept_total",
                    "users the sweep turned OFFLINE (no node vouched for them)", s.swept);
    cn_prom_counter(b, "chat_presence_sweeps_total", "sweeps this node ran", s.sweeps);
    cn_prom_counter(b, "chat_presence_refreshes_total", "refresh ticks", s.refreshes);
    cn_prom_counter(b, "chat_presence_failures_total", "Redis or PostgreSQL calls that failed",
                    s.failures);
}
