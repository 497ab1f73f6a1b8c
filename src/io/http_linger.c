/* Lingering close; see http_linger.h. */
#include "http_linger.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/xmalloc.h"

struct linger_conn {
    struct cn_http_lingerer *owner;
    struct linger_conn *prev, *next;
    uv_poll_t poll;
    uv_timer_t timer;
    int fd;
    int open_handles; /* poll and timer: freed when both have closed */
    bool closing;
    uint64_t discarded;
    uint64_t deadline; /* uv_now value */
};

struct cn_http_lingerer {
    uv_loop_t *loop;
    struct linger_conn *head;
    size_t count;
};

struct cn_http_lingerer *cn_http_lingerer_new(uv_loop_t *loop)
{
    struct cn_http_lingerer *l = cn_xcalloc(1, sizeof *l);
    l->loop = loop;
    return l;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct linger_conn *c = h->data;
    if (--c->open_handles > 0)
        return;
    close(c->fd);
    free(c);
}

static void finish(struct linger_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    struct cn_http_lingerer *l = c->owner;
    if (c->prev)
        c->prev->next = c->next;
    else
        l->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    l->count--;
    uv_close((uv_handle_t *)&c->poll, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_timer(uv_timer_t *t)
{
    finish(t->data);
}

static void on_readable(uv_poll_t *p, int status, int events)
{
    (void)events;
    struct linger_conn *c = p->data;
    if (status < 0) {
        finish(c);
        return;
    }
    char buf[16384];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n > 0) {
            c->discarded += (uint64_t)n;
            if (c->discarded >= CN_LINGER_MAX_BYTES) {
                finish(c);
                return;
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        finish(c); /* end of stream, or the client reset */
        return;
    }
    /* Still sending: wait again, for at most the idle time and never past the end. */
    uint64_t now = uv_now(c->owner->loop);
    if (now >= c->deadline) {
        finish(c);
        return;
    }
    uint64_t wait = c->deadline - now;
    if (wait > CN_LINGER_IDLE_MS)
        wait = CN_LINGER_IDLE_MS;
    uv_timer_start(&c->timer, on_timer, wait, 0);
}

void cn_http_linger(struct cn_http_lingerer *l, int fd)
{
    struct linger_conn *c = cn_xcalloc(1, sizeof *c);
    c->owner = l;
    c->fd = fd;
    if (uv_poll_init_socket(l->loop, &c->poll, fd) != 0) {
        close(fd);
        free(c);
        return;
    }
    c->poll.data = c;
    uv_timer_init(l->loop, &c->timer);
    c->timer.data = c;
    c->open_handles = 2;
    c->deadline = uv_now(l->loop) + CN_LINGER_TOTAL_MS;
    c->next = l->head;
    if (l->head)
        l->head->prev = c;
    l->head = c;
    l->count++;
    if (uv_poll_start(&c->poll, UV_READABLE, on_readable) != 0) {
        finish(c);
        return;
    }
    uv_timer_start(&c->timer, on_timer, CN_LINGER_IDLE_MS, 0);
}

size_t cn_http_lingerer_count(const struct cn_http_lingerer *l)
{
    return l->count;
}

void cn_http_lingerer_close_all(struct cn_http_lingerer *l)
{
    while (l && l->head)
        finish(l->head);
}

void cn_http_lingerer_free(struct cn_http_lingerer *l)
{
    free(l);
}
