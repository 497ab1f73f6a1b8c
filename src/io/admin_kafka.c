/* Consumer lag and the DLT commands of the admin socket; see admin_kafka.h. */
#include "io/admin_kafka.h"
#include "io/kafka_client_conf.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "proto/event_json.h"

#define TIMEOUT_MS 5000

/* The node's consumer groups and what they read (persist.c, broadcast_pipeline.c,
 * read_receipts.h). */
static const struct {
    const char *group, *topic;
} groups[] = {
    {"chat-persistence", "chat.messages"},
    {"chat-broadcast", "chat.messages"},
    {"chat-read-receipt", "chat.read-receipts"},
};

static const char *const dlt_topics[] = {"chat.messages.dlt", "chat.read-receipts.dlt"};

/* A consumer handle that never joins its group and never commits: only for
 * OffsetFetch (as `group`), watermarks, metadata and assigned fetches. */
static rd_kafka_t *handle(const char *brokers, const char *group, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char why[256], gid[64];
    if (!group) {
        snprintf(gid, sizeof gid, "chat-admin-%d", (int)getpid());
        group = gid;
    }
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, why, sizeof why) ||
        rd_kafka_conf_set(conf, "group.id", group, why, sizeof why) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", why, sizeof why) ||
        rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", why, sizeof why) ||
        rd_kafka_conf_set(conf, "client.id", "chat-node-admin", why, sizeof why) ||
        rd_kafka_conf_set(conf, "log_level", "3", why, sizeof why)) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "kafka config: %s", why);
        return NULL;
    }
    if (cn_kafka_client_conf_apply(conf, err, errlen) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
    if (!rk) {
        snprintf(err, errlen, "kafka: %s", why);
        return NULL;
    }
    return rk;
}

static int partitions_of(rd_kafka_t *rk, const char *topic, char *err, size_t errlen)
{
    const struct rd_kafka_metadata *md;
    /* All topics: naming one would make an auto-creating broker create it. */
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, TIMEOUT_MS);
    if (e) {
        snprintf(err, errlen, "kafka metadata: %s", rd_kafka_err2str(e));
        return -1;
    }
    int n = -1;
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, topic) == 0 && !md->topics[i].err)
            n = md->topics[i].partition_cnt;
    rd_kafka_metadata_destroy(md);
    if (n < 0)
        snprintf(err, errlen, "kafka: topic %s not found", topic);
    return n;
}

json_t *cn_admin_kafka_lag(const char *brokers, char *err, size_t errlen)
{
    json_t *out = json_array();
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        rd_kafka_t *rk = handle(brokers, groups[g].group, err, errlen);
        if (!rk)
            goto fail;
        int np = partitions_of(rk, groups[g].topic, err, errlen);
        if (np < 0) {
            rd_kafka_destroy(rk);
            goto fail;
        }
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(np);
        for (int p = 0; p < np; p++)
            rd_kafka_topic_partition_list_add(l, groups[g].topic, p);
        rd_kafka_resp_err_t e = rd_kafka_committed(rk, l, TIMEOUT_MS);
        if (e) {
            snprintf(err, errlen, "kafka committed offsets of %s: %s", groups[g].group,
                     rd_kafka_err2str(e));
            rd_kafka_topic_partition_list_destroy(l);
            rd_kafka_destroy(rk);
            goto fail;
        }
        json_t *parts = json_array();
        int64_t total = 0;
        for (int i = 0; i < l->cnt; i++) {
            int64_t lo = 0, hi = 0;
            e = rd_kafka_query_watermark_offsets(rk, groups[g].topic, l->elems[i].partition, &lo,
                                                 &hi, TIMEOUT_MS);
            if (e) {
                snprintf(err, errlen, "kafka end offset of %s[%d]: %s", groups[g].topic,
                         l->elems[i].partition, rd_kafka_err2str(e));
                json_decref(parts);
                rd_kafka_topic_partition_list_destroy(l);
                rd_kafka_destroy(rk);
                goto fail;
            }
            int64_t c = l->elems[i].offset;
            /* Nothing committed yet: the group starts at the earliest record. */
            int64_t lag = c >= 0 ? hi - c : hi - lo;
            if (lag < 0)
                lag = 0;
            total += lag;
            json_array_append_new(parts,
                                  json_pack("{s:i,s:o,s:I,s:I}", "partition", l->elems[i].partition,
                                            "committed", c >= 0 ? json_integer(c) : json_null(),
                                            "end", (json_int_t)hi, "lag", (json_int_t)lag));
        }
        json_array_append_new(out, json_pack("{s:s,s:s,s:I,s:o}", "group", groups[g].group, "topic",
                                             groups[g].topic, "lag", (json_int_t)total,
                                             "partitions", parts));
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_destroy(rk);
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

/* ---------------------------------------------------------------- DLT */

struct dlt_query {
    const char *topic;
    int64_t since_ms; /* records with a timestamp at or after this; 0: all */
    int only_partition;
    int64_t only_offset; /* show: the one record; -1: all */
    size_t limit;
};

static const char *header(const rd_kafka_message_t *m, const char *name, char *buf, size_t len)
{
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t n;
    if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, name, &v, &n))
        return NULL;
    if (n >= len)
        n = len - 1;
    memcpy(buf, v, n);
    buf[n] = '\0';
    return buf;
}

static json_t *record_json(const rd_kafka_message_t *m, bool with_value)
{
    rd_kafka_timestamp_type_t tt;
    int64_t ts = rd_kafka_message_timestamp(m, &tt);
    char b[6][320];
    const char *names[] = {"error",         "error-stage", "origin-topic", "origin-partition",
                           "origin-offset", "attempts"};
    json_t *r = json_pack("{s:i,s:I,s:I,s:s#}", "partition", m->partition, "offset",
                          (json_int_t)m->offset, "timestamp_ms", (json_int_t)ts, "key",
                          m->key ? (const char *)m->key : "", m->key ? (int)m->key_len : 0);
    for (int i = 0; i < 6; i++) {
        const char *v = header(m, names[i], b[i], sizeof b[i]);
        json_object_set_new(r, names[i], v ? json_string(v) : json_null());
    }
    json_object_set_new(r, "value_bytes", json_integer((json_int_t)m->len));
    if (with_value) {
        /* msgpack: shown as hex, which any operator tool can turn back into bytes. */
        char *hex = cn_xmalloc(m->len * 2 + 1);
        for (size_t i = 0; i < m->len; i++)
            snprintf(hex + 2 * i, 3, "%02x", ((const unsigned char *)m->payload)[i]);
        json_object_set_new(r, "value_hex", json_string(hex));
        free(hex);
        /* And decoded, when it is an event at all: a dead letter that decodes failed
         * later (an insert, an apply) and its fields say which message it was. */
        const char *why = NULL;
        json_t *ev = cn_event_json(m->payload, m->len, &why);
        json_object_set_new(r, "event", ev ? ev : json_null());
        if (!ev)
            json_object_set_new(r, "event_error", json_string(why));
    }
    return r;
}

/* Fetches the DLT records the query selects and calls fn on each (in partition
 * order, offset order within one). Returns the number seen, or -1 with err. */
typedef int (*record_fn)(void *ctx, const rd_kafka_message_t *m);

static long scan(const char *brokers, const struct dlt_query *q, record_fn fn, void *ctx,
                 bool *truncated, char *err, size_t errlen)
{
    rd_kafka_t *rk = handle(brokers, NULL, err, errlen);
    if (!rk)
        return -1;
    int np = partitions_of(rk, q->topic, err, errlen);
    if (np < 0) {
        rd_kafka_destroy(rk);
        return -1;
    }
    long seen = 0;
    *truncated = false;
    for (int p = 0; p < np; p++) {
        if (q->only_partition >= 0 && p != q->only_partition)
            continue;
        int64_t lo, hi;
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(rk, q->topic, p, &lo, &hi, TIMEOUT_MS);
        if (e) {
            snprintf(err, errlen, "kafka watermarks of %s[%d]: %s", q->topic, p,
                     rd_kafka_err2str(e));
            seen = -1;
            break;
        }
        int64_t from = lo;
        if (q->only_offset >= 0) {
            if (q->only_offset < lo || q->only_offset >= hi)
                continue;
            from = q->only_offset;
            hi = q->only_offset + 1;
        }
        if (from >= hi)
            continue;
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, q->topic, p)->offset = from;
        rd_kafka_assign(rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        uint64_t deadline = cn_now_ms() + TIMEOUT_MS;
        int64_t next = from;
        while (next < hi && cn_now_ms() < deadline) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
            if (!m)
                continue;
            if (m->err) {
                rd_kafka_message_destroy(m);
                continue;
            }
            next = m->offset + 1;
            rd_kafka_timestamp_type_t tt;
            if (m->partition == p && rd_kafka_message_timestamp(m, &tt) >= q->since_ms) {
                if (q->limit && (size_t)seen >= q->limit) {
                    *truncated = true;
                    rd_kafka_message_destroy(m);
                    break;
                }
                int rc = fn(ctx, m);
                seen++;
                if (rc != 0) {
                    snprintf(err, errlen, "replay of %s[%d]@%" PRId64 " failed", q->topic, p,
                             m->offset);
                    rd_kafka_message_destroy(m);
                    rd_kafka_assign(rk, NULL);
                    rd_kafka_destroy(rk);
                    return -1;
                }
            }
            rd_kafka_message_destroy(m);
        }
        rd_kafka_assign(rk, NULL);
        if (next < hi && !*truncated) {
            snprintf(err, errlen, "kafka: fetching %s[%d] timed out at offset %" PRId64, q->topic,
                     p, next);
            seen = -1;
            break;
        }
        if (*truncated)
            break;
    }
    rd_kafka_destroy(rk);
    return seen;
}

static int collect(void *ctx, const rd_kafka_message_t *m)
{
    json_array_append_new(ctx, record_json(m, false));
    return 0;
}

static int collect_full(void *ctx, const rd_kafka_message_t *m)
{
    json_array_append_new(ctx, record_json(m, true));
    return 0;
}

/* The replay: each record back to its origin topic and partition, same key and
 * value, acks=all and idempotent; the consumers' idempotency makes a record replayed
 * twice harmless (chat.messages: one row per room, sender and messageKey;
 * chat.read-receipts: a read position only moves forward). */
struct replay {
    rd_kafka_t *producer;
    long produced;
    int failed;
};

static void on_report(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    struct replay *r = m->_private;
    if (m->err)
        r->failed++;
}

static int replay_one(void *ctx, const rd_kafka_message_t *m)
{
    struct replay *r = ctx;
    char topic[256], part[32];
    if (!header(m, "origin-topic", topic, sizeof topic) ||
        !header(m, "origin-partition", part, sizeof part)) {
        CN_WARN("admin", "DLT record %d@%" PRId64 " has no origin headers: not replayed",
                m->partition, m->offset);
        return 0;
    }
    rd_kafka_resp_err_t e = rd_kafka_producev(
        r->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(atoi(part)),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(m->key, m->key_len),
        RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_OPAQUE(r), RD_KAFKA_V_END);
    if (e) {
        CN_WARN("admin", "replay to %s: %s", topic, rd_kafka_err2str(e));
        return -1;
    }
    r->produced++;
    rd_kafka_poll(r->producer, 0);
    return 0;
}

static json_t *dlt_replay(const char *brokers, const struct dlt_query *q, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char why[256];
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, why, sizeof why) ||
        rd_kafka_conf_set(conf, "enable.idempotence", "true", why, sizeof why) ||
        rd_kafka_conf_set(conf, "acks", "all", why, sizeof why) ||
        rd_kafka_conf_set(conf, "client.id", "chat-node-admin-replay", why, sizeof why)) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "kafka config: %s", why);
        return NULL;
    }
    if (cn_kafka_client_conf_apply(conf, err, errlen) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_report);
    struct replay r = {0};
    r.producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!r.producer) {
        snprintf(err, errlen, "kafka: %s", why);
        return NULL;
    }
    bool truncated;
    long seen = scan(brokers, q, replay_one, &r, &truncated, err, errlen);
    rd_kafka_resp_err_t e = rd_kafka_flush(r.producer, 10000);
    rd_kafka_destroy(r.producer);
    if (seen < 0)
        return NULL;
    if (e || r.failed) {
        snprintf(err, errlen, "kafka: %d of %ld replayed records were not acknowledged%s", r.failed,
                 r.produced, e ? " (flush timed out)" : "");
        return NULL;
    }
    CN_INFO("admin", "replayed %ld records of %s to their origin topics", r.produced, q->topic);
    return json_pack("{s:s,s:I,s:I}", "topic", q->topic, "records", (json_int_t)seen, "replayed",
                     (json_int_t)r.produced);
}

json_t *cn_admin_kafka_dlt(const char *brokers, json_t *req, char *err, size_t errlen)
{
    const char *action = json_string_value(json_object_get(req, "action"));
    struct dlt_query q = {
        .topic = dlt_topics[0], .only_partition = -1, .only_offset = -1, .limit = 100};
    json_t *v;
    if ((v = json_object_get(req, "topic"))) {
        q.topic = NULL;
        for (size_t i = 0; i < sizeof dlt_topics / sizeof dlt_topics[0]; i++)
            if (json_is_string(v) && strcmp(json_string_value(v), dlt_topics[i]) == 0)
                q.topic = dlt_topics[i];
        if (!q.topic) {
            snprintf(err, errlen, "!topic must be chat.messages.dlt or chat.read-receipts.dlt");
            return NULL;
        }
    }
    if ((v = json_object_get(req, "since_ms"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            snprintf(err, errlen, "!since_ms must be a time in milliseconds since the epoch");
            return NULL;
        }
        q.since_ms = json_integer_value(v);
    }
    if ((v = json_object_get(req, "limit"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 1) {
            snprintf(err, errlen, "!limit must be a positive integer");
            return NULL;
        }
        q.limit = (size_t)json_integer_value(v);
    }
    bool truncated = false;
    if (action && strcmp(action, "list") == 0) {
        json_t *recs = json_array();
        long n = scan(brokers, &q, collect, recs, &truncated, err, errlen);
        if (n < 0) {
            json_decref(recs);
            return NULL;
        }
        return json_pack("{s:s,s:o,s:b}", "topic", q.topic, "records", recs, "truncated",
                         truncated);
    }
    if (action && strcmp(action, "show") == 0) {
        json_t *p = json_object_get(req, "partition"), *o = json_object_get(req, "offset");
        if (!json_is_integer(p) || !json_is_integer(o) || json_integer_value(p) < 0 ||
            json_integer_value(o) < 0) {
            snprintf(err, errlen, "!show needs a record as PARTITION:OFFSET");
            return NULL;
        }
        q.only_partition = (int)json_integer_value(p);
        q.only_offset = json_integer_value(o);
        json_t *recs = json_array();
        long n = scan(brokers, &q, collect_full, recs, &truncated, err, errlen);
        if (n <= 0) {
            json_decref(recs);
            if (n == 0)
                snprintf(err, errlen, "!no record %d:%" PRId64 " in %s", q.only_partition,
                         q.only_offset, q.topic);
            return NULL;
        }
        json_t *r = json_incref(json_array_get(recs, 0));
        json_decref(recs);
        return r;
    }
    if (action && strcmp(action, "replay") == 0) {
        q.limit = 0;
        return dlt_replay(brokers, &q, err, errlen);
    }
    snprintf(err, errlen, "!dlt needs list, show or replay");
    return NULL;
}
