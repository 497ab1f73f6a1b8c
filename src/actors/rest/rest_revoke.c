/* Membership revocation from a REST request actor; see rest_revoke.h. */
#include "actors/rest/rest_revoke.h"

#include "actors/membership/membership.h"
#include "base/xmalloc.h"

void rest_revoke(struct cn_rest_req *req, int64_t room_id, const int64_t *user_ids, size_t n)
{
    const char *kind = req->ep == EP_LEAVE ? "leave" : n == 0 ? "closed" : "removed";
    if (req->deps->membership) {
        cn_membership_revoke(req->deps->membership, room_id, user_ids, n, kind, req->self,
                             REST_MSG_REVOKED, 0);
        return;
    }
    /* No membership actor (a node wired without one, unit tests): nothing to wait for,
     * but the step still gets its one message. */
    struct cn_membership_done *d = cn_xcalloc(1, sizeof *d);
    cn_msg_init(&d->hdr, REST_MSG_REVOKED, NULL);
    cn_actor_send(req->self, &d->hdr);
}
