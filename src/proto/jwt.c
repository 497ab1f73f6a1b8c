/* Access tokens: issue and verify HS256 JWTs (see jwt.h for the rules and for why
 * some checks that libjwt could do are done here).
 *
 * Verification runs in an order that keeps untrusted bytes away from libjwt until
 * they have the shape of a token we could have issued: length, three base64url
 * segments, a header that asks for exactly HS256, a payload that is a JSON object,
 * a signature of the right length. Only then does libjwt check the signature, and
 * only a signed payload has its claims interpreted. */
#include "proto/jwt.h"

#include "base/xmalloc.h"

#include <errno.h>
#include <jansson.h>
#include <jwt.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <stdio.h>
#include <strings.h>
#include <uuid/uuid.h>

/* libjwt's integer grants are `long`; our times and ids are int64_t. */
_Static_assert(sizeof(long) >= sizeof(int64_t), "libjwt grants need a 64-bit long");

/* base64url of a 32-byte HMAC-SHA256, without padding. */
#define HS256_SIG_CHARS 43

const char *cn_jwt_strerror(int err)
{
    switch (err) {
    case CN_JWT_EMALFORMED:
        return "malformed token";
    case CN_JWT_ETOOLONG:
        return "token too long";
    case CN_JWT_EALG:
        return "unsupported algorithm";
    case CN_JWT_ESIG:
        return "bad signature";
    case CN_JWT_EEXPIRED:
        return "token expired";
    case CN_JWT_ESUB:
        return "missing subject";
    case CN_JWT_EIAT:
        return "token issued in the future";
    case CN_JWT_ECLAIMS:
        return "invalid claims";
    case CN_JWT_EKEY:
        return "token key not configured";
    case CN_JWT_ESCHEME:
        return "authorization must be: Bearer <token>";
    case CN_JWT_EISS:
        return "wrong issuer";
    case CN_JWT_EAUD:
        return "wrong audience";
    default:
        return "invalid token";
    }
}

static bool name_usable(const char *s)
{
    return s != NULL && s[0] != '\0' && strnlen(s, CN_JWT_MAX_NAME + 1) <= CN_JWT_MAX_NAME;
}

static bool config_usable(const struct cn_jwt_config *cfg)
{
    /* An empty key would make libjwt sign with alg none and verify nothing; an empty
     * issuer or audience would check nothing. */
    return cfg != NULL && cfg->key != NULL && cfg->key_len > 0 && cfg->key_len <= CN_JWT_MAX_KEY &&
           name_usable(cfg->issuer) && name_usable(cfg->audience);
}

char *cn_jwt_issue(const struct cn_jwt_config *cfg, int64_t user_id, int64_t now_s, int64_t ttl_s)
{
    if (!config_usable(cfg) || user_id <= 0 || ttl_s <= 0 || now_s < 0 || now_s > INT64_MAX - ttl_s)
        return NULL;
    const uint8_t *key = cfg->key;
    size_t keylen = cfg->key_len;

    char sub[24], jti[37];
    snprintf(sub, sizeof sub, "%lld", (long long)user_id);
    uuid_t u;
    uuid_generate_random(u);
    uuid_unparse_lower(u, jti);

    jwt_t *j = NULL;
    /* libjwt's calls fail only for lack of memory (or bad arguments, which ours are
     * not), and running out of memory aborts everywhere in this code base. */
    if (jwt_new(&j) != 0)
        cn_oom(sizeof(void *));
    if (jwt_add_grant(j, "iss", cfg->issuer) != 0 || jwt_add_grant(j, "aud", cfg->audience) != 0 ||
        jwt_add_grant(j, "sub", sub) != 0 || jwt_add_grant_int(j, "iat", (long)now_s) != 0 ||
        jwt_add_grant_int(j, "exp", (long)(now_s + ttl_s)) != 0 ||
        jwt_add_grant(j, "jti", jti) != 0 || jwt_set_alg(j, JWT_ALG_HS256, key, (int)keylen) != 0)
        cn_oom(keylen);
    char *tok = jwt_encode_str(j);
    jwt_free(j);
    if (!tok)
        cn_oom(CN_JWT_MAX_TOKEN);
    return tok;
}

static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Decodes unpadded base64url `in[0..n)` into `out` (room for n * 3 / 4 bytes).
 * Returns the decoded length, or -1 for a character outside the alphabet or a
 * length no encoder produces (n % 4 == 1). */
static long b64url_decode(const char *in, size_t n, uint8_t *out)
{
    if (n % 4 == 1)
        return -1;
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_value((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return (long)o;
}

/* Parses one base64url segment holding a JSON object. Returns the object (caller
 * decrefs) or NULL. Duplicate keys are refused so that nobody can read a claim
 * differently from us. */
static json_t *segment_object(const char *seg, size_t n)
{
    uint8_t buf[CN_JWT_MAX_TOKEN];
    long len = b64url_decode(seg, n, buf);
    if (len <= 0)
        return NULL;
    json_t *obj = json_loadb((const char *)buf, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
    if (obj && !json_is_object(obj)) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

static int check_header(json_t *hdr)
{
    json_t *alg = json_object_get(hdr, "alg");
    if (!json_is_string(alg) || strcmp(json_string_value(alg), "HS256") != 0)
        return CN_JWT_EALG;
    json_t *typ = json_object_get(hdr, "typ");
    if (typ && (!json_is_string(typ) || strcasecmp(json_string_value(typ), "JWT") != 0))
        return CN_JWT_EMALFORMED;
    /* "crit" names extensions the verifier must understand (RFC 7515 4.1.11): we
     * understand none. */
    if (json_object_get(hdr, "crit"))
        return CN_JWT_EMALFORMED;
    return 0;
}

/* Parses a positive decimal int64 written without sign or leading zeros. */
static bool parse_user_id(const char *s, int64_t *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 19 || s[0] == '0')
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        int d = s[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* iss and aud: strings equal to the configured ones. An array `aud` (which RFC 7519
 * allows) is refused: we never issue one. */
static int check_audience(json_t *p, const struct cn_jwt_config *cfg)
{
    json_t *iss = json_object_get(p, "iss");
    if (!json_is_string(iss) || strcmp(json_string_value(iss), cfg->issuer) != 0 ||
        json_string_length(iss) != strlen(cfg->issuer))
        return CN_JWT_EISS;
    json_t *aud = json_object_get(p, "aud");
    if (!json_is_string(aud) || strcmp(json_string_value(aud), cfg->audience) != 0 ||
        json_string_length(aud) != strlen(cfg->audience))
        return CN_JWT_EAUD;
    return 0;
}

static int check_claims(json_t *p, int64_t now_s, struct cn_token_claims *c)
{
    json_t *exp = json_object_get(p, "exp");
    if (!json_is_integer(exp))
        return CN_JWT_ECLAIMS;
    json_t *iat = json_object_get(p, "iat");
    if (!json_is_integer(iat) || json_integer_value(iat) < 0)
        return CN_JWT_EIAT;
    json_t *sub = json_object_get(p, "sub");
    if (!json_is_string(sub) || !parse_user_id(json_string_value(sub), &c->user_id))
        return CN_JWT_ESUB;
    json_t *jti = json_object_get(p, "jti");
    if (!json_is_string(jti) || json_string_length(jti) == 0 ||
        json_string_length(jti) >= sizeof c->jti)
        return CN_JWT_ECLAIMS;
    /* We never issue nbf; honour one if a token has it rather than ignore it. */
    json_t *nbf = json_object_get(p, "nbf");
    if (nbf && (!json_is_integer(nbf) || json_integer_value(nbf) > now_s + CN_JWT_IAT_SKEW_S))
        return CN_JWT_ECLAIMS;

    c->iat = json_integer_value(iat);
    c->exp = json_integer_value(exp);
    memcpy(c->jti, json_string_value(jti), json_string_length(jti) + 1);
    if (c->exp <= c->iat)
        return CN_JWT_ECLAIMS;
    if (c->iat > now_s + CN_JWT_IAT_SKEW_S)
        return CN_JWT_EIAT;
    if (c->exp <= now_s)
        return CN_JWT_EEXPIRED;
    return 0;
}

/* Splits `tok[0..n)` at its two dots and checks the alphabet. Returns 0 with the
 * segment starts and lengths, or CN_JWT_EMALFORMED. */
static int split(const char *tok, size_t n, const char *seg[3], size_t len[3])
{
    unsigned k = 0;
    seg[0] = tok;
    for (size_t i = 0; i < n; i++) {
        if (tok[i] == '.') {
            if (k == 2)
                return CN_JWT_EMALFORMED;
            len[k] = (size_t)(tok + i - seg[k]);
            seg[++k] = tok + i + 1;
        } else if (b64url_value((unsigned char)tok[i]) < 0) {
            return CN_JWT_EMALFORMED;
        }
    }
    if (k != 2)
        return CN_JWT_EMALFORMED;
    len[2] = (size_t)(tok + n - seg[2]);
    return len[0] && len[1] ? 0 : CN_JWT_EMALFORMED;
}

int cn_jwt_verify(const struct cn_jwt_config *cfg, const char *token, int64_t now_s,
                  struct cn_token_claims *claims)
{
    memset(claims, 0, sizeof *claims);
    if (!config_usable(cfg))
        return CN_JWT_EKEY;
    const uint8_t *key = cfg->key;
    size_t keylen = cfg->key_len;
    if (!token)
        return CN_JWT_EMALFORMED;
    size_t n = strnlen(token, CN_JWT_MAX_TOKEN + 1);
    if (n > CN_JWT_MAX_TOKEN)
        return CN_JWT_ETOOLONG;

    const char *seg[3];
    size_t len[3];
    int rc = split(token, n, seg, len);
    if (rc)
        return rc;

    json_t *hdr = segment_object(seg[0], len[0]);
    if (!hdr)
        return CN_JWT_EMALFORMED;
    rc = check_header(hdr);
    json_decref(hdr);
    if (rc)
        return rc;

    json_t *payload = segment_object(seg[1], len[1]);
    if (!payload)
        return CN_JWT_EMALFORMED;

    if (len[2] != HS256_SIG_CHARS) {
        rc = CN_JWT_ESIG;
        goto out;
    }
    /* token[n] is the NUL libjwt needs: strnlen stopped before the limit. */
    jwt_t *j = NULL;
    int jrc = jwt_decode(&j, token, key, (int)keylen);
    if (jrc == ENOMEM)
        cn_oom(n);
    if (jrc != 0 || !j) {
        /* Header and payload parsed above, so what libjwt refused is the MAC. */
        rc = CN_JWT_ESIG;
        goto out;
    }
    /* Belt and braces: libjwt reports alg none when it checked no signature. */
    bool hs256 = jwt_get_alg(j) == JWT_ALG_HS256;
    jwt_free(j);
    if (!hs256) {
        rc = CN_JWT_EALG;
        goto out;
    }
    rc = check_audience(payload, cfg);
    if (rc == 0)
        rc = check_claims(payload, now_s, claims);
out:
    json_decref(payload);
    if (rc)
        memset(claims, 0, sizeof *claims);
    return rc;
}

int cn_jwt_from_authorization(const char *header, const char **token, size_t *len)
{
    static const char scheme[] = "Bearer ";
    const size_t sl = sizeof scheme - 1;
    if (!header || strncasecmp(header, scheme, sl) != 0)
        return CN_JWT_ESCHEME;
    const char *t = header + sl;
    size_t n = strlen(t);
    if (n == 0)
        return CN_JWT_ESCHEME;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c <= 0x20 || c == 0x7f)
            return CN_JWT_ESCHEME;
    }
    *token = t;
    *len = n;
    return 0;
}
