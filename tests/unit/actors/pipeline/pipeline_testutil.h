/* Helpers of the pipelines' unit tests: a runtime with fresh fakes, deadlines, records
 * built with the event codec, and batches sent through the fake consumer. */
#ifndef CN_TESTS_UNIT_ACTORS_PIPELINE_TESTUTIL_H
#define CN_TESTS_UNIT_ACTORS_PIPELINE_TESTUTIL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actors/runtime/runtime.h"
#include "check.h"
#include "fake_consumer.h"
#include "fakes.h"
#include "proto/event_codec.h"

#define TU_WAIT_MS 5000

/* A started runtime of two workers, with every fake call and commit forgotten. */
static inline cn_runtime *tu_runtime(void)
{
    fake_reset();
    fake_consumer_reset();
    cn_runtime *rt = cn_runtime_new(&(cn_runtime_config){.workers = 2});
    CHECK_EQ(cn_runtime_start(rt), 0);
    return rt;
}

static inline int64_t tu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until the counter reads `n`, at most TU_WAIT_MS. */
static inline bool tu_wait_count(atomic_uint_fast64_t *c, uint64_t n)
{
    int64_t until = tu_now_ms() + TU_WAIT_MS;
    do {
        if (atomic_load(c) == n)
            return true;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    } while (tu_now_ms() < until);
    return false;
}

/* Waits until `a` (a reference the test holds) is stopped, at most TU_WAIT_MS. */
static inline bool tu_wait_stopped(cn_actor *a)
{
    int64_t until = tu_now_ms() + TU_WAIT_MS;
    struct cn_actor_stats s;
    do {
        cn_actor_stats(a, &s);
        if (s.stopped)
            return true;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    } while (tu_now_ms() < until);
    return false;
}

/* A record value for the tests: bytes the test frees. */
struct tu_rec {
    char *v;
    size_t len;
};

static inline struct tu_rec tu_chat_event(const char *key, int64_t room, int64_t sender,
                                          const char *content)
{
    struct cn_chat_message_event e = {
        .room_id = room,
        .sender_id = sender,
        .sender_nickname = "nick",
        .sender_nickname_len = 4,
        .content = content,
        .content_len = strlen(content),
        .type = CN_MSG_TEXT,
        .sent_at_ms = 1700000000000,
    };
    memcpy(e.message_key, key, CN_UUID_STR_LEN); /* the tests' keys are canonical */
    e.message_key[CN_UUID_STR_LEN] = '\0';
    struct tu_rec r;
    r.v = cn_event_encode_chat_message(&e, &r.len);
    return r;
}

static inline struct tu_rec tu_receipt_event(int64_t room, int64_t user, int64_t message)
{
    struct cn_read_receipt_event e = {
        .room_id = room, .user_id = user, .message_id = message, .read_at_ms = 1700000000000};
    struct tu_rec r;
    r.v = cn_event_encode_read_receipt(&e, &r.len);
    return r;
}

/* Bytes that decode as no event. */
static inline struct tu_rec tu_garbage(void)
{
    static const char junk[] = "\xc1 not msgpack";
    struct tu_rec r = {malloc(sizeof junk - 1), sizeof junk - 1};
    memcpy(r.v, junk, r.len);
    return r;
}

/* Sends recs[0..n) as one batch at offsets first.. to the partition, then frees them. */
static inline void tu_send(int32_t partition, int64_t first, struct tu_rec *recs, size_t n,
                           const char *key)
{
    const char **values = calloc(n, sizeof *values);
    size_t *lens = calloc(n, sizeof *lens);
    for (size_t i = 0; i < n; i++) {
        values[i] = recs[i].v;
        lens[i] = recs[i].len;
    }
    CHECK_EQ(fake_consumer_batch(partition, first, n, values, lens, key), 0);
    for (size_t i = 0; i < n; i++)
        free(recs[i].v);
    free(values);
    free(lens);
}

/* Takes the next call of `kind`, which must come within TU_WAIT_MS. */
static inline struct fake_call *tu_take(enum fake_kind kind)
{
    struct fake_call *c = fake_next(kind, TU_WAIT_MS);
    CHECK(c != NULL);
    return c;
}

/* Takes the next Redis call, which must be DEL of `nkeys` keys from `first` to `last`
 * (the cached room lists a pipeline drops). */
static inline void tu_expect_del(int nkeys, const char *first, const char *last)
{
    struct fake_call *del = tu_take(FAKE_KIND_REDIS);
    if (!del)
        return;
    CHECK_EQ(del->argc, nkeys + 1);
    CHECK_STR(del->argv[0], "DEL");
    CHECK_STR(del->argv[1], first);
    CHECK_STR(del->argv[del->argc - 1], last);
    fake_call_free(del);
}

/* The next commit's offset; -1 when none came within TU_WAIT_MS. */
static inline int64_t tu_commit(void)
{
    struct fake_commit cm;
    return fake_consumer_next_commit(TU_WAIT_MS, &cm) ? cm.next_offset : -1;
}

#endif
