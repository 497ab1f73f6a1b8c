/* Per-user live events (docs/PROTOCOL.md, "Per-user events (/user/queue/events)"):
 * ROOM_ADDED, ROOM_REMOVED and MEMBERS_CHANGED for the users whose room list a REST
 * step changed, delivered to each of their STOMP sessions, on every node, that
 * subscribed to /user/queue/events.
 *
 * Publishing (cn_user_events_publish, from a REST request actor's step): the event goes
 * out as PUBLISH on the node-wide Redis channel CN_USER_EVENT_CHANNEL
 * (proto/user_event.h), in lines of at most CN_USER_EVENT_MAX_USERS recipients. The
 * REST steps drop the recipients' cached room lists (DEL rooms:{id}) on the same Redis
 * command connection just before, and Redis runs one connection's commands in order: by
 * the time any node receives the event the DEL has run, so a client that refetches
 * GET /api/rooms on the event sees the change. Nothing is stored: with Redis down the
 * events are lost (clients refetch their list on every reconnect).
 *
 * Receiving (one actor per node, subscribed to the channel; this node's own events
 * come back the same way): each line costs a lookup of its recipients in the session
 * directory and one small mailbox message per session found
 * (cn_session_dir_user_event); the session writes the MESSAGE on each of its
 * /user/queue/events subscriptions.
 *
 * Bounds: a line carries at most CN_USER_EVENT_MAX_USERS recipients; MEMBERS_CHANGED
 * goes to at most CN_USER_EVENTS_MAX_FANOUT other members (a bigger room's members get
 * none: their lists still change, the client sees it on its next refetch); ROOM_ADDED
 * and ROOM_REMOVED go to every user concerned (a closed room: each of its members).
 *
 * Memory: the program owns the struct (cn_user_events_free after the runtime shut
 * down); the actor borrows it. Threads: publish and stats from any thread; start,
 * close, free from the owner thread. */
#ifndef CN_ACTORS_USER_EVENTS_USER_EVENTS_H
#define CN_ACTORS_USER_EVENTS_USER_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "actors/runtime/runtime.h"
#include "base/strbuf.h"
#include "proto/user_event.h"

#define CN_USER_EVENTS_MAX_FANOUT 5000

struct cn_user_events;
struct cn_redis;
struct cn_session_dir;

struct cn_user_events_opts {
    cn_runtime *rt;                  /* borrowed; outlives the actor */
    struct cn_redis *redis;          /* borrowed; NULL: this node only, delivered at once */
    struct cn_session_dir *sessions; /* borrowed; the sessions to tell */
};

struct cn_user_events_stats {
    uint64_t published;     /* lines PUBLISHed (or delivered at once without Redis) */
    uint64_t publish_fails; /* lines the Redis adapter refused */
    uint64_t capped;        /* MEMBERS_CHANGED not sent: the room has too many members */
    uint64_t received;      /* lines received on the channel */
    uint64_t delivered;     /* messages handed to local sessions */
    uint64_t bad_events;    /* malformed lines on the channel */
};

/* Spawns the actor and subscribes it. Returns the handle, or NULL with a one-line
 * reason in `err`. Owner thread. */
struct cn_user_events *cn_user_events_start(const struct cn_user_events_opts *o, char *err,
                                            size_t errlen);

/* Publishes `ev` (borrowed; its users fields are ignored) for users[0..n) (borrowed;
 * ids <= 0 skipped). Call it after the recipients' cached room lists were dropped on
 * the same Redis adapter. For MEMBERS_CHANGED, n > CN_USER_EVENTS_MAX_FANOUT sends
 * nothing. m NULL or n 0 is a no-op. Any thread; cannot fail. */
void cn_user_events_publish(struct cn_user_events *m, const struct cn_user_event *ev,
                            const int64_t *users, size_t n);

/* Unsubscribes; events received afterwards are dropped. Owner thread; idempotent;
 * NULL is a no-op. */
void cn_user_events_close(struct cn_user_events *m);

/* Frees `m` once the runtime has shut down. Owner thread; NULL is a no-op. */
void cn_user_events_free(struct cn_user_events *m);

void cn_user_events_stats(struct cn_user_events *m, struct cn_user_events_stats *out);

/* Appends the chat_user_events_* families to `b`; NULL `m` appends nothing. */
void cn_user_events_metrics_render(struct cn_strbuf *b, struct cn_user_events *m);

#endif
