/* libFuzzer target for src/proto/jwt.c.
 *
 * The first input byte picks a mode; the rest is the payload of that mode:
 *   0: the bytes are a token (and an Authorization header value) as a peer sends it.
 *   1: the bytes are "header JSON \0 payload JSON"; the target encodes them and signs
 *      with the verifier's key, so the header and claim rules are what gets fuzzed.
 *   2: as 1 but signed with another key: must never verify.
 *   3: as 1 with an empty signature (the alg-none shape): must never verify.
 * Every mode checks the contract: a known error code, claims zeroed on failure, and
 * on success a positive subject, an unexpired exp after iat, a NUL-terminated jti. */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/jwt.h"

#define NOW 1700000000LL

static const uint8_t key[32] = "fuzz-key-0123456789abcdef-fuzz!!";
static const uint8_t other_key[32] = "another-key-0123456789abcdef-xyz";
static const struct cn_jwt_config cfg = {key, sizeof key, "chat-node", "chat-node"};

static void check_result(int rc, const struct cn_token_claims *c)
{
    static const struct cn_token_claims zero;
    if (rc == 0) {
        if (c->user_id <= 0 || c->exp <= NOW || c->exp <= c->iat ||
            c->iat > NOW + CN_JWT_IAT_SKEW_S || memchr(c->jti, 0, sizeof c->jti) == NULL ||
            c->jti[0] == 0)
            abort();
        return;
    }
    if (rc < CN_JWT_ERROR_MIN || rc > CN_JWT_EMALFORMED)
        abort();
    if (memcmp(c, &zero, sizeof zero) != 0)
        abort();
    if (!cn_jwt_strerror(rc) || strcmp(cn_jwt_strerror(rc), "invalid token") == 0)
        abort();
}

/* Builds b64(header).b64(payload).sig into a malloc'd string. */
static char *build(const uint8_t *h, size_t hn, const uint8_t *p, size_t pn, const uint8_t *k,
                   size_t kn)
{
    size_t hb = sodium_base64_ENCODED_LEN(hn, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t pb = sodium_base64_ENCODED_LEN(pn, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t cap = hb + pb + 64;
    char *tok = malloc(cap);
    sodium_bin2base64(tok, hb, h, hn, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t n = strlen(tok);
    tok[n++] = '.';
    sodium_bin2base64(tok + n, pb, p, pn, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    n += strlen(tok + n);
    tok[n++] = '.';
    tok[n] = 0;
    if (k) {
        uint8_t mac[crypto_auth_hmacsha256_BYTES];
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, k, kn);
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)tok, n - 1);
        crypto_auth_hmacsha256_final(&st, mac);
        sodium_bin2base64(tok + n, cap - n, mac, sizeof mac,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    }
    return tok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0] % 4;
    data++;
    size--;
    struct cn_token_claims c;
    int rc;

    if (mode == 0) {
        char *s = malloc(size + 1);
        memcpy(s, data, size);
        s[size] = 0;
        rc = cn_jwt_verify(&cfg, s, NOW, &c);
        check_result(rc, &c);
        const char *t;
        size_t n;
        if (cn_jwt_from_authorization(s, &t, &n) == 0) {
            if (t < s + 7 || t + n != s + strlen(s) || n == 0 || memchr(t, ' ', n))
                abort();
            rc = cn_jwt_verify(&cfg, t, NOW, &c);
            check_result(rc, &c);
        }
        free(s);
        return 0;
    }

    const uint8_t *nul = memchr(data, 0, size);
    size_t hn = nul ? (size_t)(nul - data) : size / 2;
    const uint8_t *p = nul ? nul + 1 : data + hn;
    size_t pn = size - (size_t)(p - data);
    const uint8_t *k = mode == 1 ? key : mode == 2 ? other_key : NULL;
    char *tok = build(data, hn, p, pn, k, sizeof key);
    rc = cn_jwt_verify(&cfg, tok, NOW, &c);
    check_result(rc, &c);
    /* A forgery that verifies is the one bug this target exists to find. */
    if (mode != 1 && rc == 0)
        abort();
    free(tok);
    return 0;
}
