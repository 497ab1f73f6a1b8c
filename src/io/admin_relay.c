/* The admin relay over Redis Pub/Sub; see admin_relay.h. */
#include "io/admin_relay.h"

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "io/redis_auth.h"

#define RELAY_PREFIX "chat:admin:relay:"
#define REPLY_PREFIX "chat:admin:reply:"

struct cn_admin_relay {
    char host[256];
    int port;
    char channel[128];
    char node_id[65];
    cn_admin_relay_fn handler;
    void *ctx;
    int wake[2]; /* close writes a byte: the thread's polls wake */
    pthread_t thread;
    bool started, closed;
    atomic_bool stop;
};

static redisContext *connect_to(const char *host, int port, int timeout_ms, char *err,
                                size_t errlen)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    if (!c || c->err) {
        snprintf(err, errlen, "Redis %.100s:%d: %.100s", host, port,
                 c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    if (cn_redis_auth_sync(c, host, port, err, errlen) != 0) {
        redisFree(c);
        return NULL;
    }
    return c;
}

/* Waits until fd (-1: none) is readable, the wake pipe (-1: none) is written or
 * timeout_ms (-1: no limit) passes. Returns 1 when fd is readable, 0 otherwise. */
static int wait_readable(int fd, int wake, int timeout_ms)
{
    struct pollfd pf[2];
    nfds_t n = 0;
    if (fd >= 0)
        pf[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
    if (wake >= 0)
        pf[n++] = (struct pollfd){.fd = wake, .events = POLLIN};
    if (poll(pf, n, timeout_ms) <= 0)
        return 0;
    return fd >= 0 && (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) ? 1 : 0;
}

/* A pushed message ["message", channel, payload]: its payload, else NULL. */
static const char *message_payload(const redisReply *r, size_t *len)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_STRING || strcmp(r->element[0]->str, "message") != 0 ||
        r->element[2]->type != REDIS_REPLY_STRING)
        return NULL;
    *len = r->element[2]->len;
    return r->element[2]->str;
}

/* One relayed request: the handler's answer goes to its reply channel. */
static void serve_one(struct cn_admin_relay *s, redisContext *pub, const char *payload, size_t len)
{
    json_t *msg = json_loadb(payload, len, 0, NULL);
    const char *reply_to = json_string_value(json_object_get(msg, "reply"));
    json_t *req = json_object_get(msg, "req");
    if (!reply_to || strncmp(reply_to, REPLY_PREFIX, strlen(REPLY_PREFIX)) != 0 ||
        !json_is_object(req)) {
        CN_WARN("admin", "relay: dropped a request that is not {reply, req}");
        json_decref(msg);
        return;
    }
    json_t *answer = s->handler(s->ctx, req);
    json_t *out = json_pack("{s:s,s:o}", "node", s->node_id, "answer", answer);
    char *text = json_dumps(out, JSON_COMPACT);
    redisReply *r = redisCommand(pub, "PUBLISH %s %s", reply_to, text);
    const char *from = json_string_value(json_object_get(msg, "from"));
    if (!r)
        CN_WARN("admin", "relay: cannot answer %s: %s", from ? from : "?", pub->errstr);
    freeReplyObject(r);
    free(text);
    json_decref(out);
    json_decref(msg);
}

/* One connected period: subscribe and serve until Redis goes or close is called. */
static void serve(struct cn_admin_relay *s, redisContext *sub, redisContext *pub)
{
    redisReply *r = redisCommand(sub, "SUBSCRIBE %s", s->channel);
    bool ok = r && r->type == REDIS_REPLY_ARRAY;
    freeReplyObject(r);
    if (!ok)
        return;
    CN_INFO("admin", "relay: answering other nodes' admin requests on %s", s->channel);
    while (!atomic_load_explicit(&s->stop, memory_order_acquire)) {
        if (!wait_readable(sub->fd, s->wake[0], -1))
            continue;
        if (redisBufferRead(sub) != REDIS_OK)
            return;
        void *reply;
        while (redisGetReplyFromReader(sub, &reply) == REDIS_OK && reply) {
            size_t len;
            const char *payload = message_payload(reply, &len);
            if (payload)
                serve_one(s, pub, payload, len);
            freeReplyObject(reply);
            if (pub->err)
                return;
        }
        if (sub->err)
            return;
    }
}

static void *run(void *arg)
{
    struct cn_admin_relay *s = arg;
    bool warned = false;
    while (!atomic_load_explicit(&s->stop, memory_order_acquire)) {
        char err[256];
        redisContext *sub = connect_to(s->host, s->port, 2000, err, sizeof err);
        redisContext *pub = sub ? connect_to(s->host, s->port, 2000, err, sizeof err) : NULL;
        if (sub && pub) {
            warned = false;
            /* A Redis on another host that vanishes without a FIN is noticed too. */
            redisEnableKeepAlive(sub);
            serve(s, sub, pub);
        } else if (!warned) {
            CN_WARN("admin", "relay: %s; retrying every second", err);
            warned = true;
        }
        redisFree(sub);
        redisFree(pub);
        /* Redis away (or it dropped us): try again in a second, unless closing. */
        wait_readable(-1, s->wake[0], 1000);
    }
    return NULL;
}

struct cn_admin_relay *cn_admin_relay_start(const char *host, int port, const char *node_id,
                                            cn_admin_relay_fn handler, void *ctx, char *err,
                                            size_t errlen)
{
    struct cn_admin_relay *s = cn_xcalloc(1, sizeof *s);
    snprintf(s->host, sizeof s->host, "%s", host);
    s->port = port;
    snprintf(s->node_id, sizeof s->node_id, "%s", node_id);
    snprintf(s->channel, sizeof s->channel, RELAY_PREFIX "%s", node_id);
    s->handler = handler;
    s->ctx = ctx;
    s->wake[0] = s->wake[1] = -1;
    if (pipe2(s->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf(err, errlen, "admin relay: pipe: %s", strerror(errno));
        free(s);
        return NULL;
    }
    int rc = pthread_create(&s->thread, NULL, run, s);
    if (rc != 0) {
        snprintf(err, errlen, "admin relay: thread: %s", strerror(rc));
        close(s->wake[0]);
        close(s->wake[1]);
        free(s);
        return NULL;
    }
    s->started = true;
    return s;
}

void cn_admin_relay_close(struct cn_admin_relay *s)
{
    if (!s || s->closed)
        return;
    s->closed = true;
    atomic_store_explicit(&s->stop, true, memory_order_release);
    ssize_t w = write(s->wake[1], "x", 1);
    (void)w;
    if (s->started)
        pthread_join(s->thread, NULL);
    close(s->wake[0]);
    close(s->wake[1]);
}

void cn_admin_relay_free(struct cn_admin_relay *s)
{
    if (!s)
        return;
    cn_admin_relay_close(s);
    free(s);
}

static json_t *no_answer(const char *code, const char *message)
{
    return json_pack("{s:b,s:{s:s,s:s}}", "ok", 0, "error", "code", code, "message", message);
}

json_t *cn_admin_relay_ask(const char *host, int port, const char *from, json_t *nodes, json_t *req,
                           int timeout_ms, char *err, size_t errlen)
{
    json_t *answers = json_object();
    if (json_array_size(nodes) == 0)
        return answers;
    int64_t deadline = (int64_t)cn_now_ms() + timeout_ms;
    redisContext *sub = connect_to(host, port, timeout_ms, err, errlen);
    redisContext *pub = sub ? connect_to(host, port, timeout_ms, err, errlen) : NULL;
    if (!pub) {
        redisFree(sub);
        json_decref(answers);
        return NULL;
    }
    unsigned char rnd[8];
    if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd)
        memset(rnd, 0, sizeof rnd);
    char reply[160];
    int n = snprintf(reply, sizeof reply, REPLY_PREFIX "%.64s:", from);
    for (size_t i = 0; i < sizeof rnd; i++)
        n += snprintf(reply + n, sizeof reply - (size_t)n, "%02x", rnd[i]);
    /* Subscribed before anything is sent, so no answer can come too early. */
    redisReply *r = redisCommand(sub, "SUBSCRIBE %s", reply);
    bool subscribed = r && r->type == REDIS_REPLY_ARRAY;
    freeReplyObject(r);
    if (!subscribed) {
        snprintf(err, errlen, "Redis: cannot subscribe: %s", sub->err ? sub->errstr : "refused");
        redisFree(sub);
        redisFree(pub);
        json_decref(answers);
        return NULL;
    }
    json_t *msg = json_pack("{s:s,s:s,s:O}", "from", from, "reply", reply, "req", req);
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    size_t waiting = 0, i;
    json_t *node;
    json_array_foreach(nodes, i, node)
    {
        const char *id = json_string_value(node);
        if (!id || json_object_get(answers, id))
            continue;
        r = redisCommand(pub, "PUBLISH " RELAY_PREFIX "%s %s", id, text);
        if (r && r->type == REDIS_REPLY_INTEGER && r->integer > 0) {
            json_object_set_new(answers, id, json_null()); /* waiting */
            waiting++;
        } else {
            json_object_set_new(answers, id,
                                no_answer("UNREACHABLE", r ? "no such node is running"
                                                           : "Redis failed the request"));
        }
        freeReplyObject(r);
    }
    free(text);
    while (waiting > 0) {
        int left = (int)(deadline - (int64_t)cn_now_ms());
        if (left <= 0 || wait_readable(sub->fd, -1, left) == 0)
            break;
        if (redisBufferRead(sub) != REDIS_OK)
            break;
        void *got;
        while (waiting > 0 && redisGetReplyFromReader(sub, &got) == REDIS_OK && got) {
            size_t len;
            const char *payload = message_payload(got, &len);
            json_t *a = payload ? json_loadb(payload, len, 0, NULL) : NULL;
            const char *id = json_string_value(json_object_get(a, "node"));
            json_t *answer = json_object_get(a, "answer");
            if (id && answer && json_is_null(json_object_get(answers, id))) {
                json_object_set(answers, id, answer);
                waiting--;
            }
            json_decref(a);
            freeReplyObject(got);
        }
    }
    const char *id;
    json_t *v;
    json_object_foreach(answers, id, v)
    {
        if (json_is_null(v))
            json_object_set_new(answers, id,
                                no_answer("TIMEOUT", "the node did not answer in time"));
    }
    redisFree(sub);
    redisFree(pub);
    return answers;
}

json_t *cn_admin_redis_members(const char *host, int port, const char *key, int timeout_ms,
                               char *err, size_t errlen)
{
    redisContext *c = connect_to(host, port, timeout_ms, err, errlen);
    if (!c)
        return NULL;
    redisReply *r = redisCommand(c, "ZRANGE %s 0 -1", key);
    json_t *out = NULL;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errlen, "Redis: ZRANGE %s: %s", key,
                 r && r->type == REDIS_REPLY_ERROR ? r->str : c->errstr);
    } else {
        out = json_array();
        for (size_t i = 0; i < r->elements; i++)
            if (r->element[i]->type == REDIS_REPLY_STRING)
                json_array_append_new(out, json_stringn(r->element[i]->str, r->element[i]->len));
    }
    freeReplyObject(r);
    redisFree(c);
    return out;
}
