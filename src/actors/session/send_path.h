/* The SEND path: what becomes of a session's SEND /app/chat.send once the session
 * has decoded it, up to the answer the session turns into a RECEIPT or an error.
 *
 * Each STOMP session that sends gets an actor of its own here (its rate limiter,
 * spawned on its first SEND and kept in the session's helper slot); cn_send_path_take
 * copies the SEND into a message for it and returns at once. That actor applies the
 * sliding window (send_window.h), checks room membership (room_membership, positive
 * answers cached per session and room for at most member_ttl_ms, dropped when the
 * session forwards a revocation or the node calls cn_send_path_forget_all) and the
 * sender's nickname (user_by_id, once
 * per session), produces the msgpack ChatMessageEvent to chat.messages keyed by the
 * decimal room id, and answers the session with a cn_session_send_done once Kafka's
 * delivery report is in: RECEIPT only for a record acknowledged by every in-sync
 * replica.
 *
 * SEND /app/chat.read takes the same road (cn_session_send.req NULL):
 * read_receipt_check, then a ReadReceiptEvent to chat.read-receipts, RECEIPT after
 * the ack (see read_receipts.h for what consumes it).
 *
 * Answers go back in the order the SENDs arrived, whatever order their lookups and
 * deliveries complete in, so RECEIPTs stay cumulative as STOMP wants.
 *
 * Shutdown: the actors call the PostgreSQL pool and the Kafka producer whenever a
 * SEND needs them. The adapters stop in two steps (close, then free after the
 * runtime has stopped), so a call after close returns -ESHUTDOWN, which is answered
 * UNAVAILABLE like any other refusal; nothing here needs to be told. */
#ifndef CN_ACTORS_SESSION_SEND_PATH_H
#define CN_ACTORS_SESSION_SEND_PATH_H

#include <stdatomic.h>
#include <stdint.h>

#include "actors/runtime/runtime.h"
#include "actors/session/send_metrics.h"
#include "actors/session/session_seams.h"
#include "io/kafka_producer.h"
#include "io/pg_pool.h"

#define CN_SEND_TOPIC "chat.messages"

struct cn_send_limits {
    uint32_t rate;            /* SENDs admitted per window; [limits] send_rate */
    uint32_t window_ms;       /* the window (1,000: "per second") */
    uint32_t flood_refusals;  /* refusals in flood_window_ms that close; 0 = never */
    uint32_t flood_window_ms; /* [limits] send_burst_window_ms */
};

/* What the path borrows; owned by the program. Fill it, then pass it as the
 * sink's ctx. pg and producer must stay valid (they may be closed) until the
 * runtime has shut down. */
struct cn_send_path {
    cn_runtime *rt;
    struct cn_pg_pool *pg;
    struct cn_kafka_producer *producer;
    struct cn_send_limits limits;
    /* limits.rate as changed at run time (chat-admin limits set send-rate); 0 = not
     * changed. Each session's actor picks it up on its next SEND. */
    _Atomic uint32_t live_rate;
    struct cn_send_counters counters;
    /* How long a positive room_membership answer is trusted without asking again
     * (membership.cache_ttl_ms); 0: never cached, every SEND asks. */
    uint32_t member_ttl_ms;
    /* Bumped by cn_send_path_forget_all; each actor compares it before a lookup. */
    _Atomic uint64_t member_epoch;
};

/* The cn_session_send_sink: ctx is a struct cn_send_path. Spawns the session's
 * actor into *send->helper when there is none yet, copies the SEND (everything in
 * `send` is borrowed) and queues it there. Returns 0 (exactly one
 * cn_session_send_done follows, unless the session closed first). Called on the
 * session's worker; cannot fail otherwise. */
int cn_send_path_take(void *ctx, const struct cn_session_send *send);

/* A cn_session_forget_room_fn: the session's actor (`helper`, borrowed) drops its
 * cached membership of room_id (the user's membership ended), before any SEND sent to
 * it after this call; a lookup already out is not cached. Any thread; cannot fail. */
void cn_send_path_forget_room(cn_actor *helper, int64_t room_id);

/* Every actor of the path drops its whole membership cache before its next lookup
 * (revocations may have been lost: the Redis subscriber connection was down). One
 * atomic increment, no message. Any thread; cannot fail. */
void cn_send_path_forget_all(struct cn_send_path *p);

/* The send rate in force, and the run-time change of it (rate >= 1; an actor's
 * window starts afresh at its next SEND). Any thread; cannot fail. */
uint32_t cn_send_path_rate(struct cn_send_path *p);
void cn_send_path_set_rate(struct cn_send_path *p, uint32_t rate);

#endif
