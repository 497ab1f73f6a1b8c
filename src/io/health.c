/* The health checker; see health.h.
 *
 * The verdicts live behind a mutex rather than atomics because a reason string
 * travels with each one; readers (an HTTP request now and then) copy them out. */
#include "health.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/xmalloc.h"
#include "io/config.h"
#include "io/kafka_probe.h"
#include "io/pg_probe.h"
#include "io/redis_probe.h"

struct cn_health {
    struct cn_pg_probe *pg;
    struct cn_redis_probe *redis;
    struct cn_kafka_probe *kafka;
    struct cn_kafka_topic_spec topics[4];
    int interval_ms;

    pthread_mutex_t lock; /* guards snap and stopping */
    pthread_cond_t wake;
    struct cn_health_snapshot snap;
    bool stopping;
    bool started;
    pthread_t thread;
};

static const char *const dep_names[CN_DEP_COUNT] = {"postgres", "redis", "kafka"};

const char *cn_dep_name(enum cn_dep dep)
{
    return dep < CN_DEP_COUNT ? dep_names[dep] : "?";
}

struct cn_health *cn_health_new(const struct cn_config *cfg, char *err, size_t errlen)
{
    /* Each probe may block this long; keep a round well under the interval
     * unless the operator chose a tiny interval. */
    int timeout_ms = 2000;
    struct cn_kafka_probe *kafka = cn_kafka_probe_new(cfg->kafka_brokers, timeout_ms, err, errlen);
    if (!kafka)
        return NULL;
    struct cn_health *h = cn_xcalloc(1, sizeof *h);
    h->kafka = kafka;
    h->pg = cn_pg_probe_new(cfg->postgres_url, timeout_ms);
    h->redis = cn_redis_probe_new(cfg->redis_host, cfg->redis_port, timeout_ms);
    h->topics[0] = (struct cn_kafka_topic_spec){"chat.messages", cfg->kafka_messages_partitions};
    h->topics[1] =
        (struct cn_kafka_topic_spec){"chat.messages.dlt", cfg->kafka_messages_partitions};
    h->topics[2] =
        (struct cn_kafka_topic_spec){"chat.read-receipts", cfg->kafka_read_receipts_partitions};
    h->topics[3] =
        (struct cn_kafka_topic_spec){"chat.read-receipts.dlt", cfg->kafka_read_receipts_partitions};
    h->interval_ms = cfg->health_interval_ms;
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->wake, NULL);
    for (int i = 0; i < CN_DEP_COUNT; i++)
        snprintf(h->snap.reason[i], sizeof h->snap.reason[i], "%s: not checked yet", dep_names[i]);
    return h;
}

int cn_health_probe_now(struct cn_health *h)
{
    char reason[CN_DEP_COUNT][256];
    bool ok[CN_DEP_COUNT];
    ok[CN_DEP_POSTGRES] = cn_pg_probe_check(h->pg, reason[0], sizeof reason[0]) == 0;
    ok[CN_DEP_REDIS] = cn_redis_probe_check(h->redis, reason[1], sizeof reason[1]) == 0;
    ok[CN_DEP_KAFKA] = cn_kafka_probe_check(h->kafka, reason[2], sizeof reason[2]) == 0;

    int failed = 0;
    pthread_mutex_lock(&h->lock);
    for (int i = 0; i < CN_DEP_COUNT; i++) {
        /* Log transitions only: a dependency that stays down must not flood the log. */
        if (ok[i] != h->snap.ok[i] || h->snap.checks == 0) {
            if (ok[i])
                CN_INFO("health", "%s is reachable", dep_names[i]);
            else
                CN_WARN("health", "%s is unreachable: %s", dep_names[i], reason[i]);
        }
        h->snap.ok[i] = ok[i];
        if (ok[i]) {
            h->snap.reason[i][0] = '\0';
        } else {
            memcpy(h->snap.reason[i], reason[i], sizeof reason[i]);
            h->snap.failures[i]++;
            failed++;
        }
    }
    h->snap.checks++;
    pthread_mutex_unlock(&h->lock);
    return failed;
}

int cn_health_ensure_topics(struct cn_health *h, char *err, size_t errlen)
{
    return cn_kafka_probe_ensure_topics(h->kafka, h->topics, 4, err, errlen);
}

static void *run(void *arg)
{
    struct cn_health *h = arg;
    pthread_mutex_lock(&h->lock);
    while (!h->stopping) {
        pthread_mutex_unlock(&h->lock);
        cn_health_probe_now(h);
        pthread_mutex_lock(&h->lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += h->interval_ms / 1000;
        until.tv_nsec += (long)(h->interval_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!h->stopping && pthread_cond_timedwait(&h->wake, &h->lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

int cn_health_start(struct cn_health *h)
{
    int rc = pthread_create(&h->thread, NULL, run, h);
    if (rc != 0)
        return -rc;
    h->started = true;
    return 0;
}

void cn_health_snapshot(struct cn_health *h, struct cn_health_snapshot *out)
{
    pthread_mutex_lock(&h->lock);
    *out = h->snap;
    pthread_mutex_unlock(&h->lock);
}

void cn_health_close(struct cn_health *h)
{
    if (!h || !h->started)
        return;
    pthread_mutex_lock(&h->lock);
    h->stopping = true;
    pthread_cond_signal(&h->wake);
    pthread_mutex_unlock(&h->lock);
    pthread_join(h->thread, NULL);
    h->started = false;
}

void cn_health_free(struct cn_health *h)
{
    if (!h)
        return;
    cn_health_close(h);
    cn_pg_probe_free(h->pg);
    cn_redis_probe_free(h->redis);
    cn_kafka_probe_free(h->kafka);
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->wake);
    free(h);
}
