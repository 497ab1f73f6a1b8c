/* Counters of the broadcast pipeline and the room actors (the Redis fan-out),
 * shown on /metrics. Written by actors with relaxed atomic adds and read one by
 * one by the metrics page: they are statistics, nothing synchronises on them,
 * so relaxed ordering on both sides is enough (no partner operation). */
#ifndef CN_ACTORS_ROOM_ROOM_COUNTERS_H
#define CN_ACTORS_ROOM_ROOM_COUNTERS_H

#include <stdatomic.h>
#include <stdint.h>

#include "proto/prom_histogram.h"

#define CN_FANOUT_E2E_BUCKETS 12

struct cn_fanout_counters {
    atomic_uint_fast64_t bc_published;       /* events published to room:{id} */
    atomic_uint_fast64_t bc_duplicates;      /* redelivered events the window already had */
    atomic_uint_fast64_t bc_retried_keys;    /* later records of a messageKey already published */
    atomic_uint_fast64_t bc_bad;             /* undecodable events, skipped */
    atomic_uint_fast64_t bc_retries;         /* batches retried after a Redis failure */
    atomic_uint_fast64_t bc_partitions;      /* partition actors alive (gauge) */
    atomic_uint_fast64_t rooms_open;         /* room actors alive (gauge) */
    atomic_uint_fast64_t delivered;          /* MESSAGE deliveries handed to sessions */
    atomic_uint_fast64_t events_delivered;   /* room events (read receipts) handed to sessions */
    atomic_uint_fast64_t gap_repairs;        /* repairs started: a hole seen, or a resubscribe */
    atomic_uint_fast64_t repaired_window;    /* messages filled in from the Redis window */
    atomic_uint_fast64_t repaired_postgres;  /* messages filled in from PostgreSQL */
    atomic_uint_fast64_t duplicates_dropped; /* envelopes at or below the last delivered */
    /* SEND accepted (the event's sent_at_ms) to its publish on room:{id}, by bucket:
     * bucket i counts latencies <= bound i and > bound i-1; the last is +Inf. Wall
     * clocks of two nodes when the SEND came in elsewhere. */
    atomic_uint_fast64_t e2e_buckets[CN_FANOUT_E2E_BUCKETS + 1];
    atomic_uint_fast64_t e2e_sum_ms;
    /* Stage latencies (zeroed: the default bounds). publish: a chat.messages record
     * polled by the broadcast consumer to Redis confirming its PUBLISH (the partition's
     * queue, retries and the EVAL round trip). deliver: a room's Redis message taken
     * from the subscriber connection to its frame handed to the socket's writer, per
     * receiving session. */
    struct cn_prom_histo publish;
    struct cn_prom_histo deliver;
};

/* The bounds of e2e_buckets, in milliseconds. */
extern const uint64_t cn_fanout_e2e_bounds_ms[CN_FANOUT_E2E_BUCKETS];

/* Counts one SEND-to-publish latency. Cannot fail. */
void cn_fanout_e2e_observe(struct cn_fanout_counters *c, int64_t ms);

/* Adds n to a counter. Relaxed: a statistic, read by /metrics only. */
static inline void cn_fanout_add(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

#endif
