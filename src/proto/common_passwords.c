/* A binary search of the embedded common-password list; see common_passwords.h. */
#include "proto/common_passwords.h"

#include <string.h>

/* Generated (gen_common_passwords.cmake): lower-cased, unique, sorted byte-wise. */
extern const char *const cn__common_passwords[];
extern const size_t cn__common_passwords_count;
extern const size_t cn__common_passwords_max_len;

bool cn_password_is_common(const char *pw, size_t len)
{
    /* Longer than every entry: cannot be one (and the copy below stays bounded). */
    if (len == 0 || len > cn__common_passwords_max_len || len > 255)
        return false;
    char low[256];
    for (size_t i = 0; i < len; i++) {
        char c = pw[i];
        low[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    low[len] = '\0';
    if (memchr(low, '\0', len))
        return false; /* a NUL inside: no entry has one */
    size_t lo = 0, hi = cn__common_passwords_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(low, cn__common_passwords[mid]);
        if (c == 0)
            return true;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return false;
}

size_t cn_common_passwords_count(void)
{
    return cn__common_passwords_count;
}
