/* Tests src/actors/rest/token_cache.c: the cache gives cn_jwt_verify's answer, faster only. */
#include "check.h"
#include "actors/rest/token_cache.h"

#include <stdlib.h>
#include <string.h>

static const uint8_t key[] = "0123456789abcdef0123456789abcdef-cache";
#define KEYLEN (sizeof key - 1)
#define NOW    1700000000

static const struct cn_jwt_config jwt = {key, KEYLEN, "chat-node", "chat-node"};

static int verify(struct cn_token_cache *c, const char *t, int64_t now, struct cn_token_claims *cl)
{
    return cn_token_cache_verify(c, &jwt, t, strlen(t), now, cl);
}

static void test_second_use_is_a_hit_with_the_same_claims(void)
{
    struct cn_token_cache *c = cn_token_cache_new(64);
    char *t = cn_jwt_issue(&jwt, 42, NOW, 900);
    struct cn_token_claims a, b, direct;
    CHECK_EQ(verify(c, t, NOW + 1, &a), 0);
    CHECK_EQ(verify(c, t, NOW + 2, &b), 0);
    CHECK_EQ(cn_jwt_verify(&jwt, t, NOW + 2, &direct), 0);
    CHECK_EQ(b.user_id, 42);
    CHECK_EQ(b.exp, direct.exp);
    CHECK_EQ(b.iat, direct.iat);
    CHECK_STR(b.jti, direct.jti);
    CHECK_EQ(cn_token_cache_stats(c).hits, 1);
    CHECK_EQ(cn_token_cache_stats(c).misses, 1);
    free(t);
    cn_token_cache_free(c);
}

static void test_a_cached_token_expires_when_the_token_does(void)
{
    struct cn_token_cache *c = cn_token_cache_new(64);
    char *t = cn_jwt_issue(&jwt, 7, NOW, 60);
    struct cn_token_claims cl;
    CHECK_EQ(verify(c, t, NOW, &cl), 0);
    CHECK_EQ(verify(c, t, NOW + 59, &cl), 0);
    CHECK_EQ(verify(c, t, NOW + 60, &cl), CN_JWT_EEXPIRED);
    CHECK_EQ(cl.user_id, 0);
    CHECK_EQ(verify(c, t, NOW + 61, &cl), CN_JWT_EEXPIRED);
    free(t);
    cn_token_cache_free(c);
}

static void test_refusals_are_never_cached(void)
{
    struct cn_token_cache *c = cn_token_cache_new(64);
    char *t = cn_jwt_issue(&jwt, 9, NOW, 900);
    /* Flip one character of the signature: a forgery of a token the cache knows. */
    char *forged = strdup(t);
    size_t n = strlen(forged);
    forged[n - 2] = forged[n - 2] == 'A' ? 'B' : 'A';
    struct cn_token_claims cl;
    CHECK_EQ(verify(c, t, NOW, &cl), 0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(verify(c, forged, NOW, &cl), CN_JWT_ESIG);
    CHECK_EQ(verify(c, "not.a.token", NOW, &cl), cn_jwt_verify(&jwt, "not.a.token", NOW, &cl));
    CHECK_EQ(cn_token_cache_stats(c).hits, 0);
    /* The good token is still answered (and now from the cache). */
    CHECK_EQ(verify(c, t, NOW, &cl), 0);
    CHECK_EQ(cn_token_cache_stats(c).hits, 1);
    free(forged);
    free(t);
    cn_token_cache_free(c);
}

static void test_one_slot_keeps_the_last_token_and_tells_them_apart(void)
{
    struct cn_token_cache *c = cn_token_cache_new(1);
    char *a = cn_jwt_issue(&jwt, 1, NOW, 900);
    char *b = cn_jwt_issue(&jwt, 2, NOW, 900);
    struct cn_token_claims cl;
    CHECK_EQ(verify(c, a, NOW, &cl), 0);
    CHECK_EQ(cl.user_id, 1);
    CHECK_EQ(verify(c, b, NOW, &cl), 0);
    CHECK_EQ(cl.user_id, 2);
    CHECK_EQ(verify(c, a, NOW, &cl), 0);
    CHECK_EQ(cl.user_id, 1);
    CHECK_EQ(cn_token_cache_stats(c).hits, 0);
    CHECK_EQ(verify(c, a, NOW, &cl), 0);
    CHECK_EQ(cn_token_cache_stats(c).hits, 1);
    free(a);
    free(b);
    cn_token_cache_free(c);
}

static void test_too_long_and_unterminated_input(void)
{
    struct cn_token_cache *c = cn_token_cache_new(8);
    size_t n = CN_JWT_MAX_TOKEN + 10;
    char *big = malloc(n);
    memset(big, 'a', n);
    struct cn_token_claims cl;
    CHECK_EQ(cn_token_cache_verify(c, &jwt, big, n, NOW, &cl), CN_JWT_ETOOLONG);
    /* Only `len` bytes count: a valid token followed by junk it was not told about. */
    char *t = cn_jwt_issue(&jwt, 5, NOW, 900);
    size_t tl = strlen(t);
    char *padded = malloc(tl + 4);
    memcpy(padded, t, tl);
    memcpy(padded + tl, "junk", 4);
    CHECK_EQ(cn_token_cache_verify(c, &jwt, padded, tl, NOW, &cl), 0);
    CHECK_EQ(cl.user_id, 5);
    free(padded);
    free(t);
    free(big);
    cn_token_cache_free(c);
}

CN_TEST_MAIN(test_second_use_is_a_hit_with_the_same_claims,
             test_a_cached_token_expires_when_the_token_does, test_refusals_are_never_cached,
             test_one_slot_keeps_the_last_token_and_tells_them_apart,
             test_too_long_and_unterminated_input)
