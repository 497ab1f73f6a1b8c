/* Open STOMP sessions per user on this node, for limits.sessions_per_user.
 *
 * A session takes a slot when its CONNECT is accepted and gives it back when it
 * closes; a CONNECT that would pass the limit is refused. The count is per node:
 * a user may hold the limit on every node (a cluster-wide count would put a
 * Redis round trip into every CONNECT).
 *
 * Threads: any (a mutex around one map; the critical section is a lookup).
 * Memory: owns its map; the program owns the struct. */
#ifndef CN_ACTORS_SESSION_USER_SESSIONS_H
#define CN_ACTORS_SESSION_USER_SESSIONS_H

#include <stdint.h>

struct cn_user_sessions;

/* max_per_user 0 = no limit. Cannot fail. */
struct cn_user_sessions *cn_user_sessions_new(unsigned max_per_user);
void cn_user_sessions_free(struct cn_user_sessions *u);

/* Takes a slot for user_id (> 0): 0, or -1 when the user already has the limit.
 * NULL u: always 0. */
int cn_user_sessions_acquire(struct cn_user_sessions *u, int64_t user_id);
/* Gives back a slot taken by acquire. NULL u: no-op. */
void cn_user_sessions_release(struct cn_user_sessions *u, int64_t user_id);

unsigned cn_user_sessions_limit(const struct cn_user_sessions *u);

#endif
