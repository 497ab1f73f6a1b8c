/* Redis AUTH for every connection; see redis_auth.h. */
#include "io/redis_auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"

static char *auth_user; /* NULL: AUTH <password> */
static char *auth_pass; /* NULL: no AUTH */

void cn_redis_auth_set(const char *username, const char *password)
{
    cn_redis_auth_clear();
    if (password && password[0]) {
        auth_pass = cn_xstrdup(password);
        if (username && username[0])
            auth_user = cn_xstrdup(username);
    }
}

void cn_redis_auth_clear(void)
{
    if (auth_pass)
        memset(auth_pass, 0, strlen(auth_pass)); /* not left behind in freed memory */
    free(auth_pass);
    free(auth_user);
    auth_pass = auth_user = NULL;
}

bool cn_redis_auth_enabled(void)
{
    return auth_pass != NULL;
}

/* argv for AUTH [user] pass; returns argc. */
static int auth_argv(const char *argv[3], size_t lens[3])
{
    int n = 0;
    argv[n] = "AUTH";
    lens[n++] = 4;
    if (auth_user) {
        argv[n] = auth_user;
        lens[n++] = strlen(auth_user);
    }
    argv[n] = auth_pass;
    lens[n++] = strlen(auth_pass);
    return n;
}

bool cn_redis_auth_refused(const redisReply *reply, char *why, size_t whylen)
{
    if (reply && reply->type == REDIS_REPLY_STATUS)
        return false;
    snprintf(why, whylen, "%.160s",
             !reply                             ? "no answer"
             : reply->type == REDIS_REPLY_ERROR ? reply->str
                                                : "unexpected reply to AUTH");
    return true;
}

int cn_redis_auth_sync(redisContext *c, const char *host, int port, char *err, size_t errlen)
{
    if (!auth_pass)
        return 0;
    const char *argv[3];
    size_t lens[3];
    int argc = auth_argv(argv, lens);
    redisReply *r = redisCommandArgv(c, argc, argv, lens);
    if (!r) {
        snprintf(err, errlen, "Redis %.100s:%d: AUTH: %.100s", host, port, c->errstr);
        return -1;
    }
    char why[200];
    bool refused = cn_redis_auth_refused(r, why, sizeof why);
    freeReplyObject(r);
    if (refused) {
        snprintf(err, errlen, "Redis authentication failed at %.100s:%d: %s", host, port, why);
        return -1;
    }
    return 0;
}

int cn_redis_auth_async(redisAsyncContext *ac, redisCallbackFn *fn, void *privdata)
{
    if (!auth_pass)
        return 0;
    const char *argv[3];
    size_t lens[3];
    int argc = auth_argv(argv, lens);
    return redisAsyncCommandArgv(ac, fn, privdata, argc, argv, lens) == REDIS_OK ? 1 : -1;
}
