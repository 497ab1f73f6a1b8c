/* The node's per-user live events; see user_events.h. The actor only receives (the
 * Redis adapter takes commands from any thread, so publishing needs no actor); its
 * state is the shared struct's counters (relaxed atomics: they publish nothing). */
#include "actors/user_events/user_events.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/session/session_directory.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "io/redis_client.h"
#include "proto/prom.h"

enum { UE_PUBSUB = 0x6701 };

struct counters {
    atomic_uint_fast64_t published, publish_fails, capped, received, delivered, bad_events;
};

struct cn_user_events {
    struct cn_redis *redis;
    struct cn_session_dir *sessions;
    cn_actor *actor; /* the owner's reference */
    bool closed;     /* owner thread */
    struct counters c;
};

static void count(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* One line's recipients on this node. */
static void deliver(struct cn_user_events *m, const struct cn_user_event *ev, const int64_t *users,
                    size_t n)
{
    char body[CN_USER_EVENT_JSON_MAX];
    size_t len = cn_user_event_json(ev, body);
    count(&m->c.delivered, cn_session_dir_user_event(m->sessions, users, n, body, len));
}

static void on_line(struct cn_user_events *m, const char *payload, size_t len)
{
    struct cn_user_event ev;
    if (cn_user_event_parse(payload, len, &ev) != 0) {
        count(&m->c.bad_events, 1);
        CN_WARN("user_events", "dropping a malformed event on %s", CN_USER_EVENT_CHANNEL);
        return;
    }
    count(&m->c.received, 1);
    int64_t users[CN_USER_EVENT_MAX_USERS];
    cn_user_event_users(&ev, users);
    deliver(m, &ev, users, ev.nusers);
}

static void behaviour(cn_actor *self, void *state, cn_msg *msg)
{
    struct cn_user_events *m = state;
    (void)self;
    if (msg->type == UE_PUBSUB) {
        struct cn_redis_pubsub *p = (struct cn_redis_pubsub *)msg;
        /* SUBSCRIBED / RESUBSCRIBED: events sent meanwhile are lost, which the
         * contract allows (clients refetch on reconnect); nothing to catch up. */
        if (p->kind == CN_REDIS_PUBSUB_MESSAGE)
            on_line(m, p->payload, p->payload_len);
    }
    cn_msg_free(msg);
}

struct cn_user_events *cn_user_events_start(const struct cn_user_events_opts *o, char *err,
                                            size_t errlen)
{
    if (!o->rt) {
        snprintf(err, errlen, "user_events: a runtime is needed");
        return NULL;
    }
    struct cn_user_events *m = cn_xcalloc(1, sizeof *m);
    m->redis = o->redis;
    m->sessions = o->sessions;
    m->actor = cn_actor_spawn(o->rt, behaviour, m, NULL);
    if (m->redis) {
        int rc = cn_redis_subscribe(m->redis, CN_USER_EVENT_CHANNEL, m->actor, UE_PUBSUB);
        if (rc != 0) {
            snprintf(err, errlen, "user_events: cannot subscribe: %s", strerror(-rc));
            cn_actor_stop(m->actor);
            cn_actor_unref(m->actor);
            free(m);
            return NULL;
        }
    }
    return m;
}

void cn_user_events_publish(struct cn_user_events *m, const struct cn_user_event *ev,
                            const int64_t *users, size_t n)
{
    if (!m || n == 0)
        return;
    if (ev->type == CN_UEV_MEMBERS_CHANGED && n > CN_USER_EVENTS_MAX_FANOUT) {
        count(&m->c.capped, 1);
        return;
    }
    for (size_t at = 0; at < n;) {
        /* The next line: up to MAX valid ids. */
        int64_t line[CN_USER_EVENT_MAX_USERS];
        size_t k = 0;
        for (; at < n && k < CN_USER_EVENT_MAX_USERS; at++)
            if (users[at] > 0)
                line[k++] = users[at];
        if (k == 0)
            break;
        if (!m->redis) {
            deliver(m, ev, line, k); /* a node without Redis: its own sessions only */
            count(&m->c.published, 1);
            continue;
        }
        size_t len;
        char *text = cn_user_event_render(ev, line, k, &len);
        if (!text) { /* defensive: the REST steps pass ids read from PostgreSQL */
            count(&m->c.bad_events, 1);
            continue;
        }
        const char *argv[] = {"PUBLISH", CN_USER_EVENT_CHANNEL, text};
        size_t argl[] = {7, sizeof CN_USER_EVENT_CHANNEL - 1, len};
        if (cn_redis_command(m->redis, NULL, 0, 0, 3, argv, argl) == 0)
            count(&m->c.published, 1);
        else
            count(&m->c.publish_fails, 1);
        free(text);
    }
}

void cn_user_events_close(struct cn_user_events *m)
{
    if (!m || m->closed)
        return;
    m->closed = true;
    if (m->redis)
        cn_redis_unsubscribe(m->redis, CN_USER_EVENT_CHANNEL, m->actor);
}

void cn_user_events_free(struct cn_user_events *m)
{
    if (!m)
        return;
    cn_actor_unref(m->actor);
    free(m);
}

void cn_user_events_stats(struct cn_user_events *m, struct cn_user_events_stats *out)
{
#define LOAD(f) out->f = atomic_load_explicit(&m->c.f, memory_order_relaxed)
    LOAD(published);
    LOAD(publish_fails);
    LOAD(capped);
    LOAD(received);
    LOAD(delivered);
    LOAD(bad_events);
#undef LOAD
}

void cn_user_events_metrics_render(struct cn_strbuf *b, struct cn_user_events *m)
{
    if (!m)
        return;
    struct cn_user_events_stats st;
    cn_user_events_stats(m, &st);
    cn_prom_counter(b, "chat_user_events_published_total",
                    "per-user event lines published by this node (ROOM_ADDED, ROOM_REMOVED, "
                    "MEMBERS_CHANGED)",
                    st.published);
    cn_prom_counter(b, "chat_user_events_publish_failures_total",
                    "per-user event lines the Redis adapter refused (lost)", st.publish_fails);
    cn_prom_counter(b, "chat_user_events_capped_total",
                    "MEMBERS_CHANGED events not sent: the room has too many members", st.capped);
    cn_prom_counter(b, "chat_user_events_received_total",
                    "per-user event lines received from any node", st.received);
    cn_prom_counter(b, "chat_user_events_delivered_total",
                    "per-user events handed to this node's STOMP sessions", st.delivered);
    cn_prom_counter(b, "chat_user_events_bad_events_total",
                    "malformed lines on the per-user event channel", st.bad_events);
}
