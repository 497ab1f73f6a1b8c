/* The Redis adapter: its thread, the command connection, and the public calls;
 * see redis_client.h. The subscriber connection lives in redis_client_pubsub.c.
 *
 * One thread runs a poll() loop (redis_loop.c) over the two hiredis async contexts
 * and an inbox eventfd. Submitting threads format the command (hiredis's own RESP
 * formatter) and push it into the inbox; the loop hands it to hiredis, keeps it in
 * a FIFO (Redis answers in order) so the oldest unanswered command tells whether
 * the connection is stuck, and sends the reply to the actor. While the command
 * connection is down, submitters do not even reach the loop: cn_redis_command
 * answers ok = 0 on the spot, so an outage costs callers nothing and nothing piles
 * up. An outage is logged once when it starts and once when it ends. */
#include "io/redis_client.h"
#include "io/redis_client_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"

#define MOD "redis"

/* How many inbox messages the loop takes per wake-up before it looks at its
 * sockets again, so a flood of submissions cannot starve reading replies. */
#define DRAIN_BUDGET 1024

/* hiredis 0.14 frees every reply right after its callback returns and has no
 * option to keep it. To hand replies to actors without copying them, the command
 * connection's reader gets a freeObject that spares the one reply the callback just
 * kept. Only the adapter thread runs hiredis, and hiredis frees the reply
 * immediately after the callback, so one thread-local slot suffices. */
static _Thread_local void *kept_reply;
static redisReplyObjectFunctions keeping_fns;
static pthread_once_t keeping_fns_once = PTHREAD_ONCE_INIT;

static void free_unless_kept(void *obj)
{
    if (obj && obj == kept_reply) {
        kept_reply = NULL;
        return;
    }
    freeReplyObject(obj);
}

/* Copies hiredis's default reply functions (not exported; a fresh reader carries
 * them) and replaces freeObject. */
static void init_keeping_fns(void)
{
    redisReader *rd = redisReaderCreate();
    if (!rd)
        cn_oom(sizeof *rd);
    keeping_fns = *rd->fn;
    keeping_fns.freeObject = free_unless_kept;
    redisReaderFree(rd);
}

void cn_redis_config_defaults(struct cn_redis_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->connect_timeout_ms = 1000;
    cfg->command_timeout_ms = 5000;
    cfg->backoff_min_ms = 100;
    cfg->backoff_max_ms = 2000;
    cfg->max_pending = 100000;
}

/* ---- replies --------------------------------------------------------------------- */

static void reply_free(cn_msg *m)
{
    struct cn_redis_reply *rep = (struct cn_redis_reply *)m;
    if (rep->reply)
        freeReplyObject(rep->reply);
    free(rep);
}

/* Sends the answer to the command's actor (reply taken, may be NULL) and frees the
 * command. Any thread (the fail-fast path runs on the submitter). */
static void answer(struct cn_redis *r, struct cn__redis_cmd *cmd, redisReply *reply,
                   const char *error)
{
    int ok = reply && reply->type != REDIS_REPLY_ERROR && !error;
    atomic_fetch_add_explicit(ok ? &r->replies_ok : &r->errors, 1, memory_order_relaxed);
    if (cmd->reply_to) {
        struct cn_redis_reply *rep = cn_xmalloc(sizeof *rep);
        cn_msg_init(&rep->hdr, cmd->msg_type, reply_free);
        rep->tag = cmd->tag;
        rep->ok = ok;
        rep->reply = (struct cn_redis_value *)reply; /* see redis_value.c */
        rep->error[0] = '\0';
        if (!ok) {
            if (error)
                snprintf(rep->error, sizeof rep->error, "%s", error);
            else
                snprintf(rep->error, sizeof rep->error, "redis: %.*s", (int)(sizeof rep->error - 8),
                         reply->str);
        }
        /* A stopped actor refuses the message and frees it: nothing else to do. */
        cn_actor_send(cmd->reply_to, &rep->hdr);
        cn_actor_unref(cmd->reply_to);
        cmd->reply_to = NULL;
    } else if (reply) {
        freeReplyObject(reply);
    }
    cn_msg_free(&cmd->hdr);
}

static void cmd_free(cn_msg *m)
{
    struct cn__redis_cmd *cmd = (struct cn__redis_cmd *)m;
    /* Only a command that was never answered still holds its actor. */
    if (cmd->reply_to)
        cn_actor_unref(cmd->reply_to);
    if (cmd->resp)
        redisFreeCommand(cmd->resp);
    free(cmd);
}

/* ---- connections ----------------------------------------------------------------- */

void cn__redis_conn_set_flag(struct cn_redis *r, atomic_bool *flag, bool value)
{
    pthread_mutex_lock(&r->mu);
    /* release pairs with the acquire loads in cn_redis_is_up / stats / wait_up;
     * the mutex is for wait_up's condition variable. */
    atomic_store_explicit(flag, value, memory_order_release);
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->mu);
}

static struct cn__redis_conn *conn_of(const redisAsyncContext *ac)
{
    return ac->data;
}

/* A failed attempt or a lost connection: schedule the next attempt. The first one
 * after losing a working connection is immediate (a killed connection to a live
 * server comes back at once); then the wait doubles up to backoff_max_ms. */
static void conn_schedule(struct cn__redis_conn *c, bool was_working)
{
    const struct cn_redis_config *cfg = &c->r->cfg;
    uint64_t now = cn_now_ns();
    if (was_working) {
        c->backoff_ms = cfg->backoff_min_ms;
        c->next_attempt_ns = now;
        return;
    }
    c->next_attempt_ns = now + (uint64_t)c->backoff_ms * 1000000u;
    c->backoff_ms =
        c->backoff_ms * 2 > cfg->backoff_max_ms ? cfg->backoff_max_ms : c->backoff_ms * 2;
}

static void conn_failed(struct cn__redis_conn *c, const char *why)
{
    struct cn_redis *r = c->r;
    atomic_fetch_add_explicit(&r->connect_failures, 1, memory_order_relaxed);
    CN_DEBUG(MOD, "%s connection to %s:%d failed: %s", c->name, r->cfg.host, r->cfg.port, why);
    c->ac = NULL;
    c->state = CN__CONN_DOWN;
    conn_schedule(c, false);
    if (!r->stopping)
        c->on_down(c, why);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct cn__redis_conn *c = conn_of(ac);
    if (status != REDIS_OK) {
        /* hiredis frees the context after this returns. */
        conn_failed(c, ac->errstr[0] ? ac->errstr : "connect failed");
        return;
    }
    c->state = CN__CONN_HELLO;
    c->hello(c);
}

void cn__redis_conn_ready(struct cn__redis_conn *c)
{
    c->state = CN__CONN_UP;
    c->backoff_ms = c->r->cfg.backoff_min_ms;
    c->on_up(c);
    c->was_up = true;
}

void cn__redis_conn_reject(struct cn__redis_conn *c, const char *why)
{
    c->drop_reason = why;
    redisAsyncFree(c->ac); /* deferred by hiredis until the callback returns */
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    struct cn__redis_conn *c = conn_of(ac);
    const char *why = c->drop_reason  ? c->drop_reason
                      : ac->errstr[0] ? ac->errstr
                                      : "connection closed";
    /* Lost before Redis ever answered: that was a failed attempt, not a loss. */
    bool was_working = c->state == CN__CONN_UP;
    if (!was_working)
        atomic_fetch_add_explicit(&c->r->connect_failures, 1, memory_order_relaxed);
    c->ac = NULL;
    c->state = CN__CONN_DOWN;
    c->drop_reason = NULL;
    conn_schedule(c, was_working);
    if (!c->r->stopping)
        c->on_down(c, why);
}

static void conn_start(struct cn__redis_conn *c)
{
    struct cn_redis *r = c->r;
    redisAsyncContext *ac = redisAsyncConnect(r->cfg.host, r->cfg.port);
    if (!ac)
        cn_oom(sizeof *ac); /* hiredis returns NULL only when malloc failed */
    if (ac->err) {
        /* Refused at once (nothing listens on a local port) or name lookup failed:
         * the context was never attached, so freeing it runs no callback. */
        char why[128];
        snprintf(why, sizeof why, "%s", ac->errstr);
        redisAsyncFree(ac);
        conn_failed(c, why);
        return;
    }
    /* A peer that vanishes without a reset (a dead host, a cut link) would leave an
     * idle subscriber connection looking healthy forever; TCP keepalive (hiredis's
     * 15 s interval) finds out. The command connection has command_timeout_ms too. */
    redisEnableKeepAlive(&ac->c);
    ac->data = c;
    c->ac = ac;
    c->state = CN__CONN_CONNECTING;
    c->connect_deadline_ns = cn_now_ns() + (uint64_t)r->cfg.connect_timeout_ms * 1000000u;
    cn__redis_loop_attach(&r->loop, c->slot, ac);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
}

/* Frees the context now (not inside a hiredis callback): pending callbacks run with
 * a NULL reply and report `why`. */
static void conn_drop(struct cn__redis_conn *c, const char *why)
{
    redisAsyncContext *ac = c->ac;
    if (!ac)
        return;
    if (c->state == CN__CONN_CONNECTING) {
        /* Never connected: hiredis runs neither callback, so account for it here. */
        redisAsyncFree(ac);
        conn_failed(c, why);
        return;
    }
    c->drop_reason = why;
    redisAsyncFree(ac); /* runs on_disconnect */
}

static void cmd_hello_cb(redisAsyncContext *ac, void *reply_, void *privdata)
{
    (void)privdata;
    redisReply *reply = reply_;
    if (!reply)
        return; /* being freed: on_disconnect reports it */
    if (reply->type == REDIS_REPLY_ERROR)
        cn__redis_conn_reject(conn_of(ac), "PING refused");
    else
        cn__redis_conn_ready(conn_of(ac));
}

static void cmd_hello(struct cn__redis_conn *c)
{
    redisAsyncCommand(c->ac, cmd_hello_cb, NULL, "PING");
}

/* The command connection's view of up and down; it alone defines an outage. */
static void cmd_up(struct cn__redis_conn *c)
{
    struct cn_redis *r = c->r;
    /* Keep replies alive past their callback (see kept_reply). */
    pthread_once(&keeping_fns_once, init_keeping_fns);
    c->ac->c.reader->fn = &keeping_fns;
    if (c->was_up)
        atomic_fetch_add_explicit(&r->reconnects, 1, memory_order_relaxed);
    if (r->in_outage) {
        r->in_outage = false;
        CN_INFO(MOD, "reachable again at %s:%d after %llu ms", r->cfg.host, r->cfg.port,
                (unsigned long long)((cn_now_ns() - r->outage_start_ns) / 1000000u));
    } else {
        CN_INFO(MOD, "connected to %s:%d", r->cfg.host, r->cfg.port);
    }
    cn__redis_conn_set_flag(r, &r->up, true);
}

static void cmd_down(struct cn__redis_conn *c, const char *why)
{
    struct cn_redis *r = c->r;
    if (atomic_load_explicit(&r->up, memory_order_relaxed))
        cn__redis_conn_set_flag(r, &r->up, false);
    if (!r->in_outage) {
        r->in_outage = true;
        r->outage_start_ns = cn_now_ns();
        atomic_fetch_add_explicit(&r->outages, 1, memory_order_relaxed);
        CN_WARN(MOD, "unreachable at %s:%d: %s; commands fail until it is back", r->cfg.host,
                r->cfg.port, why);
    }
}

/* ---- commands on the loop -------------------------------------------------------- */

static void on_reply(redisAsyncContext *ac, void *reply_, void *privdata)
{
    struct cn__redis_conn *c = conn_of(ac);
    struct cn_redis *r = c->r;
    struct cn__redis_cmd *cmd = privdata;
    redisReply *reply = reply_;
    /* Redis answers in order and hiredis fails pending callbacks in order. */
    if (r->fifo_head == cmd) {
        r->fifo_head = cmd->next;
        if (!r->fifo_head)
            r->fifo_tail = NULL;
    }
    atomic_fetch_sub_explicit(&r->pending, 1, memory_order_relaxed);
    if (reply) {
        kept_reply = reply; /* hiredis must not free it: the actor gets it */
        answer(r, cmd, reply, NULL);
        return;
    }
    /* The connection is going: whoever sees this failure must also see "down"
     * (on_disconnect, which does the rest, runs only after every callback). */
    if (atomic_load_explicit(&r->up, memory_order_relaxed))
        cn__redis_conn_set_flag(r, &r->up, false);
    char why[128];
    snprintf(why, sizeof why, "redis: %s",
             c->drop_reason  ? c->drop_reason
             : ac->errstr[0] ? ac->errstr
                             : "connection lost");
    answer(r, cmd, NULL, why);
}

static void fail_cmd(struct cn_redis *r, struct cn__redis_cmd *cmd, const char *why)
{
    atomic_fetch_sub_explicit(&r->pending, 1, memory_order_relaxed);
    answer(r, cmd, NULL, why);
}

static void run_cmd(struct cn_redis *r, struct cn__redis_cmd *cmd)
{
    if (r->stopping) {
        fail_cmd(r, cmd, "redis: client stopping");
        return;
    }
    if (r->cmd.state != CN__CONN_UP) {
        fail_cmd(r, cmd, r->down_error);
        return;
    }
    if (redisAsyncFormattedCommand(r->cmd.ac, on_reply, cmd, cmd->resp, (size_t)cmd->resp_len) !=
        REDIS_OK) {
        fail_cmd(r, cmd, "redis: connection closing");
        return;
    }
    /* hiredis copied the bytes into its output buffer. */
    redisFreeCommand(cmd->resp);
    cmd->resp = NULL;
    cmd->sent_ns = cn_now_ns();
    cmd->next = NULL;
    if (r->fifo_tail)
        r->fifo_tail->next = cmd;
    else
        r->fifo_head = cmd;
    r->fifo_tail = cmd;
}

static void on_inbox(void *ctx, cn_msg *m)
{
    struct cn_redis *r = ctx;
    switch (m->type) {
    case CN__REDIS_MSG_CMD:
        run_cmd(r, (struct cn__redis_cmd *)m);
        break;
    case CN__REDIS_MSG_SUB:
    case CN__REDIS_MSG_UNSUB:
        cn__redis_pubsub_handle(r, (struct cn__redis_subreq *)m);
        break;
    case CN__REDIS_MSG_STOP:
        r->stopping = true;
        cn_msg_free(m);
        break;
    default:
        cn_msg_free(m); /* defensive: nothing else is ever pushed */
        break;
    }
}

/* ---- the loop -------------------------------------------------------------------- */

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Starts due connect attempts, abandons slow ones, drops a stuck command connection;
 * returns the next instant something here is due (UINT64_MAX: nothing). */
static uint64_t tend(struct cn_redis *r, struct cn__redis_conn *c)
{
    uint64_t now = cn_now_ns();
    if (c->state == CN__CONN_DOWN && now >= c->next_attempt_ns)
        conn_start(c);
    if ((c->state == CN__CONN_CONNECTING || c->state == CN__CONN_HELLO) &&
        now >= c->connect_deadline_ns)
        conn_drop(c, "connect timed out");
    if (c == &r->cmd && c->state == CN__CONN_UP && r->fifo_head &&
        now - r->fifo_head->sent_ns >= (uint64_t)r->cfg.command_timeout_ms * 1000000u) {
        atomic_fetch_add_explicit(&r->timeouts, 1, memory_order_relaxed);
        conn_drop(c, "no reply within command_timeout_ms");
    }
    switch (c->state) {
    case CN__CONN_DOWN:
        return c->next_attempt_ns;
    case CN__CONN_CONNECTING:
    case CN__CONN_HELLO:
        return c->connect_deadline_ns;
    case CN__CONN_UP:
        if (c == &r->cmd && r->fifo_head)
            return r->fifo_head->sent_ns + (uint64_t)r->cfg.command_timeout_ms * 1000000u;
        return UINT64_MAX;
    }
    return UINT64_MAX;
}

static void *loop_main(void *arg)
{
    struct cn_redis *r = arg;
    /* hiredis writes with write(2): a peer that went away raises SIGPIPE, which must
     * not kill the process. Blocked here it just stays pending on this thread. */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);

    while (!r->stopping) {
        uint64_t due = min_u64(tend(r, &r->cmd), tend(r, &r->sub));
        uint64_t now = cn_now_ns();
        int timeout_ms = due == UINT64_MAX ? -1
                         : due <= now      ? 0
                                           : (int)min_u64((due - now + 999999u) / 1000000u, 60000);
        bool woken;
        int rc = cn__redis_loop_run_once(&r->loop, timeout_ms, &woken);
        if (rc < 0) {
            CN_ERROR(MOD, "poll failed: %s", strerror(-rc));
            break; /* defensive: poll on our own descriptors does not fail */
        }
        kept_reply = NULL; /* defensive: hiredis always frees right after the callback */
        if (woken)
            cn_inbox_drain(&r->inbox, DRAIN_BUDGET, on_inbox, r);
    }

    /* Stopping: fail whatever is in flight, then whatever was submitted since. */
    r->stopping = true;
    conn_drop(&r->cmd, "client stopping");
    conn_drop(&r->sub, "client stopping");
    while (cn_inbox_drain(&r->inbox, SIZE_MAX, on_inbox, r) > 0) {
    }
    cn__redis_pubsub_free(r);
    return NULL;
}

/* ---- public calls ---------------------------------------------------------------- */

struct cn_redis *cn_redis_start_config(const struct cn_redis_config *cfg, char *err, size_t errlen)
{
    if (!cfg || !cfg->host || !cfg->host[0]) {
        snprintf(err, errlen, "redis: host must not be empty");
        return NULL;
    }
    if (cfg->port < 1 || cfg->port > 65535) {
        snprintf(err, errlen, "redis: port %d is not in 1..65535", cfg->port);
        return NULL;
    }
    if (cfg->connect_timeout_ms < 1 || cfg->command_timeout_ms < 1 || cfg->backoff_min_ms < 1 ||
        cfg->backoff_max_ms < cfg->backoff_min_ms || cfg->max_pending < 1) {
        snprintf(err, errlen,
                 "redis: timeouts and max_pending must be positive and backoff_max_ms >= "
                 "backoff_min_ms");
        return NULL;
    }
    struct cn_redis *r = cn_xcalloc(1, sizeof *r);
    r->cfg = *cfg;
    r->host_copy = cn_xstrdup(cfg->host);
    r->cfg.host = r->host_copy;
    snprintf(r->down_error, sizeof r->down_error, "redis: %.64s:%d is unreachable", r->cfg.host,
             r->cfg.port);
    int rc = cn__redis_loop_init(&r->loop);
    if (rc < 0) {
        snprintf(err, errlen, "redis: eventfd: %s", strerror(-rc));
        free(r->host_copy);
        free(r);
        return NULL;
    }
    cn_inbox_init(&r->inbox, cn_wakefd_wake, (void *)(intptr_t)r->loop.wakefd);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cond, NULL);
    r->cmd = (struct cn__redis_conn){.r = r,
                                     .name = "command",
                                     .slot = 0,
                                     .backoff_ms = cfg->backoff_min_ms,
                                     .hello = cmd_hello,
                                     .on_up = cmd_up,
                                     .on_down = cmd_down};
    r->sub = (struct cn__redis_conn){
        .r = r, .name = "subscriber", .slot = 1, .backoff_ms = cfg->backoff_min_ms};
    cn__redis_pubsub_init(r);
    rc = pthread_create(&r->thread, NULL, loop_main, r);
    if (rc != 0) {
        snprintf(err, errlen, "redis: cannot start its thread: %s", strerror(rc));
        cn__redis_pubsub_free(r);
        cn_inbox_destroy(&r->inbox);
        cn__redis_loop_close(&r->loop);
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cond);
        free(r->host_copy);
        free(r);
        return NULL;
    }
    return r;
}

struct cn_redis *cn_redis_start(const char *host, int port, char *err, size_t errlen)
{
    struct cn_redis_config cfg;
    cn_redis_config_defaults(&cfg);
    cfg.host = host;
    cfg.port = port;
    return cn_redis_start_config(&cfg, err, errlen);
}

void cn_redis_stop(struct cn_redis *r)
{
    if (!r)
        return;
    cn_msg *stop = cn_xmalloc(sizeof *stop);
    cn_msg_init(stop, CN__REDIS_MSG_STOP, NULL);
    cn_inbox_push(&r->inbox, stop);
    pthread_join(r->thread, NULL);
    cn_inbox_destroy(&r->inbox); /* empty: the loop drained it after the stop */
    cn__redis_loop_close(&r->loop);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cond);
    free(r->host_copy);
    free(r);
}

/* Commands that would turn the shared command connection into something else. */
static bool takes_connection(const char *name, size_t len)
{
    static const char *const banned[] = {"subscribe",    "psubscribe", "unsubscribe",
                                         "punsubscribe", "monitor",    "quit"};
    for (size_t i = 0; i < sizeof banned / sizeof banned[0]; i++)
        if (strlen(banned[i]) == len && strncasecmp(banned[i], name, len) == 0)
            return true;
    return false;
}

int cn_redis_command(struct cn_redis *r, cn_actor *reply_to, uint32_t msg_type, uint64_t tag,
                     int argc, const char *const *argv, const size_t *argvlen)
{
    if (!r || !argv || argc < 1 || argc > CN_REDIS_MAX_ARGS)
        return -EINVAL;
    size_t total = 0;
    for (int i = 0; i < argc; i++) {
        if (!argv[i])
            return -EINVAL;
        size_t n = argvlen ? argvlen[i] : strlen(argv[i]);
        if (n > CN_REDIS_MAX_CMD_BYTES || (total += n + 32) > CN_REDIS_MAX_CMD_BYTES)
            return -EMSGSIZE;
    }
    if (takes_connection(argv[0], argvlen ? argvlen[0] : strlen(argv[0])))
        return -ENOTSUP;

    struct cn__redis_cmd *cmd = cn_xcalloc(1, sizeof *cmd);
    cn_msg_init(&cmd->hdr, CN__REDIS_MSG_CMD, cmd_free);
    cmd->msg_type = msg_type;
    cmd->tag = tag;
    if (reply_to) {
        cn_actor_ref(reply_to);
        cmd->reply_to = reply_to;
    }
    atomic_fetch_add_explicit(&r->commands, 1, memory_order_relaxed);

    /* Fail fast: while Redis is down nothing is formatted or queued. acquire pairs
     * with the release store in cn__redis_conn_set_flag (a hint either way: the loop
     * fails the command itself if the connection went down meanwhile). */
    if (!atomic_load_explicit(&r->up, memory_order_acquire)) {
        atomic_fetch_add_explicit(&r->failed_fast, 1, memory_order_relaxed);
        answer(r, cmd, NULL, r->down_error);
        return 0;
    }
    if (atomic_fetch_add_explicit(&r->pending, 1, memory_order_relaxed) >= r->cfg.max_pending) {
        atomic_fetch_sub_explicit(&r->pending, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&r->failed_fast, 1, memory_order_relaxed);
        answer(r, cmd, NULL, "redis: too many pending commands");
        return 0;
    }
    /* hiredis's signature lacks the inner const; it only reads the arguments. */
    size_t *lens = NULL;
    if (!argvlen) {
        lens = cn_xmalloc((size_t)argc * sizeof *lens);
        for (int i = 0; i < argc; i++)
            lens[i] = strlen(argv[i]);
    }
    cmd->resp_len =
        redisFormatCommandArgv(&cmd->resp, argc, (const char **)argv, argvlen ? argvlen : lens);
    free(lens);
    if (cmd->resp_len < 0)
        cn_oom(total); /* its only failure is malloc */
    cn_inbox_push(&r->inbox, &cmd->hdr);
    return 0;
}

bool cn_redis_is_up(struct cn_redis *r)
{
    /* acquire pairs with the release store in cn__redis_conn_set_flag */
    return atomic_load_explicit(&r->up, memory_order_acquire);
}

bool cn_redis_wait_up(struct cn_redis *r, bool with_sub, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&r->mu);
    bool ok;
    for (;;) {
        /* Under the mutex the loop's stores are visible anyway; relaxed suffices. */
        ok = atomic_load_explicit(&r->up, memory_order_relaxed) &&
             (!with_sub || atomic_load_explicit(&r->sub_up, memory_order_relaxed));
        if (ok || pthread_cond_timedwait(&r->cond, &r->mu, &until) == ETIMEDOUT)
            break;
    }
    ok = atomic_load_explicit(&r->up, memory_order_relaxed) &&
         (!with_sub || atomic_load_explicit(&r->sub_up, memory_order_relaxed));
    pthread_mutex_unlock(&r->mu);
    return ok;
}

void cn_redis_stats(struct cn_redis *r, struct cn_redis_stats *out)
{
#define LOAD(f) atomic_load_explicit(&r->f, memory_order_relaxed)
    out->commands = LOAD(commands);
    out->replies_ok = LOAD(replies_ok);
    out->errors = LOAD(errors);
    out->failed_fast = LOAD(failed_fast);
    out->timeouts = LOAD(timeouts);
    out->connect_failures = LOAD(connect_failures);
    out->reconnects = LOAD(reconnects);
    out->outages = LOAD(outages);
    out->pending = LOAD(pending);
    out->pubsub_received = LOAD(pubsub_received);
    out->pubsub_delivered = LOAD(pubsub_delivered);
    out->sub_reconnects = LOAD(sub_reconnects);
    out->channels = LOAD(channels);
#undef LOAD
    /* acquire pairs with the release store in cn__redis_conn_set_flag */
    out->up = atomic_load_explicit(&r->up, memory_order_acquire);
    out->sub_up = atomic_load_explicit(&r->sub_up, memory_order_acquire);
}
