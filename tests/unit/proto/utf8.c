/* Tests src/proto/utf8.c against RFC 3629's boundaries. */
#include "check.h"
#include "proto/utf8.h"

#define S(lit) lit, sizeof(lit) - 1

static void test_valid(void)
{
    CHECK_EQ(cn_utf8_count(S("")), 0);
    CHECK_EQ(cn_utf8_count(S("abc")), 3);
    CHECK_EQ(cn_utf8_count(S("\xc2\x80")), 1);         /* U+0080 */
    CHECK_EQ(cn_utf8_count(S("\xdf\xbf")), 1);         /* U+07FF */
    CHECK_EQ(cn_utf8_count(S("\xe0\xa0\x80")), 1);     /* U+0800 */
    CHECK_EQ(cn_utf8_count(S("\xed\x9f\xbf")), 1);     /* U+D7FF */
    CHECK_EQ(cn_utf8_count(S("\xee\x80\x80")), 1);     /* U+E000 */
    CHECK_EQ(cn_utf8_count(S("\xef\xbf\xbf")), 1);     /* U+FFFF */
    CHECK_EQ(cn_utf8_count(S("\xf0\x90\x80\x80")), 1); /* U+10000 */
    CHECK_EQ(cn_utf8_count(S("\xf4\x8f\xbf\xbf")), 1); /* U+10FFFF */
    CHECK_EQ(cn_utf8_count(S("a\0b")), 3);
}

static void test_invalid(void)
{
    static const char *bad[] = {
        "\x80",
        "\xbf",
        "\xc0\x80",
        "\xc1\xbf",
        "\xc2",
        "\xc2\x41",
        "\xe0\x80\x80",
        "\xe0\x9f\xbf",
        "\xed\xa0\x80",
        "\xed\xbf\xbf",
        "\xe1\x80",
        "\xf0\x80\x80\x80",
        "\xf0\x8f\xbf\xbf",
        "\xf4\x90\x80\x80",
        "\xf5\x80\x80\x80",
        "\xff",
        "\xfe",
        "\xf0\x90\x80",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ(cn_utf8_count(bad[i], strlen(bad[i])), -1);
}

CN_TEST_MAIN(test_valid, test_invalid)
