/* Tests src/actors/room/room_rate.c: messages count in the minute up to now, a slot
 * is reused a minute later without its old count, and seconds outside the window
 * (older, or a clock that went back) are left out. */
#include <string.h>

#include "actors/room/room_rate.h"
#include "check.h"

static void test_counts_the_last_minute(void)
{
    struct cn_room_rate r;
    memset(&r, 0, sizeof r);
    CHECK_EQ(cn_room_rate_sum(&r, 1000), 0);
    cn_room_rate_add(&r, 1000, 1);
    cn_room_rate_add(&r, 1000, 2);
    cn_room_rate_add(&r, 1030, 4);
    CHECK_EQ(cn_room_rate_sum(&r, 1030), 7);
    CHECK_EQ(cn_room_rate_sum(&r, 1059), 7);
    CHECK_EQ(cn_room_rate_sum(&r, 1060), 4); /* second 1000 has left the window */
    CHECK_EQ(cn_room_rate_sum(&r, 1089), 4);
    CHECK_EQ(cn_room_rate_sum(&r, 1090), 0);
    CHECK_EQ(cn_room_rate_sum(&r, 999), 0); /* a reader whose clock is behind */
}

static void test_slot_reused_a_minute_later(void)
{
    struct cn_room_rate r;
    memset(&r, 0, sizeof r);
    cn_room_rate_add(&r, 2000, 5);
    cn_room_rate_add(&r, 2060, 1); /* same slot: starts afresh */
    CHECK_EQ(cn_room_rate_sum(&r, 2060), 1);
}

CN_TEST_MAIN(test_counts_the_last_minute, test_slot_reused_a_minute_later)
