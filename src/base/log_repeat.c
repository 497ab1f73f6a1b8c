/* The log's repeat limiter; see log_repeat.h. */
#include "log_repeat.h"

#include <string.h>

void cn_log_repeats_init(struct cn_log_repeats *r, uint32_t limit)
{
    memset(r->slots, 0, sizeof r->slots);
    pthread_mutex_init(&r->mu, NULL);
    r->limit = limit;
}

enum { PROBES = 8 };

static unsigned slot_of(const char *module, const char *fmt)
{
    uint64_t h = (uint64_t)(uintptr_t)fmt * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)module;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    return (unsigned)(h % CN_LOG_REPEAT_SLOTS);
}

/* Hands back the summary of slot s (when it suppressed lines) and frees it. */
static void take(struct cn_log_repeat_slot *s, struct cn_log_repeat_summary *out)
{
    out->count = s->suppressed;
    out->module = s->module;
    out->fmt = s->fmt;
    out->level = s->level;
    s->module = s->fmt = NULL;
    s->count = s->suppressed = 0;
}

bool cn_log_repeat_check(struct cn_log_repeats *r, const char *module, const char *fmt, int level,
                         int64_t now_ms, struct cn_log_repeat_summary *summary)
{
    summary->count = 0;
    pthread_mutex_lock(&r->mu);
    /* Open addressing over a few slots, so that two keys that hash alike do not take
     * each other's slot (and count) while the table has room. */
    unsigned h = slot_of(module, fmt);
    struct cn_log_repeat_slot *s = NULL, *empty = NULL, *ended = NULL;
    for (unsigned i = 0; i < PROBES; i++) {
        struct cn_log_repeat_slot *c = &r->slots[(h + i) % CN_LOG_REPEAT_SLOTS];
        if (c->fmt == fmt && c->module == module) {
            s = c;
            break;
        }
        if (!c->fmt) {
            if (!empty)
                empty = c;
        } else if (!ended && now_ms - c->start_ms >= CN_LOG_REPEAT_WINDOW_MS) {
            ended = c;
        }
    }
    if (s) {
        if (now_ms - s->start_ms >= CN_LOG_REPEAT_WINDOW_MS)
            take(s, summary); /* its window ended */
    } else {
        /* A free slot, else one whose window ended, else (a full neighbourhood) the
         * home slot: its key's summary comes out now. */
        s = empty ? empty : ended ? ended : &r->slots[h];
        if (s->fmt)
            take(s, summary);
    }
    if (!s->fmt) {
        s->module = module;
        s->fmt = fmt;
        s->level = level;
        s->start_ms = now_ms;
    }
    s->count++;
    bool print = s->count <= r->limit;
    if (!print)
        s->suppressed++;
    pthread_mutex_unlock(&r->mu);
    return print;
}

int cn_log_repeat_flush(struct cn_log_repeats *r, int64_t now_ms, struct cn_log_repeat_summary *out,
                        int max)
{
    int n = 0;
    pthread_mutex_lock(&r->mu);
    for (unsigned i = 0; i < CN_LOG_REPEAT_SLOTS && n < max; i++) {
        struct cn_log_repeat_slot *s = &r->slots[i];
        if (!s->fmt || now_ms - s->start_ms < CN_LOG_REPEAT_WINDOW_MS)
            continue;
        struct cn_log_repeat_summary sum;
        take(s, &sum);
        if (sum.count)
            out[n++] = sum;
    }
    pthread_mutex_unlock(&r->mu);
    return n;
}
