/* Tests src/proto/jwt.c: issue/verify round trip, and every forgery we know of built
 * by hand (alg none, other algorithms, another key, no or empty key, tampering),
 * each claim rule (signed with the right key, so the claim check is what refuses),
 * garbage and oversized input, and the Authorization header parser. */
#include "check.h"

#include "proto/jwt.h"

#include <sodium.h>
#include <stdbool.h>

static const uint8_t key[] = "0123456789abcdef0123456789abcdef"; /* 32 bytes + NUL */
#define KEYLEN 32
static const uint8_t other_key[] = "fedcba9876543210fedcba9876543210";
#define NOW 1700000000LL

static const struct cn_jwt_config cfg = {key, KEYLEN, "chat-node", "chat-node"};
static const struct cn_jwt_config other_cfg = {other_key, KEYLEN, "chat-node", "chat-node"};

/* cfg with another key length, issuer or audience. */
static struct cn_jwt_config with(const uint8_t *k, size_t klen, const char *iss, const char *aud)
{
    return (struct cn_jwt_config){k, klen, iss, aud};
}

/* base64url without padding of s[0..n) into out (NUL-terminated). */
static void b64url(char *out, size_t outsz, const void *s, size_t n)
{
    sodium_bin2base64(out, outsz, s, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* Builds header.payload.signature. `sign_key` NULL leaves the signature as `sig`
 * (may be ""); otherwise HMAC-SHA256 with sign_key. Returns a static buffer. */
static const char *forge(const char *header, const char *payload, const uint8_t *sign_key,
                         size_t sign_keylen, const char *sig)
{
    static char tok[16384];
    char h[4096], p[8192];
    b64url(h, sizeof h, header, strlen(header));
    b64url(p, sizeof p, payload, strlen(payload));
    int n = snprintf(tok, sizeof tok, "%s.%s.", h, p);
    if (sign_key) {
        uint8_t mac[crypto_auth_hmacsha256_BYTES];
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, sign_key, sign_keylen);
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)tok, (size_t)n - 1);
        crypto_auth_hmacsha256_final(&st, mac);
        b64url(tok + n, sizeof tok - (size_t)n, mac, sizeof mac);
    } else {
        snprintf(tok + n, sizeof tok - (size_t)n, "%s", sig);
    }
    return tok;
}

#define HS256  "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define ISSAUD "\"iss\":\"chat-node\",\"aud\":\"chat-node\","
#define GOOD_PAYLOAD                                                                               \
    "{" ISSAUD "\"sub\":\"42\",\"iat\":1700000000,\"exp\":1700000900,\"jti\":\"j-1\"}"

static int verify(const char *tok)
{
    struct cn_token_claims c;
    return cn_jwt_verify(&cfg, tok, NOW, &c);
}

/* A payload signed with the right key, exactly as given. */
static int verify_raw(const char *payload)
{
    return verify(forge(HS256, payload, key, KEYLEN, NULL));
}

/* A payload signed with the right key, with the right iss and aud put in front of
 * its first member: only the other claim rules can refuse it. */
static int verify_payload(const char *payload)
{
    char buf[8192];
    if (payload[0] == '{' && payload[1] == '"')
        snprintf(buf, sizeof buf, "{" ISSAUD "%s", payload + 1);
    else
        snprintf(buf, sizeof buf, "%s", payload);
    return verify_raw(buf);
}

static void test_round_trip(void)
{
    char *t = cn_jwt_issue(&cfg, 42, NOW, 900);
    CHECK(t != NULL);
    struct cn_token_claims c;
    CHECK_EQ(cn_jwt_verify(&cfg, t, NOW, &c), 0);
    CHECK_EQ(c.user_id, 42);
    CHECK_EQ(c.iat, NOW);
    CHECK_EQ(c.exp, NOW + 900);
    CHECK_EQ(strlen(c.jti), 36);
    /* Valid until the last second before exp, not at exp (no leeway). */
    CHECK_EQ(cn_jwt_verify(&cfg, t, NOW + 899, &c), 0);
    CHECK_EQ(cn_jwt_verify(&cfg, t, NOW + 900, &c), CN_JWT_EEXPIRED);
    CHECK_EQ(c.user_id, 0); /* claims zeroed on failure */

    /* Every token gets its own jti. */
    char *t2 = cn_jwt_issue(&cfg, 42, NOW, 900);
    struct cn_token_claims c2;
    CHECK_EQ(cn_jwt_verify(&cfg, t, NOW, &c), 0);
    CHECK_EQ(cn_jwt_verify(&cfg, t2, NOW, &c2), 0);
    CHECK(strcmp(c.jti, c2.jti) != 0);

    char *big = cn_jwt_issue(&cfg, INT64_MAX, NOW, 60);
    CHECK_EQ(cn_jwt_verify(&cfg, big, NOW, &c), 0);
    CHECK_EQ(c.user_id, INT64_MAX);
    free(t);
    free(t2);
    free(big);
}

static void test_issue_refuses_bad_arguments(void)
{
    struct cn_jwt_config bad = with(key, 0, "i", "a");
    CHECK(cn_jwt_issue(&bad, 42, NOW, 900) == NULL);
    bad = with(NULL, 32, "i", "a");
    CHECK(cn_jwt_issue(&bad, 42, NOW, 900) == NULL);
    bad = with(key, CN_JWT_MAX_KEY + 1, "i", "a");
    CHECK(cn_jwt_issue(&bad, 42, NOW, 900) == NULL);
    bad = with(key, KEYLEN, "", "a");
    CHECK(cn_jwt_issue(&bad, 42, NOW, 900) == NULL);
    bad = with(key, KEYLEN, "i", NULL);
    CHECK(cn_jwt_issue(&bad, 42, NOW, 900) == NULL);
    char longname[CN_JWT_MAX_NAME + 2];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    bad = with(key, KEYLEN, longname, "a");
    CHECK(cn_jwt_issue(&bad, 42, NOW, 900) == NULL);
    CHECK(cn_jwt_issue(NULL, 42, NOW, 900) == NULL);
    CHECK(cn_jwt_issue(&cfg, 0, NOW, 900) == NULL);
    CHECK(cn_jwt_issue(&cfg, -1, NOW, 900) == NULL);
    CHECK(cn_jwt_issue(&cfg, 42, NOW, 0) == NULL);
    CHECK(cn_jwt_issue(&cfg, 42, INT64_MAX, 1) == NULL);
}

static void test_other_key_refused(void)
{
    char *t = cn_jwt_issue(&other_cfg, 42, NOW, 900);
    CHECK_EQ(verify(t), CN_JWT_ESIG);
    free(t);
    CHECK_EQ(verify(forge(HS256, GOOD_PAYLOAD, other_key, KEYLEN, NULL)), CN_JWT_ESIG);
    /* The right key is accepted with the same hand-built token, so the forge is sound. */
    CHECK_EQ(verify(forge(HS256, GOOD_PAYLOAD, key, KEYLEN, NULL)), 0);
    /* A key that is a prefix of ours. */
    CHECK_EQ(verify(forge(HS256, GOOD_PAYLOAD, key, 16, NULL)), CN_JWT_ESIG);
}

static void test_alg_none_and_others_refused(void)
{
    const char *none[] = {"{\"alg\":\"none\"}", "{\"alg\":\"none\",\"typ\":\"JWT\"}",
                          "{\"alg\":\"None\"}", "{\"alg\":\"NONE\"}"};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        CHECK_EQ(verify(forge(none[i], GOOD_PAYLOAD, NULL, 0, "")), CN_JWT_EALG);
        /* Even with a valid HS256 MAC attached. */
        CHECK_EQ(verify(forge(none[i], GOOD_PAYLOAD, key, KEYLEN, NULL)), CN_JWT_EALG);
    }
    const char *others[] = {"{\"alg\":\"HS512\"}", "{\"alg\":\"HS384\"}",  "{\"alg\":\"RS256\"}",
                            "{\"alg\":\"hs256\"}", "{\"alg\":\"HS256 \"}", "{\"typ\":\"JWT\"}",
                            "{\"alg\":256}",       "{\"alg\":null}"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        CHECK_EQ(verify(forge(others[i], GOOD_PAYLOAD, key, KEYLEN, NULL)), CN_JWT_EALG);
}

static void test_empty_key_verifies_nothing(void)
{
    /* libjwt 1.10.2 accepts any token when given no key; we must refuse to try. */
    struct cn_token_claims c;
    const char *unsigned_tok = forge(HS256, GOOD_PAYLOAD, NULL, 0, "");
    struct cn_jwt_config bad = with(key, 0, "chat-node", "chat-node");
    CHECK_EQ(cn_jwt_verify(&bad, unsigned_tok, NOW, &c), CN_JWT_EKEY);
    bad = with(NULL, 0, "chat-node", "chat-node");
    CHECK_EQ(cn_jwt_verify(&bad, unsigned_tok, NOW, &c), CN_JWT_EKEY);
    bad = with((const uint8_t *)"", 0, "chat-node", "chat-node");
    CHECK_EQ(cn_jwt_verify(&bad, unsigned_tok, NOW, &c), CN_JWT_EKEY);
    CHECK_EQ(cn_jwt_verify(NULL, unsigned_tok, NOW, &c), CN_JWT_EKEY);

    /* HS256 header with an empty or truncated signature under the real key. */
    CHECK_EQ(verify(unsigned_tok), CN_JWT_ESIG);
    CHECK_EQ(verify(forge(HS256, GOOD_PAYLOAD, NULL, 0, "AAAA")), CN_JWT_ESIG);
    CHECK_EQ(
        verify(forge(HS256, GOOD_PAYLOAD, NULL, 0, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")),
        CN_JWT_ESIG);
    /* A token HMAC'd with the empty key. */
    CHECK_EQ(verify(forge(HS256, GOOD_PAYLOAD, (const uint8_t *)"", 0, NULL)), CN_JWT_ESIG);
    /* An empty issuer or audience would check nothing: refused like an empty key. */
    bad = with(key, KEYLEN, "", "chat-node");
    CHECK_EQ(cn_jwt_verify(&bad, forge(HS256, GOOD_PAYLOAD, key, KEYLEN, NULL), NOW, &c),
             CN_JWT_EKEY);
    bad = with(key, KEYLEN, "chat-node", "");
    CHECK_EQ(cn_jwt_verify(&bad, forge(HS256, GOOD_PAYLOAD, key, KEYLEN, NULL), NOW, &c),
             CN_JWT_EKEY);
}

static void test_tampering_refused(void)
{
    char *t = cn_jwt_issue(&cfg, 42, NOW, 900);
    size_t n = strlen(t);
    int refused = 0, total = 0;
    /* Flip every character of the header and payload to another alphabet letter. */
    for (size_t i = 0; i < n; i++) {
        if (t[i] == '.')
            continue;
        char save = t[i];
        t[i] = save == 'A' ? 'B' : 'A';
        total++;
        refused += verify(t) != 0;
        t[i] = save;
    }
    /* The signature's last character carries 2 unused bits: 'A'/'B' differ only in
     * those for some endings, so allow that single position to decode the same. */
    CHECK_INT(refused, >=, total - 1);
    CHECK_EQ(verify(t), 0);
    free(t);
}

static void test_claims(void)
{
    CHECK_EQ(verify_raw(GOOD_PAYLOAD), 0);
    /* sub */
    CHECK_EQ(verify_payload("{\"iat\":1700000000,\"exp\":1700000900,\"jti\":\"j\"}"), CN_JWT_ESUB);
    CHECK_EQ(
        verify_payload("{\"sub\":\"abc\",\"iat\":1700000000,\"exp\":1700000900,\"jti\":\"j\"}"),
        CN_JWT_ESUB);
    CHECK_EQ(verify_payload("{\"sub\":42,\"iat\":1700000000,\"exp\":1700000900,\"jti\":\"j\"}"),
             CN_JWT_ESUB);
    CHECK_EQ(verify_payload("{\"sub\":\"0\",\"iat\":1700000000,\"exp\":1700000900,\"jti\":\"j\"}"),
             CN_JWT_ESUB);
    CHECK_EQ(verify_payload("{\"sub\":\"-5\",\"iat\":1700000000,\"exp\":1700000900,\"jti\":\"j\"}"),
             CN_JWT_ESUB);
    CHECK_EQ(
        verify_payload("{\"sub\":\"042\",\"iat\":1700000000,\"exp\":1700000900,\"jti\":\"j\"}"),
        CN_JWT_ESUB);
    CHECK_EQ(
        verify_payload("{\"sub\":\"4 2\",\"iat\":1700000000,\"exp\":1700000900,\"jti\":\"j\"}"),
        CN_JWT_ESUB);
    CHECK_EQ(verify_payload("{\"sub\":\"\",\"iat\":1700000000,\"exp\":1700000900,\"jti\":\"j\"}"),
             CN_JWT_ESUB);
    CHECK_EQ(verify_payload(
                 "{\"sub\":\"9223372036854775808\",\"iat\":1700000000,\"exp\":1700000900,\"jti\":"
                 "\"j\"}"),
             CN_JWT_ESUB);
    CHECK_EQ(verify_payload("{\"sub\":null,\"iat\":1700000000,\"exp\":1700000900,\"jti\":\"j\"}"),
             CN_JWT_ESUB);
    /* exp */
    CHECK_EQ(verify_payload("{\"sub\":\"42\",\"iat\":1700000000,\"jti\":\"j\"}"), CN_JWT_ECLAIMS);
    CHECK_EQ(verify_payload("{\"sub\":\"42\",\"iat\":1700000000,\"exp\":\"1700000900\",\"jti\":"
                            "\"j\"}"),
             CN_JWT_ECLAIMS);
    CHECK_EQ(verify_payload("{\"sub\":\"42\",\"iat\":1700000000,\"exp\":1.7e9,\"jti\":\"j\"}"),
             CN_JWT_ECLAIMS);
    CHECK_EQ(verify_payload("{\"sub\":\"42\",\"iat\":1600000000,\"exp\":1699999999,\"jti\":\"j\"}"),
             CN_JWT_EEXPIRED);
    CHECK_EQ(verify_payload("{\"sub\":\"42\",\"iat\":1600000000,\"exp\":1700000000,\"jti\":\"j\"}"),
             CN_JWT_EEXPIRED);
    CHECK_EQ(verify_payload("{\"sub\":\"42\",\"iat\":1700000000,\"exp\":1700000000,\"jti\":\"j\"}"),
             CN_JWT_ECLAIMS); /* exp must follow iat */
    /* iat */
    CHECK_EQ(verify_payload("{\"sub\":\"42\",\"exp\":1700000900,\"jti\":\"j\"}"), CN_JWT_EIAT);
    CHECK_EQ(verify_payload("{\"sub\":\"42\",\"iat\":-1,\"exp\":1700000900,\"jti\":\"j\"}"),
             CN_JWT_EIAT);
    CHECK_EQ(verify_payload("{\"sub\":\"42\",\"iat\":1700000061,\"exp\":1700000900,\"jti\":\"j\"}"),
             CN_JWT_EIAT);
    CHECK_EQ(verify_payload("{\"sub\":\"42\",\"iat\":1700000060,\"exp\":1700000900,\"jti\":\"j\"}"),
             0); /* within the skew */
    /* jti */
    CHECK_EQ(verify_payload("{\"sub\":\"42\",\"iat\":1700000000,\"exp\":1700000900}"),
             CN_JWT_ECLAIMS);
    CHECK_EQ(verify_payload("{\"sub\":\"42\",\"iat\":1700000000,\"exp\":1700000900,\"jti\":\"\"}"),
             CN_JWT_ECLAIMS);
    CHECK_EQ(verify_payload("{\"sub\":\"42\",\"iat\":1700000000,\"exp\":1700000900,\"jti\":"
                            "\"0123456789012345678901234567890123456\"}"),
             CN_JWT_ECLAIMS); /* 37 characters */
    /* nbf, honoured when present */
    CHECK_EQ(verify_payload("{\"sub\":\"42\",\"iat\":1700000000,\"exp\":1700000900,\"jti\":\"j\","
                            "\"nbf\":1700000500}"),
             CN_JWT_ECLAIMS);
    CHECK_EQ(verify_payload("{\"sub\":\"42\",\"iat\":1700000000,\"exp\":1700000900,\"jti\":\"j\","
                            "\"nbf\":1700000000}"),
             0);
}

static void test_issuer_and_audience(void)
{
    CHECK_EQ(verify_raw(GOOD_PAYLOAD), 0);
    /* Missing, wrong, of another type, or with a different case: refused. */
    CHECK_EQ(verify_raw("{\"aud\":\"chat-node\",\"sub\":\"42\",\"iat\":1700000000,\"exp\":"
                        "1700000900,\"jti\":\"j\"}"),
             CN_JWT_EISS);
    CHECK_EQ(verify_raw("{\"iss\":\"chat-node\",\"sub\":\"42\",\"iat\":1700000000,\"exp\":"
                        "1700000900,\"jti\":\"j\"}"),
             CN_JWT_EAUD);
    CHECK_EQ(verify_raw("{\"iss\":\"other\",\"aud\":\"chat-node\",\"sub\":\"42\",\"iat\":"
                        "1700000000,\"exp\":1700000900,\"jti\":\"j\"}"),
             CN_JWT_EISS);
    CHECK_EQ(verify_raw("{\"iss\":\"Chat-Node\",\"aud\":\"chat-node\",\"sub\":\"42\",\"iat\":"
                        "1700000000,\"exp\":1700000900,\"jti\":\"j\"}"),
             CN_JWT_EISS);
    CHECK_EQ(verify_raw("{\"iss\":\"chat-node\",\"aud\":\"billing\",\"sub\":\"42\",\"iat\":"
                        "1700000000,\"exp\":1700000900,\"jti\":\"j\"}"),
             CN_JWT_EAUD);
    CHECK_EQ(verify_raw("{\"iss\":\"chat-node\",\"aud\":[\"chat-node\"],\"sub\":\"42\","
                        "\"iat\":1700000000,\"exp\":1700000900,\"jti\":\"j\"}"),
             CN_JWT_EAUD);
    CHECK_EQ(verify_raw("{\"iss\":7,\"aud\":\"chat-node\",\"sub\":\"42\",\"iat\":"
                        "1700000000,\"exp\":1700000900,\"jti\":\"j\"}"),
             CN_JWT_EISS);
    /* A prefix of the configured name is not the name. */
    CHECK_EQ(verify_raw("{\"iss\":\"chat-node\",\"aud\":\"chat\",\"sub\":\"42\",\"iat\":"
                        "1700000000,\"exp\":1700000900,\"jti\":\"j\"}"),
             CN_JWT_EAUD);
    /* A token we issued under another issuer or audience (same key) is refused. */
    struct cn_jwt_config billing = with(key, KEYLEN, "chat-node", "billing");
    struct cn_jwt_config sso = with(key, KEYLEN, "sso", "chat-node");
    char *a = cn_jwt_issue(&billing, 42, NOW, 900);
    char *b = cn_jwt_issue(&sso, 42, NOW, 900);
    struct cn_token_claims c;
    CHECK_EQ(cn_jwt_verify(&cfg, a, NOW, &c), CN_JWT_EAUD);
    CHECK_EQ(cn_jwt_verify(&cfg, b, NOW, &c), CN_JWT_EISS);
    CHECK_EQ(c.user_id, 0);
    CHECK_EQ(cn_jwt_verify(&billing, a, NOW, &c), 0);
    free(a);
    free(b);
}

static void test_structure_refused(void)
{
    /* Payload must be one JSON object without duplicate keys. */
    CHECK_EQ(verify_payload("[1,2]"), CN_JWT_EMALFORMED);
    CHECK_EQ(verify_payload("\"x\""), CN_JWT_EMALFORMED);
    CHECK_EQ(verify_payload("{\"sub\":\"42\""), CN_JWT_EMALFORMED);
    CHECK_EQ(verify_payload("{\"sub\":\"42\",\"sub\":\"43\",\"iat\":1700000000,\"exp\":1700000900,"
                            "\"jti\":\"j\"}"),
             CN_JWT_EMALFORMED);
    /* Header shape. */
    CHECK_EQ(verify(forge("{\"alg\":\"HS256\",\"typ\":\"JWS\"}", GOOD_PAYLOAD, key, KEYLEN, NULL)),
             CN_JWT_EMALFORMED);
    CHECK_EQ(verify(forge("{\"alg\":\"HS256\",\"typ\":\"jwt\"}", GOOD_PAYLOAD, key, KEYLEN, NULL)),
             0);
    CHECK_EQ(
        verify(forge("{\"alg\":\"HS256\",\"crit\":[\"b64\"]}", GOOD_PAYLOAD, key, KEYLEN, NULL)),
        CN_JWT_EMALFORMED);
    CHECK_EQ(verify(forge("[\"HS256\"]", GOOD_PAYLOAD, key, KEYLEN, NULL)), CN_JWT_EMALFORMED);
    CHECK_EQ(verify(forge("{\"alg\":\"HS256\",\"alg\":\"none\"}", GOOD_PAYLOAD, key, KEYLEN, NULL)),
             CN_JWT_EMALFORMED);
}

static void test_garbage(void)
{
    const char *bad[] = {"",      "abc",     "a.b",     "a.b.c.d", "..",           "a..c", ".b.c",
                         "a.b.c", "a+b.c.d", "a b.c.d", "a.b.c=",  "eyJ.eyJ.\x80", "A.A.A"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = verify(bad[i]);
        if (rc != CN_JWT_EMALFORMED)
            fprintf(stderr, "input %zu: %d\n", i, rc);
        CHECK_EQ(rc, CN_JWT_EMALFORMED);
    }
    struct cn_token_claims c;
    CHECK_EQ(cn_jwt_verify(&cfg, NULL, NOW, &c), CN_JWT_EMALFORMED);
}

static void test_length_limit(void)
{
    /* A 10 KiB token of the right shape is refused before parsing. */
    char *big = malloc(10 * 1024 + 1);
    memset(big, 'A', 10 * 1024);
    big[100] = '.';
    big[200] = '.';
    big[10 * 1024] = 0;
    CHECK_EQ(verify(big), CN_JWT_ETOOLONG);
    /* A payload that makes the token just over the limit, signed properly. */
    char payload[4096];
    snprintf(payload, sizeof payload,
             "{" ISSAUD "\"sub\":\"42\",\"iat\":1700000000,\"exp\":1700000900,\"jti\":\"j\","
             "\"pad\":\"%*s\"}",
             3000, "");
    const char *tok = forge(HS256, payload, key, KEYLEN, NULL);
    CHECK_INT(strlen(tok), >, CN_JWT_MAX_TOKEN);
    CHECK_EQ(verify(tok), CN_JWT_ETOOLONG);
    /* Shrink the padding until the token fits exactly: accepted. */
    int pad = 3000 - (int)(strlen(tok) - CN_JWT_MAX_TOKEN) * 3 / 4 - 4;
    for (;; pad++) {
        snprintf(payload, sizeof payload,
                 "{" ISSAUD "\"sub\":\"42\",\"iat\":1700000000,\"exp\":1700000900,\"jti\":\"j\","
                 "\"pad\":"
                 "\"%*s\"}",
                 pad, "");
        tok = forge(HS256, payload, key, KEYLEN, NULL);
        if (strlen(tok) > CN_JWT_MAX_TOKEN)
            break;
        if (strlen(tok) >= CN_JWT_MAX_TOKEN - 3)
            CHECK_EQ(verify(tok), 0);
    }
    CHECK_EQ(verify(tok), CN_JWT_ETOOLONG);
    free(big);
}

static void test_authorization_header(void)
{
    const char *t;
    size_t n;
    CHECK_EQ(cn_jwt_from_authorization("Bearer abc.def.ghi", &t, &n), 0);
    CHECK_MEM(t, n, "abc.def.ghi", 11);
    CHECK_EQ(cn_jwt_from_authorization("bearer x", &t, &n), 0);
    CHECK_MEM(t, n, "x", 1);
    CHECK_EQ(cn_jwt_from_authorization("BEARER x", &t, &n), 0);
    const char *bad[] = {"Bearer",         "Bearer ",   "Bearer  x",   "Bearerx",
                         "Basic dXNlcg==", "Bearer\tx", "Bearer x y",  "Bearer x ",
                         " Bearer x",      "",          "Bearer x\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ(cn_jwt_from_authorization(bad[i], &t, &n), CN_JWT_ESCHEME);
    CHECK_EQ(cn_jwt_from_authorization(NULL, &t, &n), CN_JWT_ESCHEME);
}

static void test_strerror(void)
{
    CHECK_STR(cn_jwt_strerror(CN_JWT_EEXPIRED), "token expired");
    CHECK_STR(cn_jwt_strerror(CN_JWT_ESIG), "bad signature");
    CHECK_STR(cn_jwt_strerror(CN_JWT_EALG), "unsupported algorithm");
    CHECK_STR(cn_jwt_strerror(CN_JWT_ESUB), "missing subject");
    CHECK_STR(cn_jwt_strerror(CN_JWT_EMALFORMED), "malformed token");
    CHECK_STR(cn_jwt_strerror(CN_JWT_EISS), "wrong issuer");
    CHECK_STR(cn_jwt_strerror(CN_JWT_EAUD), "wrong audience");
    CHECK_STR(cn_jwt_strerror(12345), "invalid token");
    /* Every code has its own text. */
    for (int a = CN_JWT_ERROR_MIN; a <= CN_JWT_EMALFORMED; a++)
        for (int b = a + 1; b <= CN_JWT_EMALFORMED; b++)
            CHECK(strcmp(cn_jwt_strerror(a), cn_jwt_strerror(b)) != 0);
}

CN_TEST_MAIN(test_round_trip, test_issue_refuses_bad_arguments, test_other_key_refused,
             test_alg_none_and_others_refused, test_empty_key_verifies_nothing,
             test_tampering_refused, test_claims, test_issuer_and_audience, test_structure_refused,
             test_garbage, test_length_limit, test_authorization_header, test_strerror)
