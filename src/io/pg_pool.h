/* The PostgreSQL adapter: a small pool of non-blocking libpq connections driven by
 * one thread of its own, so that no actor and no I/O thread ever waits on the
 * database.
 *
 * Any thread submits a query with cn_pg_pool_query; the request travels through a
 * cn_inbox (one eventfd wake-up per burst) to the pool thread, which queues it FIFO,
 * sends it on the first free connection, and posts the answer to the caller's actor
 * as a struct cn_pg_reply. Each distinct SQL text is prepared once per connection
 * (PQsendPrepare) and then executed by name, because the REST handlers issue the
 * same few statements over and over; the cache is bounded so ad-hoc SQL cannot grow
 * it without limit (beyond the bound a statement runs unnamed).
 *
 * Failure model: a query that cannot be queued (queue full, pool stopping, bad
 * arguments) is refused synchronously with a negative errno and no reply. Every
 * accepted query gets exactly one reply, whatever happens afterwards: the server's
 * error, a broken connection (the query is not retried: it may have had effects),
 * a queue wait over the per-query deadline, or cn_pg_pool_close. A broken connection
 * reconnects on its own with exponential backoff; outages are logged once per
 * transition, not once per query.
 *
 * Order: dispatch is FIFO, but with several connections two queries may complete in
 * either order. A caller that needs order waits for one reply before sending the next.
 *
 * Pipeline mode (one round trip for a batch, for the persistence consumer) is not
 * built yet: a batch would be one more request kind holding several statements,
 * sent by the same connection state machine between two pipeline syncs. */
#ifndef CN_IO_PG_POOL_H
#define CN_IO_PG_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "actors/runtime/runtime.h"
#include "io/pg_rows.h"

struct cn_pg_pool;

/* SQLSTATEs of errors the pool makes itself (the server's own pass through). */
#define CN_PG_SQLSTATE_CONN_FAILURE "08006" /* the connection broke under the query */
#define CN_PG_SQLSTATE_UNAVAILABLE  "08001" /* queue deadline passed with no connection up */
#define CN_PG_SQLSTATE_STOPPING     "08003" /* cn_pg_pool_close with the query still pending */
#define CN_PG_SQLSTATE_TIMEOUT      "57014" /* queue deadline passed, connections all busy */
#define CN_PG_SQLSTATE_UNSUPPORTED  "0A000" /* e.g. COPY: the connection is reset */

struct cn_pg_pool_opts {
    const char *url;              /* libpq URI or key=value string; borrowed, copied */
    int size;                     /* connections, 1..64 */
    int max_queue;                /* accepted but unsent queries; 0 = 10,000 */
    int query_timeout_ms;         /* longest queue wait of one query; 0 = 5,000 */
    int connect_timeout_ms;       /* one connection attempt, and the start-up wait; 0 = 5,000 */
    int backoff_min_ms;           /* first reconnect delay; 0 = 100 */
    int backoff_max_ms;           /* reconnect delay cap (doubling); 0 = 5,000 */
    int no_prepare;               /* 1 = never prepare: every query runs unnamed */
    const char *application_name; /* shown in pg_stat_activity; NULL = "chat-node" */
};

/* Starts a pool with the defaults above and `size` connections. See
 * cn_pg_pool_start_opts. */
struct cn_pg_pool *cn_pg_pool_start(const char *url, int size, char *err, size_t errlen);

/* Validates `o` (borrowed), starts the pool thread and connects every connection,
 * waiting at most connect_timeout_ms. Returns the pool once at least one connection
 * is up (the others keep retrying in the background), or NULL with a one-line
 * reason in `err` (which names host:port, never the password) when the options are
 * invalid or no connection came up in time. The caller owns the pool: it closes it
 * with cn_pg_pool_close and frees it with cn_pg_pool_free. Any thread; blocks at
 * most about connect_timeout_ms + 1 s. */
struct cn_pg_pool *cn_pg_pool_start_opts(const struct cn_pg_pool_opts *o, char *err, size_t errlen);

/* Shutdown is two steps, so that actors may call the pool at any time until the
 * runtime has stopped:
 *
 * cn_pg_pool_close: from now on cn_pg_pool_query returns -ESHUTDOWN (no reply), and
 * every query still queued or in flight gets its error reply (sqlstate
 * CN_PG_SQLSTATE_STOPPING; an in-flight query's outcome on the server is unknown)
 * before its actor reference is dropped. The pool thread is joined and the
 * connections are closed, but the memory stays: any thread may keep calling
 * cn_pg_pool_query (-ESHUTDOWN) and cn_pg_pool_stats. Call it while the actor runtime
 * runs (replies are sent to actors). Owner thread; idempotent; NULL is a no-op.
 * Cannot fail.
 *
 * cn_pg_pool_free: frees everything. The caller makes sure no thread can call into
 * the pool any more: the actor runtime has shut down and other submitters are joined.
 * A pool not closed yet is closed first, which is right only while the runtime still
 * runs (close sends to actors). Owner thread; NULL is a no-op. Cannot fail. */
void cn_pg_pool_close(struct cn_pg_pool *p);
void cn_pg_pool_free(struct cn_pg_pool *p);

/* Submits one statement. Any thread. Copies `sql` and the `nparams` text-format
 * parameters (a NULL entry is SQL NULL; `params` may be NULL when nparams is 0).
 * `reply_to` is borrowed: the caller holds a reference during the call, and the
 * pool keeps its own (cn_actor_ref) until the reply is sent. The reply is a struct
 * cn_pg_reply with hdr.type = msg_type and tag = `tag`; the receiving behaviour owns
 * it and frees it with cn_msg_free.
 * Returns 0 (exactly one reply will follow), or, with no reply:
 *   -EINVAL     NULL pool/actor/sql, empty sql, nparams outside 0..65535, or NULL params
 *               with nparams > 0;
 *   -EAGAIN     the queue holds max_queue queries already (back off or answer 503);
 *   -ESHUTDOWN  the pool is closed (cn_pg_pool_close). */
int cn_pg_pool_query(struct cn_pg_pool *p, cn_actor *reply_to, uint32_t msg_type, uint64_t tag,
                     const char *sql, int nparams, const char *const *params);

/* A short static text for a cn_pg_pool_query return code. Cannot fail. */
const char *cn_pg_pool_strerror(int rc);

/* The answer to one query. */
struct cn_pg_reply {
    cn_msg hdr;
    uint64_t tag;
    struct cn_pg_rows *rows; /* the rows of a successful statement (none for a command);
                                NULL on failure. Owned by the message (pg_rows.h) */
    int ok;                  /* 1 = res is a successful result */
    char sqlstate[6];        /* "" when ok */
    char error[256];         /* first line of the primary message, client-safe; "" when ok */
    uint64_t latency_ns;     /* submit to reply, queue wait included */
};

/* Latency buckets (upper bounds in microseconds, Prometheus `le`); one more bucket,
 * the last, counts everything above the largest bound (+Inf). */
#define CN_PG_LATENCY_BUCKETS 13
extern const uint64_t cn_pg_latency_bounds_us[CN_PG_LATENCY_BUCKETS];

struct cn_pg_pool_stats {
    uint64_t queries;    /* statements sent to the server (prepares not counted) */
    uint64_t prepares;   /* PQsendPrepare calls */
    uint64_t errors;     /* replies with ok = 0 */
    uint64_t reconnects; /* successful connects after the first one of a connection */
    uint64_t in_flight;  /* sent, awaiting the server */
    uint64_t queued;     /* accepted, not yet sent */
    uint64_t rejected;   /* refused with -EAGAIN (queue full) */
    uint64_t timeouts;   /* failed after waiting past the queue deadline */
    uint64_t conns_up;   /* connections ready or busy right now */
    uint64_t conns_total;
    /* Replies by latency: bucket i counts latencies <= bound i and > bound i-1 (not
     * cumulative); bucket CN_PG_LATENCY_BUCKETS is +Inf. */
    uint64_t latency_buckets[CN_PG_LATENCY_BUCKETS + 1];
    uint64_t latency_sum_ns;
    uint64_t latency_count;
};

/* Fills `out` (caller memory) with counters read one by one (no global lock, so sums
 * may be off by in-flight work). Any thread until cn_pg_pool_free; cannot fail. */
void cn_pg_pool_stats(struct cn_pg_pool *p, struct cn_pg_pool_stats *out);

#endif
