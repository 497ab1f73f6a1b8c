/* Tests src/io/kafka_client_conf.c: librdkafka itself checks the operator's
 * properties, and its message names the key without the value. */
#include "check.h"
#include "io/kafka_client_conf.h"

#include <string.h>

static void test_good_properties_apply_to_a_conf(void)
{
    char *kv[] = {"security.protocol", "SASL_PLAINTEXT", "sasl.mechanisms", "PLAIN",
                  "sasl.username",     "chat",           "sasl.password",   "hunter2-secret"};
    char err[512] = "";
    CHECK_EQ(cn_kafka_client_conf_set(kv, 4, err, sizeof err), 0);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    CHECK_EQ(cn_kafka_client_conf_apply(conf, err, sizeof err), 0);
    char buf[64];
    size_t n = sizeof buf;
    CHECK_EQ(rd_kafka_conf_get(conf, "sasl.username", buf, &n), RD_KAFKA_CONF_OK);
    CHECK_STR(buf, "chat");
    rd_kafka_conf_destroy(conf);
    cn_kafka_client_conf_clear();
}

static void test_unknown_property_is_named(void)
{
    char *kv[] = {"security.protocol", "SSL", "sasl.mechanismz", "PLAIN"};
    char err[512] = "";
    CHECK_EQ(cn_kafka_client_conf_set(kv, 2, err, sizeof err), -1);
    CHECK(strstr(err, "kafka.client.sasl.mechanismz") != NULL);
    /* Nothing is left applied after a refusal. */
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    CHECK_EQ(cn_kafka_client_conf_apply(conf, err, sizeof err), 0);
    rd_kafka_conf_destroy(conf);
}

static void test_bad_value_is_named(void)
{
    char *kv[] = {"security.protocol", "SASL_TLS"};
    char err[512] = "";
    CHECK_EQ(cn_kafka_client_conf_set(kv, 1, err, sizeof err), -1);
    CHECK(strstr(err, "kafka.client.security.protocol") != NULL);
    cn_kafka_client_conf_clear();
}

CN_TEST_MAIN(test_good_properties_apply_to_a_conf, test_unknown_property_is_named,
             test_bad_value_is_named)
