/* Strict UTF-8 validation and character counting (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
#ifndef CN_PROTO_UTF8_H
#define CN_PROTO_UTF8_H

#include <stddef.h>

/* Returns the number of code points in s[0..n), or -1 when the bytes are not strictly
 * valid UTF-8. NUL bytes are valid code points here; callers that forbid them check
 * separately. Cannot fail otherwise. */
long cn_utf8_count(const char *s, size_t n);

#endif
