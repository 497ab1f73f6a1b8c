/* Tests src/proto/refresh_token.c: the shape of a token, that each is new, and that its
 * digest is SHA-256 in hex. */
#include "check.h"
#include "proto/refresh_token.h"

#include <sodium.h>

static void test_new_tokens(void)
{
    CHECK(sodium_init() >= 0);
    char a[CN_REFRESH_TOKEN_CHARS + 1], b[CN_REFRESH_TOKEN_CHARS + 1];
    char ha[CN_REFRESH_HASH_HEX + 1], hb[CN_REFRESH_HASH_HEX + 1];
    cn_refresh_token_new(a, ha);
    cn_refresh_token_new(b, hb);
    CHECK_EQ(strlen(a), CN_REFRESH_TOKEN_CHARS);
    CHECK_EQ(strlen(ha), CN_REFRESH_HASH_HEX);
    CHECK(cn_refresh_token_valid(a, strlen(a)));
    CHECK(strcmp(a, b) != 0);
    CHECK(strcmp(ha, hb) != 0);
    char again[CN_REFRESH_HASH_HEX + 1];
    cn_refresh_token_hash(a, strlen(a), again);
    CHECK_STR(again, ha);
}

static void test_hash_is_sha256_hex(void)
{
    char h[CN_REFRESH_HASH_HEX + 1];
    cn_refresh_token_hash("abc", 3, h);
    CHECK_STR(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_shape(void)
{
    const char *ok = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-_";
    CHECK(cn_refresh_token_valid(ok, strlen(ok)));
    const char *bad[] = {"", "short", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+",
                         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(!cn_refresh_token_valid(bad[i], strlen(bad[i])));
    CHECK(!cn_refresh_token_valid(NULL, 0));
}

CN_TEST_MAIN(test_new_tokens, test_hash_is_sha256_hex, test_shape)
