/* Tests src/io/http_origin.c: parsing http.allowed_origins, the verdict on an Origin
 * against the list and the Host header, and the headers each kind of answer gets. */
#include "check.h"
#include "io/http_origin.h"

#include <string.h>

static struct cn_http_origins *parse(const char *list)
{
    char err[256] = "";
    struct cn_http_origins *o = cn_http_origins_parse(list, err, sizeof err);
    if (!o)
        fprintf(stderr, "parse(%s): %s\n", list, err);
    return o;
}

static void test_parse_accepts_lists_and_refuses_non_origins(void)
{
    const char *good[] = {"", "*", "https://chat.example.com",
                          "https://a.example, http://b.example:8080  HTTPS://C.example/",
                          "http://[::1]:8080"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct cn_http_origins *o = parse(good[i]);
        CHECK(o != NULL);
        cn_http_origins_free(o);
    }
    const char *bad[] = {
        "chat.example.com", "https://chat.example.com/app", "ftp://x.example", "https://",
        "https://:80",      "https://u@x.example",          "ws://x.example"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        CHECK(cn_http_origins_parse(bad[i], err, sizeof err) == NULL);
        CHECK(strstr(err, "http.allowed_origins") != NULL);
    }
}

static void test_verdicts(void)
{
    struct cn_http_origins *def = parse("");
    CHECK_EQ(cn_http_origin_check(def, NULL, "node:8080"), CN_ORIGIN_NONE);
    CHECK_EQ(cn_http_origin_check(NULL, NULL, NULL), CN_ORIGIN_NONE);
    CHECK_EQ(cn_http_origin_check(def, "http://node:8080", "node:8080"), CN_ORIGIN_SAME);
    CHECK_EQ(cn_http_origin_check(def, "https://Chat.Example.com", "chat.example.com"),
             CN_ORIGIN_SAME);
    CHECK_EQ(cn_http_origin_check(def, "https://chat.example.com", "chat.example.com:443"),
             CN_ORIGIN_SAME);
    CHECK_EQ(cn_http_origin_check(def, "http://chat.example.com", "chat.example.com:443"),
             CN_ORIGIN_DENIED);
    CHECK_EQ(cn_http_origin_check(def, "http://node:8081", "node:8080"), CN_ORIGIN_DENIED);
    CHECK_EQ(cn_http_origin_check(def, "http://node:8080", NULL), CN_ORIGIN_DENIED);
    CHECK_EQ(cn_http_origin_check(def, "null", "node:8080"), CN_ORIGIN_DENIED);
    CHECK_EQ(cn_http_origin_check(NULL, "https://evil.example", "node:8080"), CN_ORIGIN_DENIED);
    cn_http_origins_free(def);

    struct cn_http_origins *list = parse("https://chat.example.com, http://b.example:8080/");
    CHECK_EQ(cn_http_origin_check(list, "https://chat.example.com", "node:8080"),
             CN_ORIGIN_ALLOWED);
    CHECK_EQ(cn_http_origin_check(list, "HTTPS://CHAT.EXAMPLE.COM", "node:8080"),
             CN_ORIGIN_ALLOWED);
    CHECK_EQ(cn_http_origin_check(list, "http://b.example:8080", "node:8080"), CN_ORIGIN_ALLOWED);
    CHECK_EQ(cn_http_origin_check(list, "http://b.example", "node:8080"), CN_ORIGIN_DENIED);
    CHECK_EQ(cn_http_origin_check(list, "https://chat.example.com.evil.example", "node:8080"),
             CN_ORIGIN_DENIED);
    CHECK_EQ(cn_http_origin_check(list, "https://chat.example.co", "node:8080"), CN_ORIGIN_DENIED);
    cn_http_origins_free(list);

    struct cn_http_origins *any = parse("*");
    CHECK_EQ(cn_http_origin_check(any, "https://anything.example", "node:8080"), CN_ORIGIN_ALLOWED);
    CHECK_EQ(cn_http_origin_check(any, NULL, "node:8080"), CN_ORIGIN_NONE);
    cn_http_origins_free(any);
}

static const char *find(const struct cn_http_extra_header *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(h[i].name, name) == 0)
            return h[i].value;
    return NULL;
}

static void test_headers_per_kind(void)
{
    struct cn_http_extra_header h[CN_HTTP_EXTRA_HEADERS_MAX];
    size_t n = cn_http_origin_headers(CN_ANSWER_API, NULL, CN_ORIGIN_NONE, h);
    CHECK_STR(find(h, n, "x-content-type-options:"), "nosniff");
    CHECK(find(h, n, "content-security-policy:") == NULL);
    CHECK(find(h, n, "access-control-allow-origin:") == NULL);

    n = cn_http_origin_headers(CN_ANSWER_STATIC, "https://x.example", CN_ORIGIN_SAME, h);
    CHECK(strstr(find(h, n, "content-security-policy:"), "frame-ancestors 'none'") != NULL);
    CHECK_STR(find(h, n, "x-frame-options:"), "DENY");
    CHECK_STR(find(h, n, "referrer-policy:"), "no-referrer");
    CHECK(find(h, n, "access-control-allow-origin:") == NULL);

    n = cn_http_origin_headers(CN_ANSWER_API, "https://x.example", CN_ORIGIN_DENIED, h);
    CHECK(find(h, n, "access-control-allow-origin:") == NULL);
    CHECK_STR(find(h, n, "vary:"), "Origin");

    n = cn_http_origin_headers(CN_ANSWER_API, "https://x.example", CN_ORIGIN_ALLOWED, h);
    CHECK_STR(find(h, n, "access-control-allow-origin:"), "https://x.example");
    CHECK(find(h, n, "access-control-max-age:") == NULL);

    n = cn_http_origin_headers(CN_ANSWER_PREFLIGHT, "https://x.example", CN_ORIGIN_ALLOWED, h);
    CHECK_STR(find(h, n, "access-control-allow-origin:"), "https://x.example");
    CHECK_STR(find(h, n, "access-control-allow-headers:"), "Authorization, Content-Type");
    CHECK(find(h, n, "access-control-allow-methods:") != NULL);
    CHECK(find(h, n, "access-control-max-age:") != NULL);
    CHECK(n <= CN_HTTP_EXTRA_HEADERS_MAX);
}

CN_TEST_MAIN(test_parse_accepts_lists_and_refuses_non_origins, test_verdicts, test_headers_per_kind)
