/* A session's clocks; see session_timers.h. */
#include "actors/session/session_timers.h"

#include <inttypes.h>
#include <stdio.h>

#include "actors/session/session_output.h"
#include "base/clock.h"
#include "base/xmalloc.h"
#include "proto/stomp_negotiate.h"

void cn__session_arm(struct cn__session *s, uint64_t *id, uint32_t type, uint64_t ms)
{
    cn_msg *m = cn_xmalloc(sizeof *m);
    cn_msg_init(m, type, NULL);
    *id = cn_timer_after(s->deps->rt, s->self, ms, m);
}

void cn__session_on_connect_timeout(struct cn__session *s)
{
    s->t_connect = 0;
    if (s->state != CN__SESSION_AWAIT_CONNECT)
        return;
    char msg[96];
    snprintf(msg, sizeof msg, "no CONNECT frame within %u ms", s->deps->cfg.connect_timeout_ms);
    cn__session_fail(s, NULL, CN_WS_CLOSE_CONNECT_TIMEOUT, msg);
}

static uint64_t hb_in_tick(const struct cn__session *s)
{
    /* Check twice per interval, so the close comes close to the 2x bound. */
    return s->hb_in_ms / 2 ? s->hb_in_ms / 2 : 1;
}

void cn__session_heartbeat_start(struct cn__session *s, uint32_t cx, uint32_t cy)
{
    /* The spec's rule against our sx = sy = heartbeat_ms, which is so the floor for
     * a client that asks for heart-beats. A direction the client switched off (0)
     * has none: such a client is never closed for silence (dead peers are found by
     * the transport's WebSocket PING and TCP keepalive instead). */
    uint32_t hb = s->deps->cfg.heartbeat_ms;
    cn_stomp_heartbeat_negotiate(cx, cy, hb, hb, &s->hb_in_ms, &s->hb_out_ms);
    s->rx_seen = atomic_load_explicit(&s->peer.rx->chunks, memory_order_relaxed);
    s->rx_last_ms = cn_now_ms();
    s->out_last_ms = cn_now_coarse_ms();
    if (s->hb_in_ms)
        cn__session_arm(s, &s->t_hb_in, CN__SESSION_TIMER_HB_IN, hb_in_tick(s));
    if (s->hb_out_ms)
        cn__session_arm(s, &s->t_hb_out, CN__SESSION_TIMER_HB_OUT, s->hb_out_ms);
}

void cn__session_on_hb_in(struct cn__session *s)
{
    s->t_hb_in = 0;
    if (s->state != CN__SESSION_OPEN)
        return;
    /* relaxed: only "did it change since the last tick" matters. */
    uint64_t seen = atomic_load_explicit(&s->peer.rx->chunks, memory_order_relaxed);
    uint64_t now = cn_now_ms();
    if (seen != s->rx_seen) {
        s->rx_seen = seen;
        s->rx_last_ms = now;
    } else if (now - s->rx_last_ms > 2ull * s->hb_in_ms) {
        char msg[96];
        snprintf(msg, sizeof msg, "heart-beat timeout: nothing received for %" PRIu64 " ms",
                 now - s->rx_last_ms);
        cn__session_fail(s, NULL, CN_WS_CLOSE_HEARTBEAT, msg);
        return;
    }
    cn__session_arm(s, &s->t_hb_in, CN__SESSION_TIMER_HB_IN, hb_in_tick(s));
}

void cn__session_on_hb_out(struct cn__session *s)
{
    s->t_hb_out = 0;
    if (s->state != CN__SESSION_OPEN)
        return;
    /* The client counts on data at least every hb_out_ms: the next check is due one
     * interval after the last write, not one after this tick (which let the gap grow
     * to nearly twice the interval). The coarse clock's few ms are the slack. */
    uint64_t since = cn_now_coarse_ms() - s->out_last_ms;
    if (since + 20 >= s->hb_out_ms) {
        cn__session_write_heartbeat(s);
        since = 0;
    }
    cn__session_arm(s, &s->t_hb_out, CN__SESSION_TIMER_HB_OUT, s->hb_out_ms - since);
}

void cn__session_arm_expiry(struct cn__session *s)
{
    if (s->t_exp)
        cn_timer_cancel(s->deps->rt, s->t_exp);
    int64_t left = s->exp_s * 1000 - cn_wall_ms();
    cn__session_arm(s, &s->t_exp, CN__SESSION_TIMER_EXPIRY, left > 0 ? (uint64_t)left : 0);
}

void cn__session_on_expiry(struct cn__session *s)
{
    s->t_exp = 0;
    if (s->state != CN__SESSION_OPEN)
        return;
    /* The timer runs on the monotonic clock, exp is wall time: if the wall clock
     * was set back meanwhile, wait for the rest. */
    if (cn_wall_ms() < s->exp_s * 1000) {
        cn__session_arm_expiry(s);
        return;
    }
    cn__session_fail(s, NULL, CN_WS_CLOSE_TOKEN_EXPIRED, "token-expired");
}
