/* The room registry (see room_registry.h for why a mutex). */
#include "actors/room/room_registry.h"

#include <pthread.h>
#include <stdlib.h>

#include "base/u64map.h"
#include "base/xmalloc.h"

struct entry {
    cn_actor *actor;                 /* our reference */
    size_t subs;                     /* subscriptions joined and not yet left */
    const struct cn_room_rate *rate; /* in the actor's state: alive until our STOP */
};

struct cn_room_registry {
    cn_runtime *rt;
    struct cn_room_deps deps;
    struct cn_session_room_hooks hooks;
    pthread_mutex_t mu;
    struct cn_u64map rooms; /* room id -> struct entry; under mu */
};

static void on_subscribed(void *ctx, int64_t room_id, cn_actor *session, uint64_t sub_key,
                          int64_t resume_after)
{
    struct cn_room_registry *r = ctx;
    pthread_mutex_lock(&r->mu);
    struct entry *e = cn_u64map_get(&r->rooms, (uint64_t)room_id);
    if (!e) {
        e = cn_xcalloc(1, sizeof *e);
        e->actor = cn_room_actor_spawn(r->rt, &r->deps, room_id, &e->rate);
        cn_u64map_put(&r->rooms, (uint64_t)room_id, e);
    }
    e->subs++;
    cn_actor_send(e->actor, cn_room_member_msg(CN_ROOM_JOIN, session, sub_key, resume_after));
    pthread_mutex_unlock(&r->mu);
}

static void on_unsubscribed(void *ctx, int64_t room_id, cn_actor *session, uint64_t sub_key)
{
    struct cn_room_registry *r = ctx;
    pthread_mutex_lock(&r->mu);
    struct entry *e = cn_u64map_get(&r->rooms, (uint64_t)room_id);
    if (e) { /* defensive: every unsubscribed follows a subscribed */
        cn_actor_send(e->actor, cn_room_member_msg(CN_ROOM_LEAVE, session, sub_key, -1));
        if (--e->subs == 0) {
            cn_msg *stop = cn_xcalloc(1, sizeof *stop);
            stop->type = CN_ROOM_STOP;
            cn_actor_send(e->actor, stop);
            cn_u64map_del(&r->rooms, (uint64_t)room_id);
            cn_actor_unref(e->actor);
            free(e);
        }
    }
    pthread_mutex_unlock(&r->mu);
}

struct cn_room_registry *cn_room_registry_new(cn_runtime *rt, const struct cn_room_deps *deps)
{
    struct cn_room_registry *r = cn_xcalloc(1, sizeof *r);
    r->rt = rt;
    r->deps = *deps;
    r->hooks = (struct cn_session_room_hooks){r, on_subscribed, on_unsubscribed};
    pthread_mutex_init(&r->mu, NULL);
    cn_u64map_init(&r->rooms);
    return r;
}

const struct cn_session_room_hooks *cn_room_registry_hooks(struct cn_room_registry *r)
{
    return &r->hooks;
}

size_t cn_room_registry_count(struct cn_room_registry *r)
{
    pthread_mutex_lock(&r->mu);
    size_t n = r->rooms.len;
    pthread_mutex_unlock(&r->mu);
    return n;
}

size_t cn_room_registry_rates(struct cn_room_registry *r, int64_t now_s,
                              struct cn_room_rate_info **out)
{
    pthread_mutex_lock(&r->mu);
    /* Under mu: an entry's STOP is sent only as it leaves the map, so every rate
     * read here is in a live actor's state. */
    struct cn_room_rate_info *list = cn_xcalloc(r->rooms.len + 1, sizeof *list);
    size_t n = 0;
    for (size_t i = 0; i < r->rooms.cap; i++) {
        struct entry *e = r->rooms.slots[i].key ? r->rooms.slots[i].value : NULL;
        if (e)
            list[n++] = (struct cn_room_rate_info){(int64_t)r->rooms.slots[i].key,
                                                   cn_room_rate_sum(e->rate, now_s)};
    }
    pthread_mutex_unlock(&r->mu);
    *out = list;
    return n;
}

void cn_room_registry_free(struct cn_room_registry *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->rooms.cap; i++) {
        struct entry *e = r->rooms.slots[i].key ? r->rooms.slots[i].value : NULL;
        if (e) {
            cn_actor_unref(e->actor);
            free(e);
        }
    }
    cn_u64map_free(&r->rooms);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
