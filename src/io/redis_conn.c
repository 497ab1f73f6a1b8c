/* One connection of the Redis adapter: connect, hello, drop, and the reconnect
 * schedule; see redis_conn.h. */
#include "io/redis_conn.h"

#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "io/redis_auth.h"

#define MOD "redis"

int cn__redis_env_init(struct cn__redis_env *env, const char *host, int port,
                       int connect_timeout_ms, int backoff_min_ms, int backoff_max_ms)
{
    memset(env, 0, sizeof *env);
    env->host = host;
    env->port = port;
    env->connect_timeout_ms = connect_timeout_ms;
    env->backoff_min_ms = backoff_min_ms;
    env->backoff_max_ms = backoff_max_ms;
    int rc = cn__redis_loop_init(&env->loop);
    if (rc < 0)
        return rc;
    pthread_mutex_init(&env->mu, NULL);
    pthread_cond_init(&env->cond, NULL);
    return 0;
}

void cn__redis_env_destroy(struct cn__redis_env *env)
{
    cn__redis_loop_close(&env->loop);
    pthread_mutex_destroy(&env->mu);
    pthread_cond_destroy(&env->cond);
}

void cn__redis_env_set_flag(struct cn__redis_env *env, atomic_bool *flag, bool value)
{
    pthread_mutex_lock(&env->mu);
    /* release pairs with the acquire loads in cn_redis_is_up / stats / wait_up;
     * the mutex is for wait_up's condition variable. */
    atomic_store_explicit(flag, value, memory_order_release);
    pthread_cond_broadcast(&env->cond);
    pthread_mutex_unlock(&env->mu);
}

void cn__redis_conn_init(struct cn__redis_conn *c, struct cn__redis_env *env, const char *name,
                         int slot, const struct cn__redis_conn_hooks *hooks, void *owner)
{
    *c = (struct cn__redis_conn){.env = env,
                                 .hooks = *hooks,
                                 .owner = owner,
                                 .name = name,
                                 .slot = slot,
                                 .backoff_ms = env->backoff_min_ms};
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
    const struct cn__redis_env *env = c->env;
    uint64_t now = cn_now_ns();
    if (was_working) {
        c->backoff_ms = env->backoff_min_ms;
        c->next_attempt_ns = now;
        return;
    }
    c->next_attempt_ns = now + (uint64_t)c->backoff_ms * 1000000u;
    c->backoff_ms =
        c->backoff_ms * 2 > env->backoff_max_ms ? env->backoff_max_ms : c->backoff_ms * 2;
}

static void conn_failed(struct cn__redis_conn *c, const char *why)
{
    struct cn__redis_env *env = c->env;
    atomic_fetch_add_explicit(&env->connect_failures, 1, memory_order_relaxed);
    CN_DEBUG(MOD, "%s connection to %s:%d failed: %s", c->name, env->host, env->port, why);
    c->ac = NULL;
    c->state = CN__CONN_DOWN;
    conn_schedule(c, false);
    if (!env->stopping)
        c->hooks.on_down(c, why);
}

/* The answer to AUTH: on success the owner's hello follows; a refusal (a wrong
 * password, a disabled user) drops the connection like any failed attempt, so it is
 * retried on the usual schedule, and is logged once per streak of refusals. */
static void on_auth(redisAsyncContext *ac, void *reply_, void *privdata)
{
    (void)privdata;
    struct cn__redis_conn *c = conn_of(ac);
    if (!reply_)
        return; /* being freed: on_disconnect reports it */
    char why[160];
    if (cn_redis_auth_refused(reply_, why, sizeof why)) {
        snprintf(c->auth_why, sizeof c->auth_why, "Redis authentication failed at %.100s:%d: %s",
                 c->env->host, c->env->port, why);
        if (!c->auth_warned)
            CN_WARN(MOD, "%s connection: %s; retrying", c->name, c->auth_why);
        c->auth_warned = true;
        cn__redis_conn_reject(c, c->auth_why);
        return;
    }
    c->auth_warned = false;
    c->hooks.hello(c);
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
    /* AUTH goes first on every connection, reconnects included; hiredis answers in
     * order, so the owner's hello is sent only once AUTH succeeded. */
    int rc = cn_redis_auth_async(c->ac, on_auth, NULL);
    if (rc == 0)
        c->hooks.hello(c);
    /* rc < 0 (hiredis refused to queue it, a closing context): the connect deadline
     * drops the connection; freeing it here, inside the connect callback, is unsafe. */
}

void cn__redis_conn_ready(struct cn__redis_conn *c)
{
    c->state = CN__CONN_UP;
    c->backoff_ms = c->env->backoff_min_ms;
    c->hooks.on_up(c);
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
        atomic_fetch_add_explicit(&c->env->connect_failures, 1, memory_order_relaxed);
    c->ac = NULL;
    c->state = CN__CONN_DOWN;
    c->drop_reason = NULL;
    conn_schedule(c, was_working);
    if (!c->env->stopping)
        c->hooks.on_down(c, why);
}

static void conn_start(struct cn__redis_conn *c)
{
    struct cn__redis_env *env = c->env;
    redisAsyncContext *ac = redisAsyncConnect(env->host, env->port);
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
    c->connect_deadline_ns = cn_now_ns() + (uint64_t)env->connect_timeout_ms * 1000000u;
    cn__redis_loop_attach(&env->loop, c->slot, ac);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
}

void cn__redis_conn_drop(struct cn__redis_conn *c, const char *why)
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

void cn__redis_conn_tend(struct cn__redis_conn *c, uint64_t now_ns)
{
    if (c->state == CN__CONN_DOWN && now_ns >= c->next_attempt_ns)
        conn_start(c);
    if ((c->state == CN__CONN_CONNECTING || c->state == CN__CONN_HELLO) &&
        now_ns >= c->connect_deadline_ns)
        cn__redis_conn_drop(c, "connect timed out");
}

uint64_t cn__redis_conn_due(const struct cn__redis_conn *c)
{
    switch (c->state) {
    case CN__CONN_DOWN:
        return c->next_attempt_ns;
    case CN__CONN_CONNECTING:
    case CN__CONN_HELLO:
        return c->connect_deadline_ns;
    case CN__CONN_UP:
        return UINT64_MAX;
    }
    return UINT64_MAX;
}
