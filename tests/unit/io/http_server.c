/* Tests the HTTP server's two-step shutdown (src/io/http_server.c) on a loopback port:
 * after cn_http_server_close a deferred request's connection is closed, answers from
 * actors (cn_http_reply, cn_ws_out_push) are dropped and freed until
 * cn_http_server_free, and threads that keep answering while the owner closes never
 * reach a destroyed I/O context (ASan would say so) and leak nothing. */
#include "check.h"

#include "io/http_server.h"

#include "base/clock.h"
#include "base/xmalloc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEADLINE_MS 10000

/* The handler defers every request and keeps where its answer goes. */
struct deferred {
    pthread_mutex_t mu;
    struct cn_http_later later;
    int count;
};

static void defer_all(void *ctx, const struct cn_http_request *req, struct cn_http_response *resp,
                      const struct cn_http_later *later)
{
    (void)req;
    struct deferred *d = ctx;
    pthread_mutex_lock(&d->mu);
    d->later = *later;
    d->count++;
    pthread_mutex_unlock(&d->mu);
    resp->deferred = true;
}

/* A port for the server: reserved by a bound, non-listening SO_REUSEPORT socket
 * (kept open so nobody else takes it; connections only reach listening sockets). */
static int reserve_port(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    *port = ntohs(sa.sin_port);
    return fd;
}

static struct cn_http_server *start(struct deferred *d, int port, int threads)
{
    struct cn_http_server_config cfg = {.host = "127.0.0.1",
                                        .port = port,
                                        .io_threads = threads,
                                        .max_body = 4096,
                                        .request_timeout_s = 30,
                                        .handler = defer_all,
                                        .handler_ctx = d};
    char err[256];
    struct cn_http_server *s = cn_http_server_start(&cfg, err, sizeof err);
    if (!s)
        fprintf(stderr, "cn_http_server_start: %s\n", err);
    CHECK(s != NULL);
    return s;
}

static bool wait_pending(struct cn_http_server *s, uint64_t n)
{
    uint64_t until = cn_now_ms() + DEADLINE_MS;
    while (cn_http_server_pending(s) != n) {
        if (cn_now_ms() >= until)
            return false;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return true;
}

static struct cn_http_response answer_of(const char *text)
{
    struct cn_http_response r = {.status = 200, .content_type = "text/plain"};
    r.body = cn_xstrdup(text);
    r.body_len = strlen(text);
    return r;
}

static void test_answers_after_close_are_dropped(void)
{
    int port;
    int reserved = reserve_port(&port);
    struct deferred d = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct cn_http_server *s = start(&d, port, 1);

    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK_EQ(connect(c, (struct sockaddr *)&sa, sizeof sa), 0);
    const char req[] = "GET /slow HTTP/1.1\r\nHost: test\r\n\r\n";
    CHECK_EQ(send(c, req, sizeof req - 1, 0), (ssize_t)(sizeof req - 1));
    CHECK(wait_pending(s, 1));

    cn_http_server_close(s);
    /* The deferred request's connection went with its I/O thread, unanswered. */
    char buf[256];
    struct timeval tv = {DEADLINE_MS / 1000, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    CHECK_EQ(recv(c, buf, sizeof buf, 0), 0);
    CHECK_EQ(cn_http_server_pending(s), 0);

    /* Closed, not freed: the actor's late answer is dropped (its body freed). */
    struct cn_http_response resp = answer_of("too late");
    pthread_mutex_lock(&d.mu);
    struct cn_http_later later = d.later;
    CHECK_EQ(d.count, 1);
    pthread_mutex_unlock(&d.mu);
    cn_http_reply(&later, &resp);
    CHECK(resp.body == NULL); /* taken */
    struct cn_ws_peer peer = {.server = s, .thread = 0, .conn_id = 1};
    cn_ws_out_push(&peer, cn_ws_out_new(1, 64));
    struct cn_http_server_stats st;
    cn_http_server_stats(s, &st);
    CHECK_EQ(st.requests, 1);
    CHECK_EQ(st.replies_dropped, 1);
    cn_http_server_close(s); /* idempotent */
    cn_http_server_free(s);
    close(c);
    close(reserved);
}

#define ANSWERERS 3

struct answerer {
    struct cn_http_server *s;
    int threads;
    atomic_bool *stop;
    unsigned calls;
};

/* Answers requests nobody is waiting for, as fast as it can, on every I/O thread. */
static void *answerer_main(void *arg)
{
    struct answerer *a = arg;
    while (!atomic_load(a->stop)) {
        struct cn_http_later later = {a->s, a->calls % (uint32_t)a->threads, 1u + a->calls};
        struct cn_http_response resp = answer_of("{}");
        cn_http_reply(&later, &resp);
        struct cn_ws_peer peer = {.server = a->s, .thread = a->calls % (uint32_t)a->threads};
        cn_ws_out_push(&peer, cn_ws_out_new(7, 16));
        a->calls++;
    }
    return NULL;
}

static void test_close_races_answers(void)
{
    int port;
    int reserved = reserve_port(&port);
    struct deferred d = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct cn_http_server *s = start(&d, port, 2);
    atomic_bool stop = false;
    pthread_t th[ANSWERERS];
    struct answerer a[ANSWERERS];
    for (int i = 0; i < ANSWERERS; i++) {
        a[i] = (struct answerer){.s = s, .threads = 2, .stop = &stop};
        pthread_create(&th[i], NULL, answerer_main, &a[i]);
    }
    /* Let the answers flow into the I/O threads for a moment, then close under them. */
    uint64_t until = cn_now_ms() + 50;
    while (cn_now_ms() < until) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    cn_http_server_close(s);
    struct cn_http_server_stats before;
    cn_http_server_stats(s, &before);
    until = cn_now_ms() + 20;
    while (cn_now_ms() < until) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    atomic_store(&stop, true);
    unsigned calls = 0;
    for (int i = 0; i < ANSWERERS; i++) {
        pthread_join(th[i], NULL);
        calls += a[i].calls;
    }
    struct cn_http_server_stats after;
    cn_http_server_stats(s, &after);
    /* Nobody waited for any of them: every answer counted is a dropped one, and the
     * answers kept coming after the close. */
    CHECK_INT(after.replies_dropped, >, before.replies_dropped);
    CHECK_INT(after.replies_dropped, <=, calls);
    fprintf(stderr, "  %u answers, %llu dropped as counted\n", calls,
            (unsigned long long)after.replies_dropped);
    cn_http_server_free(s); /* frees what raced into the inboxes after the close */
    close(reserved);
}

CN_TEST_MAIN(test_answers_after_close_are_dropped, test_close_races_answers)
