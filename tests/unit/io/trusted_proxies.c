/* Tests src/io/trusted_proxies.c: parsing http.trusted_proxies and the client address
 * taken from X-Forwarded-For only when the peer is trusted. */
#include "check.h"
#include "io/trusted_proxies.h"

#include <string.h>

static struct cn_trusted_proxies *parse(const char *spec)
{
    char err[256] = "";
    struct cn_trusted_proxies *p = cn_trusted_proxies_parse(spec, err, sizeof err);
    if (!p)
        fprintf(stderr, "parse(%s): %s\n", spec, err);
    return p;
}

static void test_parse_accepts_ips_and_cidrs_and_names_a_bad_entry(void)
{
    struct cn_trusted_proxies *p = parse("");
    CHECK(p != NULL);
    CHECK(!cn_trusted_proxies_contains(p, "127.0.0.1"));
    cn_trusted_proxies_free(p);
    p = parse(" 127.0.0.1, 10.0.0.0/8 ::1,fd00::/8");
    CHECK(p != NULL);
    CHECK(cn_trusted_proxies_contains(p, "127.0.0.1"));
    CHECK(cn_trusted_proxies_contains(p, "::ffff:127.0.0.1")); /* IPv4-mapped */
    CHECK(cn_trusted_proxies_contains(p, "10.200.3.4"));
    CHECK(!cn_trusted_proxies_contains(p, "11.0.0.1"));
    CHECK(cn_trusted_proxies_contains(p, "::1"));
    CHECK(cn_trusted_proxies_contains(p, "fd12::5"));
    CHECK(!cn_trusted_proxies_contains(p, "fe80::1"));
    CHECK(!cn_trusted_proxies_contains(p, "not an ip"));
    cn_trusted_proxies_free(p);
    const char *bad[] = {"localhost", "10.0.0.0/33", "10.0.0.1/", "::1/129", "1.2.3.4/x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        CHECK(cn_trusted_proxies_parse(bad[i], err, sizeof err) == NULL);
        CHECK(strstr(err, "http.trusted_proxies") != NULL);
    }
}

static void test_forwarded_for_only_from_a_trusted_peer(void)
{
    struct cn_trusted_proxies *p = parse("127.0.0.1, 10.0.0.0/8");
    char out[64];
    /* Untrusted peer: the header is ignored. */
    cn_trusted_proxies_client_addr(p, "192.0.2.1", "203.0.113.7", out, sizeof out);
    CHECK_STR(out, "192.0.2.1");
    /* Trusted peer, no header. */
    cn_trusted_proxies_client_addr(p, "127.0.0.1", NULL, out, sizeof out);
    CHECK_STR(out, "127.0.0.1");
    /* The right-most untrusted entry; the forged left one is not used. */
    cn_trusted_proxies_client_addr(p, "127.0.0.1", "198.51.100.9, 203.0.113.7 ,10.1.2.3", out,
                                   sizeof out);
    CHECK_STR(out, "203.0.113.7");
    /* Every entry trusted: the left-most of them. */
    cn_trusted_proxies_client_addr(p, "127.0.0.1", "10.0.0.9, 10.0.0.8", out, sizeof out);
    CHECK_STR(out, "10.0.0.9");
    /* Garbage stops the walk at the last good hop. */
    cn_trusted_proxies_client_addr(p, "127.0.0.1", "203.0.113.7, evil", out, sizeof out);
    CHECK_STR(out, "127.0.0.1");
    cn_trusted_proxies_client_addr(p, "127.0.0.1", "evil, 10.0.0.2", out, sizeof out);
    CHECK_STR(out, "10.0.0.2");
    /* IPv6 normalised. */
    cn_trusted_proxies_client_addr(p, "127.0.0.1", "2001:DB8:0::1", out, sizeof out);
    CHECK_STR(out, "2001:db8::1");
    /* No list: the peer. */
    cn_trusted_proxies_client_addr(NULL, "127.0.0.1", "203.0.113.7", out, sizeof out);
    CHECK_STR(out, "127.0.0.1");
    cn_trusted_proxies_free(p);
}

CN_TEST_MAIN(test_parse_accepts_ips_and_cidrs_and_names_a_bad_entry,
             test_forwarded_for_only_from_a_trusted_peer)
