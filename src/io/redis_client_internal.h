/* The Redis adapter's state, shared by its files: redis_client.c (the thread, the
 * command connection, the public calls) and redis_client_pubsub.c (the subscriber
 * connection). Not for use outside the adapter.
 *
 * Fields marked "loop" belong to the adapter thread alone; atomics are statistics
 * or hints read by any thread (see each one's comment for its ordering). */
#ifndef CN_IO_REDIS_CLIENT_INTERNAL_H
#define CN_IO_REDIS_CLIENT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "actors/runtime/inbox.h"
#include "io/redis_client.h"
#include "io/redis_client_subs.h"
#include "io/redis_loop.h"

/* Messages the adapter thread receives through its inbox. */
enum {
    CN__REDIS_MSG_CMD = 1,
    CN__REDIS_MSG_SUB,
    CN__REDIS_MSG_UNSUB,
    CN__REDIS_MSG_STOP,
};

/* A submitted command: RESP bytes formatted by the submitting thread, then (loop) the
 * hiredis privdata of the command until its reply. */
struct cn__redis_cmd {
    cn_msg hdr;
    struct cn__redis_cmd *next; /* loop: in-flight FIFO (replies come in order) */
    cn_actor *reply_to;         /* one reference held; NULL = fire and forget */
    uint32_t msg_type;
    uint64_t tag;
    uint64_t sent_ns; /* loop: when it was handed to hiredis */
    char *resp;       /* from redisFormatCommandArgv; freed once hiredis copied it */
    int resp_len;
};

/* A subscribe or unsubscribe request. */
struct cn__redis_subreq {
    cn_msg hdr;
    cn_actor *actor; /* SUB: one reference held (handed to the registry); UNSUB: identity only */
    uint32_t msg_type;
    size_t len;
    char channel[];
};

/* DOWN -> CONNECTING (TCP) -> HELLO (first command sent) -> UP (answered). A TCP
 * connect alone proves little (a dying server still completes handshakes from its
 * backlog), so a connection counts as up only once Redis answered on it. */
enum cn__redis_conn_state { CN__CONN_DOWN = 0, CN__CONN_CONNECTING, CN__CONN_HELLO, CN__CONN_UP };

/* One connection and its reconnect schedule. Loop only. */
struct cn__redis_conn {
    struct cn_redis *r;
    const char *name; /* "command" or "subscriber", for logs */
    int slot;         /* in r->loop */
    redisAsyncContext *ac;
    enum cn__redis_conn_state state;
    uint64_t next_attempt_ns;     /* DOWN: when to try again */
    uint64_t connect_deadline_ns; /* CONNECTING, HELLO: give up after */
    int backoff_ms;               /* the wait after the next failure */
    bool was_up;                  /* it has been up before (so the next up is a reconnect) */
    /* Why the adapter itself is dropping the connection (a timeout, stop): reported
     * to pending commands instead of hiredis's own error text. */
    const char *drop_reason;
    void (*hello)(struct cn__redis_conn *c); /* sends the first command; its answer
                                                calls cn__redis_conn_ready */
    void (*on_up)(struct cn__redis_conn *c);
    void (*on_down)(struct cn__redis_conn *c, const char *why);
};

struct cn_redis {
    struct cn_redis_config cfg; /* host points at host_copy */
    char *host_copy;
    pthread_t thread;
    cn_inbox inbox;
    struct cn__redis_loop loop;
    char down_error[128]; /* the fail-fast text; immutable after start */

    /* Written by the loop on every transition (release), read by any thread
     * (acquire): a hint only, nothing else is published through them. */
    atomic_bool up, sub_up;

    /* Statistics: relaxed, they publish nothing. */
    _Atomic uint64_t commands, replies_ok, errors, failed_fast, timeouts, connect_failures,
        reconnects, outages, pubsub_received, pubsub_delivered, sub_reconnects, channels;
    /* Submitted and not answered: incremented by submitters, decremented by the
     * loop; relaxed, it bounds memory and publishes nothing. */
    _Atomic uint64_t pending;

    /* cn_redis_wait_up sleeps here; the loop broadcasts on each up/down change. */
    pthread_mutex_t mu;
    pthread_cond_t cond;

    /* Loop only. */
    bool stopping;
    struct cn__redis_conn cmd, sub;
    struct cn__redis_cmd *fifo_head, *fifo_tail;
    bool in_outage;
    uint64_t outage_start_ns;
    struct cn__redis_subs subs;
};

/* redis_client.c: the shared connection machinery, all on the adapter thread.
 *
 * cn__redis_conn_set_flag stores `value` into `flag` (r->up or r->sub_up) and wakes
 * cn_redis_wait_up. Cannot fail.
 * cn__redis_conn_ready: the connection's hello command was answered; marks it UP
 * and runs its on_up. Cannot fail.
 * cn__redis_conn_reject: the hello command was refused; drops the connection with
 * `why` (static text) from inside a hiredis callback (hiredis defers the free until
 * the callback returns, then on_disconnect runs). Cannot fail. */
void cn__redis_conn_set_flag(struct cn_redis *r, atomic_bool *flag, bool value);
void cn__redis_conn_ready(struct cn__redis_conn *c);
void cn__redis_conn_reject(struct cn__redis_conn *c, const char *why);

/* redis_client_pubsub.c, all on the adapter thread except where said.
 *
 * cn__redis_pubsub_init sets up the registry and the subscriber connection's hooks
 * (called by cn_redis_start_config before the thread starts). Cannot fail.
 * cn__redis_pubsub_handle applies a subscribe/unsubscribe request (taken). Cannot fail.
 * cn__redis_pubsub_free drops every subscription and its actor reference, once the
 * subscriber connection is gone. Cannot fail. */
void cn__redis_pubsub_init(struct cn_redis *r);
void cn__redis_pubsub_handle(struct cn_redis *r, struct cn__redis_subreq *req);
void cn__redis_pubsub_free(struct cn_redis *r);

#endif
