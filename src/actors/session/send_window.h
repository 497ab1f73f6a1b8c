/* A sliding-window counter: "at most `cap` events in any `span_ms` milliseconds",
 * kept as a ring of the last `cap` event times. The SEND path uses one per session
 * for the send rate and one for the refusals that count as flooding.
 *
 * Exact, not approximated by buckets: an event at time t is admitted when the
 * oldest of the last `cap` admitted events is at least span_ms old. Memory is
 * cap * 8 bytes. Single owner (the limiter actor); no locking. */
#ifndef CN_ACTORS_SESSION_SEND_WINDOW_H
#define CN_ACTORS_SESSION_SEND_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

struct cn_send_window {
    uint64_t *t;      /* ring of admitted event times (ms); cap entries */
    uint32_t cap;     /* 0: nothing is ever admitted */
    uint32_t n;       /* entries in use */
    uint32_t head;    /* index of the oldest entry */
    uint32_t span_ms; /* window length */
};

/* Sets up an empty window (allocates cap entries; OOM aborts). Cannot fail. */
void cn_send_window_init(struct cn_send_window *w, uint32_t cap, uint32_t span_ms);

/* Admits an event at `now_ms` (monotonic, non-decreasing) when fewer than cap
 * events were admitted in (now_ms - span_ms, now_ms], recording it; returns true.
 * Otherwise records nothing and returns false. Owner only; cannot fail. */
bool cn_send_window_try(struct cn_send_window *w, uint64_t now_ms);

/* Frees the ring; the window may be initialised again. Cannot fail. */
void cn_send_window_free(struct cn_send_window *w);

#endif
