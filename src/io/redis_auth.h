/* Redis credentials (redis.username / redis.password) and the AUTH every connection
 * the node opens sends first: the adapter's command and subscriber connections (and
 * their reconnects), the health probe and the admin relay.
 *
 * The credentials are process-wide: cn_redis_auth_set is called once at start-up,
 * before any Redis connection exists, and they are read-only afterwards, so any
 * thread may read them without a lock. With no password set nothing is sent (a Redis
 * without requirepass or ACL users).
 *
 * Memory: this module owns copies of the credentials (cn_redis_auth_set copies,
 * cn_redis_auth_clear frees). Messages it writes never contain the password. */
#ifndef CN_IO_REDIS_AUTH_H
#define CN_IO_REDIS_AUTH_H

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

/* Sets the credentials (borrowed, copied). username NULL or "": `AUTH password`
 * (requirepass, or the ACL user `default`); password NULL or "": no AUTH at all.
 * Start-up only. Cannot fail. */
void cn_redis_auth_set(const char *username, const char *password);

/* Frees the copies; no AUTH afterwards. Shutdown only. Cannot fail. */
void cn_redis_auth_clear(void);

/* True when a password is set (connections send AUTH first). */
bool cn_redis_auth_enabled(void);

/* Sends AUTH on a blocking connection when a password is set. Returns 0 (also when
 * none is set), or -1 with "Redis authentication failed at host:port: <Redis's
 * answer>" (or the I/O error) in err. */
int cn_redis_auth_sync(redisContext *c, const char *host, int port, char *err, size_t errlen);

/* Queues AUTH on an async connection (when a password is set; returns 0 without
 * doing anything otherwise, and then fn is not called). fn gets the reply as any
 * hiredis callback. Returns 1 when queued, 0 when no AUTH is needed, -1 when hiredis
 * refused the command. */
int cn_redis_auth_async(redisAsyncContext *ac, redisCallbackFn *fn, void *privdata);

/* True when `reply` (an AUTH answer) is a refusal; writes Redis's own text (never
 * the password) bounded into why. */
bool cn_redis_auth_refused(const redisReply *reply, char *why, size_t whylen);

#endif
