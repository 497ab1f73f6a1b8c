/* The I/O-thread side of STOMP over WebSocket; see ws_transport.h.
 *
 * A connection's state lives in the wsi's opaque user data (like the HTTP
 * server's per-request state, and told apart from it by a leading `kind`). The
 * connection owns its parser, its outbound queue and one reference to its session
 * actor; the session owns everything else. They meet only through messages
 * (ws_link.h), so a slow or stopped session never blocks this thread, and this
 * thread never waits for a session. */
#include "io/ws_transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/u64map.h"
#include "base/xmalloc.h"
#include "io/tls_certs.h"
#include "proto/stomp_negotiate.h"
#include "proto/stomp_writer.h"

/* Sessions render frames behind CN_WS_PRE bytes of headroom, which lws_write needs. */
_Static_assert(CN_WS_PRE == LWS_PRE, "CN_WS_PRE must equal libwebsockets' LWS_PRE");

/* The first member of both kinds of per-connection state (see http_server.c). */
#define KIND_WS 0x57530001

struct ws_conn {
    int kind; /* KIND_WS; must stay first */
    uint64_t id;
    struct lws *wsi;
    struct cn__ws_thread *t;
    struct ws_conn *prev, *next; /* every open connection of the thread */
    struct cn_stomp_parser *parser;
    cn_actor *session; /* one reference; NULL once detached (close_all) */
    struct cn_ws_rx *rx;
    struct cn_ws_out *head, *tail;
    size_t queued;    /* bytes in the queue */
    bool input_dead;  /* the parser failed: later bytes are ignored */
    bool closing;     /* a close is under way: later output is dropped */
    bool over_limit;  /* a write pass left more than max_outbound queued: timer armed */
    bool dirty;       /* listed in t->dirty: written after the current inbox drain */
    bool saw_connect; /* the first CONNECT/STOMP went by: the version is settled */
    int close_reason;
    int max_minor;           /* the subprotocol's STOMP version: 12, 11 or 10 */
    lws_usec_t confirmed_us; /* when received data last told lws the peer is alive */
};

/* Frames coalesced into one send: each stays its own WebSocket message (one STOMP
 * frame per message, what every client expects), but a burst for one connection
 * costs one syscall and one TCP segment instead of one per frame. */
enum { COALESCE_MAX = 16 * 1024 };

struct cn__ws_thread {
    struct cn_http_server *srv;
    uint32_t index;
    struct cn_ws_config cfg;
    struct cn_u64map conns; /* id -> ws_conn */
    struct ws_conn *all;
    uint64_t next_id;
    bool shut; /* close_all ran: no new sessions */
    /* Connections that got frames during the current inbox drain (ids: one may
     * close before the flush). */
    uint64_t *dirty;
    size_t dirty_len, dirty_cap;
    unsigned char *scratch; /* LWS_PRE + COALESCE_MAX: one coalesced write */
};

struct cn__ws_thread *cn__ws_thread_new(struct cn_http_server *srv, uint32_t index,
                                        const struct cn_ws_config *cfg)
{
    struct cn__ws_thread *t = cn_xcalloc(1, sizeof *t);
    t->srv = srv;
    t->index = index;
    t->cfg = *cfg;
    if (!t->cfg.max_outbound)
        t->cfg.max_outbound = 1u << 20;
    if (t->cfg.slow_close_s <= 0)
        t->cfg.slow_close_s = 2;
    cn_u64map_init(&t->conns);
    t->scratch = cn_xmalloc(LWS_PRE + COALESCE_MAX);
    return t;
}

void cn__ws_thread_free(struct cn__ws_thread *t)
{
    if (!t)
        return;
    cn_u64map_free(&t->conns);
    free(t->dirty);
    free(t->scratch);
    free(t);
}

bool cn__ws_is_conn(const void *opaque)
{
    return opaque && *(const int *)opaque == KIND_WS;
}

struct cn_ws_out *cn_ws_out_new(uint64_t conn_id, size_t len)
{
    struct cn_ws_out *o = cn_xmalloc(sizeof *o + CN_WS_PRE + len);
    cn_msg_init(&o->hdr, 0, NULL);
    o->conn_id = conn_id;
    o->qnext = NULL;
    o->len = len;
    o->close_after = false;
    o->droppable = false;
    o->close_reason = CN_WS_CLOSE_PEER;
    o->born_ns = 0;
    o->latency = NULL;
    return o;
}

void cn_ws_rx_unref(struct cn_ws_rx *rx)
{
    /* acq_rel: the last dropper sees every relaxed write before it frees. */
    if (rx && atomic_fetch_sub_explicit(&rx->refs, 1, memory_order_acq_rel) == 1)
        free(rx);
}

static void count(atomic_uint_fast64_t *c, int64_t d)
{
    atomic_fetch_add_explicit(c, (uint_fast64_t)d, memory_order_relaxed);
}

static void drop_queue(struct ws_conn *c)
{
    while (c->head) {
        struct cn_ws_out *o = c->head;
        c->head = o->qnext;
        cn_msg_free(&o->hdr);
    }
    c->tail = NULL;
    c->queued = 0;
}

static void enqueue(struct ws_conn *c, struct cn_ws_out *o)
{
    o->qnext = NULL;
    if (c->tail)
        c->tail->qnext = o;
    else
        c->head = o;
    c->tail = o;
    c->queued += o->len;
}

/* Starts a close: nothing more is queued after `last` (which may be NULL when
 * there is nothing left to write), and the connection dies within the deadline
 * even if the client never reads again. */
static void begin_close(struct ws_conn *c, int reason)
{
    c->closing = true;
    c->close_reason = reason;
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, c->t->cfg.slow_close_s);
}

static void tell_session(struct ws_conn *c, cn_msg *m)
{
    if (c->session)
        cn_actor_send(c->session, m); /* a stopped session frees it: fine */
    else
        cn_msg_free(m);
}

static void send_closed(struct ws_conn *c, int reason)
{
    struct cn_ws_in_closed *m = cn_xmalloc(sizeof *m);
    cn_msg_init(&m->hdr, CN_WS_IN_CLOSED, NULL);
    m->reason = reason;
    tell_session(c, &m->hdr);
}

static void slow_consumer(struct ws_conn *c)
{
    count(&c->t->cfg.counters->slow_consumer_closes, 1);
    CN_INFO("ws", "connection %llx: slow consumer (outbound queue over %zu bytes): closing",
            (unsigned long long)c->id, c->t->cfg.max_outbound);
    drop_queue(c);
    /* The ERROR goes out only if the client reads again before the deadline;
     * either way the connection closes and nobody waits for it. */
    static const char text[] = "slow consumer: outbound queue overflow (max_outbound_bytes limit)";
    char buf[LWS_PRE + 256];
    long n = cn_stomp_write_error(buf, sizeof buf, LWS_PRE, text, NULL, text, sizeof text - 1);
    if (n > 0) {
        struct cn_ws_out *o = cn_ws_out_new(c->id, (size_t)n);
        memcpy(o->data + LWS_PRE, buf + LWS_PRE, (size_t)n);
        o->close_after = true;
        o->close_reason = CN_WS_CLOSE_SLOW_CONSUMER;
        enqueue(c, o);
        lws_callback_on_writable(c->wsi);
        count(&c->t->cfg.counters->frames_out[CN_STOMP_ERROR], 1);
    }
    begin_close(c, CN_WS_CLOSE_SLOW_CONSUMER);
}

void cn__ws_deliver(struct cn__ws_thread *t, struct cn_ws_out *o)
{
    struct ws_conn *c = cn_u64map_get(&t->conns, o->conn_id);
    if (!c || c->closing) {
        cn_msg_free(&o->hdr);
        return;
    }
    if (o->droppable && c->queued + o->len > t->cfg.max_outbound / 2) {
        count(&t->cfg.counters->typing_dropped, 1);
        cn_msg_free(&o->hdr);
        return;
    }
    /* A burst may pass the limit for a moment: the verdict "slow" is given after
     * a write pass (on_writeable) that could not bring the queue back under it,
     * or here at four times the limit, which bounds the memory either way. */
    if (c->queued + o->len > 4 * t->cfg.max_outbound) {
        cn_msg_free(&o->hdr);
        slow_consumer(c);
        return;
    }
    bool close_after = o->close_after;
    int reason = o->close_reason;
    enqueue(c, o);
    if (close_after)
        begin_close(c, reason);
    if (!c->dirty) {
        c->dirty = true;
        if (t->dirty_len == t->dirty_cap) {
            t->dirty_cap = t->dirty_cap ? 2 * t->dirty_cap : 64;
            t->dirty = cn_xrealloc(t->dirty, t->dirty_cap * sizeof *t->dirty);
        }
        t->dirty[t->dirty_len++] = c->id;
    }
}

static bool path_is_ws(struct lws *wsi)
{
    char path[16];
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0 ||
        lws_hdr_copy(wsi, path, sizeof path, WSI_TOKEN_GET_URI) < 0)
        return false;
    return strcmp(path, "/ws") == 0;
}

/* Answers a refused upgrade with an HTTP status and the JSON error shape, written
 * straight to the socket (lws has nothing of ours queued before an upgrade's
 * answer), then the caller hangs up. */
static void refuse_upgrade(struct lws *wsi, int status, const char *reason, const char *code,
                           const char *message)
{
    char body[256], resp[512];
    int bl = snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code,
                      message);
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 %d %s\r\n"
                     "Content-Type: application/json\r\n"
                     "Cache-Control: no-store\r\n"
                     "Content-Length: %d\r\n"
                     "Connection: close\r\n\r\n%s",
                     status, reason, bl, body);
    /* A fresh socket's send buffer takes this whole; if not, the close says enough. */
    if (!lws_partial_buffered(wsi) && n > 0 && (size_t)n < sizeof resp)
        cn_tls_raw_send(wsi, resp, (size_t)n);
}

static void guard_write(void *wsi, const void *buf, size_t len)
{
    cn_tls_raw_send(wsi, buf, len);
}

/* Before lws looks at the upgrade: only /ws upgrades, and among the subprotocols
 * the client offers, the highest STOMP version whatever their order. lws binds
 * the first offered name that its vhost knows, so for this upgrade the STOMP
 * entries not chosen get a name no client sends: lws then binds, and answers,
 * the chosen one. The table is this I/O thread's own (http_server.c), the
 * upgrade runs on from here in the same call, and every upgrade sets every name
 * anew. No header at all is STOMP 1.2 (protocols[0]). */
static const char *const disabled_names[] = {"-v12.stomp", "-v11.stomp", "-v10.stomp"};

static int confirm_upgrade(struct lws *wsi)
{
    if (!path_is_ws(wsi)) {
        refuse_upgrade(wsi, 404, "Not Found", "NOT_FOUND",
                       "no WebSocket endpoint at this path; STOMP is served at /ws");
        return -1;
    }
    int total = lws_hdr_total_length(wsi, WSI_TOKEN_PROTOCOL);
    if (total <= 0)
        return 0;
    char offer[128];
    /* lws itself refuses a list longer than its 127-byte buffer. */
    if (total >= (int)sizeof offer ||
        lws_hdr_copy(wsi, offer, sizeof offer, WSI_TOKEN_PROTOCOL) < 0) {
        refuse_upgrade(wsi, 400, "Bad Request", "UNSUPPORTED_SUBPROTOCOL",
                       "Sec-WebSocket-Protocol is too long");
        return -1;
    }
    int minor = cn_stomp_subprotocol_pick(offer, strlen(offer));
    if (!minor) {
        refuse_upgrade(wsi, 400, "Bad Request", "UNSUPPORTED_SUBPROTOCOL",
                       "no supported subprotocol offered: this server speaks v12.stomp, "
                       "v11.stomp and v10.stomp");
        return -1;
    }
    /* The HTTP side of the connection is bound to the table's first entry. */
    struct lws_protocols *p = (struct lws_protocols *)lws_get_protocol(wsi);
    if (!p || !p->name || strcmp(p->name, "http") != 0)
        return 0; /* not our table: lws' own choice stands */
    for (int i = 1; i <= 3; i++) {
        int v = (int)p[i].id;
        if (v < 10 || v > 12)
            return 0;
        p[i].name = v == minor ? cn_stomp_subprotocol_name(v) : disabled_names[12 - v];
    }
    return 0;
}

static int subprotocol_minor(struct lws *wsi)
{
    const struct lws_protocols *p = lws_get_protocol(wsi);
    return p && p->id >= 10 && p->id <= 12 ? (int)p->id : 12; /* none: protocols[0] */
}

static int on_established(struct cn__ws_thread *t, struct lws *wsi)
{
    if (t->shut || !t->cfg.open_session)
        return -1;
    struct ws_conn *c = cn_xcalloc(1, sizeof *c);
    c->kind = KIND_WS;
    c->t = t;
    c->wsi = wsi;
    c->id = ((uint64_t)(t->index + 1) << 48) | ++t->next_id;
    c->parser = cn_stomp_parser_new(&t->cfg.limits);
    c->close_reason = CN_WS_CLOSE_PEER;
    c->max_minor = subprotocol_minor(wsi);
    c->confirmed_us = lws_now_usecs();
    c->rx = cn_xmalloc(sizeof *c->rx);
    atomic_init(&c->rx->refs, 2); /* ours and the session's */
    atomic_init(&c->rx->chunks, 0);
    struct cn_ws_peer peer = {t->srv, t->index, c->id, c->rx, c->max_minor, ""};
    cn__http_client_addr(wsi, peer.client_addr, sizeof peer.client_addr);
    c->session = t->cfg.open_session(t->cfg.open_ctx, &peer);
    cn_u64map_put(&t->conns, c->id, c);
    c->next = t->all;
    if (t->all)
        t->all->prev = c;
    t->all = c;
    lws_set_opaque_user_data(wsi, c);
    count(&t->cfg.counters->connections_open, 1);
    count(&t->cfg.counters->connections_total, 1);
    return 0;
}

static void in_frame_free(cn_msg *m)
{
    free(((struct cn_ws_in_frame *)m)->frame);
    free(m);
}

static void on_receive(struct ws_conn *c, const char *in, size_t len)
{
    if (c->input_dead || c->closing)
        return;
    atomic_fetch_add_explicit(&c->rx->chunks, 1, memory_order_relaxed);
    /* Data from the peer proves it alive as a PONG would: lws then skips the PING.
     * At most once per second, as each call re-files the connection's timer. */
    lws_usec_t now = lws_now_usecs();
    if (now - c->confirmed_us >= 1000000) {
        c->confirmed_us = now;
        lws_validity_confirmed(c->wsi);
    }
    while (len > 0) {
        struct cn_stomp_frame f;
        size_t used = 0;
        int rc = cn_stomp_parser_parse(c->parser, in, len, &used, &f);
        if (rc == CN_STOMP_NEED_MORE)
            return;
        if (rc < 0) {
            c->input_dead = true;
            struct cn_ws_in_error *m = cn_xmalloc(sizeof *m);
            cn_msg_init(&m->hdr, CN_WS_IN_PARSE_ERROR, NULL);
            m->code = rc;
            tell_session(c, &m->hdr);
            return;
        }
        if (!c->saw_connect && (f.command == CN_STOMP_CONNECT || f.command == CN_STOMP_STOMP)) {
            /* The session picks the same version from the same frame; 1.0 frames
             * after it carry their headers unescaped. */
            c->saw_connect = true;
            const char *v =
                cn_stomp_version_pick(cn_stomp_frame_get(&f, "accept-version", NULL), c->max_minor);
            cn_stomp_parser_set_raw(c->parser, v && strcmp(v, "1.0") == 0);
        }
        struct cn_ws_in_frame *m = cn_xmalloc(sizeof *m);
        cn_msg_init(&m->hdr, CN_WS_IN_FRAME, in_frame_free);
        m->frame = cn_stomp_frame_clone(&f);
        tell_session(c, &m->hdr);
        in += used;
        len -= used;
    }
}

/* Writes the WebSocket close frame for `reason` (cn_ws_close_code and its text):
 * written here rather than left to lws_close_reason, whose frame does not always
 * go out when the callback then returns -1 (with the libuv loops it did not). lws
 * keeps what the socket does not take and flushes it before it closes. */
static void close_status(struct lws *wsi, int reason)
{
    const char *text = cn_ws_close_text(reason);
    size_t tl = strlen(text);
    int code = cn_ws_close_code(reason);
    unsigned char buf[LWS_PRE + 2 + 64];
    if (tl > 64)
        tl = 64;
    buf[LWS_PRE] = (unsigned char)(code >> 8);
    buf[LWS_PRE + 1] = (unsigned char)(code & 0xff);
    memcpy(buf + LWS_PRE + 2, text, tl);
    /* 4 is LWS_WRITE_CLOSE, which lws-write.h leaves to lws_close_reason. */
    lws_write(wsi, buf + LWS_PRE, 2 + tl, (enum lws_write_protocol)4);
}

/* The header of an unmasked, final text frame of len payload bytes (RFC 6455
 * 5.2), at p; returns its size (2, 4 or 10). */
static size_t ws_text_header(unsigned char *p, size_t len)
{
    p[0] = 0x81;
    if (len < 126) {
        p[1] = (unsigned char)len;
        return 2;
    }
    if (len < 65536) {
        p[1] = 126;
        p[2] = (unsigned char)(len >> 8);
        p[3] = (unsigned char)len;
        return 4;
    }
    p[1] = 127;
    for (int i = 0; i < 8; i++)
        p[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    return 10;
}

static struct cn_ws_out *pop(struct ws_conn *c)
{
    struct cn_ws_out *o = c->head;
    c->head = o->qnext;
    if (!c->head)
        c->tail = NULL;
    c->queued -= o->len;
    return o;
}

enum pass { PASS_OK, PASS_DEAD, PASS_CLOSE, PASS_LINGER };

/* Writes queued frames while the socket takes them whole, several frames per
 * send (COALESCE_MAX). lws keeps what a send left over and writes it before
 * anything else once the socket drains; nothing more is written until then.
 * Bounded per pass so one busy connection cannot starve the others of this I/O
 * thread. A frame that closes the connection goes out only from the writeable
 * callback (in_callback), which can return -1; outside it the pass stops there
 * and asks for that callback. */
/* A live room message went to the socket: its room-to-write latency. */
static void timed(const struct cn_ws_out *o)
{
    if (!o->latency || !o->born_ns)
        return;
    uint64_t now = cn_now_ns();
    cn_prom_histo_observe(o->latency, now > o->born_ns ? now - o->born_ns : 0);
}

static enum pass write_pass(struct ws_conn *c, bool in_callback)
{
    enum { MAX_BYTES_PER_PASS = 256 * 1024 };
    unsigned char *buf = c->t->scratch + LWS_PRE;
    size_t bytes = 0;
    while (c->head && bytes < MAX_BYTES_PER_PASS && !lws_partial_buffered(c->wsi)) {
        struct cn_ws_out *o = c->head;
        if (o->close_after) {
            if (!in_callback) {
                lws_callback_on_writable(c->wsi);
                return PASS_OK;
            }
            o = pop(c);
            int reason = o->close_reason;
            bool ok = o->len == 0 ||
                      lws_write(c->wsi, o->data + LWS_PRE, o->len, LWS_WRITE_TEXT) >= (int)o->len;
            cn_msg_free(&o->hdr);
            if (!ok)
                return PASS_DEAD;
            /* Everything queued before the ERROR or RECEIPT is on its way first. */
            close_status(c->wsi, reason);
            if (lws_partial_buffered(c->wsi))
                return PASS_CLOSE; /* lws flushes what it holds, then closes */
            /* A lingering close (as nginx does): closing a socket with unread input
             * sends RST, and the client may lose the ERROR and the close frame (a
             * too-big frame is still arriving). So the write side ends here (FIN
             * after the close frame) and input is read and dropped until the client
             * closes, or the slow-close deadline passes. */
            shutdown(lws_get_socket_fd(c->wsi), SHUT_WR);
            drop_queue(c);
            c->input_dead = true;
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, c->t->cfg.slow_close_s);
            return PASS_LINGER;
        }
        if (o->len + 10 > COALESCE_MAX) {
            o = pop(c);
            bool ok = lws_write(c->wsi, o->data + LWS_PRE, o->len, LWS_WRITE_TEXT) >= (int)o->len;
            bytes += o->len;
            timed(o);
            cn_msg_free(&o->hdr);
            if (!ok)
                return PASS_DEAD;
            continue;
        }
        size_t n = 0;
        while ((o = c->head) && !o->close_after && n + o->len + 10 <= COALESCE_MAX) {
            o = pop(c);
            if (o->len > 0) {
                n += ws_text_header(buf + n, o->len);
                memcpy(buf + n, o->data + LWS_PRE, o->len);
                n += o->len;
            }
            timed(o); /* written with the pass's one lws_write, just below */
            cn_msg_free(&o->hdr);
        }
        /* Framed above, so lws sends the bytes as they are (LWS_WRITE_RAW). */
        if (n > 0 && lws_write(c->wsi, buf, n, LWS_WRITE_RAW) < (int)n)
            return PASS_DEAD;
        bytes += n;
    }
    return PASS_OK;
}

/* After a write pass: the slow-consumer timer, and the next writeable callback
 * while frames wait. */
static void after_pass(struct ws_conn *c)
{
    bool choked = lws_partial_buffered(c->wsi);
    if (choked && c->queued > c->t->cfg.max_outbound && !c->closing) {
        /* The socket took what it could and more than the limit still waits. A
         * reader that is merely behind catches up within the grace; one that
         * stopped reading gets no more writeable callbacks, so a timer decides. */
        if (!c->over_limit) {
            c->over_limit = true;
            lws_set_timer_usecs(c->wsi, (lws_usec_t)c->t->cfg.slow_close_s * 500000);
        }
    } else if (c->over_limit && c->queued <= c->t->cfg.max_outbound) {
        c->over_limit = false;
        lws_set_timer_usecs(c->wsi, LWS_SET_TIMER_USEC_CANCEL);
    }
    if (c->head)
        lws_callback_on_writable(c->wsi);
}

static int on_writeable(struct ws_conn *c)
{
    enum pass p = write_pass(c, true);
    if (p == PASS_LINGER)
        return 0;
    if (p != PASS_OK)
        return -1;
    after_pass(c);
    return 0;
}

void cn__ws_flush(struct cn__ws_thread *t)
{
    for (size_t i = 0; i < t->dirty_len; i++) {
        struct ws_conn *c = cn_u64map_get(&t->conns, t->dirty[i]);
        if (!c)
            continue; /* closed since its frames came */
        c->dirty = false;
        if (write_pass(c, false) == PASS_DEAD) {
            /* The socket failed; lws closes such a connection on its next event,
             * this makes sure of it. */
            drop_queue(c);
            c->closing = true;
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
            continue;
        }
        after_pass(c);
    }
    t->dirty_len = 0;
}

static void on_closed(struct ws_conn *c)
{
    struct cn__ws_thread *t = c->t;
    send_closed(c, c->close_reason);
    if (c->session)
        cn_actor_unref(c->session);
    cn_u64map_del(&t->conns, c->id);
    if (c->prev)
        c->prev->next = c->next;
    else
        t->all = c->next;
    if (c->next)
        c->next->prev = c->prev;
    drop_queue(c);
    cn_stomp_parser_free(c->parser);
    cn_ws_rx_unref(c->rx);
    count(&t->cfg.counters->connections_open, -1);
    lws_set_opaque_user_data(c->wsi, NULL);
    free(c);
}

int cn__ws_callback(struct cn__ws_thread *t, struct lws *wsi, enum lws_callback_reasons reason,
                    void *in, size_t len)
{
    void *opaque = lws_get_opaque_user_data(wsi);
    struct ws_conn *c = cn__ws_is_conn(opaque) ? opaque : NULL;
    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return confirm_upgrade(wsi);
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        /* Only /ws upgrades, only while sessions can be opened, and only
         * within the node's limits (a refusal is answered 503 by the guard). */
        if (!path_is_ws(wsi) || t->shut || !t->cfg.open_session)
            return -1;
        /* Output of an earlier keep-alive answer still waiting in lws: the 503
         * would jump the queue, so such an upgrade is refused without it. */
        return cn_conn_guard_upgrade(t->cfg.guard, lws_partial_buffered(wsi) ? NULL : guard_write,
                                     wsi);
    case LWS_CALLBACK_ESTABLISHED:
        return on_established(t, wsi);
    case LWS_CALLBACK_RECEIVE:
        if (c)
            on_receive(c, in, len);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return c ? on_writeable(c) : 0;
    case LWS_CALLBACK_TIMER:
        /* Armed by on_writeable: half the slow-consumer grace has passed with the
         * queue over the limit. */
        if (c && c->over_limit && !c->closing && c->queued > c->t->cfg.max_outbound)
            slow_consumer(c);
        return 0;
    case LWS_CALLBACK_CLOSED:
    case LWS_CALLBACK_WSI_DESTROY:
        if (c)
            on_closed(c);
        return 0;
    default:
        return 0;
    }
}

void cn__ws_close_all(struct cn__ws_thread *t)
{
    if (t->shut)
        return;
    t->shut = true;
    for (struct ws_conn *c = t->all; c; c = c->next) {
        if (!c->closing)
            c->close_reason = CN_WS_CLOSE_SHUTDOWN;
        send_closed(c, c->close_reason);
        if (c->session)
            cn_actor_unref(c->session);
        c->session = NULL;
        c->closing = true;
        close_status(c->wsi, CN_WS_CLOSE_SHUTDOWN);
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
}
