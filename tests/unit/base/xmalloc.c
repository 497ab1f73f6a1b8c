/* Tests src/base/xmalloc.c and src/base/log.c level parsing. */
#include "check.h"
#include "base/log.h"
#include "base/xmalloc.h"

static void test_strndup_stops_at_n_and_at_nul(void)
{
    char *a = cn_xstrndup("hello", 3);
    CHECK_STR(a, "hel");
    char *b = cn_xstrndup("hi", 10);
    CHECK_STR(b, "hi");
    free(a);
    free(b);
}

static void test_zero_size_allocations_are_usable(void)
{
    void *p = cn_xmalloc(0), *q = cn_xcalloc(0, 0);
    CHECK(p != NULL);
    CHECK(q != NULL);
    free(p);
    free(q);
}

static void test_log_levels_parse_and_reject(void)
{
    enum cn_log_level l;
    CHECK_EQ(cn_log_parse_level("warn", &l), 0);
    CHECK_EQ(l, CN_LOG_WARN);
    CHECK_EQ(cn_log_parse_level("verbose", &l), -1);
    cn_log_set_level(CN_LOG_ERROR);
    CHECK_EQ(cn_log_get_level(), CN_LOG_ERROR);
    CHECK_STR(cn_log_level_name(CN_LOG_DEBUG), "debug");
}

CN_TEST_MAIN(test_strndup_stops_at_n_and_at_nul, test_zero_size_allocations_are_usable,
             test_log_levels_parse_and_reject)
