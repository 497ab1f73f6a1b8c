/* The node's directory of open STOMP sessions, for the admin socket: who is
 * connected, since when, to which rooms; and the way to reach a session from
 * outside the runtime (kick, drain).
 *
 * Sessions tell it when CONNECT succeeded and when they close (session_auth.c,
 * session.c); room subscriptions are seen by wrapping the room hooks the sessions
 * call (cn_session_dir_room_hooks), so the session code knows nothing of it beyond
 * two calls. A mutex guards the map: the calls come from many workers and from the
 * admin thread, each critical section is a hash operation or a copy, and the
 * admin's listing is rare.
 *
 * It also finds a user's sessions for a membership revocation (cn_session_dir_revoke,
 * called by actors/membership): an index user id -> that user's entries, so a
 * revocation costs its users' sessions, not a walk over the node's.
 *
 * Memory: the directory holds one reference to each listed session actor, taken
 * when it opens and dropped when it closes; listings are copies the caller frees
 * with cn_session_dir_list_free. */
#ifndef CN_ACTORS_SESSION_SESSION_DIRECTORY_H
#define CN_ACTORS_SESSION_SESSION_DIRECTORY_H

#include <stddef.h>
#include <stdint.h>

#include "actors/runtime/runtime.h"
#include "actors/session/session_seams.h"

struct cn_session_dir;

/* The message the directory sends a session for kick and drain. reconnect_after_ms
 * < 0: a kick (ERROR with `reason`, then close); >= 0: drain (finish in-flight
 * SENDs, then ERROR carrying x-reconnect-after-ms, then close). Freed with free(). */
#define CN_SESSION_KICK 0x5792
struct cn_session_kick {
    cn_msg hdr;
    int64_t reconnect_after_ms;
    char reason[]; /* "" when none */
};

/* The message a session gets when memberships of a room ended (the user left or was
 * removed, or the room was closed; actors/membership/membership.h): it ends its
 * subscriptions to the room, each with a last MESSAGE carrying `x-event: <kind>`
 * (message-id "<kind>-<room>-<user>-<at_ms>"), refuses a SUBSCRIBE to the room still
 * waiting for its membership check, and tells its SEND path to forget the room's
 * cached membership, in that order, in its own mailbox: every frame that reaches the
 * session after this message is handled after it. Freed with free(). */
#define CN_SESSION_REVOKE          0x5794
#define CN_SESSION_REVOKE_KIND_MAX 15
struct cn_session_revoke {
    cn_msg hdr;
    int64_t room_id;
    int64_t at_ms;
    char kind[CN_SESSION_REVOKE_KIND_MAX + 1]; /* lower-case letters: leave, removed, closed */
};

/* The message a session gets for a per-user live event (actors/user_events): it sends
 * `body` (JSON, body_len bytes) as a MESSAGE on each of its /user/queue/events
 * subscriptions, none when it has none. Freed with free(). */
#define CN_SESSION_USER_EVENT 0x5796
struct cn_session_user_event {
    cn_msg hdr;
    size_t body_len;
    char body[];
};

struct cn_session_info {
    char id[40];
    int64_t user_id;
    int64_t connected_wall_ms;
    char client_addr[64];                          /* "" when unknown */
    uint64_t mailbox_depth, mailbox_hwm, messages; /* the session actor's counters */
    size_t nrooms;
    int64_t *rooms; /* room ids of its room subscriptions (a room twice if subscribed twice) */
};

struct cn_room_info {
    int64_t room_id;
    size_t sessions;      /* local sessions with at least one subscription to it */
    size_t subscriptions; /* local subscriptions to it */
};

/* Creates an empty directory. Cannot fail. */
struct cn_session_dir *cn_session_dir_new(void);

/* Wraps `inner` (borrowed, may be NULL): the returned hooks record each room
 * subscription and then call inner's. Valid while the directory lives. */
const struct cn_session_room_hooks *
cn_session_dir_room_hooks(struct cn_session_dir *d, const struct cn_session_room_hooks *inner);

/* A session completed CONNECT / closed. `session` is borrowed (the directory
 * takes its own reference); client_addr (NULL or "": unknown) is copied. On the session's worker; d
 * NULL is a no-op. */
void cn_session_dir_opened(struct cn_session_dir *d, cn_actor *session, const char *id,
                           int64_t user_id, const char *client_addr);
void cn_session_dir_closed(struct cn_session_dir *d, cn_actor *session);

/* Sessions listed right now. Any thread. */
size_t cn_session_dir_count(struct cn_session_dir *d);

/* Copies the sessions matching the filters (0: any user / any room) into *out
 * (an array the caller frees with cn_session_dir_list_free). Returns the count.
 * Any thread. */
size_t cn_session_dir_list(struct cn_session_dir *d, int64_t user_id, int64_t room_id,
                           struct cn_session_info **out);
void cn_session_dir_list_free(struct cn_session_info *list, size_t n);

/* The rooms the listed sessions subscribe to, most subscriptions first, at most
 * `top` of them (0: all). Caller frees *out with free(). Any thread. */
size_t cn_session_dir_rooms(struct cn_session_dir *d, size_t top, struct cn_room_info **out);

/* Sends a kick to the session with this id (id non-NULL) or to every session of
 * user_id. Returns how many were told. Any thread. */
size_t cn_session_dir_kick(struct cn_session_dir *d, const char *id, int64_t user_id,
                           const char *reason);

/* Sends a CN_SESSION_REVOKE for room_id (> 0), kind (1..15 lower-case letters,
 * copied) and at_ms to every open session of the n users in `users` (borrowed), or,
 * with n == 0, to every open session of the node (a closed room: any of them may hold
 * it). Returns how many sessions were told. The messages are in the sessions'
 * mailboxes when this returns. A session that registers after this call has cached
 * nothing older than it. Any thread; d NULL is a no-op (0). */
size_t cn_session_dir_revoke(struct cn_session_dir *d, int64_t room_id, const int64_t *users,
                             size_t n, const char *kind, int64_t at_ms);

/* Sends a CN_SESSION_USER_EVENT carrying body[0..len) (borrowed, copied per session)
 * to every open session of the n users in `users` (borrowed; ids <= 0 skipped). Returns
 * how many sessions were told. Costs the users' sessions, not a walk over the node's.
 * Any thread; d NULL is a no-op (0). */
size_t cn_session_dir_user_event(struct cn_session_dir *d, const int64_t *users, size_t n,
                                 const char *body, size_t len);

/* Tells at most `batch` sessions not told before to drain, each with a
 * reconnect hint drawn uniformly from [0, jitter_ms]. Returns how many were told
 * now. Any thread. */
size_t cn_session_dir_drain(struct cn_session_dir *d, size_t batch, uint32_t jitter_ms);

/* Frees the directory and drops its references. After the sessions closed. NULL
 * is a no-op. */
void cn_session_dir_free(struct cn_session_dir *d);

#endif
