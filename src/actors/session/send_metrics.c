/* The chat_send_* families of the /metrics page; see send_metrics.h. */
#include "actors/session/send_metrics.h"

#include <stddef.h>
#include <stdint.h>

#include "proto/prom.h"

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
    cn_prom_counter(b, "chat_send_membership_stale_total",
                    "SENDs let through on an expired cached membership because its lookup "
                    "failed (PostgreSQL unavailable).",
                    ld(&c->member_stale));
    cn_prom_family(b, "chat_send_receipt_seconds", "histogram",
                   "A chat SEND taken by its session to Kafka acknowledging it, when its RECEIPT "
                   "is due (membership check, rate limiter queue and produce included).");
    cn_prom_histo_render(b, "chat_send_receipt_seconds", NULL, &c->receipt);
}
