/* SEND /app/chat.typing {roomId}: "this user is typing in this room", through Redis
 * only; see session_typing.c. Uses session_output.c only. Both run on the
 * session's worker. */
#ifndef CN_ACTORS_SESSION_SESSION_TYPING_H
#define CN_ACTORS_SESSION_SESSION_TYPING_H

#include "actors/session/session_state.h"

struct cn_redis_reply;

/* The SEND (f borrowed): a RECEIPT when it asked for one (typing is best effort,
 * so "taken", not "delivered"), or an application error (INVALID_BODY,
 * NOT_SUBSCRIBED). Sent to Redis at most once per room every
 * CN__SESSION_TYPING_EVERY_MS. */
void cn__session_typing(struct cn__session *s, const struct cn_stomp_frame *f);

/* Redis's answer to it (r taken): only counted. */
void cn__session_typing_reply(struct cn__session *s, struct cn_redis_reply *r);

#endif
