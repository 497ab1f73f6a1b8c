/* The broadcast pipeline's partition actors (see broadcast_pipeline.h). */
#include "actors/pipeline/broadcast_pipeline.h"

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

/* One call publishes a run of records in Kafka order. KEYS: for each record, the
 * room's window, channel and keys. ARGV: window cap, ttl, keys cap, then for each
 * record its offset, "<messageKey>\n<body>" and messageKey. Returns one integer per
 * record: 1 published, 0 for an offset the window already passed (a redelivery), 2
 * for a messageKey the room already published at an earlier offset (a client's retry
 * that Kafka holds twice). Each record's "previous offset" is the window's top before
 * it, as if the records were published one by one; the windows and key sets are
 * trimmed and their expiry renewed once per room and call. One call per run rather
 * than per record: EVAL's own cost (finding the script, the Lua call) was 12 of its
 * 20 us per record (docs/PERFORMANCE.md, 2026-12-07). */
static const char PUBLISH_LUA[] =
    "local cap, ttl, kcap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local last, at, rooms, out = {}, {}, {}, {}\n"
    "for i = 0, #KEYS / 3 - 1 do\n"
    "  local w, ch, k = KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3]\n"
    "  local off = tonumber(ARGV[3 * i + 4])\n"
    "  local prev = last[w]\n"
    "  if prev == nil then\n"
    "    local top = redis.call('ZREVRANGE', w, 0, 0, 'WITHSCORES')\n"
    "    prev = -1\n"
    "    if top[2] then prev = tonumber(top[2]) end\n"
    "    rooms[#rooms + 1] = {w, k, false}\n"
    "    at[w] = #rooms\n"
    "    last[w] = prev\n"
    "  end\n"
    "  if off <= prev then\n"
    "    out[i + 1] = 0\n"
    "  elseif redis.call('ZSCORE', k, ARGV[3 * i + 6]) then\n"
    "    out[i + 1] = 2\n"
    "  else\n"
    "    local env = ARGV[3 * i + 4] .. ' ' .. string.format('%d', prev) .. ' ' .. ARGV[3 * i + "
    "5]\n"
    "    redis.call('ZADD', w, off, env)\n"
    "    redis.call('ZADD', k, off, ARGV[3 * i + 6])\n"
    "    redis.call('PUBLISH', ch, env)\n"
    "    last[w] = off\n"
    "    rooms[at[w]][3] = true\n"
    "    out[i + 1] = 1\n"
    "  end\n"
    "end\n"
    "for _, r in ipairs(rooms) do\n"
    "  if r[3] then\n"
    "    redis.call('ZREMRANGEBYRANK', r[1], 0, -(cap + 1))\n"
    "    redis.call('EXPIRE', r[1], ttl)\n"
    "    redis.call('ZREMRANGEBYRANK', r[2], 0, -(kcap + 1))\n"
    "    redis.call('EXPIRE', r[2], ttl)\n"
    "  end\n"
    "end\n"
    "return out\n";

/* Records per call: bounds one call's size (some 200 KB) and Redis's time in it. */
#define PUBLISH_RUN 256

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

/* One call's arguments while it is built: EVAL, the script, the key count, then the
 * keys and the arguments, which go in two lists and are joined at the end. */
struct run {
    size_t n;            /* records so far */
    char (*keys)[3][48]; /* window, channel, keys: per record */
    char (*offs)[24];    /* per record */
    char **bodies;       /* "<messageKey>\n<body>", owned */
    size_t *body_lens;
};

static void run_reset(struct run *u)
{
    for (size_t i = 0; i < u->n; i++)
        free(u->bodies[i]);
    u->n = 0;
}

/* Adds one record to the run. Returns 1 when added, 0 when it was skipped. */
static int run_add(struct part *p, struct run *u, const struct cn_kafka_record *r)
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
    size_t i = u->n++;
    snprintf(u->keys[i][0], sizeof u->keys[i][0], "room:%" PRId64 ":window", ev.room_id);
    snprintf(u->keys[i][1], sizeof u->keys[i][1], "room:%" PRId64, ev.room_id);
    snprintf(u->keys[i][2], sizeof u->keys[i][2], "room:%" PRId64 ":keys", ev.room_id);
    snprintf(u->offs[i], sizeof u->offs[i], "%" PRId64, r->offset);
    u->bodies[i] = arg;
    u->body_lens[i] = CN_UUID_STR_LEN + 1 + (size_t)n;
    /* At the request (the reply is a Redis round trip later, tagged per batch), and on a
     * batch's first attempt only, so a retried batch is not counted twice. */
    if (p->backoff_ms == 0)
        cn_fanout_e2e_observe(p->b->o.counters, cn_wall_ms() - ev.sent_at_ms);
    return 1;
}

/* Sends the run as one EVAL and empties it. Returns 1 when a reply will come. */
static int run_send(cn_actor *self, struct part *p, struct run *u)
{
    if (u->n == 0)
        return 0;
    char wcap[16], ttl[16], kcap[16], nkeys[16];
    snprintf(wcap, sizeof wcap, "%d", p->b->o.window_size);
    snprintf(ttl, sizeof ttl, "%d", p->b->o.window_ttl_s);
    snprintf(kcap, sizeof kcap, "%d", p->b->o.dedup_keys > 0 ? p->b->o.dedup_keys : 4096);
    snprintf(nkeys, sizeof nkeys, "%zu", 3 * u->n);
    size_t argc = 3 + 3 * u->n + 3 + 3 * u->n;
    const char **argv = cn_xmalloc(argc * sizeof *argv);
    size_t *lens = cn_xmalloc(argc * sizeof *lens);
    size_t a = 0;
#define ARG(s, l) (argv[a] = (s), lens[a] = (l), a++)
    ARG("EVAL", 4);
    ARG(PUBLISH_LUA, sizeof PUBLISH_LUA - 1);
    ARG(nkeys, strlen(nkeys));
    for (size_t i = 0; i < u->n; i++)
        for (int k = 0; k < 3; k++)
            ARG(u->keys[i][k], strlen(u->keys[i][k]));
    ARG(wcap, strlen(wcap));
    ARG(ttl, strlen(ttl));
    ARG(kcap, strlen(kcap));
    for (size_t i = 0; i < u->n; i++) {
        ARG(u->offs[i], strlen(u->offs[i]));
        ARG(u->bodies[i], u->body_lens[i]);
        ARG(u->bodies[i], CN_UUID_STR_LEN); /* the messageKey: the first bytes of the body */
    }
#undef ARG
    int rc = cn_redis_command(p->b->o.redis, self, BC_REPLY, p->seq, (int)argc, argv, lens);
    free(argv);
    free(lens);
    run_reset(u);
    if (rc != 0) { /* defensive: the arguments are valid and bounded */
        p->failed = 1;
        return 0;
    }
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
    size_t most = x->n < PUBLISH_RUN ? x->n : PUBLISH_RUN;
    struct run u = {
        .keys = cn_xmalloc(most * sizeof *u.keys),
        .offs = cn_xmalloc(most * sizeof *u.offs),
        .bodies = cn_xmalloc(most * sizeof *u.bodies),
        .body_lens = cn_xmalloc(most * sizeof *u.body_lens),
    };
    /* Runs go out in order on one connection, so Redis runs them in Kafka order. */
    for (size_t i = 0; i < x->n; i++) {
        run_add(p, &u, &x->records[i]);
        if (u.n == PUBLISH_RUN)
            p->outstanding += (size_t)run_send(self, p, &u);
    }
    p->outstanding += (size_t)run_send(self, p, &u);
    free(u.keys);
    free(u.offs);
    free(u.bodies);
    free(u.body_lens);
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
    } else if (cn_redis_kind(r->reply) == CN_REDIS_ARRAY) {
        for (size_t i = 0; i < cn_redis_count(r->reply); i++) {
            const struct cn_redis_value *e = cn_redis_at(r->reply, i);
            long long v = cn_redis_kind(e) == CN_REDIS_INTEGER ? cn_redis_int(e) : 1;
            cn_fanout_add(v == 0   ? &p->b->o.counters->bc_duplicates
                          : v == 2 ? &p->b->o.counters->bc_retried_keys
                                   : &p->b->o.counters->bc_published,
                          1);
        }
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
