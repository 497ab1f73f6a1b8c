/* Kafka reachability probe and topic check; see kafka_probe.h.
 *
 * Metadata is always requested for all topics: asking for one named topic would
 * make a broker with auto-creation on (the dev mock cluster, many real ones)
 * create it with its default partition count, silently breaking the
 * room -> partition mapping. */
#include "kafka_probe.h"
#include "io/kafka_client_conf.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/xmalloc.h"

struct cn_kafka_probe {
    rd_kafka_t *rk;
    int timeout_ms;
};

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    /* Every librdkafka line is debug for us, whatever its syslog level: an
     * unreachable cluster otherwise repeats once per broker per second, and the
     * health checker already reports it once, with the reason, on each change. */
    (void)level;
    cn_log(CN_LOG_DEBUG, "kafka", "%s: %s", fac, buf);
}

struct cn_kafka_probe *cn_kafka_probe_new(const char *brokers, int timeout_ms, char *err,
                                          size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, errlen) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "client.id", "chat-node-probe", err, errlen) != RD_KAFKA_CONF_OK ||
        cn_kafka_client_conf_apply(conf, err, errlen) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    struct cn_kafka_probe *p = cn_xcalloc(1, sizeof *p);
    p->rk = rk;
    p->timeout_ms = timeout_ms;
    return p;
}

static int fetch(struct cn_kafka_probe *p, const struct rd_kafka_metadata **md, char *err,
                 size_t errlen)
{
    rd_kafka_resp_err_t e = rd_kafka_metadata(p->rk, 1, NULL, md, p->timeout_ms);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "kafka: metadata request failed: %s", rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

int cn_kafka_probe_check(struct cn_kafka_probe *p, char *err, size_t errlen)
{
    const struct rd_kafka_metadata *md;
    if (fetch(p, &md, err, errlen) != 0)
        return -1;
    int brokers = md->broker_cnt;
    rd_kafka_metadata_destroy(md);
    if (brokers == 0) {
        snprintf(err, errlen, "kafka: metadata lists no brokers");
        return -1;
    }
    return 0;
}

/* Returns the partition count of `name`, 0 when absent, -1 when metadata fails. */
static int partitions_of(struct cn_kafka_probe *p, const char *name, char *err, size_t errlen)
{
    const struct rd_kafka_metadata *md;
    if (fetch(p, &md, err, errlen) != 0)
        return -1;
    int count = 0;
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, name) == 0 && md->topics[i].err == 0)
            count = md->topics[i].partition_cnt;
    rd_kafka_metadata_destroy(md);
    return count;
}

static int create_topic(struct cn_kafka_probe *p, const struct cn_kafka_topic_spec *t, char *err,
                        size_t errlen)
{
    char cerr[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(t->name, t->partitions, -1, cerr, sizeof cerr);
    if (!nt) {
        snprintf(err, errlen, "kafka: topic %s: %s", t->name, cerr);
        return -1;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(p->rk);
    rd_kafka_AdminOptions_t *opts =
        rd_kafka_AdminOptions_new(p->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(opts, p->timeout_ms, cerr, sizeof cerr);
    rd_kafka_CreateTopics(p->rk, &nt, 1, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, p->timeout_ms + 1000);
    int rc = -1;
    if (!ev) {
        snprintf(err, errlen, "kafka: creating topic %s timed out", t->name);
    } else if (rd_kafka_event_error(ev)) {
        snprintf(err, errlen, "kafka: creating topic %s: %s", t->name,
                 rd_kafka_event_error_string(ev));
    } else {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t cnt;
        const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &cnt);
        rd_kafka_resp_err_t e =
            cnt ? rd_kafka_topic_result_error(tr[0]) : RD_KAFKA_RESP_ERR_NO_ERROR;
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            snprintf(err, errlen, "kafka: creating topic %s: %s", t->name,
                     rd_kafka_topic_result_error_string(tr[0]));
        else
            rc = 0;
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

int cn_kafka_probe_ensure_topics(struct cn_kafka_probe *p, const struct cn_kafka_topic_spec *topics,
                                 size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        int have = partitions_of(p, topics[i].name, err, errlen);
        if (have < 0)
            return -1;
        if (have == 0) {
            CN_INFO("kafka", "topic %s missing: creating it with %d partitions", topics[i].name,
                    topics[i].partitions);
            if (create_topic(p, &topics[i], err, errlen) != 0)
                return -1;
            have = partitions_of(p, topics[i].name, err, errlen);
            if (have < 0)
                return -1;
        }
        if (have != topics[i].partitions) {
            snprintf(err, errlen,
                     "kafka: topic %s has %d partitions but this node needs %d; refusing to start "
                     "(the room -> partition mapping depends on it)",
                     topics[i].name, have, topics[i].partitions);
            return -1;
        }
    }
    return 0;
}

void cn_kafka_probe_free(struct cn_kafka_probe *p)
{
    if (!p)
        return;
    rd_kafka_destroy(p->rk);
    free(p);
}
