/* A room's message rate; see room_rate.h. */
#include "actors/room/room_rate.h"

void cn_room_rate_add(struct cn_room_rate *r, int64_t now_s, uint64_t n)
{
    int i = (int)(now_s % CN_ROOM_RATE_WINDOW_S);
    if (atomic_load_explicit(&r->second[i], memory_order_relaxed) != now_s) {
        /* A slot of a minute ago (or never used): it starts counting this second. */
        atomic_store_explicit(&r->count[i], 0, memory_order_relaxed);
        atomic_store_explicit(&r->second[i], now_s, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&r->count[i], n, memory_order_relaxed);
}

uint64_t cn_room_rate_sum(const struct cn_room_rate *r, int64_t now_s)
{
    uint64_t sum = 0;
    for (int i = 0; i < CN_ROOM_RATE_WINDOW_S; i++) {
        int64_t s = atomic_load_explicit(&r->second[i], memory_order_relaxed);
        if (s > now_s - CN_ROOM_RATE_WINDOW_S && s <= now_s)
            sum += atomic_load_explicit(&r->count[i], memory_order_relaxed);
    }
    return sum;
}
