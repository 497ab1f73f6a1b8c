/* The Redis adapter's subscriber connection: keeps the server's subscriptions equal
 * to what local actors want (redis_client_subs.h), copies every published message
 * to each subscribed actor, and after a reconnect subscribes everything again and
 * tells the subscribers.
 *
 * Two quirks of hiredis 0.14's async Pub/Sub shape this file:
 *  - It keeps one callback per channel in a dictionary; the UNSUBSCRIBE reply
 *    deletes the entry. A SUBSCRIBE sent while an UNSUBSCRIBE of the same channel
 *    is unanswered would lose its entry to that late reply, and with it every later
 *    message. So a channel has at most one of the two in flight (chan->server), and
 *    the confirmation of one decides whether the other is needed (reconcile).
 *  - When an UNSUBSCRIBE reply says no channel is left, hiredis leaves subscribed
 *    mode, and a SUBSCRIBE reply that was already on its way then trips an assert
 *    in redisProcessCallbacks. So the connection always stays subscribed to one
 *    private anchor channel, subscribed first; its confirmation also marks the
 *    connection ready.
 *
 * Everything here except cn__redis_subreq_new runs on the adapter thread. */
#include "io/redis_client_pubsub.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/xmalloc.h"
#include "io/redis_messages.h"

#define MOD "redis"

static const char ANCHOR[] = "__cn_redis_client_anchor__";

/* Channels per SUBSCRIBE when resubscribing everything after a reconnect. */
#define RESUBSCRIBE_BATCH 512

static void sub_cb(redisAsyncContext *ac, void *reply, void *privdata);

static void count_channels(struct cn__redis_pubsub *ps)
{
    atomic_store_explicit(&ps->channels, ps->subs.count, memory_order_relaxed);
}

/* Sends one message to `u`'s actor; a stopped actor loses its subscription.
 * Returns false when `u` was removed. */
static bool notify(struct cn__redis_pubsub *ps, struct cn__redis_chan *chan,
                   struct cn__redis_sub *u, enum cn_redis_pubsub_kind kind, const char *payload,
                   size_t payload_len)
{
    struct cn_redis_pubsub *m = cn_xmalloc(sizeof *m + chan->len + 1 + payload_len + 1);
    char *data = (char *)(m + 1);
    cn_msg_init(&m->hdr, u->msg_type, NULL);
    m->kind = kind;
    memcpy(data, chan->name, chan->len + 1);
    m->channel = data;
    m->channel_len = chan->len;
    if (payload_len)
        memcpy(data + chan->len + 1, payload, payload_len);
    data[chan->len + 1 + payload_len] = '\0';
    m->payload = data + chan->len + 1;
    m->payload_len = payload_len;
    if (cn_actor_send(u->actor, &m->hdr) == -ESHUTDOWN) {
        cn__redis_chan_remove_sub(chan, u);
        return false;
    }
    if (kind == CN_REDIS_PUBSUB_MESSAGE)
        atomic_fetch_add_explicit(&ps->delivered, 1, memory_order_relaxed);
    return true;
}

static bool sub_ready(struct cn__redis_pubsub *ps)
{
    return ps->conn.state == CN__CONN_UP;
}

static int send_sub(struct cn__redis_pubsub *ps, const char *verb, struct cn__redis_chan *chan)
{
    const char *argv[2] = {verb, chan->name};
    size_t lens[2] = {strlen(verb), chan->len};
    return redisAsyncCommandArgv(ps->conn.ac, sub_cb, ps, 2, argv, lens);
}

/* Brings the server's view of `chan` one step towards what local actors want, and
 * forgets the channel once nobody wants it and the server agrees. May free chan. */
static void reconcile(struct cn__redis_pubsub *ps, struct cn__redis_chan *chan)
{
    bool want = chan->subs != NULL;
    if (sub_ready(ps)) {
        if (want && chan->server == CN__CHAN_NONE) {
            if (send_sub(ps, "SUBSCRIBE", chan) == REDIS_OK)
                chan->server = CN__CHAN_SUBSCRIBING;
        } else if (!want && chan->server == CN__CHAN_SUBSCRIBED) {
            if (send_sub(ps, "UNSUBSCRIBE", chan) == REDIS_OK)
                chan->server = CN__CHAN_UNSUBSCRIBING;
        }
    }
    if (!want && chan->server == CN__CHAN_NONE) {
        cn__redis_subs_remove(&ps->subs, chan);
        count_channels(ps);
    }
}

/* The server confirmed `chan`: tell every subscriber that was waiting for it. */
static void confirmed(struct cn__redis_pubsub *ps, struct cn__redis_chan *chan)
{
    chan->server = CN__CHAN_SUBSCRIBED;
    struct cn__redis_sub *u = chan->subs;
    while (u) {
        struct cn__redis_sub *next = u->next;
        if (u->notice != CN__SUB_LIVE) {
            enum cn_redis_pubsub_kind kind = u->notice == CN__SUB_NEW
                                                 ? CN_REDIS_PUBSUB_SUBSCRIBED
                                                 : CN_REDIS_PUBSUB_RESUBSCRIBED;
            u->notice = CN__SUB_LIVE;
            notify(ps, chan, u, kind, "", 0);
        }
        u = next;
    }
    reconcile(ps, chan);
}

static void deliver(struct cn__redis_pubsub *ps, struct cn__redis_chan *chan,
                    const redisReply *payload)
{
    atomic_fetch_add_explicit(&ps->received, 1, memory_order_relaxed);
    struct cn__redis_sub *u = chan->subs;
    while (u) {
        struct cn__redis_sub *next = u->next;
        /* A subscriber added after the SUBSCRIBE went out but before its
         * confirmation may see a message first: Redis was already subscribed. */
        notify(ps, chan, u, CN_REDIS_PUBSUB_MESSAGE, payload->str, payload->len);
        u = next;
    }
    if (!chan->subs)
        reconcile(ps, chan);
}

static bool is_str(const redisReply *e)
{
    return e && (e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS);
}

static void sub_cb(redisAsyncContext *ac, void *reply_, void *privdata)
{
    (void)ac;
    struct cn__redis_pubsub *ps = privdata;
    const redisReply *reply = reply_;
    /* NULL: the context is being freed; the down handler resets the registry. */
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
        !is_str(reply->element[0]) || !is_str(reply->element[1]))
        return;
    const char *kind = reply->element[0]->str;
    const redisReply *name = reply->element[1];
    if (strcmp(kind, "subscribe") == 0 && name->len == sizeof ANCHOR - 1 &&
        memcmp(name->str, ANCHOR, name->len) == 0) {
        if (ps->conn.state == CN__CONN_HELLO)
            cn__redis_conn_ready(&ps->conn); /* runs sub_up */
        return;
    }
    struct cn__redis_chan *chan = cn__redis_subs_find(&ps->subs, name->str, name->len);
    if (!chan)
        return; /* the anchor's messages, or a channel already forgotten */
    if (strcmp(kind, "message") == 0) {
        if (is_str(reply->element[2]))
            deliver(ps, chan, reply->element[2]);
    } else if (strcmp(kind, "subscribe") == 0) {
        confirmed(ps, chan);
    } else if (strcmp(kind, "unsubscribe") == 0) {
        chan->server = CN__CHAN_NONE;
        reconcile(ps, chan);
    }
}

/* ---- connection up and down ------------------------------------------------------ */

struct resub {
    struct cn__redis_pubsub *ps;
    const char *argv[1 + RESUBSCRIBE_BATCH];
    size_t lens[1 + RESUBSCRIBE_BATCH];
    struct cn__redis_chan *chans[RESUBSCRIBE_BATCH];
    int n;
};

static void resub_flush(struct resub *b)
{
    if (b->n == 0)
        return;
    int rc = redisAsyncCommandArgv(b->ps->conn.ac, sub_cb, b->ps, 1 + b->n, b->argv, b->lens);
    for (int i = 0; i < b->n; i++)
        if (rc == REDIS_OK)
            b->chans[i]->server = CN__CHAN_SUBSCRIBING;
    b->n = 0;
}

static void resub_one(void *ctx, struct cn__redis_chan *chan)
{
    struct resub *b = ctx;
    if (!chan->subs || chan->server != CN__CHAN_NONE)
        return;
    b->argv[1 + b->n] = chan->name;
    b->lens[1 + b->n] = chan->len;
    b->chans[b->n++] = chan;
    if (b->n == RESUBSCRIBE_BATCH)
        resub_flush(b);
}

/* The anchor is confirmed: subscribe every wanted channel again. */
static void sub_up(struct cn__redis_conn *c)
{
    struct cn__redis_pubsub *ps = c->owner;
    if (c->was_up) {
        atomic_fetch_add_explicit(&ps->reconnects, 1, memory_order_relaxed);
        CN_INFO(MOD, "subscriber connection back; resubscribing %zu channels", ps->subs.count);
    }
    struct resub *b = cn_xmalloc(sizeof *b);
    b->ps = ps;
    b->argv[0] = "SUBSCRIBE";
    b->lens[0] = 9;
    b->n = 0;
    cn__redis_subs_each(&ps->subs, resub_one, b);
    resub_flush(b);
    free(b);
    cn__redis_env_set_flag(c->env, &ps->up, true);
}

/* Subscribes the anchor first: it keeps hiredis in subscribed mode for good, and
 * its confirmation proves the connection works. */
static void sub_hello(struct cn__redis_conn *c)
{
    const char *argv[2] = {"SUBSCRIBE", ANCHOR};
    size_t lens[2] = {9, sizeof ANCHOR - 1};
    redisAsyncCommandArgv(c->ac, sub_cb, c->owner, 2, argv, lens);
}

static void reset_one(void *ctx, struct cn__redis_chan *chan)
{
    struct cn__redis_pubsub *ps = ctx;
    chan->server = CN__CHAN_NONE;
    for (struct cn__redis_sub *u = chan->subs; u; u = u->next)
        if (u->notice == CN__SUB_LIVE)
            u->notice = CN__SUB_LOST;
    if (!chan->subs)
        cn__redis_subs_remove(&ps->subs, chan);
}

/* Lost, or a connect attempt failed: the server forgot every subscription. Logged
 * once per loss of a ready connection, not per attempt (the command connection
 * logs the outage itself). */
static void sub_down(struct cn__redis_conn *c, const char *why)
{
    struct cn__redis_pubsub *ps = c->owner;
    if (atomic_load_explicit(&ps->up, memory_order_relaxed)) {
        cn__redis_env_set_flag(c->env, &ps->up, false);
        CN_WARN(MOD, "subscriber connection lost (%s); %zu channels to resubscribe", why,
                ps->subs.count);
    }
    cn__redis_subs_each(&ps->subs, reset_one, ps);
    count_channels(ps);
}

void cn__redis_pubsub_init(struct cn__redis_pubsub *ps, struct cn__redis_env *env, int slot)
{
    memset(ps, 0, sizeof *ps);
    cn__redis_subs_init(&ps->subs);
    const struct cn__redis_conn_hooks hooks = {
        .hello = sub_hello, .on_up = sub_up, .on_down = sub_down};
    cn__redis_conn_init(&ps->conn, env, "subscriber", slot, &hooks, ps);
}

void cn__redis_pubsub_free(struct cn__redis_pubsub *ps)
{
    if (ps->subs.bucket)
        cn__redis_subs_free(&ps->subs);
    count_channels(ps);
}

/* ---- requests -------------------------------------------------------------------- */

void cn__redis_pubsub_handle(struct cn__redis_pubsub *ps, struct cn__redis_subreq *req)
{
    if (ps->conn.env->stopping) {
        cn_msg_free(&req->hdr);
        return;
    }
    struct cn__redis_chan *chan;
    if (req->subscribe) {
        chan = cn__redis_subs_get(&ps->subs, req->channel, req->len);
        struct cn__redis_sub *u = cn__redis_chan_find_sub(chan, req->actor);
        if (u) {
            u->msg_type = req->msg_type; /* the registry already holds a reference */
        } else {
            u = cn_xmalloc(sizeof *u);
            u->actor = req->actor;
            req->actor = NULL; /* its reference moves to the registry */
            u->msg_type = req->msg_type;
            u->notice = CN__SUB_NEW;
            u->next = chan->subs;
            chan->subs = u;
            if (chan->server == CN__CHAN_SUBSCRIBED) {
                u->notice = CN__SUB_LIVE;
                notify(ps, chan, u, CN_REDIS_PUBSUB_SUBSCRIBED, "", 0);
            }
        }
        reconcile(ps, chan);
        count_channels(ps);
    } else {
        chan = cn__redis_subs_find(&ps->subs, req->channel, req->len);
        struct cn__redis_sub *u = chan ? cn__redis_chan_find_sub(chan, req->actor) : NULL;
        if (u) {
            cn__redis_chan_remove_sub(chan, u);
            reconcile(ps, chan);
        }
    }
    cn_msg_free(&req->hdr);
}

static void subreq_free(cn_msg *m)
{
    struct cn__redis_subreq *req = (struct cn__redis_subreq *)m;
    if (req->subscribe && req->actor)
        cn_actor_unref(req->actor);
    free(req);
}

struct cn__redis_subreq *cn__redis_subreq_new(uint32_t inbox_type, bool subscribe,
                                              const char *channel, size_t len, cn_actor *actor,
                                              uint32_t msg_type)
{
    struct cn__redis_subreq *req = cn_xmalloc(sizeof *req + len + 1);
    cn_msg_init(&req->hdr, inbox_type, subreq_free);
    req->subscribe = subscribe;
    req->actor = actor;
    if (subscribe)
        cn_actor_ref(actor);
    req->msg_type = msg_type;
    req->len = len;
    memcpy(req->channel, channel, len);
    req->channel[len] = '\0';
    return req;
}
