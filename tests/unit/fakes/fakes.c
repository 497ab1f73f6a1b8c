/* Fake adapters; see fakes.h. One mutex and one condition guard every list: tests are
 * small and the fakes are not what they measure. */
#include "fakes.h"
#include "deadline.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/xmalloc.h"
#include "io/kafka_producer.h"
#include "io/pg_pool.h"
#include "io/redis_client.h"

int fake_handle;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct fake_call *head[FAKE_KINDS], **tail[FAKE_KINDS];
static int refuse_rc[FAKE_KINDS];
static int redis_up = 1;

static char *dupn(const void *p, size_t n)
{
    if (!p)
        return NULL;
    char *d = cn_xmalloc(n + 1);
    memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

/* Records c, or returns the refusal code (c is freed then). */
static int record(struct fake_call *c)
{
    pthread_mutex_lock(&mu);
    int rc = refuse_rc[c->kind];
    if (rc == 0) {
        if (c->reply_to)
            cn_actor_ref(c->reply_to);
        if (!tail[c->kind])
            tail[c->kind] = &head[c->kind];
        *tail[c->kind] = c;
        tail[c->kind] = &c->next;
        pthread_cond_broadcast(&cv);
    }
    pthread_mutex_unlock(&mu);
    if (rc != 0) {
        c->reply_to = NULL;
        fake_call_free(c);
    }
    return rc;
}

void fake_call_free(struct fake_call *c)
{
    if (!c)
        return;
    if (c->reply_to)
        cn_actor_unref(c->reply_to);
    free(c->sql);
    for (int i = 0; i < c->nparams; i++)
        free(c->params[i]);
    free(c->params);
    for (int i = 0; i < c->argc; i++)
        free(c->argv[i]);
    free(c->argv);
    free(c->argvlen);
    free(c->topic);
    free(c->key);
    free(c->value);
    for (size_t i = 0; i < c->nheaders; i++) {
        free(c->hname[i]);
        free(c->hvalue[i]);
    }
    free(c->hname);
    free(c->hvalue);
    free(c);
}

void fake_reset(void)
{
    pthread_mutex_lock(&mu);
    struct fake_call *all[FAKE_KINDS];
    for (int k = 0; k < FAKE_KINDS; k++) {
        all[k] = head[k];
        head[k] = NULL;
        tail[k] = NULL;
        refuse_rc[k] = 0;
    }
    redis_up = 1;
    pthread_mutex_unlock(&mu);
    for (int k = 0; k < FAKE_KINDS; k++) {
        while (all[k]) {
            struct fake_call *n = all[k]->next;
            fake_call_free(all[k]);
            all[k] = n;
        }
    }
}

struct fake_call *fake_next(enum fake_kind kind, int timeout_ms)
{
    struct timespec until = cn_test_deadline(timeout_ms);
    pthread_mutex_lock(&mu);
    while (!head[kind]) {
        if (pthread_cond_timedwait(&cv, &mu, &until) == ETIMEDOUT && !head[kind])
            break;
    }
    struct fake_call *c = head[kind];
    if (c) {
        head[kind] = c->next;
        if (!head[kind])
            tail[kind] = &head[kind];
        c->next = NULL;
    }
    pthread_mutex_unlock(&mu);
    return c;
}

size_t fake_pending(enum fake_kind kind)
{
    pthread_mutex_lock(&mu);
    size_t n = 0;
    for (struct fake_call *c = head[kind]; c; c = c->next)
        n++;
    pthread_mutex_unlock(&mu);
    return n;
}

void fake_refuse(enum fake_kind kind, int rc)
{
    pthread_mutex_lock(&mu);
    refuse_rc[kind] = rc;
    pthread_mutex_unlock(&mu);
}

/* Sends m to the call's actor and frees the call (which drops its reference). */
static void answer(struct fake_call *c, cn_msg *m)
{
    if (c->reply_to)
        cn_actor_send(c->reply_to, m);
    else
        cn_msg_free(m);
    fake_call_free(c);
}

/* ---- PostgreSQL ------------------------------------------------------------------ */

static void pg_reply_free(cn_msg *m)
{
    struct cn_pg_reply *r = (struct cn_pg_reply *)m;
    cn_pg_rows_free(r->rows);
    free(r);
}

int cn_pg_pool_query(struct cn_pg_pool *p, cn_actor *reply_to, uint32_t msg_type, uint64_t tag,
                     const char *sql, int nparams, const char *const *params)
{
    if (!p || !reply_to || !sql || !*sql || nparams < 0 || (nparams > 0 && !params))
        return -EINVAL;
    struct fake_call *c = cn_xcalloc(1, sizeof *c);
    c->kind = FAKE_KIND_PG;
    c->reply_to = reply_to;
    c->msg_type = msg_type;
    c->tag = tag;
    c->sql = cn_xstrdup(sql);
    c->nparams = nparams;
    c->params = cn_xcalloc((size_t)(nparams ? nparams : 1), sizeof *c->params);
    for (int i = 0; i < nparams; i++)
        c->params[i] = params[i] ? cn_xstrdup(params[i]) : NULL;
    return record(c);
}

const char *cn_pg_pool_strerror(int rc)
{
    return rc == -EAGAIN ? "queue full" : rc == -ESHUTDOWN ? "pool stopping" : "refused";
}

static struct cn_pg_reply *pg_reply(struct fake_call *c)
{
    struct cn_pg_reply *r = cn_xcalloc(1, sizeof *r);
    cn_msg_init(&r->hdr, c->msg_type, pg_reply_free);
    r->tag = c->tag;
    return r;
}

void fake_pg_rows(struct fake_call *c, int ncols, const char *const *names, int nrows,
                  const char *const *values)
{
    struct cn_pg_reply *r = pg_reply(c);
    r->ok = 1;
    r->rows = cn_pg_rows_make(ncols, names, nrows, values);
    answer(c, &r->hdr);
}

void fake_pg_error(struct fake_call *c, const char *sqlstate, const char *message)
{
    struct cn_pg_reply *r = pg_reply(c);
    snprintf(r->sqlstate, sizeof r->sqlstate, "%s", sqlstate);
    snprintf(r->error, sizeof r->error, "%s", message);
    answer(c, &r->hdr);
}

/* ---- Redis ----------------------------------------------------------------------- */

static void redis_reply_free(cn_msg *m)
{
    struct cn_redis_reply *r = (struct cn_redis_reply *)m;
    cn_redis_value_free(r->reply);
    free(r);
}

int cn_redis_command(struct cn_redis *r, cn_actor *reply_to, uint32_t msg_type, uint64_t tag,
                     int argc, const char *const *argv, const size_t *argvlen)
{
    if (!r || argc < 1 || !argv)
        return -EINVAL;
    struct fake_call *c = cn_xcalloc(1, sizeof *c);
    c->kind = FAKE_KIND_REDIS;
    c->reply_to = reply_to;
    c->msg_type = msg_type;
    c->tag = tag;
    c->argc = argc;
    c->argv = cn_xcalloc((size_t)argc, sizeof *c->argv);
    c->argvlen = cn_xcalloc((size_t)argc, sizeof *c->argvlen);
    for (int i = 0; i < argc; i++) {
        if (!argv[i]) {
            c->reply_to = NULL;
            fake_call_free(c);
            return -EINVAL;
        }
        c->argvlen[i] = argvlen ? argvlen[i] : strlen(argv[i]);
        c->argv[i] = dupn(argv[i], c->argvlen[i]);
    }
    return record(c);
}

bool cn_redis_is_up(struct cn_redis *r)
{
    (void)r;
    pthread_mutex_lock(&mu);
    bool up = redis_up;
    pthread_mutex_unlock(&mu);
    return up;
}

void fake_redis_set_up(int up)
{
    pthread_mutex_lock(&mu);
    redis_up = up;
    pthread_mutex_unlock(&mu);
}

static int sub_call(const char *what, const char *channel, cn_actor *actor, uint32_t msg_type)
{
    if (!channel || !actor)
        return -EINVAL;
    struct fake_call *c = cn_xcalloc(1, sizeof *c);
    c->kind = FAKE_KIND_SUB;
    c->msg_type = msg_type;
    c->argc = 2;
    c->argv = cn_xcalloc(2, sizeof *c->argv);
    c->argvlen = cn_xcalloc(2, sizeof *c->argvlen);
    c->argv[0] = cn_xstrdup(what);
    c->argv[1] = cn_xstrdup(channel);
    c->argvlen[0] = strlen(what);
    c->argvlen[1] = strlen(channel);
    /* The subscriber is kept as reply_to: the test answers with fake_redis_publish. */
    c->reply_to = actor;
    return record(c);
}

int cn_redis_subscribe(struct cn_redis *r, const char *channel, cn_actor *actor, uint32_t msg_type)
{
    return r ? sub_call("SUBSCRIBE", channel, actor, msg_type) : -EINVAL;
}

int cn_redis_unsubscribe(struct cn_redis *r, const char *channel, cn_actor *actor)
{
    return r ? sub_call("UNSUBSCRIBE", channel, actor, 0) : -EINVAL;
}

static struct cn_redis_reply *redis_reply(struct fake_call *c)
{
    struct cn_redis_reply *r = cn_xcalloc(1, sizeof *r);
    cn_msg_init(&r->hdr, c->msg_type, redis_reply_free);
    r->tag = c->tag;
    return r;
}

void fake_redis_answer(struct fake_call *c, const char *resp)
{
    struct cn_redis_reply *r = redis_reply(c);
    r->reply = cn_redis_value_parse(resp, strlen(resp));
    if (!r->reply) {
        fprintf(stderr, "fake_redis_answer: not one RESP value: %s\n", resp);
        abort();
    }
    r->ok = cn_redis_kind(r->reply) != CN_REDIS_ERROR;
    if (!r->ok)
        snprintf(r->error, sizeof r->error, "redis: %s", cn_redis_str(r->reply, NULL));
    answer(c, &r->hdr);
}

void fake_redis_down(struct fake_call *c, const char *error)
{
    struct cn_redis_reply *r = redis_reply(c);
    snprintf(r->error, sizeof r->error, "%s", error);
    answer(c, &r->hdr);
}

void fake_redis_publish(cn_actor *actor, uint32_t msg_type, int kind, const char *channel,
                        const char *payload, size_t payload_len)
{
    size_t clen = strlen(channel);
    struct cn_redis_pubsub *m = cn_xmalloc(sizeof *m + clen + 1 + payload_len + 1);
    cn_msg_init(&m->hdr, msg_type, NULL);
    char *ch = (char *)(m + 1);
    memcpy(ch, channel, clen + 1);
    char *pl = ch + clen + 1;
    if (payload_len)
        memcpy(pl, payload, payload_len);
    pl[payload_len] = '\0';
    m->kind = (enum cn_redis_pubsub_kind)kind;
    m->channel = ch;
    m->channel_len = clen;
    m->payload = pl;
    m->payload_len = payload_len;
    cn_actor_send(actor, &m->hdr);
}

/* ---- Kafka producer ---------------------------------------------------------------- */

int cn_kafka_produce(struct cn_kafka_producer *p, const char *topic, int32_t partition,
                     const void *key, size_t keylen, const void *value, size_t len,
                     const struct cn_kafka_header *headers, size_t nheaders, cn_actor *reply_to,
                     uint32_t msg_type, uint64_t tag)
{
    if (!p || !topic || partition < CN_KAFKA_PARTITION_BY_KEY ||
        (partition == CN_KAFKA_PARTITION_BY_KEY && !key))
        return -EINVAL;
    struct fake_call *c = cn_xcalloc(1, sizeof *c);
    c->kind = FAKE_KIND_KAFKA;
    c->reply_to = reply_to;
    c->msg_type = msg_type;
    c->tag = tag;
    c->topic = cn_xstrdup(topic);
    c->partition = partition;
    c->key = dupn(key, keylen);
    c->keylen = keylen;
    c->value = dupn(value, len);
    c->len = len;
    c->nheaders = nheaders;
    c->hname = cn_xcalloc(nheaders ? nheaders : 1, sizeof *c->hname);
    c->hvalue = cn_xcalloc(nheaders ? nheaders : 1, sizeof *c->hvalue);
    for (size_t i = 0; i < nheaders; i++) {
        c->hname[i] = cn_xstrdup(headers[i].name);
        c->hvalue[i] = dupn(headers[i].value, headers[i].len);
    }
    return record(c);
}

const char *fake_kafka_header(const struct fake_call *c, const char *name)
{
    for (size_t i = c->nheaders; i-- > 0;)
        if (strcmp(c->hname[i], name) == 0)
            return c->hvalue[i];
    return NULL;
}

const char *cn_kafka_produce_strerror(int rc)
{
    return rc == -EAGAIN ? "queue full" : rc == -ESHUTDOWN ? "producer stopping" : "refused";
}

static struct cn_kafka_delivery *delivery(struct fake_call *c)
{
    struct cn_kafka_delivery *d = cn_xcalloc(1, sizeof *d);
    cn_msg_init(&d->hdr, c->msg_type, NULL);
    d->tag = c->tag;
    return d;
}

void fake_kafka_ack(struct fake_call *c, int32_t partition, int64_t offset)
{
    struct cn_kafka_delivery *d = delivery(c);
    d->ok = 1;
    d->partition = partition;
    d->offset = offset;
    answer(c, &d->hdr);
}

void fake_kafka_fail(struct fake_call *c, const char *error)
{
    struct cn_kafka_delivery *d = delivery(c);
    d->partition = c->partition;
    d->offset = -1;
    snprintf(d->error, sizeof d->error, "%s", error);
    answer(c, &d->hdr);
}
