/* Tests src/proto/message_body.c: byte-identical to the jansson encoder on awkward
 * content (every control byte, quotes, backslashes, non-ASCII, NUL, extreme ids and
 * times), and the size contract. */
#include "check.h"
#include "proto/json_responses.h"
#include "proto/message_body.h"

static void check_same(const struct cn_message *m)
{
    size_t cap = cn_message_body_max_len(m);
    char *buf = malloc(cap);
    long n = cn_message_body_render(buf, cap, m);
    CHECK_INT(n, >, 0);
    size_t jn;
    char *j = cn_json_dump(cn_json_message(m), &jn);
    CHECK_MEM(buf, (size_t)n, j, jn);
    /* and it parses back to the same content */
    json_t *v = json_loadb(buf, (size_t)n, JSON_ALLOW_NUL, NULL);
    CHECK(v != NULL);
    json_t *c = json_object_get(v, "content");
    CHECK_MEM(json_string_value(c), json_string_length(c), m->content, m->content_len);
    json_decref(v);
    free(j);
    free(buf);
}

static void test_matches_jansson(void)
{
    struct cn_message m = {.id = 9223372036854775807LL,
                           .message_key = "7f1c6d0e-3a8b-4f7e-9c2d-1b5e8a9f0c3d",
                           .room_id = 1,
                           .sender_id = 2,
                           .sender_nickname = "K\"\\m",
                           .sender_nickname_len = 4,
                           .content = "",
                           .content_len = 0,
                           .type = CN_MSG_SYSTEM,
                           .created_at_ms = 253402300799999LL,
                           .position = 0};
    static const char tail[] = "héllo 👋 / \u2028 end";
    char all[128 + sizeof tail];
    for (int i = 0; i < 128; i++)
        all[i] = (char)i;
    memcpy(all + 128, tail, sizeof tail - 1);
    m.content = all;
    m.content_len = 128 + sizeof tail - 1;
    check_same(&m);
    m.id = 0;
    m.position = -1;
    m.room_id = -9223372036854775807LL - 1;
    m.created_at_ms = -1;
    m.type = CN_MSG_FILE;
    check_same(&m);
    m.created_at_ms = 951782400000LL; /* 2000-02-29 */
    m.content = "plain";
    m.content_len = 5;
    check_same(&m);
    char t[25];
    cn_format_time_ms(951782400000LL, t);
    CHECK_STR(t, "2000-02-29T00:00:00.000Z");
    cn_format_time_ms(-1, t);
    CHECK_STR(t, "1969-12-31T23:59:59.999Z");
}

static void test_too_small(void)
{
    struct cn_message m = {.message_key = "k", .content = "x", .content_len = 1};
    char buf[16];
    CHECK_EQ(cn_message_body_render(buf, sizeof buf, &m), -1);
}

CN_TEST_MAIN(test_matches_jansson, test_too_small)
