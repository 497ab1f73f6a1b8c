/* The /metrics lines of the Redis fan-out: the broadcast pipeline and the room
 * actors (struct cn_fanout_counters). */
#include "actors/room/room_metrics.h"

#include <stdio.h>

#include "proto/prom.h"

/* relaxed: statistics, see room_counters.h. */
static uint64_t ld(const atomic_uint_fast64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

const uint64_t cn_fanout_e2e_bounds_ms[CN_FANOUT_E2E_BUCKETS] = {1,   2,   5,   10,   25,   50,
                                                                 100, 250, 500, 1000, 2500, 10000};

void cn_fanout_e2e_observe(struct cn_fanout_counters *c, int64_t ms)
{
    if (ms < 0)
        ms = 0; /* another node's clock ahead of ours */
    int b = 0;
    while (b < CN_FANOUT_E2E_BUCKETS && (uint64_t)ms > cn_fanout_e2e_bounds_ms[b])
        b++;
    cn_fanout_add(&c->e2e_buckets[b], 1);
    cn_fanout_add(&c->e2e_sum_ms, (uint64_t)ms);
}

static void render_e2e(struct cn_strbuf *b, const struct cn_fanout_counters *c)
{
    /* Counted per bucket; Prometheus buckets are cumulative. */
    cn_prom_family(b, "chat_send_to_broadcast_seconds", "histogram",
                   "SEND accepted by a node to the message's publish on its room channel "
                   "(Kafka, the broadcast pipeline and Redis; wall clocks).");
    uint64_t cumulative = 0;
    for (int i = 0; i < CN_FANOUT_E2E_BUCKETS; i++) {
        char label[32];
        cumulative += ld(&c->e2e_buckets[i]);
        snprintf(label, sizeof label, "le=\"%g\"", (double)cn_fanout_e2e_bounds_ms[i] / 1e3);
        cn_prom_sample_u64(b, "chat_send_to_broadcast_seconds_bucket", label, cumulative);
    }
    cumulative += ld(&c->e2e_buckets[CN_FANOUT_E2E_BUCKETS]);
    cn_prom_sample_u64(b, "chat_send_to_broadcast_seconds_bucket", "le=\"+Inf\"", cumulative);
    cn_prom_sample_f64(b, "chat_send_to_broadcast_seconds_sum", NULL,
                       (double)ld(&c->e2e_sum_ms) / 1e3);
    cn_prom_sample_u64(b, "chat_send_to_broadcast_seconds_count", NULL, cumulative);
}

void cn_fanout_metrics_render(struct cn_strbuf *b, const struct cn_fanout_counters *c)
{
    if (!c)
        return;
    cn_prom_counter(b, "chat_broadcast_published_total",
                    "Events published to room:{id} with the room's window updated.",
                    ld(&c->bc_published));
    cn_prom_counter(b, "chat_broadcast_duplicates_total",
                    "Redelivered events the room's window already held (not published again).",
                    ld(&c->bc_duplicates));
    cn_prom_counter(b, "chat_broadcast_retried_keys_total",
                    "Records of a messageKey the room already published (a client's retry "
                    "that Kafka holds twice; not published again).",
                    ld(&c->bc_retried_keys));
    cn_prom_counter(b, "chat_broadcast_bad_events_total", "Undecodable events skipped.",
                    ld(&c->bc_bad));
    cn_prom_counter(b, "chat_broadcast_retries_total", "Batches retried after a Redis failure.",
                    ld(&c->bc_retries));
    cn_prom_gauge(b, "chat_rooms_open", "Room actors (rooms with local subscribers).",
                  (double)ld(&c->rooms_open));
    cn_prom_counter(b, "chat_room_deliveries_total", "MESSAGE deliveries handed to sessions.",
                    ld(&c->delivered));
    cn_prom_counter(b, "chat_room_event_deliveries_total",
                    "Room events (read receipts) handed to sessions.", ld(&c->events_delivered));
    cn_prom_counter(b, "chat_room_gap_repairs_total",
                    "Gap repairs started (a hole in the offsets, or a Redis resubscribe).",
                    ld(&c->gap_repairs));
    cn_prom_family(b, "chat_room_repaired_messages_total", "counter",
                   "Messages filled into a hole, by source.");
    cn_prom_sample_u64(b, "chat_room_repaired_messages_total", "source=\"window\"",
                       ld(&c->repaired_window));
    cn_prom_sample_u64(b, "chat_room_repaired_messages_total", "source=\"postgres\"",
                       ld(&c->repaired_postgres));
    cn_prom_counter(b, "chat_room_duplicates_dropped_total",
                    "Envelopes at or below the room's last delivered offset, dropped.",
                    ld(&c->duplicates_dropped));
    render_e2e(b, c);
    cn_prom_family(b, "chat_broadcast_publish_seconds", "histogram",
                   "A chat.messages record polled by the broadcast consumer to Redis confirming "
                   "its PUBLISH on the room's channel (queue, retries and the EVAL).");
    cn_prom_histo_render(b, "chat_broadcast_publish_seconds", NULL, &c->publish);
    cn_prom_family(b, "chat_room_delivery_seconds", "histogram",
                   "A room's message taken from the Redis subscriber connection to its MESSAGE "
                   "frame handed to the WebSocket writer, per receiving session (this node).");
    cn_prom_histo_render(b, "chat_room_delivery_seconds", NULL, &c->deliver);
}
