/* Redis values; see redis_value.h. A struct cn_redis_value is a hiredis redisReply
 * under another name: the cast lives here and in the Redis adapter only. */
#include "io/redis_value.h"

#include <hiredis/hiredis.h>
#include <stdbool.h>

static const redisReply *rep(const struct cn_redis_value *v)
{
    return (const redisReply *)v;
}

enum cn_redis_kind cn_redis_kind(const struct cn_redis_value *v)
{
    if (!v)
        return CN_REDIS_NIL;
    switch (rep(v)->type) {
    case REDIS_REPLY_NIL:
        return CN_REDIS_NIL;
    case REDIS_REPLY_STRING:
        return CN_REDIS_STRING;
    case REDIS_REPLY_INTEGER:
        return CN_REDIS_INTEGER;
    case REDIS_REPLY_ARRAY:
        return CN_REDIS_ARRAY;
    case REDIS_REPLY_STATUS:
        return CN_REDIS_STATUS;
    case REDIS_REPLY_ERROR:
        return CN_REDIS_ERROR;
    default:
        return CN_REDIS_OTHER;
    }
}

const char *cn_redis_str(const struct cn_redis_value *v, size_t *len)
{
    enum cn_redis_kind k = cn_redis_kind(v);
    if (k != CN_REDIS_STRING && k != CN_REDIS_STATUS && k != CN_REDIS_ERROR)
        return NULL;
    if (len)
        *len = rep(v)->len;
    return rep(v)->str;
}

long long cn_redis_int(const struct cn_redis_value *v)
{
    return cn_redis_kind(v) == CN_REDIS_INTEGER ? rep(v)->integer : 0;
}

size_t cn_redis_count(const struct cn_redis_value *v)
{
    return cn_redis_kind(v) == CN_REDIS_ARRAY ? rep(v)->elements : 0;
}

const struct cn_redis_value *cn_redis_at(const struct cn_redis_value *v, size_t i)
{
    if (i >= cn_redis_count(v))
        return NULL;
    return (const struct cn_redis_value *)rep(v)->element[i];
}

struct cn_redis_value *cn_redis_value_parse(const char *resp, size_t len)
{
    redisReader *r = redisReaderCreate();
    if (!r)
        return NULL;
    void *out = NULL;
    if (redisReaderFeed(r, resp, len) != REDIS_OK || redisReaderGetReply(r, &out) != REDIS_OK ||
        !out) {
        redisReaderFree(r);
        return NULL;
    }
    /* Exactly one value: anything left over is a malformed fake. */
    void *more = NULL;
    int rc = redisReaderGetReply(r, &more);
    bool extra = rc != REDIS_OK || more != NULL || r->pos != r->len;
    if (more)
        freeReplyObject(more);
    redisReaderFree(r);
    if (extra) {
        freeReplyObject(out);
        return NULL;
    }
    return out;
}

void cn_redis_value_free(struct cn_redis_value *v)
{
    if (v)
        freeReplyObject(v);
}
