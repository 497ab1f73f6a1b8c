/* Tests src/actors/rest/abuse_limits.c: what a client sees of its budget (admitted or
 * told how long to wait), per key, per kind, over time. */
#include "check.h"
#include "actors/rest/abuse_limits.h"

#include <stdio.h>

#define T0 1700000000000LL /* a window boundary for every window below */

static struct cn_abuse_limits *five_per_minute(size_t max_keys)
{
    struct cn_abuse_rule rules[CN_ABUSE_KINDS] = {0};
    rules[CN_ABUSE_SIGNUP] = (struct cn_abuse_rule){5, 60};
    rules[CN_ABUSE_USER_SEARCH] = (struct cn_abuse_rule){2, 1};
    return cn_abuse_limits_new(rules, max_keys);
}

static void test_the_limit_is_admitted_then_refused_with_a_wait(void)
{
    struct cn_abuse_limits *l = five_per_minute(0);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(cn_abuse_take(l, CN_ABUSE_SIGNUP, "10.0.0.1", T0 + i), 0);
    uint32_t wait = cn_abuse_take(l, CN_ABUSE_SIGNUP, "10.0.0.1", T0 + 10);
    CHECK(wait >= 1 && wait <= 120);
    /* A refusal counts nothing: the same wait (or less) a second later. */
    CHECK(cn_abuse_take(l, CN_ABUSE_SIGNUP, "10.0.0.1", T0 + 1010) <= wait);
    cn_abuse_limits_free(l);
}

static void test_keys_and_kinds_have_their_own_budgets(void)
{
    struct cn_abuse_limits *l = five_per_minute(0);
    for (int i = 0; i < 5; i++)
        cn_abuse_take(l, CN_ABUSE_SIGNUP, "10.0.0.1", T0);
    CHECK(cn_abuse_take(l, CN_ABUSE_SIGNUP, "10.0.0.1", T0) > 0);
    CHECK_EQ(cn_abuse_take(l, CN_ABUSE_SIGNUP, "10.0.0.2", T0), 0);
    CHECK_EQ(cn_abuse_take(l, CN_ABUSE_USER_SEARCH, "10.0.0.1", T0), 0);
    /* An unlimited kind is never refused. */
    for (int i = 0; i < 1000; i++)
        CHECK_EQ(cn_abuse_take(l, CN_ABUSE_INVITE, "user:1", T0), 0);
    cn_abuse_limits_free(l);
}

static void test_the_wait_given_is_enough(void)
{
    struct cn_abuse_limits *l = five_per_minute(0);
    int64_t now = T0 + 30000; /* half way through a window */
    for (int i = 0; i < 5; i++)
        CHECK_EQ(cn_abuse_take(l, CN_ABUSE_SIGNUP, "a", now), 0);
    uint32_t wait = cn_abuse_check(l, CN_ABUSE_SIGNUP, "a", now);
    CHECK(wait > 0);
    CHECK_EQ(cn_abuse_check(l, CN_ABUSE_SIGNUP, "a", now + (int64_t)wait * 1000), 0);
    /* ... and not much more than needed: a second before it, still refused. */
    CHECK(cn_abuse_check(l, CN_ABUSE_SIGNUP, "a", now + (int64_t)wait * 1000 - 1500) > 0);
    cn_abuse_limits_free(l);
}

static void test_the_budget_comes_back_over_time(void)
{
    struct cn_abuse_limits *l = five_per_minute(0);
    for (int i = 0; i < 2; i++)
        CHECK_EQ(cn_abuse_take(l, CN_ABUSE_USER_SEARCH, "user:7", T0), 0);
    CHECK(cn_abuse_take(l, CN_ABUSE_USER_SEARCH, "user:7", T0 + 10) > 0);
    /* Two windows later nothing of the burst counts. */
    CHECK_EQ(cn_abuse_take(l, CN_ABUSE_USER_SEARCH, "user:7", T0 + 2000), 0);
    CHECK_EQ(cn_abuse_take(l, CN_ABUSE_USER_SEARCH, "user:7", T0 + 2001), 0);
    cn_abuse_limits_free(l);
}

static void test_check_does_not_count_and_note_does(void)
{
    struct cn_abuse_limits *l = five_per_minute(0);
    for (int i = 0; i < 10; i++)
        CHECK_EQ(cn_abuse_check(l, CN_ABUSE_SIGNUP, "b", T0), 0);
    for (int i = 0; i < 5; i++)
        cn_abuse_note(l, CN_ABUSE_SIGNUP, "b", T0);
    CHECK(cn_abuse_check(l, CN_ABUSE_SIGNUP, "b", T0) > 0);
    cn_abuse_limits_free(l);
}

static void test_a_full_table_refuses_new_keys_until_old_ones_expire(void)
{
    struct cn_abuse_limits *l = five_per_minute(4);
    char key[16];
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "k%d", i);
        CHECK_EQ(cn_abuse_take(l, CN_ABUSE_SIGNUP, key, T0), 0);
    }
    CHECK(cn_abuse_take(l, CN_ABUSE_SIGNUP, "new", T0) > 0);
    /* Known keys keep their budgets meanwhile. */
    CHECK_EQ(cn_abuse_take(l, CN_ABUSE_SIGNUP, "k0", T0), 0);
    /* Two windows on, the old keys count nothing and make room. */
    CHECK_EQ(cn_abuse_take(l, CN_ABUSE_SIGNUP, "new", T0 + 120000), 0);
    cn_abuse_limits_free(l);
}

CN_TEST_MAIN(test_the_limit_is_admitted_then_refused_with_a_wait,
             test_keys_and_kinds_have_their_own_budgets, test_the_wait_given_is_enough,
             test_the_budget_comes_back_over_time, test_check_does_not_count_and_note_does,
             test_a_full_table_refuses_new_keys_until_old_ones_expire)
