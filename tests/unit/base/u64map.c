/* Tests src/base/u64map.c against a plain array model under random operations. */
#include "check.h"
#include "base/u64map.h"

#include <stdint.h>

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_matches_a_model_under_random_operations(void)
{
    enum { KEYS = 2000 };
    static void *model[KEYS + 1];
    struct cn_u64map m;
    cn_u64map_init(&m);
    size_t live = 0;
    for (int step = 0; step < 200000; step++) {
        uint64_t k = 1 + next_rand() % KEYS;
        void *v = (void *)(uintptr_t)(next_rand() | 1);
        switch (next_rand() % 3) {
        case 0:
            live += model[k] == NULL;
            cn_u64map_put(&m, k, v);
            model[k] = v;
            break;
        case 1:
            CHECK(cn_u64map_del(&m, k) == model[k]);
            live -= model[k] != NULL;
            model[k] = NULL;
            break;
        default:
            CHECK(cn_u64map_get(&m, k) == model[k]);
        }
    }
    CHECK_EQ(m.len, live);
    for (uint64_t k = 1; k <= KEYS; k++)
        CHECK(cn_u64map_get(&m, k) == model[k]);
    cn_u64map_free(&m);
}

static void test_large_sparse_ids(void)
{
    struct cn_u64map m;
    cn_u64map_init(&m);
    for (uint64_t i = 1; i <= 10000; i++)
        cn_u64map_put(&m, (i << 56) | i, (void *)(uintptr_t)i);
    for (uint64_t i = 1; i <= 10000; i += 2)
        CHECK(cn_u64map_del(&m, (i << 56) | i) == (void *)(uintptr_t)i);
    for (uint64_t i = 1; i <= 10000; i++)
        CHECK(cn_u64map_get(&m, (i << 56) | i) == (i % 2 ? NULL : (void *)(uintptr_t)i));
    CHECK_EQ(m.len, 5000);
    cn_u64map_free(&m);
}

CN_TEST_MAIN(test_matches_a_model_under_random_operations, test_large_sparse_ids)
