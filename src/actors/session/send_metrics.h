/* The SEND path's counters (how SENDs ended, how many sessions flooded, how many
 * per-session send actors were spawned) and their chat_send_* families on the
 * /metrics page. The send path (send_path.c) increments them; the node's /metrics
 * page renders them. Relaxed atomics: each is only a count. */
#ifndef CN_ACTORS_SESSION_SEND_METRICS_H
#define CN_ACTORS_SESSION_SEND_METRICS_H

#include <stdatomic.h>

#include "base/strbuf.h"
#include "proto/prom_histogram.h"

struct cn_send_counters {
    atomic_uint_fast64_t accepted;     /* acknowledged by Kafka: RECEIPT */
    atomic_uint_fast64_t rate_limited; /* RATE_LIMITED */
    atomic_uint_fast64_t rejected;     /* NOT_MEMBER, ROOM_NOT_FOUND, INVALID_BODY, ... */
    atomic_uint_fast64_t failed;       /* UNAVAILABLE: Kafka or PostgreSQL failed */
    atomic_uint_fast64_t flood_closes; /* sessions closed for sustained flooding */
    atomic_uint_fast64_t limiters;     /* per-session send actors (rate limiters) spawned */
    atomic_uint_fast64_t member_stale; /* expired memberships kept: their lookup failed */
    /* A chat SEND taken from the session to Kafka's acknowledgement, when its RECEIPT
     * is due (zeroed: the default bounds). */
    struct cn_prom_histo receipt;
};

/* Appends the chat_send_* families to a /metrics page; `c` is borrowed. Any thread;
 * cannot fail. */
void cn_send_metrics_render(struct cn_strbuf *b, const struct cn_send_counters *c);

#endif
