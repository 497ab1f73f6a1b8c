/* The room actor (see room_actor.h): subscribers, live delivery, gap repair. */
#include "actors/room/room_actor.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "proto/broadcast_envelope.h"
#include "actors/sql/queries.h"
#include "actors/session/session_seams.h"
#include "proto/message_body.h"

#define ROOM_PUBSUB 0x6310
#define ROOM_WINDOW 0x6311
#define ROOM_PG     0x6312
#define ROOM_CU_WIN 0x6313 /* tag: the catch-up id of a member */
#define ROOM_CU_PG  0x6314

#define CU_PG_ROWS   1000 /* rows per PostgreSQL page of a catch-up */
#define CU_MAX_ROUND 3    /* window reads per catch-up when live messages show a hole */

#define PG_REPAIR_LIMIT "1000"

/* A live message held for a subscription that is still catching up. */
struct cu_item {
    struct cu_item *next;
    int64_t offset, prev; /* prev -2: not known (a PostgreSQL row of a repair) */
    struct cn_ws_shared_msg *m;
};

struct held;

struct member {
    cn_actor *session; /* our reference */
    uint64_t sub_key;
    int64_t floor;          /* offsets at or below were given to it (or skipped by its resume) */
    uint64_t cu;            /* catch-up id while it catches up (resume), else 0 */
    int cu_rounds;          /* window reads of this catch-up */
    int64_t cu_before;      /* upper bound of the PostgreSQL part; -1 none */
    struct held *cu_window; /* window rows waiting for the PostgreSQL part */
    struct cu_item *q, *q_tail; /* live messages meanwhile, in order */
};

/* An envelope held while a repair is running: offsets and a copy of the body. */
struct held {
    struct held *next;
    int64_t offset, prev;
    char message_key[CN_UUID_STR_LEN + 1];
    size_t body_len;
    char body[];
};

struct room {
    int64_t id;
    struct cn_room_deps deps;
    char channel[32];
    char window[48];
    char destination[48];
    struct member *members;
    size_t nmembers, cap;
    int64_t last;                        /* offset delivered last; -1 before the first */
    int repairing;                       /* a window or PostgreSQL read is out */
    int trust_next;                      /* after a repair, accept the next envelope's prev as is */
    struct held *pending, *pending_tail; /* newer envelopes, in arrival order */
    struct held *window_rows;            /* window entries waiting for the PostgreSQL part */
    uint64_t next_cu;                    /* catch-up ids */
    int live;                            /* Redis confirmed the channel: joins answered at once */
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

static void free_list(struct held *h)
{
    while (h) {
        struct held *n = h->next;
        free(h);
        h = n;
    }
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
    free_list(mb->cu_window);
    mb->cu_window = NULL;
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
    free_list(r->pending);
    free_list(r->window_rows);
    cn_fanout_add(&r->deps.counters->rooms_open, (uint64_t)-1);
    free(r);
}

static struct held *hold(const struct cn_bc_envelope *e)
{
    struct held *h = cn_xmalloc(sizeof *h + e->body_len);
    h->next = NULL;
    h->offset = e->offset;
    h->prev = e->prev;
    memcpy(h->message_key, e->message_key, sizeof h->message_key);
    h->body_len = e->body_len;
    memcpy(h->body, e->body, e->body_len);
    return h;
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
 * catch-up is delivered. prev: the envelope's previous offset, -2 unknown. */
static void deliver(struct room *r, int64_t offset, int64_t prev, const char *key, const char *body,
                    size_t body_len)
{
    r->last = offset;
    if (r->nmembers == 0)
        return;
    struct cn_ws_shared_msg *m = shared(r, key, body, body_len);
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

static void start_repair(cn_actor *self, struct room *r)
{
    r->repairing = 1;
    cn_fanout_add(&r->deps.counters->gap_repairs, 1);
    char after[24];
    snprintf(after, sizeof after, "(%" PRId64, r->last);
    const char *argv[] = {"ZRANGEBYSCORE", r->window, after, "+inf"};
    if (cn_redis_command(r->deps.redis, self, ROOM_WINDOW, 0, 4, argv, NULL) != 0) {
        /* defensive: valid arguments are never refused; repair from what arrives */
        r->repairing = 0;
        r->trust_next = 1;
    }
}

/* Delivers held envelopes in order while no repair is needed. */
static void flush(cn_actor *self, struct room *r)
{
    while (!r->repairing && r->pending) {
        struct held *h = r->pending;
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

static void append_pending(struct room *r, struct held *h)
{
    if (r->pending_tail)
        r->pending_tail->next = h;
    else
        r->pending = h;
    r->pending_tail = h;
}

/* Delivers the window rows kept for after the PostgreSQL part, then what is
 * pending; the repair is over. */
static void finish_repair(cn_actor *self, struct room *r)
{
    struct held *w = r->window_rows;
    r->window_rows = NULL;
    for (struct held *h = w; h; h = h->next) {
        if (h->offset > r->last) {
            deliver(r, h->offset, h->prev, h->message_key, h->body, h->body_len);
            cn_fanout_add(&r->deps.counters->repaired_window, 1);
        }
    }
    free_list(w);
    r->repairing = 0;
    r->trust_next = 1; /* we filled what could be filled; do not loop on a hole */
    flush(self, r);
}

static void query_postgres(cn_actor *self, struct room *r, int64_t before)
{
    char room[24], after[24], upto[24];
    snprintf(room, sizeof room, "%" PRId64, r->id);
    snprintf(after, sizeof after, "%" PRId64, r->last);
    snprintf(upto, sizeof upto, "%" PRId64, before);
    const char *params[] = {room, after, before >= 0 ? upto : NULL, PG_REPAIR_LIMIT};
    if (cn_pg_pool_query(r->deps.pg, self, ROOM_PG, 0, cn_sql(CN_SQL_ROOM_MESSAGES_AFTER_OFFSET), 4,
                         params) != 0) {
        CN_WARN("room", "room %" PRId64 ": gap repair from PostgreSQL refused (queue full)", r->id);
        finish_repair(self, r);
    }
}

static void on_window(cn_actor *self, struct room *r, struct cn_redis_reply *rep)
{
    struct held *head = NULL, **tail = &head;
    if (rep->ok && cn_redis_kind(rep->reply) == CN_REDIS_ARRAY) {
        for (size_t i = 0; i < cn_redis_count(rep->reply); i++) {
            size_t xlen = 0;
            const char *x = cn_redis_str(cn_redis_at(rep->reply, i), &xlen);
            struct cn_bc_envelope e;
            if (!x || cn_bc_envelope_parse(x, xlen, &e) != 0)
                continue;
            if (e.offset <= r->last)
                continue;
            *tail = hold(&e);
            tail = &(*tail)->next;
        }
    } else {
        CN_WARN("room", "room %" PRId64 ": window read failed: %s", r->id, rep->error);
    }
    cn_msg_free(&rep->hdr);
    r->window_rows = head;
    /* The first thing after `last` we know of: the window's oldest, else the
     * oldest pending envelope. If it does not follow `last`, the window lost the
     * start of the hole (capped, expired, unreachable): ask PostgreSQL. */
    const struct held *first = head ? head : r->pending;
    if (first && first->prev != r->last)
        query_postgres(self, r, first->offset);
    else if (!first)
        finish_repair(self, r);
    else
        finish_repair(self, r);
}

/* Row i of room_messages_after_offset (the MESSAGE columns) as a message; the
 * strings point into res. */
static void row_message(struct cn_pg_rows *res, int i, struct cn_message *m)
{
    *m = (struct cn_message){
        .id = cn_pg_rows_i64(res, i, "id"),
        .message_key = cn_pg_rows_str(res, i, "message_key"),
        .room_id = cn_pg_rows_i64(res, i, "room_id"),
        .sender_id = cn_pg_rows_i64(res, i, "sender_id"),
        .sender_nickname = cn_pg_rows_str(res, i, "sender_nickname"),
        .sender_nickname_len = cn_pg_rows_len(res, i, "sender_nickname"),
        .content = cn_pg_rows_str(res, i, "content"),
        .content_len = cn_pg_rows_len(res, i, "content"),
        .created_at_ms = cn_pg_rows_i64(res, i, "created_at_ms"),
        .position = cn_pg_rows_i64(res, i, "kafka_offset"),
    };
    const char *type = cn_pg_rows_str(res, i, "type");
    if (cn_message_type_parse(type, strlen(type), &m->type) != 0)
        m->type = CN_MSG_TEXT; /* defensive: the column is constrained */
}

static void on_pg(cn_actor *self, struct room *r, struct cn_pg_reply *rep)
{
    if (!rep->ok) {
        CN_WARN("room", "room %" PRId64 ": gap repair from PostgreSQL failed: %s", r->id,
                rep->error);
    } else {
        struct cn_pg_rows *res = rep->rows;
        for (int i = 0; i < cn_pg_rows_count(res); i++) {
            struct cn_message m;
            row_message(res, i, &m);
            if (m.position <= r->last)
                continue;
            size_t cap = cn_message_body_max_len(&m);
            char *body = cn_xmalloc(cap);
            long n = cn_message_body_render(body, cap, &m);
            if (n >= 0) {
                deliver(r, m.position, -2, m.message_key, body, (size_t)n);
                cn_fanout_add(&r->deps.counters->repaired_postgres, 1);
            }
            free(body);
        }
    }
    cn_msg_free(&rep->hdr);
    finish_repair(self, r);
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
     * under outbound pressure (ws_session_typing.c). */
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
            append_pending(r, hold(&e));
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
 * actor already delivered past it, starts a catch-up: read the window above the
 * floor; when the window does not reach down to the floor (its oldest row's prev
 * is not the floor), read PostgreSQL from the floor up to that row first, in
 * pages. Deliveries of the room meanwhile are held for this member (cu_item)
 * and given after the catch-up, above its floor, so nothing comes twice or out
 * of order. When a held message shows a hole right after the catch-up (it was
 * published between the window read and this actor's channel subscription),
 * one more round fills it. Other members are not touched. */

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

static void cu_window_read(cn_actor *self, struct room *r, struct member *mb);

/* The window rows, then the held live messages; then live. */
static void cu_finish(cn_actor *self, struct room *r, struct member *mb)
{
    struct held *w = mb->cu_window;
    mb->cu_window = NULL;
    for (struct held *h = w; h; h = h->next) {
        if (h->offset > mb->floor) {
            struct cn_ws_shared_msg *m = shared(r, h->message_key, h->body, h->body_len);
            give(r, mb, h->offset, m);
            cn_ws_shared_msg_unref(m);
            cn_fanout_add(&r->deps.counters->repaired_window, 1);
        }
    }
    free_list(w);
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

static void cu_pg_query(cn_actor *self, struct room *r, struct member *mb)
{
    char room[24], after[24], upto[24], limit[12];
    snprintf(room, sizeof room, "%" PRId64, r->id);
    snprintf(after, sizeof after, "%" PRId64, mb->floor);
    snprintf(upto, sizeof upto, "%" PRId64, mb->cu_before);
    snprintf(limit, sizeof limit, "%d", CU_PG_ROWS);
    const char *params[] = {room, after, mb->cu_before >= 0 ? upto : NULL, limit};
    if (cn_pg_pool_query(r->deps.pg, self, ROOM_CU_PG, mb->cu,
                         cn_sql(CN_SQL_ROOM_MESSAGES_AFTER_OFFSET), 4, params) != 0) {
        CN_WARN("room", "room %" PRId64 ": resume from PostgreSQL refused (queue full)", r->id);
        cu_finish(self, r, mb);
    }
}

static void cu_window_read(cn_actor *self, struct room *r, struct member *mb)
{
    mb->cu_rounds++;
    char after[24];
    snprintf(after, sizeof after, "(%" PRId64, mb->floor);
    const char *argv[] = {"ZRANGEBYSCORE", r->window, after, "+inf"};
    if (cn_redis_command(r->deps.redis, self, ROOM_CU_WIN, mb->cu, 4, argv, NULL) != 0) {
        mb->cu_before = -1; /* defensive: all of it from PostgreSQL */
        cu_pg_query(self, r, mb);
    }
}

static void on_cu_window(cn_actor *self, struct room *r, struct cn_redis_reply *rep)
{
    struct member *mb = member_of_cu(r, rep->tag);
    if (!mb) { /* the subscription ended meanwhile */
        cn_msg_free(&rep->hdr);
        return;
    }
    struct held *head = NULL, **tail = &head;
    if (rep->ok && cn_redis_kind(rep->reply) == CN_REDIS_ARRAY) {
        for (size_t i = 0; i < cn_redis_count(rep->reply); i++) {
            size_t xlen = 0;
            const char *x = cn_redis_str(cn_redis_at(rep->reply, i), &xlen);
            struct cn_bc_envelope e;
            if (!x || cn_bc_envelope_parse(x, xlen, &e) != 0 || e.offset <= mb->floor)
                continue;
            *tail = hold(&e);
            tail = &(*tail)->next;
        }
    } else {
        CN_WARN("room", "room %" PRId64 ": resume window read failed: %s", r->id, rep->error);
    }
    cn_msg_free(&rep->hdr);
    free_list(mb->cu_window);
    mb->cu_window = head;
    if (head && head->prev == mb->floor) {
        cu_finish(self, r, mb);
        return;
    }
    /* The window does not reach down to the floor (capped, expired, empty or
     * unreachable): PostgreSQL for what lies below its oldest row. */
    mb->cu_before = head ? head->offset : -1;
    cu_pg_query(self, r, mb);
}

static void on_cu_pg(cn_actor *self, struct room *r, struct cn_pg_reply *rep)
{
    struct member *mb = member_of_cu(r, rep->tag);
    if (!mb) {
        cn_msg_free(&rep->hdr);
        return;
    }
    int n = 0;
    if (!rep->ok) {
        CN_WARN("room", "room %" PRId64 ": resume from PostgreSQL failed: %s", r->id, rep->error);
    } else {
        n = cn_pg_rows_count(rep->rows);
        for (int i = 0; i < n; i++) {
            struct cn_message m;
            row_message(rep->rows, i, &m);
            if (m.position <= mb->floor)
                continue;
            size_t cap = cn_message_body_max_len(&m);
            char *body = cn_xmalloc(cap);
            long len = cn_message_body_render(body, cap, &m);
            if (len >= 0) {
                struct cn_ws_shared_msg *sm = shared(r, m.message_key, body, (size_t)len);
                give(r, mb, m.position, sm);
                cn_ws_shared_msg_unref(sm);
                cn_fanout_add(&r->deps.counters->repaired_postgres, 1);
            }
            free(body);
        }
    }
    cn_msg_free(&rep->hdr);
    if (n == CU_PG_ROWS)
        cu_pg_query(self, r, mb); /* the next page */
    else
        cu_finish(self, r, mb);
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
    case ROOM_CU_WIN:
        on_cu_window(self, r, (struct cn_redis_reply *)m);
        return;
    case ROOM_CU_PG:
        on_cu_pg(self, r, (struct cn_pg_reply *)m);
        return;
    case ROOM_PUBSUB:
        on_pubsub(self, r, (struct cn_redis_pubsub *)m);
        return;
    case ROOM_WINDOW:
        on_window(self, r, (struct cn_redis_reply *)m);
        return;
    case ROOM_PG:
        on_pg(self, r, (struct cn_pg_reply *)m);
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

cn_actor *cn_room_actor_spawn(cn_runtime *rt, const struct cn_room_deps *deps, int64_t room_id)
{
    struct room *r = cn_xcalloc(1, sizeof *r);
    r->id = room_id;
    r->deps = *deps;
    r->last = -1;
    snprintf(r->channel, sizeof r->channel, "room:%" PRId64, room_id);
    snprintf(r->window, sizeof r->window, "room:%" PRId64 ":window", room_id);
    snprintf(r->destination, sizeof r->destination, "/topic/room.%" PRId64, room_id);
    cn_fanout_add(&deps->counters->rooms_open, 1);
    cn_actor *a = cn_actor_spawn(rt, room_behaviour, r, room_free);
    cn_redis_subscribe(deps->redis, r->channel, a, ROOM_PUBSUB);
    return a;
}
