/* Tests src/base/log.c's line rendering (both formats, JSON escaping, context fields,
 * cutting) and src/base/log_repeat.c's repeat limiter. */
#include "check.h"
#include "base/log.h"
#include "base/log_repeat.h"

#include <stdbool.h>
#include <string.h>

/* 2026-11-25T10:00:00.123Z */
static const int64_t T = 1795600800123LL;

static const char *render(enum cn_log_format f, const struct cn_log_ctx *ctx, const char *msg)
{
    static char buf[8192];
    size_t n = cn_log_render(buf, sizeof buf, f, T, CN_LOG_WARN, "node-1", "ws", ctx, msg);
    buf[n] = '\0';
    return buf;
}

static void test_text_keeps_its_shape_and_adds_context(void)
{
    CHECK_STR(render(CN_LOG_TEXT, NULL, "broker down"),
              "2026-11-25T10:00:00.123Z WARN  ws: broker down\n");
    struct cn_log_ctx ctx = {.session = "1f", .user = 12, .peer = "10.0.0.7"};
    CHECK_STR(render(CN_LOG_TEXT, &ctx, "closed"),
              "2026-11-25T10:00:00.123Z WARN  ws: closed session=1f user=12 peer=10.0.0.7\n");
}

static void test_json_has_the_fields_and_only_known_context(void)
{
    CHECK_STR(render(CN_LOG_JSON, NULL, "hello"),
              "{\"ts\":\"2026-11-25T10:00:00.123Z\",\"level\":\"warn\",\"node\":\"node-1\","
              "\"module\":\"ws\",\"msg\":\"hello\"}\n");
    struct cn_log_ctx ctx = {.user = 5, .room = 9, .peer = "::1", .request_id = "2a"};
    CHECK_STR(render(CN_LOG_JSON, &ctx, "x"),
              "{\"ts\":\"2026-11-25T10:00:00.123Z\",\"level\":\"warn\",\"node\":\"node-1\","
              "\"module\":\"ws\",\"msg\":\"x\",\"user\":5,\"room\":9,\"peer\":\"::1\","
              "\"request_id\":\"2a\"}\n");
}

static void test_json_escapes_quotes_newlines_and_control_characters(void)
{
    CHECK_STR(render(CN_LOG_JSON, NULL, "a\"b\\c\nd\re\tf\x01g\x1fh\x7f"),
              "{\"ts\":\"2026-11-25T10:00:00.123Z\",\"level\":\"warn\",\"node\":\"node-1\","
              "\"module\":\"ws\",\"msg\":\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u001fh\\u007f\"}\n");
    /* UTF-8 passes; a stray byte becomes U+FFFD so the line stays valid JSON text. */
    CHECK_STR(render(CN_LOG_JSON, NULL, "caf\xc3\xa9 \xff!"),
              "{\"ts\":\"2026-11-25T10:00:00.123Z\",\"level\":\"warn\",\"node\":\"node-1\","
              "\"module\":\"ws\",\"msg\":\"caf\xc3\xa9 \\ufffd!\"}\n");
    struct cn_log_ctx ctx = {.peer = "evil\"peer\n"};
    CHECK(strstr(render(CN_LOG_JSON, &ctx, "m"), "\"peer\":\"evil\\\"peer\\n\"}") != NULL);
}

static void test_a_long_message_is_cut_and_the_line_stays_whole(void)
{
    static char msg[20000];
    memset(msg, '"', sizeof msg - 1);
    char buf[1024];
    struct cn_log_ctx ctx = {.session = "abc", .user = 1};
    size_t n = cn_log_render(buf, sizeof buf, CN_LOG_JSON, T, CN_LOG_INFO, "n", "m", &ctx, msg);
    CHECK(n < sizeof buf);
    CHECK_EQ(buf[n - 1], '\n');
    CHECK(memcmp(buf + n - 10, "\"user\":1}\n", 10) == 0);
    n = cn_log_render(buf, sizeof buf, CN_LOG_TEXT, T, CN_LOG_INFO, "n", "m", &ctx, msg);
    CHECK(n < sizeof buf);
    CHECK_EQ(buf[n - 1], '\n');
    CHECK(memcmp(buf + n - 20, " session=abc user=1\n", 20) == 0);
}

static void test_format_names(void)
{
    enum cn_log_format f;
    CHECK_EQ(cn_log_parse_format("json", &f), 0);
    CHECK_EQ(f, CN_LOG_JSON);
    CHECK_EQ(cn_log_parse_format("text", &f), 0);
    CHECK_EQ(f, CN_LOG_TEXT);
    CHECK_EQ(cn_log_parse_format("JSON", &f), -1);
}

static void test_repeats_over_the_limit_are_suppressed_then_summed_up(void)
{
    static struct cn_log_repeats r;
    cn_log_repeats_init(&r, 3);
    static const char mod[] = "ws", fmt[] = "closed %s", other[] = "opened %s";
    struct cn_log_repeat_summary s;
    int printed = 0;
    for (int i = 0; i < 10; i++) {
        printed += cn_log_repeat_check(&r, mod, fmt, CN_LOG_WARN, 1000 + i, &s);
        CHECK_EQ(s.count, 0);
    }
    CHECK_EQ(printed, 3);
    /* Another format is counted on its own. */
    CHECK(cn_log_repeat_check(&r, mod, other, CN_LOG_INFO, 2000, &s));
    /* Still in the window: suppressed. */
    CHECK(!cn_log_repeat_check(&r, mod, fmt, CN_LOG_WARN, 1000 + CN_LOG_REPEAT_WINDOW_MS - 1, &s));
    CHECK_EQ(s.count, 0);
    /* The next one after the window: printed, after the summary of the 8 suppressed. */
    CHECK(cn_log_repeat_check(&r, mod, fmt, CN_LOG_WARN, 1000 + CN_LOG_REPEAT_WINDOW_MS, &s));
    CHECK_EQ(s.count, 8);
    CHECK(s.fmt == fmt && s.module == mod);
    CHECK_EQ(s.level, CN_LOG_WARN);
    /* A window without suppression ends without a summary. */
    CHECK(cn_log_repeat_check(&r, mod, fmt, CN_LOG_WARN, 1000 + 3 * CN_LOG_REPEAT_WINDOW_MS, &s));
    CHECK_EQ(s.count, 0);
}

static void test_flush_sums_up_a_burst_that_stopped(void)
{
    static struct cn_log_repeats r;
    cn_log_repeats_init(&r, 2);
    static const char mod[] = "http", fmt[] = "refused %s";
    struct cn_log_repeat_summary s, out[4];
    for (int i = 0; i < 7; i++)
        cn_log_repeat_check(&r, mod, fmt, CN_LOG_WARN, 500, &s);
    CHECK_EQ(cn_log_repeat_flush(&r, 500 + CN_LOG_REPEAT_WINDOW_MS - 1, out, 4), 0);
    CHECK_EQ(cn_log_repeat_flush(&r, 500 + CN_LOG_REPEAT_WINDOW_MS, out, 4), 1);
    CHECK_EQ(out[0].count, 5);
    CHECK(out[0].fmt == fmt);
    /* Flushed once: the next line starts a fresh window. */
    CHECK_EQ(cn_log_repeat_flush(&r, 500 + 5 * CN_LOG_REPEAT_WINDOW_MS, out, 4), 0);
    CHECK(cn_log_repeat_check(&r, mod, fmt, CN_LOG_WARN, 500 + 5 * CN_LOG_REPEAT_WINDOW_MS, &s));
    CHECK_EQ(s.count, 0);
}

static void test_many_keys_never_lose_a_line_under_the_limit(void)
{
    /* More keys than slots: collisions take turns; a key seen once per window is always
     * printed. */
    static struct cn_log_repeats r;
    cn_log_repeats_init(&r, 1);
    static char fmts[3 * CN_LOG_REPEAT_SLOTS];
    struct cn_log_repeat_summary s;
    int printed = 0;
    for (int i = 0; i < (int)sizeof fmts; i++)
        printed += cn_log_repeat_check(&r, "m", &fmts[i], CN_LOG_INFO, 0, &s);
    CHECK_EQ(printed, (int)sizeof fmts);
}

CN_TEST_MAIN(test_text_keeps_its_shape_and_adds_context,
             test_json_has_the_fields_and_only_known_context,
             test_json_escapes_quotes_newlines_and_control_characters,
             test_a_long_message_is_cut_and_the_line_stays_whole, test_format_names,
             test_repeats_over_the_limit_are_suppressed_then_summed_up,
             test_flush_sums_up_a_burst_that_stopped,
             test_many_keys_never_lose_a_line_under_the_limit)
