/* Membership revocation: when memberships of a room end (a member leaves or is
 * removed, the room is closed), every STOMP session of those users on every node stops
 * at once, whether or not it subscribed to the room: its subscriptions to the room end
 * (with a last MESSAGE, `x-event: leave|removed|closed`), a SUBSCRIBE still being
 * checked is refused, and its SEND path forgets the cached membership, so SEND, read
 * receipts and typing are refused from then on (docs/PROTOCOL.md, "Membership ends").
 *
 * One actor per node. At start it subscribes (through the Redis adapter) to the
 * node-wide channel `membership` (proto/revoke_event.h) and to an ack channel of its
 * own, `membership:ack:<node id>:<random>` (random so that a restarted node never
 * counts its previous life's acks).
 *
 * A revocation made here (cn_membership_revoke, called by the REST request actors
 * through rest_revoke once PostgreSQL has deleted the memberships):
 *   1. the local sessions are told at once (session directory -> a CN_SESSION_REVOKE in
 *      each session's mailbox), so this node never depends on its own Pub/Sub;
 *   2. the event is PUBLISHed on `membership`; Redis answers with the number of
 *      subscriber connections that got it, i.e. the nodes (this one included, when its
 *      subscriber connection is up);
 *   3. each node that gets it tells its local sessions the same way, then PUBLISHes
 *      "ack <id>" on the event's ack channel; this node counts its own copy as its ack;
 *   4. once as many acks as nodes arrived, or wait_ms passed, the caller gets one
 *      struct cn_membership_done. So when a REST answer says "left", every node that
 *      acknowledged has the revocation in the mailbox of each session concerned, ahead
 *      of any frame the client sends after the answer.
 * With Redis down the PUBLISH fails: the caller hears back at once (local sessions were
 * told); other nodes' caches are bounded by the SEND path's membership TTL
 * (membership.cache_ttl_ms) and dropped when their subscriber connection comes back.
 *
 * Whenever this node cannot be sure it heard every revocation (its `membership`
 * subscription is confirmed for the first time, or again after the subscriber
 * connection was lost) it drops every session's cached memberships at once
 * (cn_send_path_forget_all).
 *
 * Memory: the program owns the struct cn_membership (cn_membership_free, after the
 * runtime has shut down); the actor borrows it. Threads: cn_membership_revoke and the
 * stats from any thread; start, close and free from the owner thread. */
#ifndef CN_ACTORS_MEMBERSHIP_MEMBERSHIP_H
#define CN_ACTORS_MEMBERSHIP_MEMBERSHIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actors/runtime/runtime.h"
#include "base/strbuf.h"

struct cn_membership;
struct cn_redis;
struct cn_session_dir;
struct cn_send_path;

struct cn_membership_opts {
    cn_runtime *rt;                  /* borrowed; outlives the actor */
    struct cn_redis *redis;          /* borrowed; NULL: this node only, no Pub/Sub */
    struct cn_session_dir *sessions; /* borrowed; the sessions to tell */
    struct cn_send_path *send;       /* borrowed; NULL: no cache to drop */
    const char *node_id;             /* borrowed, copied; names the ack channel */
    uint32_t wait_ms;                /* longest wait for the other nodes' acks */
};

/* What the caller of cn_membership_revoke receives, exactly once (type: its msg_type).
 * Freed with cn_msg_free. */
struct cn_membership_done {
    cn_msg hdr;
    uint64_t tag;       /* as given */
    uint64_t nodes;     /* nodes the event reached (PUBLISH's count); 0 with Redis down */
    uint64_t acks;      /* of them, those that acknowledged in time */
    bool timed_out;     /* wait_ms passed first */
    uint64_t waited_ms; /* from the call to this answer */
};

struct cn_membership_stats {
    uint64_t revocations;   /* made on this node */
    uint64_t remote;        /* other nodes' revocations applied here */
    uint64_t sessions_told; /* CN_SESSION_REVOKE messages sent to local sessions */
    uint64_t acks;          /* acks received for this node's revocations */
    uint64_t timeouts;      /* revocations answered at wait_ms without every ack */
    uint64_t publish_fails; /* events Redis did not take (down): answered at once */
    uint64_t cache_drops;   /* cn_send_path_forget_all calls (start, Redis reconnects) */
    uint64_t bad_events;    /* malformed messages on the two channels */
    uint64_t waited_ms_sum; /* summed over answered revocations */
    uint64_t waited_count;
};

/* Validates `o`, spawns the actor and subscribes it. Returns the handle, or NULL with a
 * one-line reason in `err`. Owner thread. */
struct cn_membership *cn_membership_start(const struct cn_membership_opts *o, char *err,
                                          size_t errlen);

/* Revokes the memberships of the n users in `users` (borrowed, copied; ids > 0) of
 * room_id (> 0), or with n == 0 of every member (a closed room), for the reason `kind`
 * ("leave", "removed", "closed": 1..15 lower-case letters). Call it after the
 * memberships are gone from PostgreSQL. Sends exactly one struct cn_membership_done of
 * type msg_type carrying `tag` to reply_to (borrowed; a reference is held until then;
 * NULL: nobody waits), once every node acknowledged or the wait passed; at once when
 * the arguments are invalid or the actor is closed. Any thread; cannot fail. */
void cn_membership_revoke(struct cn_membership *m, int64_t room_id, const int64_t *users, size_t n,
                          const char *kind, cn_actor *reply_to, uint32_t msg_type, uint64_t tag);

/* The ack channel of this node (for tests and logs). Borrowed; valid until free. */
const char *cn_membership_ack_channel(const struct cn_membership *m);

/* Shutdown, while the runtime runs: every revocation still waiting is answered now,
 * later calls are answered at once, the channels are unsubscribed. Owner thread;
 * idempotent; NULL is a no-op. */
void cn_membership_close(struct cn_membership *m);

/* Frees `m` once the runtime has shut down. Owner thread; NULL is a no-op. */
void cn_membership_free(struct cn_membership *m);

/* Fills `out`. Any thread until cn_membership_free; cannot fail. */
void cn_membership_stats(struct cn_membership *m, struct cn_membership_stats *out);

/* Appends the chat_membership_* families to `b`; NULL `m` appends nothing. */
void cn_membership_metrics_render(struct cn_strbuf *b, struct cn_membership *m);

#endif
