/* The health checker: a thread that probes PostgreSQL, Redis and Kafka every
 * health.interval_ms and publishes the verdicts for /healthz and /metrics.
 * Probes block, so they never run on an I/O thread or an actor worker.
 *
 * Memory: the checker owns its probes and its thread; cn_health_close joins the
 * thread, cn_health_free frees everything. cn_health_snapshot may be called from any
 * thread until cn_health_free. */
#ifndef CN_IO_HEALTH_H
#define CN_IO_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cn_config;
struct cn_health;

enum cn_dep { CN_DEP_POSTGRES = 0, CN_DEP_REDIS, CN_DEP_KAFKA, CN_DEP_COUNT };

struct cn_health_snapshot {
    bool ok[CN_DEP_COUNT];
    char reason[CN_DEP_COUNT][256]; /* empty when ok */
    uint64_t checks;                /* completed probe rounds */
    uint64_t failures[CN_DEP_COUNT];
};

/* The name used in /healthz and metrics: "postgres", "redis", "kafka". */
const char *cn_dep_name(enum cn_dep dep);

/* Creates the probes (borrows cfg for the call). Does not start the thread.
 * Returns NULL with a reason in err when the configuration is unusable. */
struct cn_health *cn_health_new(const struct cn_config *cfg, char *err, size_t errlen);

/* Runs one probe round now on the calling thread; returns the number of
 * dependencies that failed. Used at start-up before the thread exists. */
int cn_health_probe_now(struct cn_health *h);

/* Creates or verifies the Kafka topics with the configured partition counts. */
int cn_health_ensure_topics(struct cn_health *h, char *err, size_t errlen);

/* Starts the periodic thread. Returns 0 or -errno. */
int cn_health_start(struct cn_health *h);

/* Copies the latest verdicts. Any thread. */
void cn_health_snapshot(struct cn_health *h, struct cn_health_snapshot *out);

/* cn_health_close: stops and joins the thread (if started); no probe runs after it,
 * and cn_health_snapshot keeps answering with the last verdicts. cn_health_free:
 * frees everything (closing first if that has not been done), once no thread reads
 * the checker any more. Owner thread; idempotent; NULL is a no-op. Cannot fail. */
void cn_health_close(struct cn_health *h);
void cn_health_free(struct cn_health *h);

#endif
