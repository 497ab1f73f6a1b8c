/* The node's membership-revocation actor; see membership.h.
 *
 * State: the revocations this node made that still wait for acks (`pending`, by id;
 * ids count up from 1 per process, and the ack channel's random part keeps another
 * process's acks out). Each holds a reference to the actor waiting for its answer, the
 * PUBLISH replies still due (an event with more users than one message may carry goes
 * out in several), the nodes those replies counted, the acks so far and a deadline
 * timer. Everything is touched only by the actor's behaviour, except the counters
 * (relaxed atomics: they publish nothing). */
#include "actors/membership/membership.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/session/send_path.h"
#include "actors/session/session_directory.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/u64map.h"
#include "base/xmalloc.h"
#include "io/redis_client.h"
#include "proto/prom.h"
#include "proto/revoke_event.h"

enum { MB_REVOKE = 0x6601, MB_PUBSUB, MB_PUBLISHED, MB_DEADLINE, MB_CLOSE };

struct counters {
    atomic_uint_fast64_t revocations, remote, sessions_told, acks, timeouts, publish_fails,
        cache_drops, bad_events, waited_ms_sum, waited_count;
};

struct cn_membership {
    cn_runtime *rt;
    struct cn_redis *redis;
    struct cn_session_dir *sessions;
    struct cn_send_path *send;
    uint32_t wait_ms;
    char ack[CN_REVOKE_ACK_MAX + 1];
    cn_actor *actor; /* the owner's reference */
    bool closed;     /* owner thread */
    struct counters c;
};

/* One call of cn_membership_revoke on its way to the actor. */
struct revoke_msg {
    cn_msg hdr;         /* MB_REVOKE; free_fn drops reply_to when still held */
    cn_actor *reply_to; /* one reference, or NULL */
    uint32_t msg_type;
    uint64_t tag;
    uint64_t t0_ms;
    int64_t room_id;
    char kind[CN_REVOKE_KIND_MAX + 1];
    size_t n;
    int64_t users[];
};

struct id_msg {
    cn_msg hdr; /* MB_DEADLINE */
    uint64_t id;
};

struct pending {
    cn_actor *reply_to; /* one reference, or NULL */
    uint32_t msg_type;
    uint64_t tag;
    uint64_t t0_ms;
    unsigned replies_due; /* PUBLISH replies still to come */
    uint64_t nodes;       /* subscribers the PUBLISHes reached so far */
    uint64_t acks;
    uint64_t timer; /* the deadline's timer id, 0 none */
};

struct mstate {
    struct cn_membership *m;
    cn_actor *self;
    uint64_t next_id;
    struct cn_u64map pending; /* id -> struct pending */
    bool closed;
};

static void count(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed); /* relaxed: a count */
}

/* Sends the one answer of a revocation to reply_to (borrowed; NULL: nobody). */
static void answer(cn_actor *reply_to, uint32_t msg_type, uint64_t tag, uint64_t nodes,
                   uint64_t acks, bool timed_out, uint64_t waited_ms)
{
    if (!reply_to)
        return;
    struct cn_membership_done *d = cn_xcalloc(1, sizeof *d);
    cn_msg_init(&d->hdr, msg_type, NULL);
    d->tag = tag;
    d->nodes = nodes;
    d->acks = acks;
    d->timed_out = timed_out;
    d->waited_ms = waited_ms;
    cn_actor_send(reply_to, &d->hdr); /* -ESHUTDOWN: the asker is gone; fine */
}

/* Why a revocation is answered. */
enum end { END_DONE, END_DEADLINE, END_CLOSE };

/* Answers pending `id` (taken out of the map) and forgets it. */
static void finish(struct mstate *s, uint64_t id, enum end why)
{
    struct pending *p = cn_u64map_del(&s->pending, id);
    if (!p)
        return;
    struct cn_membership *m = s->m;
    if (p->timer && why != END_DEADLINE)
        cn_timer_cancel(m->rt, p->timer);
    uint64_t waited = cn_now_ms() - p->t0_ms;
    bool timed_out = why != END_DONE;
    if (why == END_DEADLINE) {
        count(&m->c.timeouts, 1);
        CN_WARN("membership",
                "revocation %" PRIu64 ": %" PRIu64 " of %" PRIu64
                " nodes acknowledged within %u ms; answering anyway (their caches expire "
                "within membership.cache_ttl_ms)",
                id, p->acks, p->nodes, m->wait_ms);
    }
    count(&m->c.waited_ms_sum, waited);
    count(&m->c.waited_count, 1);
    answer(p->reply_to, p->msg_type, p->tag, p->nodes, p->acks, timed_out, waited);
    if (p->reply_to)
        cn_actor_unref(p->reply_to);
    free(p);
}

static void check_done(struct mstate *s, uint64_t id)
{
    struct pending *p = cn_u64map_get(&s->pending, id);
    if (p && p->replies_due == 0 && p->acks >= p->nodes)
        finish(s, id, END_DONE);
}

/* 1 and 2 of membership.h: this node's sessions, then every node. */
static void on_revoke(struct mstate *s, struct revoke_msg *r)
{
    struct cn_membership *m = s->m;
    int64_t at_ms = cn_wall_ms();
    /* This node's sessions first, whatever becomes of Pub/Sub. */
    count(&m->c.sessions_told,
          cn_session_dir_revoke(m->sessions, r->room_id, r->users, r->n, r->kind, at_ms));
    count(&m->c.revocations, 1);
    uint64_t id = ++s->next_id;
    struct pending *p = cn_xcalloc(1, sizeof *p);
    p->reply_to = r->reply_to; /* the message's reference moves here */
    r->reply_to = NULL;
    p->msg_type = r->msg_type;
    p->tag = r->tag;
    p->t0_ms = r->t0_ms;
    cn_u64map_put(&s->pending, id, p);
    /* Every node (this one's own copy counts as its ack), in events of at most
     * CN_REVOKE_MAX_USERS users. */
    if (m->redis && !s->closed) {
        size_t left = r->n, at = 0;
        do {
            size_t k = left > CN_REVOKE_MAX_USERS ? CN_REVOKE_MAX_USERS : left;
            size_t len;
            char *ev = cn_revoke_event_render(id, m->ack, r->room_id, r->kind, at_ms, r->users + at,
                                              k, &len);
            if (ev) {
                const char *argv[] = {"PUBLISH", CN_REVOKE_CHANNEL, ev};
                size_t argl[] = {7, sizeof CN_REVOKE_CHANNEL - 1, len};
                if (cn_redis_command(m->redis, s->self, MB_PUBLISHED, id, 3, argv, argl) == 0)
                    p->replies_due++;
                free(ev);
            }
            at += k;
            left -= k;
        } while (left > 0);
    }
    cn_msg_free(&r->hdr);
    if (m->redis && !s->closed && p->replies_due == 0)
        count(&m->c.publish_fails, 1); /* defensive: the adapter refused the command */
    if (m->wait_ms == 0 || p->replies_due == 0) {
        /* Not asked to wait (membership.revoke_wait_ms = 0), or nothing went out. Late
         * PUBLISH replies and acks then find no entry and are dropped. */
        finish(s, id, END_DONE);
        return;
    }
    struct id_msg *t = cn_xmalloc(sizeof *t);
    cn_msg_init(&t->hdr, MB_DEADLINE, NULL);
    t->id = id;
    p->timer = cn_timer_after(m->rt, s->self, m->wait_ms, &t->hdr);
}

/* Redis answered a PUBLISH: the number of subscriber connections (nodes) it reached. */
static void on_published(struct mstate *s, struct cn_redis_reply *r)
{
    struct pending *p = cn_u64map_get(&s->pending, r->tag);
    if (p) {
        p->replies_due--;
        if (r->ok && cn_redis_kind(r->reply) == CN_REDIS_INTEGER && cn_redis_int(r->reply) > 0)
            p->nodes += (uint64_t)cn_redis_int(r->reply);
        else if (!r->ok)
            count(&s->m->c.publish_fails, 1);
        check_done(s, r->tag);
    }
    cn_msg_free(&r->hdr);
}

static void on_ack(struct mstate *s, uint64_t id)
{
    struct pending *p = cn_u64map_get(&s->pending, id);
    if (!p)
        return; /* answered already (deadline, or not waited for) */
    p->acks++;
    count(&s->m->c.acks, 1);
    check_done(s, id);
}

/* 3 of membership.h: another node's revocation (or this node's own copy). */
static void on_event(struct mstate *s, const char *payload, size_t len)
{
    struct cn_membership *m = s->m;
    struct cn_revoke_event ev;
    if (cn_revoke_event_parse(payload, len, &ev) != 0) {
        count(&m->c.bad_events, 1);
        CN_WARN("membership", "dropping a malformed event on %s", CN_REVOKE_CHANNEL);
        return;
    }
    if (strcmp(ev.ack, m->ack) == 0) {
        /* Ours: the local sessions were told before it was published. */
        on_ack(s, ev.id);
        return;
    }
    int64_t *users = cn_xcalloc(ev.nusers + 1, sizeof *users);
    cn_revoke_event_users(&ev, users);
    count(&m->c.sessions_told,
          cn_session_dir_revoke(m->sessions, ev.room_id, users, ev.nusers, ev.kind, ev.at_ms));
    free(users);
    count(&m->c.remote, 1);
    /* Every session concerned has the revocation in its mailbox: say so. */
    char ack[32];
    size_t alen = cn_revoke_ack_render(ack, ev.id);
    const char *argv[] = {"PUBLISH", ev.ack, ack};
    size_t argl[] = {7, strlen(ev.ack), alen};
    cn_redis_command(m->redis, NULL, 0, 0, 3, argv, argl);
}

/* Revocations published while this node was not listening are lost to it: drop every
 * cached membership of its sessions, so each is read again from PostgreSQL. */
static void drop_caches(struct mstate *s, const char *why)
{
    if (!s->m->send)
        return;
    cn_send_path_forget_all(s->m->send);
    count(&s->m->c.cache_drops, 1);
    CN_INFO("membership", "%s: every session's cached memberships dropped", why);
}

static void on_pubsub(struct mstate *s, struct cn_redis_pubsub *p)
{
    bool events = strcmp(p->channel, CN_REVOKE_CHANNEL) == 0;
    switch (p->kind) {
    case CN_REDIS_PUBSUB_MESSAGE:
        if (events) {
            on_event(s, p->payload, p->payload_len);
        } else {
            uint64_t id;
            if (cn_revoke_ack_parse(p->payload, p->payload_len, &id) == 0)
                on_ack(s, id);
            else
                count(&s->m->c.bad_events, 1);
        }
        break;
    case CN_REDIS_PUBSUB_SUBSCRIBED:
        /* Sessions may have looked memberships up before the channel was live. */
        if (events)
            drop_caches(s, "revocation channel subscribed");
        break;
    case CN_REDIS_PUBSUB_RESUBSCRIBED:
        if (events)
            drop_caches(s, "Redis subscriber connection back");
        break;
    }
    cn_msg_free(&p->hdr);
}

static void on_close(struct mstate *s)
{
    s->closed = true;
    /* No ack can come any more (the channels are gone): answer every waiting request
     * now, as not confirmed. */
    for (;;) {
        uint64_t id = 0;
        for (size_t i = 0; i < s->pending.cap && !id; i++)
            id = s->pending.slots[i].key;
        if (!id)
            break;
        finish(s, id, END_CLOSE);
    }
}

static void behaviour(cn_actor *self, void *state, cn_msg *msg)
{
    struct mstate *s = state;
    (void)self;
    switch (msg->type) {
    case MB_REVOKE:
        on_revoke(s, (struct revoke_msg *)msg);
        return;
    case MB_PUBSUB:
        on_pubsub(s, (struct cn_redis_pubsub *)msg);
        return;
    case MB_PUBLISHED:
        on_published(s, (struct cn_redis_reply *)msg);
        return;
    case MB_DEADLINE: {
        uint64_t id = ((struct id_msg *)msg)->id;
        struct pending *p = cn_u64map_get(&s->pending, id);
        if (p) {
            p->timer = 0; /* fired */
            finish(s, id, END_DEADLINE);
        }
        break;
    }
    case MB_CLOSE:
        on_close(s);
        break;
    default:
        break;
    }
    cn_msg_free(msg);
}

static void state_free(void *state)
{
    struct mstate *s = state;
    /* Runtime shutdown: nothing may be sent any more; the references go. */
    for (size_t i = 0; i < s->pending.cap; i++) {
        struct pending *p = s->pending.slots[i].key ? s->pending.slots[i].value : NULL;
        if (p && p->reply_to)
            cn_actor_unref(p->reply_to);
        free(p);
    }
    cn_u64map_free(&s->pending);
    free(s);
}

static void revoke_msg_free(cn_msg *msg)
{
    struct revoke_msg *r = (struct revoke_msg *)msg;
    if (r->reply_to) /* freed undelivered: the actor is stopped */
        cn_actor_unref(r->reply_to);
    free(r);
}

/* The ack channel: membership:ack:<node id, other bytes as '_'>:<16 random hex>. */
static void make_ack_channel(char out[CN_REVOKE_ACK_MAX + 1], const char *node_id)
{
    unsigned char rnd[8];
    randombytes_buf(rnd, sizeof rnd);
    char id[65];
    size_t n = 0;
    for (; node_id[n] && n < sizeof id - 1; n++) {
        char c = node_id[n];
        id[n] = cn_revoke_ack_channel_ok(&c, 1) ? c : '_';
    }
    id[n] = '\0';
    snprintf(out, CN_REVOKE_ACK_MAX + 1, "membership:ack:%s:%02x%02x%02x%02x%02x%02x%02x%02x", id,
             rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
}

struct cn_membership *cn_membership_start(const struct cn_membership_opts *o, char *err,
                                          size_t errlen)
{
    if (!o->rt || !o->node_id || !o->node_id[0] || strlen(o->node_id) > 64) {
        snprintf(err, errlen, "membership: a runtime and a node id of 1..64 bytes are needed");
        return NULL;
    }
    struct cn_membership *m = cn_xcalloc(1, sizeof *m);
    m->rt = o->rt;
    m->redis = o->redis;
    m->sessions = o->sessions;
    m->send = o->send;
    m->wait_ms = o->wait_ms;
    make_ack_channel(m->ack, o->node_id);
    struct mstate *s = cn_xcalloc(1, sizeof *s);
    s->m = m;
    cn_u64map_init(&s->pending);
    m->actor = cn_actor_spawn(o->rt, behaviour, s, state_free);
    s->self = m->actor;
    if (m->redis) {
        int rc = cn_redis_subscribe(m->redis, CN_REVOKE_CHANNEL, m->actor, MB_PUBSUB);
        if (rc == 0)
            rc = cn_redis_subscribe(m->redis, m->ack, m->actor, MB_PUBSUB);
        if (rc != 0) {
            snprintf(err, errlen, "membership: cannot subscribe: %s", strerror(-rc));
            cn_actor_stop(m->actor);
            cn_actor_unref(m->actor);
            free(m);
            return NULL;
        }
    }
    return m;
}

void cn_membership_revoke(struct cn_membership *m, int64_t room_id, const int64_t *users, size_t n,
                          const char *kind, cn_actor *reply_to, uint32_t msg_type, uint64_t tag)
{
    size_t klen = kind ? strlen(kind) : 0;
    bool ok = m && room_id > 0 && klen > 0 && klen <= CN_REVOKE_KIND_MAX && (n == 0 || users);
    for (size_t i = 0; ok && i < klen; i++)
        ok = kind[i] >= 'a' && kind[i] <= 'z';
    for (size_t i = 0; ok && i < n; i++)
        ok = users[i] > 0;
    if (!ok) { /* defensive: the REST actors pass ids they read from PostgreSQL */
        CN_WARN("membership", "refusing a revocation of room %" PRId64 " (bad arguments)", room_id);
        answer(reply_to, msg_type, tag, 0, 0, false, 0);
        return;
    }
    struct revoke_msg *r = cn_xcalloc(1, sizeof *r + n * sizeof r->users[0]);
    cn_msg_init(&r->hdr, MB_REVOKE, revoke_msg_free);
    if (reply_to)
        cn_actor_ref(reply_to);
    r->reply_to = reply_to;
    r->msg_type = msg_type;
    r->tag = tag;
    r->t0_ms = cn_now_ms();
    r->room_id = room_id;
    memcpy(r->kind, kind, klen + 1);
    r->n = n;
    if (n)
        memcpy(r->users, users, n * sizeof users[0]);
    if (cn_actor_send(m->actor, &r->hdr) != 0) /* stopped: r freed, its reference dropped */
        answer(reply_to, msg_type, tag, 0, 0, false, 0);
}

const char *cn_membership_ack_channel(const struct cn_membership *m)
{
    return m->ack;
}

void cn_membership_close(struct cn_membership *m)
{
    if (!m || m->closed)
        return;
    m->closed = true;
    if (m->redis) {
        cn_redis_unsubscribe(m->redis, CN_REVOKE_CHANNEL, m->actor);
        cn_redis_unsubscribe(m->redis, m->ack, m->actor);
    }
    cn_msg *c = cn_xmalloc(sizeof *c);
    cn_msg_init(c, MB_CLOSE, NULL);
    cn_actor_send(m->actor, c);
}

void cn_membership_free(struct cn_membership *m)
{
    if (!m)
        return;
    cn_actor_unref(m->actor);
    free(m);
}

void cn_membership_stats(struct cn_membership *m, struct cn_membership_stats *out)
{
#define LOAD(f) out->f = atomic_load_explicit(&m->c.f, memory_order_relaxed)
    LOAD(revocations);
    LOAD(remote);
    LOAD(sessions_told);
    LOAD(acks);
    LOAD(timeouts);
    LOAD(publish_fails);
    LOAD(cache_drops);
    LOAD(bad_events);
    LOAD(waited_ms_sum);
    LOAD(waited_count);
#undef LOAD
}

void cn_membership_metrics_render(struct cn_strbuf *b, struct cn_membership *m)
{
    if (!m)
        return;
    struct cn_membership_stats st;
    cn_membership_stats(m, &st);
    cn_prom_counter(b, "chat_membership_revocations_total",
                    "membership revocations made on this node (leave, removal, closed room)",
                    st.revocations);
    cn_prom_counter(b, "chat_membership_remote_revocations_total",
                    "other nodes' revocations applied to this node's sessions", st.remote);
    cn_prom_counter(b, "chat_membership_sessions_told_total",
                    "local STOMP sessions told that a membership ended", st.sessions_told);
    cn_prom_counter(b, "chat_membership_acks_total",
                    "acknowledgements received for this node's revocations", st.acks);
    cn_prom_counter(b, "chat_membership_ack_timeouts_total",
                    "revocations answered at membership.revoke_wait_ms without every node's ack",
                    st.timeouts);
    cn_prom_counter(b, "chat_membership_publish_failures_total",
                    "revocation events Redis did not take (answered at once)", st.publish_fails);
    cn_prom_counter(b, "chat_membership_cache_drops_total",
                    "times every session's cached memberships were dropped (revocation channel "
                    "subscribed or resubscribed)",
                    st.cache_drops);
    cn_prom_counter(b, "chat_membership_bad_events_total",
                    "malformed messages on the revocation and ack channels", st.bad_events);
    cn_prom_family(b, "chat_membership_revoke_wait_seconds", "summary",
                   "time from a revocation to its answer (every node acknowledged, or the wait "
                   "passed)");
    cn_prom_sample_f64(b, "chat_membership_revoke_wait_seconds_sum", NULL,
                       (double)st.waited_ms_sum / 1000.0);
    cn_prom_sample_u64(b, "chat_membership_revoke_wait_seconds_count", NULL, st.waited_count);
}
