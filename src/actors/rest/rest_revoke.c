/* rest_revoke (see rest_revoke.h), the minimal form: for each user, the leave event that
 * POST /api/rooms/{id}/leave publishes (room:{id} on Redis Pub/Sub), whose arrival makes
 * that user's sessions on every node drop their subscriptions to the room and their
 * cached SEND permission (session/session_subs.c). Fire and forget, then
 * REST_MSG_REVOKED at once: nothing waits for the nodes to acknowledge.
 *
 * n == 0 (a closed room: every member) publishes nothing here; sessions of a closed room
 * keep their running subscriptions until they end (new SUBSCRIBEs and SENDs are refused,
 * the room no longer exists for them). */
#include "actors/rest/rest_revoke.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/rest/rest_request.h"
#include "base/clock.h"
#include "base/xmalloc.h"
#include "io/redis_client.h"
#include "proto/broadcast_envelope.h"

/* Tells every node that user_id left room_id (the event of rest_rooms.c publish_leave). */
static void publish_leave(struct cn_rest_req *req, int64_t room_id, int64_t user_id)
{
    if (!req->deps->events)
        return;
    char chan[32], id[64], body[96];
    snprintf(chan, sizeof chan, "room:%" PRId64, room_id);
    snprintf(id, sizeof id, "leave-%" PRId64 "-%" PRId64 "-%" PRId64, room_id, user_id,
             cn_wall_ms());
    int bl = snprintf(body, sizeof body,
                      "{\"type\":\"LEAVE\",\"roomId\":%" PRId64 ",\"userId\":%" PRId64 "}", room_id,
                      user_id);
    size_t elen;
    char *event = cn_bc_event_render("leave", id, body, (size_t)bl, &elen);
    if (!event) /* defensive: the id is digits and dashes, at most 59 bytes */
        return;
    const char *argv[] = {"PUBLISH", chan, event};
    size_t argl[] = {7, strlen(chan), elen};
    cn_redis_command(req->deps->events, NULL, 0, 0, 3, argv, argl);
    free(event);
}

void rest_revoke(struct cn_rest_req *req, int64_t room_id, const int64_t *user_ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        publish_leave(req, room_id, user_ids[i]);
    cn_msg *done = cn_xmalloc(sizeof *done);
    cn_msg_init(done, REST_MSG_REVOKED, NULL);
    cn_actor_send(req->self, done);
}
