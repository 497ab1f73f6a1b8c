/* One hiredis async connection of the Redis adapter and its reconnect schedule, and
 * what the adapter's connections share (the poll loop, the timeouts, the condition
 * variable cn_redis_wait_up sleeps on). Internal to the adapter: redis_client.c runs
 * the command connection on it, redis_client_pubsub.c the subscriber connection.
 *
 * A connection goes DOWN -> CONNECTING (TCP) -> HELLO (AUTH when redis.password is set,
 * see redis_auth.h, then its first command sent) -> UP
 * (answered). A TCP connect alone proves little (a dying server still completes
 * handshakes from its backlog), so a connection counts as up only once Redis answered
 * on it. What the first command is and what up and down mean is the owner's business,
 * told through three hooks; this file only connects, drops and schedules.
 *
 * Threads: everything here runs on the adapter thread, except cn__redis_env_set_flag
 * (any thread) and init/destroy (the owner, before the thread starts and after it
 * ended). */
#ifndef CN_IO_REDIS_CONN_H
#define CN_IO_REDIS_CONN_H

#include <hiredis/async.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "io/redis_loop.h"

/* What every connection of one adapter shares. */
struct cn__redis_env {
    /* Set by cn__redis_env_init, read-only afterwards. */
    const char *host; /* borrowed from the owner, which keeps it until destroy */
    int port;
    int connect_timeout_ms, backoff_min_ms, backoff_max_ms;

    struct cn__redis_loop loop; /* the adapter thread's poll loop */
    /* Loop only: the adapter is closing; a connection that goes down now tells no
     * hook (the owner fails what it holds itself). */
    bool stopping;
    /* Connect attempts that failed, either connection: relaxed, a statistic. */
    _Atomic uint64_t connect_failures;

    /* cn_redis_wait_up sleeps on `cond`; cn__redis_env_set_flag broadcasts. */
    pthread_mutex_t mu;
    pthread_cond_t cond;
};

enum cn__redis_conn_state { CN__CONN_DOWN = 0, CN__CONN_CONNECTING, CN__CONN_HELLO, CN__CONN_UP };

struct cn__redis_conn;

/* The owner's part of a connection, called on the adapter thread. */
struct cn__redis_conn_hooks {
    /* Sends the first command on c->ac; its answer calls cn__redis_conn_ready (or
     * cn__redis_conn_reject). */
    void (*hello)(struct cn__redis_conn *c);
    /* The connection is up (hello answered). */
    void (*on_up)(struct cn__redis_conn *c);
    /* A connect attempt failed or a connection was lost (`why`: static or
     * short-lived text); not called once env->stopping is set. */
    void (*on_down)(struct cn__redis_conn *c, const char *why);
};

/* One connection and its reconnect schedule. Loop only. */
struct cn__redis_conn {
    struct cn__redis_env *env;
    struct cn__redis_conn_hooks hooks;
    void *owner;      /* for the hooks */
    const char *name; /* "command" or "subscriber", for logs */
    int slot;         /* in env->loop */
    redisAsyncContext *ac;
    enum cn__redis_conn_state state;
    uint64_t next_attempt_ns;     /* DOWN: when to try again */
    uint64_t connect_deadline_ns; /* CONNECTING, HELLO: give up after */
    int backoff_ms;               /* the wait after the next failure */
    bool was_up;                  /* it has been up before (so the next up is a reconnect) */
    /* Why the adapter itself is dropping the connection (a timeout, the close):
     * reported to pending commands instead of hiredis's own error text. */
    const char *drop_reason;
    /* The last AUTH refusal (drop_reason points here then); whether it was logged. */
    char auth_why[320];
    bool auth_warned;
};

/* Fills `env` (caller memory) for connections to host:port (host borrowed until
 * cn__redis_env_destroy) and creates the loop's eventfd. Returns 0 or -errno (then
 * nothing needs destroying). */
int cn__redis_env_init(struct cn__redis_env *env, const char *host, int port,
                       int connect_timeout_ms, int backoff_min_ms, int backoff_max_ms);

/* Releases what init made. Every connection's context must be gone. Cannot fail. */
void cn__redis_env_destroy(struct cn__redis_env *env);

/* Stores `value` into `flag` (an up flag of the owner's) with release, and wakes
 * cn_redis_wait_up. Any thread. Cannot fail. */
void cn__redis_env_set_flag(struct cn__redis_env *env, atomic_bool *flag, bool value);

/* Sets up `c` (caller memory), DOWN with its first attempt due at once, in loop slot
 * `slot`; `name` is static, `owner` is handed back to the hooks. Cannot fail. */
void cn__redis_conn_init(struct cn__redis_conn *c, struct cn__redis_env *env, const char *name,
                         int slot, const struct cn__redis_conn_hooks *hooks, void *owner);

/* Starts a connect attempt that is due and abandons one past its deadline. Cannot
 * fail. */
void cn__redis_conn_tend(struct cn__redis_conn *c, uint64_t now_ns);

/* When cn__redis_conn_tend has something to do next (UINT64_MAX: nothing while the
 * connection is up). Cannot fail. */
uint64_t cn__redis_conn_due(const struct cn__redis_conn *c);

/* Drops the connection now (not from inside a hiredis callback): pending callbacks
 * run with a NULL reply and the connection reports `why` (static text). No-op when
 * there is no context. Cannot fail. */
void cn__redis_conn_drop(struct cn__redis_conn *c, const char *why);

/* The hello command was answered: the connection is UP, its on_up runs. Cannot fail. */
void cn__redis_conn_ready(struct cn__redis_conn *c);

/* The hello command was refused: drops the connection with `why` (static text) from
 * inside a hiredis callback (hiredis defers the free until the callback returns, then
 * the disconnect is reported). Cannot fail. */
void cn__redis_conn_reject(struct cn__redis_conn *c, const char *why);

#endif
