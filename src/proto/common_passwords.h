/* The list of common passwords sign-up refuses: John the Ripper's password.lst (Debian
 * package john-data, public domain, some 3,400 entries), embedded at build time by
 * src/proto/gen_common_passwords.cmake, so the node reads no file at run time and every
 * node refuses the same passwords.
 *
 * Pure: constant tables, no I/O, no globals that change; any thread. */
#ifndef CN_PROTO_COMMON_PASSWORDS_H
#define CN_PROTO_COMMON_PASSWORDS_H

#include <stdbool.h>
#include <stddef.h>

/* Whether pw[0..len) (borrowed) is on the list, comparing ASCII letters
 * case-insensitively ("Basketball" is "basketball"). Cannot fail. */
bool cn_password_is_common(const char *pw, size_t len);

/* The number of distinct entries embedded (for tests and the docs). */
size_t cn_common_passwords_count(void);

#endif
