/* The Redis adapter's subscription registry: channel -> the local actors that want
 * it, plus what the server has been told about the channel.
 *
 * A chained hash table keyed by the channel bytes; each channel carries an intrusive
 * list of subscribers. Nothing here talks to Redis or sends messages: the subscriber
 * connection (redis_client_pubsub.c) drives it.
 *
 * Threads: owned by the adapter thread; no locking. Memory: channels and subscribers
 * are allocated here; each subscriber holds one reference to its actor, dropped when
 * it is removed. */
#ifndef CN_IO_REDIS_CLIENT_SUBS_H
#define CN_IO_REDIS_CLIENT_SUBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actors/runtime/runtime.h"

/* Where a subscriber stands in being told that its channel is live. */
enum cn__redis_sub_notice {
    CN__SUB_NEW = 0, /* not told yet: the next confirmation sends SUBSCRIBED */
    CN__SUB_LIVE,    /* told, and the channel is subscribed on the current connection */
    CN__SUB_LOST,    /* told before, connection lost since: next confirmation sends RESUBSCRIBED */
};

/* What the server has been asked for this channel (the adapter never sends a
 * SUBSCRIBE and an UNSUBSCRIBE for one channel at the same time; see pubsub.c). */
enum cn__redis_chan_server {
    CN__CHAN_NONE = 0,
    CN__CHAN_SUBSCRIBING,
    CN__CHAN_SUBSCRIBED,
    CN__CHAN_UNSUBSCRIBING,
};

struct cn__redis_sub {
    struct cn__redis_sub *next;
    cn_actor *actor; /* one reference held */
    uint32_t msg_type;
    enum cn__redis_sub_notice notice;
};

struct cn__redis_chan {
    struct cn__redis_chan *next; /* hash chain */
    uint64_t hash;
    struct cn__redis_sub *subs; /* NULL: nobody wants it (removed once the server agrees) */
    enum cn__redis_chan_server server;
    size_t len;
    char name[]; /* len bytes + NUL */
};

struct cn__redis_subs {
    struct cn__redis_chan **bucket;
    size_t nbuckets; /* a power of two */
    size_t count;    /* channels in the table */
};

/* Initialises an empty table. Cannot fail. */
void cn__redis_subs_init(struct cn__redis_subs *s);

/* Frees every channel and drops every subscriber's actor reference. Cannot fail. */
void cn__redis_subs_free(struct cn__redis_subs *s);

/* The channel named by name[0..len), or NULL. Cannot fail. */
struct cn__redis_chan *cn__redis_subs_find(struct cn__redis_subs *s, const char *name, size_t len);

/* The channel, created (no subscribers, server NONE) when missing. Cannot fail. */
struct cn__redis_chan *cn__redis_subs_get(struct cn__redis_subs *s, const char *name, size_t len);

/* Unlinks and frees `c` (taken), dropping any subscriber references. Cannot fail. */
void cn__redis_subs_remove(struct cn__redis_subs *s, struct cn__redis_chan *c);

/* The subscriber entry of `actor` on `c`, or NULL. Cannot fail. */
struct cn__redis_sub *cn__redis_chan_find_sub(struct cn__redis_chan *c, const cn_actor *actor);

/* Unlinks and frees `sub` from `c`, dropping its actor reference. Cannot fail. */
void cn__redis_chan_remove_sub(struct cn__redis_chan *c, struct cn__redis_sub *sub);

/* Calls fn(ctx, c) for every channel; fn may remove the channel it is given, and
 * nothing else. Cannot fail. */
void cn__redis_subs_each(struct cn__redis_subs *s, void (*fn)(void *ctx, struct cn__redis_chan *c),
                         void *ctx);

#endif
