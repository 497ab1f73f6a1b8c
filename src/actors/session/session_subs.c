/* A session's subscriptions and the deliveries to them; see session_subs.h. */
#include "actors/session/session_subs.h"

#include <stdlib.h>
#include <string.h>

#include "actors/session/session_output.h"
#include "base/clock.h"
#include "base/xmalloc.h"
#include "proto/stomp_escape.h"

struct cn__session_sub *cn__session_sub_find(struct cn__session *s, const char *id)
{
    for (struct cn__session_sub *x = s->subs; x; x = x->next)
        if (strcmp(x->id, id) == 0)
            return x;
    return NULL;
}

uint64_t cn__session_sub_add(struct cn__session *s, const char *id, int64_t room_id,
                             int64_t resume_after)
{
    struct cn__session_sub *x = cn_xcalloc(1, sizeof *x);
    size_t n = strlen(id);
    x->id = cn_xstrdup(id);
    x->id_esc = cn_xmalloc(cn_stomp_escaped_len(id, n) + 1);
    x->id_esc_len = cn_stomp_escape(x->id_esc, id, n);
    x->id_esc[x->id_esc_len] = '\0';
    x->key = ++s->next_key;
    x->room_id = room_id;
    x->next = s->subs;
    s->subs = x;
    s->nsubs++;
    const struct cn_session_room_hooks *rooms = s->deps->rooms;
    if (room_id && rooms && rooms->subscribed)
        rooms->subscribed(rooms->ctx, room_id, s->self, x->key, resume_after);
    return x->key;
}

static void free_sub(struct cn__session *s, struct cn__session_sub *x)
{
    const struct cn_session_room_hooks *rooms = s->deps->rooms;
    if (x->room_id && !x->revoked && rooms && rooms->unsubscribed)
        rooms->unsubscribed(rooms->ctx, x->room_id, s->self, x->key);
    free(x->id);
    free(x->id_esc);
    free(x);
}

bool cn__session_sub_remove(struct cn__session *s, const char *id)
{
    for (struct cn__session_sub **pp = &s->subs; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->id, id) == 0) {
            struct cn__session_sub *x = *pp;
            *pp = x->next;
            s->nsubs--;
            free_sub(s, x);
            return true;
        }
    }
    return false;
}

void cn__session_subs_drop(struct cn__session *s)
{
    while (s->subs) {
        struct cn__session_sub *x = s->subs;
        s->subs = x->next;
        free_sub(s, x);
    }
    s->nsubs = 0;
}

/* The user left x's room: the subscription ends here (the room stops delivering
 * to it) but its id stays known, so the client's UNSUBSCRIBE is still answered. */
static void revoke_sub(struct cn__session *s, struct cn__session_sub *x)
{
    const struct cn_session_room_hooks *rooms = s->deps->rooms;
    if (rooms && rooms->unsubscribed)
        rooms->unsubscribed(rooms->ctx, x->room_id, s->self, x->key);
    if (s->send_helper && s->deps->send_forget_room)
        s->deps->send_forget_room(s->send_helper, x->room_id);
    x->revoked = true;
}

void cn__session_deliver(struct cn__session *s, cn_msg *m)
{
    struct cn_session_deliver_msg *d = (struct cn_session_deliver_msg *)m;
    struct cn__session_sub *x = NULL;
    if (s->state == CN__SESSION_OPEN)
        for (x = s->subs; x && x->key != d->sub_key; x = x->next)
            ;
    if (x && x->revoked)
        x = NULL;
    if (x && d->shared->expires_ms && cn_now_ms() > d->shared->expires_ms) {
        /* A typing event that waited past its expiry says nothing true any more. */
        atomic_fetch_add_explicit(&s->deps->counters->typing_dropped, 1, memory_order_relaxed);
        x = NULL;
    }
    if (x) {
        cn__session_write_message(s, x, d->shared);
        if (d->shared->revoke_user && d->shared->revoke_user == s->user_id)
            revoke_sub(s, x);
    }
    cn_msg_free(m);
}
