/* Redis reachability probe: one hiredis connection kept open and checked with
 * PING, reconnected when it breaks. Start-up and health checks only.
 *
 * Memory: the probe owns its redisContext; cn_redis_probe_free closes it. One thread at a time. */
#ifndef CN_IO_REDIS_PROBE_H
#define CN_IO_REDIS_PROBE_H

#include <stddef.h>

struct cn_redis_probe;

/* Borrows host (copied). Does not connect yet. Cannot fail. */
struct cn_redis_probe *cn_redis_probe_new(const char *host, int port, int timeout_ms);

/* Connects if needed and sends PING. Returns 0, or -1 with a reason in err.
 * Blocks at most about timeout_ms. */
int cn_redis_probe_check(struct cn_redis_probe *p, char *err, size_t errlen);

void cn_redis_probe_free(struct cn_redis_probe *p);

#endif
