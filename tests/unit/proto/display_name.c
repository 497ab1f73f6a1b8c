/* Tests src/proto/display_name.c: what a name becomes (NFC, trimmed), what is refused
 * and why (controls, invisible formatting, blank), and the case-folded key under which
 * two names are one. */
#include "check.h"
#include "proto/display_name.h"

static const char *clean(const char *in, const char **why)
{
    static char buf[512];
    char *out = NULL;
    *why = NULL;
    if (cn_display_name_clean(in, strlen(in), &out, why) != 0) {
        CHECK(out == NULL);
        CHECK(*why != NULL);
        return NULL;
    }
    snprintf(buf, sizeof buf, "%s", out);
    free(out);
    return buf;
}

static void check_clean(const char *in, const char *want)
{
    const char *why;
    const char *got = clean(in, &why);
    if (!got)
        fprintf(stderr, "refused \"%s\": %s\n", in, why);
    CHECK_STR(got, want);
}

static void check_refused(const char *in, const char *want_why)
{
    const char *why;
    const char *got = clean(in, &why);
    if (got)
        fprintf(stderr, "accepted \"%s\" as \"%s\"\n", in, got);
    CHECK(got == NULL);
    CHECK_STR(why, want_why);
}

#define FORMAT                                                                                     \
    "must not contain invisible formatting characters (zero-width, bidirectional or line "         \
    "separators)"

static void test_kept_as_typed(void)
{
    check_clean("Kim", "Kim");
    check_clean("Ann Lee", "Ann Lee");
    check_clean("  two  spaces  inside  ", "two  spaces  inside");
    check_clean("한국어", "한국어");
    check_clean("Zoë 🙂", "Zoë 🙂");
    check_clean("x", "x");
    /* An emoji with a variation selector (Mn, not Cf) stays. */
    check_clean("\u2764\ufe0f", "\u2764\ufe0f");
}

static void test_nfc(void)
{
    /* e + COMBINING ACUTE ACCENT becomes U+00E9; Hangul jamo compose. */
    check_clean("Rene\xcc\x81", "Ren\xc3\xa9");
    check_clean("\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab", "\xed\x95\x9c"); /* 한 */
    /* Already NFC: unchanged. */
    check_clean("Ren\xc3\xa9", "Ren\xc3\xa9");
}

static void test_trimmed(void)
{
    check_clean(" \t\nKim\r\n ", "Kim");
    check_clean("\xc2\xa0Kim\xc2\xa0", "Kim");         /* NBSP */
    check_clean("\xe3\x80\x80Kim\xe3\x80\x80", "Kim"); /* IDEOGRAPHIC SPACE */
    check_clean("\xe2\x80\x83Kim\xe2\x80\xa8", "Kim"); /* EM SPACE, LINE SEPARATOR */
}

static void test_controls_refused(void)
{
    check_refused("a\nb", "must not contain control characters");
    check_refused("a\tb", "must not contain control characters");
    check_refused("a\x7f"
                  "b",
                  "must not contain control characters");
    check_refused("a\xc2\x85"
                  "b",
                  "must not contain control characters"); /* NEL inside */
    check_refused("a\xc2\x9b"
                  "b",
                  "must not contain control characters"); /* C1 CSI */
}

static void test_invisible_formatting_refused(void)
{
    check_refused("ad\xe2\x80\x8bmin", FORMAT);   /* ZERO WIDTH SPACE */
    check_refused("ad\xe2\x80\x8cmin", FORMAT);   /* ZWNJ */
    check_refused("ad\xe2\x80\x8dmin", FORMAT);   /* ZWJ */
    check_refused("\xef\xbb\xbfKim", FORMAT);     /* BOM / ZWNBSP */
    check_refused("\xe2\x80\xaegpj.exe", FORMAT); /* RIGHT-TO-LEFT OVERRIDE */
    check_refused("a\xe2\x80\xaa"
                  "b",
                  FORMAT); /* LEFT-TO-RIGHT EMBEDDING */
    check_refused("a\xe2\x81\xa6"
                  "b",
                  FORMAT); /* LEFT-TO-RIGHT ISOLATE */
    check_refused("a\xe2\x81\xa9"
                  "b",
                  FORMAT); /* POP DIRECTIONAL ISOLATE */
    check_refused("a\xe2\x80\x8f"
                  "b",
                  FORMAT);                       /* RIGHT-TO-LEFT MARK */
    check_refused("soft\xc2\xadhyphen", FORMAT); /* SOFT HYPHEN */
    check_refused("a\xe2\x80\xa8"
                  "b",
                  FORMAT); /* LINE SEPARATOR inside */
    check_refused("a\xe2\x80\xa9"
                  "b",
                  FORMAT); /* PARAGRAPH SEPARATOR inside */
    check_refused("a\xf3\xa0\x80\x81"
                  "b",
                  FORMAT); /* LANGUAGE TAG (U+E0001) */
}

static void test_blank_refused(void)
{
    check_refused("", "must not be blank");
    check_refused("   ", "must not be blank");
    check_refused("\xc2\xa0\xe3\x80\x80", "must not be blank");
    /* HANGUL FILLER renders as nothing (default-ignorable, though a letter). */
    check_refused("\xe3\x85\xa4", "must not be blank");
    check_refused(" \xe3\x85\xa4\xe3\x85\xa4 ", "must not be blank");
    /* ... but next to a visible character it is part of the name. */
    check_clean("\xe3\x85\xa4x", "\xe3\x85\xa4x");
}

static void test_invalid_utf8_refused(void)
{
    check_refused("a\xff", "must be valid UTF-8");
    check_refused("\xc3", "must be valid UTF-8");
    check_refused("\xed\xa0\x80", "must be valid UTF-8"); /* a surrogate */
}

static void check_key(const char *name, const char *want)
{
    char *k = cn_display_name_key(name, strlen(name));
    CHECK_STR(k, want);
    free(k);
}

static void test_key_folds_case(void)
{
    check_key("Kim", "kim");
    check_key("KIM", "kim");
    check_key("Ren\xc3\xa9", "ren\xc3\xa9");
    check_key("REN\xc3\x89", "ren\xc3\xa9"); /* É */
    check_key("Stra\xc3\x9f"
              "e",
              "strasse");                                              /* ß folds to ss */
    check_key("\xce\xa3\xce\xb9\xcf\x83", "\xcf\x83\xce\xb9\xcf\x83"); /* Σισ: σ */
    check_key("한국어", "한국어");
    /* Decomposed input folds to the same key as the composed one. */
    check_key("RENE\xcc\x81", "ren\xc3\xa9");
    char *k = cn_display_name_key("\xff", 1);
    CHECK(k == NULL);
}

/* What sign-up relies on: a precomposed and a decomposed spelling, in any case, end up
 * with one key once cleaned. */
static void test_lookalikes_share_a_key(void)
{
    const char *spellings[] = {"Ren\xc3\xa9", "Rene\xcc\x81", "RENE\xcc\x81", " ren\xc3\xa9 "};
    char *first = NULL;
    for (size_t i = 0; i < sizeof spellings / sizeof spellings[0]; i++) {
        char *c = NULL;
        const char *why;
        CHECK_EQ(cn_display_name_clean(spellings[i], strlen(spellings[i]), &c, &why), 0);
        if (!c)
            continue;
        char *k = cn_display_name_key(c, strlen(c));
        if (!first)
            first = k;
        else {
            CHECK_STR(k, first);
            free(k);
        }
        free(c);
    }
    free(first);
}

CN_TEST_MAIN(test_kept_as_typed, test_nfc, test_trimmed, test_controls_refused,
             test_invisible_formatting_refused, test_blank_refused, test_invalid_utf8_refused,
             test_key_folds_case, test_lookalikes_share_a_key)
