/* Tests src/actors/session/send_window.c: the sliding window admits exactly cap events per span. */
#include "check.h"
#include "actors/session/send_window.h"

static void test_admits_cap_then_refuses_until_the_oldest_leaves(void)
{
    struct cn_send_window w;
    cn_send_window_init(&w, 3, 1000);
    CHECK(cn_send_window_try(&w, 100));
    CHECK(cn_send_window_try(&w, 200));
    CHECK(cn_send_window_try(&w, 300));
    CHECK(!cn_send_window_try(&w, 300));
    CHECK(!cn_send_window_try(&w, 1099)); /* 100 is 999 ms old: still inside */
    CHECK(cn_send_window_try(&w, 1100));  /* 100 has left */
    CHECK(!cn_send_window_try(&w, 1150));
    CHECK(cn_send_window_try(&w, 1200));
    /* A refusal records nothing: after a long pause the whole window is free. */
    for (int i = 0; i < 3; i++)
        CHECK(cn_send_window_try(&w, 5000));
    CHECK(!cn_send_window_try(&w, 5000));
    cn_send_window_free(&w);
}

static void test_zero_cap_never_admits(void)
{
    struct cn_send_window w;
    cn_send_window_init(&w, 0, 1000);
    CHECK(!cn_send_window_try(&w, 1));
    CHECK(!cn_send_window_try(&w, 100000));
    cn_send_window_free(&w);
}

CN_TEST_MAIN(test_admits_cap_then_refuses_until_the_oldest_leaves, test_zero_cap_never_admits)
