/* The directory of open STOMP sessions; see session_directory.h. */
#include "actors/session/session_directory.h"

#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/u64map.h"
#include "base/xmalloc.h"

struct sub {
    uint64_t key;
    int64_t room_id;
};

struct entry {
    cn_actor *actor;            /* our reference */
    struct entry *next_of_user; /* the user's next entry (users index); under mu */
    char id[40];
    int64_t user_id;
    int64_t connected_wall_ms;
    char client_addr[64];
    bool drain_told;
    struct sub *subs;
    size_t nsubs, capsubs;
};

struct cn_session_dir {
    pthread_mutex_t mu;
    struct cn_u64map sessions; /* (uintptr_t)actor -> struct entry; under mu */
    struct cn_u64map users;    /* user id -> its first entry (next_of_user); under mu */
    struct cn_session_room_hooks hooks;
    const struct cn_session_room_hooks *inner;
};

static uint64_t key_of(cn_actor *a)
{
    return (uint64_t)(uintptr_t)a;
}

static void on_subscribed(void *ctx, int64_t room_id, cn_actor *session, uint64_t sub_key,
                          int64_t resume_after)
{
    struct cn_session_dir *d = ctx;
    pthread_mutex_lock(&d->mu);
    struct entry *e = cn_u64map_get(&d->sessions, key_of(session));
    if (e) {
        if (e->nsubs == e->capsubs) {
            e->capsubs = e->capsubs ? e->capsubs * 2 : 4;
            e->subs = cn_xrealloc(e->subs, e->capsubs * sizeof *e->subs);
        }
        e->subs[e->nsubs++] = (struct sub){sub_key, room_id};
    }
    pthread_mutex_unlock(&d->mu);
    if (d->inner && d->inner->subscribed)
        d->inner->subscribed(d->inner->ctx, room_id, session, sub_key, resume_after);
}

static void on_unsubscribed(void *ctx, int64_t room_id, cn_actor *session, uint64_t sub_key)
{
    struct cn_session_dir *d = ctx;
    pthread_mutex_lock(&d->mu);
    struct entry *e = cn_u64map_get(&d->sessions, key_of(session));
    for (size_t i = 0; e && i < e->nsubs; i++)
        if (e->subs[i].key == sub_key) {
            e->subs[i] = e->subs[--e->nsubs];
            break;
        }
    pthread_mutex_unlock(&d->mu);
    if (d->inner && d->inner->unsubscribed)
        d->inner->unsubscribed(d->inner->ctx, room_id, session, sub_key);
}

struct cn_session_dir *cn_session_dir_new(void)
{
    struct cn_session_dir *d = cn_xcalloc(1, sizeof *d);
    pthread_mutex_init(&d->mu, NULL);
    cn_u64map_init(&d->sessions);
    cn_u64map_init(&d->users);
    d->hooks = (struct cn_session_room_hooks){d, on_subscribed, on_unsubscribed};
    return d;
}

const struct cn_session_room_hooks *
cn_session_dir_room_hooks(struct cn_session_dir *d, const struct cn_session_room_hooks *inner)
{
    d->inner = inner;
    return &d->hooks;
}

void cn_session_dir_opened(struct cn_session_dir *d, cn_actor *session, const char *id,
                           int64_t user_id, const char *client_addr)
{
    if (!d)
        return;
    struct entry *e = cn_xcalloc(1, sizeof *e);
    cn_actor_ref(session);
    e->actor = session;
    strncpy(e->id, id, sizeof e->id - 1);
    e->user_id = user_id;
    e->connected_wall_ms = cn_wall_ms();
    if (client_addr)
        snprintf(e->client_addr, sizeof e->client_addr, "%s", client_addr);
    pthread_mutex_lock(&d->mu);
    cn_u64map_put(&d->sessions, key_of(session), e);
    if (user_id > 0) {
        e->next_of_user = cn_u64map_get(&d->users, (uint64_t)user_id);
        cn_u64map_put(&d->users, (uint64_t)user_id, e);
    }
    pthread_mutex_unlock(&d->mu);
}

/* Takes e out of its user's list. Under mu. */
static void unlink_user(struct cn_session_dir *d, struct entry *e)
{
    if (e->user_id <= 0)
        return;
    struct entry *first = cn_u64map_get(&d->users, (uint64_t)e->user_id);
    if (first == e) {
        if (e->next_of_user)
            cn_u64map_put(&d->users, (uint64_t)e->user_id, e->next_of_user);
        else
            cn_u64map_del(&d->users, (uint64_t)e->user_id);
        return;
    }
    for (struct entry *x = first; x; x = x->next_of_user)
        if (x->next_of_user == e) {
            x->next_of_user = e->next_of_user;
            return;
        }
}

static void entry_free(struct entry *e)
{
    cn_actor_unref(e->actor);
    free(e->subs);
    free(e);
}

void cn_session_dir_closed(struct cn_session_dir *d, cn_actor *session)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    struct entry *e = cn_u64map_del(&d->sessions, key_of(session));
    if (e)
        unlink_user(d, e);
    pthread_mutex_unlock(&d->mu);
    if (e)
        entry_free(e);
}

size_t cn_session_dir_count(struct cn_session_dir *d)
{
    pthread_mutex_lock(&d->mu);
    size_t n = d->sessions.len;
    pthread_mutex_unlock(&d->mu);
    return n;
}

static bool has_room(const struct entry *e, int64_t room_id)
{
    for (size_t i = 0; i < e->nsubs; i++)
        if (e->subs[i].room_id == room_id)
            return true;
    return false;
}

size_t cn_session_dir_list(struct cn_session_dir *d, int64_t user_id, int64_t room_id,
                           struct cn_session_info **out)
{
    pthread_mutex_lock(&d->mu);
    struct cn_session_info *list = cn_xcalloc(d->sessions.len + 1, sizeof *list);
    size_t n = 0;
    for (size_t i = 0; i < d->sessions.cap; i++) {
        const struct entry *e = d->sessions.slots[i].key ? d->sessions.slots[i].value : NULL;
        if (!e || (user_id && e->user_id != user_id) || (room_id && !has_room(e, room_id)))
            continue;
        struct cn_session_info *s = &list[n++];
        memcpy(s->id, e->id, sizeof s->id);
        s->user_id = e->user_id;
        s->connected_wall_ms = e->connected_wall_ms;
        memcpy(s->client_addr, e->client_addr, sizeof s->client_addr);
        struct cn_actor_stats st;
        cn_actor_stats(e->actor, &st);
        s->mailbox_depth = st.mailbox_depth;
        s->mailbox_hwm = st.mailbox_hwm;
        s->messages = st.messages;
        s->nrooms = e->nsubs;
        s->rooms = cn_xcalloc(e->nsubs + 1, sizeof *s->rooms);
        for (size_t j = 0; j < e->nsubs; j++)
            s->rooms[j] = e->subs[j].room_id;
    }
    pthread_mutex_unlock(&d->mu);
    *out = list;
    return n;
}

void cn_session_dir_list_free(struct cn_session_info *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        free(list[i].rooms);
    free(list);
}

static int by_subscriptions(const void *a, const void *b)
{
    const struct cn_room_info *x = a, *y = b;
    if (x->subscriptions != y->subscriptions)
        return x->subscriptions < y->subscriptions ? 1 : -1;
    return x->room_id < y->room_id ? -1 : x->room_id > y->room_id;
}

size_t cn_session_dir_rooms(struct cn_session_dir *d, size_t top, struct cn_room_info **out)
{
    struct cn_u64map idx; /* room id -> index + 1 into rooms */
    cn_u64map_init(&idx);
    struct cn_room_info *rooms = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < d->sessions.cap; i++) {
        const struct entry *e = d->sessions.slots[i].key ? d->sessions.slots[i].value : NULL;
        for (size_t j = 0; e && j < e->nsubs; j++) {
            int64_t room = e->subs[j].room_id;
            uintptr_t at = (uintptr_t)cn_u64map_get(&idx, (uint64_t)room);
            if (!at) {
                if (n == cap) {
                    cap = cap ? cap * 2 : 16;
                    rooms = cn_xrealloc(rooms, cap * sizeof *rooms);
                }
                rooms[n] = (struct cn_room_info){room, 0, 0};
                at = ++n;
                cn_u64map_put(&idx, (uint64_t)room, (void *)at);
            }
            rooms[at - 1].subscriptions++;
            /* A session counts once per room: only its first subscription to it. */
            bool first = true;
            for (size_t k = 0; k < j; k++)
                if (e->subs[k].room_id == room)
                    first = false;
            if (first)
                rooms[at - 1].sessions++;
        }
    }
    pthread_mutex_unlock(&d->mu);
    cn_u64map_free(&idx);
    if (n)
        qsort(rooms, n, sizeof *rooms, by_subscriptions);
    if (top && n > top)
        n = top;
    *out = rooms;
    return n;
}

static void tell(struct entry *e, int64_t reconnect_after_ms, const char *reason)
{
    size_t len = strlen(reason);
    struct cn_session_kick *k = cn_xmalloc(sizeof *k + len + 1);
    cn_msg_init(&k->hdr, CN_SESSION_KICK, NULL);
    k->reconnect_after_ms = reconnect_after_ms;
    memcpy(k->reason, reason, len + 1);
    cn_actor_send(e->actor, &k->hdr); /* a session already stopping drops it */
}

size_t cn_session_dir_kick(struct cn_session_dir *d, const char *id, int64_t user_id,
                           const char *reason)
{
    size_t n = 0;
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < d->sessions.cap; i++) {
        struct entry *e = d->sessions.slots[i].key ? d->sessions.slots[i].value : NULL;
        if (!e || (id ? strcmp(e->id, id) != 0 : e->user_id != user_id))
            continue;
        tell(e, -1, reason ? reason : "");
        n++;
    }
    pthread_mutex_unlock(&d->mu);
    return n;
}

static void tell_revoke(struct entry *e, int64_t room_id, const char *kind, int64_t at_ms)
{
    struct cn_session_revoke *r = cn_xcalloc(1, sizeof *r);
    cn_msg_init(&r->hdr, CN_SESSION_REVOKE, NULL);
    r->room_id = room_id;
    r->at_ms = at_ms;
    strncpy(r->kind, kind, sizeof r->kind - 1);
    cn_actor_send(e->actor, &r->hdr); /* a session already stopping drops it */
}

size_t cn_session_dir_revoke(struct cn_session_dir *d, int64_t room_id, const int64_t *users,
                             size_t n, const char *kind, int64_t at_ms)
{
    if (!d)
        return 0;
    size_t told = 0;
    /* Under the lock, so that a session is either told or registers after this (then
     * it has looked nothing up before the membership ended). Each send is one push. */
    pthread_mutex_lock(&d->mu);
    if (n == 0) {
        for (size_t i = 0; i < d->sessions.cap; i++) {
            struct entry *e = d->sessions.slots[i].key ? d->sessions.slots[i].value : NULL;
            if (e) {
                tell_revoke(e, room_id, kind, at_ms);
                told++;
            }
        }
    }
    for (size_t u = 0; u < n; u++) {
        if (users[u] <= 0)
            continue;
        /* A user named twice is told twice; the session's second look finds nothing. */
        for (struct entry *e = cn_u64map_get(&d->users, (uint64_t)users[u]); e;
             e = e->next_of_user) {
            tell_revoke(e, room_id, kind, at_ms);
            told++;
        }
    }
    pthread_mutex_unlock(&d->mu);
    return told;
}

size_t cn_session_dir_user_event(struct cn_session_dir *d, const int64_t *users, size_t n,
                                 const char *body, size_t len)
{
    if (!d)
        return 0;
    size_t told = 0;
    pthread_mutex_lock(&d->mu);
    for (size_t u = 0; u < n; u++) {
        if (users[u] <= 0)
            continue;
        for (struct entry *e = cn_u64map_get(&d->users, (uint64_t)users[u]); e;
             e = e->next_of_user) {
            struct cn_session_user_event *m = cn_xmalloc(sizeof *m + len);
            cn_msg_init(&m->hdr, CN_SESSION_USER_EVENT, NULL);
            m->body_len = len;
            memcpy(m->body, body, len);
            cn_actor_send(e->actor, &m->hdr); /* a session already stopping drops it */
            told++;
        }
    }
    pthread_mutex_unlock(&d->mu);
    return told;
}

size_t cn_session_dir_drain(struct cn_session_dir *d, size_t batch, uint32_t jitter_ms)
{
    size_t n = 0;
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < d->sessions.cap && n < batch; i++) {
        struct entry *e = d->sessions.slots[i].key ? d->sessions.slots[i].value : NULL;
        if (!e || e->drain_told)
            continue;
        e->drain_told = true;
        /* Spread the reconnects so that the other nodes do not take every client of
         * this one in the same instant. */
        tell(e, (int64_t)randombytes_uniform(jitter_ms + 1), "");
        n++;
    }
    pthread_mutex_unlock(&d->mu);
    return n;
}

void cn_session_dir_free(struct cn_session_dir *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->sessions.cap; i++)
        if (d->sessions.slots[i].key)
            entry_free(d->sessions.slots[i].value);
    cn_u64map_free(&d->sessions);
    cn_u64map_free(&d->users);
    pthread_mutex_destroy(&d->mu);
    free(d);
}
