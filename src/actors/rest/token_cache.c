/* The verified-token cache; see token_cache.h. */
#include "actors/rest/token_cache.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"

struct slot {
    uint8_t digest[crypto_generichash_BYTES];
    bool used;
    struct cn_token_claims claims;
};

struct cn_token_cache {
    unsigned mask;
    uint64_t hits, misses;
    struct slot *slots;
};

struct cn_token_cache *cn_token_cache_new(unsigned slots)
{
    unsigned n = 1;
    while (n < slots && n < (1u << 20))
        n <<= 1;
    struct cn_token_cache *c = cn_xcalloc(1, sizeof *c);
    c->mask = n - 1;
    c->slots = cn_xcalloc(n, sizeof *c->slots);
    return c;
}

void cn_token_cache_free(struct cn_token_cache *c)
{
    if (!c)
        return;
    free(c->slots);
    free(c);
}

static int verify_uncached(const struct cn_jwt_config *jwt, const char *token, size_t len,
                           int64_t now_s, struct cn_token_claims *claims)
{
    /* cn_jwt_verify wants a NUL-terminated string; one over the limit is refused by
     * it without being read past CN_JWT_MAX_TOKEN + 1 bytes, so copy that much. */
    char buf[CN_JWT_MAX_TOKEN + 2];
    size_t n = len < sizeof buf - 1 ? len : sizeof buf - 1;
    memcpy(buf, token, n);
    buf[n] = '\0';
    return cn_jwt_verify(jwt, buf, now_s, claims);
}

int cn_token_cache_verify(struct cn_token_cache *c, const struct cn_jwt_config *jwt,
                          const char *token, size_t len, int64_t now_s,
                          struct cn_token_claims *claims)
{
    if (len > CN_JWT_MAX_TOKEN)
        return verify_uncached(jwt, token, len, now_s, claims);
    uint8_t digest[crypto_generichash_BYTES];
    crypto_generichash(digest, sizeof digest, (const unsigned char *)token, len, NULL, 0);
    uint32_t h;
    memcpy(&h, digest, sizeof h);
    struct slot *s = &c->slots[h & c->mask];
    if (s->used && memcmp(s->digest, digest, sizeof digest) == 0) {
        if (s->claims.exp > now_s) {
            c->hits++;
            *claims = s->claims;
            return 0;
        }
        /* Expired since it was stored: the answer cn_jwt_verify would give now. */
        s->used = false;
        memset(claims, 0, sizeof *claims);
        return CN_JWT_EEXPIRED;
    }
    c->misses++;
    int rc = verify_uncached(jwt, token, len, now_s, claims);
    if (rc == 0) {
        memcpy(s->digest, digest, sizeof digest);
        s->claims = *claims;
        s->used = true;
    }
    return rc;
}

struct cn_token_cache_stats cn_token_cache_stats(const struct cn_token_cache *c)
{
    return (struct cn_token_cache_stats){c->hits, c->misses};
}
