/* Tests src/proto/revoke_event.c: the revocation event and its ack round-trip, every
 * field's bounds are enforced on both sides, and a line that is not exactly an event
 * (a peer or a stray publisher on the channel) is refused rather than half read. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "proto/revoke_event.h"

#define S(lit) lit, sizeof lit - 1

static void test_event_round_trip(void)
{
    int64_t users[] = {7, 12, 999999999999};
    size_t len;
    char *buf = cn_revoke_event_render(42, "membership:ack:node1:00ff", 501, "leave", 1700000000123,
                                       users, 3, &len);
    CHECK(buf != NULL);
    const char want[] = "revoke 42 membership:ack:node1:00ff 501 leave 1700000000123 "
                        "7,12,999999999999";
    CHECK_MEM(buf, len, want, sizeof want - 1);
    struct cn_revoke_event ev;
    CHECK_EQ(cn_revoke_event_parse(buf, len, &ev), 0);
    CHECK_EQ(ev.id, 42);
    CHECK_STR(ev.ack, "membership:ack:node1:00ff");
    CHECK_EQ(ev.room_id, 501);
    CHECK_STR(ev.kind, "leave");
    CHECK_EQ(ev.at_ms, 1700000000123);
    CHECK_EQ(ev.nusers, 3);
    int64_t got[3] = {0};
    cn_revoke_event_users(&ev, got);
    CHECK_EQ(got[0], 7);
    CHECK_EQ(got[1], 12);
    CHECK_EQ(got[2], 999999999999);
    free(buf);
}

static void test_every_member_is_a_star(void)
{
    size_t len;
    char *buf = cn_revoke_event_render(UINT64_MAX, "a", 1, "closed", 0, NULL, 0, &len);
    CHECK(buf != NULL);
    CHECK_STR(buf, "revoke 18446744073709551615 a 1 closed 0 *");
    struct cn_revoke_event ev;
    CHECK_EQ(cn_revoke_event_parse(buf, len, &ev), 0);
    CHECK(ev.id == UINT64_MAX);
    CHECK_EQ(ev.nusers, 0);
    CHECK_EQ(ev.users_len, 0);
    free(buf);
}

static void test_render_refuses_what_parse_would(void)
{
    size_t len;
    int64_t bad[] = {3, 0};
    CHECK(cn_revoke_event_render(0, "a", 1, "leave", 0, NULL, 0, &len) == NULL);
    CHECK(cn_revoke_event_render(1, "", 1, "leave", 0, NULL, 0, &len) == NULL);
    CHECK(cn_revoke_event_render(1, "a b", 1, "leave", 0, NULL, 0, &len) == NULL);
    CHECK(cn_revoke_event_render(1, "a", 0, "leave", 0, NULL, 0, &len) == NULL);
    CHECK(cn_revoke_event_render(1, "a", 1, "Leave", 0, NULL, 0, &len) == NULL);
    CHECK(cn_revoke_event_render(1, "a", 1, "abcdefghijklmnop", 0, NULL, 0, &len) == NULL);
    CHECK(cn_revoke_event_render(1, "a", 1, "leave", -1, NULL, 0, &len) == NULL);
    CHECK(cn_revoke_event_render(1, "a", 1, "leave", 0, bad, 2, &len) == NULL);
    CHECK(cn_revoke_event_render(1, "a", 1, "leave", 0, bad, CN_REVOKE_MAX_USERS + 1, &len) ==
          NULL);
    char ack[CN_REVOKE_ACK_MAX + 2];
    memset(ack, 'x', sizeof ack - 1);
    ack[sizeof ack - 1] = '\0';
    CHECK(cn_revoke_event_render(1, ack, 1, "leave", 0, NULL, 0, &len) == NULL);
    ack[CN_REVOKE_ACK_MAX] = '\0'; /* exactly the maximum */
    char *ok = cn_revoke_event_render(1, ack, 1, "leave", 0, NULL, 0, &len);
    CHECK(ok != NULL);
    free(ok);
}

static void test_parse_refuses_anything_else(void)
{
    struct cn_revoke_event ev;
    static const char *const bad[] = {
        "",
        "revoke",
        "revoke ",
        "event leave leave-1-2-3\n{}",
        "revoke 0 a 1 leave 0 *",                    /* id 0 */
        "revoke 18446744073709551616 a 1 leave 0 *", /* id past 2^64 */
        "revoke 1 a 1 leave 0 *\n",                  /* trailing newline */
        "revoke 1 a 1 leave 0",                      /* no users */
        "revoke 1 a 1 leave 0 ",                     /* empty users */
        "revoke 1 a 0 leave 0 *",                    /* room 0 */
        "revoke 1 a -1 leave 0 *",                   /* negative room */
        "revoke 1 a 1234567890123456789 leave 0 *",  /* 19-digit room */
        "revoke 1 a 1 LEAVE 0 *",                    /* kind not lower-case */
        "revoke 1 a 1 leave -5 *",                   /* negative time */
        "revoke 1 a/b 1 leave 0 *",                  /* ack channel character */
        "revoke 1 a 1 leave 0 1,,2",                 /* empty id */
        "revoke 1 a 1 leave 0 1,2,",                 /* trailing comma */
        "revoke 1 a 1 leave 0 0",                    /* user 0 */
        "revoke 1 a 1 leave 0 *,1",                  /* star and ids */
        "revoke 1 a 1 leave 0 1 2",                  /* extra field */
        "revoke 1  a 1 leave 0 1",                   /* double space */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = cn_revoke_event_parse(bad[i], strlen(bad[i]), &ev);
        if (rc != -EINVAL)
            fprintf(stderr, "parsed: '%s'\n", bad[i]);
        CHECK_EQ(rc, -EINVAL);
    }
}

static void test_too_many_users_is_refused(void)
{
    /* CN_REVOKE_MAX_USERS + 1 ids: "1,1,...,1". */
    size_t n = CN_REVOKE_MAX_USERS + 1;
    size_t cap = 32 + 2 * n;
    char *buf = malloc(cap);
    CHECK(buf != NULL);
    if (!buf)
        return;
    size_t len = (size_t)snprintf(buf, cap, "revoke 1 a 1 removed 0 ");
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf[len++] = ',';
        buf[len++] = '1';
    }
    struct cn_revoke_event ev;
    CHECK_EQ(cn_revoke_event_parse(buf, len, &ev), -EINVAL);
    CHECK_EQ(cn_revoke_event_parse(buf, len - 2, &ev), 0); /* one fewer: the maximum */
    CHECK_EQ(ev.nusers, CN_REVOKE_MAX_USERS);
    free(buf);
}

static void test_ack_round_trip_and_refusals(void)
{
    char out[32];
    size_t n = cn_revoke_ack_render(out, 77);
    CHECK_MEM(out, n, "ack 77", 6);
    uint64_t id = 0;
    CHECK_EQ(cn_revoke_ack_parse(out, n, &id), 0);
    CHECK_EQ(id, 77);
    n = cn_revoke_ack_render(out, UINT64_MAX);
    CHECK_EQ(cn_revoke_ack_parse(out, n, &id), 0);
    CHECK(id == UINT64_MAX);
    CHECK_EQ(cn_revoke_ack_parse(S("ack 0"), &id), -EINVAL);
    CHECK_EQ(cn_revoke_ack_parse(S("ack "), &id), -EINVAL);
    CHECK_EQ(cn_revoke_ack_parse(S("ack 1x"), &id), -EINVAL);
    CHECK_EQ(cn_revoke_ack_parse(S("ack 18446744073709551616"), &id), -EINVAL);
    CHECK_EQ(cn_revoke_ack_parse(S("nack 1"), &id), -EINVAL);
}

CN_TEST_MAIN(test_event_round_trip, test_every_member_is_a_star,
             test_render_refuses_what_parse_would, test_parse_refuses_anything_else,
             test_too_many_users_is_refused, test_ack_round_trip_and_refusals)
