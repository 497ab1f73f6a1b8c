/* A session's subscriptions: the list (id -> room, newest first), the room hooks
 * told of each one that starts and ends (session_seams.h), and the fan-out's
 * deliveries to them. Uses session_output.c only.
 *
 * Every function runs on the session's worker and cannot fail. */
#ifndef CN_ACTORS_SESSION_SESSION_SUBS_H
#define CN_ACTORS_SESSION_SESSION_SUBS_H

#include <stdbool.h>
#include <stdint.h>

#include "actors/session/session_state.h"

/* The subscription with this id (borrowed), or NULL. */
struct cn__session_sub *cn__session_sub_find(struct cn__session *s, const char *id);

/* Adds subscription `id` (copied) to room_id (0: /user/queue/errors) and tells the
 * room hooks of a room, with resume_after (-1: none). Returns its key. */
uint64_t cn__session_sub_add(struct cn__session *s, const char *id, int64_t room_id,
                             int64_t resume_after);

/* Ends subscription `id` (room hooks told) and frees it. False when there is none. */
bool cn__session_sub_remove(struct cn__session *s, const char *id);

/* Ends every subscription (room hooks told) and frees them. */
void cn__session_subs_drop(struct cn__session *s);

/* A CN_SESSION_DELIVER (m taken): the MESSAGE for its subscription when the
 * session is open and the subscription live, and the message is not past its
 * expiry; a leave event of this user ends the subscription after it. */
void cn__session_deliver(struct cn__session *s, cn_msg *m);

/* A CN_SESSION_REVOKE (borrowed; session_directory.h): the memberships of r->room_id
 * ended. Each live subscription to the room gets a last MESSAGE (x-event r->kind) and
 * ends as on a leave event; a SUBSCRIBE to the room waiting for its membership check
 * is marked to be refused; then the SEND path forgets the room. */
void cn__session_revoke(struct cn__session *s, const struct cn_session_revoke *r);

/* A CN_SESSION_USER_EVENT (borrowed; session_directory.h): a MESSAGE with its body on
 * each /user/queue/events subscription when the session is open. */
void cn__session_user_event(struct cn__session *s, const struct cn_session_user_event *e);

#endif
