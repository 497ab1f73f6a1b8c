/* Tests src/proto/common_passwords.c and its generated table: the list is there, sorted
 * and lower case, and lookups ignore ASCII case. */
#include "check.h"
#include "proto/common_passwords.h"

extern const char *const cn__common_passwords[];
extern const size_t cn__common_passwords_count;

static void test_the_list_is_embedded(void)
{
    /* password.lst of john-data 1.9 has 3,546 lines, some 3,400 distinct in lower case. */
    CHECK_INT(cn_common_passwords_count(), >, 3000);
    CHECK_EQ(cn_common_passwords_count(), cn__common_passwords_count);
    for (size_t i = 1; i < cn__common_passwords_count; i++) {
        if (strcmp(cn__common_passwords[i - 1], cn__common_passwords[i]) >= 0)
            fprintf(stderr, "out of order at %zu: %s, %s\n", i, cn__common_passwords[i - 1],
                    cn__common_passwords[i]);
        CHECK(strcmp(cn__common_passwords[i - 1], cn__common_passwords[i]) < 0);
    }
    for (size_t i = 0; i < cn__common_passwords_count; i++)
        for (const char *p = cn__common_passwords[i]; *p; p++)
            CHECK(!(*p >= 'A' && *p <= 'Z'));
}

static void check_common(const char *pw, bool want)
{
    bool got = cn_password_is_common(pw, strlen(pw));
    if (got != want)
        fprintf(stderr, "\"%s\": %d, want %d\n", pw, got, want);
    CHECK(got == want);
}

static void test_lookups(void)
{
    check_common("123456", true);
    check_common("password", true);
    check_common("PASSWORD", true);
    check_common("Password1", true);
    check_common("1234567890", true);
    check_common("basketball", true);
    check_common("BaSkEtBaLl", true);
    check_common("christopher", true);
    check_common("!@#$%", true); /* first entry in byte order */
    check_common("zzz", true);
    check_common("basketball!", false);
    check_common("tr0ub4dor-3f9a", false);
    check_common("", false);
    check_common("a-password-far-longer-than-any-entry-of-the-list", false);
    /* The length given counts, not a NUL: "password" within "passwords". */
    CHECK(cn_password_is_common("passwordXYZ", 8));
}

CN_TEST_MAIN(test_the_list_is_embedded, test_lookups)
