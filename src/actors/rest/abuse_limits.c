/* Per-key budgets with a two-window sliding count; see abuse_limits.h. */
#include <pthread.h>
#include <stdbool.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "actors/rest/abuse_limits.h"
#include "base/u64map.h"
#include "base/xmalloc.h"

struct entry {
    int64_t window;    /* index of the current fixed window (now_ms / window length) */
    uint32_t cur;      /* attempts counted in it */
    uint32_t prev;     /* attempts counted in the window before it */
    uint32_t window_s; /* the rule's window when the entry was made */
};

struct cn_abuse_limits {
    struct cn_abuse_rule rules[CN_ABUSE_KINDS];
    size_t max_keys;
    unsigned char hash_key[crypto_shorthash_KEYBYTES];
    pthread_mutex_t mu;
    struct cn_u64map map; /* hashed (kind, key) -> struct entry */
};

struct cn_abuse_limits *cn_abuse_limits_new(const struct cn_abuse_rule rules[CN_ABUSE_KINDS],
                                            size_t max_keys)
{
    struct cn_abuse_limits *l = cn_xcalloc(1, sizeof *l);
    memcpy(l->rules, rules, sizeof l->rules);
    for (int k = 0; k < CN_ABUSE_KINDS; k++)
        if (l->rules[k].window_s == 0)
            l->rules[k].window_s = 1;
    l->max_keys = max_keys ? max_keys : 65536;
    randombytes_buf(l->hash_key, sizeof l->hash_key);
    pthread_mutex_init(&l->mu, NULL);
    cn_u64map_init(&l->map);
    return l;
}

void cn_abuse_limits_free(struct cn_abuse_limits *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->map.cap; i++)
        if (l->map.slots[i].key)
            free(l->map.slots[i].value);
    cn_u64map_free(&l->map);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

struct cn_abuse_rule cn_abuse_rule_of(const struct cn_abuse_limits *l, enum cn_abuse_kind kind)
{
    return l->rules[kind];
}

static uint64_t hash_of(const struct cn_abuse_limits *l, enum cn_abuse_kind kind, const char *key)
{
    size_t n = strlen(key);
    unsigned char *buf = cn_xmalloc(n + 1);
    buf[0] = (unsigned char)kind;
    memcpy(buf + 1, key, n);
    uint64_t h;
    crypto_shorthash((unsigned char *)&h, buf, n + 1, l->hash_key);
    free(buf);
    return h ? h : 1; /* 0 marks an empty slot */
}

/* Moves e to the window of now; a window more than one back counts nothing. */
static void roll(struct entry *e, int64_t window)
{
    if (window == e->window)
        return;
    e->prev = window == e->window + 1 ? e->cur : 0;
    e->cur = 0;
    e->window = window;
}

/* Drops every entry that counts nothing any more (its last attempt is two windows
 * old). Backward-shift deletion may move a later entry into the slot just emptied,
 * so that slot is looked at again. */
static void sweep(struct cn_abuse_limits *l, int64_t now_ms)
{
    for (size_t i = 0; i < l->map.cap;) {
        struct cn_u64map_slot *s = &l->map.slots[i];
        struct entry *e = s->value;
        if (s->key && now_ms / ((int64_t)e->window_s * 1000) > e->window + 1) {
            free(cn_u64map_del(&l->map, s->key));
            continue;
        }
        i++;
    }
}

/* The sliding count at now: prev weighted by the share of the previous window that
 * still overlaps [now - window, now], plus cur. In thousandths, to stay integral. */
static uint64_t weighted(const struct entry *e, int64_t now_ms, int64_t win_ms)
{
    int64_t into = now_ms - e->window * win_ms; /* 0..win_ms-1 */
    return (uint64_t)e->prev * (uint64_t)(win_ms - into) * 1000 / (uint64_t)win_ms +
           (uint64_t)e->cur * 1000;
}

/* Seconds until one more attempt would be admitted (weighted() + 1 <= limit) with
 * no further attempts counted meanwhile; at least 1. */
static uint32_t wait_s(const struct entry *e, uint32_t limit, int64_t now_ms, int64_t win_ms)
{
    int64_t into = now_ms - e->window * win_ms;
    int64_t room = (int64_t)limit - 1; /* the count that still admits one more */
    int64_t t;
    if ((int64_t)e->cur > room) /* not before the next window, where prev = cur */
        t = (win_ms - into) + win_ms - room * win_ms / (int64_t)e->cur;
    else /* prev * (win - into - t) / win <= room - cur */
        t = win_ms - into - (room - (int64_t)e->cur) * win_ms / (int64_t)(e->prev ? e->prev : 1);
    uint32_t s = t > 0 ? (uint32_t)((t + 999) / 1000) : 0;
    return s ? s : 1;
}

static uint32_t decide(struct cn_abuse_limits *l, enum cn_abuse_kind kind, const char *key,
                       int64_t now_ms, bool check, bool count)
{
    struct cn_abuse_rule rule = l->rules[kind];
    if (rule.limit == 0)
        return 0;
    int64_t win_ms = (int64_t)rule.window_s * 1000;
    int64_t window = now_ms / win_ms;
    uint64_t h = hash_of(l, kind, key);
    uint32_t wait = 0;
    pthread_mutex_lock(&l->mu);
    struct entry *e = cn_u64map_get(&l->map, h);
    if (e) {
        roll(e, window);
    } else {
        if (l->map.len >= l->max_keys)
            sweep(l, now_ms);
        if (l->map.len >= l->max_keys) {
            pthread_mutex_unlock(&l->mu);
            return rule.window_s; /* full of live keys: refuse rather than grow */
        }
        e = cn_xcalloc(1, sizeof *e);
        e->window = window;
        e->window_s = rule.window_s;
        cn_u64map_put(&l->map, h, e);
    }
    if (check && weighted(e, now_ms, win_ms) + 1000 > (uint64_t)rule.limit * 1000)
        wait = wait_s(e, rule.limit, now_ms, win_ms);
    if (count && wait == 0 && e->cur < UINT32_MAX)
        e->cur++;
    pthread_mutex_unlock(&l->mu);
    return wait;
}

uint32_t cn_abuse_check(struct cn_abuse_limits *l, enum cn_abuse_kind kind, const char *key,
                        int64_t now_ms)
{
    return l ? decide(l, kind, key, now_ms, true, false) : 0;
}

void cn_abuse_note(struct cn_abuse_limits *l, enum cn_abuse_kind kind, const char *key,
                   int64_t now_ms)
{
    if (l)
        decide(l, kind, key, now_ms, false, true);
}

uint32_t cn_abuse_take(struct cn_abuse_limits *l, enum cn_abuse_kind kind, const char *key,
                       int64_t now_ms)
{
    return l ? decide(l, kind, key, now_ms, true, true) : 0;
}
