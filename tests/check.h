/* A tiny test harness: typed checks that print both sides, and a runner.
 *
 * A test file defines `static void test_x(void)` functions and ends with
 *     CN_TEST_MAIN(test_x, test_y)
 * Each check that fails prints file:line and the two values and marks the current
 * test failed; the test goes on so one run shows every failure. The process exits
 * non-zero when any test failed. Deadlines come from CTest (tests/CMakeLists.txt). */
#ifndef CN_TESTS_CHECK_H
#define CN_TESTS_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cn__test_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);               \
            cn__test_failed = 1;                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_INT(a, op, b)                                                                        \
    do {                                                                                           \
        long long cn__a = (long long)(a), cn__b = (long long)(b);                                  \
        if (!(cn__a op cn__b)) {                                                                   \
            fprintf(stderr, "%s:%d: CHECK(%s %s %s) failed: %lld vs %lld\n", __FILE__, __LINE__,   \
                    #a, #op, #b, cn__a, cn__b);                                                    \
            cn__test_failed = 1;                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_EQ(a, b) CHECK_INT(a, ==, b)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *cn__a = (a), *cn__b = (b);                                                     \
        if (!cn__a || !cn__b || strcmp(cn__a, cn__b) != 0) {                                       \
            fprintf(stderr, "%s:%d: CHECK_STR(%s, %s) failed: \"%s\" vs \"%s\"\n", __FILE__,       \
                    __LINE__, #a, #b, cn__a ? cn__a : "(null)", cn__b ? cn__b : "(null)");         \
            cn__test_failed = 1;                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_MEM(a, alen, b, blen)                                                                \
    do {                                                                                           \
        size_t cn__al = (alen), cn__bl = (blen);                                                   \
        if (cn__al != cn__bl || memcmp((a), (b), cn__al) != 0) {                                   \
            fprintf(stderr, "%s:%d: CHECK_MEM(%s, %s) failed: \"%.*s\" vs \"%.*s\"\n", __FILE__,   \
                    __LINE__, #a, #b, (int)cn__al, (const char *)(a), (int)cn__bl,                 \
                    (const char *)(b));                                                            \
            cn__test_failed = 1;                                                                   \
        }                                                                                          \
    } while (0)

typedef void (*cn__test_fn)(void);

static inline int cn__run_tests(const char *const *names, const cn__test_fn *fns, int n)
{
    int failed = 0;
    const char *only = getenv("CN_TEST_ONLY");
    for (int i = 0; i < n; i++) {
        const char *name = names[i] ? names[i] : "?";
        if (only && strcmp(only, name) != 0)
            continue;
        cn__test_failed = 0;
        fns[i]();
        fprintf(stderr, "%s %s\n", cn__test_failed ? "FAIL" : "ok  ", name);
        failed += cn__test_failed;
    }
    return failed ? 1 : 0;
}

/* Expands to main(): runs every listed test function in order. */
#define CN_TEST_MAIN(...)                                                                          \
    int main(void)                                                                                 \
    {                                                                                              \
        static const cn__test_fn fns[] = {__VA_ARGS__};                                            \
        static const char names_joined[] = #__VA_ARGS__;                                           \
        const char *names[sizeof fns / sizeof fns[0]] = {0};                                       \
        static char buf[sizeof names_joined];                                                      \
        memcpy(buf, names_joined, sizeof buf);                                                     \
        int k = 0;                                                                                 \
        for (char *tok = strtok(buf, ", \t\n"); tok && k < (int)(sizeof fns / sizeof fns[0]);      \
             tok = strtok(NULL, ", \t\n"))                                                         \
            names[k++] = tok;                                                                      \
        return cn__run_tests(names, fns, (int)(sizeof fns / sizeof fns[0]));                       \
    }

#endif
