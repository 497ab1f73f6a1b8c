/* The Redis adapter: one thread of its own running hiredis's async API on a poll()
 * loop, with one command connection and one Pub/Sub subscriber connection.
 *
 * Any thread submits a command (argv-style, binary-safe, copied at once) and the
 * answer comes back to an actor as a `struct cn_redis_reply` message, exactly once.
 * While Redis is unreachable commands fail at once with ok = 0 (nothing queues
 * waiting for Redis to come back, nothing blocks); the loop reconnects in the
 * background with a backoff (100 ms doubling to 2 s by default) and logs an outage
 * once when it starts and once when it ends, never per command. A connection counts
 * as up only once Redis answered on it (a PING, or the subscriber's first SUBSCRIBE),
 * and after losing a working connection the first reconnect attempt is immediate.
 *
 * Subscriptions are kept by the adapter: a channel is subscribed on the server while
 * at least one actor wants it, every published message is copied to each of those
 * actors, and after the subscriber connection comes back every channel is
 * subscribed again and each subscriber is told (CN_REDIS_PUBSUB_RESUBSCRIBED), so
 * that it can repair whatever it missed meanwhile.
 *
 * Shutdown is two steps, so that actors may call the adapter at any time until the
 * runtime has stopped: cn_redis_close while the runtime runs (it answers everything
 * pending and drops every actor reference), cn_redis_free once it has shut down.
 *
 * Threads: every function may be called from any thread until cn_redis_free, except
 * that close and free belong to the owner. Errors are 0 or a negative errno. Out of
 * memory aborts (base/xmalloc.h). */
#ifndef CN_IO_REDIS_CLIENT_H
#define CN_IO_REDIS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actors/runtime/runtime.h"
#include "io/redis_messages.h"

struct cn_redis;

/* Limits of cn_redis_command's input, checked before anything is copied. */
#define CN_REDIS_MAX_ARGS        65536
#define CN_REDIS_MAX_CMD_BYTES   (64u * 1024u * 1024u)
#define CN_REDIS_MAX_CHANNEL_LEN 1024

struct cn_redis_config {
    /* Borrowed; copied by cn_redis_start_config. An IP address or a name; a name is
     * resolved (getaddrinfo) on the adapter thread at each connect attempt. */
    const char *host;
    int port;               /* 1..65535 */
    int connect_timeout_ms; /* a connect attempt that takes longer is abandoned; default 1000 */
    /* A command without a reply for this long means the connection is dead (a frozen
     * server, a silent network): it is dropped, every pending command fails and the
     * reconnect cycle starts. Default 5000. So a blocking command (BLPOP ...) must
     * carry a server-side timeout well below this one. */
    int command_timeout_ms;
    int backoff_min_ms;   /* first wait between failed connect attempts; default 100 */
    int backoff_max_ms;   /* the wait doubles up to this; default 2000 */
    unsigned max_pending; /* submitted and not yet answered; more fail at once; default 100000 */
};

struct cn_redis_stats {
    uint64_t commands;         /* accepted by cn_redis_command */
    uint64_t replies_ok;       /* answered with ok = 1 */
    uint64_t errors;           /* answered with ok = 0 (including failed_fast) */
    uint64_t failed_fast;      /* refused at once: Redis down, or max_pending reached */
    uint64_t timeouts;         /* connections dropped for a late reply */
    uint64_t connect_failures; /* connect attempts that failed (either connection) */
    uint64_t reconnects;       /* command connection re-established after a loss */
    uint64_t outages;          /* times Redis became unreachable (each logged once) */
    uint64_t pending;          /* submitted, not yet answered */
    uint64_t pubsub_received;  /* messages received on subscribed channels */
    uint64_t pubsub_delivered; /* copies handed to subscribed actors */
    uint64_t sub_reconnects;   /* subscriber connection re-established and resubscribed */
    uint64_t channels;         /* channels wanted locally (or still being unsubscribed) */
    bool up;                   /* the command connection is ready */
    bool sub_up;               /* the subscriber connection is ready */
};

/* Fills `cfg` (caller memory) with the defaults above; host and port are left NULL/0
 * for the caller. Cannot fail. */
void cn_redis_config_defaults(struct cn_redis_config *cfg);

/* Validates `cfg` (borrowed) and starts the adapter thread, which connects and keeps
 * reconnecting in the background: this never waits for Redis. Returns the handle
 * (closed by cn_redis_close, freed by cn_redis_free), or NULL with a reason in `err`
 * (errlen bytes, always terminated) for an invalid configuration or a failed
 * eventfd/pthread_create. */
struct cn_redis *cn_redis_start_config(const struct cn_redis_config *cfg, char *err, size_t errlen);

/* cn_redis_start_config with the default timeouts. */
struct cn_redis *cn_redis_start(const char *host, int port, char *err, size_t errlen);

/* cn_redis_close: from now on cn_redis_command answers every command at once with an
 * ok = 0 reply ("redis: client closed") and returns 0, as it does while Redis is down,
 * and cn_redis_subscribe / cn_redis_unsubscribe return -ESHUTDOWN. Commands still
 * pending get an ok = 0 reply ("redis: client stopping"), subscriptions are dropped
 * with the actor references they held, the connections are closed and the thread is
 * joined. The memory stays: any thread may keep calling (is_up and wait_up say false,
 * the stats stay readable). Call it while the actor runtime runs (replies are sent to
 * actors). Owner thread; idempotent; NULL is a no-op. Cannot fail.
 *
 * cn_redis_free: frees `r`. The caller makes sure no thread can call into the adapter
 * any more (the actor runtime has shut down). An adapter not closed yet is closed
 * first, which is right only while the runtime still runs (close sends to actors).
 * Owner thread; NULL is a no-op. Cannot fail. */
void cn_redis_close(struct cn_redis *r);
void cn_redis_free(struct cn_redis *r);

/* Submits a command: argv[0..argc) with lengths argvlen (NULL = each argv[i] is a C
 * string), all borrowed and copied before this returns. When `reply_to` is not NULL
 * it is borrowed and a reference is held until exactly one struct cn_redis_reply of
 * type `msg_type` carrying `tag` has been sent to it; NULL means fire and forget.
 * Returns 0 when accepted, including when Redis is down or the adapter is closed (the
 * ok = 0 reply is then sent before this returns); -EINVAL for a NULL handle, argc
 * outside 1..CN_REDIS_MAX_ARGS or a NULL argument; -EMSGSIZE when the command exceeds
 * CN_REDIS_MAX_CMD_BYTES; -ENOTSUP for SUBSCRIBE, PSUBSCRIBE, UNSUBSCRIBE, PUNSUBSCRIBE, MONITOR
 * and QUIT, which would take the shared command connection away (use cn_redis_subscribe). Nothing
 * is sent to reply_to on a negative return. */
int cn_redis_command(struct cn_redis *r, cn_actor *reply_to, uint32_t msg_type, uint64_t tag,
                     int argc, const char *const *argv, const size_t *argvlen);

/* Whether the command connection is ready right now. A hint (it may change at once);
 * commands submitted while it is false fail fast. Cannot fail. */
bool cn_redis_is_up(struct cn_redis *r);

/* Waits up to timeout_ms for the command connection (and, when `with_sub`, the
 * subscriber connection) to be ready. Returns whether it is. Blocks the caller: for
 * start-up code and tests, never for an actor. */
bool cn_redis_wait_up(struct cn_redis *r, bool with_sub, int timeout_ms);

/* Fills `out` (caller memory) with the counters. Read one by one, so sums may be
 * off by in-flight work. Cannot fail. */
void cn_redis_stats(struct cn_redis *r, struct cn_redis_stats *out);

/* Subscribes `actor` (borrowed; a reference is held until it unsubscribes, is found
 * stopped, or the adapter closes) to `channel` (a C string of 1..CN_REDIS_MAX_CHANNEL_LEN
 * bytes, copied). It receives struct cn_redis_pubsub messages of type `msg_type`:
 * one SUBSCRIBED once the server confirms, then every MESSAGE, and RESUBSCRIBED after
 * each reconnect. Subscribing again with the same actor only changes msg_type.
 * Returns 0, -EINVAL for a NULL argument or a bad channel length, or -ESHUTDOWN once
 * the adapter is closed. */
int cn_redis_subscribe(struct cn_redis *r, const char *channel, cn_actor *actor, uint32_t msg_type);

/* Removes `actor`'s subscription to `channel` (both borrowed; unknown pairs are a
 * no-op); the channel is unsubscribed on the server when no local actor wants it any
 * more. Messages already on their way may still arrive. Returns 0, -EINVAL, or
 * -ESHUTDOWN once the adapter is closed (which dropped every subscription). */
int cn_redis_unsubscribe(struct cn_redis *r, const char *channel, cn_actor *actor);

#endif
