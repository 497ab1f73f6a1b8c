/* Seams between the STOMP session actor and the parts of the realtime path around
 * it: the SEND path (send_path.h) and the room actors (fan-out). The node wires
 * implementations into struct cn_session_deps; session_seams.c makes the messages
 * that go to a session (deliveries, joins) and the shared MESSAGE tails.
 *
 * SEND: a session hands each valid SEND /app/chat.send to the sink together with
 * its own actor handle; the sink (the producer path) answers later with a
 * struct cn_session_send_done message to that actor, which turns it into the
 * RECEIPT (after Kafka acknowledged) or an application error.
 *
 * Fan-out: when a session subscribes to /topic/room.{id} it calls
 * rooms->subscribed with a key unique within the session (never reused), and
 * rooms->unsubscribed when the subscription or the session ends. A room actor
 * renders each MESSAGE's shared tail once (cn_ws_shared_msg_new) and sends every
 * subscribed session a cn_session_deliver for its key; the session writes
 * "MESSAGE\nsubscription:<id>\n" in front of it (cn_stomp_message_render) onto
 * its own outbound queue, so a slow subscriber is the transport's problem, never
 * the room's. The room answers each subscribed with one cn_session_joined once its
 * Redis channel is confirmed (at once when it already is): the SUBSCRIBE's RECEIPT,
 * and the frames after it, wait for that, so a RECEIPT means messages sent from
 * then on reach the subscription live. */
#ifndef CN_ACTORS_SESSION_SESSION_SEAMS_H
#define CN_ACTORS_SESSION_SESSION_SEAMS_H

#include <stdatomic.h>
#include <stdint.h>

#include "actors/runtime/runtime.h"
#include "proto/json_requests.h"
#include "proto/prom_histogram.h"
#include "proto/stomp_writer.h"

/* One SEND for the producer. Everything is borrowed for the call. */
struct cn_session_send {
    cn_actor *session; /* where cn_session_send_done goes; cn_actor_ref to keep it */
    int64_t user_id;
    const char *session_id;
    /* SEND /app/chat.send: the decoded body. NULL for SEND /app/chat.read, which
     * carries read_room_id (> 0) and read_target (a message id or a position) instead. */
    const struct cn_send_request *req;
    int64_t read_room_id;
    struct cn_read_target read_target;
    const char *receipt; /* the frame's receipt header, or NULL */
    /* The session's slot for one helper actor of the sink (the SEND path's rate
     * limiter): the sink may spawn one and store its reference here. The session
     * owns that reference: it stops the actor when the connection closes and
     * unrefs it when the session is freed. */
    cn_actor **helper;
};

/* Takes a SEND. Returns 0 when exactly one cn_session_send_done will follow, or
 * a negative errno (the session then answers UNAVAILABLE itself). */
typedef int (*cn_session_send_sink)(void *ctx, const struct cn_session_send *send);

/* Tells the sink's helper actor of a session (borrowed) that the user is no longer
 * a member of room_id (the user left it), so cached membership is dropped and the
 * next SEND to it is checked again. Any thread. */
typedef void (*cn_session_forget_room_fn)(cn_actor *helper, int64_t room_id);

#define CN_SESSION_SEND_DONE 0x5790

/* The sink's answer to a session. code NULL = accepted durably: RECEIPT when
 * receipt is not empty; else an application error (code, message: static texts),
 * or, with `close` set, ERROR (with receipt-id) then close (sustained flooding).
 * Allocate with cn_xmalloc; the session frees it with free(). */
struct cn_session_send_done {
    cn_msg hdr; /* type CN_SESSION_SEND_DONE, free_fn NULL */
    const char *code;
    const char *message;
    int close;      /* 1: the session ends with ERROR, whatever it subscribed */
    char receipt[]; /* "" when the SEND had none */
};

struct cn_session_room_hooks {
    void *ctx;
    /* session is borrowed (cn_actor_ref to keep it). Called on the session's worker.
     * resume_after: the SUBSCRIBE's x-resume-after position, -1 when it had none;
     * the subscription then gets the room's messages after it before live ones. */
    void (*subscribed)(void *ctx, int64_t room_id, cn_actor *session, uint64_t sub_key,
                       int64_t resume_after);
    void (*unsubscribed)(void *ctx, int64_t room_id, cn_actor *session, uint64_t sub_key);
};

/* How long a typing event stays true: it carries this as `expiresInMs`, and a
 * room actor gives its delivery this long before sessions drop it unsent. */
#define CN_TYPING_TTL_MS 5000

/* A MESSAGE tail shared by every recipient: immutable once made, reference
 * counted across threads. */
struct cn_ws_shared_msg {
    atomic_uint refs;
    /* 0, or a cn_now_ms() after which the message is dropped rather than sent (a
     * typing event): such a message is also the first dropped when the client's
     * outbound queue is under pressure. Set by the maker before sharing. */
    uint64_t expires_ms;
    /* 0, or the user whose subscriptions to the room end with this message (a
     * leave event): each of that user's sessions delivers it, then drops the
     * subscription. Set by the maker before sharing. */
    int64_t revoke_user;
    /* 0/NULL, or a live room message's hand-out time (cn_now_ns) and the histogram its
     * socket write is timed into (struct cn_ws_out.born_ns). Set by the maker. */
    uint64_t born_ns;
    struct cn_prom_histo *latency;
    size_t len;
    char data[];
};

/* Renders the tail once (one reference to the caller). Cannot fail. */
struct cn_ws_shared_msg *cn_ws_shared_msg_new(const struct cn_stomp_message_fields *f);

/* Adds / drops a reference; the last drop frees. Any thread; NULL is a no-op. */
void cn_ws_shared_msg_ref(struct cn_ws_shared_msg *m);
void cn_ws_shared_msg_unref(struct cn_ws_shared_msg *m);

#define CN_SESSION_DELIVER 0x5791

/* A delivery as the session receives it (made by cn_session_deliver). */
struct cn_session_deliver_msg {
    cn_msg hdr; /* type CN_SESSION_DELIVER; freeing drops the reference to shared */
    uint64_t sub_key;
    struct cn_ws_shared_msg *shared; /* one reference */
};

/* Sends `shared` (one reference taken) to subscription `sub_key` of `session`
 * (borrowed). A delivery for a subscription that has ended is dropped. Returns 0
 * or -ESHUTDOWN (session gone; the reference is dropped). Any thread. */
int cn_session_deliver(cn_actor *session, uint64_t sub_key, struct cn_ws_shared_msg *shared);

#define CN_SESSION_JOINED 0x5793

/* A join as the session receives it (made by cn_session_joined). */
struct cn_session_joined_msg {
    cn_msg hdr; /* type CN_SESSION_JOINED */
    uint64_t sub_key;
};

/* Tells `session` (borrowed) that subscription `sub_key` is live: the room's
 * channel is subscribed on Redis. An unknown or ended key is ignored. Returns 0 or
 * -ESHUTDOWN (session gone). Any thread. */
int cn_session_joined(cn_actor *session, uint64_t sub_key);

/* How long a SUBSCRIBE waits for cn_session_joined before its RECEIPT goes anyway
 * (Redis unreachable: live delivery starts when it is back; a resume header fills
 * what was missed). */
#define CN_SESSION_JOIN_WAIT_MS 3000

#endif
