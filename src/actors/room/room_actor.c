/* The room actor (see room_actor.h): subscribers, live delivery, and when to catch
 * up: the room's gap repair and each resuming subscription's catch-up read through
 * room_catchup.h, which this file drives with the Redis and PostgreSQL replies. */
#include "actors/room/room_actor.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "proto/broadcast_envelope.h"
#include "actors/room/room_catchup.h"
#include "actors/session/session_seams.h"

/* Message types of the actor's own mail. The replies of the catch-up reads carry a
 * tag: 0 for the gap repair's, else the catch-up id of a member. */
#define ROOM_PUBSUB 0x6310
#define ROOM_WINDOW 0x6311
#define ROOM_PG     0x6312
#define ROOM_WAIT   0x6313 /* a reader's wait for PostgreSQL ended (room_catchup.h) */

#define CU_MAX_ROUND 3 /* window reads per catch-up when live messages show a hole */

/* A live message held for a subscription that is still catching up. */
struct cu_item {
    struct cu_item *next;
    int64_t offset, prev; /* prev -2: not known (a PostgreSQL row of a repair) */
    struct cn_ws_shared_msg *m;
};

struct member {
    cn_actor *session; /* our reference */
    uint64_t sub_key;
    int64_t floor; /* offsets at or below were given to it (or skipped by its resume) */
    uint64_t cu;   /* catch-up id while it catches up (resume), else 0 */
    int cu_rounds; /* window reads of this catch-up */
    struct cn_room_catchup reader; /* its catch-up's reads */
    struct cu_item *q, *q_tail;    /* live messages meanwhile, in order */
};

struct room {
    int64_t id;
    struct cn_room_deps deps;
    char channel[32];
    char window[48];
    char destination[48];
    struct cn_room_store store; /* where the readers find the room's messages */
    struct member *members;
    size_t nmembers, cap;
    int64_t last;                  /* offset delivered last; -1 before the first */
    int repairing;                 /* the repair's read is out */
    int trust_next;                /* after a repair, accept the next envelope's prev as is */
    struct cn_room_catchup repair; /* the gap repair's reads */
    struct cn_room_catchup_row *pending, *pending_tail; /* newer envelopes, in arrival order */
    uint64_t next_cu;                                   /* catch-up ids */
    int live;                 /* Redis confirmed the channel: joins answered at once */
    struct cn_room_rate rate; /* messages delivered, per second (admin: rooms --sort rate) */
};

/* Frees a member message, dropping its session reference when it still holds
 * one (a message freed undelivered by a stopped room). */
static void member_msg_free(cn_msg *hdr)
{
    struct cn_room_member_msg *m = (struct cn_room_member_msg *)hdr;
    if (m->session)
        cn_actor_unref(m->session);
    free(m);
}

cn_msg *cn_room_member_msg(uint32_t type, cn_actor *session, uint64_t sub_key, int64_t resume_after)
{
    struct cn_room_member_msg *m = cn_xcalloc(1, sizeof *m);
    cn_msg_init(&m->hdr, type, member_msg_free);
    cn_actor_ref(session);
    m->session = session;
    m->sub_key = sub_key;
    m->resume_after = resume_after;
    return &m->hdr;
}

static void free_queue(struct cu_item *q)
{
    while (q) {
        struct cu_item *n = q->next;
        cn_ws_shared_msg_unref(q->m);
        free(q);
        q = n;
    }
}

/* Drops what a member holds besides its session reference. */
static void member_clear(struct member *mb)
{
    free_queue(mb->q);
    mb->q = mb->q_tail = NULL;
    cn_room_catchup_clear(&mb->reader);
    mb->cu = 0;
}

static void room_free(void *st)
{
    struct room *r = st;
    for (size_t i = 0; i < r->nmembers; i++) {
        member_clear(&r->members[i]);
        cn_actor_unref(r->members[i].session);
    }
    free(r->members);
    cn_room_catchup_rows_free(r->pending);
    cn_room_catchup_clear(&r->repair);
    cn_fanout_add(&r->deps.counters->rooms_open, (uint64_t)-1);
    free(r);
}

static struct cn_ws_shared_msg *shared(struct room *r, const char *key, const char *body,
                                       size_t body_len)
{
    struct cn_stomp_message_fields f = {
        .destination = r->destination,
        .message_id = key,
        .content_type = "application/json",
        .body = body,
        .body_len = body_len,
    };
    return cn_ws_shared_msg_new(&f);
}

/* Renders the shared tail once and queues it to every live subscription above
 * whose floor it is; a subscription still catching up holds it until its
 * catch-up is delivered. ctx: the room. prev: the envelope's previous offset, -2
 * unknown. Also what the gap repair's reader gives (cn_room_catchup_give_fn). */
static void deliver(void *ctx, int64_t offset, int64_t prev, const char *key, const char *body,
                    size_t body_len)
{
    struct room *r = ctx;
    r->last = offset;
    cn_room_rate_add(&r->rate, cn_wall_ms() / 1000, 1);
    if (r->nmembers == 0)
        return;
    struct cn_ws_shared_msg *m = shared(r, key, body, body_len);
    m->born_ns = cn_now_ns(); /* timed to each subscriber's socket write */
    m->latency = &r->deps.counters->deliver;
    uint64_t n = 0;
    for (size_t i = 0; i < r->nmembers; i++) {
        struct member *mb = &r->members[i];
        if (mb->cu) {
            struct cu_item *it = cn_xmalloc(sizeof *it);
            *it = (struct cu_item){NULL, offset, prev, m};
            cn_ws_shared_msg_ref(m);
            if (mb->q_tail)
                mb->q_tail->next = it;
            else
                mb->q = it;
            mb->q_tail = it;
        } else if (offset > mb->floor) {
            mb->floor = offset;
            cn_ws_shared_msg_ref(m);
            cn_session_deliver(mb->session, mb->sub_key, m);
            n++;
        }
    }
    cn_ws_shared_msg_unref(m);
    cn_fanout_add(&r->deps.counters->delivered, n);
}

/* ---- Gap repair ----
 *
 * The room's reader (CN_ROOM_CATCHUP_REPAIR) reads what follows the last offset
 * delivered and hands it to deliver(); envelopes that arrive meanwhile wait in
 * `pending`, and the oldest of them tells the reader where the hole ends when the
 * window does not. */

static void start_repair(cn_actor *self, struct room *r)
{
    r->repairing = 1;
    cn_fanout_add(&r->deps.counters->gap_repairs, 1);
    if (cn_room_catchup_start(&r->repair, self, 0, r->last) != 0) {
        /* defensive: valid arguments are never refused; repair from what arrives */
        r->repairing = 0;
        r->trust_next = 1;
    }
}

/* Delivers held envelopes in order while no repair is needed. */
static void flush(cn_actor *self, struct room *r)
{
    while (!r->repairing && r->pending) {
        struct cn_room_catchup_row *h = r->pending;
        if (r->last >= 0 && h->offset <= r->last) {
            cn_fanout_add(&r->deps.counters->duplicates_dropped, 1);
        } else if (r->last >= 0 && h->prev != r->last && !r->trust_next) {
            start_repair(self, r); /* h stays first in line */
            if (r->repairing)
                return;
            continue;
        } else {
            deliver(r, h->offset, h->prev, h->message_key, h->body, h->body_len);
            r->trust_next = 0;
        }
        r->pending = h->next;
        if (!r->pending)
            r->pending_tail = NULL;
        free(h);
    }
}

static void append_pending(struct room *r, struct cn_room_catchup_row *h)
{
    if (r->pending_tail)
        r->pending_tail->next = h;
    else
        r->pending = h;
    r->pending_tail = h;
}

/* The reader gave what it found (the window rows last): what is pending goes out
 * now; the repair is over. */
static void finish_repair(cn_actor *self, struct room *r)
{
    r->repairing = 0;
    r->trust_next = 1; /* we filled what could be filled; do not loop on a hole */
    flush(self, r);
}

/* A room event (a read receipt): given to every subscription at once, catching up or
 * not, with an `x-event` header. It has no position, so the room's last offset and the
 * members' floors stay as they are: gap repair and resume never see it. */
static void deliver_event(struct room *r, const struct cn_bc_event *ev)
{
    if (r->nmembers == 0)
        return;
    struct cn_stomp_header x = {"x-event", ev->name, (uint32_t)strlen("x-event"),
                                (uint32_t)strlen(ev->name)};
    struct cn_stomp_message_fields f = {
        .destination = r->destination,
        .message_id = ev->id,
        .content_type = "application/json",
        .extra = &x,
        .nextra = 1,
        .body = ev->body,
        .body_len = ev->body_len,
    };
    struct cn_ws_shared_msg *m = cn_ws_shared_msg_new(&f);
    /* Typing is true for a moment only: sessions drop it once stale, and first
     * under outbound pressure (session/session_typing.c). */
    if (strcmp(ev->name, "typing") == 0)
        m->expires_ms = cn_now_ms() + CN_TYPING_TTL_MS;
    /* A leave event (POST /api/rooms/{id}/leave): "leave-<room>-<user>-<ms>". The
     * leaver's sessions end their subscriptions when it reaches them. */
    long long room, user;
    if (strcmp(ev->name, "leave") == 0 && sscanf(ev->id, "leave-%lld-%lld-", &room, &user) == 2 &&
        user > 0)
        m->revoke_user = user;
    for (size_t i = 0; i < r->nmembers; i++) {
        cn_ws_shared_msg_ref(m);
        cn_session_deliver(r->members[i].session, r->members[i].sub_key, m);
    }
    cn_ws_shared_msg_unref(m);
    cn_fanout_add(&r->deps.counters->events_delivered, r->nmembers);
}

static void cu_window_read(cn_actor *self, struct room *r, struct member *mb);

static void on_pubsub(cn_actor *self, struct room *r, struct cn_redis_pubsub *p)
{
    if (p->kind == CN_REDIS_PUBSUB_MESSAGE && cn_bc_is_event(p->payload, p->payload_len)) {
        struct cn_bc_event ev;
        if (cn_bc_event_parse(p->payload, p->payload_len, &ev) == 0)
            deliver_event(r, &ev);
        else
            CN_WARN("room", "room %" PRId64 ": dropping a malformed event", r->id);
    } else if (p->kind == CN_REDIS_PUBSUB_MESSAGE) {
        struct cn_bc_envelope e;
        if (cn_bc_envelope_parse(p->payload, p->payload_len, &e) == 0) {
            append_pending(r, cn_room_catchup_row_new(&e));
            flush(self, r);
        } else {
            CN_WARN("room", "room %" PRId64 ": dropping a malformed envelope", r->id);
        }
    } else if (p->kind == CN_REDIS_PUBSUB_SUBSCRIBED && !r->live) {
        /* The members so far waited for this (their SUBSCRIBE RECEIPTs). */
        r->live = 1;
        for (size_t i = 0; i < r->nmembers; i++) {
            struct member *mb = &r->members[i];
            cn_session_joined(mb->session, mb->sub_key);
            if (mb->cu && mb->cu_rounds == 0)
                cu_window_read(self, r, mb); /* its catch-up waited for this */
        }
    } else if (p->kind == CN_REDIS_PUBSUB_RESUBSCRIBED && r->last >= 0 && !r->repairing) {
        /* Messages published while the subscriber connection was down are lost
         * to Pub/Sub: read them back now rather than wait for the next one. */
        start_repair(self, r);
    }
    cn_msg_free(&p->hdr);
}

/* ---- Resume: one subscription's catch-up ----
 *
 * A JOIN with resume_after >= 0 sets the member's floor to it and, unless this
 * actor already delivered past it, starts a catch-up: the member's reader
 * (CN_ROOM_CATCHUP_RESUME) reads what follows the floor, window and PostgreSQL, and
 * gives it to this member alone. Deliveries of the room meanwhile are held for this
 * member (cu_item) and given after the catch-up, above its floor, so nothing comes
 * twice or out of order. When a held message shows a hole right after the catch-up
 * (it was published between the window read and this actor's channel
 * subscription), one more round fills it. Other members are not touched. */

static struct member *member_of_cu(struct room *r, uint64_t cu)
{
    for (size_t i = 0; i < r->nmembers; i++)
        if (r->members[i].cu == cu)
            return &r->members[i];
    return NULL;
}

static void give(struct room *r, struct member *mb, int64_t offset, struct cn_ws_shared_msg *m)
{
    mb->floor = offset;
    cn_ws_shared_msg_ref(m);
    cn_session_deliver(mb->session, mb->sub_key, m);
    cn_fanout_add(&r->deps.counters->delivered, 1);
}

/* What a member's reader gives goes to that member only. */
struct member_ctx {
    struct room *r;
    struct member *mb;
};

static void give_member(void *ctx, int64_t offset, int64_t prev, const char *key, const char *body,
                        size_t body_len)
{
    (void)prev;
    struct member_ctx *g = ctx;
    struct cn_ws_shared_msg *m = shared(g->r, key, body, body_len);
    give(g->r, g->mb, offset, m);
    cn_ws_shared_msg_unref(m);
}

/* The reader gave what it found: the held live messages above it; then live. */
static void cu_finish(cn_actor *self, struct room *r, struct member *mb)
{
    while (mb->q && mb->q->offset <= mb->floor) {
        struct cu_item *it = mb->q;
        mb->q = it->next;
        cn_ws_shared_msg_unref(it->m);
        free(it);
    }
    if (!mb->q)
        mb->q_tail = NULL;
    if (mb->q && mb->q->prev >= 0 && mb->q->prev != mb->floor && mb->cu_rounds < CU_MAX_ROUND) {
        cu_window_read(self, r, mb); /* a hole between the catch-up and live */
        return;
    }
    struct cu_item *q = mb->q;
    mb->q = mb->q_tail = NULL;
    mb->cu = 0;
    for (struct cu_item *it = q; it; it = it->next)
        if (it->offset > mb->floor)
            give(r, mb, it->offset, it->m);
    free_queue(q);
    /* A fresh actor that has delivered nothing yet: what this member got is
     * where the room's own gap check starts. */
    if (r->last < 0 && !r->repairing)
        r->last = mb->floor;
}

static void cu_window_read(cn_actor *self, struct room *r, struct member *mb)
{
    mb->cu_rounds++;
    if (cn_room_catchup_start(&mb->reader, self, mb->cu, mb->floor) == 0)
        return;
    /* defensive: valid arguments are never refused; all of it from PostgreSQL */
    struct member_ctx g = {r, mb};
    if (cn_room_catchup_on_window(&mb->reader, self, NULL, NULL, give_member, &g) ==
        CN_ROOM_CATCHUP_DONE)
        cu_finish(self, r, mb);
}

/* A reply of a catch-up read: the tag names the reader, 0 the room's repair, else a
 * member's catch-up (gone when the subscription ended meanwhile). */
static void on_read(cn_actor *self, struct room *r, cn_msg *m, uint64_t tag)
{
    struct member *mb = tag ? member_of_cu(r, tag) : NULL;
    if (tag && !mb) {
        cn_msg_free(m);
        return;
    }
    struct member_ctx g = {r, mb};
    struct cn_room_catchup *c = mb ? &mb->reader : &r->repair;
    cn_room_catchup_give_fn fn = mb ? give_member : deliver;
    void *ctx = mb ? (void *)&g : (void *)r;
    enum cn_room_catchup_step step;
    if (m->type == ROOM_WINDOW)
        step = cn_room_catchup_on_window(c, self, (struct cn_redis_reply *)m,
                                         mb ? NULL : r->pending, fn, ctx);
    else if (m->type == ROOM_WAIT)
        step = cn_room_catchup_on_wait(c, self, m, fn, ctx);
    else
        step = cn_room_catchup_on_pg(c, self, (struct cn_pg_reply *)m, fn, ctx);
    if (step == CN_ROOM_CATCHUP_READING)
        return;
    if (mb)
        cu_finish(self, r, mb);
    else
        finish_repair(self, r);
}

static void on_member(cn_actor *self, struct room *r, struct cn_room_member_msg *m)
{
    if (m->hdr.type == CN_ROOM_JOIN) {
        if (r->nmembers == r->cap) {
            r->cap = r->cap ? r->cap * 2 : 4;
            r->members = cn_xrealloc(r->members, r->cap * sizeof *r->members);
        }
        struct member *mb = &r->members[r->nmembers++];
        *mb = (struct member){.session = m->session, .sub_key = m->sub_key, .floor = -1};
        cn_room_catchup_init(&mb->reader, &r->store, CN_ROOM_CATCHUP_RESUME);
        m->session = NULL; /* the reference is ours now */
        if (r->live)
            cn_session_joined(mb->session, mb->sub_key);
        if (m->resume_after >= 0) {
            mb->floor = m->resume_after;
            if (r->last < 0 || m->resume_after < r->last) {
                mb->cu = ++r->next_cu;
                /* Read the window only once the channel is live, so nothing published
                 * falls between the two; and after the RECEIPT, which comes first. */
                if (r->live)
                    cu_window_read(self, r, mb);
            }
        }
    } else {
        for (size_t i = 0; i < r->nmembers; i++) {
            if (r->members[i].session == m->session && r->members[i].sub_key == m->sub_key) {
                member_clear(&r->members[i]);
                cn_actor_unref(r->members[i].session);
                r->members[i] = r->members[--r->nmembers]; /* order of members is free */
                break;
            }
        }
    }
    cn_msg_free(&m->hdr);
}

static void room_behaviour(cn_actor *self, void *st, cn_msg *m)
{
    struct room *r = st;
    switch (m->type) {
    case CN_ROOM_JOIN:
    case CN_ROOM_LEAVE:
        on_member(self, r, (struct cn_room_member_msg *)m);
        return;
    case ROOM_PUBSUB:
        on_pubsub(self, r, (struct cn_redis_pubsub *)m);
        return;
    case ROOM_WINDOW:
        on_read(self, r, m, ((struct cn_redis_reply *)m)->tag);
        return;
    case ROOM_PG:
        on_read(self, r, m, ((struct cn_pg_reply *)m)->tag);
        return;
    case ROOM_WAIT:
        on_read(self, r, m, ((struct cn_room_catchup_wait *)m)->tag);
        return;
    case CN_ROOM_STOP:
        cn_msg_free(m);
        cn_redis_unsubscribe(r->deps.redis, r->channel, self);
        cn_actor_stop(self);
        return;
    default:
        cn_msg_free(m);
    }
}

cn_actor *cn_room_actor_spawn(cn_runtime *rt, const struct cn_room_deps *deps, int64_t room_id,
                              const struct cn_room_rate **rate)
{
    struct room *r = cn_xcalloc(1, sizeof *r);
    r->id = room_id;
    r->deps = *deps;
    r->last = -1;
    snprintf(r->channel, sizeof r->channel, "room:%" PRId64, room_id);
    snprintf(r->window, sizeof r->window, "room:%" PRId64 ":window", room_id);
    snprintf(r->destination, sizeof r->destination, "/topic/room.%" PRId64, room_id);
    r->store = (struct cn_room_store){
        .room_id = room_id,
        .window = r->window,
        .redis = deps->redis,
        .pg = deps->pg,
        .counters = deps->counters,
        .window_reply = ROOM_WINDOW,
        .pg_reply = ROOM_PG,
        .wait_reply = ROOM_WAIT,
    };
    cn_room_catchup_init(&r->repair, &r->store, CN_ROOM_CATCHUP_REPAIR);
    cn_fanout_add(&deps->counters->rooms_open, 1);
    if (rate)
        *rate = &r->rate;
    cn_actor *a = cn_actor_spawn(rt, room_behaviour, r, room_free);
    cn_redis_subscribe(deps->redis, r->channel, a, ROOM_PUBSUB);
    return a;
}
