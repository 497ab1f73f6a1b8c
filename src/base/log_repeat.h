/* The repeat limiter of the log: the same (module, format string) printed more than
 * `limit` times within one window is suppressed, and one summary line says how many
 * were, when the window has ended (the next line of that kind, or a flush).
 *
 * The key is the pair of pointers, not the text: callers pass string literals, so a
 * format is one address for the life of the process and hashing stays cheap. The table
 * is fixed (CN_LOG_REPEAT_SLOTS); two keys that land in one slot take turns, the one
 * evicted handing back its summary first. Thread-safe: one mutex around the table,
 * held for a few loads and stores.
 *
 * Memory: the table is the caller's (log.c has one static table); nothing is
 * allocated. */
#ifndef CN_BASE_LOG_REPEAT_H
#define CN_BASE_LOG_REPEAT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define CN_LOG_REPEAT_SLOTS     256
#define CN_LOG_REPEAT_WINDOW_MS 10000

struct cn_log_repeat_slot {
    const char *module, *fmt; /* NULL: free */
    int level;
    int64_t start_ms;
    uint32_t count;      /* lines of this key in the window, printed or not */
    uint32_t suppressed; /* of which not printed */
};

struct cn_log_repeats {
    pthread_mutex_t mu;
    uint32_t limit; /* lines printed per key and window */
    struct cn_log_repeat_slot slots[CN_LOG_REPEAT_SLOTS];
};

/* A window that ended with lines suppressed: print "… count more in the last 10 s". */
struct cn_log_repeat_summary {
    const char *module, *fmt;
    int level;
    uint32_t count;
};

void cn_log_repeats_init(struct cn_log_repeats *r, uint32_t limit);

/* Counts one line of (module, fmt) at now_ms. Returns true when it is to be printed.
 * When a window of this slot ended with lines suppressed, fills *summary (count > 0)
 * for the caller to print first; else summary->count is 0. */
bool cn_log_repeat_check(struct cn_log_repeats *r, const char *module, const char *fmt, int level,
                         int64_t now_ms, struct cn_log_repeat_summary *summary);

/* Ends every window older than the window length at now_ms: fills up to max summaries
 * of those that suppressed lines and returns how many. For a periodic tick, so a burst
 * that stops still gets its summary. */
int cn_log_repeat_flush(struct cn_log_repeats *r, int64_t now_ms, struct cn_log_repeat_summary *out,
                        int max);

#endif
