/* The broadcast pipeline (see broadcast_pipeline.h): the group chat-broadcast on the
 * partition pipeline shell, and its step, which publishes a batch with one EVAL per run
 * of up to PUBLISH_RUN records. The shell does the FIFO, the retries and the commit. */
#include "actors/pipeline/broadcast_pipeline.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/pipeline/partition_pipeline.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "proto/event_codec.h"
#include "proto/message_body.h"

enum { BC_REPLY = CN_PP_MSG_STEP }; /* struct cn_redis_reply of one run's EVAL */

/* One call publishes a run of records in Kafka order. KEYS: for each record, the
 * room's window, channel and keys. ARGV: window cap, ttl, keys cap, then for each
 * record its offset, "<messageKey>\n<body>" and its dedupe key "<senderId>:<messageKey>".
 * Returns one integer per record: 1 published, 0 for an offset the window already
 * passed (a redelivery), 2 for a sender's messageKey the room already published at an
 * earlier offset (a client's retry that Kafka holds twice). A messageKey is its
 * sender's idempotency key within a room, as in PostgreSQL (messages_insert_batch): the
 * same key from another sender is another message and is published. Each record's
 * "previous offset" is the window's top before
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

/* "<senderId>:<messageKey>": 20 digits of an int64, ':', the UUID, NUL. */
#define DKEY_MAX (20 + 1 + CN_UUID_STR_LEN + 1)

struct cn_broadcast {
    struct cn_broadcast_opts o;
    /* The shell's group: it owns this object (freed with the group's last reference,
     * which actors hold until their last turn). */
    struct cn_pp_group *group;
};

/* One partition's step state: the batch in progress. */
struct part {
    size_t outstanding; /* EVAL replies awaited for the current attempt */
    int failed;         /* the current attempt saw a Redis failure */
};

/* One call's arguments while it is built: EVAL, the script, the key count, then the
 * keys and the arguments, which go in two lists and are joined at the end. */
struct run {
    size_t n;            /* records so far */
    char (*keys)[3][48]; /* window, channel, keys: per record */
    char (*offs)[24];    /* per record */
    char **bodies;       /* "<messageKey>\n<body>", owned */
    size_t *body_lens;
    char (*dkeys)[DKEY_MAX]; /* "<senderId>:<messageKey>": what room:{id}:keys holds */
};

static void run_reset(struct run *u)
{
    for (size_t i = 0; i < u->n; i++)
        free(u->bodies[i]);
    u->n = 0;
}

/* Adds one record to the run. Returns 1 when added, 0 when it was skipped. */
static int run_add(struct cn_pp *pp, struct run *u, const struct cn_kafka_record *r, int attempt)
{
    struct cn_broadcast *b = cn_pp_owner(pp);
    struct cn_chat_message_event ev;
    int rc = r->value ? cn_event_decode_chat_message(r->value, r->len, &ev) : CN_EVENT_E_MALFORMED;
    if (rc != 0) {
        cn_fanout_add(&b->o.counters->bc_bad, 1);
        CN_WARN("broadcast", "%s[%d]@%" PRId64 ": skipping undecodable event: %s", cn_pp_topic(pp),
                cn_pp_partition(pp), r->offset, cn_event_strerror(rc));
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
        cn_fanout_add(&b->o.counters->bc_bad, 1);
        return 0;
    }
    size_t i = u->n++;
    snprintf(u->keys[i][0], sizeof u->keys[i][0], "room:%" PRId64 ":window", ev.room_id);
    snprintf(u->keys[i][1], sizeof u->keys[i][1], "room:%" PRId64, ev.room_id);
    snprintf(u->keys[i][2], sizeof u->keys[i][2], "room:%" PRId64 ":keys", ev.room_id);
    snprintf(u->offs[i], sizeof u->offs[i], "%" PRId64, r->offset);
    snprintf(u->dkeys[i], sizeof u->dkeys[i], "%" PRId64 ":%s", ev.sender_id, ev.message_key);
    u->bodies[i] = arg;
    u->body_lens[i] = CN_UUID_STR_LEN + 1 + (size_t)n;
    /* At the request (the reply is a Redis round trip later, tagged per attempt), and on
     * a batch's first attempt only, so a retried batch is not counted twice. */
    if (attempt == 0)
        cn_fanout_e2e_observe(b->o.counters, cn_wall_ms() - ev.sent_at_ms);
    return 1;
}

/* Sends the run as one EVAL and empties it. Returns 1 when a reply will come. */
static int run_send(struct cn_pp *pp, struct part *p, struct run *u)
{
    struct cn_broadcast *b = cn_pp_owner(pp);
    if (u->n == 0)
        return 0;
    char wcap[16], ttl[16], kcap[16], nkeys[16];
    snprintf(wcap, sizeof wcap, "%d", b->o.window_size);
    snprintf(ttl, sizeof ttl, "%d", b->o.window_ttl_s);
    snprintf(kcap, sizeof kcap, "%d", b->o.dedup_keys > 0 ? b->o.dedup_keys : 4096);
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
        ARG(u->dkeys[i], strlen(u->dkeys[i]));
    }
#undef ARG
    int rc = cn_redis_command(b->o.redis, cn_pp_self(pp), BC_REPLY, cn_pp_tag(pp), (int)argc, argv,
                              lens);
    free(argv);
    free(lens);
    run_reset(u);
    if (rc != 0) { /* defensive: the arguments are valid and bounded */
        cn_pp_error(pp, "redis refused the EVAL (%d)", rc);
        p->failed = 1;
        return 0;
    }
    return 1;
}

/* The verdict once every reply of the attempt is in: a Redis failure retries the whole
 * batch (the script is idempotent), for as long as Redis fails. */
static enum cn_pp_verdict settled(const struct part *p)
{
    return p->failed ? CN_PP_RETRY : CN_PP_DONE;
}

static enum cn_pp_verdict start(struct cn_pp *pp, void *st, const struct cn_kafka_batch *x,
                                int attempt)
{
    struct part *p = st;
    p->failed = 0;
    p->outstanding = 0;
    size_t most = x->n < PUBLISH_RUN ? x->n : PUBLISH_RUN;
    struct run u = {
        .keys = cn_xmalloc(most * sizeof *u.keys),
        .offs = cn_xmalloc(most * sizeof *u.offs),
        .bodies = cn_xmalloc(most * sizeof *u.bodies),
        .body_lens = cn_xmalloc(most * sizeof *u.body_lens),
        .dkeys = cn_xmalloc(most * sizeof *u.dkeys),
    };
    /* Runs go out in order on one connection, so Redis runs them in Kafka order. */
    for (size_t i = 0; i < x->n; i++) {
        run_add(pp, &u, &x->records[i], attempt);
        if (u.n == PUBLISH_RUN)
            p->outstanding += (size_t)run_send(pp, p, &u);
    }
    p->outstanding += (size_t)run_send(pp, p, &u);
    free(u.keys);
    free(u.offs);
    free(u.bodies);
    free(u.body_lens);
    free(u.dkeys);
    return p->outstanding == 0 ? settled(p) : CN_PP_PENDING;
}

static enum cn_pp_verdict on_msg(struct cn_pp *pp, void *st, cn_msg *m)
{
    struct part *p = st;
    struct cn_broadcast *b = cn_pp_owner(pp);
    const struct cn_redis_reply *r = (const struct cn_redis_reply *)m;
    if (m->type != BC_REPLY || !cn_pp_current(pp, r->tag) || p->outstanding == 0)
        return CN_PP_PENDING; /* defensive: replies of a retried round */
    if (!r->ok) {
        if (!p->failed)
            CN_WARN("broadcast", "%s[%d]: redis publish failed: %s (retrying)", cn_pp_topic(pp),
                    cn_pp_partition(pp), r->error);
        cn_pp_error(pp, "%s", r->error);
        p->failed = 1;
    } else if (cn_redis_kind(r->reply) == CN_REDIS_ARRAY) {
        const struct cn_kafka_batch *x = cn_pp_batch(pp);
        uint64_t now = cn_now_ns();
        uint64_t published = 0;
        for (size_t i = 0; i < cn_redis_count(r->reply); i++) {
            const struct cn_redis_value *e = cn_redis_at(r->reply, i);
            long long v = cn_redis_kind(e) == CN_REDIS_INTEGER ? cn_redis_int(e) : 1;
            cn_fanout_add(v == 0   ? &b->o.counters->bc_duplicates
                          : v == 2 ? &b->o.counters->bc_retried_keys
                                   : &b->o.counters->bc_published,
                          1);
            published += v == 1;
        }
        if (x && published && now > x->consumed_ns)
            cn_prom_histo_observe_n(&b->o.counters->publish, now - x->consumed_ns, published);
    }
    return --p->outstanding == 0 ? settled(p) : CN_PP_PENDING;
}

static const struct cn_pp_step broadcast_step = {
    .name = "broadcast",
    .state_size = sizeof(struct part),
    .start = start,
    .on_msg = on_msg,
};

static void broadcast_free(void *arg)
{
    free(arg);
}

struct cn_broadcast *cn_broadcast_start(const struct cn_broadcast_opts *o, char *err, size_t errlen)
{
    struct cn_broadcast *b = cn_xcalloc(1, sizeof *b);
    b->o = *o;
    static const char *const topics[] = {"chat.messages"};
    struct cn_pp_group_opts go = {
        .rt = o->rt,
        .step = &broadcast_step,
        .owner = b,
        .owner_free = broadcast_free,
        .consumer =
            {
                .brokers = o->brokers,
                .group_id = "chat-broadcast",
                .topics = topics,
                .ntopics = 1,
                /* 2 ms, not none: the dev broker returns one producer batch per partition
                 * per fetch (a record or two), and batches that small made the partition
                 * hit max_in_flight and pause, which costs refetches (perf/bench/fanout.sh:
                 * 10 k deliveries/s with loss at 4,000 msgs/s, 40 k with none after). */
                .batch_linger_ms = 2,
                .fetch_wait_ms = o->fetch_wait_ms,
            },
        /* Nothing is skipped while Redis is down: the consumer pauses the partition. */
        .retry = {.retries = -1, .first_ms = 100, .factor = 2, .max_ms = 2000},
        .counters =
            {
                .retries = &o->counters->bc_retries,
                .partitions = &o->counters->bc_partitions,
            },
    };
    b->group = cn_pp_group_start(&go, err, errlen);
    if (!b->group) {
        free(b);
        return NULL;
    }
    return b;
}

void cn_broadcast_close(struct cn_broadcast *b)
{
    if (b)
        cn_pp_group_close(b->group);
}

struct cn_pp_group *cn_broadcast_group(struct cn_broadcast *b)
{
    return b ? b->group : NULL;
}

void cn_broadcast_free(struct cn_broadcast *b)
{
    if (b)
        cn_pp_group_free(b->group); /* frees b with the group's last reference */
}
