/* The fake Kafka consumer; see fake_consumer.h. One mutex guards the consumer pointer,
 * the partitions and the commit queue: tests are small and the fake is not what they
 * measure. */
#include "fake_consumer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/xmalloc.h"
#include "io/kafka_consumer.h"

#define MAX_PARTS   16
#define MAX_COMMITS 256

struct fake_part {
    char topic[64];
    int32_t partition;
    cn_actor *actor; /* one reference, dropped after the revoke */
    int64_t committed;
};

struct cn_kafka_consumer {
    cn_kafka_pipeline_fn pipeline;
    void *arg;
    uint32_t batch_type, revoke_type;
    struct fake_part parts[MAX_PARTS];
    size_t nparts;
    bool closed; /* under mu: commits after cn_kafka_consumer_close are refused */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct cn_kafka_consumer *running;
static struct fake_commit commits[MAX_COMMITS];
static size_t chead, clen;

struct cn_kafka_consumer *cn_kafka_consumer_start(const struct cn_kafka_consumer_opts *o, char *err,
                                                  size_t errlen)
{
    pthread_mutex_lock(&mu);
    bool busy = running != NULL;
    pthread_mutex_unlock(&mu);
    if (busy || !o || !o->pipeline) {
        snprintf(err, errlen, "fake consumer: one at a time, with a pipeline");
        return NULL;
    }
    struct cn_kafka_consumer *c = cn_xcalloc(1, sizeof *c);
    c->pipeline = o->pipeline;
    c->arg = o->pipeline_arg;
    c->batch_type = o->batch_type;
    c->revoke_type = o->revoke_type;
    pthread_mutex_lock(&mu);
    running = c;
    pthread_mutex_unlock(&mu);
    return c;
}

/* Sends the revoke of parts[i] and removes it. Called with `mu` held. */
static void revoke_locked(struct cn_kafka_consumer *c, size_t i)
{
    struct fake_part *p = &c->parts[i];
    size_t tlen = strlen(p->topic);
    struct cn_kafka_revoke *r = cn_xmalloc(sizeof *r + tlen + 1);
    cn_msg_init(&r->hdr, c->revoke_type, NULL);
    r->partition = p->partition;
    memcpy(r->topic, p->topic, tlen + 1);
    cn_actor_send(p->actor, &r->hdr);
    cn_actor_unref(p->actor);
    c->parts[i] = c->parts[--c->nparts];
}

void cn_kafka_consumer_close(struct cn_kafka_consumer *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&mu);
    c->closed = true;
    while (c->nparts > 0)
        revoke_locked(c, c->nparts - 1);
    if (running == c)
        running = NULL;
    pthread_mutex_unlock(&mu);
}

void cn_kafka_consumer_free(struct cn_kafka_consumer *c)
{
    cn_kafka_consumer_close(c);
    free(c);
}

int cn_kafka_consumer_commit(struct cn_kafka_consumer *c, const char *topic, int32_t partition,
                             int64_t next_offset)
{
    if (!c || !topic)
        return -EINVAL;
    pthread_mutex_lock(&mu);
    if (c->closed) {
        pthread_mutex_unlock(&mu);
        return -ESHUTDOWN;
    }
    if (clen < MAX_COMMITS) {
        struct fake_commit *m = &commits[(chead + clen++) % MAX_COMMITS];
        snprintf(m->topic, sizeof m->topic, "%s", topic);
        m->partition = partition;
        m->next_offset = next_offset;
        pthread_cond_broadcast(&cv);
    }
    for (size_t i = 0; i < c->nparts; i++)
        if (c->parts[i].partition == partition)
            c->parts[i].committed = next_offset;
    pthread_mutex_unlock(&mu);
    return 0;
}

int cn_kafka_consumer_done(struct cn_kafka_consumer *c, const char *topic, int32_t partition,
                           size_t nbatches)
{
    (void)partition;
    (void)nbatches;
    return c && topic ? 0 : -EINVAL;
}

bool cn_kafka_record_header(const struct cn_kafka_record *r, const char *name, const void **value,
                            size_t *len)
{
    for (size_t i = r->nheaders; i-- > 0;)
        if (strcmp(r->headers[i].name, name) == 0) {
            *value = r->headers[i].value;
            *len = r->headers[i].len;
            return true;
        }
    return false;
}

size_t cn_kafka_consumer_stats(struct cn_kafka_consumer *c, struct cn_kafka_consumer_stats *out,
                               struct cn_kafka_partition_stats *parts, size_t cap)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&mu);
    size_t n = c->nparts;
    out->partitions = n;
    for (size_t i = 0; i < n && i < cap; i++) {
        memset(&parts[i], 0, sizeof parts[i]);
        snprintf(parts[i].topic, sizeof parts[i].topic, "%s", c->parts[i].topic);
        parts[i].partition = c->parts[i].partition;
        parts[i].committed = c->parts[i].committed;
        parts[i].high_watermark = -1;
        parts[i].lag = -1;
    }
    pthread_mutex_unlock(&mu);
    return n;
}

cn_actor *fake_consumer_assign(const char *topic, int32_t partition)
{
    pthread_mutex_lock(&mu);
    struct cn_kafka_consumer *c = running;
    pthread_mutex_unlock(&mu);
    if (!c || c->nparts == MAX_PARTS)
        return NULL;
    /* Outside the lock: the factory may be slow, and the real one runs on the
     * consumer thread without any lock of ours either. */
    cn_actor *a = c->pipeline(c->arg, c, topic, partition);
    if (!a)
        return NULL;
    pthread_mutex_lock(&mu);
    struct fake_part *p = &c->parts[c->nparts++];
    snprintf(p->topic, sizeof p->topic, "%s", topic);
    p->partition = partition;
    p->actor = a;
    p->committed = -1;
    pthread_mutex_unlock(&mu);
    return a;
}

static void batch_free(cn_msg *m)
{
    free(m); /* one allocation, as the real consumer's */
}

int fake_consumer_batch(int32_t partition, int64_t first, size_t n, const char *const *values,
                        const size_t *lens, const char *key)
{
    pthread_mutex_lock(&mu);
    struct cn_kafka_consumer *c = running;
    struct fake_part *p = NULL;
    for (size_t i = 0; c && i < c->nparts; i++)
        if (c->parts[i].partition == partition)
            p = &c->parts[i];
    if (!p) {
        pthread_mutex_unlock(&mu);
        return -ENOENT;
    }
    size_t klen = key ? strlen(key) : 0, tlen = strlen(p->topic), bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += values[i] ? lens[i] : 0;
    struct cn_kafka_batch *b =
        cn_xmalloc(sizeof *b + n * sizeof(struct cn_kafka_record) + tlen + 1 + n * klen + bytes);
    cn_msg_init(&b->hdr, c->batch_type, batch_free);
    struct cn_kafka_record *rec = (struct cn_kafka_record *)(b + 1);
    char *at = (char *)(rec + n);
    memcpy(at, p->topic, tlen + 1);
    b->topic = at;
    at += tlen + 1;
    b->partition = partition;
    b->n = n;
    b->records = rec;
    for (size_t i = 0; i < n; i++) {
        rec[i] = (struct cn_kafka_record){
            .partition = partition, .offset = first + (int64_t)i, .timestamp_ms = -1};
        if (key) {
            memcpy(at, key, klen);
            rec[i].key = at;
            rec[i].keylen = klen;
            at += klen;
        }
        if (values[i]) {
            memcpy(at, values[i], lens[i]);
            rec[i].value = at;
            rec[i].len = lens[i];
            at += lens[i];
        }
    }
    int rc = cn_actor_send(p->actor, &b->hdr);
    pthread_mutex_unlock(&mu);
    return rc;
}

void fake_consumer_revoke(int32_t partition)
{
    pthread_mutex_lock(&mu);
    struct cn_kafka_consumer *c = running;
    for (size_t i = 0; c && i < c->nparts; i++)
        if (c->parts[i].partition == partition) {
            revoke_locked(c, i);
            break;
        }
    pthread_mutex_unlock(&mu);
}

bool fake_consumer_next_commit(int timeout_ms, struct fake_commit *out)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    long long ns = until.tv_nsec + (long long)timeout_ms * 1000000LL;
    until.tv_sec += (time_t)(ns / 1000000000LL);
    until.tv_nsec = (long)(ns % 1000000000LL);
    pthread_mutex_lock(&mu);
    while (clen == 0)
        if (pthread_cond_timedwait(&cv, &mu, &until) == ETIMEDOUT)
            break;
    bool got = clen > 0;
    if (got) {
        *out = commits[chead];
        chead = (chead + 1) % MAX_COMMITS;
        clen--;
    }
    pthread_mutex_unlock(&mu);
    return got;
}

size_t fake_consumer_commits_pending(void)
{
    pthread_mutex_lock(&mu);
    size_t n = clen;
    pthread_mutex_unlock(&mu);
    return n;
}

void fake_consumer_reset(void)
{
    pthread_mutex_lock(&mu);
    chead = clen = 0;
    pthread_mutex_unlock(&mu);
}
