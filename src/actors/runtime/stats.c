/* Statistics snapshots for the metrics endpoint. Plain loads of counters that their
 * owners keep up to date; no I/O and no formatting here (the HTTP /metrics renderer
 * does that). */
#include "actors/runtime/internal.h"

#include <string.h>

/* relaxed everywhere below: counters are independent statistics, none publishes data. */
#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

void cn_runtime_stats(cn_runtime *rt, struct cn_runtime_stats *out)
{
    memset(out, 0, sizeof *out);
    out->workers = rt->nworkers;
    out->workers_parked = cn__parked_count(&rt->parking);
    out->actors_alive = LOAD(rt->actors_alive);
    out->actors_spawned = LOAD(rt->actors_spawned);
    out->sends_dropped = LOAD(rt->sends_dropped);
    out->msgs_discarded = LOAD(rt->discarded);
    out->timers_pending = LOAD(rt->timers.pending);
    out->timers_fired = LOAD(rt->timers.fired);
    out->timers_cancelled = LOAD(rt->timers.cancelled);
    for (unsigned i = 0; i < rt->nworkers; i++) {
        cn__worker *w = &rt->workers[i];
        cn_worker_stats *s = &out->worker[i];
        s->messages = LOAD(w->messages);
        s->actors_run = LOAD(w->actors_run);
        s->steals = LOAD(w->steals);
        s->parks = LOAD(w->parks);
        out->messages += s->messages;
    }
}

void cn_actor_stats(cn_actor *a, struct cn_actor_stats *out)
{
    memset(out, 0, sizeof *out);
    out->messages = LOAD(a->handled);
    out->mailbox_depth = LOAD(a->depth);
    out->mailbox_hwm = LOAD(a->hwm);
    out->sends_dropped = LOAD(a->dropped);
    out->stopped = LOAD(a->stopped);
}
