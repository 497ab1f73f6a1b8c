/* A poll() event loop for hiredis async contexts, on the one thread that owns them.
 *
 * hiredis's async API does no I/O waiting of its own: it asks an "event library"
 * to watch its socket through five hooks (ev.addRead/delRead/addWrite/delWrite/
 * cleanup) and expects redisAsyncHandleRead/Write to be called when the socket is
 * ready. hiredis ships such glue for libevent, libuv and ae; this is ours, a few
 * dozen lines instead of a new dependency. Besides the contexts it polls one
 * eventfd through which other threads wake the loop (actors/runtime/inbox.h).
 *
 * The loop has a fixed number of slots, one per connection the client keeps.
 * Threads: everything here runs on the owner thread only. */
#ifndef CN_IO_REDIS_LOOP_H
#define CN_IO_REDIS_LOOP_H

#include <hiredis/async.h>
#include <stdbool.h>
#include <stdint.h>

#define CN__REDIS_LOOP_SLOTS 2

struct cn__redis_watch {
    redisAsyncContext *ac; /* NULL when the slot is free (cleared by hiredis's cleanup hook) */
    bool reading, writing; /* what hiredis asked us to watch */
    uint64_t gen;          /* bumped on attach and cleanup: tells a reused slot apart */
};

struct cn__redis_loop {
    int wakefd; /* eventfd, readable when another thread woke the loop */
    struct cn__redis_watch slot[CN__REDIS_LOOP_SLOTS];
};

/* Creates the wake eventfd; every slot starts free. Returns 0 or -errno. */
int cn__redis_loop_init(struct cn__redis_loop *l);

/* Closes the eventfd. Every context must have been freed first. Cannot fail. */
void cn__redis_loop_close(struct cn__redis_loop *l);

/* Installs the event hooks of `ac` (borrowed; hiredis frees it) in free slot `slot`.
 * Must come before redisAsyncSetConnectCallback, which asks for the first write
 * event. The slot frees itself when hiredis frees the context. Cannot fail. */
void cn__redis_loop_attach(struct cn__redis_loop *l, int slot, redisAsyncContext *ac);

/* Waits up to timeout_ms (-1 = no limit) for a socket or the eventfd, then lets
 * hiredis read and write; hiredis runs the reply, connect and disconnect callbacks
 * from here. Sets *woken when the eventfd fired (and clears it). Returns 0, or -errno
 * when poll() itself fails (EINTR counts as 0). */
int cn__redis_loop_run_once(struct cn__redis_loop *l, int timeout_ms, bool *woken);

#endif
