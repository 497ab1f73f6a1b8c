/* Redis reachability probe; see redis_probe.h. */
#include "redis_probe.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "base/xmalloc.h"
#include "io/redis_auth.h"

struct cn_redis_probe {
    char *host;
    int port;
    int timeout_ms;
    redisContext *ctx;
};

struct cn_redis_probe *cn_redis_probe_new(const char *host, int port, int timeout_ms)
{
    struct cn_redis_probe *p = cn_xcalloc(1, sizeof *p);
    p->host = cn_xstrdup(host);
    p->port = port;
    p->timeout_ms = timeout_ms;
    return p;
}

static void drop(struct cn_redis_probe *p)
{
    if (p->ctx)
        redisFree(p->ctx);
    p->ctx = NULL;
}

int cn_redis_probe_check(struct cn_redis_probe *p, char *err, size_t errlen)
{
    struct timeval tv = {p->timeout_ms / 1000, (p->timeout_ms % 1000) * 1000};
    if (!p->ctx) {
        p->ctx = redisConnectWithTimeout(p->host, p->port, tv);
        if (!p->ctx || p->ctx->err) {
            snprintf(err, errlen, "redis: cannot connect to %s:%d: %s", p->host, p->port,
                     p->ctx ? p->ctx->errstr : "out of memory");
            drop(p);
            return -1;
        }
        redisSetTimeout(p->ctx, tv);
        if (cn_redis_auth_sync(p->ctx, p->host, p->port, err, errlen) != 0) {
            drop(p);
            return -1;
        }
    }
    redisReply *r = redisCommand(p->ctx, "PING");
    if (!r) {
        snprintf(err, errlen, "redis: %s:%d: %s", p->host, p->port, p->ctx->errstr);
        drop(p);
        return -1;
    }
    int ok = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
    if (!ok)
        snprintf(err, errlen, "redis: %s:%d: unexpected PING reply: %.80s", p->host, p->port,
                 r->type == REDIS_REPLY_ERROR || r->type == REDIS_REPLY_STATUS ? r->str : "?");
    freeReplyObject(r);
    if (!ok)
        drop(p);
    return ok ? 0 : -1;
}

void cn_redis_probe_free(struct cn_redis_probe *p)
{
    if (!p)
        return;
    drop(p);
    free(p->host);
    free(p);
}
