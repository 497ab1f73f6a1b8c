/* The tokens of a session: CONNECT/STOMP, which authenticates the JWT and opens the
 * session (CONNECTED, heart-beats, the expiry timer, presence and the directory
 * told), and SEND /app/auth.refresh, which swaps the token of a live session for a
 * newer one of the same user and so moves its expiry (docs/PROTOCOL.md, "Token
 * expiry and refresh"). Uses session_output.c and session_timers.c.
 *
 * Both run on the session's worker; `f` is borrowed. */
#ifndef CN_ACTORS_SESSION_SESSION_AUTH_H
#define CN_ACTORS_SESSION_SESSION_AUTH_H

#include "actors/session/session_state.h"

/* CONNECT or STOMP of a session awaiting it: CONNECTED and the session is open, or
 * ERROR then close (bad version, heart-beat header or token; too many sessions of
 * the user). When the token's user is not known to exist yet (deps->known_users), the
 * session asks PostgreSQL (user_by_id) and sets connect_pending: the answer comes to
 * cn__session_connect_user. */
void cn__session_connect(struct cn__session *s, const struct cn_stomp_frame *f);

/* The user_by_id of a pending CONNECT (takes r): CONNECTED when the user exists, else
 * ERROR then close (no such user; the database did not answer). */
void cn__session_connect_user(struct cn__session *s, struct cn_pg_reply *r);

/* SEND /app/auth.refresh of an open session. The token comes in an
 * `Authorization: Bearer <jwt>` header of the SEND, or in the body {accessToken}
 * (the header wins when both are there). Refusals are application errors
 * (INVALID_BODY, INVALID_TOKEN, WRONG_USER): the session and its old expiry stay
 * as they were. */
void cn__session_refresh(struct cn__session *s, const struct cn_stomp_frame *f);

#endif
