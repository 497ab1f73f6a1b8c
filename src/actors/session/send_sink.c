/* The SEND sink: hands each SEND to the session's rate limiter actor, and the
 * chat_send_* metrics; see send_sink.h. */
#include "actors/session/send_sink.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"
#include "proto/prom.h"
#include "actors/session/send_limiter.h"

static void item_free(cn_msg *m)
{
    struct cn__send_item *it = (struct cn__send_item *)m;
    free(it->content);
    free(it);
}

int cn_send_sink_take(void *ctx, const struct cn_session_send *send)
{
    struct cn_send_sink *sink = ctx;
    /* Lazily: most sessions only read, and a limiter costs an actor. */
    if (!*send->helper)
        *send->helper = cn__send_limiter_spawn(sink, send->session, send->user_id);
    const struct cn_send_request *req = send->req;
    size_t rlen = send->receipt ? strlen(send->receipt) : 0;
    struct cn__send_item *it = cn_xcalloc(1, sizeof *it + rlen + 1);
    cn_msg_init(&it->hdr, CN__SEND_ITEM, item_free);
    if (rlen)
        memcpy(it->receipt, send->receipt, rlen);
    it->receipt[rlen] = '\0';
    if (!req) {
        /* A read receipt: it shares the SENDs' queue, so answers stay in order. */
        it->is_read = true;
        it->room_id = send->read_room_id;
        it->message_id = send->read_message_id;
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
    /* -ESHUTDOWN only when the limiter was stopped, which the session does once
     * its connection closed: then nobody waits for the answer. */
    return cn_actor_send(*send->helper, &it->hdr);
}

bool cn__send_sink_enter(struct cn_send_sink *sink)
{
    /* seq_cst on both sides (this increment then the load of `closed`; the store of
     * `closed` then the load of `users` in cn_send_sink_close): at least one side
     * sees the other, so either we back out or the closer waits for us. */
    atomic_fetch_add_explicit(&sink->users, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&sink->closed, memory_order_seq_cst)) {
        cn__send_sink_leave(sink);
        return false;
    }
    return true;
}

void cn__send_sink_leave(struct cn_send_sink *sink)
{
    /* release: our adapter calls happen before the closer's acquire load sees 0. */
    atomic_fetch_sub_explicit(&sink->users, 1, memory_order_release);
}

void cn_send_sink_close(struct cn_send_sink *sink)
{
    atomic_store_explicit(&sink->closed, true, memory_order_seq_cst);     /* pairs: enter */
    while (atomic_load_explicit(&sink->users, memory_order_seq_cst) != 0) /* pairs: leave */
        sched_yield();
}

static uint64_t ld(const atomic_uint_fast64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed); /* relaxed: a count */
}

void cn_send_metrics_render(struct cn_strbuf *b, const struct cn_send_counters *c)
{
    static const char *const names[] = {"accepted", "rate_limited", "rejected", "failed"};
    const atomic_uint_fast64_t *v[] = {&c->accepted, &c->rate_limited, &c->rejected, &c->failed};
    cn_prom_family(b, "chat_send_total", "counter",
                   "SEND /app/chat.send by outcome (accepted = acknowledged by Kafka).");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char label[64];
        cn_prom_label(label, sizeof label, "outcome", names[i]);
        cn_prom_sample_u64(b, "chat_send_total", label, ld(v[i]));
    }
    cn_prom_counter(b, "chat_send_flood_closes_total",
                    "Sessions closed for sustained flooding (too many refused SENDs).",
                    ld(&c->flood_closes));
    cn_prom_counter(b, "chat_send_limiters_total", "Per-session rate limiter actors spawned.",
                    ld(&c->limiters));
}

uint32_t cn_send_sink_rate(struct cn_send_sink *sink)
{
    uint32_t r = atomic_load_explicit(&sink->live_rate, memory_order_relaxed);
    return r ? r : sink->limits.rate;
}

void cn_send_sink_set_rate(struct cn_send_sink *sink, uint32_t rate)
{
    atomic_store_explicit(&sink->live_rate, rate, memory_order_relaxed);
}
