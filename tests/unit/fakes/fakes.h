/* Fake adapters for the chat actors' unit tests: small stand-ins of our own for the
 * PostgreSQL pool, the Redis client and the Kafka producer of src/io. They define the
 * same functions (cn_pg_pool_query, cn_redis_command, cn_kafka_produce, ...) and are
 * linked into a test instead of the real ones, so an actor under test runs on the real
 * runtime against them: every call is recorded, and the test answers it (rows, a Redis
 * value, a delivery report) or lets a whole kind refuse calls with an error code.
 *
 * The adapter handles the actors are given can be any non-NULL pointer
 * (FAKE_PG, FAKE_REDIS, FAKE_PRODUCER): the fakes never look at them.
 *
 * Threads: calls arrive on workers; the test thread takes them with fake_next, which
 * waits on a condition with a deadline. Memory: a call returned by fake_next is the
 * test's; an answer takes it (and drops the actor reference it held); fake_call_free
 * frees one that is not answered. */
#ifndef CN_TESTS_UNIT_FAKES_H
#define CN_TESTS_UNIT_FAKES_H

#include <stddef.h>
#include <stdint.h>

#include "actors/runtime/runtime.h"

#define FAKE_PG       ((struct cn_pg_pool *)&fake_handle)
#define FAKE_REDIS    ((struct cn_redis *)&fake_handle)
#define FAKE_PRODUCER ((struct cn_kafka_producer *)&fake_handle)
extern int fake_handle;

enum fake_kind { FAKE_KIND_PG, FAKE_KIND_REDIS, FAKE_KIND_KAFKA, FAKE_KIND_SUB, FAKE_KINDS };

struct fake_call {
    struct fake_call *next;
    enum fake_kind kind;
    cn_actor *reply_to; /* one reference while unanswered; NULL for fire and forget */
    uint32_t msg_type;
    uint64_t tag;
    /* PostgreSQL: the statement and its text parameters (NULL entries are SQL NULL). */
    char *sql;
    int nparams;
    char **params;
    /* Redis: the command; for FAKE_KIND_SUB, argv[0] is "SUBSCRIBE" or "UNSUBSCRIBE"
     * and argv[1] the channel. */
    int argc;
    char **argv;
    size_t *argvlen;
    /* Kafka: the record and its headers (names and values NUL-terminated copies). */
    char *topic;
    int32_t partition;
    char *key;
    size_t keylen;
    char *value;
    size_t len;
    size_t nheaders;
    char **hname, **hvalue;
};

/* Forgets every recorded call and refusal (between tests; no actor may be calling).
 * Drops the actor references the calls held. */
void fake_reset(void);

/* Takes the oldest unanswered call of `kind`, waiting up to timeout_ms for one.
 * NULL when none came in time. */
struct fake_call *fake_next(enum fake_kind kind, int timeout_ms);

/* How many calls of `kind` wait to be taken right now. */
size_t fake_pending(enum fake_kind kind);

/* From now on calls of `kind` are refused with rc (a negative errno) and not
 * recorded; 0 accepts them again. */
void fake_refuse(enum fake_kind kind, int rc);

/* Frees a call without answering it (its actor reference is dropped). NULL: no-op. */
void fake_call_free(struct fake_call *c);

/* Answers a PostgreSQL call with rows (see cn_pg_rows_make) or with an error. */
void fake_pg_rows(struct fake_call *c, int ncols, const char *const *names, int nrows,
                  const char *const *values);
void fake_pg_error(struct fake_call *c, const char *sqlstate, const char *message);

/* Answers a Redis call with a value written in RESP ("+OK\r\n", ":1\r\n", ...); an
 * error value ("-ERR ...") answers ok = 0 as the real client does. fake_redis_down
 * answers ok = 0 with no value (Redis unreachable). */
void fake_redis_answer(struct fake_call *c, const char *resp);
void fake_redis_down(struct fake_call *c, const char *error);

/* Sends `actor` a published message (or a SUBSCRIBED/RESUBSCRIBED notice, kind from
 * enum cn_redis_pubsub_kind) as the real client's subscriber connection would. */
void fake_redis_publish(cn_actor *actor, uint32_t msg_type, int kind, const char *channel,
                        const char *payload, size_t payload_len);

/* Whether cn_redis_is_up answers true (default true). */
void fake_redis_set_up(int up);

/* The value of the last header called `name` of a Kafka call, NULL when none (or a
 * null value). Borrowed from the call. */
const char *fake_kafka_header(const struct fake_call *c, const char *name);

/* Answers a Kafka call: acknowledged at `offset`, or failed with `error`. */
void fake_kafka_ack(struct fake_call *c, int32_t partition, int64_t offset);
void fake_kafka_fail(struct fake_call *c, const char *error);

#endif
