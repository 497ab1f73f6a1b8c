/* Access tokens: HS256 JSON Web Tokens signed and checked with libjwt.
 *
 * A token carries `iss` and `aud` (the node's configured issuer and audience),
 * `sub` (the user id as a decimal string, as RFC 7519 wants a StringOrURI), `iat`,
 * `exp` (seconds since the epoch) and `jti` (a random UUID). Verification accepts
 * exactly what cn_jwt_issue makes: header alg "HS256" (typ, if present, "JWT"), a
 * valid signature under the node's key, `iss` and `aud` strings equal to the
 * configured ones (a token minted for another service that shares the key is
 * refused), an unexpired `exp`, an `iat` not in the future, and a positive integer
 * subject. Every refusal is a negative cn_jwt_error whose cn_jwt_strerror text may
 * be shown to the client.
 *
 * Why the checks around libjwt 1.10.2 (Debian 12) are ours and not the library's,
 * each found by trying it (tests/unit/proto/jwt.c holds the proof):
 *   - jwt_decode with a NULL or empty key verifies nothing: it accepts alg "none"
 *     and any HS256 token with any or no signature, and reports alg none. So an
 *     empty key is refused here before libjwt sees it, and the decoded alg must be
 *     HS256.
 *   - jwt_set_alg(HS256) with an empty key silently makes an alg "none" token, so
 *     cn_jwt_issue refuses an empty key.
 *   - jwt_get_grant_int returns 0 without an error for a string grant, so claims are
 *     read with strict types from our own parse of the (verified) payload.
 *   - Input is length-limited before libjwt (which strdup()s and base64-decodes it)
 *     and must be three base64url segments, so garbage never reaches it.
 *
 * Pure: no I/O, no globals, no threads; safe to call from any thread. */
#ifndef CN_PROTO_JWT_H
#define CN_PROTO_JWT_H

#include <stddef.h>
#include <stdint.h>

/* Tokens longer than this are refused before any parsing. */
#define CN_JWT_MAX_TOKEN 4096u
/* How far in the future `iat` may be (clock skew between nodes), in seconds. */
#define CN_JWT_IAT_SKEW_S 60
/* Longest key accepted, in bytes (the config asks for at least 32). */
#define CN_JWT_MAX_KEY 1024u
/* Longest issuer or audience accepted, in bytes. */
#define CN_JWT_MAX_NAME 256u

/* What issues and verifies tokens: the HS256 key and the `iss`/`aud` every token
 * carries. All borrowed; issuer and audience are non-empty NUL-terminated strings
 * of at most CN_JWT_MAX_NAME bytes. */
struct cn_jwt_config {
    const uint8_t *key;
    size_t key_len;
    const char *issuer;
    const char *audience;
};

struct cn_token_claims {
    int64_t user_id; /* sub, > 0 */
    int64_t iat, exp;
    char jti[37]; /* NUL-terminated UUID */
};

enum cn_jwt_error {
    CN_JWT_EMALFORMED = -1, /* not three base64url segments of JSON objects */
    CN_JWT_ETOOLONG = -2,   /* longer than CN_JWT_MAX_TOKEN */
    CN_JWT_EALG = -3,       /* header alg is not exactly HS256 */
    CN_JWT_ESIG = -4,       /* signature does not match the key */
    CN_JWT_EEXPIRED = -5,   /* exp <= now */
    CN_JWT_ESUB = -6,       /* sub missing or not a positive integer */
    CN_JWT_EIAT = -7,       /* iat missing, or later than now + skew */
    CN_JWT_ECLAIMS = -8,    /* exp or jti missing or of the wrong type, exp <= iat */
    CN_JWT_EKEY = -9,       /* the server's key, issuer or audience is empty or too long */
    CN_JWT_ESCHEME = -10,   /* Authorization header is not "Bearer <token>" */
    CN_JWT_EISS = -11,      /* iss missing or not the configured issuer */
    CN_JWT_EAUD = -12,      /* aud missing or not the configured audience */
};
/* The lowest cn_jwt_error (every code is in CN_JWT_ERROR_MIN..-1). */
#define CN_JWT_ERROR_MIN CN_JWT_EAUD

/* Signs a token for `user_id` (> 0) valid `ttl_s` (> 0) seconds from `now_s`, with
 * cfg's issuer and audience and a fresh random jti. `cfg` is borrowed. Returns a
 * NUL-terminated string that the caller frees with free(), or NULL when the key is
 * empty or longer than CN_JWT_MAX_KEY, the issuer or audience is empty or longer
 * than CN_JWT_MAX_NAME, user_id or ttl_s is not positive, or now_s + ttl_s
 * overflows. Out of memory aborts. */
char *cn_jwt_issue(const struct cn_jwt_config *cfg, int64_t user_id, int64_t now_s, int64_t ttl_s);

/* Verifies `token` (borrowed, NUL-terminated; only its first CN_JWT_MAX_TOKEN + 1
 * bytes are ever read before the length check) against cfg (borrowed) at time
 * `now_s`. Returns 0 and fills `claims` (caller memory), or a negative cn_jwt_error
 * and leaves `claims` zeroed. Never crashes on arbitrary input; a NULL token is
 * malformed. */
int cn_jwt_verify(const struct cn_jwt_config *cfg, const char *token, int64_t now_s,
                  struct cn_token_claims *claims);

/* Finds the token in an Authorization header value: exactly "Bearer" (any case), one
 * space, then a non-empty token with no spaces or control characters. Points
 * `*token`/`*len` into `header` (borrowed; the token runs to its end, so it is
 * NUL-terminated too). Returns 0, or CN_JWT_ESCHEME for anything else (NULL too). */
int cn_jwt_from_authorization(const char *header, const char **token, size_t *len);

/* A static, client-safe text for a cn_jwt_error ("token expired", ...). Unknown codes
 * give "invalid token". Cannot fail. */
const char *cn_jwt_strerror(int err);

#endif
