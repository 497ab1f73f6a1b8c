/* Tests src/proto/prom.c: label escaping and sample lines. */
#include "check.h"
#include "proto/prom.h"

static void test_label_values_are_escaped(void)
{
    char out[64];
    cn_prom_label(out, sizeof out, "dep", "a\"b\\c\nd");
    CHECK_STR(out, "dep=\"a\\\"b\\\\c\\nd\"");
}

static void test_label_truncates_without_overflow(void)
{
    char out[12];
    cn_prom_label(out, sizeof out, "k", "0123456789abcdef");
    CHECK(strlen(out) < sizeof out);
}

static void test_family_and_samples(void)
{
    struct cn_strbuf b;
    cn_strbuf_init(&b, 4);
    cn_prom_counter(&b, "x_total", "Things.", 42);
    cn_prom_sample_f64(&b, "y", "a=\"1\"", 0.5);
    CHECK_STR(b.data,
              "# HELP x_total Things.\n# TYPE x_total counter\nx_total 42\ny{a=\"1\"} 0.5\n");
    cn_strbuf_free(&b);
}

CN_TEST_MAIN(test_label_values_are_escaped, test_label_truncates_without_overflow,
             test_family_and_samples)
