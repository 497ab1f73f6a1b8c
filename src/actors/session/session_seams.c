/* The messages the room actors send a session, and the MESSAGE tails they share
 * among its recipients; see session_seams.h. Nothing here touches a session's
 * state: a session reads these messages in its own behaviour (session_subs.c,
 * session_frames.c). */
#include "actors/session/session_seams.h"

#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"

static void deliver_free(cn_msg *m)
{
    cn_ws_shared_msg_unref(((struct cn_session_deliver_msg *)m)->shared);
    free(m);
}

int cn_session_deliver(cn_actor *session, uint64_t sub_key, struct cn_ws_shared_msg *shared)
{
    struct cn_session_deliver_msg *d = cn_xmalloc(sizeof *d);
    cn_msg_init(&d->hdr, CN_SESSION_DELIVER, deliver_free);
    d->sub_key = sub_key;
    d->shared = shared;
    return cn_actor_send(session, &d->hdr); /* -ESHUTDOWN: the runtime freed d */
}

int cn_session_joined(cn_actor *session, uint64_t sub_key)
{
    struct cn_session_joined_msg *j = cn_xmalloc(sizeof *j);
    cn_msg_init(&j->hdr, CN_SESSION_JOINED, NULL);
    j->sub_key = sub_key;
    return cn_actor_send(session, &j->hdr);
}

struct cn_ws_shared_msg *cn_ws_shared_msg_new(const struct cn_stomp_message_fields *f)
{
    size_t len;
    char *tail = cn_stomp_message_shared_new(f, &len);
    struct cn_ws_shared_msg *m = cn_xmalloc(sizeof *m + len);
    atomic_init(&m->refs, 1);
    m->expires_ms = 0;
    m->revoke_user = 0;
    m->born_ns = 0;
    m->latency = NULL;
    m->len = len;
    memcpy(m->data, tail, len);
    free(tail);
    return m;
}

void cn_ws_shared_msg_ref(struct cn_ws_shared_msg *m)
{
    /* relaxed: the caller already holds a reference, so nothing can free m now. */
    if (m)
        atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

void cn_ws_shared_msg_unref(struct cn_ws_shared_msg *m)
{
    /* acq_rel: the last dropper sees every other holder's reads done. */
    if (m && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
        free(m);
}
