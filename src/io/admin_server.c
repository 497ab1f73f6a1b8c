/* The admin socket's thread; see admin_server.h. */
#include "io/admin_server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/log.h"
#include "base/xmalloc.h"

#define MAX_CLIENTS 16
#define MAX_LINE    65536 /* a request is a small JSON object */

struct client {
    int fd; /* -1: free slot */
    bool drain_waiter;
    bool refused; /* answered FORBIDDEN: its input is read and dropped until a line or EOF */
    size_t len;
    char buf[MAX_LINE];
};

struct cn_admin_server {
    char path[108];
    int fd;
    int wake[2]; /* a pipe: close writes, the poll loop wakes */
    dev_t dev;
    ino_t ino; /* the socket file we bound, so close unlinks only ours */
    cn_admin_dispatch_fn dispatch;
    void *dispatch_ctx;
    pthread_t thread;
    bool started;
    bool closed; /* owner thread: cn_admin_server_close has run */
    atomic_bool stop;
    struct client clients[MAX_CLIENTS];
};

/* Returns 0 when the path is free (nothing there, or a dead socket now removed),
 * else -1 with the reason in err. */
static int claim_path(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "admin.socket %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "admin.socket %s exists and is not a socket; refusing to replace it",
                 path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "admin.socket: socket: %s", strerror(errno));
        return -1;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    close(fd);
    if (rc == 0) {
        snprintf(err, errlen, "admin.socket %s: another chat-node is listening there", path);
        return -1;
    }
    if (e != ECONNREFUSED) {
        snprintf(err, errlen, "admin.socket %s: cannot tell whether it is in use: %s", path,
                 strerror(e));
        return -1;
    }
    /* Nobody accepts on it: left behind by a node that died. */
    if (unlink(path) != 0 && errno != ENOENT) {
        snprintf(err, errlen, "admin.socket %s: cannot remove the stale socket: %s", path,
                 strerror(errno));
        return -1;
    }
    CN_WARN("admin", "replaced the stale socket %s", path);
    return 0;
}

struct cn_admin_server *cn_admin_listen(const char *path, char *err, size_t errlen)
{
    if (!path[0] || strlen(path) >= sizeof((struct sockaddr_un *)0)->sun_path) {
        snprintf(err, errlen, "admin.socket: path empty or longer than 107 bytes");
        return NULL;
    }
    if (claim_path(path, err, errlen) != 0)
        return NULL;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "admin.socket: socket: %s", strerror(errno));
        return NULL;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    /* The umask makes the file 0600 from its first instant; other threads create
     * no files this early in start-up. */
    mode_t old = umask(0177);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    umask(old);
    if (rc != 0 || listen(fd, 16) != 0) {
        snprintf(err, errlen, "admin.socket %s: %s", path, strerror(rc ? e : errno));
        close(fd);
        return NULL;
    }
    struct stat st;
    if (chmod(path, 0600) != 0 || stat(path, &st) != 0) {
        snprintf(err, errlen, "admin.socket %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return NULL;
    }
    struct cn_admin_server *s = cn_xcalloc(1, sizeof *s);
    memcpy(s->path, path, strlen(path) + 1);
    s->fd = fd;
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->wake[0] = s->wake[1] = -1;
    for (int i = 0; i < MAX_CLIENTS; i++)
        s->clients[i].fd = -1;
    return s;
}

/* Answers go out whole: the client is chat-admin reading as fast as it can, and a
 * send timeout (set at accept) bounds a client that does not read. */
static bool write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static bool reply(int fd, json_t *answer)
{
    char *text = json_dumps(answer, JSON_COMPACT);
    json_decref(answer);
    if (!text)
        return false;
    size_t n = strlen(text);
    text[n] = '\n'; /* replaces the terminator: the line is written by length */
    bool ok = write_all(fd, text, n + 1);
    free(text);
    return ok;
}

static void drop(struct client *c)
{
    close(c->fd);
    c->fd = -1;
    c->len = 0;
    c->drain_waiter = false;
    c->refused = false;
}

/* Handles every complete line in c's buffer. Returns false when c must close. */
static bool handle_lines(struct cn_admin_server *s, struct client *c)
{
    char *start = c->buf, *nl;
    while ((nl = memchr(start, '\n', c->len - (size_t)(start - c->buf))) != NULL) {
        *nl = '\0';
        json_error_t jerr;
        json_t *req = json_loads(start, JSON_REJECT_DUPLICATES, &jerr);
        json_t *answer;
        bool drain = false;
        if (!req) {
            char msg[200];
            snprintf(msg, sizeof msg, "not JSON: %s", jerr.text);
            answer = json_pack("{s:b,s:{s:s,s:s}}", "ok", 0, "error", "code", "BAD_REQUEST",
                               "message", msg);
        } else {
            answer = s->dispatch(s->dispatch_ctx, req, &drain);
            json_decref(req);
        }
        if (!reply(c->fd, answer))
            return false;
        c->drain_waiter |= drain;
        start = nl + 1;
    }
    size_t rest = c->len - (size_t)(start - c->buf);
    memmove(c->buf, start, rest);
    c->len = rest;
    if (c->len == sizeof c->buf) {
        reply(c->fd, json_pack("{s:b,s:{s:s,s:s}}", "ok", 0, "error", "code", "BAD_REQUEST",
                               "message", "request line longer than 64 KiB"));
        return false;
    }
    return true;
}

/* Whether the peer may drive the node. The file's 0600 mode is the first gate; the
 * peer's credentials are the second, for a socket whose mode or directory someone
 * loosened: only the node's own user and root. */
static bool peer_allowed(int fd, char *why, size_t whylen)
{
    struct ucred cred;
    socklen_t clen = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0 || clen != sizeof cred) {
        snprintf(why, whylen, "the peer's credentials are unknown");
        return false;
    }
    if (cred.uid == geteuid() || cred.uid == 0)
        return true;
    snprintf(why, whylen, "uid %ld may not use this socket (only the node's user and root)",
             (long)cred.uid);
    return false;
}

static void accept_client(struct cn_admin_server *s)
{
    int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    char why[120];
    bool allowed = peer_allowed(fd, why, sizeof why);
    /* A free slot, else (for a refused peer only) one held by an earlier refused
     * peer: refused peers never crowd the operator out. */
    struct client *c = NULL;
    for (int i = 0; i < MAX_CLIENTS && !c; i++)
        if (s->clients[i].fd < 0)
            c = &s->clients[i];
    for (int i = 0; i < MAX_CLIENTS && !c && !allowed; i++)
        if (s->clients[i].refused) {
            c = &s->clients[i];
            drop(c);
        }
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (!allowed) {
        CN_WARN("admin", "refused an admin connection: %s", why);
        reply(fd, json_pack("{s:b,s:{s:s,s:s}}", "ok", 0, "error", "code", "FORBIDDEN", "message",
                            why));
        if (!c) {
            close(fd);
            return;
        }
        /* Kept until its request is read: closing over unread bytes would reset
         * the connection and lose the answer before the peer reads it. */
        shutdown(fd, SHUT_WR);
    } else if (!c) {
        reply(fd, json_pack("{s:b,s:{s:s,s:s}}", "ok", 0, "error", "code", "BUSY", "message",
                            "too many admin connections"));
        close(fd);
        return;
    }
    c->fd = fd;
    c->len = 0;
    c->drain_waiter = false;
    c->refused = !allowed;
}

static void *run(void *arg)
{
    struct cn_admin_server *s = arg;
    struct pollfd pf[MAX_CLIENTS + 2];
    while (!atomic_load_explicit(&s->stop, memory_order_acquire)) {
        pf[0] = (struct pollfd){.fd = s->wake[0], .events = POLLIN};
        pf[1] = (struct pollfd){.fd = s->fd, .events = POLLIN};
        for (int i = 0; i < MAX_CLIENTS; i++)
            pf[i + 2] = (struct pollfd){.fd = s->clients[i].fd, .events = POLLIN};
        if (poll(pf, MAX_CLIENTS + 2, -1) < 0)
            continue; /* EINTR */
        if (pf[1].revents & POLLIN)
            accept_client(s);
        for (int i = 0; i < MAX_CLIENTS; i++) {
            struct client *c = &s->clients[i];
            if (c->fd < 0 || !(pf[i + 2].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, MSG_DONTWAIT);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (r <= 0) {
                drop(c);
                continue;
            }
            c->len += (size_t)r;
            if (c->refused) {
                bool line = memchr(c->buf, '\n', c->len) != NULL;
                c->len = 0;
                if (line)
                    drop(c);
                continue;
            }
            if (!handle_lines(s, c))
                drop(c);
        }
    }
    return NULL;
}

int cn_admin_start(struct cn_admin_server *s, cn_admin_dispatch_fn dispatch, void *ctx)
{
    s->dispatch = dispatch;
    s->dispatch_ctx = ctx;
    if (pipe2(s->wake, O_CLOEXEC | O_NONBLOCK) != 0)
        return -errno;
    int rc = pthread_create(&s->thread, NULL, run, s);
    if (rc != 0)
        return -rc;
    s->started = true;
    return 0;
}

void cn_admin_server_close(struct cn_admin_server *s)
{
    if (!s || s->closed)
        return;
    s->closed = true;
    if (s->started) {
        atomic_store_explicit(&s->stop, true, memory_order_release);
        ssize_t w = write(s->wake[1], "x", 1);
        (void)w;
        pthread_join(s->thread, NULL);
    }
    for (int i = 0; i < MAX_CLIENTS; i++) {
        struct client *c = &s->clients[i];
        if (c->fd < 0)
            continue;
        if (c->drain_waiter)
            reply(c->fd, json_pack("{s:s}", "event", "stopped"));
        drop(c);
    }
    for (int i = 0; i < 2; i++)
        if (s->wake[i] >= 0)
            close(s->wake[i]);
    close(s->fd);
    struct stat st;
    if (stat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
        unlink(s->path);
}

void cn_admin_server_free(struct cn_admin_server *s)
{
    if (!s)
        return;
    cn_admin_server_close(s);
    free(s);
}
