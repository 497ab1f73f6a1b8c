/* The broadcast pipeline's partition actors (see broadcast_pipeline.h). */
#include "io/broadcast_pipeline.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "io/kafka_consumer.h"
#include "proto/event_codec.h"
#include "proto/message_body.h"

#define BC_BATCH  0x6201
#define BC_REVOKE 0x6202
#define BC_REPLY  0x6203
#define BC_RETRY  0x6204

#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 2000

/* KEYS: window, channel, keys. ARGV: offset, "<messageKey>\n<body>", cap, ttl,
 * messageKey, keys cap. Returns 1 when published, 0 for an offset the window
 * already passed (a redelivery), 2 for a messageKey the room already published at
 * an earlier offset (a client's retry that Kafka holds twice). */
static const char PUBLISH_LUA[] =
    "local top = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n"
    "local prev = -1\n"
    "if top[2] then prev = tonumber(top[2]) end\n"
    "local off = tonumber(ARGV[1])\n"
    "if off <= prev then return 0 end\n"
    "if redis.call('ZSCORE', KEYS[3], ARGV[5]) then return 2 end\n"
    "local env = ARGV[1] .. ' ' .. string.format('%d', prev) .. ' ' .. ARGV[2]\n"
    "redis.call('ZADD', KEYS[1], off, env)\n"
    "redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[3]) + 1))\n"
    "redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))\n"
    "redis.call('ZADD', KEYS[3], off, ARGV[5])\n"
    "redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[6]) + 1))\n"
    "redis.call('EXPIRE', KEYS[3], tonumber(ARGV[4]))\n"
    "redis.call('PUBLISH', KEYS[2], env)\n"
    "return 1\n";

struct cn_broadcast {
    struct cn_broadcast_opts o;
    /* The consumer, set after cn_kafka_consumer_start returns and cleared before
     * it is stopped. Partition actors commit under `mu`, so that no commit can
     * reach a consumer being freed (an actor may still handle replies queued
     * before its revoke after cn_broadcast_stop returned). */
    pthread_mutex_t mu;
    struct cn_kafka_consumer *consumer;
    /* One for the owner, one per partition actor (dropped in part_free): the
     * actors may outlive cn_broadcast_stop by a few turns. acq_rel: the last
     * drop must see every other holder's writes before freeing. */
    atomic_uint refs;
};

/* One partition's actor. Batches are handled one at a time, in order. */
struct part {
    struct cn_broadcast *b;
    char topic[64];
    int32_t partition;
    struct cn_kafka_batch *head, *tail; /* queued batches, linked through hdr.next */
    size_t outstanding;                 /* EVAL replies awaited for the head batch */
    int failed;                         /* the head batch saw a Redis failure */
    uint64_t seq;                       /* tag of the head batch's commands */
    int backoff_ms;
    int retry_armed;
};

static void bc_unref(struct cn_broadcast *b)
{
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1) {
        pthread_mutex_destroy(&b->mu);
        free(b);
    }
}

static void part_free(void *st)
{
    struct part *p = st;
    while (p->head) {
        struct cn_kafka_batch *x = p->head;
        p->head = (struct cn_kafka_batch *)x->hdr.next;
        cn_msg_free(&x->hdr);
    }
    cn_fanout_add(&p->b->o.counters->bc_partitions, (uint64_t)-1);
    bc_unref(p->b);
    free(p);
}

/* Sends the EVAL of one record. Returns 1 when a reply will come, 0 when the
 * record was skipped. */
static int publish_record(cn_actor *self, struct part *p, const struct cn_kafka_record *r)
{
    struct cn_chat_message_event ev;
    int rc = r->value ? cn_event_decode_chat_message(r->value, r->len, &ev) : CN_EVENT_E_MALFORMED;
    if (rc != 0) {
        cn_fanout_add(&p->b->o.counters->bc_bad, 1);
        CN_WARN("broadcast", "%s[%d]@%" PRId64 ": skipping undecodable event: %s", p->topic,
                p->partition, r->offset, cn_event_strerror(rc));
        return 0;
    }
    struct cn_message m = {
        .id = 0,
        .message_key = ev.message_key,
        .room_id = ev.room_id,
        .sender_id = ev.sender_id,
        .sender_nickname = ev.sender_nickname,
        .sender_nickname_len = ev.sender_nickname_len,
        .content = ev.content,
        .content_len = ev.content_len,
        .type = ev.type,
        .created_at_ms = ev.sent_at_ms,
        .position = r->offset,
    };
    /* "<messageKey>\n<body>": the script puts the offsets in front. */
    size_t cap = CN_UUID_STR_LEN + 1 + cn_message_body_max_len(&m);
    char *arg = cn_xmalloc(cap);
    memcpy(arg, ev.message_key, CN_UUID_STR_LEN);
    arg[CN_UUID_STR_LEN] = '\n';
    long n = cn_message_body_render(arg + CN_UUID_STR_LEN + 1, cap - CN_UUID_STR_LEN - 1, &m);
    if (n < 0) { /* defensive: the buffer is sized by cn_message_body_max_len */
        free(arg);
        cn_fanout_add(&p->b->o.counters->bc_bad, 1);
        return 0;
    }
    char window[48], channel[40], keys[48], off[24], wcap[16], ttl[16], kcap[16];
    snprintf(window, sizeof window, "room:%" PRId64 ":window", ev.room_id);
    snprintf(channel, sizeof channel, "room:%" PRId64, ev.room_id);
    snprintf(keys, sizeof keys, "room:%" PRId64 ":keys", ev.room_id);
    snprintf(off, sizeof off, "%" PRId64, r->offset);
    snprintf(wcap, sizeof wcap, "%d", p->b->o.window_size);
    snprintf(ttl, sizeof ttl, "%d", p->b->o.window_ttl_s);
    snprintf(kcap, sizeof kcap, "%d", p->b->o.dedup_keys > 0 ? p->b->o.dedup_keys : 4096);
    const char *argv[] = {"EVAL", PUBLISH_LUA, "3",  window, channel, keys,
                          off,    arg,         wcap, ttl,    arg,     kcap};
    size_t lens[] = {4,
                     sizeof PUBLISH_LUA - 1,
                     1,
                     strlen(window),
                     strlen(channel),
                     strlen(keys),
                     strlen(off),
                     CN_UUID_STR_LEN + 1 + (size_t)n,
                     strlen(wcap),
                     strlen(ttl),
                     CN_UUID_STR_LEN, /* the messageKey: the first bytes of `arg` */
                     strlen(kcap)};
    rc = cn_redis_command(p->b->o.redis, self, BC_REPLY, p->seq, 12, argv, lens);
    free(arg);
    if (rc != 0) { /* defensive: the arguments are valid and bounded */
        p->failed = 1;
        return 0;
    }
    /* At the request (the reply is a Redis round trip later, tagged per batch), and on a
     * batch's first attempt only, so a retried batch is not counted twice. */
    if (p->backoff_ms == 0)
        cn_fanout_e2e_observe(p->b->o.counters, cn_wall_ms() - ev.sent_at_ms);
    return 1;
}

static void start_head(cn_actor *self, struct part *p);

static void arm_retry(cn_actor *self, struct part *p)
{
    cn_fanout_add(&p->b->o.counters->bc_retries, 1);
    p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : RETRY_MIN_MS;
    if (p->backoff_ms > RETRY_MAX_MS)
        p->backoff_ms = RETRY_MAX_MS;
    cn_msg *m = cn_xcalloc(1, sizeof *m);
    m->type = BC_RETRY;
    p->retry_armed = 1;
    cn_timer_after(cn_actor_runtime(self), self, (uint64_t)p->backoff_ms, m);
}

/* The head batch is in Redis (or failed): commit and go on, or retry. */
static void head_done(cn_actor *self, struct part *p)
{
    struct cn_kafka_batch *x = p->head;
    if (p->failed) {
        arm_retry(self, p);
        return;
    }
    p->backoff_ms = 0;
    int64_t next = x->records[x->n - 1].offset + 1;
    pthread_mutex_lock(&p->b->mu);
    if (p->b->consumer)
        cn_kafka_consumer_commit(p->b->consumer, p->topic, p->partition, next);
    pthread_mutex_unlock(&p->b->mu);
    p->head = (struct cn_kafka_batch *)x->hdr.next;
    if (!p->head)
        p->tail = NULL;
    cn_msg_free(&x->hdr);
    if (p->head)
        start_head(self, p);
}

static void start_head(cn_actor *self, struct part *p)
{
    struct cn_kafka_batch *x = p->head;
    p->seq++;
    p->failed = 0;
    p->outstanding = 0;
    for (size_t i = 0; i < x->n; i++)
        p->outstanding += (size_t)publish_record(self, p, &x->records[i]);
    if (p->outstanding == 0)
        head_done(self, p);
}

static void on_reply(cn_actor *self, struct part *p, struct cn_redis_reply *r)
{
    if (r->tag != p->seq || p->outstanding == 0) { /* defensive: replies of a retried round */
        cn_msg_free(&r->hdr);
        return;
    }
    if (!r->ok) {
        if (!p->failed)
            CN_WARN("broadcast", "%s[%d]: redis publish failed: %s (retrying)", p->topic,
                    p->partition, r->error);
        p->failed = 1;
    } else if (r->reply && r->reply->type == REDIS_REPLY_INTEGER && r->reply->integer == 0) {
        cn_fanout_add(&p->b->o.counters->bc_duplicates, 1);
    } else if (r->reply && r->reply->type == REDIS_REPLY_INTEGER && r->reply->integer == 2) {
        cn_fanout_add(&p->b->o.counters->bc_retried_keys, 1);
    } else {
        cn_fanout_add(&p->b->o.counters->bc_published, 1);
    }
    cn_msg_free(&r->hdr);
    if (--p->outstanding == 0)
        head_done(self, p);
}

static void part_behaviour(cn_actor *self, void *st, cn_msg *m)
{
    struct part *p = st;
    switch (m->type) {
    case BC_BATCH: {
        struct cn_kafka_batch *x = (struct cn_kafka_batch *)m;
        x->hdr.next = NULL;
        int idle = p->head == NULL;
        if (p->tail)
            p->tail->hdr.next = &x->hdr;
        else
            p->head = x;
        p->tail = x;
        if (idle && !p->retry_armed)
            start_head(self, p);
        return;
    }
    case BC_REPLY:
        on_reply(self, p, (struct cn_redis_reply *)m);
        return;
    case BC_RETRY:
        cn_msg_free(m);
        p->retry_armed = 0;
        if (p->head)
            start_head(self, p);
        return;
    case BC_REVOKE:
        /* Uncommitted batches are redelivered to the next owner. */
        cn_msg_free(m);
        cn_actor_stop(self);
        return;
    default:
        cn_msg_free(m);
    }
}

static cn_actor *pipeline_factory(void *arg, const char *topic, int32_t partition)
{
    struct cn_broadcast *b = arg;
    struct part *p = cn_xcalloc(1, sizeof *p);
    p->b = b;
    /* relaxed: the owner's reference keeps b alive during this call. */
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    snprintf(p->topic, sizeof p->topic, "%s", topic);
    p->partition = partition;
    cn_fanout_add(&b->o.counters->bc_partitions, 1);
    return cn_actor_spawn(b->o.rt, part_behaviour, p, part_free);
}

struct cn_broadcast *cn_broadcast_start(const struct cn_broadcast_opts *o, char *err, size_t errlen)
{
    struct cn_broadcast *b = cn_xcalloc(1, sizeof *b);
    b->o = *o;
    pthread_mutex_init(&b->mu, NULL);
    atomic_init(&b->refs, 1);
    static const char *const topics[] = {"chat.messages"};
    struct cn_kafka_consumer_opts co = {
        .brokers = o->brokers,
        .group_id = "chat-broadcast",
        .topics = topics,
        .ntopics = 1,
        .pipeline = pipeline_factory,
        .pipeline_arg = b,
        .batch_type = BC_BATCH,
        .revoke_type = BC_REVOKE,
        /* 2 ms, not none: the dev broker returns one producer batch per partition
         * per fetch (a record or two), and batches that small made the partition
         * hit max_in_flight and pause, which costs refetches (perf/bench/fanout.sh:
         * 10 k deliveries/s with loss at 4,000 msgs/s, 40 k with none after). */
        .batch_linger_ms = 2,
        .fetch_wait_ms = o->fetch_wait_ms,
    };
    struct cn_kafka_consumer *c = cn_kafka_consumer_start(&co, err, errlen);
    if (!c) {
        bc_unref(b);
        return NULL;
    }
    pthread_mutex_lock(&b->mu);
    b->consumer = c;
    pthread_mutex_unlock(&b->mu);
    return b;
}

void cn_broadcast_stop(struct cn_broadcast *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    struct cn_kafka_consumer *c = b->consumer;
    b->consumer = NULL; /* commits from now on are dropped: redelivery is harmless */
    pthread_mutex_unlock(&b->mu);
    cn_kafka_consumer_stop(c);
    bc_unref(b);
}
