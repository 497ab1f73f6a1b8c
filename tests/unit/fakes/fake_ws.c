/* The fake WebSocket link; see fake_ws.h. One mutex and one condition guard the
 * list of outputs: tests are small and the fake is not what they measure. */
#include "fake_ws.h"
#include "deadline.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/xmalloc.h"
#include "proto/stomp_parser.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct cn_ws_out *head, **tail = &head; /* linked through qnext, oldest first */

struct cn_ws_out *cn_ws_out_new(uint64_t conn_id, size_t len)
{
    struct cn_ws_out *o = cn_xmalloc(sizeof *o + CN_WS_PRE + len);
    cn_msg_init(&o->hdr, CN_WS_OUT_MSG, NULL);
    o->conn_id = conn_id;
    o->qnext = NULL;
    o->len = len;
    o->close_after = false;
    o->droppable = false;
    o->close_reason = CN_WS_CLOSE_PEER;
    return o;
}

void cn_ws_out_push(const struct cn_ws_peer *peer, struct cn_ws_out *out)
{
    (void)peer;
    out->qnext = NULL;
    pthread_mutex_lock(&mu);
    *tail = out;
    tail = &out->qnext;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

void cn_ws_rx_unref(struct cn_ws_rx *rx)
{
    if (rx && atomic_fetch_sub_explicit(&rx->refs, 1, memory_order_acq_rel) == 1)
        free(rx);
}

struct cn_ws_peer fake_ws_peer(uint64_t conn_id)
{
    struct cn_ws_rx *rx = cn_xmalloc(sizeof *rx);
    atomic_init(&rx->refs, 1);
    atomic_init(&rx->chunks, 0);
    return (struct cn_ws_peer){.server = NULL, .thread = 0, .conn_id = conn_id, .rx = rx};
}

static void in_frame_free(cn_msg *m)
{
    free(((struct cn_ws_in_frame *)m)->frame);
    free(m);
}

/* Parses exactly one frame from text, or returns NULL. */
static struct cn_stomp_frame *parse_one(const char *text, size_t len)
{
    struct cn_stomp_parser *p = cn_stomp_parser_new(NULL);
    struct cn_stomp_frame f, *copy = NULL;
    size_t used = 0;
    if (cn_stomp_parser_parse(p, text, len, &used, &f) == CN_STOMP_FRAME) {
        /* What may follow a frame is EOLs only (heart-beats). */
        size_t rest = used;
        while (rest < len && (text[rest] == '\n' || text[rest] == '\r'))
            rest++;
        if (rest == len)
            copy = cn_stomp_frame_clone(&f);
    }
    cn_stomp_parser_free(p);
    return copy;
}

int fake_ws_send(cn_actor *session, const char *text, size_t len)
{
    struct cn_stomp_frame *f = parse_one(text, len);
    if (!f) {
        fprintf(stderr, "fake_ws_send: not one STOMP frame: %.*s\n", (int)len, text);
        abort();
    }
    struct cn_ws_in_frame *m = cn_xmalloc(sizeof *m);
    cn_msg_init(&m->hdr, CN_WS_IN_FRAME, in_frame_free);
    m->frame = f;
    return cn_actor_send(session, &m->hdr);
}

int fake_ws_closed(cn_actor *session, int reason)
{
    struct cn_ws_in_closed *m = cn_xmalloc(sizeof *m);
    cn_msg_init(&m->hdr, CN_WS_IN_CLOSED, NULL);
    m->reason = reason;
    return cn_actor_send(session, &m->hdr);
}

/* The first output of conn_id in the list, unlinked; NULL when none. Under mu. */
static struct cn_ws_out *take(uint64_t conn_id)
{
    for (struct cn_ws_out **pp = &head; *pp; pp = &(*pp)->qnext) {
        struct cn_ws_out *o = *pp;
        if (o->conn_id != conn_id)
            continue;
        *pp = o->qnext;
        if (tail == &o->qnext)
            tail = pp;
        o->qnext = NULL;
        return o;
    }
    return NULL;
}

struct cn_ws_out *fake_ws_next(uint64_t conn_id, int timeout_ms)
{
    struct timespec until = cn_test_deadline(timeout_ms);
    pthread_mutex_lock(&mu);
    struct cn_ws_out *o;
    while (!(o = take(conn_id))) {
        if (pthread_cond_timedwait(&cv, &mu, &until) == ETIMEDOUT) {
            o = take(conn_id);
            break;
        }
    }
    pthread_mutex_unlock(&mu);
    return o;
}

size_t fake_ws_pending(uint64_t conn_id)
{
    pthread_mutex_lock(&mu);
    size_t n = 0;
    for (struct cn_ws_out *o = head; o; o = o->qnext)
        n += o->conn_id == conn_id;
    pthread_mutex_unlock(&mu);
    return n;
}

struct cn_stomp_frame *fake_ws_frame(const struct cn_ws_out *o)
{
    const char *p = (const char *)o->data + CN_WS_PRE;
    if (o->len == 0 || (o->len == 1 && p[0] == '\n'))
        return NULL;
    return parse_one(p, o->len);
}

void fake_ws_reset(void)
{
    pthread_mutex_lock(&mu);
    struct cn_ws_out *all = head;
    head = NULL;
    tail = &head;
    pthread_mutex_unlock(&mu);
    while (all) {
        struct cn_ws_out *n = all->qnext;
        cn_msg_free(&all->hdr);
        all = n;
    }
}
