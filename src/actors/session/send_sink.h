/* The SEND path: the node's cn_session_send_sink. Each STOMP session that sends
 * gets a rate limiter actor of its own (send_limiter.c, spawned on its first SEND
 * and kept in the session's helper slot); the sink copies the SEND into a message
 * for it and returns at once. The limiter then applies the sliding window, checks
 * membership (room_membership, positive answers cached per session and room) and
 * the sender's nickname (user_by_id, once per session), produces the msgpack
 * ChatMessageEvent to chat.messages keyed by the decimal room id, and answers the
 * session with a cn_session_send_done once Kafka's delivery report is in: RECEIPT
 * only for a record acknowledged by every in-sync replica.
 *
 * SEND /app/chat.read uses the same sink and limiter (cn_session_send.req NULL):
 * read_receipt_check, then a ReadReceiptEvent to chat.read-receipts, RECEIPT after
 * the ack (see read_receipts.h for what consumes it).
 *
 * Answers go back in the order the SENDs arrived, whatever order their lookups and
 * deliveries complete in, so RECEIPTs stay cumulative as STOMP wants. */
#ifndef CN_ACTORS_SESSION_SEND_SINK_H
#define CN_ACTORS_SESSION_SEND_SINK_H

#include <stdatomic.h>
#include <stdint.h>

#include "actors/runtime/runtime.h"
#include "base/strbuf.h"
#include "io/kafka_producer.h"
#include "io/pg_pool.h"
#include "actors/session/session_seams.h"

#define CN_SEND_TOPIC "chat.messages"

struct cn_send_limits {
    uint32_t rate;            /* SENDs admitted per window; [limits] send_rate */
    uint32_t window_ms;       /* the window (1,000: "per second") */
    uint32_t flood_refusals;  /* refusals in flood_window_ms that close; 0 = never */
    uint32_t flood_window_ms; /* [limits] send_burst_window_ms */
};

/* Outcomes of SENDs, shown on /metrics. Relaxed atomics: each is only a count. */
struct cn_send_counters {
    atomic_uint_fast64_t accepted;     /* acknowledged by Kafka: RECEIPT */
    atomic_uint_fast64_t rate_limited; /* RATE_LIMITED */
    atomic_uint_fast64_t rejected;     /* NOT_MEMBER, ROOM_NOT_FOUND, INVALID_BODY, ... */
    atomic_uint_fast64_t failed;       /* UNAVAILABLE: Kafka or PostgreSQL failed */
    atomic_uint_fast64_t flood_closes; /* sessions closed for sustained flooding */
    atomic_uint_fast64_t limiters;     /* limiter actors spawned */
};

/* What the sink borrows; owned by the program, alive until the runtime has shut
 * down. Fill it, then pass it as the sink's ctx. */
struct cn_send_sink {
    cn_runtime *rt;
    struct cn_pg_pool *pg;
    struct cn_kafka_producer *producer;
    struct cn_send_limits limits;
    /* limits.rate as changed at run time (chat-admin limits set send-rate); 0 = not
     * changed. Each limiter picks it up on its next SEND. */
    _Atomic uint32_t live_rate;
    struct cn_send_counters counters;
    /* The gate in front of pg and producer (see cn_send_sink_close); zero-initialised. */
    atomic_bool closed;
    atomic_uint users;
};

/* The cn_session_send_sink: ctx is a struct cn_send_sink. Spawns the session's
 * limiter into *send->helper when there is none yet, copies the SEND (everything in
 * `send` is borrowed) and queues it there. Returns 0 (exactly one
 * cn_session_send_done follows, unless the session closed first). Called on the
 * session's worker; cannot fail otherwise. */
int cn_send_sink_take(void *ctx, const struct cn_session_send *send);

/* Closes the gate: once this returns, no limiter calls into sink->pg or
 * sink->producer any more (later SENDs are answered UNAVAILABLE), so the owner may
 * stop them while limiter actors still run. Owner thread; waits only for calls in
 * progress (microseconds). Cannot fail. */
void cn_send_sink_close(struct cn_send_sink *sink);

/* Internal to the limiter: enter (true: the adapters may be used until
 * cn__send_sink_leave) or refuse (false: the sink is closed). Any thread. */
bool cn__send_sink_enter(struct cn_send_sink *sink);
void cn__send_sink_leave(struct cn_send_sink *sink);

/* The send rate in force, and the run-time change of it (rate >= 1; a limiter's
 * window starts afresh at its next SEND). Any thread. */
uint32_t cn_send_sink_rate(struct cn_send_sink *sink);
void cn_send_sink_set_rate(struct cn_send_sink *sink, uint32_t rate);

/* Appends the chat_send_* families to a /metrics page. Cannot fail. */
void cn_send_metrics_render(struct cn_strbuf *b, const struct cn_send_counters *c);

/* A cn_session_forget_room_fn: the session's limiter drops its cached membership
 * of room_id (the user left it). Any thread. */
void cn_send_sink_forget_room(cn_actor *limiter, int64_t room_id);

#endif
