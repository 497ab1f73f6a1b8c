/* The SEND path (see send_path.h): cn_send_path_take hands each SEND to the
 * session's own actor, which admits it through a sliding window, closes a flooding
 * session, looks up the sender's nickname and room membership (cached for at most
 * member_ttl_ms, and dropped on revocation: see MEMBER_CACHE below), produces
 * the event to Kafka and answers the session in arrival order once each SEND's
 * outcome is known.
 *
 * SEND /app/chat.read takes the same road (so it is rate-limited and answered in
 * order with the chat SENDs): read_receipt_check instead of the membership cache
 * (it also checks that the message is of the room, and resolves a position to the
 * stored message there), then a ReadReceiptEvent to chat.read-receipts.
 *
 * The SENDs of a session form one FIFO. `cursor` is the first entry still
 * waiting for a lookup or for its produce call; at most one database query is in
 * flight (the cursor's), so a burst into one room costs one membership query and
 * a session's SENDs reach Kafka in the order they were sent. Entries after the
 * cursor wait; entries before it are in Kafka's hands or done. The front is
 * answered as soon as it is done, so a refused SEND behind a slow delivery waits
 * for it: receipts are cumulative, the client must never see a later outcome
 * first. */
#include "actors/session/send_path.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/pipeline/read_receipts.h"
#include "actors/session/send_window.h"
#include "actors/sql/queries.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "proto/chat_types.h"
#include "proto/event_codec.h"

/* The actor's messages: a SEND, a forgotten room, and the adapters' answers. */
enum { LIM_SEND = 0x5800, LIM_PG, LIM_KAFKA, LIM_FORGET };
enum { Q_NICKNAME = 1, Q_MEMBERSHIP = 2, Q_READ_CHECK = 3 };
enum { IT_WAIT = 0, IT_FLIGHT, IT_DONE };

/* One SEND, as a message to the actor and then as its queue entry. */
struct item {
    cn_msg hdr; /* type LIM_SEND; free_fn frees content */
    struct item *next;
    uint64_t seq;
    int state; /* IT_* */
    const char *code, *message;
    int close;
    uint64_t taken_ns; /* cn_now_ns() when the session handed it over */
    bool is_read;      /* SEND /app/chat.read: room_id + read (an id or a position), no content */
    struct cn_read_target read;
    bool member_ok;     /* room_membership said yes for this SEND (cached or not) */
    int64_t message_id; /* of a read: the message read_receipt_check resolved */
    int64_t room_id;
    enum cn_message_type type;
    bool has_key;
    char message_key[CN_UUID_STR_LEN + 1];
    char *content;
    size_t content_len;
    char receipt[]; /* "" when none */
};

/* Rooms whose membership is cached per session (positive answers only), so that a
 * burst into a room costs one room_membership query. A cached answer must never
 * outlive the membership; three things bound it:
 *   - the session forwards a revocation (actors/membership: the user left or was
 *     removed, the room closed; delivered to every session of the user on every node,
 *     subscribed or not) as cn_send_path_forget_room, in its mailbox order, so a SEND
 *     the session handles after the revocation misses the cache;
 *   - every entry expires member_ttl_ms after the answer was read (whatever happens to
 *     Redis Pub/Sub, a lost revocation is forgotten that late);
 *   - cn_send_path_forget_all (the node's Redis subscriber came back: revocations may
 *     have been lost meanwhile) bumps an epoch that every actor compares before its
 *     next lookup, dropping its whole cache without a message per session.
 * An answer read before a forget but arriving after it answers its own SEND (which
 * came before the forget) and is not cached (`forgets`).
 * When the lookup of an expired entry fails (PostgreSQL is down), the expired answer
 * stands and is trusted for another member_ttl_ms: no membership can end while
 * PostgreSQL is down (ending one is a write there), revocations still drop the entry
 * at once, and SENDs keep being acknowledged through an outage instead of each waiting
 * out the pool's query deadline. A forgotten entry never comes back this way. */
#define MEMBER_CACHE 64

struct member {
    int64_t room;      /* 0: empty (no room has id 0) */
    uint64_t until_ms; /* cn_now_ms() after which the answer is asked again */
};

/* The per-session actor's state: the session's rate limiter and the rest of its
 * SEND path. Touched only by its own behaviour. */
struct limiter {
    struct cn_send_path *path;
    cn_actor *self, *session; /* session: our own reference */
    int64_t user_id;
    char *nickname; /* NULL until user_by_id answered */
    int query;      /* Q_* in flight, 0 = none */
    struct member member[MEMBER_CACHE];
    unsigned nmember, member_next;
    uint64_t epoch;         /* path->member_epoch the cache belongs to */
    uint64_t forgets;       /* forgets so far (forget_member, epoch changes) */
    uint64_t query_forgets; /* `forgets` when the cursor's room_membership was sent */
    struct cn_send_window rate, refusals;
    struct item *head, *tail, *cursor;
    uint64_t next_seq;
    bool flooded; /* the session has been told to close */
};

static void count(atomic_uint_fast64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed); /* relaxed: a count */
}

static void finish(struct item *it, const char *code, const char *message)
{
    it->state = IT_DONE;
    it->code = code;
    it->message = message;
}

/* Answers the session for every done entry at the front of the queue. */
static void flush(struct limiter *l)
{
    while (l->head && l->head->state == IT_DONE) {
        struct item *it = l->head;
        l->head = it->next;
        if (!l->head)
            l->tail = NULL;
        size_t rlen = strlen(it->receipt);
        struct cn_session_send_done *d = cn_xmalloc(sizeof *d + rlen + 1);
        cn_msg_init(&d->hdr, CN_SESSION_SEND_DONE, NULL);
        d->code = it->code;
        d->message = it->message;
        d->close = it->close;
        memcpy(d->receipt, it->receipt, rlen + 1);
        cn_actor_send(l->session, &d->hdr); /* -ESHUTDOWN: the session is gone; fine */
        cn_msg_free(&it->hdr);
    }
}

static void advance(struct limiter *l)
{
    while (l->cursor && l->cursor->state != IT_WAIT)
        l->cursor = l->cursor->next;
}

/* Drops the whole cache when cn_send_path_forget_all ran since the last look. One
 * atomic load per pump. */
static void check_epoch(struct limiter *l)
{
    /* acquire: pairs with the release increment in cn_send_path_forget_all. */
    uint64_t e = atomic_load_explicit(&l->path->member_epoch, memory_order_acquire);
    if (e != l->epoch) {
        l->epoch = e;
        l->nmember = 0;
        l->member_next = 0;
        l->forgets++;
    }
}

static struct member *find_member(struct limiter *l, int64_t room)
{
    for (unsigned i = 0; i < l->nmember; i++)
        if (l->member[i].room == room)
            return &l->member[i];
    return NULL;
}

static bool is_member_cached(struct limiter *l, int64_t room, uint64_t now)
{
    struct member *m = find_member(l, room);
    return m && now < m->until_ms;
}

static void remember_member(struct limiter *l, int64_t room)
{
    uint32_t ttl = l->path->member_ttl_ms;
    if (ttl == 0)
        return;
    uint64_t until = cn_now_ms() + ttl;
    struct member *m = find_member(l, room);
    if (m) { /* an expired entry asked again */
        m->until_ms = until;
        return;
    }
    /* Round robin beyond the bound: a session that writes into more rooms than
     * that pays a query now and then. */
    l->member[l->member_next] = (struct member){room, until};
    l->member_next = (l->member_next + 1) % MEMBER_CACHE;
    if (l->nmember < MEMBER_CACHE)
        l->nmember++;
}

static void fail_unavailable(struct limiter *l, struct item *it, const char *why)
{
    count(&l->path->counters.failed);
    finish(it, "UNAVAILABLE", why);
}

/* Sends the cursor's query. A refusal (-EAGAIN: the pool's queue is full;
 * -ESHUTDOWN: the pool is closed) is the caller's to answer. */
static int submit(struct limiter *l, int q, enum cn_sql_id id, int n, const char *const *params)
{
    int rc = cn_pg_pool_query(l->path->pg, l->self, LIM_PG, (uint64_t)q, cn_sql(id), n, params);
    if (rc == 0)
        l->query = q;
    return rc;
}

static void random_uuid(char out[CN_UUID_STR_LEN + 1])
{
    unsigned char b[16];
    randombytes_buf(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, CN_UUID_STR_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

/* Produces one msgpack event (value, taken) keyed by the item's room, so that it lands
 * on the room's partition; its delivery report comes back as LIM_KAFKA tagged with the
 * item's seq. Returns cn_kafka_produce's result (-ESHUTDOWN once the producer is
 * closed). */
static int produce_event(struct limiter *l, const struct item *it, const char *topic, char *value,
                         size_t len)
{
    char key[24];
    int keylen = snprintf(key, sizeof key, "%" PRId64, it->room_id);
    static const char version[] = "1";
    const struct cn_kafka_header hdrs[] = {
        {"content-type", "application/msgpack", sizeof "application/msgpack" - 1},
        {"schema-version", version, sizeof version - 1},
    };
    int rc = cn_kafka_produce(l->path->producer, topic, CN_KAFKA_PARTITION_BY_KEY, key,
                              (size_t)keylen, value, len, hdrs, 2, l->self, LIM_KAFKA, it->seq);
    free(value);
    return rc;
}

static void produce(struct limiter *l, struct item *it)
{
    if (!it->has_key) {
        /* Fixed now, so a retry of the same entry could not make a second row. */
        random_uuid(it->message_key);
        it->has_key = true;
    }
    struct cn_chat_message_event ev = {
        .room_id = it->room_id,
        .sender_id = l->user_id,
        .sender_nickname = l->nickname,
        .sender_nickname_len = strlen(l->nickname),
        .content = it->content,
        .content_len = it->content_len,
        .type = it->type,
        .sent_at_ms = cn_wall_ms(),
    };
    memcpy(ev.message_key, it->message_key, sizeof ev.message_key);
    size_t len;
    char *value = cn_event_encode_chat_message(&ev, &len);
    int rc = produce_event(l, it, CN_SEND_TOPIC, value, len);
    if (rc == 0) {
        it->state = IT_FLIGHT;
    } else {
        /* Queue full (-EAGAIN) is backpressure: refuse now rather than queue more. */
        CN_DEBUG("send", "produce refused: %s", cn_kafka_produce_strerror(rc));
        fail_unavailable(l, it,
                         rc == -EAGAIN ? "the message queue is full; retry shortly"
                                       : "sending is unavailable; retry shortly");
    }
}

/* Produces the ReadReceiptEvent of a checked SEND /app/chat.read. */
static void produce_read(struct limiter *l, struct item *it)
{
    struct cn_read_receipt_event ev = {
        .room_id = it->room_id,
        .user_id = l->user_id,
        .message_id = it->message_id,
        .read_at_ms = cn_wall_ms(),
    };
    size_t len;
    char *value = cn_event_encode_read_receipt(&ev, &len);
    int rc = produce_event(l, it, CN_READ_RECEIPTS_TOPIC, value, len);
    if (rc == 0)
        it->state = IT_FLIGHT;
    else
        fail_unavailable(l, it,
                         rc == -EAGAIN ? "the receipt queue is full; retry shortly"
                                       : "read receipts are unavailable; retry shortly");
}

/* Moves the cursor on until an entry waits for the database. */
static void pump(struct limiter *l)
{
    advance(l);
    check_epoch(l);
    uint64_t now = cn_now_ms();
    while (l->cursor && !l->query) {
        struct item *it = l->cursor;
        char a[24], b[24];
        int rc = 0;
        if (it->is_read) {
            /* Checked every time (no cache): the message must be of the room too, and
             * a position is resolved to the stored message there. */
            snprintf(a, sizeof a, "%" PRId64, l->user_id);
            snprintf(b, sizeof b, "%" PRId64, it->room_id);
            char c[24], d[24];
            snprintf(c, sizeof c, "%" PRId64, it->read.message_id);
            snprintf(d, sizeof d, "%" PRId64, it->read.position);
            const char *p[] = {a, b, it->read.message_id > 0 ? c : NULL,
                               it->read.has_position ? d : NULL};
            rc = submit(l, Q_READ_CHECK, CN_SQL_READ_RECEIPT_CHECK, 4, p);
        } else if (!l->nickname) {
            snprintf(a, sizeof a, "%" PRId64, l->user_id);
            const char *p[] = {a};
            rc = submit(l, Q_NICKNAME, CN_SQL_USER_BY_ID, 1, p);
        } else if (!it->member_ok && !is_member_cached(l, it->room_id, now)) {
            snprintf(a, sizeof a, "%" PRId64, l->user_id);
            snprintf(b, sizeof b, "%" PRId64, it->room_id);
            const char *p[] = {a, b};
            l->query_forgets = l->forgets;
            rc = submit(l, Q_MEMBERSHIP, CN_SQL_ROOM_MEMBERSHIP, 2, p);
        } else {
            produce(l, it);
        }
        if (rc != 0)
            fail_unavailable(l, it, "the database is busy; retry shortly");
        advance(l);
    }
    flush(l);
}

static void on_pg(struct limiter *l, struct cn_pg_reply *r)
{
    int q = l->query;
    l->query = 0;
    struct item *it = l->cursor;        /* the query was made for it */
    if (!it || (uint64_t)q != r->tag) { /* defensive: one query at a time */
        cn_msg_free(&r->hdr);
        pump(l);
        return;
    }
    if (!r->ok && q == Q_MEMBERSHIP && l->query_forgets == l->forgets &&
        find_member(l, it->room_id)) {
        /* An expired answer, not forgotten since: it stands through the outage. */
        it->member_ok = true;
        remember_member(l, it->room_id);
        count(&l->path->counters.member_stale);
    } else if (!r->ok) {
        CN_WARN("send", "%s failed: %s",
                q == Q_NICKNAME     ? "user_by_id"
                : q == Q_READ_CHECK ? "read_receipt_check"
                                    : "room_membership",
                r->error);
        fail_unavailable(l, it, "the database is unavailable; retry shortly");
    } else if (q == Q_READ_CHECK) {
        const char *outcome = cn_pg_rows_str(r->rows, 0, "outcome");
        if (!outcome)
            outcome = "";
        if (strcmp(outcome, "ok") == 0 && cn_pg_rows_str(r->rows, 0, "message_id")) {
            it->message_id = cn_pg_rows_i64(r->rows, 0, "message_id");
            produce_read(l, it);
        } else if (strcmp(outcome, "ok") == 0) {
            /* defensive: a STOMP read names a message, so 'ok' comes with its id */
            count(&l->path->counters.rejected);
            finish(it, "MESSAGE_NOT_FOUND", "messageId: not a message of this room");
        } else {
            count(&l->path->counters.rejected);
            if (strcmp(outcome, "not_member") == 0)
                finish(it, "NOT_MEMBER", "you are not a member of this room");
            else if (strcmp(outcome, "not_found") == 0)
                finish(it, "ROOM_NOT_FOUND", "no such room");
            else if (it->read.has_position)
                finish(it, "MESSAGE_NOT_FOUND",
                       "position: no stored message of this room has this position");
            else
                finish(it, "MESSAGE_NOT_FOUND", "messageId: not a message of this room");
        }
    } else if (q == Q_NICKNAME) {
        if (cn_pg_rows_count(r->rows) == 1) {
            const char *nick = cn_pg_rows_str(r->rows, 0, "nickname");
            l->nickname = cn_xstrdup(nick ? nick : "");
        } else {
            count(&l->path->counters.rejected);
            finish(it, "UNAUTHORIZED", "the user of this session no longer exists");
        }
    } else {
        bool exists = cn_pg_rows_bool(r->rows, 0, "room_exists");
        bool member = exists && cn_pg_rows_bool(r->rows, 0, "is_member");
        if (member) {
            it->member_ok = true;
            /* Read before a forget that came since: good for this SEND, which came
             * before the forget, never for the ones after it. */
            if (l->query_forgets == l->forgets)
                remember_member(l, it->room_id);
        } else {
            count(&l->path->counters.rejected);
            if (exists)
                finish(it, "NOT_MEMBER", "you are not a member of this room");
            else
                finish(it, "ROOM_NOT_FOUND", "no such room");
        }
    }
    cn_msg_free(&r->hdr);
    pump(l);
}

static void on_delivery(struct limiter *l, struct cn_kafka_delivery *d)
{
    struct item *it = l->head;
    while (it && it->seq != d->tag)
        it = it->next;
    if (it && it->state == IT_FLIGHT) {
        if (d->ok) {
            count(&l->path->counters.accepted);
            if (!it->is_read) {
                uint64_t now = cn_now_ns();
                cn_prom_histo_observe(&l->path->counters.receipt,
                                      now > it->taken_ns ? now - it->taken_ns : 0);
            }
            finish(it, NULL, NULL);
        } else {
            CN_DEBUG("send", "delivery failed: %s", d->error);
            fail_unavailable(l, it,
                             it->is_read ? "the receipt was not stored; retry shortly"
                                         : "the message was not stored; retry with the same "
                                           "messageKey");
        }
    }
    cn_msg_free(&d->hdr);
    flush(l);
}

static void on_send(struct limiter *l, struct item *it)
{
    it->seq = ++l->next_seq;
    it->next = NULL;
    if (l->tail)
        l->tail->next = it;
    else
        l->head = it;
    l->tail = it;
    if (!l->cursor)
        l->cursor = it;

    uint64_t now = cn_now_ms();
    uint32_t rate = cn_send_path_rate(l->path);
    if (rate != l->rate.cap) { /* changed by the operator: a fresh window at the new rate */
        cn_send_window_free(&l->rate);
        cn_send_window_init(&l->rate, rate, l->path->limits.window_ms);
    }
    if (l->flooded) {
        finish(it, "RATE_LIMITED", "too many messages; the session is closing");
    } else if (!cn_send_window_try(&l->rate, now)) {
        count(&l->path->counters.rate_limited);
        finish(it, "RATE_LIMITED", "too many messages; slow down");
        if (l->path->limits.flood_refusals && !cn_send_window_try(&l->refusals, now)) {
            /* This refusal is the flood_refusals-th within the window. */
            count(&l->path->counters.flood_closes);
            l->flooded = true;
            it->close = 1;
            it->message = "too many messages refused: sustained flooding; closing";
            CN_INFO("send", "user %" PRId64 ": session closed for flooding", l->user_id);
        }
    } else if (!it->is_read && it->type == CN_MSG_SYSTEM) {
        count(&l->path->counters.rejected);
        finish(it, "INVALID_BODY", "type: SYSTEM messages are sent by the server only");
    }
    pump(l);
}

struct forget_msg {
    cn_msg hdr; /* type LIM_FORGET */
    int64_t room_id;
};

/* The user's membership of the room ended: the next SEND to it is checked again. */
static void forget_member(struct limiter *l, int64_t room)
{
    l->forgets++;
    for (unsigned i = 0; i < l->nmember; i++)
        if (l->member[i].room == room)
            l->member[i].room = 0; /* no room has id 0: the slot never matches again */
}

static void behaviour(cn_actor *self, void *state, cn_msg *m)
{
    struct limiter *l = state;
    (void)self;
    switch (m->type) {
    case LIM_SEND:
        on_send(l, (struct item *)m); /* kept in the queue */
        return;
    case LIM_PG:
        on_pg(l, (struct cn_pg_reply *)m);
        return;
    case LIM_KAFKA:
        on_delivery(l, (struct cn_kafka_delivery *)m);
        return;
    case LIM_FORGET:
        forget_member(l, ((struct forget_msg *)m)->room_id);
        cn_msg_free(m);
        return;
    default:
        cn_msg_free(m);
    }
}

static void limiter_free(void *state)
{
    struct limiter *l = state;
    while (l->head) {
        struct item *it = l->head;
        l->head = it->next;
        cn_msg_free(&it->hdr);
    }
    cn_send_window_free(&l->rate);
    cn_send_window_free(&l->refusals);
    free(l->nickname);
    cn_actor_unref(l->session);
    free(l);
}

/* Spawns the actor of `session` (borrowed; the actor keeps a reference) for user
 * `user_id`. Returns one reference for the caller. */
static cn_actor *limiter_spawn(struct cn_send_path *p, cn_actor *session, int64_t user_id)
{
    struct limiter *l = cn_xcalloc(1, sizeof *l);
    l->path = p;
    l->user_id = user_id;
    l->epoch = atomic_load_explicit(&p->member_epoch, memory_order_acquire); /* check_epoch */
    cn_actor_ref(session);
    l->session = session;
    cn_send_window_init(&l->rate, cn_send_path_rate(p), p->limits.window_ms);
    /* One fewer than the limit: the refusal that finds the window full is the
     * limit-th and closes. */
    cn_send_window_init(&l->refusals, p->limits.flood_refusals ? p->limits.flood_refusals - 1 : 0,
                        p->limits.flood_window_ms);
    count(&p->counters.limiters);
    cn_actor *a = cn_actor_spawn(p->rt, behaviour, l, limiter_free);
    l->self = a;
    return a;
}

static void item_free(cn_msg *m)
{
    struct item *it = (struct item *)m;
    free(it->content);
    free(it);
}

int cn_send_path_take(void *ctx, const struct cn_session_send *send)
{
    struct cn_send_path *p = ctx;
    /* Lazily: most sessions only read, and this costs an actor. */
    if (!*send->helper)
        *send->helper = limiter_spawn(p, send->session, send->user_id);
    const struct cn_send_request *req = send->req;
    size_t rlen = send->receipt ? strlen(send->receipt) : 0;
    struct item *it = cn_xcalloc(1, sizeof *it + rlen + 1);
    cn_msg_init(&it->hdr, LIM_SEND, item_free);
    it->taken_ns = cn_now_ns();
    if (rlen)
        memcpy(it->receipt, send->receipt, rlen);
    it->receipt[rlen] = '\0';
    if (!req) {
        /* A read receipt: it shares the SENDs' queue, so answers stay in order. */
        it->is_read = true;
        it->room_id = send->read_room_id;
        it->read = send->read_target;
        return cn_actor_send(*send->helper, &it->hdr);
    }
    it->room_id = req->room_id;
    it->type = req->type;
    it->has_key = req->has_message_key;
    if (req->has_message_key)
        memcpy(it->message_key, req->message_key, sizeof it->message_key);
    it->content = cn_xmalloc(req->content_len + 1);
    memcpy(it->content, req->content, req->content_len);
    it->content[req->content_len] = '\0';
    it->content_len = req->content_len;
    /* -ESHUTDOWN only when the actor was stopped, which the session does once its
     * connection closed: then nobody waits for the answer. */
    return cn_actor_send(*send->helper, &it->hdr);
}

void cn_send_path_forget_room(cn_actor *helper, int64_t room_id)
{
    struct forget_msg *m = cn_xmalloc(sizeof *m);
    cn_msg_init(&m->hdr, LIM_FORGET, NULL);
    m->room_id = room_id;
    cn_actor_send(helper, &m->hdr); /* a stopped actor frees it */
}

void cn_send_path_forget_all(struct cn_send_path *p)
{
    /* release: pairs with the acquire load in check_epoch. */
    atomic_fetch_add_explicit(&p->member_epoch, 1, memory_order_release);
}

uint32_t cn_send_path_rate(struct cn_send_path *p)
{
    uint32_t r = atomic_load_explicit(&p->live_rate, memory_order_relaxed); /* relaxed: a value */
    return r ? r : p->limits.rate;
}

void cn_send_path_set_rate(struct cn_send_path *p, uint32_t rate)
{
    atomic_store_explicit(&p->live_rate, rate, memory_order_relaxed); /* pairs: cn_send_path_rate */
}
