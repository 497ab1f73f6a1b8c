/* Tests src/proto/stomp_escape.c: the four escapes, rejects, and round trips of
 * random byte strings. */
#include "check.h"
#include "proto/stomp_error.h"
#include "proto/stomp_escape.h"

static void test_escape_known_values(void)
{
    const char in[] = "a:b\\c\nd\re";
    char out[64];
    size_t n = cn_stomp_escape(out, in, sizeof in - 1);
    CHECK_EQ(n, cn_stomp_escaped_len(in, sizeof in - 1));
    CHECK_MEM(out, n, "a\\cb\\\\c\\nd\\re", 13);
    CHECK_EQ(cn_stomp_escape(out, "plain", 5), 5);
    CHECK_EQ(cn_stomp_escaped_len("", 0), 0);
}

static void test_unescape_rejects_undefined(void)
{
    char out[16];
    CHECK_EQ(cn_stomp_unescape(out, "a\\tb", 4), CN_STOMP_E_BAD_ESCAPE);
    CHECK_EQ(cn_stomp_unescape(out, "ab\\", 3), CN_STOMP_E_BAD_ESCAPE);
    CHECK_EQ(cn_stomp_unescape(out, "\\C", 2), CN_STOMP_E_BAD_ESCAPE);
    CHECK_EQ(cn_stomp_unescape(out, "\\c\\r\\n\\\\", 8), 4);
    CHECK_MEM(out, 4, ":\r\n\\", 4);
}

static void test_round_trip_random(void)
{
    unsigned seed = 12345;
    char in[64], enc[128], dec[128];
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = (size_t)(iter % 64);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            /* bias towards the special bytes */
            static const char special[] = {'\r', '\n', ':', '\\', 'c', 'n', 'r', '\0'};
            in[i] = (seed >> 16) % 3 ? special[(seed >> 8) % 8] : (char)(seed >> 20);
        }
        size_t e = cn_stomp_escape(enc, in, n);
        CHECK_EQ(e, cn_stomp_escaped_len(in, n));
        CHECK(memchr(enc, '\n', e) == NULL && memchr(enc, '\r', e) == NULL &&
              memchr(enc, ':', e) == NULL);
        long d = cn_stomp_unescape(dec, enc, e);
        CHECK_EQ(d, (long)n);
        CHECK(memcmp(dec, in, n) == 0);
        /* in place */
        d = cn_stomp_unescape(enc, enc, e);
        CHECK(d == (long)n && memcmp(enc, in, n) == 0);
    }
}

CN_TEST_MAIN(test_escape_known_values, test_unescape_rejects_undefined, test_round_trip_random)
