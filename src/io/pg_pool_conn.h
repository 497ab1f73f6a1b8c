/* One connection of the PostgreSQL pool: a non-blocking libpq state machine.
 *
 *   DOWN --connect--> CONNECTING --PQconnectPoll OK--> IDLE --send--> BUSY --result--> IDLE
 *     ^                   |  (failed or past its deadline)            |  (broken)
 *     +-------------------+-------------------------------------------+
 *
 * A request runs in one or two steps: PREPARE (first use of its SQL text on this
 * connection, when the statement cache has room) and EXECUTE (by name, or unnamed
 * with PQsendQueryParams). Each step is one command: the pool never has more than one
 * command outstanding per connection outside pipeline mode, so results always belong
 * to the request on the connection.
 *
 * The machine never decides policy: it reports what happened as a mask of
 * CN__PG_EV_* bits and the pool thread replies, counts, logs and schedules
 * reconnects. Threads: the pool thread only. Memory: the connection owns its PGconn,
 * its statement cache and, while BUSY, the request and the partial result. */
#ifndef CN_IO_PG_POOL_CONN_H
#define CN_IO_PG_POOL_CONN_H

#include <libpq-fe.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "io/pg_pool_req.h"
#include "io/pg_pool_stmt.h"

enum cn__pg_conn_state { CN__PG_DOWN, CN__PG_CONNECTING, CN__PG_IDLE, CN__PG_BUSY };

enum {
    CN__PG_EV_CONNECTED = 1u << 0,      /* CONNECTING -> IDLE */
    CN__PG_EV_CONNECT_FAILED = 1u << 1, /* CONNECTING -> DOWN; reason in err */
    CN__PG_EV_DONE = 1u << 2,           /* the request finished: take it with cn__pg_conn_take */
    CN__PG_EV_BROKEN = 1u << 3,         /* IDLE/BUSY -> DOWN; reason in err. With a request on
                                           the connection, EV_DONE is set too */
    CN__PG_EV_PREPARED = 1u << 4,       /* a PQsendPrepare went out (for the stats) */
    CN__PG_EV_EXECUTED = 1u << 5,       /* a statement went out (for the stats) */
};

struct cn__pg_conn {
    int id;
    enum cn__pg_conn_state state;
    PGconn *pg;
    PostgresPollingStatusType connect_want; /* CONNECTING: what PQconnectPoll waits for */
    uint64_t connect_deadline_ns;           /* CONNECTING: give up then */
    int connect_timeout_ms;

    struct cn__pg_req *req; /* BUSY: the request on the wire */
    bool preparing;         /* BUSY: its PREPARE step is on the wire */
    char prep_name[CN__PG_STMT_NAME];
    PGresult *res;        /* BUSY: result kept for the current step */
    bool flushing;        /* BUSY: libpq still holds output: watch POLLOUT */
    char fail_state[6];   /* EV_DONE without a result: SQLSTATE for the reply */
    const char *fail_msg; /* ... and its message (err or a static text) */

    char err[256]; /* last connection-level error, "host:port: reason" */

    /* Pool bookkeeping (the machine never reads these). */
    uint64_t retry_at_ns;
    int backoff_ms;
    bool ever_up;
    bool attempted; /* first connection attempt finished (start-up wait) */
    bool outage_logged;
    uint64_t down_since_ns;
    unsigned failed_attempts;

    struct cn__pg_stmt_cache stmts;
    bool use_prepare;
};

/* Initialises a DOWN connection in caller memory. Cannot fail. */
void cn__pg_conn_init(struct cn__pg_conn *c, int id, bool use_prepare, size_t max_stmts);

/* Starts connecting with the libpq keyword/value arrays (borrowed, used during the
 * call only; expand_dbname is on). Returns 0 (now CONNECTING) or
 * CN__PG_EV_CONNECT_FAILED (still DOWN, reason in err). DOWN only. */
unsigned cn__pg_conn_connect(struct cn__pg_conn *c, const char *const *kw, const char *const *val,
                             uint64_t now_ns, int timeout_ms);

/* Fills *pfd with the descriptor and events to poll for and returns true, or returns
 * false when there is nothing to wait for (DOWN). Cannot fail. */
bool cn__pg_conn_pollfd(const struct cn__pg_conn *c, struct pollfd *pfd);

/* Handles poll readiness `revents` (0 is allowed: just re-checks). Returns
 * CN__PG_EV_* bits. */
unsigned cn__pg_conn_ready(struct cn__pg_conn *c, short revents);

/* CONNECTING past its deadline fails (CN__PG_EV_CONNECT_FAILED); otherwise 0. */
unsigned cn__pg_conn_tick(struct cn__pg_conn *c, uint64_t now_ns);

/* Puts `q` (taken) on an IDLE connection and sends its first step. Returns
 * CN__PG_EV_* bits: PREPARED/EXECUTED for what went out, or DONE (+ BROKEN) when
 * libpq refused to send. */
unsigned cn__pg_conn_send(struct cn__pg_conn *c, struct cn__pg_req *q);

/* After EV_DONE: hands over the finished request, its result (may be NULL; then
 * *sqlstate and *msg say why, valid until the next call on c). The connection is
 * IDLE again unless it also reported EV_BROKEN. */
struct cn__pg_req *cn__pg_conn_take(struct cn__pg_conn *c, PGresult **res, const char **sqlstate,
                                    const char **msg);

/* Closes the libpq connection and clears the statement cache: DOWN. A request still
 * on it must have been taken first. Cannot fail. */
void cn__pg_conn_close(struct cn__pg_conn *c);

#endif
