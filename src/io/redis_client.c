/* The Redis adapter: its thread, the command connection, and the public calls;
 * see redis_client.h. The subscriber side is redis_client_pubsub.c, what both
 * connections share (connect, drop, reconnect schedule) redis_conn.c.
 *
 * One thread runs a poll() loop (redis_loop.c) over the two hiredis async contexts
 * and an inbox eventfd. Submitting threads format the command (hiredis's own RESP
 * formatter) and push it into the inbox; the loop hands it to hiredis, keeps it in
 * a FIFO (Redis answers in order) so the oldest unanswered command tells whether
 * the connection is stuck, and sends the reply to the actor. While the command
 * connection is down, submitters do not even reach the loop: cn_redis_command
 * answers ok = 0 on the spot, so an outage costs callers nothing and nothing piles
 * up. An outage is logged once when it starts and once when it ends.
 *
 * Closing without losing a reply: every public call that pushes into the inbox
 * announces itself in `submitters` before it looks at `closed`, and cn_redis_close
 * sets `closed` before it waits for `submitters` to reach zero (both seq_cst, so one
 * of the two sees the other). After that wait nothing can enter the inbox, so the
 * thread's last drain answers every command it was given. */
#include "io/redis_client.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "actors/runtime/inbox.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "io/redis_client_pubsub.h"
#include "io/redis_conn.h"

#define MOD "redis"

/* Loop slots of the two connections. */
enum { SLOT_CMD = 0, SLOT_SUB = 1 };

/* Messages the adapter thread receives through its inbox. */
enum { MSG_CMD = 1, MSG_SUBREQ, MSG_STOP };

/* A submitted command: RESP bytes formatted by the submitting thread, then (loop) the
 * hiredis privdata of the command until its reply. */
struct command {
    cn_msg hdr;
    struct command *next; /* loop: in-flight FIFO (replies come in order) */
    cn_actor *reply_to;   /* one reference held; NULL = fire and forget */
    uint32_t msg_type;
    uint64_t tag;
    uint64_t sent_ns; /* loop: when it was handed to hiredis */
    char *resp;       /* from redisFormatCommandArgv; freed once hiredis copied it */
    int resp_len;
};

/* Fields marked "loop" belong to the adapter thread alone; atomics are statistics or
 * hints read by any thread (see each one's comment for its ordering). */
struct cn_redis {
    struct cn__redis_env env;   /* the loop, the connect settings, wait_up's condvar */
    struct cn_redis_config cfg; /* host points at host_copy */
    char *host_copy;
    pthread_t thread;
    cn_inbox inbox;
    char down_error[128]; /* the fail-fast text; immutable after start */

    /* seq_cst, paired with `submitters`: see the file comment. */
    atomic_bool closed;
    atomic_uint submitters;
    bool joined; /* owner thread: cn_redis_close has joined the thread */

    /* Written by the loop on every transition (release), read by any thread
     * (acquire): a hint only, nothing else is published through it. */
    atomic_bool up;

    /* Statistics: relaxed, they publish nothing. */
    _Atomic uint64_t commands, replies_ok, errors, failed_fast, timeouts, reconnects, outages;
    /* Submitted and not answered: incremented by submitters, decremented by the
     * loop; relaxed, it bounds memory and publishes nothing. */
    _Atomic uint64_t pending;

    /* Loop only. */
    struct cn__redis_conn cmd;
    struct command *fifo_head, *fifo_tail;
    bool in_outage;
    uint64_t outage_start_ns;
    struct cn__redis_pubsub ps; /* the subscriber connection and registry */
};

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
static void answer(struct cn_redis *r, struct command *cmd, redisReply *reply, const char *error)
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
    struct command *cmd = (struct command *)m;
    /* Only a command that was never answered still holds its actor. */
    if (cmd->reply_to)
        cn_actor_unref(cmd->reply_to);
    if (cmd->resp)
        redisFreeCommand(cmd->resp);
    free(cmd);
}

/* ---- the command connection ------------------------------------------------------ */

static struct cn__redis_conn *conn_of(const redisAsyncContext *ac)
{
    return ac->data;
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
    struct cn_redis *r = c->owner;
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
    cn__redis_env_set_flag(&r->env, &r->up, true);
}

static void cmd_down(struct cn__redis_conn *c, const char *why)
{
    struct cn_redis *r = c->owner;
    if (atomic_load_explicit(&r->up, memory_order_relaxed))
        cn__redis_env_set_flag(&r->env, &r->up, false);
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
    struct cn_redis *r = c->owner;
    struct command *cmd = privdata;
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
        cn__redis_env_set_flag(&r->env, &r->up, false);
    char why[128];
    snprintf(why, sizeof why, "redis: %s",
             c->drop_reason  ? c->drop_reason
             : ac->errstr[0] ? ac->errstr
                             : "connection lost");
    answer(r, cmd, NULL, why);
}

static void fail_cmd(struct cn_redis *r, struct command *cmd, const char *why)
{
    atomic_fetch_sub_explicit(&r->pending, 1, memory_order_relaxed);
    answer(r, cmd, NULL, why);
}

static void run_cmd(struct cn_redis *r, struct command *cmd)
{
    if (r->env.stopping) {
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
    case MSG_CMD:
        run_cmd(r, (struct command *)m);
        break;
    case MSG_SUBREQ:
        cn__redis_pubsub_handle(&r->ps, (struct cn__redis_subreq *)m);
        break;
    case MSG_STOP:
        r->env.stopping = true;
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
static uint64_t tend(struct cn_redis *r)
{
    struct cn__redis_conn *c = &r->cmd;
    uint64_t now = cn_now_ns();
    uint64_t timeout_ns = (uint64_t)r->cfg.command_timeout_ms * 1000000u;
    cn__redis_conn_tend(c, now);
    if (c->state == CN__CONN_UP && r->fifo_head && now - r->fifo_head->sent_ns >= timeout_ns) {
        atomic_fetch_add_explicit(&r->timeouts, 1, memory_order_relaxed);
        cn__redis_conn_drop(c, "no reply within command_timeout_ms");
    }
    uint64_t due = cn__redis_conn_due(c);
    if (c->state == CN__CONN_UP && r->fifo_head)
        due = r->fifo_head->sent_ns + timeout_ns;
    cn__redis_conn_tend(&r->ps.conn, cn_now_ns());
    return min_u64(due, cn__redis_conn_due(&r->ps.conn));
}

static void *loop_main(void *arg)
{
    struct cn_redis *r = arg;
    /* hiredis writes with write(2): a peer that went away raises SIGPIPE, which must
     * not kill the process. Blocked here it just stays pending on this thread. */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);

    while (!r->env.stopping) {
        uint64_t due = tend(r);
        uint64_t now = cn_now_ns();
        int timeout_ms = due == UINT64_MAX ? -1
                         : due <= now      ? 0
                                           : (int)min_u64((due - now + 999999u) / 1000000u, 60000);
        bool woken;
        int rc = cn__redis_loop_run_once(&r->env.loop, timeout_ms, &woken);
        if (rc < 0) {
            CN_ERROR(MOD, "poll failed: %s", strerror(-rc));
            break; /* defensive: poll on our own descriptors does not fail */
        }
        kept_reply = NULL; /* defensive: hiredis always frees right after the callback */
        if (woken)
            cn_inbox_drain(&r->inbox, DRAIN_BUDGET, on_inbox, r);
    }

    /* Closing: fail whatever is in flight, then whatever was submitted since (the
     * close waited for the last submitter, so nothing comes after this drain), and
     * drop every subscription with its actor reference. */
    r->env.stopping = true;
    cn__redis_conn_drop(&r->cmd, "client stopping");
    cn__redis_conn_drop(&r->ps.conn, "client stopping");
    while (cn_inbox_drain(&r->inbox, SIZE_MAX, on_inbox, r) > 0) {
    }
    cn__redis_pubsub_free(&r->ps);
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
    int rc = cn__redis_env_init(&r->env, r->cfg.host, r->cfg.port, cfg->connect_timeout_ms,
                                cfg->backoff_min_ms, cfg->backoff_max_ms);
    if (rc < 0) {
        snprintf(err, errlen, "redis: eventfd: %s", strerror(-rc));
        free(r->host_copy);
        free(r);
        return NULL;
    }
    cn_inbox_init(&r->inbox, cn_wakefd_wake, (void *)(intptr_t)r->env.loop.wakefd);
    const struct cn__redis_conn_hooks hooks = {
        .hello = cmd_hello, .on_up = cmd_up, .on_down = cmd_down};
    cn__redis_conn_init(&r->cmd, &r->env, "command", SLOT_CMD, &hooks, r);
    cn__redis_pubsub_init(&r->ps, &r->env, SLOT_SUB);
    rc = pthread_create(&r->thread, NULL, loop_main, r);
    if (rc != 0) {
        snprintf(err, errlen, "redis: cannot start its thread: %s", strerror(rc));
        cn__redis_pubsub_free(&r->ps);
        cn_inbox_destroy(&r->inbox);
        cn__redis_env_destroy(&r->env);
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

void cn_redis_close(struct cn_redis *r)
{
    if (!r || r->joined)
        return;
    r->joined = true;
    /* seq_cst store, then seq_cst loads of submitters: pairs with the seq_cst
     * increment then load of `closed` in enter(). */
    atomic_store_explicit(&r->closed, true, memory_order_seq_cst);
    while (atomic_load_explicit(&r->submitters, memory_order_seq_cst) != 0)
        sched_yield(); /* a submitter is between its check and its push: a few µs */
    cn_msg *stop = cn_xmalloc(sizeof *stop);
    cn_msg_init(stop, MSG_STOP, NULL);
    cn_inbox_push(&r->inbox, stop);
    pthread_join(r->thread, NULL);
    /* The loop stops telling the hooks once it is stopping: say "down" here. */
    cn__redis_env_set_flag(&r->env, &r->up, false);
    cn__redis_env_set_flag(&r->env, &r->ps.up, false);
}

void cn_redis_free(struct cn_redis *r)
{
    if (!r)
        return;
    cn_redis_close(r);
    /* Defensive: the contract says no caller is left, but one that entered a call
     * just before is on its way out: let it leave before the memory goes. */
    while (atomic_load_explicit(&r->submitters, memory_order_seq_cst) != 0)
        sched_yield();
    cn_inbox_destroy(&r->inbox); /* empty: the loop drained it after the stop */
    cn__redis_env_destroy(&r->env);
    free(r->host_copy);
    free(r);
}

/* Announces a caller that may push into the inbox; returns false (and leaves) when
 * the client is closed. See the file comment. */
static bool enter(struct cn_redis *r)
{
    atomic_fetch_add_explicit(&r->submitters, 1, memory_order_seq_cst);
    if (!atomic_load_explicit(&r->closed, memory_order_seq_cst))
        return true;
    atomic_fetch_sub_explicit(&r->submitters, 1, memory_order_release);
    return false;
}

static void leave(struct cn_redis *r)
{
    /* release: our push happens-before cn_redis_close seeing zero. */
    atomic_fetch_sub_explicit(&r->submitters, 1, memory_order_release);
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

    struct command *cmd = cn_xcalloc(1, sizeof *cmd);
    cn_msg_init(&cmd->hdr, MSG_CMD, cmd_free);
    cmd->msg_type = msg_type;
    cmd->tag = tag;
    if (reply_to) {
        cn_actor_ref(reply_to);
        cmd->reply_to = reply_to;
    }
    atomic_fetch_add_explicit(&r->commands, 1, memory_order_relaxed);

    const char *refusal = NULL;
    if (!enter(r)) {
        refusal = "redis: client closed";
    } else {
        if (!atomic_load_explicit(&r->up, memory_order_acquire)) {
            /* Fail fast: while Redis is down nothing is formatted or queued. acquire
             * pairs with the release store in cn__redis_env_set_flag (a hint either
             * way: the loop fails the command itself if the connection went down
             * meanwhile). */
            refusal = r->down_error;
        } else if (atomic_fetch_add_explicit(&r->pending, 1, memory_order_relaxed) >=
                   r->cfg.max_pending) {
            atomic_fetch_sub_explicit(&r->pending, 1, memory_order_relaxed);
            refusal = "redis: too many pending commands";
        } else {
            /* hiredis's signature lacks the inner const; it only reads the arguments. */
            size_t *lens = NULL;
            if (!argvlen) {
                lens = cn_xmalloc((size_t)argc * sizeof *lens);
                for (int i = 0; i < argc; i++)
                    lens[i] = strlen(argv[i]);
            }
            cmd->resp_len = redisFormatCommandArgv(&cmd->resp, argc, (const char **)argv,
                                                   argvlen ? argvlen : lens);
            free(lens);
            if (cmd->resp_len < 0)
                cn_oom(total); /* its only failure is malloc */
            cn_inbox_push(&r->inbox, &cmd->hdr);
        }
        leave(r);
    }
    if (refusal) {
        /* Answered on the spot, outside the submitters window: nothing was queued. */
        atomic_fetch_add_explicit(&r->failed_fast, 1, memory_order_relaxed);
        answer(r, cmd, NULL, refusal);
    }
    return 0;
}

bool cn_redis_is_up(struct cn_redis *r)
{
    /* acquire pairs with the release store in cn__redis_env_set_flag */
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
    pthread_mutex_lock(&r->env.mu);
    bool ok;
    for (;;) {
        /* Under the mutex the loop's stores are visible anyway; relaxed suffices. */
        ok = atomic_load_explicit(&r->up, memory_order_relaxed) &&
             (!with_sub || atomic_load_explicit(&r->ps.up, memory_order_relaxed));
        if (ok || pthread_cond_timedwait(&r->env.cond, &r->env.mu, &until) == ETIMEDOUT)
            break;
    }
    ok = atomic_load_explicit(&r->up, memory_order_relaxed) &&
         (!with_sub || atomic_load_explicit(&r->ps.up, memory_order_relaxed));
    pthread_mutex_unlock(&r->env.mu);
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
    out->connect_failures = LOAD(env.connect_failures);
    out->reconnects = LOAD(reconnects);
    out->outages = LOAD(outages);
    out->pending = LOAD(pending);
    out->pubsub_received = LOAD(ps.received);
    out->pubsub_delivered = LOAD(ps.delivered);
    out->sub_reconnects = LOAD(ps.reconnects);
    out->channels = LOAD(ps.channels);
#undef LOAD
    /* acquire pairs with the release store in cn__redis_env_set_flag */
    out->up = atomic_load_explicit(&r->up, memory_order_acquire);
    out->sub_up = atomic_load_explicit(&r->ps.up, memory_order_acquire);
}

/* Checks a channel name and queues a request for it. */
static int push_subreq(struct cn_redis *r, bool subscribe, const char *channel, cn_actor *actor,
                       uint32_t msg_type)
{
    if (!r || !channel || !actor)
        return -EINVAL;
    size_t len = strnlen(channel, CN_REDIS_MAX_CHANNEL_LEN + 1);
    if (len == 0 || len > CN_REDIS_MAX_CHANNEL_LEN)
        return -EINVAL;
    if (!enter(r))
        return -ESHUTDOWN;
    struct cn__redis_subreq *req =
        cn__redis_subreq_new(MSG_SUBREQ, subscribe, channel, len, actor, msg_type);
    cn_inbox_push(&r->inbox, &req->hdr);
    leave(r);
    return 0;
}

int cn_redis_subscribe(struct cn_redis *r, const char *channel, cn_actor *actor, uint32_t msg_type)
{
    return push_subreq(r, true, channel, actor, msg_type);
}

int cn_redis_unsubscribe(struct cn_redis *r, const char *channel, cn_actor *actor)
{
    return push_subreq(r, false, channel, actor, 0);
}
