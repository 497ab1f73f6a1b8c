/* Renders the fan-out counters (room_counters.h) as Prometheus text. */
#ifndef CN_ACTORS_ROOM_ROOM_METRICS_H
#define CN_ACTORS_ROOM_ROOM_METRICS_H

#include "base/strbuf.h"
#include "actors/room/room_counters.h"

/* Appends the fan-out families to b; c NULL appends nothing. Cannot fail. */
void cn_fanout_metrics_render(struct cn_strbuf *b, const struct cn_fanout_counters *c);

#endif
