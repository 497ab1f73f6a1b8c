/* Tests the chunked body decoder (src/io/http_chunked.c): bodies split anywhere across
 * feeds, extensions and trailers skipped, the bound enforced before a chunk's bytes are
 * stored, malformed framing refused, and the reason phrases of http_status.c. */
#include "check.h"

#include "io/http_chunked.h"
#include "io/http_status.h"

#include <stdlib.h>
#include <string.h>

static enum cn_chunked_result feed_all(const char *in, size_t step, size_t max, char **body,
                                       size_t *len)
{
    struct cn_chunked c;
    cn_chunked_init(&c, max);
    size_t n = strlen(in);
    enum cn_chunked_result r = CN_CHUNKED_MORE;
    for (size_t i = 0; i < n && r == CN_CHUNKED_MORE; i += step) {
        size_t k = n - i < step ? n - i : step;
        r = cn_chunked_feed(&c, in + i, k, body, len, NULL);
    }
    return r;
}

static void test_decodes_in_any_split(void)
{
    const char *in = "5\r\nhello\r\n6;ext=1\r\n world\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n";
    for (size_t step = 1; step <= strlen(in); step++) {
        char *body = NULL;
        size_t len = 0;
        CHECK_EQ(feed_all(in, step, 1024, &body, &len), CN_CHUNKED_DONE);
        CHECK_EQ(len, 21);
        CHECK_STR(body, "hello world0123456789");
        free(body);
    }
}

static void test_empty_body_and_rest_after_done(void)
{
    struct cn_chunked c;
    cn_chunked_init(&c, 10);
    char *body = NULL;
    size_t len = 0, used = 0;
    const char in[] = "0\r\n\r\nGET / HTTP/1.1";
    CHECK_EQ(cn_chunked_feed(&c, in, sizeof in - 1, &body, &len, &used), CN_CHUNKED_DONE);
    CHECK_EQ(used, 5);
    CHECK_EQ(len, 0);
    CHECK(body == NULL);
    /* Sticky. */
    CHECK_EQ(cn_chunked_feed(&c, "1\r\n", 3, &body, &len, &used), CN_CHUNKED_DONE);
    CHECK_EQ(used, 0);
}

static void test_bound_before_storing(void)
{
    char *body = NULL;
    size_t len = 0;
    CHECK_EQ(feed_all("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 64, 10, &body, &len),
             CN_CHUNKED_TOO_LARGE);
    CHECK_EQ(len, 5); /* the second chunk was refused from its size line */
    free(body);
    body = NULL;
    len = 0;
    CHECK_EQ(feed_all("ffffffffffffffffff\r\n", 64, 10, &body, &len), CN_CHUNKED_TOO_LARGE);
    CHECK_EQ(feed_all("a\r\n0123456789\r\n0\r\n\r\n", 64, 10, &body, &len), CN_CHUNKED_DONE);
    free(body);
}

static void test_malformed(void)
{
    const char *bad[] = {
        "zz\r\nhello\r\n0\r\n\r\n", /* not hex */
        "\r\n",                     /* no size */
        "5\nhello\r\n0\r\n\r\n",    /* bare LF */
        "5\r\nhelloX\r\n",          /* data longer than its size */
        "0\r\nX-T: 1\n\r\n",        /* bare LF in a trailer */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *body = NULL;
        size_t len = 0;
        CHECK_EQ(feed_all(bad[i], 1, 1024, &body, &len), CN_CHUNKED_BAD);
        free(body);
    }
}

static void test_reason_phrases(void)
{
    CHECK_STR(cn_http_reason(201), "Created");
    CHECK_STR(cn_http_reason(204), "No Content");
    CHECK_STR(cn_http_reason(413), "Content Too Large");
    CHECK_STR(cn_http_reason(431), "Request Header Fields Too Large");
    CHECK_STR(cn_http_reason(299), "Success");
    CHECK_STR(cn_http_reason(499), "Client Error");
    CHECK_STR(cn_http_reason(599), "Server Error");
}

CN_TEST_MAIN(test_decodes_in_any_split, test_empty_body_and_rest_after_done,
             test_bound_before_storing, test_malformed, test_reason_phrases)
