/* Display names: NFC, trimmed, no control or invisible formatting characters, not
 * blank; and their case-folded uniqueness key. See display_name.h.
 *
 * libunistring does the Unicode work (normalisation, categories, properties, case
 * folding) from the tables of the Unicode version it was built with; its functions
 * return malloc'd buffers and fail only for lack of memory (ENOMEM) or invalid input
 * (EILSEQ), which we have ruled out before calling them. */
#include "proto/display_name.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <unictype.h>
#include <uninorm.h>
#include <unistr.h>

#include "base/xmalloc.h"

/* Decodes the code point at s[i..n) (valid UTF-8 by then) into *uc; returns its bytes. */
static size_t at(const uint8_t *s, size_t n, size_t i, ucs4_t *uc)
{
    int k = u8_mbtouc(uc, s + i, n - i);
    return k > 0 ? (size_t)k : 1;
}

static bool is_space(ucs4_t uc)
{
    return uc_is_property_white_space(uc);
}

/* Invisible formatting: Cf (zero-width characters, bidi embeddings, overrides and
 * isolates, soft hyphen, BOM, invisible operators), Zl (U+2028) and Zp (U+2029). */
static bool is_format(ucs4_t uc)
{
    return uc_is_general_category(uc, UC_CATEGORY_Cf) ||
           uc_is_general_category(uc, UC_CATEGORY_Zl) || uc_is_general_category(uc, UC_CATEGORY_Zp);
}

/* Something a reader sees: not white space and not default-ignorable (which renders
 * as nothing, like U+3164 HANGUL FILLER or U+115F). */
static bool is_visible(ucs4_t uc)
{
    return !is_space(uc) && !uc_is_property_default_ignorable_code_point(uc);
}

int cn_display_name_clean(const char *in, size_t len, char **out, const char **why)
{
    *out = NULL;
    const uint8_t *raw = (const uint8_t *)in;
    if (u8_check(raw, len) != NULL) {
        *why = "must be valid UTF-8";
        return -1;
    }
    size_t n = 0;
    uint8_t *nfc = len ? u8_normalize(UNINORM_NFC, raw, len, NULL, &n) : NULL;
    if (len && !nfc)
        cn_oom(len * 3); /* EILSEQ is ruled out by u8_check: only ENOMEM is left */

    /* Trim white space at both ends. */
    size_t start = 0, end = n;
    while (start < end) {
        ucs4_t uc;
        size_t k = at(nfc, n, start, &uc);
        if (!is_space(uc))
            break;
        start += k;
    }
    while (end > start) {
        size_t b = end - 1;
        while (b > start && (nfc[b] & 0xC0) == 0x80) /* back to the lead byte */
            b--;
        ucs4_t uc;
        at(nfc, n, b, &uc);
        if (!is_space(uc))
            break;
        end = b;
    }

    bool visible = false;
    for (size_t i = start; i < end;) {
        ucs4_t uc;
        size_t k = at(nfc, n, i, &uc);
        if (uc_is_general_category(uc, UC_CATEGORY_Cc)) {
            free(nfc);
            *why = "must not contain control characters";
            return -1;
        }
        if (is_format(uc)) {
            free(nfc);
            *why = "must not contain invisible formatting characters (zero-width, "
                   "bidirectional or line separators)";
            return -1;
        }
        visible = visible || is_visible(uc);
        i += k;
    }
    if (!visible) {
        free(nfc);
        *why = "must not be blank";
        return -1;
    }
    char *s = cn_xmalloc(end - start + 1);
    memcpy(s, nfc + start, end - start);
    s[end - start] = '\0';
    free(nfc);
    *out = s;
    return 0;
}

char *cn_display_name_key(const char *name, size_t len)
{
    const uint8_t *s = (const uint8_t *)name;
    if (u8_check(s, len) != NULL)
        return NULL;
    size_t n = 0;
    uint8_t *folded = len ? u8_casefold(s, len, NULL, UNINORM_NFC, NULL, &n) : NULL;
    if (len && !folded)
        cn_oom(len * 3);
    char *key = cn_xmalloc(n + 1);
    if (n)
        memcpy(key, folded, n);
    key[n] = '\0';
    free(folded);
    return key;
}
