/* The catch-up reader of a room (see room_catchup.h): the window read, the PostgreSQL
 * pages below it, and the order in which what they found is given. */
#include "actors/room/room_catchup.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/sql/queries.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "proto/message_body.h"

struct cn_room_catchup_row *cn_room_catchup_row_new(const struct cn_bc_envelope *e)
{
    struct cn_room_catchup_row *h = cn_xmalloc(sizeof *h + e->body_len);
    h->next = NULL;
    h->offset = e->offset;
    h->prev = e->prev;
    memcpy(h->message_key, e->message_key, sizeof h->message_key);
    h->body_len = e->body_len;
    memcpy(h->body, e->body, e->body_len);
    return h;
}

void cn_room_catchup_rows_free(struct cn_room_catchup_row *list)
{
    while (list) {
        struct cn_room_catchup_row *n = list->next;
        free(list);
        list = n;
    }
}

void cn_room_catchup_init(struct cn_room_catchup *c, const struct cn_room_store *store,
                          enum cn_room_catchup_mode mode)
{
    *c = (struct cn_room_catchup){
        .store = store, .mode = mode, .after = -1, .before = -1, .need = -1};
}

void cn_room_catchup_clear(struct cn_room_catchup *c)
{
    cn_room_catchup_rows_free(c->window);
    c->window = NULL;
    c->waiting = 0; /* a timer still out finds no wait: on_wait drops it */
}

static const char *what(const struct cn_room_catchup *c)
{
    return c->mode == CN_ROOM_CATCHUP_REPAIR ? "gap repair" : "resume";
}

int cn_room_catchup_start(struct cn_room_catchup *c, cn_actor *self, uint64_t tag, int64_t after)
{
    cn_room_catchup_clear(c);
    c->tag = tag;
    c->after = after;
    c->before = -1;
    c->need = -1;
    c->waits = 0;
    char min[24];
    snprintf(min, sizeof min, "(%" PRId64, after);
    const char *argv[] = {"ZRANGEBYSCORE", c->store->window, min, "+inf"};
    return cn_redis_command(c->store->redis, self, c->store->window_reply, tag, 4, argv, NULL);
}

/* The window rows above the last position given, then the read is over. */
static enum cn_room_catchup_step finish(struct cn_room_catchup *c, cn_room_catchup_give_fn give,
                                        void *ctx)
{
    struct cn_room_catchup_row *w = c->window;
    c->window = NULL;
    for (struct cn_room_catchup_row *h = w; h; h = h->next) {
        if (h->offset > c->after) {
            c->after = h->offset;
            give(ctx, h->offset, h->prev, h->message_key, h->body, h->body_len);
            cn_fanout_add(&c->store->counters->repaired_window, 1);
        }
    }
    cn_room_catchup_rows_free(w);
    return CN_ROOM_CATCHUP_DONE;
}

/* Asks PostgreSQL for the page after `after` (below `before`); a refused query ends
 * the read with the window rows. */
static enum cn_room_catchup_step query_pg(struct cn_room_catchup *c, cn_actor *self,
                                          cn_room_catchup_give_fn give, void *ctx)
{
    char room[24], after[24], before[24], limit[12];
    snprintf(room, sizeof room, "%" PRId64, c->store->room_id);
    snprintf(after, sizeof after, "%" PRId64, c->after);
    snprintf(before, sizeof before, "%" PRId64, c->before);
    snprintf(limit, sizeof limit, "%d", CN_ROOM_CATCHUP_PAGE);
    const char *params[] = {room, after, c->before >= 0 ? before : NULL, limit};
    if (cn_pg_pool_query(c->store->pg, self, c->store->pg_reply, c->tag,
                         cn_sql(CN_SQL_ROOM_MESSAGES_AFTER_OFFSET), 4, params) != 0) {
        CN_WARN("room", "room %" PRId64 ": %s from PostgreSQL refused (queue full)",
                c->store->room_id, what(c));
        return finish(c, give, ctx);
    }
    return CN_ROOM_CATCHUP_READING;
}

enum cn_room_catchup_step cn_room_catchup_on_window(struct cn_room_catchup *c, cn_actor *self,
                                                    struct cn_redis_reply *rep,
                                                    const struct cn_room_catchup_row *next,
                                                    cn_room_catchup_give_fn give, void *ctx)
{
    struct cn_room_catchup_row *head = NULL, **tail = &head;
    if (rep && rep->ok && cn_redis_kind(rep->reply) == CN_REDIS_ARRAY) {
        for (size_t i = 0; i < cn_redis_count(rep->reply); i++) {
            size_t xlen = 0;
            const char *x = cn_redis_str(cn_redis_at(rep->reply, i), &xlen);
            struct cn_bc_envelope e;
            if (!x || cn_bc_envelope_parse(x, xlen, &e) != 0 || e.offset <= c->after)
                continue;
            *tail = cn_room_catchup_row_new(&e);
            tail = &(*tail)->next;
        }
    } else if (rep) {
        CN_WARN("room", "room %" PRId64 ": %s window read failed: %s", c->store->room_id, what(c),
                rep->error);
    }
    if (rep)
        cn_msg_free(&rep->hdr);
    cn_room_catchup_rows_free(c->window);
    c->window = head;
    /* The first thing after `after` we know of. If it does not follow `after`, the
     * window lost the start of what is asked: PostgreSQL up to it. A repair also
     * knows the envelopes it holds back; with nothing known at all it has nothing to
     * fill, while a resume cannot tell how far behind the client is. */
    const struct cn_room_catchup_row *first = head;
    if (!first && c->mode == CN_ROOM_CATCHUP_REPAIR) {
        first = next;
        if (!first)
            return finish(c, give, ctx);
    }
    if (first && first->prev == c->after)
        return finish(c, give, ctx);
    c->before = first ? first->offset : -1;
    c->need = first && first->prev >= 0 ? first->prev : -1;
    return query_pg(c, self, give, ctx);
}

/* Row i of room_messages_after_offset (the MESSAGE columns) as a message; the
 * strings point into rows. */
static void row_message(const struct cn_pg_rows *rows, int i, struct cn_message *m)
{
    *m = (struct cn_message){
        .id = cn_pg_rows_i64(rows, i, "id"),
        .message_key = cn_pg_rows_str(rows, i, "message_key"),
        .room_id = cn_pg_rows_i64(rows, i, "room_id"),
        .sender_id = cn_pg_rows_i64(rows, i, "sender_id"),
        .sender_nickname = cn_pg_rows_str(rows, i, "sender_nickname"),
        .sender_nickname_len = cn_pg_rows_len(rows, i, "sender_nickname"),
        .content = cn_pg_rows_str(rows, i, "content"),
        .content_len = cn_pg_rows_len(rows, i, "content"),
        .created_at_ms = cn_pg_rows_i64(rows, i, "created_at_ms"),
        .position = cn_pg_rows_i64(rows, i, "kafka_offset"),
    };
    const char *type = cn_pg_rows_str(rows, i, "type");
    if (!type || cn_message_type_parse(type, strlen(type), &m->type) != 0)
        m->type = CN_MSG_TEXT; /* defensive: the column is constrained */
}

enum cn_room_catchup_step cn_room_catchup_on_pg(struct cn_room_catchup *c, cn_actor *self,
                                                struct cn_pg_reply *rep,
                                                cn_room_catchup_give_fn give, void *ctx)
{
    int n = 0;
    if (!rep->ok) {
        CN_WARN("room", "room %" PRId64 ": %s from PostgreSQL failed: %s", c->store->room_id,
                what(c), rep->error);
    } else {
        n = cn_pg_rows_count(rep->rows);
        for (int i = 0; i < n; i++) {
            struct cn_message m;
            row_message(rep->rows, i, &m);
            if (m.position <= c->after)
                continue;
            size_t cap = cn_message_body_max_len(&m);
            char *body = cn_xmalloc(cap);
            long len = cn_message_body_render(body, cap, &m);
            if (len >= 0) {
                c->after = m.position;
                give(ctx, m.position, -2, m.message_key, body, (size_t)len);
                cn_fanout_add(&c->store->counters->repaired_postgres, 1);
            }
            free(body);
        }
    }
    int ok = rep->ok;
    cn_msg_free(&rep->hdr);
    /* A full page of a resume: there may be more below the window. A repair reads
     * one page and leaves the rest of a longer hole unfilled. */
    if (c->mode == CN_ROOM_CATCHUP_RESUME && n == CN_ROOM_CATCHUP_PAGE)
        return query_pg(c, self, give, ctx);
    /* A short page that stops below what the first row after it follows: the rows
     * in between are published but not stored yet (persistence trails the
     * broadcast). The window rows would skip them for good; wait for them. */
    if (ok && n < CN_ROOM_CATCHUP_PAGE && c->need > c->after) {
        if (c->waits < CN_ROOM_CATCHUP_WAITS) {
            if (c->waits++ == 0)
                CN_INFO("room",
                        "room %" PRId64 ": %s: PostgreSQL has up to %" PRId64
                        ", the window follows %" PRId64 ": waiting for persistence",
                        c->store->room_id, what(c), c->after, c->need);
            c->waiting = 1;
            struct cn_room_catchup_wait *w = cn_xcalloc(1, sizeof *w);
            cn_msg_init(&w->hdr, c->store->wait_reply, NULL);
            w->tag = c->tag;
            cn_timer_after(cn_actor_runtime(self), self, CN_ROOM_CATCHUP_WAIT_MS, &w->hdr);
            return CN_ROOM_CATCHUP_READING;
        }
        CN_WARN("room",
                "room %" PRId64 ": %s: positions after %" PRId64 " up to %" PRId64
                " not in PostgreSQL after %d waits: going on without them",
                c->store->room_id, what(c), c->after, c->need, c->waits);
    }
    return finish(c, give, ctx);
}

enum cn_room_catchup_step cn_room_catchup_on_wait(struct cn_room_catchup *c, cn_actor *self,
                                                  cn_msg *m, cn_room_catchup_give_fn give,
                                                  void *ctx)
{
    cn_msg_free(m);
    if (!c->waiting)
        return CN_ROOM_CATCHUP_READING; /* an abandoned read's: nothing to do */
    c->waiting = 0;
    return query_pg(c, self, give, ctx);
}
