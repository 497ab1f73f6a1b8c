/* The sliding-window counter of the SEND path; see send_window.h. */
#include "actors/session/send_window.h"

#include <stdlib.h>

#include "base/xmalloc.h"

void cn_send_window_init(struct cn_send_window *w, uint32_t cap, uint32_t span_ms)
{
    w->t = cap ? cn_xmalloc(sizeof *w->t * cap) : NULL;
    w->cap = cap;
    w->n = 0;
    w->head = 0;
    w->span_ms = span_ms;
}

bool cn_send_window_try(struct cn_send_window *w, uint64_t now_ms)
{
    if (w->cap == 0)
        return false;
    /* Entries older than the window no longer count: drop them from the front. */
    while (w->n > 0 && now_ms - w->t[w->head] >= w->span_ms) {
        w->head = (w->head + 1) % w->cap;
        w->n--;
    }
    if (w->n == w->cap)
        return false;
    w->t[(w->head + w->n) % w->cap] = now_ms;
    w->n++;
    return true;
}

void cn_send_window_free(struct cn_send_window *w)
{
    free(w->t);
    w->t = NULL;
    w->cap = w->n = w->head = 0;
}
