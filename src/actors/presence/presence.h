/* Presence: a user is ONLINE while any of their STOMP sessions on any node is open,
 * OFFLINE (with users.last_seen_at) once the last one closed, and a crashed node's
 * users go OFFLINE within presence.ttl_ms + presence.sweep_ms.
 *
 * One actor per node keeps the number of open sessions per user on this node (the
 * sessions tell it, cn_presence_opened / cn_presence_closed). In Redis each user with
 * sessions somewhere has a sorted set `presence:{userId}` whose members are node ids,
 * scored by the (Redis server's) time in ms until which that node vouches for the
 * user; the key itself expires ttl_ms after its last refresh. A sorted set per user,
 * rather than one key per (user, node), lets "is anyone else holding this user?" be one
 * ZCARD instead of a SCAN over the key space.
 *
 * Transitions (statements on the presence pool, which has ONE connection so that a
 * user's ONLINE and OFFLINE reach PostgreSQL in the order the actor sent them):
 *   - first local session: vouch in Redis (ZADD), then presence_online;
 *   - last local session closed: withdraw (ZREM) and count the other nodes' live
 *     entries in the same script; none left, and still no local session by the time
 *     the answer is back: presence_offline (status OFFLINE, last_seen_at = now());
 *   - every refresh_ms: vouch again for every local user, and presence_online for all
 *     of them, which repairs a race where another node's OFFLINE landed after our
 *     ONLINE (two nodes cannot order their statements);
 *   - every sweep_ms, on the one node that wins a short Redis lock: page through the
 *     ONLINE users (presence_online_page), drop the expired entries of their sets and
 *     presence_offline the users that have none left (a crashed node's users).
 * Redis down: transitions still write PostgreSQL (a first session goes ONLINE, a last
 * close goes OFFLINE, as if no other node held the user); the refresh repairs both
 * once Redis is back. No call blocks: Redis and the pool answer with messages.
 *
 * Memory: the presence object is owned by the program (cn_presence_free drops the
 * owner's reference; it is freed once its actor is gone too); the actor owns its map.
 * Threads: opened/closed from any thread; start, drain, close and free from the owner
 * thread. */
#ifndef CN_ACTORS_PRESENCE_PRESENCE_H
#define CN_ACTORS_PRESENCE_PRESENCE_H

#include <stdbool.h>
#include <stdint.h>

#include "actors/runtime/runtime.h"
#include "base/strbuf.h"
#include "io/pg_pool.h"
#include "io/redis_client.h"

struct cn_presence;

/* The Redis key of a user's sorted set of vouching nodes: CN_PRESENCE_KEY "<userId>".
 * chat-admin user and kick --user read it to know which nodes to ask. */
#define CN_PRESENCE_KEY "presence:"

struct cn_presence_opts {
    cn_runtime *rt;         /* borrowed; outlives the presence actor */
    struct cn_pg_pool *pg;  /* borrowed; one connection (see above); freed after the runtime */
    struct cn_redis *redis; /* borrowed; freed after the runtime */
    const char *node_id;    /* borrowed, copied; 1..64 bytes, unique per running node */
    int ttl_ms;             /* how long one refresh vouches for a user */
    int refresh_ms;         /* < ttl_ms */
    int sweep_ms;           /* how often some node looks for users nobody vouches for */
};

struct cn_presence_stats {
    uint64_t users;     /* users with a session on this node (gauge) */
    uint64_t online;    /* users this node turned ONLINE in PostgreSQL */
    uint64_t offline;   /* users this node turned OFFLINE after their last close */
    uint64_t swept;     /* users the sweep turned OFFLINE (nobody vouched for them) */
    uint64_t sweeps;    /* sweeps this node ran (it held the lock) */
    uint64_t refreshes; /* refresh ticks */
    uint64_t failures;  /* Redis or PostgreSQL calls that failed */
};

/* Validates `o`, spawns the actor and arms its timers. Returns the presence, or NULL
 * with a one-line reason in `err`. Owner thread. */
struct cn_presence *cn_presence_start(const struct cn_presence_opts *o, char *err, size_t errlen);

/* A STOMP session of `user_id` (> 0) opened / closed on this node. Every opened is
 * followed by exactly one closed. Any thread; NULL `p` is a no-op; cannot fail. */
void cn_presence_opened(struct cn_presence *p, int64_t user_id);
void cn_presence_closed(struct cn_presence *p, int64_t user_id);

/* Shutdown, after every session was closed: waits up to timeout_ms until the actor has
 * no local user left and no transition in flight (so the node's users are OFFLINE
 * unless another node holds them). Returns whether it got there. Owner thread. */
bool cn_presence_drain(struct cn_presence *p, int timeout_ms);

/* Stops the actor: no transition is started any more (after cn_presence_drain there is
 * none left to lose). The pool and Redis may be closed before or after it; their
 * refusals are quiet. Owner thread; idempotent; NULL is a no-op. */
void cn_presence_close(struct cn_presence *p);

/* Drops the owner's reference; the rest goes with the actor, at the latest when the
 * runtime shuts down. Call it after cn_presence_close, usually once the runtime has
 * shut down. Owner thread; NULL is a no-op. */
void cn_presence_free(struct cn_presence *p);

/* Fills `out`. Any thread until cn_presence_free; cannot fail. */
void cn_presence_stats(struct cn_presence *p, struct cn_presence_stats *out);

/* Appends chat_presence_* to `b`; NULL `p` appends nothing. */
void cn_presence_metrics_render(struct cn_strbuf *b, struct cn_presence *p);

#endif
