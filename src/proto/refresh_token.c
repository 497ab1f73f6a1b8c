/* Refresh tokens: random bytes out, SHA-256 in; see refresh_token.h. */
#include "proto/refresh_token.h"

#include <sodium.h>
#include <string.h>

void cn_refresh_token_hash(const char *token, size_t len, char hash_hex[CN_REFRESH_HASH_HEX + 1])
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, (const unsigned char *)token, len);
    sodium_bin2hex(hash_hex, CN_REFRESH_HASH_HEX + 1, digest, sizeof digest);
}

void cn_refresh_token_new(char token[CN_REFRESH_TOKEN_CHARS + 1],
                          char hash_hex[CN_REFRESH_HASH_HEX + 1])
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(token, CN_REFRESH_TOKEN_CHARS + 1, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
    cn_refresh_token_hash(token, CN_REFRESH_TOKEN_CHARS, hash_hex);
}

bool cn_refresh_token_valid(const char *token, size_t len)
{
    if (!token || len != CN_REFRESH_TOKEN_CHARS)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = token[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}
