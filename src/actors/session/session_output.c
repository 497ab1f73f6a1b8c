/* What a session writes to its socket, and its errors; see session_output.h. */
#include "actors/session/session_output.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "proto/json_responses.h"
#include "proto/stomp_writer.h"

static void count(atomic_uint_fast64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed); /* relaxed: a count */
}

void cn__session_write(struct cn__session *s, enum cn_stomp_command cmd,
                       const struct cn__session_hdr *h, int n, const char *body, size_t body_len,
                       bool close_after, int reason)
{
    /* An upper bound: escaping at most doubles a value; content-length and the
     * separators fit in the constant. So finish cannot run out of room. */
    size_t cap = 64 + body_len;
    for (int i = 0; i < n; i++)
        if (h[i].value)
            cap += strlen(h[i].name) * 2 + strlen(h[i].value) * 2 + 2;
    struct cn_ws_out *o = cn_ws_out_new(s->peer.conn_id, cap);
    struct cn_stomp_writer w;
    cn_stomp_writer_init(&w, (char *)o->data, CN_WS_PRE + cap, CN_WS_PRE, cmd);
    /* 1.0 is never escaped; neither is an ERROR before CONNECTED, when no version
     * is agreed yet: clients do not unescape then (a ':' would show as "\c"). */
    if (s->raw || (cmd == CN_STOMP_ERROR && s->state == CN__SESSION_AWAIT_CONNECT))
        cn_stomp_writer_set_raw(&w);
    for (int i = 0; i < n; i++)
        if (h[i].value)
            cn_stomp_writer_header(&w, h[i].name, h[i].value, strlen(h[i].value));
    long len = cn_stomp_writer_finish(&w, body, body_len);
    if (len < 0) { /* defensive: the bound above makes this unreachable */
        CN_ERROR("ws", "session %s: cannot render %s (%ld)", s->id, cn_stomp_command_name(cmd),
                 len);
        abort();
    }
    o->len = (size_t)len;
    o->close_after = close_after;
    o->close_reason = reason;
    count(&s->deps->counters->frames_out[cmd]);
    s->out_last_ms = cn_now_coarse_ms();
    cn_ws_out_push(&s->peer, o);
}

void cn__session_write_heartbeat(struct cn__session *s)
{
    struct cn_ws_out *o = cn_ws_out_new(s->peer.conn_id, 1);
    o->data[CN_WS_PRE] = '\n';
    count(&s->deps->counters->heartbeats_out);
    s->out_last_ms = cn_now_coarse_ms();
    cn_ws_out_push(&s->peer, o);
}

void cn__session_write_close(struct cn__session *s, int reason)
{
    struct cn_ws_out *o = cn_ws_out_new(s->peer.conn_id, 0);
    o->close_after = true;
    o->close_reason = reason;
    cn_ws_out_push(&s->peer, o);
}

void cn__session_write_message(struct cn__session *s, const struct cn__session_sub *x,
                               const struct cn_ws_shared_msg *shared)
{
    size_t n = cn_stomp_message_size(x->id_esc_len, 0, shared->len);
    struct cn_ws_out *o = cn_ws_out_new(s->peer.conn_id, n);
    long len = cn_stomp_message_render((char *)o->data, CN_WS_PRE + n, CN_WS_PRE, x->id_esc,
                                       x->id_esc_len, NULL, 0, shared->data, shared->len);
    o->len = (size_t)len; /* sized by cn_stomp_message_size: cannot fail */
    o->droppable = shared->expires_ms != 0;
    o->born_ns = shared->born_ns;
    o->latency = shared->latency;
    count(&s->deps->counters->frames_out[CN_STOMP_MESSAGE]);
    s->out_last_ms = cn_now_coarse_ms();
    cn_ws_out_push(&s->peer, o);
}

void cn__session_receipt_id(struct cn__session *s, const char *receipt)
{
    if (!receipt)
        return;
    struct cn__session_hdr h[] = {{"receipt-id", receipt}};
    cn__session_write(s, CN_STOMP_RECEIPT, h, 1, NULL, 0, false, 0);
}

void cn__session_receipt(struct cn__session *s, const struct cn_stomp_frame *f)
{
    cn__session_receipt_id(s, cn_stomp_frame_get(f, "receipt", NULL));
}

void cn__session_end(struct cn__session *s, int reason)
{
    s->state = CN__SESSION_CLOSING;
    s->close_reason = reason;
    /* The timers' ids are the state's: cancelled here so that nothing fires into a
     * session that only waits for CLOSED. */
    cn_runtime *rt = s->deps->rt;
    uint64_t *ids[] = {&s->t_connect, &s->t_hb_in, &s->t_hb_out, &s->t_exp, &s->t_join};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        if (*ids[i])
            cn_timer_cancel(rt, *ids[i]);
        *ids[i] = 0;
    }
}

static void fail_with(struct cn__session *s, const char *receipt, int reason, const char *message,
                      const char *json, size_t json_len)
{
    if (s->state == CN__SESSION_CLOSING)
        return;
    /* Every ERROR carries its text in the body too, for the clients that show the
     * body and for those that do not unescape the header. */
    struct cn__session_hdr h[] = {{"message", message},
                                  {"receipt-id", receipt},
                                  {"content-type", json ? "application/json" : "text/plain"}};
    if (!json) {
        json = message;
        json_len = strlen(message);
    }
    cn__session_write(s, CN_STOMP_ERROR, h, 3, json, json_len, true, reason);
    cn__session_end(s, reason);
}

void cn__session_fail_receipt(struct cn__session *s, const char *receipt, int reason,
                              const char *message)
{
    fail_with(s, receipt, reason, message, NULL, 0);
}

void cn__session_fail(struct cn__session *s, const struct cn_stomp_frame *f, int reason,
                      const char *message)
{
    fail_with(s, f ? cn_stomp_frame_get(f, "receipt", NULL) : NULL, reason, message, NULL, 0);
}

static struct cn__session_sub *errors_sub(struct cn__session *s)
{
    /* The first /user/queue/errors subscription gets the errors. */
    struct cn__session_sub *found = NULL;
    for (struct cn__session_sub *x = s->subs; x; x = x->next)
        if (x->room_id == 0 && !x->events)
            found = x; /* subs is newest first: the last match is the oldest */
    return found;
}

void cn__session_app_error(struct cn__session *s, const char *receipt, const char *code,
                           const char *message)
{
    count(&s->deps->counters->app_errors);
    size_t len;
    char *body = cn_json_dump(cn_json_error_body(code, message), &len);
    struct cn__session_sub *q = errors_sub(s);
    if (q && s->state == CN__SESSION_OPEN) {
        char mid[64];
        snprintf(mid, sizeof mid, "%s-e%" PRIu64, s->id, ++s->next_msg);
        struct cn__session_hdr h[] = {
            {"subscription", q->id}, {"destination", CN__SESSION_ERRORS_QUEUE}, {"message-id", mid},
            {"receipt-id", receipt}, {"content-type", "application/json"},
        };
        cn__session_write(s, CN_STOMP_MESSAGE, h, 5, body, len, false, 0);
    } else {
        /* The node's own trouble is 1011 on the wire; a refusal of the request, 1008. */
        fail_with(s, receipt,
                  strcmp(code, "UNAVAILABLE") == 0 ? CN_WS_CLOSE_INTERNAL : CN_WS_CLOSE_APP_ERROR,
                  message, body, len);
    }
    free(body);
}
