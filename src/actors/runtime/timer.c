/* The timer service: a min-heap of deadlines served by one thread; see timer.h.
 *
 * The heap orders by (deadline, id), so timers with the same deadline fire in the
 * order they were set. Each timer remembers its heap index so that cancel can remove
 * it in O(log n) after finding it in the id table (open addressing, linear probing,
 * backward-shift deletion: no tombstones to clean up). */
#include "actors/runtime/internal.h"

#include "base/clock.h"
#include "base/xmalloc.h"

#include <stdlib.h>
#include <time.h>

struct cn__timer {
    uint64_t id;
    uint64_t deadline_ns;
    size_t heap_idx;
    cn_actor *actor; /* one reference */
    cn_msg *msg;     /* owned until delivered */
};

void cn__timers_init(cn__timers *t)
{
    pthread_condattr_t ca;
    if (pthread_mutex_init(&t->lock, NULL) != 0 || pthread_condattr_init(&ca) != 0 ||
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&t->cond, &ca) != 0)
        abort(); /* only fails on invalid arguments or exhausted memory */
    pthread_condattr_destroy(&ca);
    t->heap = NULL;
    t->len = t->cap = 0;
    t->tab_cap = 64;
    t->tab = cn_xcalloc(t->tab_cap, sizeof *t->tab);
    t->next_id = 1;
    t->stop = false;
    t->running = false;
    atomic_init(&t->pending, 0);
    atomic_init(&t->fired, 0);
    atomic_init(&t->cancelled, 0);
}

/* ---- id table (lock held) ---- */

static size_t tab_slot(const cn__timers *t, uint64_t id)
{
    return (size_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> 17) & (t->tab_cap - 1);
}

static void tab_put(cn__timers *t, cn__timer *tm);

static void tab_grow(cn__timers *t)
{
    cn__timer **old = t->tab;
    size_t old_cap = t->tab_cap;
    t->tab_cap *= 2;
    t->tab = cn_xcalloc(t->tab_cap, sizeof *t->tab);
    for (size_t i = 0; i < old_cap; i++)
        if (old[i])
            tab_put(t, old[i]);
    free(old);
}

static void tab_put(cn__timers *t, cn__timer *tm)
{
    size_t i = tab_slot(t, tm->id);
    while (t->tab[i])
        i = (i + 1) & (t->tab_cap - 1);
    t->tab[i] = tm;
}

static cn__timer *tab_take(cn__timers *t, uint64_t id)
{
    size_t mask = t->tab_cap - 1, i = tab_slot(t, id);
    while (t->tab[i] && t->tab[i]->id != id)
        i = (i + 1) & mask;
    cn__timer *found = t->tab[i];
    if (!found)
        return NULL;
    /* Backward-shift: pull later entries of the probe run into the hole when their
     * home slot does not lie cyclically in (hole, j]. */
    size_t hole = i;
    for (size_t j = (i + 1) & mask; t->tab[j]; j = (j + 1) & mask) {
        size_t home = tab_slot(t, t->tab[j]->id);
        bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (!stays) {
            t->tab[hole] = t->tab[j];
            hole = j;
        }
    }
    t->tab[hole] = NULL;
    return found;
}

/* ---- heap (lock held) ---- */

static bool earlier(const cn__timer *a, const cn__timer *b)
{
    return a->deadline_ns < b->deadline_ns || (a->deadline_ns == b->deadline_ns && a->id < b->id);
}

static void heap_set(cn__timers *t, size_t i, cn__timer *tm)
{
    t->heap[i] = tm;
    tm->heap_idx = i;
}

static void sift_up(cn__timers *t, size_t i)
{
    cn__timer *tm = t->heap[i];
    while (i > 0 && earlier(tm, t->heap[(i - 1) / 2])) {
        heap_set(t, i, t->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(t, i, tm);
}

static void sift_down(cn__timers *t, size_t i)
{
    cn__timer *tm = t->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= t->len)
            break;
        if (c + 1 < t->len && earlier(t->heap[c + 1], t->heap[c]))
            c++;
        if (!earlier(t->heap[c], tm))
            break;
        heap_set(t, i, t->heap[c]);
        i = c;
    }
    heap_set(t, i, tm);
}

static void heap_remove(cn__timers *t, cn__timer *tm)
{
    size_t i = tm->heap_idx;
    cn__timer *last = t->heap[--t->len];
    if (last == tm)
        return;
    heap_set(t, i, last);
    if (i > 0 && earlier(last, t->heap[(i - 1) / 2]))
        sift_up(t, i);
    else
        sift_down(t, i);
}

/* ---- public ---- */

uint64_t cn__timers_add(cn__timers *t, cn_actor *a, uint64_t ms, cn_msg *m)
{
    cn__timer *tm = cn_xmalloc(sizeof *tm);
    cn_actor_ref(a);
    tm->actor = a;
    tm->msg = m;
    tm->deadline_ns = cn_now_ns() + ms * 1000000u;
    pthread_mutex_lock(&t->lock);
    tm->id = t->next_id++;
    if ((t->len + 1) * 2 > t->tab_cap)
        tab_grow(t);
    tab_put(t, tm);
    if (t->len == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->heap = cn_xrealloc(t->heap, t->cap * sizeof *t->heap);
    }
    t->heap[t->len++] = tm;
    sift_up(t, t->len - 1);
    if (t->heap[0] == tm)
        pthread_cond_signal(&t->cond); /* the earliest deadline moved forward */
    uint64_t id = tm->id;
    pthread_mutex_unlock(&t->lock);
    /* relaxed: statistics. */
    atomic_fetch_add_explicit(&t->pending, 1, memory_order_relaxed);
    return id;
}

static void timer_free(cn__timer *tm)
{
    cn_msg_free(tm->msg);
    cn_actor_unref(tm->actor);
    free(tm);
}

bool cn__timers_cancel(cn__timers *t, uint64_t id)
{
    pthread_mutex_lock(&t->lock);
    cn__timer *tm = tab_take(t, id);
    if (tm)
        heap_remove(t, tm);
    pthread_mutex_unlock(&t->lock);
    if (!tm)
        return false;
    /* relaxed: statistics. */
    atomic_fetch_sub_explicit(&t->pending, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&t->cancelled, 1, memory_order_relaxed);
    timer_free(tm);
    return true;
}

static void *timer_main(void *arg)
{
    cn__timers *t = arg;
    pthread_mutex_lock(&t->lock);
    while (!t->stop) {
        if (t->len == 0) {
            pthread_cond_wait(&t->cond, &t->lock);
            continue;
        }
        cn__timer *tm = t->heap[0];
        uint64_t now = cn_now_ns();
        if (tm->deadline_ns > now) {
            struct timespec ts = {.tv_sec = (time_t)(tm->deadline_ns / 1000000000u),
                                  .tv_nsec = (long)(tm->deadline_ns % 1000000000u)};
            pthread_cond_timedwait(&t->cond, &t->lock, &ts);
            continue;
        }
        heap_remove(t, tm);
        tab_take(t, tm->id);
        /* Deliver outside the lock: sending may wake a worker, and cancel must not
         * wait for that. From here cancel no longer finds this timer. */
        pthread_mutex_unlock(&t->lock);
        /* Counted before the send: whoever sees the message (through the mailbox's
         * release/acquire) then also sees the counts. relaxed: statistics. */
        atomic_fetch_sub_explicit(&t->pending, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&t->fired, 1, memory_order_relaxed);
        cn_actor_send(tm->actor, tm->msg); /* takes msg; dropped if the actor stopped */
        cn_actor_unref(tm->actor);
        free(tm);
        pthread_mutex_lock(&t->lock);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

int cn__timers_start(cn__timers *t)
{
    int e = pthread_create(&t->thread, NULL, timer_main, t);
    if (e)
        return -e;
    t->running = true;
    return 0;
}

void cn__timers_stop(cn__timers *t)
{
    if (!t->running)
        return;
    pthread_mutex_lock(&t->lock);
    t->stop = true;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    t->running = false;
}

void cn__timers_destroy(cn__timers *t)
{
    cn__timers_stop(t);
    for (size_t i = 0; i < t->len; i++)
        timer_free(t->heap[i]);
    t->len = 0;
    free(t->heap);
    free(t->tab);
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->lock);
}

uint64_t cn_timer_after(cn_runtime *rt, cn_actor *a, uint64_t ms, cn_msg *m)
{
    return cn__timers_add(&rt->timers, a, ms, m);
}

bool cn_timer_cancel(cn_runtime *rt, uint64_t id)
{
    return cn__timers_cancel(&rt->timers, id);
}
