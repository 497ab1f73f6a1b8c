/* Strict UTF-8 decoding (see utf8.h). ASCII runs are the common case in chat text and
 * take the first branch; the multi-byte branches follow RFC 3629's table 4 exactly. */
#include "proto/utf8.h"

long cn_utf8_count(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    long count = 0;
    while (p < end) {
        unsigned c = *p;
        if (c < 0x80) {
            p++;
        } else if (c >= 0xC2 && c <= 0xDF) {
            if (end - p < 2 || (p[1] & 0xC0) != 0x80)
                return -1;
            p += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            if (end - p < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
                return -1;
            if (c == 0xE0 && p[1] < 0xA0) /* overlong */
                return -1;
            if (c == 0xED && p[1] > 0x9F) /* UTF-16 surrogates */
                return -1;
            p += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            if (end - p < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 ||
                (p[3] & 0xC0) != 0x80)
                return -1;
            if (c == 0xF0 && p[1] < 0x90) /* overlong */
                return -1;
            if (c == 0xF4 && p[1] > 0x8F) /* above U+10FFFF */
                return -1;
            p += 4;
        } else {
            return -1;
        }
        count++;
    }
    return count;
}
