/* STOMP 1.2 header value escaping: CR, LF, ':' and '\' as \r \n \c \\.
 *
 * CONNECT, STOMP and CONNECTED frames are never escaped (spec, "Value Encoding");
 * the parser and writer apply these functions to every other frame. */
#ifndef CN_PROTO_STOMP_ESCAPE_H
#define CN_PROTO_STOMP_ESCAPE_H

#include <stddef.h>

/* The length of `s` (n bytes) once escaped. Cannot fail. */
size_t cn_stomp_escaped_len(const char *s, size_t n);

/* Writes the escaped form of `s` (n bytes) to `dst`, which must hold
 * cn_stomp_escaped_len(s, n) bytes (no NUL is added). Returns the bytes written.
 * `dst` and `s` must not overlap. Cannot fail. */
size_t cn_stomp_escape(char *dst, const char *s, size_t n);

/* Decodes `s` (n bytes) into `dst`, which may be `s` itself (decoding never grows).
 * Returns the decoded length, or CN_STOMP_E_BAD_ESCAPE for an undefined escape or a
 * trailing lone backslash; `dst` is then partly written. No NUL is added. */
long cn_stomp_unescape(char *dst, const char *s, size_t n);

#endif
