/* The Kafka consumer: its thread, partitions, batching, backpressure, rebalances and
 * commits; see kafka_consumer.h. Building a batch message is kafka_consumer_batch.c.
 *
 * The consumer thread owns everything but the counters: the per-partition state (the
 * pipeline actor, records gathered but not sent, the end offsets of the batches out),
 * and every librdkafka call except the watermark read of the stats. It sleeps in
 * poll() on one eventfd that two things write: our inbox (commits and acks from the
 * pipelines) and librdkafka, which writes to it when its consumer queue goes from
 * empty to non-empty (rd_kafka_queue_io_event_enable). Because librdkafka writes only
 * on that transition, each turn empties the queue, or polls again at once when the
 * turn's budget ran out. Rebalance and commit callbacks run inside
 * rd_kafka_consumer_poll, so on this thread too.
 *
 * Stopping without losing a commit: cn_kafka_consumer_commit announces itself in
 * `submitters` before it looks at `stopping`, and cn_kafka_consumer_close sets
 * `stopping` before it waits for `submitters` to reach zero (both seq_cst, so one of
 * the two sees the other). After that no push can come, so the thread applies the
 * inbox one last time before it leaves the group. */
#include "io/kafka_consumer.h"
#include "io/kafka_client_conf.h"

#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actors/runtime/inbox.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "io/kafka_consumer_batch.h"

#define MOD        "kafka"
#define DEF_BATCH  256
#define DEF_LINGER 5
/* Generous: a pause makes librdkafka drop what it prefetched for the partition
 * and fetch it again on resume, so pausing often costs more than it saves. 32
 * batches of at most 256 records of a few hundred bytes is a few MB a partition. */
#define DEF_INFLIGHT   32
#define DEF_SESSION    10000
#define DEF_CLOSE      10000
#define CONSUME_BUDGET 4096 /* records per loop turn */
#define DRAIN_BUDGET   1024 /* inbox messages per loop turn */
#define MAX_WAIT_MS    1000

enum ctl_kind { CTL_COMMIT, CTL_DONE };

/* A commit or ack from a pipeline, through the inbox. */
struct ctl {
    cn_msg hdr; /* hdr.type = enum ctl_kind */
    int32_t partition;
    int64_t value; /* next offset, or batch count */
    char topic[];
};

/* One assigned partition. Consumer thread only, except the fields the stats read,
 * which change under `lock`. */
struct part {
    struct part *next;
    char *topic;
    int32_t partition;
    cn_actor *actor;           /* NULL: the factory gave none, the partition stays paused */
    rd_kafka_message_t **pend; /* consumed, not yet sent */
    size_t npend, cap;
    uint64_t first_ns;   /* when the oldest pending record arrived */
    int64_t *out;        /* end offsets (last + 1) of the batches out, oldest first */
    size_t nout, outcap; /* under lock */
    int64_t commit_sent; /* highest next offset sent for commit; -1 none */
    int64_t committed;   /* confirmed by the broker; -1 unknown; under lock */
    bool paused;         /* under lock */
    bool send_failed_logged;
};

struct cn_kafka_consumer {
    /* Set before the thread starts, read-only afterwards. */
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue; /* the consumer queue */
    cn_kafka_pipeline_fn pipeline;
    void *pipeline_arg;
    uint32_t batch_type, revoke_type;
    size_t batch_max;
    uint64_t linger_ns;
    size_t max_in_flight;
    int close_timeout_ms;
    bool cooperative;
    int wakefd;
    pthread_t thread;
    char *group;
    bool closed; /* owner thread: cn_kafka_consumer_close has run */

    cn_inbox inbox; /* pipelines push, the consumer thread drains */
    /* seq_cst, paired with `submitters`: see the file comment. */
    atomic_bool stopping;
    atomic_uint submitters;
    /* Release store by cn_kafka_consumer_close once no submitter remains, acquire load
     * by the thread: the inbox gets no more pushes. */
    atomic_bool quit;

    /* Consumer thread only. */
    bool fetch_failing;

    /* Guards the partition list against the stats reader. */
    pthread_mutex_t lock;
    struct part *parts;

    /* Counters: relaxed, they order nothing. */
    _Atomic uint64_t records, batches, commits, commits_dropped, commit_errors, pauses, resumes,
        assigned, revoked, records_dropped;
};

#define RELAXED            memory_order_relaxed
#define COUNT(c, field, n) atomic_fetch_add_explicit(&(c)->field, (n), RELAXED)

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    /* As for the producer: our own transition logs say it once. */
    (void)level;
    cn_log(CN_LOG_DEBUG, MOD, "consumer %s: %s", fac, buf);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct cn_kafka_consumer *c = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[256];
        rd_kafka_fatal_error(rk, why, sizeof why);
        CN_ERROR(MOD, "consumer %s: fatal error: %s", c->group, why);
        return;
    }
    CN_DEBUG(MOD, "consumer %s: %s: %s", c->group, rd_kafka_err2name((rd_kafka_resp_err_t)err),
             reason);
}

/* ---- partitions ---- */

static struct part *find(struct cn_kafka_consumer *c, const char *topic, int32_t partition)
{
    for (struct part *p = c->parts; p; p = p->next)
        if (p->partition == partition && strcmp(p->topic, topic) == 0)
            return p;
    return NULL;
}

static void pause_resume(struct cn_kafka_consumer *c, struct part *p, bool pause)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
    rd_kafka_resp_err_t e =
        pause ? rd_kafka_pause_partitions(c->rk, l) : rd_kafka_resume_partitions(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        /* Defensive: only fails for a partition that is not assigned. */
        CN_WARN(MOD, "consumer %s: cannot %s %s/%d: %s", c->group, pause ? "pause" : "resume",
                p->topic, (int)p->partition, rd_kafka_err2str(e));
        return;
    }
    pthread_mutex_lock(&c->lock);
    p->paused = pause;
    pthread_mutex_unlock(&c->lock);
    COUNT(c, pauses, pause ? 1 : 0);
    COUNT(c, resumes, pause ? 0 : 1);
}

/* Sends what is due: full batches, and a partial one whose linger has passed, while
 * fewer than max_in_flight batches are out. Pauses the partition when the bound is
 * reached, resumes it when there is room again. */
static void flush(struct cn_kafka_consumer *c, struct part *p, uint64_t now)
{
    while (p->actor && p->npend > 0 && p->nout < c->max_in_flight &&
           (p->npend >= c->batch_max || now >= p->first_ns + c->linger_ns)) {
        size_t n = p->npend < c->batch_max ? p->npend : c->batch_max;
        struct cn_kafka_batch *b = cn__kafka_batch_new(p->pend, n, c->batch_type);
        b->consumed_ns = p->first_ns;
        int64_t end = p->pend[n - 1]->offset + 1;
        for (size_t i = 0; i < n; i++)
            rd_kafka_message_destroy(p->pend[i]);
        memmove(p->pend, p->pend + n, (p->npend - n) * sizeof *p->pend);
        p->npend -= n;
        if (cn_actor_send(p->actor, &b->hdr) != 0) {
            /* The pipeline stopped on its own: the batch was freed. Nothing of it
             * will be committed, so the next owner gets it again. */
            if (!p->send_failed_logged)
                CN_WARN(MOD, "consumer %s: the pipeline of %s/%d is stopped; records dropped",
                        c->group, p->topic, (int)p->partition);
            p->send_failed_logged = true;
            COUNT(c, records_dropped, n);
            continue;
        }
        COUNT(c, batches, 1);
        COUNT(c, records, n);
        pthread_mutex_lock(&c->lock);
        if (p->nout == p->outcap) {
            p->outcap = p->outcap ? p->outcap * 2 : 8;
            p->out = cn_xrealloc(p->out, p->outcap * sizeof *p->out);
        }
        p->out[p->nout++] = end;
        pthread_mutex_unlock(&c->lock);
    }
    bool full = p->nout >= c->max_in_flight || !p->actor;
    if (full && !p->paused)
        pause_resume(c, p, true);
    else if (!full && p->paused)
        pause_resume(c, p, false);
}

/* Drops the `n` oldest batches out. */
static void ack(struct cn_kafka_consumer *c, struct part *p, size_t n)
{
    if (n > p->nout)
        n = p->nout;
    pthread_mutex_lock(&c->lock);
    memmove(p->out, p->out + n, (p->nout - n) * sizeof *p->out);
    p->nout -= n;
    pthread_mutex_unlock(&c->lock);
}

static void add_part(struct cn_kafka_consumer *c, const char *topic, int32_t partition)
{
    struct part *p = cn_xcalloc(1, sizeof *p);
    p->topic = cn_xstrdup(topic);
    p->partition = partition;
    p->commit_sent = -1;
    p->committed = -1;
    p->actor = c->pipeline(c->pipeline_arg, c, topic, partition);
    if (!p->actor)
        CN_ERROR(MOD, "consumer %s: no pipeline for %s/%d; it stays paused", c->group, topic,
                 (int)partition);
    pthread_mutex_lock(&c->lock);
    p->next = c->parts;
    c->parts = p;
    pthread_mutex_unlock(&c->lock);
    COUNT(c, assigned, 1);
}

/* Tells the pipeline, drops the records not sent, forgets the partition. */
static void remove_part(struct cn_kafka_consumer *c, struct part *p)
{
    pthread_mutex_lock(&c->lock);
    for (struct part **pp = &c->parts; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    pthread_mutex_unlock(&c->lock);
    if (p->actor) {
        size_t tl = strlen(p->topic) + 1;
        struct cn_kafka_revoke *r = cn_xmalloc(sizeof *r + tl);
        cn_msg_init(&r->hdr, c->revoke_type, NULL);
        r->partition = p->partition;
        memcpy(r->topic, p->topic, tl);
        cn_actor_send(p->actor, &r->hdr); /* a stopped actor frees it */
        cn_actor_unref(p->actor);
    }
    for (size_t i = 0; i < p->npend; i++)
        rd_kafka_message_destroy(p->pend[i]);
    COUNT(c, records_dropped, p->npend);
    COUNT(c, revoked, 1);
    free(p->pend);
    free(p->out);
    free(p->topic);
    free(p);
}

/* ---- commits and acks ---- */

static void apply_ctl(void *ctx, cn_msg *m)
{
    struct cn_kafka_consumer *c = ctx;
    struct ctl *k = (struct ctl *)m;
    struct part *p = find(c, k->topic, k->partition);
    if (!p) {
        if (k->hdr.type == CTL_COMMIT)
            COUNT(c, commits_dropped, 1);
        cn_msg_free(m);
        return;
    }
    if (k->hdr.type == CTL_DONE) {
        ack(c, p, (size_t)k->value);
    } else {
        size_t n = 0;
        while (n < p->nout && p->out[n] <= k->value)
            n++;
        ack(c, p, n);
        if (k->value > p->commit_sent) {
            rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
            rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = k->value;
            /* Asynchronous: the outcome arrives in on_commit. Requests leave in the
             * order they are made, so one partition's commits stay ordered. */
            rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, l, 1);
            rd_kafka_topic_partition_list_destroy(l);
            if (e) {
                COUNT(c, commit_errors, 1);
                CN_WARN(MOD, "consumer %s: commit %s/%d@%lld: %s", c->group, p->topic,
                        (int)p->partition, (long long)k->value, rd_kafka_err2str(e));
            } else {
                p->commit_sent = k->value;
                COUNT(c, commits, 1);
            }
        } else {
            COUNT(c, commits_dropped, 1);
        }
    }
    flush(c, p, cn_now_ns());
    cn_msg_free(m);
}

static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    struct cn_kafka_consumer *c = opaque;
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return; /* nothing to commit */
    for (int i = 0; offsets && i < offsets->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &offsets->elems[i];
        rd_kafka_resp_err_t e = err ? err : tp->err;
        if (e) {
            COUNT(c, commit_errors, 1);
            CN_WARN(MOD, "consumer %s: commit of %s/%d@%lld failed: %s", c->group, tp->topic,
                    (int)tp->partition, (long long)tp->offset, rd_kafka_err2str(e));
            continue;
        }
        struct part *p = find(c, tp->topic, tp->partition);
        pthread_mutex_lock(&c->lock);
        if (p && tp->offset > p->committed)
            p->committed = tp->offset;
        pthread_mutex_unlock(&c->lock);
    }
}

/* ---- rebalances ---- */

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct cn_kafka_consumer *c = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_error_t *e = NULL;
        rd_kafka_resp_err_t re = 0;
        if (c->cooperative)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            re = rd_kafka_assign(rk, parts);
        if (e || re) {
            CN_ERROR(MOD, "consumer %s: assign failed: %s", c->group,
                     e ? rd_kafka_error_string(e) : rd_kafka_err2str(re));
            if (e)
                rd_kafka_error_destroy(e);
            return;
        }
        for (int i = 0; i < parts->cnt; i++)
            if (!find(c, parts->elems[i].topic, parts->elems[i].partition))
                add_part(c, parts->elems[i].topic, parts->elems[i].partition);
        CN_INFO(MOD, "consumer %s: assigned %d partition(s)", c->group, parts->cnt);
        return;
    }
    /* Revoked (or lost). Commits the pipelines already made go out first, while the
     * partitions are still ours. */
    bool lost = rd_kafka_assignment_lost(rk);
    cn_inbox_drain(&c->inbox, SIZE_MAX, apply_ctl, c);
    for (int i = 0; i < parts->cnt; i++) {
        struct part *p = find(c, parts->elems[i].topic, parts->elems[i].partition);
        if (p)
            remove_part(c, p);
    }
    if (c->cooperative) {
        rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
        if (e) {
            CN_WARN(MOD, "consumer %s: unassign: %s", c->group, rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    } else {
        rd_kafka_assign(rk, NULL);
    }
    CN_INFO(MOD, "consumer %s: %s %d partition(s)", c->group, lost ? "lost" : "revoked",
            parts->cnt);
}

/* ---- the thread ---- */

static void on_record(struct cn_kafka_consumer *c, rd_kafka_message_t *m, uint64_t now)
{
    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && !c->fetch_failing) {
            CN_WARN(MOD, "consumer %s: %s; logged once until records flow again", c->group,
                    rd_kafka_message_errstr(m));
            c->fetch_failing = true;
        }
        rd_kafka_message_destroy(m);
        return;
    }
    if (c->fetch_failing) {
        CN_INFO(MOD, "consumer %s: records flow again", c->group);
        c->fetch_failing = false;
    }
    struct part *p = find(c, rd_kafka_topic_name(m->rkt), m->partition);
    if (!p) {
        /* Defensive: librdkafka drops the records of revoked partitions itself. */
        COUNT(c, records_dropped, 1);
        rd_kafka_message_destroy(m);
        return;
    }
    if (p->committed < 0) {
        /* Consumption starts at the committed offset, so the first record tells it;
         * the stats then show a lag before our first commit. */
        pthread_mutex_lock(&c->lock);
        p->committed = m->offset;
        pthread_mutex_unlock(&c->lock);
    }
    if (p->npend == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 64;
        p->pend = cn_xrealloc(p->pend, p->cap * sizeof *p->pend);
    }
    if (p->npend == 0)
        p->first_ns = now;
    p->pend[p->npend++] = m;
    if (p->npend >= c->batch_max)
        flush(c, p, now);
}

/* Milliseconds until the oldest partial batch is due, capped; 0 when one is due. */
static int next_wait_ms(struct cn_kafka_consumer *c, uint64_t now)
{
    uint64_t next = now + (uint64_t)MAX_WAIT_MS * 1000000u;
    for (struct part *p = c->parts; p; p = p->next)
        if (p->npend > 0 && p->nout < c->max_in_flight && p->actor &&
            p->first_ns + c->linger_ns < next)
            next = p->first_ns + c->linger_ns;
    if (next <= now)
        return 0;
    return (int)((next - now + 999999u) / 1000000u);
}

static void leave_group(struct cn_kafka_consumer *c)
{
    rd_kafka_error_t *e = rd_kafka_consumer_close_queue(c->rk, c->queue);
    if (e) {
        CN_WARN(MOD, "consumer %s: close: %s", c->group, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        return;
    }
    /* The revoke callback runs in these polls; records still arriving are dropped
     * uncommitted, for the next owner. */
    uint64_t until = cn_now_ms() + (uint64_t)c->close_timeout_ms;
    while (!rd_kafka_consumer_closed(c->rk) && cn_now_ms() < until) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 50);
        if (m) {
            if (!m->err)
                COUNT(c, records_dropped, 1);
            rd_kafka_message_destroy(m);
        }
    }
    if (!rd_kafka_consumer_closed(c->rk))
        CN_WARN(MOD, "consumer %s: did not leave the group within %d ms", c->group,
                c->close_timeout_ms);
}

static void *consumer_main(void *arg)
{
    struct cn_kafka_consumer *c = arg;
    /* acquire pairs with the release store in cn_kafka_consumer_close. */
    while (!atomic_load_explicit(&c->quit, memory_order_acquire)) {
        uint64_t now = cn_now_ns();
        for (struct part *p = c->parts; p; p = p->next)
            flush(c, p, now);
        struct pollfd pfd = {.fd = c->wakefd, .events = POLLIN};
        poll(&pfd, 1, next_wait_ms(c, now));
        cn_wakefd_clear(c->wakefd);
        cn_inbox_drain(&c->inbox, DRAIN_BUDGET, apply_ctl, c);
        size_t n = 0;
        rd_kafka_message_t *m;
        now = cn_now_ns();
        while (n < CONSUME_BUDGET && (m = rd_kafka_consumer_poll(c->rk, 0)) != NULL) {
            on_record(c, m, now);
            n++;
        }
        if (n == CONSUME_BUDGET) /* the queue may hold more: no fd write will say so */
            cn_wakefd_wake((void *)(intptr_t)c->wakefd);
    }
    cn_inbox_drain(&c->inbox, SIZE_MAX, apply_ctl, c);
    leave_group(c);
    /* Partitions the close did not revoke (the group could not be reached). */
    while (c->parts)
        remove_part(c, c->parts);
    cn_inbox_destroy(&c->inbox);
    return NULL;
}

/* ---- public API ---- */

static int set(rd_kafka_conf_t *conf, const char *k, const char *v, char *err, size_t errlen)
{
    char why[256];
    if (rd_kafka_conf_set(conf, k, v, why, sizeof why) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "kafka consumer: %s=%s: %s", k, v, why);
        return -1;
    }
    return 0;
}

static void free_consumer(struct cn_kafka_consumer *c)
{
    if (c->queue)
        rd_kafka_queue_destroy(c->queue);
    if (c->rk)
        rd_kafka_destroy_flags(c->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    if (c->wakefd >= 0)
        close(c->wakefd);
    pthread_mutex_destroy(&c->lock);
    free(c->group);
    free(c);
}

struct cn_kafka_consumer *cn_kafka_consumer_start(const struct cn_kafka_consumer_opts *o, char *err,
                                                  size_t errlen)
{
    if (!o || !o->brokers || !*o->brokers || !o->group_id || !*o->group_id || !o->topics ||
        o->ntopics == 0 || !o->pipeline) {
        snprintf(err, errlen, "kafka consumer: brokers, group, topics and pipeline are required");
        return NULL;
    }
    if (o->batch_max < 0 || o->batch_linger_ms < -1 || o->max_in_flight < 0 ||
        o->session_timeout_ms < 0 || o->close_timeout_ms < 0) {
        snprintf(err, errlen, "kafka consumer: limits and timeouts must not be negative");
        return NULL;
    }
    struct cn_kafka_consumer *c = cn_xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    c->wakefd = -1;
    c->group = cn_xstrdup(o->group_id);
    c->pipeline = o->pipeline;
    c->pipeline_arg = o->pipeline_arg;
    c->batch_type = o->batch_type;
    c->revoke_type = o->revoke_type;
    c->batch_max = o->batch_max ? (size_t)o->batch_max : DEF_BATCH;
    c->linger_ns = (uint64_t)(o->batch_linger_ms == -1 ? 0
                              : o->batch_linger_ms     ? o->batch_linger_ms
                                                       : DEF_LINGER) *
                   1000000u;
    c->max_in_flight = o->max_in_flight ? (size_t)o->max_in_flight : DEF_INFLIGHT;
    c->close_timeout_ms = o->close_timeout_ms ? o->close_timeout_ms : DEF_CLOSE;
    const char *strategy = o->assignment_strategy ? o->assignment_strategy : "roundrobin";
    c->cooperative = strcmp(strategy, "cooperative-sticky") == 0;
    char session[16];
    snprintf(session, sizeof session, "%d",
             o->session_timeout_ms ? o->session_timeout_ms : DEF_SESSION);
    char fetch_wait[16];
    snprintf(fetch_wait, sizeof fetch_wait, "%d", o->fetch_wait_ms > 0 ? o->fetch_wait_ms : 10);

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (set(conf, "bootstrap.servers", o->brokers, err, errlen) ||
        set(conf, "group.id", o->group_id, err, errlen) ||
        set(conf, "client.id", o->client_id ? o->client_id : "chat-node", err, errlen) ||
        /* Offsets move only when a pipeline says its effect is done. */
        set(conf, "enable.auto.commit", "false", err, errlen) ||
        set(conf, "enable.auto.offset.store", "false", err, errlen) ||
        set(conf, "auto.offset.reset", "earliest", err, errlen) ||
        set(conf, "partition.assignment.strategy", strategy, err, errlen) ||
        set(conf, "session.timeout.ms", session, err, errlen) ||
        /* A fetch that finds nothing waits this long on the broker. A real broker
         * answers as soon as a record arrives, but librdkafka's mock cluster (the dev
         * broker) sits out the whole wait, which put 0.5-3 s between a SEND and its
         * delivery at 500 ms. So the wait is the caller's (kafka.fetch_wait_ms and
         * kafka.broadcast_fetch_wait_ms, 500 by default, short on the mock-broker
         * stacks): each empty fetch wakes this process, and at 2 ms the broadcast
         * group's alone cost an idle node 7 % of a core (docs/PERFORMANCE.md). */
        set(conf, "fetch.wait.max.ms", fetch_wait, err, errlen) ||
        /* Fetch requests are small writes while others are in flight: Nagle would
         * hold them for the broker's delayed ACK. */
        set(conf, "socket.nagle.disable", "true", err, errlen) ||
        cn_kafka_client_conf_apply(conf, err, errlen)) {
        rd_kafka_conf_destroy(conf);
        free_consumer(c);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_offset_commit_cb(conf, on_commit);
    rd_kafka_conf_set_opaque(conf, c);
    char why[512];
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
    if (!c->rk) {
        snprintf(err, errlen, "kafka consumer: %s", why);
        rd_kafka_conf_destroy(conf);
        free_consumer(c);
        return NULL;
    }
    /* Every event (records, rebalances, commit results) on one queue we serve. */
    rd_kafka_poll_set_consumer(c->rk);
    c->queue = rd_kafka_queue_get_consumer(c->rk);
    c->wakefd = cn_wakefd_new();
    if (c->wakefd < 0) {
        snprintf(err, errlen, "kafka consumer: eventfd: %s", strerror(-c->wakefd));
        free_consumer(c);
        return NULL;
    }
    static const uint64_t one = 1; /* an eventfd takes 8-byte writes */
    rd_kafka_queue_io_event_enable(c->queue, c->wakefd, &one, sizeof one);
    cn_inbox_init(&c->inbox, cn_wakefd_wake, (void *)(intptr_t)c->wakefd);

    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)o->ntopics);
    for (size_t i = 0; i < o->ntopics; i++)
        rd_kafka_topic_partition_list_add(l, o->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        snprintf(err, errlen, "kafka consumer: subscribe: %s", rd_kafka_err2str(e));
        free_consumer(c);
        return NULL;
    }
    int rc = pthread_create(&c->thread, NULL, consumer_main, c);
    if (rc != 0) {
        snprintf(err, errlen, "kafka consumer: cannot start the thread: %s", strerror(rc));
        free_consumer(c);
        return NULL;
    }
    return c;
}

void cn_kafka_consumer_close(struct cn_kafka_consumer *c)
{
    if (!c || c->closed)
        return;
    c->closed = true;
    /* seq_cst store, then seq_cst loads of submitters: pairs with the seq_cst
     * increment then load of `stopping` in submit(). */
    atomic_store_explicit(&c->stopping, true, memory_order_seq_cst);
    while (atomic_load_explicit(&c->submitters, memory_order_seq_cst) != 0)
        sched_yield(); /* a submitter is between its check and its push: a few ns */
    atomic_store_explicit(&c->quit, true, memory_order_release);
    cn_wakefd_wake((void *)(intptr_t)c->wakefd);
    pthread_join(c->thread, NULL);
    /* relaxed: statistics; the join ordered the consumer thread's writes anyway. */
    CN_INFO(MOD,
            "consumer %s: stopped after %" PRIu64 " records in %" PRIu64 " batches, %" PRIu64
            " partition pauses",
            c->group, atomic_load_explicit(&c->records, memory_order_relaxed),
            atomic_load_explicit(&c->batches, memory_order_relaxed),
            atomic_load_explicit(&c->pauses, memory_order_relaxed));
    rd_kafka_queue_io_event_enable(c->queue, -1, NULL, 0);
    /* The thread left the group and emptied the partition list, so the stats no
     * longer read the handle: it can go now, with librdkafka's threads. */
    rd_kafka_queue_destroy(c->queue);
    c->queue = NULL;
    rd_kafka_destroy_flags(c->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    c->rk = NULL;
}

void cn_kafka_consumer_free(struct cn_kafka_consumer *c)
{
    if (!c)
        return;
    cn_kafka_consumer_close(c);
    /* Defensive: the contract says no caller is left, but one that entered submit()
     * just before is on its way out with -ESHUTDOWN: let it leave first. */
    while (atomic_load_explicit(&c->submitters, memory_order_seq_cst) != 0)
        sched_yield();
    free_consumer(c);
}

static int submit(struct cn_kafka_consumer *c, enum ctl_kind kind, const char *topic,
                  int32_t partition, int64_t value)
{
    if (!c || !topic || !*topic || partition < 0 || value < 0)
        return -EINVAL;
    atomic_fetch_add_explicit(&c->submitters, 1, memory_order_seq_cst);
    int rc = 0;
    if (atomic_load_explicit(&c->stopping, memory_order_seq_cst)) {
        rc = -ESHUTDOWN;
    } else {
        size_t tl = strlen(topic) + 1;
        struct ctl *k = cn_xmalloc(sizeof *k + tl);
        cn_msg_init(&k->hdr, kind, NULL);
        k->partition = partition;
        k->value = value;
        memcpy(k->topic, topic, tl);
        cn_inbox_push(&c->inbox, &k->hdr);
    }
    /* release: our push happens-before cn_kafka_consumer_close seeing zero. */
    atomic_fetch_sub_explicit(&c->submitters, 1, memory_order_release);
    return rc;
}

int cn_kafka_consumer_commit(struct cn_kafka_consumer *c, const char *topic, int32_t partition,
                             int64_t next_offset)
{
    return submit(c, CTL_COMMIT, topic, partition, next_offset);
}

int cn_kafka_consumer_done(struct cn_kafka_consumer *c, const char *topic, int32_t partition,
                           size_t nbatches)
{
    return submit(c, CTL_DONE, topic, partition, (int64_t)nbatches);
}

size_t cn_kafka_consumer_stats(struct cn_kafka_consumer *c, struct cn_kafka_consumer_stats *out,
                               struct cn_kafka_partition_stats *parts, size_t cap)
{
    memset(out, 0, sizeof *out);
    out->records = atomic_load_explicit(&c->records, RELAXED);
    out->batches = atomic_load_explicit(&c->batches, RELAXED);
    out->commits = atomic_load_explicit(&c->commits, RELAXED);
    out->commits_dropped = atomic_load_explicit(&c->commits_dropped, RELAXED);
    out->commit_errors = atomic_load_explicit(&c->commit_errors, RELAXED);
    out->pauses = atomic_load_explicit(&c->pauses, RELAXED);
    out->resumes = atomic_load_explicit(&c->resumes, RELAXED);
    out->assigned = atomic_load_explicit(&c->assigned, RELAXED);
    out->revoked = atomic_load_explicit(&c->revoked, RELAXED);
    out->records_dropped = atomic_load_explicit(&c->records_dropped, RELAXED);
    size_t n = 0;
    pthread_mutex_lock(&c->lock);
    for (struct part *p = c->parts; p; p = p->next, n++) {
        if (n >= cap)
            continue;
        struct cn_kafka_partition_stats *s = &parts[n];
        memset(s, 0, sizeof *s);
        snprintf(s->topic, sizeof s->topic, "%s", p->topic);
        s->partition = p->partition;
        s->committed = p->committed;
        int64_t lo = -1, hi = -1;
        /* Cached from the last fetch response: does not block. */
        if (rd_kafka_get_watermark_offsets(c->rk, p->topic, p->partition, &lo, &hi) != 0 || hi < 0)
            hi = -1;
        s->high_watermark = hi;
        s->lag = hi >= 0 && p->committed >= 0 ? hi - p->committed : -1;
        s->in_flight = p->nout;
        s->paused = p->paused;
    }
    pthread_mutex_unlock(&c->lock);
    out->partitions = n;
    return n;
}
