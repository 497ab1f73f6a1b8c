/* Refresh tokens: opaque random strings that a client trades for a new access token
 * (POST /api/auth/refresh), once each.
 *
 * A token is 32 random bytes (libsodium's randombytes_buf) in unpadded base64url: 43
 * characters of [A-Za-z0-9_-]. The server stores only its SHA-256 (hex), so a copy
 * of the database holds nothing a client could present. A plain hash is enough here,
 * unlike for passwords: 256 random bits cannot be guessed from their digest.
 *
 * Pure apart from the random bytes: no I/O, no globals; any thread. */
#ifndef CN_PROTO_REFRESH_TOKEN_H
#define CN_PROTO_REFRESH_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#define CN_REFRESH_TOKEN_CHARS 43 /* base64url of 32 bytes, no padding */
#define CN_REFRESH_HASH_HEX    64 /* SHA-256 in lower-case hex */

/* A fresh token into `token` (NUL-terminated) and its digest into `hash_hex`
 * (NUL-terminated lower-case hex). Cannot fail. */
void cn_refresh_token_new(char token[CN_REFRESH_TOKEN_CHARS + 1],
                          char hash_hex[CN_REFRESH_HASH_HEX + 1]);

/* Whether token[0..len) (borrowed) has the shape of a token we issue. */
bool cn_refresh_token_valid(const char *token, size_t len);

/* The digest of token[0..len) (borrowed) into hash_hex (NUL-terminated). Cannot fail. */
void cn_refresh_token_hash(const char *token, size_t len, char hash_hex[CN_REFRESH_HASH_HEX + 1]);

#endif
