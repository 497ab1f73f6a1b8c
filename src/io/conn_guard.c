/* Socket options and the node's connection limits; see conn_guard.h. */
#include "io/conn_guard.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "base/clock.h"
#include "base/xmalloc.h"

struct cn_conn_guard {
    uint32_t max_connections, accept_rate;
    struct cn_ws_counters *counters;
    pthread_mutex_t mu;
    uint64_t window_s; /* the second the count is for (monotonic) */
    uint32_t in_window;
};

struct cn_conn_guard *cn_conn_guard_new(uint32_t max_connections, uint32_t accept_rate,
                                        struct cn_ws_counters *counters)
{
    struct cn_conn_guard *g = cn_xcalloc(1, sizeof *g);
    g->max_connections = max_connections;
    g->accept_rate = accept_rate;
    g->counters = counters;
    pthread_mutex_init(&g->mu, NULL);
    return g;
}

void cn_conn_guard_free(struct cn_conn_guard *g)
{
    if (!g)
        return;
    pthread_mutex_destroy(&g->mu);
    free(g);
}

void cn_conn_guard_socket(int fd, int keepalive_s)
{
    if (keepalive_s <= 0)
        return;
    int one = 1, idle = keepalive_s, intvl = keepalive_s / 3 > 0 ? keepalive_s / 3 : 1, cnt = 3;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
}

/* A fixed one-second window: simple, and an upgrade storm is cut at the rate
 * within the second it starts. */
static int over_rate(struct cn_conn_guard *g)
{
    if (!g->accept_rate)
        return 0;
    uint64_t now_s = cn_now_ms() / 1000;
    pthread_mutex_lock(&g->mu);
    if (now_s != g->window_s) {
        g->window_s = now_s;
        g->in_window = 0;
    }
    int over = g->in_window >= g->accept_rate;
    if (!over)
        g->in_window++;
    pthread_mutex_unlock(&g->mu);
    return over;
}

static void refuse(struct cn_conn_guard *g, cn_conn_guard_write_fn write, void *arg, int reason,
                   int retry_after_s, const char *message)
{
    atomic_fetch_add_explicit(&g->counters->refused[reason], 1, memory_order_relaxed);
    char body[256], resp[512];
    int bl = snprintf(body, sizeof body, "{\"error\":{\"code\":\"OVERLOADED\",\"message\":\"%s\"}}",
                      message);
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 503 Service Unavailable\r\n"
                     "Retry-After: %d\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: %d\r\n"
                     "Connection: close\r\n\r\n%s",
                     retry_after_s, bl, body);
    /* A fresh socket's send buffer takes this whole; if not, the close says enough. */
    if (write && n > 0 && (size_t)n < sizeof resp)
        write(arg, resp, (size_t)n);
}

int cn_conn_guard_upgrade(struct cn_conn_guard *g, cn_conn_guard_write_fn write, void *arg)
{
    if (!g)
        return 0;
    uint64_t open = atomic_load_explicit(&g->counters->connections_open, memory_order_relaxed);
    if (g->max_connections && open >= g->max_connections) {
        refuse(g, write, arg, CN_WS_REFUSED_NODE_LIMIT, 5,
               "this node has limits.max_connections WebSocket connections; retry later");
        return -1;
    }
    if (over_rate(g)) {
        refuse(g, write, arg, CN_WS_REFUSED_ACCEPT_RATE, 1,
               "too many new connections per second (limits.accept_rate); retry later");
        return -1;
    }
    return 0;
}
