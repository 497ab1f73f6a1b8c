/* Operator-given librdkafka properties; see kafka_client_conf.h. */
#include "io/kafka_client_conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"

static char **props; /* key, value, key, value, ... */
static size_t nprops;

void cn_kafka_client_conf_clear(void)
{
    for (size_t i = 0; i < 2 * nprops; i++)
        free(props[i]);
    free(props);
    props = NULL;
    nprops = 0;
}

int cn_kafka_client_conf_apply(rd_kafka_conf_t *conf, char *err, size_t errlen)
{
    for (size_t i = 0; i < nprops; i++) {
        char why[256];
        if (rd_kafka_conf_set(conf, props[2 * i], props[2 * i + 1], why, sizeof why) !=
            RD_KAFKA_CONF_OK) {
            snprintf(err, errlen, "kafka.client.%.100s: %s", props[2 * i], why);
            return -1;
        }
    }
    return 0;
}

int cn_kafka_client_conf_set(char *const *kv, size_t n, char *err, size_t errlen)
{
    cn_kafka_client_conf_clear();
    if (n == 0)
        return 0;
    props = cn_xcalloc(2 * n, sizeof *props);
    nprops = n;
    for (size_t i = 0; i < 2 * n; i++)
        props[i] = cn_xstrdup(kv[i]);
    /* librdkafka checks names and values as they are set: a typo or a bad value is a
     * start-up error here rather than a client that never connects. */
    rd_kafka_conf_t *scratch = rd_kafka_conf_new();
    int rc = cn_kafka_client_conf_apply(scratch, err, errlen);
    rd_kafka_conf_destroy(scratch);
    if (rc != 0)
        cn_kafka_client_conf_clear();
    return rc;
}
