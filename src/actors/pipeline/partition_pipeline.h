/* The partition pipeline: the one per-partition loop of every consumer group (persist,
 * broadcast, read receipts), written once. A group supplies a step (struct cn_pp_step:
 * how to start a batch's effect and what each reply of it means); the shell does the
 * rest, the same way for every group:
 *
 *   - one actor per assigned partition (the consumer's pipeline factory), holding a
 *     FIFO of the batches the consumer posts, linked through hdr.next;
 *   - ONE batch in flight at a time: the next batch starts only after the current one
 *     is committed, so effects happen and offsets move in Kafka order;
 *   - a retryable failure starts the batch's effect again after a backoff on a runtime
 *     timer (first_ms, times `factor` per retry, capped at max_ms), `retries` times or
 *     for as long as it fails;
 *   - when the retries are used up (or the step calls a failure permanent) the step may
 *     take over (give_up: e.g. record by record), or every record not yet in the DLT is
 *     produced to the group's DLT topic, at the record's own partition, with headers
 *     error, error-stage, origin-topic, origin-partition, origin-offset and attempts; a
 *     refused or failed DLT produce is tried again every second (the partition waits
 *     rather than losing a record);
 *   - once the effect is done and every DLT record of the batch is acknowledged, the
 *     next offset is committed (cn_kafka_consumer_commit) and the next batch starts;
 *   - a revoke stops the actor: queued batches are dropped uncommitted (the next owner
 *     gets them again: every step must be idempotent), and replies that still arrive
 *     are refused by the runtime;
 *   - an adapter that is closed (-ESHUTDOWN, the pool's STOPPING reply) makes the step
 *     answer CN_PP_STOP: the batch and the queue are dropped, neither committed nor sent
 *     to the DLT, and the actor stops, so everything is redelivered after a restart.
 *
 * Shutdown, in two steps like the adapters': cn_pp_group_close closes the consumer
 * (it revokes every partition; later commits are refused), cn_pp_group_free frees it
 * once the runtime has stopped. An actor may call an adapter or commit at any time in
 * between (closed adapters refuse or fail every call), so there is no gate here.
 *
 * Memory: the group holds one reference for its owner and one per partition actor; the
 * last one frees the group and, through owner_free, the owner (which actors read until
 * their last turn). */
#ifndef CN_ACTORS_PIPELINE_PARTITION_PIPELINE_H
#define CN_ACTORS_PIPELINE_PARTITION_PIPELINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actors/runtime/runtime.h"
#include "io/kafka_consumer.h"
#include "io/kafka_producer.h"

struct cn_pp;       /* one partition: the actor's state */
struct cn_pp_group; /* one consumer group */

/* What the step says after starting an attempt or handling one of its messages. */
enum cn_pp_verdict {
    CN_PP_PENDING, /* the effect goes on: more of the step's messages will come */
    CN_PP_DONE,    /* the effect is complete: commit once the DLT records are acknowledged */
    CN_PP_RETRY,   /* failed, may work later (cn_pp_error says why): again after a backoff */
    CN_PP_FAIL,    /* failed for good: give_up, or the DLT for the records not yet in it */
    CN_PP_STOP,    /* an adapter is closed: drop everything uncommitted and stop */
};

/* hdr.type of the step's own messages (its adapters' replies) starts here; the shell's
 * messages are below. */
#define CN_PP_MSG_STEP 100

/* A consumer group's part of the loop. Every function runs on the partition's actor,
 * never concurrently for one partition. `st` is the step's per-partition state:
 * state_size bytes, zeroed at the assignment, kept until the actor ends. */
struct cn_pp_step {
    const char *name;      /* log subsystem ("persist") */
    const char *dlt_stage; /* error-stage header of records given up ("insert"); NULL "effect" */
    size_t state_size;
    /* Starts attempt `attempt` of batch `b` (borrowed until `end`): 0 the first (decode,
     * count, send to the DLT what cannot be done), then one per retry. Requests carry
     * cn_pp_tag(pp) and reply to cn_pp_self(pp) with a type >= CN_PP_MSG_STEP. Required. */
    enum cn_pp_verdict (*start)(struct cn_pp *pp, void *st, const struct cn_kafka_batch *b,
                                int attempt);
    /* One of the step's messages (borrowed: the shell frees it), while a batch is in
     * progress; a reply whose tag is not current (cn_pp_current) is stale: answer
     * CN_PP_PENDING. Required. */
    enum cn_pp_verdict (*on_msg)(struct cn_pp *pp, void *st, cn_msg *m);
    /* Optional: the retries are used up, or the step said CN_PP_FAIL; called once per
     * batch. CN_PP_PENDING or CN_PP_DONE takes over the batch; CN_PP_FAIL (also when NULL)
     * sends every record not yet in the DLT there with cn_pp_error's text. */
    enum cn_pp_verdict (*give_up)(struct cn_pp *pp, void *st);
    /* Optional: the current batch is over (committed, dropped, or the actor ends): free
     * what start kept for it. */
    void (*end)(struct cn_pp *pp, void *st);
};

/* Retries of a batch's effect. */
struct cn_pp_retry {
    int retries;  /* attempts after the first; -1 = for as long as it fails */
    int first_ms; /* wait before the first retry */
    int factor;   /* each later wait is `factor` times the one before (>= 1) */
    int max_ms;   /* the longest wait; 0 = no cap */
};

/* Counters the shell adds to (relaxed: statistics, nothing synchronises on them);
 * NULL = not counted. Borrowed: they outlive the group (they live in its owner). */
struct cn_pp_counters {
    atomic_uint_fast64_t *batches;      /* batches ended by a commit request */
    atomic_uint_fast64_t *retries;      /* attempts after the first (counted as they begin) */
    atomic_uint_fast64_t *dlt_records;  /* DLT records acknowledged */
    atomic_uint_fast64_t *dlt_failures; /* DLT produce attempts refused or failed */
    atomic_uint_fast64_t *partitions;   /* a gauge: partition actors alive */
};

struct cn_pp_group_opts {
    cn_runtime *rt;                /* borrowed; outlives the group's actors */
    const struct cn_pp_step *step; /* borrowed; static */
    /* Handed to the step (cn_pp_owner); the group frees it with owner_free (may be
     * NULL) once the owner's reference and every actor's are dropped. */
    void *owner;
    void (*owner_free)(void *owner);
    /* The consumer's options (strings borrowed for cn_pp_group_start only); the shell
     * sets pipeline, pipeline_arg, batch_type and revoke_type. */
    struct cn_kafka_consumer_opts consumer;
    struct cn_kafka_producer *dlt; /* borrowed; NULL: no DLT (given-up records are skipped) */
    const char *dlt_topic;         /* borrowed; lives as long as the owner */
    struct cn_pp_retry retry;
    struct cn_pp_counters counters;
};

/* Starts the consumer with the shell as its pipeline. Returns the group, or NULL with a
 * one-line reason in `err` (then the owner is the caller's again, not freed). Owner
 * thread. The caller closes it with cn_pp_group_close and frees it with
 * cn_pp_group_free. */
struct cn_pp_group *cn_pp_group_start(const struct cn_pp_group_opts *o, char *err, size_t errlen);

/* Stops the consumer: it leaves the group and revokes every partition (each actor drops
 * its queue and stops); a commit that comes later is refused (-ESHUTDOWN). Actors may
 * still call adapters until their revoke is handled: close the adapters (not free)
 * after this, free them after the runtime stopped. Owner thread; idempotent; NULL is a
 * no-op. Cannot fail. */
void cn_pp_group_close(struct cn_pp_group *g);

/* Frees the consumer and drops the owner's reference: the group and its owner are freed
 * once the actors are finalised too. After the runtime has shut down (an unclosed group
 * is closed first, which is right only while the runtime runs). No thread may use `g`
 * afterwards. Owner thread; NULL is a no-op. Cannot fail. */
void cn_pp_group_free(struct cn_pp_group *g);

/* The consumer's counters and up to `cap` partitions (cn_kafka_consumer_stats). Returns
 * false, and fills nothing, once the group is closed. *nparts gets the number of
 * assigned partitions (may exceed cap). Any thread until cn_pp_group_free. */
bool cn_pp_group_consumer_stats(struct cn_pp_group *g, struct cn_kafka_consumer_stats *out,
                                struct cn_kafka_partition_stats *parts, size_t cap, size_t *nparts);

/* The consumer group's id (as given in the options). Any thread until
 * cn_pp_group_free. */
const char *cn_pp_group_id(const struct cn_pp_group *g);

/* ---- for steps: the partition they run on ---------------------------------------- */

/* The group's owner, the actor (for reply_to), and the partition. Cannot fail. */
void *cn_pp_owner(const struct cn_pp *pp);
cn_actor *cn_pp_self(const struct cn_pp *pp);
const char *cn_pp_topic(const struct cn_pp *pp);
int32_t cn_pp_partition(const struct cn_pp *pp);

/* The batch in progress (NULL: none). Borrowed. */
const struct cn_kafka_batch *cn_pp_batch(const struct cn_pp *pp);

/* The tag of the current attempt's requests, and whether a reply's tag is it. */
uint64_t cn_pp_tag(const struct cn_pp *pp);
bool cn_pp_current(const struct cn_pp *pp, uint64_t tag);

/* Attempts begun for the current batch (1 during the first). */
int cn_pp_attempts(const struct cn_pp *pp);

/* How long the shell would wait before the next attempt if the step answered
 * CN_PP_RETRY now, in ms; -1 when no retry is left (then it gives up). For log lines. */
int64_t cn_pp_retry_ms(const struct cn_pp *pp);

/* Sets the text of the current failure (printf-style, cut at 271 bytes): the DLT's error
 * header and the step's log lines. cn_pp_error_text reads it ("" when none). */
void cn_pp_error(struct cn_pp *pp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *cn_pp_error_text(const struct cn_pp *pp);

/* Sends record `i` of the current batch to the DLT now, with `error` (copied), `stage`
 * (static) and `attempts` as headers; the commit waits for its acknowledgement. A record
 * is sent once per batch (a second call is a no-op); without a DLT the record is skipped
 * (logged). A closed producer makes the shell stop as for CN_PP_STOP once the step
 * returns. Cannot fail. */
void cn_pp_dlt(struct cn_pp *pp, size_t i, const char *error, const char *stage, int attempts);

/* Whether record `i` of the current batch was handed to cn_pp_dlt. */
bool cn_pp_in_dlt(const struct cn_pp *pp, size_t i);

#endif
