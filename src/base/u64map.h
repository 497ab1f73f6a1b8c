/* A hash map from non-zero 64-bit ids to pointers: open addressing with linear
 * probing and backward-shift deletion (no tombstones), for the per-thread tables
 * that find a connection by id. Not thread-safe: one owner thread.
 *
 * Memory: the map owns its slot array, never the values. */
#ifndef CN_BASE_U64MAP_H
#define CN_BASE_U64MAP_H

#include <stddef.h>
#include <stdint.h>

struct cn_u64map {
    struct cn_u64map_slot {
        uint64_t key; /* 0 = empty */
        void *value;
    } * slots;
    size_t cap; /* power of two */
    size_t len;
};

void cn_u64map_init(struct cn_u64map *m);
/* Inserts or replaces key (non-zero). Cannot fail (growth aborts on OOM). */
void cn_u64map_put(struct cn_u64map *m, uint64_t key, void *value);
/* Returns the value, or NULL when absent. */
void *cn_u64map_get(const struct cn_u64map *m, uint64_t key);
/* Removes key; returns its value, or NULL when absent. */
void *cn_u64map_del(struct cn_u64map *m, uint64_t key);
void cn_u64map_free(struct cn_u64map *m);

#endif
