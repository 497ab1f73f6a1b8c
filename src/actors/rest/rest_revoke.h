/* The end of room memberships, as the rest of the node must see it: a member removed from
 * a room, or every member of a closed room, loses the room's live subscriptions and its
 * SEND permission on every node.
 *
 * A request actor that ended memberships in PostgreSQL calls rest_revoke and answers its
 * client only after the REST_MSG_REVOKED message that follows, so that an answered
 * removal is also in force on the sockets.
 *
 * Memory: user_ids is borrowed for the call. The REST_MSG_REVOKED message is a plain
 * cn_msg that the receiving step frees. */
#ifndef CN_ACTORS_REST_REST_REVOKE_H
#define CN_ACTORS_REST_REST_REVOKE_H

#include <stddef.h>
#include <stdint.h>

struct cn_rest_req;

/* Revokes room_id for user_ids[0..n) (n == 0: every member the room had). The request
 * actor then receives exactly one message of type REST_MSG_REVOKED, whatever happened
 * (revocation is best effort: its failure does not undo the database change). Call it
 * from the request actor, at most once per request. */
void rest_revoke(struct cn_rest_req *req, int64_t room_id, const int64_t *user_ids, size_t n);

#endif
