/* Tests the Kafka consumer's two-step shutdown (src/io/kafka_consumer.c) with no
 * cluster at all (a loopback port that refuses): a commit submitted before
 * cn_kafka_consumer_close is still applied by it (dropped: nothing is assigned), calls
 * after it are refused with -ESHUTDOWN, and the stats stay readable until
 * cn_kafka_consumer_free. */
#include "check.h"

#include "io/kafka_consumer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static cn_actor *no_pipeline(void *arg, struct cn_kafka_consumer *c, const char *topic,
                             int32_t partition)
{
    (void)c;
    (void)arg, (void)topic, (void)partition;
    return NULL;
}

static void test_close_then_calls_refused(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0); /* bound, never listening */
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    char brokers[64], err[256];
    snprintf(brokers, sizeof brokers, "127.0.0.1:%d", ntohs(sa.sin_port));
    const char *topics[] = {"chat.messages"};
    struct cn_kafka_consumer_opts o = {.brokers = brokers,
                                       .group_id = "unit-close",
                                       .topics = topics,
                                       .ntopics = 1,
                                       .pipeline = no_pipeline,
                                       .batch_type = 1,
                                       .revoke_type = 2,
                                       .close_timeout_ms = 200};
    struct cn_kafka_consumer *c = cn_kafka_consumer_start(&o, err, sizeof err);
    CHECK(c != NULL);

    CHECK_EQ(cn_kafka_consumer_commit(c, "chat.messages", 0, 42), 0);
    cn_kafka_consumer_close(c);
    struct cn_kafka_consumer_stats st;
    CHECK_EQ(cn_kafka_consumer_stats(c, &st, NULL, 0), 0);
    CHECK_EQ(st.commits_dropped, 1); /* applied by the close: no partition is ours */
    CHECK_EQ(st.commits, 0);
    CHECK_EQ(cn_kafka_consumer_commit(c, "chat.messages", 0, 43), -ESHUTDOWN);
    CHECK_EQ(cn_kafka_consumer_done(c, "chat.messages", 0, 1), -ESHUTDOWN);
    cn_kafka_consumer_close(c); /* idempotent */
    CHECK_EQ(cn_kafka_consumer_stats(c, &st, NULL, 0), 0);
    CHECK_EQ(st.commits_dropped, 1);
    cn_kafka_consumer_free(c);
    close(fd);
}

/* Refused options start nothing, so there is nothing to close or free. */
static void test_bad_options(void)
{
    char err[256];
    struct cn_kafka_consumer_opts o = {.brokers = "127.0.0.1:1"};
    CHECK(cn_kafka_consumer_start(&o, err, sizeof err) == NULL);
    CHECK(strstr(err, "required") != NULL);
    cn_kafka_consumer_close(NULL); /* both take NULL */
    cn_kafka_consumer_free(NULL);
}

CN_TEST_MAIN(test_close_then_calls_refused, test_bad_options)
