/* Tests the Kafka producer's two-step shutdown (src/io/kafka_producer.c) with no
 * cluster at all (a loopback port that refuses): records wait for metadata, so
 * cn_kafka_producer_close finds them in flight and fails each one exactly once
 * ("producer stopping") to its actor; afterwards produce is refused with -ESHUTDOWN
 * and the counters and the metrics page stay readable until cn_kafka_producer_free. */
#include "check.h"

#include "io/kafka_producer.h"

#include "base/clock.h"
#include "base/strbuf.h"
#include "base/xmalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REPORT_TYPE 93u
#define DEADLINE_MS 10000

struct reports {
    atomic_uint total, ok, stopping;
    atomic_uint per_tag[16];
};

static void collect(cn_actor *self, void *state, cn_msg *m)
{
    (void)self;
    struct reports *r = state;
    struct cn_kafka_delivery *d = (struct cn_kafka_delivery *)m;
    if (d->tag < 16)
        atomic_fetch_add(&r->per_tag[d->tag], 1);
    if (d->ok)
        atomic_fetch_add(&r->ok, 1);
    else if (strcmp(d->error, "producer stopping") == 0)
        atomic_fetch_add(&r->stopping, 1);
    atomic_fetch_add(&r->total, 1);
    cn_msg_free(m);
}

/* A loopback port nothing listens on: a bound socket that does not listen. */
static int refusing_port(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    *port = ntohs(sa.sin_port);
    return fd;
}

static bool wait_at_least(atomic_uint *v, unsigned n)
{
    uint64_t until = cn_now_ms() + DEADLINE_MS;
    while (atomic_load(v) < n) {
        if (cn_now_ms() >= until)
            return false;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return true;
}

static void test_close_fails_what_is_in_flight(void)
{
    cn_runtime *rt = cn_runtime_new(&(cn_runtime_config){.workers = 1});
    CHECK_EQ(cn_runtime_start(rt), 0);
    struct reports *rep = cn_xcalloc(1, sizeof *rep);
    cn_actor *a = cn_actor_spawn(rt, collect, rep, NULL);
    int port;
    int fd = refusing_port(&port);
    char brokers[64], err[256];
    snprintf(brokers, sizeof brokers, "127.0.0.1:%d", port);
    struct cn_kafka_producer_opts o = {.brokers = brokers, .flush_timeout_ms = 200};
    struct cn_kafka_producer *p = cn_kafka_producer_start_opts(&o, err, sizeof err);
    CHECK(p != NULL);

    for (uint64_t t = 0; t < 5; t++)
        CHECK_EQ(cn_kafka_produce(p, "chat.messages", CN_KAFKA_PARTITION_BY_KEY, "room-1", 6, "v",
                                  1, NULL, 0, a, REPORT_TYPE, t),
                 0);
    struct cn_kafka_producer_stats st;
    cn_kafka_producer_stats(p, &st);
    CHECK_EQ(st.in_flight, 5);
    CHECK_EQ(atomic_load(&rep->total), 0);

    cn_kafka_producer_close(p);
    /* Every record reported once, by the close, to a live actor. */
    CHECK(wait_at_least(&rep->total, 5));
    CHECK_EQ(atomic_load(&rep->stopping), 5);
    for (int t = 0; t < 5; t++)
        CHECK_EQ(atomic_load(&rep->per_tag[t]), 1);

    /* Closed, not freed: refused, and the counters and metrics still read. */
    CHECK_EQ(cn_kafka_produce(p, "chat.messages", CN_KAFKA_PARTITION_BY_KEY, "room-1", 6, "v", 1,
                              NULL, 0, a, REPORT_TYPE, 9),
             -ESHUTDOWN);
    cn_kafka_producer_stats(p, &st);
    CHECK_EQ(st.produced, 5);
    CHECK_EQ(st.failed, 5);
    CHECK_EQ(st.in_flight, 0);
    struct cn_strbuf b;
    cn_strbuf_init(&b, 256);
    cn_kafka_producer_metrics_render(&b, p);
    char *page = cn_strbuf_take(&b, NULL);
    CHECK(strstr(page, "chat_kafka_delivery_failures_total 5") != NULL);
    free(page);
    cn_kafka_producer_close(p); /* idempotent */

    cn_runtime_shutdown(rt);
    cn_kafka_producer_free(p);
    CHECK_EQ(atomic_load(&rep->total), 5);
    cn_actor_unref(a);
    free(rep);
    close(fd);
}

/* Refused options start nothing, so there is nothing to close or free. */
static void test_bad_options(void)
{
    char err[256];
    struct cn_kafka_producer_opts none = {.brokers = ""};
    CHECK(cn_kafka_producer_start_opts(&none, err, sizeof err) == NULL);
    CHECK(strstr(err, "no brokers") != NULL);
    struct cn_kafka_producer_opts neg = {.brokers = "127.0.0.1:1", .flush_timeout_ms = -1};
    CHECK(cn_kafka_producer_start_opts(&neg, err, sizeof err) == NULL);
    CHECK(strstr(err, "negative") != NULL);
    cn_kafka_producer_close(NULL); /* both take NULL */
    cn_kafka_producer_free(NULL);
}

CN_TEST_MAIN(test_close_fails_what_is_in_flight, test_bad_options)
