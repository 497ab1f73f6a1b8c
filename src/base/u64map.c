/* Open-addressing u64 -> pointer map; see u64map.h. */
#include "u64map.h"

#include <stdlib.h>

#include "xmalloc.h"

static size_t slot_of(const struct cn_u64map *m, uint64_t key)
{
    /* Fibonacci hashing spreads sequential ids over the table. */
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 17) & (m->cap - 1);
}

void cn_u64map_init(struct cn_u64map *m)
{
    m->cap = 64;
    m->len = 0;
    m->slots = cn_xcalloc(m->cap, sizeof *m->slots);
}

static void grow(struct cn_u64map *m)
{
    struct cn_u64map old = *m;
    m->cap *= 2;
    m->len = 0;
    m->slots = cn_xcalloc(m->cap, sizeof *m->slots);
    for (size_t i = 0; i < old.cap; i++)
        if (old.slots[i].key)
            cn_u64map_put(m, old.slots[i].key, old.slots[i].value);
    free(old.slots);
}

void cn_u64map_put(struct cn_u64map *m, uint64_t key, void *value)
{
    if ((m->len + 1) * 4 > m->cap * 3)
        grow(m);
    for (size_t i = slot_of(m, key);; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i].key == key) {
            m->slots[i].value = value;
            return;
        }
        if (!m->slots[i].key) {
            m->slots[i].key = key;
            m->slots[i].value = value;
            m->len++;
            return;
        }
    }
}

void *cn_u64map_get(const struct cn_u64map *m, uint64_t key)
{
    for (size_t i = slot_of(m, key);; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i].key == key)
            return m->slots[i].value;
        if (!m->slots[i].key)
            return NULL;
    }
}

void *cn_u64map_del(struct cn_u64map *m, uint64_t key)
{
    size_t i = slot_of(m, key);
    while (m->slots[i].key != key) {
        if (!m->slots[i].key)
            return NULL;
        i = (i + 1) & (m->cap - 1);
    }
    void *value = m->slots[i].value;
    /* Backward-shift: pull later entries of the probe run into the hole so that
     * lookups never stop early at it. */
    for (size_t j = (i + 1) & (m->cap - 1); m->slots[j].key; j = (j + 1) & (m->cap - 1)) {
        size_t home = slot_of(m, m->slots[j].key);
        /* Move j into i when its home is not cyclically in (i, j]. */
        if (((j - home) & (m->cap - 1)) >= ((j - i) & (m->cap - 1))) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].key = 0;
    m->slots[i].value = NULL;
    m->len--;
    return value;
}

void cn_u64map_free(struct cn_u64map *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->len = 0;
}
