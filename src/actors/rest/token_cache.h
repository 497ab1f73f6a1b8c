/* A cache of verified access tokens, so that a client sending the same bearer token
 * on every request pays the HMAC and the JSON parse of cn_jwt_verify once.
 *
 * Direct-mapped: a token's BLAKE2b-256 digest picks one of a fixed number of slots,
 * and the slot remembers the digest and the claims of the last token verified there.
 * Only successful verifications are stored (a refusal is recomputed every time, so a
 * flood of bad tokens cannot evict good ones faster than it costs its sender). A hit
 * re-checks `exp` against the clock, so a cached token expires exactly when the token
 * does. Access tokens are never revoked in this system (they are short-lived; what is
 * revoked is a refresh token, which is never cached), so nothing else can make a cached
 * answer wrong; the key, issuer and audience are fixed for the life of the process.
 *
 * Not thread-safe: one cache per thread (the HTTP server has one per I/O thread).
 * Memory: the cache owns its slots; cn_token_cache_free releases them. */
#ifndef CN_ACTORS_REST_TOKEN_CACHE_H
#define CN_ACTORS_REST_TOKEN_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/jwt.h"

struct cn_token_cache;

struct cn_token_cache_stats {
    uint64_t hits, misses;
};

/* A cache of `slots` entries (rounded up to a power of two, at least 1). Out of
 * memory aborts. */
struct cn_token_cache *cn_token_cache_new(unsigned slots);

void cn_token_cache_free(struct cn_token_cache *c);

/* cn_jwt_verify through the cache: the same answer (0 and the claims, or the same
 * negative cn_jwt_error) as cn_jwt_verify(jwt, token, now_s, claims) for the `len`
 * bytes at `token` (borrowed; need not be NUL-terminated). `jwt` (borrowed) must be
 * the same configuration for every call on one cache. */
int cn_token_cache_verify(struct cn_token_cache *c, const struct cn_jwt_config *jwt,
                          const char *token, size_t len, int64_t now_s,
                          struct cn_token_claims *claims);

struct cn_token_cache_stats cn_token_cache_stats(const struct cn_token_cache *c);

#endif
