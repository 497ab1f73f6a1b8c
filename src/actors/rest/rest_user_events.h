/* The per-user live events of the REST steps that change memberships
 * (actors/user_events/user_events.h): a step calls these right after it dropped the
 * recipients' cached room lists (rest_cache_invalidate*), on the same Redis adapter, so
 * every node receives the event after the DEL ran.
 *
 * Who gets what (docs/PROTOCOL.md, "Per-user events (/user/queue/events)"):
 *   ROOM_ADDED      the users who became members (group create: the creator too; a new
 *                   direct room: both users; a join, by id or by invitation: the joiner);
 *   ROOM_REMOVED    the users who stopped being members (reason LEFT, REMOVED, CLOSED);
 *   MEMBERS_CHANGED the other members of a room someone joined, left, was added to or
 *                   removed from (not for a closed room: all of them get ROOM_REMOVED).
 * No-ops when the node has no user_events. Run in the request actor's step; cannot
 * fail. */
#ifndef CN_ACTORS_REST_REST_USER_EVENTS_H
#define CN_ACTORS_REST_REST_USER_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "actors/rest/rest_request.h"
#include "proto/user_event.h"

/* ROOM_ADDED of room_id for users[0..n) (borrowed); member_count < 0: unknown. */
void rest_event_added(struct cn_rest_req *req, int64_t room_id, const int64_t *users, size_t n,
                      int64_t member_count);

/* ROOM_REMOVED of room_id for users[0..n) (borrowed), with its reason. */
void rest_event_removed(struct cn_rest_req *req, int64_t room_id, const int64_t *users, size_t n,
                        enum cn_user_event_reason reason);

/* ROOM_REMOVED for every id of `ids_text` (a bigint[] in text form, "{1,2}"; NULL or
 * "{}" is none): a closed room's members. */
void rest_event_removed_text(struct cn_rest_req *req, int64_t room_id, const char *ids_text,
                             enum cn_user_event_reason reason);

/* MEMBERS_CHANGED of room_id for every id of `ids_text` except `skip` (> 0; the user
 * who joined or left, when listed). member_count < 0: the count of ids_text (without
 * `skip`) plus count_extra. */
void rest_event_members_text(struct cn_rest_req *req, int64_t room_id, const char *ids_text,
                             int64_t skip, int64_t member_count, int64_t count_extra);

/* MEMBERS_CHANGED for users[0..n) except `skip`, with member_count (< 0: unknown). */
void rest_event_members(struct cn_rest_req *req, int64_t room_id, const int64_t *users, size_t n,
                        int64_t skip, int64_t member_count);

#endif
