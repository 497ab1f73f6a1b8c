/* The user ids this node has seen to exist, so that a correctly signed access token of
 * a user who does not exist (any more) is refused without a PostgreSQL query on every
 * request.
 *
 * A token's signature proves that this system issued it, not that its user is still
 * there: the database may have been reset, or the user removed by an operator. The
 * REST router and STOMP CONNECT ask cn_known_users_has first; on a miss they look the
 * user up once (user_by_id) and cn_known_users_add the id when the row is there, so in
 * steady state a request costs a hash lookup under a mutex. A user removed after being
 * seen stays "known" on a node until it restarts or the set is cleared (the set is
 * bounded: when it holds `max` ids it is emptied and fills again from lookups).
 *
 * Threads: any (one mutex, held for one hash operation).
 * Memory: the set owns its table; the program owns the struct. */
#ifndef CN_ACTORS_REST_KNOWN_USERS_H
#define CN_ACTORS_REST_KNOWN_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cn_known_users;

/* A set of at most `max` ids (0 = 1,000,000). Cannot fail (out of memory aborts). */
struct cn_known_users *cn_known_users_new(size_t max);
/* NULL: no-op. */
void cn_known_users_free(struct cn_known_users *k);

/* Whether user_id (> 0) was added. A NULL set knows every user (no check). */
bool cn_known_users_has(struct cn_known_users *k, int64_t user_id);
/* Remembers user_id (> 0) as existing; no-op for a NULL set or id <= 0. */
void cn_known_users_add(struct cn_known_users *k, int64_t user_id);

#endif
