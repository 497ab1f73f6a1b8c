/* Tests src/proto/user_event.c: the per-user event line round-trips, a line that is not
 * exactly an event (a stray publisher on the channel) is refused rather than half read,
 * the recipient list is bounded, and the JSON body carries what the contract names. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "proto/user_event.h"

static void test_round_trip(void)
{
    int64_t users[] = {7, 12, 999999999999};
    struct cn_user_event ev = {.type = CN_UEV_ROOM_REMOVED,
                               .room_id = 501,
                               .reason = CN_UEV_REASON_CLOSED,
                               .member_count = -1};
    size_t len;
    char *buf = cn_user_event_render(&ev, users, 3, &len);
    CHECK(buf != NULL);
    const char want[] = "uev ROOM_REMOVED 501 CLOSED - 7,12,999999999999";
    CHECK_MEM(buf, len, want, sizeof want - 1);
    struct cn_user_event got;
    CHECK_EQ(cn_user_event_parse(buf, len, &got), 0);
    CHECK_EQ(got.type, CN_UEV_ROOM_REMOVED);
    CHECK_EQ(got.room_id, 501);
    CHECK_EQ(got.reason, CN_UEV_REASON_CLOSED);
    CHECK_EQ(got.member_count, -1);
    CHECK_EQ(got.nusers, 3);
    int64_t ids[3] = {0};
    cn_user_event_users(&got, ids);
    CHECK_EQ(ids[0], 7);
    CHECK_EQ(ids[1], 12);
    CHECK_EQ(ids[2], 999999999999);
    free(buf);

    struct cn_user_event mc = {.type = CN_UEV_MEMBERS_CHANGED, .room_id = 3, .member_count = 0};
    buf = cn_user_event_render(&mc, users, 1, &len);
    CHECK_STR(buf, "uev MEMBERS_CHANGED 3 - 0 7");
    CHECK_EQ(cn_user_event_parse(buf, len, &got), 0);
    CHECK_EQ(got.member_count, 0);
    CHECK_EQ(got.reason, CN_UEV_REASON_NONE);
    free(buf);
}

static void test_json_bodies(void)
{
    char out[CN_USER_EVENT_JSON_MAX];
    struct cn_user_event a = {.type = CN_UEV_ROOM_ADDED, .room_id = 42, .member_count = -1};
    size_t n = cn_user_event_json(&a, out);
    CHECK_STR(out, "{\"type\":\"ROOM_ADDED\",\"roomId\":42}");
    CHECK_EQ(n, strlen(out));
    struct cn_user_event r = {.type = CN_UEV_ROOM_REMOVED,
                              .room_id = 42,
                              .reason = CN_UEV_REASON_LEFT,
                              .member_count = -1};
    cn_user_event_json(&r, out);
    CHECK_STR(out, "{\"type\":\"ROOM_REMOVED\",\"roomId\":42,\"reason\":\"LEFT\"}");
    struct cn_user_event m = {
        .type = CN_UEV_MEMBERS_CHANGED, .room_id = INT64_MAX, .member_count = INT64_MAX};
    cn_user_event_json(&m, out);
    CHECK_STR(out, "{\"type\":\"MEMBERS_CHANGED\",\"roomId\":9223372036854775807,"
                   "\"memberCount\":9223372036854775807}");
}

static void test_render_refuses_what_parse_would(void)
{
    size_t len;
    int64_t ok[] = {1}, bad[] = {3, 0};
    struct cn_user_event ev = {.type = CN_UEV_ROOM_ADDED, .room_id = 1, .member_count = -1};
    CHECK(cn_user_event_render(&ev, ok, 0, &len) == NULL);
    CHECK(cn_user_event_render(&ev, bad, 2, &len) == NULL);
    CHECK(cn_user_event_render(&ev, ok, CN_USER_EVENT_MAX_USERS + 1, &len) == NULL);
    ev.room_id = 0;
    CHECK(cn_user_event_render(&ev, ok, 1, &len) == NULL);
    ev.room_id = 1;
    ev.reason = CN_UEV_REASON_LEFT; /* only ROOM_REMOVED has a reason */
    CHECK(cn_user_event_render(&ev, ok, 1, &len) == NULL);
    ev.type = CN_UEV_ROOM_REMOVED;
    ev.reason = CN_UEV_REASON_NONE; /* ... and it needs one */
    CHECK(cn_user_event_render(&ev, ok, 1, &len) == NULL);
    ev.type = 0;
    CHECK(cn_user_event_render(&ev, ok, 1, &len) == NULL);
}

static void test_parse_refuses_anything_else(void)
{
    struct cn_user_event ev;
    static const char *const bad[] = {
        "",
        "uev",
        "uev ROOM_ADDED 1 - - ",                    /* no users */
        "uev ROOM_ADDED 1 - -",                     /* no users field */
        "uev ROOM_ADDED 1 - - 1\n",                 /* trailing newline */
        "uev ROOM_ADDED 0 - - 1",                   /* room 0 */
        "uev ROOM_ADDED -1 - - 1",                  /* negative room */
        "uev ROOM_ADDED 01 - - 1",                  /* leading zero */
        "uev ROOM_ADDED 1234567890123456789 - - 1", /* 19 digits */
        "uev room_added 1 - - 1",                   /* type case */
        "uev ROOM_GONE 1 - - 1",                    /* unknown type */
        "uev ROOM_ADDED 1 LEFT - 1",                /* reason on ROOM_ADDED */
        "uev ROOM_REMOVED 1 - - 1",                 /* ROOM_REMOVED without reason */
        "uev ROOM_REMOVED 1 GONE - 1",              /* unknown reason */
        "uev MEMBERS_CHANGED 1 - -3 1",             /* negative count */
        "uev ROOM_ADDED 1 - - 1,,2",                /* empty id */
        "uev ROOM_ADDED 1 - - 1,2,",                /* trailing comma */
        "uev ROOM_ADDED 1 - - 0",                   /* user 0 */
        "uev ROOM_ADDED 1 - - 1 2",                 /* extra field */
        "uev  ROOM_ADDED 1 - - 1",                  /* double space */
        "revoke 1 a 1 leave 0 *",                   /* another channel's line */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = cn_user_event_parse(bad[i], strlen(bad[i]), &ev);
        if (rc != -EINVAL)
            fprintf(stderr, "parsed: '%s'\n", bad[i]);
        CHECK_EQ(rc, -EINVAL);
    }
}

static void test_recipients_are_bounded(void)
{
    size_t n = CN_USER_EVENT_MAX_USERS + 1;
    size_t cap = 64 + 2 * n;
    char *buf = malloc(cap);
    CHECK(buf != NULL);
    if (!buf)
        return;
    size_t len = (size_t)snprintf(buf, cap, "uev ROOM_REMOVED 9 CLOSED - ");
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf[len++] = ',';
        buf[len++] = '1';
    }
    struct cn_user_event ev;
    CHECK_EQ(cn_user_event_parse(buf, len, &ev), -EINVAL);
    CHECK_EQ(cn_user_event_parse(buf, len - 2, &ev), 0); /* one fewer: the maximum */
    CHECK_EQ(ev.nusers, CN_USER_EVENT_MAX_USERS);
    free(buf);
}

CN_TEST_MAIN(test_round_trip, test_json_bodies, test_render_refuses_what_parse_would,
             test_parse_refuses_anything_else, test_recipients_are_bounded)
