/* A session's subscriptions and the deliveries to them; see session_subs.h. */
#include "actors/session/session_subs.h"

#include <inttypes.h>
#include <stdio.h>
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
    /* STOMP 1.0 sessions write the id as it came (no escaping in 1.0). */
    x->id_esc = cn_xmalloc((s->raw ? n : cn_stomp_escaped_len(id, n)) + 1);
    x->id_esc_len = s->raw ? (memcpy(x->id_esc, id, n), n) : cn_stomp_escape(x->id_esc, id, n);
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

/* The user's membership of x's room ended: the subscription ends here (the room
 * stops delivering to it) but its id stays known, so the client's UNSUBSCRIBE is
 * still answered. */
static void end_sub(struct cn__session *s, struct cn__session_sub *x)
{
    const struct cn_session_room_hooks *rooms = s->deps->rooms;
    if (rooms && rooms->unsubscribed)
        rooms->unsubscribed(rooms->ctx, x->room_id, s->self, x->key);
    x->revoked = true;
}

static void forget_room(struct cn__session *s, int64_t room_id)
{
    if (s->send_helper && s->deps->send_forget_room)
        s->deps->send_forget_room(s->send_helper, room_id);
}

/* A leave event of this user, delivered on x: the subscription ends after it. */
static void revoke_sub(struct cn__session *s, struct cn__session_sub *x)
{
    end_sub(s, x);
    forget_room(s, x->room_id);
}

/* The last MESSAGE of a revoked subscription, the same as the room's leave event
 * (docs/PROTOCOL.md, "Leave events") with r->kind as its name. */
static void write_revoke_event(struct cn__session *s, const struct cn__session_sub *x,
                               const struct cn_session_revoke *r)
{
    char dest[40], id[96], body[160], upper[CN_SESSION_REVOKE_KIND_MAX + 1];
    size_t i = 0;
    for (; r->kind[i] && i < sizeof upper - 1; i++)
        upper[i] =
            r->kind[i] >= 'a' && r->kind[i] <= 'z' ? (char)(r->kind[i] - 'a' + 'A') : r->kind[i];
    upper[i] = '\0';
    snprintf(dest, sizeof dest, "/topic/room.%" PRId64, r->room_id);
    snprintf(id, sizeof id, "%s-%" PRId64 "-%" PRId64 "-%" PRId64, r->kind, r->room_id, s->user_id,
             r->at_ms);
    int bl = snprintf(body, sizeof body,
                      "{\"type\":\"%s\",\"roomId\":%" PRId64 ",\"userId\":%" PRId64 "}", upper,
                      r->room_id, s->user_id);
    struct cn_stomp_header h = {"x-event", r->kind, (uint32_t)strlen("x-event"),
                                (uint32_t)strlen(r->kind)};
    struct cn_stomp_message_fields f = {
        .destination = dest,
        .message_id = id,
        .content_type = "application/json",
        .extra = &h,
        .nextra = 1,
        .body = body,
        .body_len = (size_t)bl,
    };
    struct cn_ws_shared_msg *m = cn_ws_shared_msg_new(&f);
    cn__session_write_message(s, x, m);
    cn_ws_shared_msg_unref(m);
}

void cn__session_revoke(struct cn__session *s, const struct cn_session_revoke *r)
{
    for (struct cn__session_sub *x = s->subs; x; x = x->next) {
        if (x->room_id != r->room_id || x->revoked)
            continue;
        if (s->state == CN__SESSION_OPEN)
            write_revoke_event(s, x, r);
        end_sub(s, x);
    }
    if (s->pending && !s->join_key && s->pending_room == r->room_id)
        s->pending_revoked = true;
    /* Last: a SEND that reaches the SEND path after this is checked in PostgreSQL,
     * where the membership is already gone. */
    forget_room(s, r->room_id);
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

void cn__session_user_event(struct cn__session *s, const struct cn_session_user_event *e)
{
    if (s->state != CN__SESSION_OPEN)
        return;
    /* Oldest subscription first is not promised: each gets the same body. The id is
     * the session's own counter, like an error's: unique on the connection. */
    for (struct cn__session_sub *x = s->subs; x; x = x->next) {
        if (!x->events)
            continue;
        char mid[64];
        snprintf(mid, sizeof mid, "%s-v%" PRIu64, s->id, ++s->next_msg);
        struct cn__session_hdr h[] = {
            {"subscription", x->id},
            {"destination", CN__SESSION_EVENTS_QUEUE},
            {"message-id", mid},
            {"content-type", "application/json"},
        };
        cn__session_write(s, CN_STOMP_MESSAGE, h, 4, e->body, e->body_len, false, 0);
    }
}
