/* The Redis adapter's subscriber side: the subscriber connection, the registry of
 * which local actors want which channel, and the subscribe/unsubscribe requests that
 * travel to the adapter thread. Internal to the adapter: redis_client.c owns one
 * struct cn__redis_pubsub and hands it the requests that come through its inbox.
 *
 * Threads: cn__redis_subreq_new and the statistics run on any thread; everything
 * else on the adapter thread (init and free: before it starts and after it ended). */
#ifndef CN_IO_REDIS_CLIENT_PUBSUB_H
#define CN_IO_REDIS_CLIENT_PUBSUB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actors/runtime/runtime.h"
#include "io/redis_client_subs.h"
#include "io/redis_conn.h"

struct cn__redis_pubsub {
    struct cn__redis_conn conn; /* the subscriber connection; loop only */
    struct cn__redis_subs subs; /* channel -> actors; loop only */
    atomic_bool up;             /* conn is ready: set through cn__redis_env_set_flag */
    /* Statistics: relaxed, they publish nothing. */
    _Atomic uint64_t received;   /* messages received on subscribed channels */
    _Atomic uint64_t delivered;  /* copies handed to subscribed actors */
    _Atomic uint64_t reconnects; /* connection re-established and resubscribed */
    _Atomic uint64_t channels;   /* channels in the registry */
};

/* A subscribe or unsubscribe request, on its way through the adapter's inbox. */
struct cn__redis_subreq {
    cn_msg hdr; /* type: the inbox's, chosen by the adapter */
    bool subscribe;
    cn_actor *actor; /* subscribe: one reference held (handed to the registry);
                        unsubscribe: identity only */
    uint32_t msg_type;
    size_t len;
    char channel[];
};

/* Makes a request for channel[0..len) (copied; the caller checked the length) and
 * `actor` (borrowed; a subscribe takes a reference of its own, dropped when the
 * message is freed unhandled). Any thread; cannot fail. */
struct cn__redis_subreq *cn__redis_subreq_new(uint32_t inbox_type, bool subscribe,
                                              const char *channel, size_t len, cn_actor *actor,
                                              uint32_t msg_type);

/* Sets up an empty registry and the subscriber connection in loop slot `slot` of
 * `env` (borrowed; outlives ps). Cannot fail. */
void cn__redis_pubsub_init(struct cn__redis_pubsub *ps, struct cn__redis_env *env, int slot);

/* Applies a request (taken); once env->stopping it is only freed. Cannot fail. */
void cn__redis_pubsub_handle(struct cn__redis_pubsub *ps, struct cn__redis_subreq *req);

/* Drops every subscription and its actor reference, once the subscriber connection
 * is gone. Idempotent. Cannot fail. */
void cn__redis_pubsub_free(struct cn__redis_pubsub *ps);

#endif
