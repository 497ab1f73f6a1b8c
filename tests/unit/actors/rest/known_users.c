/* Tests src/actors/rest/known_users.c: ids added are known, others not, a NULL set knows
 * everyone, and a full set starts over instead of growing. */
#include "check.h"
#include "actors/rest/known_users.h"

static void test_added_ids_are_known(void)
{
    struct cn_known_users *k = cn_known_users_new(0);
    CHECK(!cn_known_users_has(k, 42));
    cn_known_users_add(k, 42);
    CHECK(cn_known_users_has(k, 42));
    CHECK(!cn_known_users_has(k, 43));
    cn_known_users_add(k, 42); /* twice: still one */
    CHECK(cn_known_users_has(k, 42));
    /* Ids that no user has are never known. */
    cn_known_users_add(k, 0);
    cn_known_users_add(k, -5);
    CHECK(!cn_known_users_has(k, 0));
    CHECK(!cn_known_users_has(k, -5));
    cn_known_users_free(k);
}

static void test_null_set_knows_everyone(void)
{
    CHECK(cn_known_users_has(NULL, 7));
    cn_known_users_add(NULL, 7);
    cn_known_users_free(NULL);
}

static void test_a_full_set_starts_over(void)
{
    struct cn_known_users *k = cn_known_users_new(3);
    for (int64_t id = 1; id <= 3; id++)
        cn_known_users_add(k, id);
    for (int64_t id = 1; id <= 3; id++)
        CHECK(cn_known_users_has(k, id));
    cn_known_users_add(k, 2); /* known already: nothing is dropped */
    CHECK(cn_known_users_has(k, 1));
    cn_known_users_add(k, 4); /* a fourth: the set empties, then holds it */
    CHECK(cn_known_users_has(k, 4));
    CHECK(!cn_known_users_has(k, 1));
    cn_known_users_free(k);
}

CN_TEST_MAIN(test_added_ids_are_known, test_null_set_knows_everyone, test_a_full_set_starts_over)
