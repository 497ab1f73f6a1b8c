/* STOMP header escaping (see stomp_escape.h). Values are short and rarely contain
 * anything to escape, so both directions first look for the special bytes with
 * memchr-like scans and copy whole runs. */
#include "proto/stomp_escape.h"

#include <string.h>

#include "proto/stomp_error.h"

static inline int needs_escape(unsigned char c)
{
    return c == '\r' || c == '\n' || c == ':' || c == '\\';
}

size_t cn_stomp_escaped_len(const char *s, size_t n)
{
    size_t extra = 0;
    for (size_t i = 0; i < n; i++)
        extra += needs_escape((unsigned char)s[i]);
    return n + extra;
}

size_t cn_stomp_escape(char *dst, const char *s, size_t n)
{
    char *d = dst;
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!needs_escape(c))
            continue;
        memcpy(d, s + run, i - run);
        d += i - run;
        *d++ = '\\';
        *d++ = c == '\r' ? 'r' : c == '\n' ? 'n' : c == ':' ? 'c' : '\\';
        run = i + 1;
    }
    memcpy(d, s + run, n - run);
    d += n - run;
    return (size_t)(d - dst);
}

long cn_stomp_unescape(char *dst, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c != '\\') {
            dst[o++] = c;
            continue;
        }
        if (++i == n)
            return CN_STOMP_E_BAD_ESCAPE;
        switch (s[i]) {
        case 'r':
            dst[o++] = '\r';
            break;
        case 'n':
            dst[o++] = '\n';
            break;
        case 'c':
            dst[o++] = ':';
            break;
        case '\\':
            dst[o++] = '\\';
            break;
        default:
            return CN_STOMP_E_BAD_ESCAPE;
        }
    }
    return (long)o;
}
