/* What a session writes to its socket: rendered STOMP frames (CONNECTED, RECEIPT,
 * MESSAGE, ERROR), heart-beats and the close, each counted and pushed onto the
 * connection's outbound queue (io/ws_link.h); and the errors of docs/PROTOCOL.md
 * (protocol errors: ERROR then close; application errors: a MESSAGE on
 * /user/queue/errors when subscribed, else ERROR then close). The bottom of the
 * session's files (see session_state.h): it calls none of the others.
 *
 * Every function runs on the session's worker, inside its behaviour, and cannot
 * fail (out of memory aborts). */
#ifndef CN_ACTORS_SESSION_SESSION_OUTPUT_H
#define CN_ACTORS_SESSION_SESSION_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>

#include "actors/session/session_state.h"

/* Where application errors go when the client subscribed there. */
#define CN__SESSION_ERRORS_QUEUE "/user/queue/errors"
/* Where the per-user live events go (actors/user_events/user_events.h). */
#define CN__SESSION_EVENTS_QUEUE "/user/queue/events"

struct cn__session_hdr {
    const char *name;
    const char *value; /* NULL: the header is left out */
};

/* Renders and queues a frame: the `n` headers of `h` (escaped as `cmd` wants; all
 * borrowed), content-length when there is a body (body_len bytes, borrowed), then
 * close the connection after it when close_after (for `reason`, an enum
 * cn_ws_close_reason). Counts it. */
void cn__session_write(struct cn__session *s, enum cn_stomp_command cmd,
                       const struct cn__session_hdr *h, int n, const char *body, size_t body_len,
                       bool close_after, int reason);

/* A heart-beat (one EOL). Counted as a heart-beat, not as a frame. */
void cn__session_write_heartbeat(struct cn__session *s);

/* Nothing more to write: close the connection once what is queued has gone. */
void cn__session_write_close(struct cn__session *s, int reason);

/* The MESSAGE of a delivery to subscription `x` (borrowed): its subscription
 * header in front of the room's shared tail (borrowed). Dropped by the transport
 * first, under pressure, when the message expires (typing). */
void cn__session_write_message(struct cn__session *s, const struct cn__session_sub *x,
                               const struct cn_ws_shared_msg *shared);

/* RECEIPT with receipt-id `receipt` (borrowed); nothing when it is NULL. */
void cn__session_receipt_id(struct cn__session *s, const char *receipt);

/* RECEIPT for frame f when it asked for one. */
void cn__session_receipt(struct cn__session *s, const struct cn_stomp_frame *f);

/* ERROR (message; receipt-id when not NULL) then close, for `reason`. Nothing once
 * the session is closing. */
void cn__session_fail_receipt(struct cn__session *s, const char *receipt, int reason,
                              const char *message);

/* ERROR (message; receipt-id of f when f is not NULL and asked for one) then close,
 * for `reason`. Nothing once the session is closing. */
void cn__session_fail(struct cn__session *s, const struct cn_stomp_frame *f, int reason,
                      const char *message);

/* An application error `code` (static text, like `message`): a MESSAGE on
 * /user/queue/errors when the open session subscribed there, else ERROR then close.
 * receipt may be NULL. */
void cn__session_app_error(struct cn__session *s, const char *receipt, const char *code,
                           const char *message);

/* From here on the session only waits for the transport's CLOSED: state closing,
 * every timer cancelled, `reason` remembered as the session's own. */
void cn__session_end(struct cn__session *s, int reason);

#endif
