/* The REST side of a membership revocation, for the request actors whose endpoint
 * ends memberships (POST /api/rooms/{id}/leave, removing a member, closing a room):
 * once PostgreSQL has deleted the memberships, rest_revoke has every node stop the
 * affected users' STOMP sessions for the room (actors/membership/membership.h) and
 * wakes the request actor with exactly one REST_MSG_REVOKED message when every node
 * applied it or membership.revoke_wait_ms passed. The step then answers the client:
 * by then each session concerned, on every node that acknowledged, holds the
 * revocation in its mailbox ahead of anything the client sends after the answer.
 *
 * The message is a struct cn_membership_done (how many nodes, how many acked, timed
 * out or not); the step frees it with cn_msg_free. No endpoint answers differently on
 * a timeout: the memberships are gone in PostgreSQL, and the nodes that did not
 * acknowledge forget their cached answers within membership.cache_ttl_ms.
 *
 * The `x-event` a revoked subscription gets names the reason, from the request:
 * "leave" for POST /leave, "closed" when n == 0 (every member: the room was closed),
 * "removed" otherwise. Room events for the other members are the endpoint's own. */
#ifndef CN_ACTORS_REST_REST_REVOKE_H
#define CN_ACTORS_REST_REST_REVOKE_H

#include <stddef.h>
#include <stdint.h>

#include "actors/rest/rest_request.h"

/* Revokes the memberships of room_id (> 0) of the n users in user_ids (borrowed,
 * copied; ids > 0), or of every member when n == 0. Runs in the request actor's step;
 * the actor receives exactly one REST_MSG_REVOKED afterwards (at once when the node
 * has no membership actor). Cannot fail. */
void rest_revoke(struct cn_rest_req *req, int64_t room_id, const int64_t *user_ids, size_t n);

#endif
