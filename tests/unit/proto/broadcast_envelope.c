/* Tests src/proto/broadcast_envelope.c: message envelopes and position-less room events
 * share the room channel and never parse as each other. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "proto/broadcast_envelope.h"

#define S(lit) lit, sizeof lit - 1

static void test_envelope_parses_and_refuses(void)
{
    struct cn_bc_envelope e;
    CHECK_EQ(cn_bc_envelope_parse(S("7 3 0f8fad5b-d9cb-469f-a165-70867728950e\n{}"), &e), 0);
    CHECK_EQ(e.offset, 7);
    CHECK_EQ(e.prev, 3);
    CHECK_STR(e.message_key, "0f8fad5b-d9cb-469f-a165-70867728950e");
    CHECK_MEM(e.body, e.body_len, "{}", 2);
    CHECK_EQ(cn_bc_envelope_parse(S("3 3 0f8fad5b-d9cb-469f-a165-70867728950e\n{}"), &e), -EINVAL);
    CHECK_EQ(cn_bc_envelope_parse(S("event read r-1-2-3\n{}"), &e), -EINVAL);
}

static void test_event_round_trip(void)
{
    size_t len;
    char *buf = cn_bc_event_render("read", "read-42-7-501", S("{\"type\":\"READ\"}"), &len);
    CHECK(buf != NULL);
    CHECK_MEM(buf, len, "event read read-42-7-501\n{\"type\":\"READ\"}",
              sizeof "event read read-42-7-501\n{\"type\":\"READ\"}" - 1);
    CHECK(cn_bc_is_event(buf, len));
    struct cn_bc_event ev;
    CHECK_EQ(cn_bc_event_parse(buf, len, &ev), 0);
    CHECK_STR(ev.name, "read");
    CHECK_STR(ev.id, "read-42-7-501");
    CHECK_MEM(ev.body, ev.body_len, "{\"type\":\"READ\"}", sizeof "{\"type\":\"READ\"}" - 1);
    /* An event is not an envelope: the room actor must never give it a position. */
    struct cn_bc_envelope e;
    CHECK_EQ(cn_bc_envelope_parse(buf, len, &e), -EINVAL);
    free(buf);
}

static void test_event_refuses_bad_names_and_ids(void)
{
    size_t len;
    CHECK(cn_bc_event_render("", "x", S("{}"), &len) == NULL);
    CHECK(cn_bc_event_render("Read", "x", S("{}"), &len) == NULL);
    CHECK(cn_bc_event_render("read", "", S("{}"), &len) == NULL);
    CHECK(cn_bc_event_render("read", "a b", S("{}"), &len) == NULL);
    CHECK(cn_bc_event_render("read", "a\nb", S("{}"), &len) == NULL);
    CHECK(cn_bc_event_render("averyveryverylongname", "x", S("{}"), &len) == NULL);
    char id[CN_BC_EVENT_ID_MAX + 2];
    memset(id, 'a', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    CHECK(cn_bc_event_render("read", id, S("{}"), &len) == NULL);
    id[CN_BC_EVENT_ID_MAX] = '\0'; /* exactly the limit */
    char *ok = cn_bc_event_render("read", id, S("{}"), &len);
    CHECK(ok != NULL);
    free(ok);

    struct cn_bc_event ev;
    CHECK_EQ(cn_bc_event_parse(S("event read"), &ev), -EINVAL);
    CHECK_EQ(cn_bc_event_parse(S("event read x"), &ev), -EINVAL); /* no newline */
    CHECK_EQ(cn_bc_event_parse(S("event  x\n{}"), &ev), -EINVAL);
    CHECK_EQ(cn_bc_event_parse(S("event read x y\n{}"), &ev), -EINVAL);
    CHECK_EQ(cn_bc_event_parse(S("evnt read x\n{}"), &ev), -EINVAL);
    CHECK_EQ(cn_bc_event_parse(S("event read x\n"), &ev), 0); /* an empty body is allowed */
    CHECK_EQ(ev.body_len, 0);
    CHECK(!cn_bc_is_event(S("12 3 k\n")));
}

CN_TEST_MAIN(test_envelope_parses_and_refuses, test_event_round_trip,
             test_event_refuses_bad_names_and_ids)
