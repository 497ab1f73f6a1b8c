/* The frames of an open STOMP session: SUBSCRIBE (membership through one
 * room_membership statement, then the room's join), UNSUBSCRIBE, SEND (to the SEND
 * path, /app/auth.refresh, /app/chat.typing), ACK/NACK, DISCONNECT; and the answers
 * they wait for (the membership reply, the join, the SEND path's answer). Uses
 * session_output.c, session_timers.c, session_subs.c, session_auth.c and
 * session_typing.c.
 *
 * Every function runs on the session's worker and cannot fail. */
#ifndef CN_ACTORS_SESSION_SESSION_FRAMES_H
#define CN_ACTORS_SESSION_SESSION_FRAMES_H

#include <stdbool.h>
#include <stdint.h>

#include "actors/session/session_state.h"

/* Handles one frame of an open session that holds no frame back. Takes m, unless it
 * keeps it in s->pending: a SUBSCRIBE then waits for the database and the room, and
 * the session holds back the frames behind it. */
void cn__session_open_frame(struct cn__session *s, struct cn_ws_in_frame *m);

/* The room_membership reply (m taken) of the SUBSCRIBE in s->pending: the
 * subscription starts and waits for its room's join (the RECEIPT comes then), or
 * an application error ends the wait. */
void cn__session_pg_reply(struct cn__session *s, struct cn_pg_reply *m);

/* The room joined subscription `key` (CN_SESSION_JOINED), or the wait for it timed
 * out: the held SUBSCRIBE's RECEIPT, and the session may go on. */
void cn__session_join_done(struct cn__session *s, uint64_t key, bool timed_out);

/* The SEND path's answer (m taken): RECEIPT, an application error, or ERROR then
 * close (flooding). */
void cn__session_send_done(struct cn__session *s, struct cn_session_send_done *m);

#endif
