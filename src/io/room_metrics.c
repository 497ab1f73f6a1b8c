/* The /metrics lines of the Redis fan-out: the broadcast pipeline and the room
 * actors (struct cn_fanout_counters). */
#include "io/room_metrics.h"

#include "io/prom.h"

/* relaxed: statistics, see room_counters.h. */
static uint64_t ld(const atomic_uint_fast64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
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
}
