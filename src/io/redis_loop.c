/* poll()-based event hooks for hiredis async contexts; see redis_loop.h. */
#include "io/redis_loop.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "actors/runtime/inbox.h"

/* The hooks only record interest: the next run_once builds its pollfd set from it.
 * They are idempotent, as hiredis requires. */
static void add_read(void *p)
{
    ((struct cn__redis_watch *)p)->reading = true;
}

static void del_read(void *p)
{
    ((struct cn__redis_watch *)p)->reading = false;
}

static void add_write(void *p)
{
    ((struct cn__redis_watch *)p)->writing = true;
}

static void del_write(void *p)
{
    ((struct cn__redis_watch *)p)->writing = false;
}

static void cleanup(void *p)
{
    struct cn__redis_watch *w = p;
    w->ac = NULL;
    w->reading = w->writing = false;
    w->gen++;
}

int cn__redis_loop_init(struct cn__redis_loop *l)
{
    memset(l, 0, sizeof *l);
    l->wakefd = cn_wakefd_new();
    return l->wakefd < 0 ? l->wakefd : 0;
}

void cn__redis_loop_close(struct cn__redis_loop *l)
{
    if (l->wakefd >= 0)
        close(l->wakefd);
    l->wakefd = -1;
}

void cn__redis_loop_attach(struct cn__redis_loop *l, int slot, redisAsyncContext *ac)
{
    struct cn__redis_watch *w = &l->slot[slot];
    w->ac = ac;
    w->reading = w->writing = false;
    w->gen++;
    ac->ev.data = w;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
}

int cn__redis_loop_run_once(struct cn__redis_loop *l, int timeout_ms, bool *woken)
{
    struct pollfd pfd[1 + CN__REDIS_LOOP_SLOTS];
    int idx[CN__REDIS_LOOP_SLOTS];
    uint64_t gen[CN__REDIS_LOOP_SLOTS];
    nfds_t n = 0;
    pfd[n++] = (struct pollfd){.fd = l->wakefd, .events = POLLIN};
    for (int i = 0; i < CN__REDIS_LOOP_SLOTS; i++) {
        struct cn__redis_watch *w = &l->slot[i];
        idx[i] = -1;
        if (!w->ac || w->ac->c.fd < 0)
            continue;
        idx[i] = (int)n;
        gen[i] = w->gen;
        pfd[n++] = (struct pollfd){
            .fd = w->ac->c.fd,
            .events = (short)((w->reading ? POLLIN : 0) | (w->writing ? POLLOUT : 0))};
    }
    *woken = false;
    int rc = poll(pfd, n, timeout_ms);
    if (rc < 0)
        return errno == EINTR ? 0 : -errno;
    if (pfd[0].revents & POLLIN) {
        cn_wakefd_clear(l->wakefd);
        *woken = true;
    }
    for (int i = 0; i < CN__REDIS_LOOP_SLOTS; i++) {
        if (idx[i] < 0)
            continue;
        short ev = pfd[idx[i]].revents;
        struct cn__redis_watch *w = &l->slot[i];
        /* Error and hang-up are reported even when we asked for nothing; hiredis
         * finds out what happened from the read or write that follows. A callback
         * run by the read may have freed the context: the generation says so. */
        if ((ev & (POLLIN | POLLERR | POLLHUP)) && w->gen == gen[i] && (w->reading || !w->writing))
            redisAsyncHandleRead(w->ac);
        if ((ev & (POLLOUT | POLLERR | POLLHUP)) && w->gen == gen[i] && w->writing)
            redisAsyncHandleWrite(w->ac);
    }
    return 0;
}
