/* Names people show each other: nicknames and group room names.
 *
 * A name is what it looks like, so that nobody can pose as someone else with a name
 * that renders the same or hides what it says:
 *   - normalised to Unicode NFC ("é" typed as e + U+0301 is stored as U+00E9);
 *   - trimmed of white space at both ends (Unicode White_Space, which includes tabs,
 *     newlines, NBSP and the ideographic space);
 *   - refused when what is left holds a control character (category Cc) or an
 *     invisible formatting character: category Cf (zero-width space and joiners,
 *     the bidirectional embeddings, overrides and isolates such as U+202E, the soft
 *     hyphen, the BOM) and the line and paragraph separators (Zl, Zp);
 *   - refused when blank: only white space and default-ignorable characters (such as
 *     the Hangul filler U+3164, which renders as nothing).
 * Length limits differ per use and are the caller's (count the code points of the
 * clean name with cn_utf8_count).
 *
 * cn_display_name_key gives the key under which two names are the same name: the NFC
 * case fold (Unicode full case folding, locale-independent), so "Zoë", "ZOË" and
 * "zoe\u0308" share one key. Nicknames are unique by this key.
 *
 * Pure: no I/O, no globals, no threads (libunistring's tables are constant).
 * Memory: both functions return malloc'd strings the caller frees with free(); out of
 * memory aborts. */
#ifndef CN_PROTO_DISPLAY_NAME_H
#define CN_PROTO_DISPLAY_NAME_H

#include <stddef.h>

/* Cleans `in[0..len)` (borrowed; need not be NUL-terminated) as described above.
 * Returns 0 and sets *out to the clean name (NUL-terminated; it holds no NUL), or -1
 * with *out NULL and *why a static, client-safe sentence for "<field>: <why>"
 * ("must not be blank", "must not contain control characters", ...). */
int cn_display_name_clean(const char *in, size_t len, char **out, const char **why);

/* The uniqueness key of a clean name (cn_display_name_clean's output): its NFC case
 * fold, NUL-terminated. Cannot fail on a clean name; returns NULL for bytes that are
 * not valid UTF-8. */
char *cn_display_name_key(const char *name, size_t len);

#endif
