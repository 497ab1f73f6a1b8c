/* One pool connection's libpq state machine; see pg_pool_conn.h.
 *
 * libpq in non-blocking mode: PQconnectStartParams + PQconnectPoll to connect,
 * PQsend* + PQflush to send (PQflush returning 1 means "watch POLLOUT"), and
 * PQconsumeInput + PQisBusy + PQgetResult to read, so a call here never waits on the
 * network. A command's results end with a NULL from PQgetResult; a lost connection
 * shows as PQconsumeInput/PQflush failing or PQstatus turning CONNECTION_BAD. */
#include "io/pg_pool_conn.h"

#include <stdio.h>
#include <string.h>

#include "base/log.h"

void cn__pg_conn_init(struct cn__pg_conn *c, int id, bool use_prepare, size_t max_stmts)
{
    memset(c, 0, sizeof *c);
    c->id = id;
    c->state = CN__PG_DOWN;
    c->use_prepare = use_prepare;
    cn__pg_stmt_init(&c->stmts, max_stmts);
}

/* Records "host:port: first line of why" as the connection's last error. */
static void set_err(struct cn__pg_conn *c, const char *why)
{
    const char *host = c->pg ? PQhost(c->pg) : NULL;
    const char *port = c->pg ? PQport(c->pg) : NULL;
    size_t n = strcspn(why, "\n");
    snprintf(c->err, sizeof c->err, "%s:%s: %.*s", host && *host ? host : "localhost",
             port && *port ? port : "5432", (int)n, why);
}

/* Server notices (e.g. "table does not exist, skipping") would otherwise go to
 * stderr from libpq's default processor. */
static void on_notice(void *arg, const char *msg)
{
    struct cn__pg_conn *c = arg;
    size_t n = strcspn(msg, "\n");
    CN_DEBUG("postgres", "connection %d: %.*s", c->id, (int)n, msg);
}

static void go_down(struct cn__pg_conn *c)
{
    if (c->pg)
        PQfinish(c->pg);
    c->pg = NULL;
    c->state = CN__PG_DOWN;
    c->flushing = false;
    c->preparing = false;
    /* Prepared statements died with the session. */
    cn__pg_stmt_clear(&c->stmts);
}

void cn__pg_conn_close(struct cn__pg_conn *c)
{
    PQclear(c->res);
    c->res = NULL;
    go_down(c);
}

unsigned cn__pg_conn_connect(struct cn__pg_conn *c, const char *const *kw, const char *const *val,
                             uint64_t now_ns, int timeout_ms)
{
    c->pg = PQconnectStartParams(kw, val, 1);
    if (!c->pg) { /* defensive: libpq could not allocate its connection object */
        snprintf(c->err, sizeof c->err, "libpq: out of memory");
        return CN__PG_EV_CONNECT_FAILED;
    }
    if (PQstatus(c->pg) == CONNECTION_BAD) {
        set_err(c, PQerrorMessage(c->pg));
        go_down(c);
        return CN__PG_EV_CONNECT_FAILED;
    }
    c->state = CN__PG_CONNECTING;
    /* PQconnectStart behaves as if PQconnectPoll had asked to wait for writing. */
    c->connect_want = PGRES_POLLING_WRITING;
    c->connect_timeout_ms = timeout_ms;
    c->connect_deadline_ns = now_ns + (uint64_t)timeout_ms * 1000000u;
    return 0;
}

bool cn__pg_conn_pollfd(const struct cn__pg_conn *c, struct pollfd *pfd)
{
    if (c->state == CN__PG_DOWN || !c->pg || PQsocket(c->pg) < 0)
        return false;
    pfd->fd = PQsocket(c->pg); /* may change while connecting (next address) */
    pfd->revents = 0;
    switch (c->state) {
    case CN__PG_CONNECTING:
        pfd->events = c->connect_want == PGRES_POLLING_READING ? POLLIN : POLLOUT;
        break;
    case CN__PG_BUSY:
        pfd->events = POLLIN | (c->flushing ? POLLOUT : 0);
        break;
    default:
        /* IDLE: the server may still speak (termination, notices): read it. */
        pfd->events = POLLIN;
        break;
    }
    return true;
}

unsigned cn__pg_conn_tick(struct cn__pg_conn *c, uint64_t now_ns)
{
    if (c->state != CN__PG_CONNECTING || now_ns < c->connect_deadline_ns)
        return 0;
    char why[64];
    snprintf(why, sizeof why, "no answer within %d ms", c->connect_timeout_ms);
    set_err(c, why);
    go_down(c);
    return CN__PG_EV_CONNECT_FAILED;
}

/* The request on the connection fails without a result (or with the error result it
 * already has): the reply gets `state` and the connection's last error. */
static void fail_req(struct cn__pg_conn *c, const char *state, const char *msg)
{
    if (c->res && PQresultStatus(c->res) != PGRES_FATAL_ERROR) {
        PQclear(c->res);
        c->res = NULL;
    }
    snprintf(c->fail_state, sizeof c->fail_state, "%s", state);
    c->fail_msg = msg;
}

/* The connection is unusable: record why, fail the request still running on it (one
 * that has just finished keeps its result), go DOWN. */
static unsigned broken(struct cn__pg_conn *c)
{
    set_err(c, c->pg ? PQerrorMessage(c->pg) : "connection lost");
    unsigned ev = CN__PG_EV_BROKEN;
    if (c->req && c->state == CN__PG_BUSY) {
        fail_req(c, CN_PG_SQLSTATE_CONN_FAILURE, c->err);
        ev |= CN__PG_EV_DONE;
    }
    go_down(c);
    return ev;
}

static unsigned flush(struct cn__pg_conn *c)
{
    int f = PQflush(c->pg);
    if (f < 0)
        return broken(c);
    c->flushing = f == 1;
    return 0;
}

/* Sends the EXECUTE step of the request on the connection. */
static unsigned send_exec(struct cn__pg_conn *c)
{
    struct cn__pg_req *q = c->req;
    const char *name = c->use_prepare ? cn__pg_stmt_find(&c->stmts, q->sql, q->sql_hash) : NULL;
    int sent = name ? PQsendQueryPrepared(c->pg, name, q->nparams, q->params, NULL, NULL, 0)
                    : PQsendQueryParams(c->pg, q->sql, q->nparams, NULL, q->params, NULL, NULL, 0);
    if (!sent)
        return broken(c); /* a refused send leaves libpq's state unknown: reset */
    return CN__PG_EV_EXECUTED | flush(c);
}

unsigned cn__pg_conn_send(struct cn__pg_conn *c, struct cn__pg_req *q)
{
    c->req = q;
    c->res = NULL;
    c->state = CN__PG_BUSY;
    c->preparing = false;
    c->fail_state[0] = '\0';
    c->fail_msg = NULL;
    if (c->use_prepare && !cn__pg_stmt_find(&c->stmts, q->sql, q->sql_hash) &&
        cn__pg_stmt_next_name(&c->stmts, c->prep_name)) {
        /* nParams 0 and no types: the server infers them, as for an unnamed query. */
        if (!PQsendPrepare(c->pg, c->prep_name, q->sql, 0, NULL))
            return broken(c);
        c->preparing = true;
        return CN__PG_EV_PREPARED | flush(c);
    }
    return send_exec(c);
}

/* Keeps the result that decides the reply: the first error wins, else the last. */
static void keep(struct cn__pg_conn *c, PGresult *r)
{
    if (c->res && PQresultStatus(c->res) == PGRES_FATAL_ERROR) {
        PQclear(r);
        return;
    }
    PQclear(c->res);
    c->res = r;
}

static bool res_state_is(const PGresult *r, const char *state)
{
    const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    return s && strcmp(s, state) == 0;
}

/* The current step's results are complete (PQgetResult gave NULL). */
static unsigned step_done(struct cn__pg_conn *c)
{
    struct cn__pg_req *q = c->req;
    if (c->preparing) {
        c->preparing = false;
        if (c->res && PQresultStatus(c->res) == PGRES_COMMAND_OK) {
            cn__pg_stmt_add(&c->stmts, q->sql, q->sql_hash, c->prep_name);
            PQclear(c->res);
            c->res = NULL;
            return send_exec(c);
        }
        /* The PREPARE failed (syntax error, unknown table): that is the answer. */
    } else if (res_state_is(c->res, "26000") || res_state_is(c->res, "0A000")) {
        /* The named statement is gone (DEALLOCATE, DISCARD) or its plan went stale
         * after a schema change ("cached plan must not change result type"):
         * prepare it afresh next time. */
        cn__pg_stmt_remove(&c->stmts, q->sql, q->sql_hash);
    }
    c->state = CN__PG_IDLE;
    return CN__PG_EV_DONE;
}

/* Reads every result that is complete; detects the end of the step and breakage. */
static unsigned collect(struct cn__pg_conn *c, bool lost)
{
    unsigned ev = 0;
    while (c->state == CN__PG_BUSY && !PQisBusy(c->pg)) {
        PGresult *r = PQgetResult(c->pg);
        if (!r) {
            ev |= step_done(c);
            continue; /* a PREPARE step is followed by its EXECUTE step */
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
            /* Defensive: the pool has no COPY API; leaving COPY mode cleanly would
             * need the data, so the connection is reset instead. */
            PQclear(r);
            unsigned b = broken(c);
            snprintf(c->fail_state, sizeof c->fail_state, "%s", CN_PG_SQLSTATE_UNSUPPORTED);
            c->fail_msg = "COPY is not supported by the connection pool";
            return ev | b;
        }
        keep(c, r);
    }
    if (c->state == CN__PG_DOWN)
        return ev; /* send_exec broke it */
    if (lost || PQstatus(c->pg) == CONNECTION_BAD) {
        /* A request still BUSY fails; one that just finished keeps its result. */
        ev |= broken(c);
    }
    return ev;
}

unsigned cn__pg_conn_ready(struct cn__pg_conn *c, short revents)
{
    switch (c->state) {
    case CN__PG_DOWN:
        return 0;
    case CN__PG_CONNECTING: {
        if (!revents)
            return 0;
        PostgresPollingStatusType st = PQconnectPoll(c->pg);
        if (st == PGRES_POLLING_OK) {
            if (PQsetnonblocking(c->pg, 1) != 0) {
                set_err(c, PQerrorMessage(c->pg));
                go_down(c);
                return CN__PG_EV_CONNECT_FAILED;
            }
            PQsetNoticeProcessor(c->pg, on_notice, c);
            c->state = CN__PG_IDLE;
            return CN__PG_EV_CONNECTED;
        }
        if (st == PGRES_POLLING_FAILED) {
            set_err(c, PQerrorMessage(c->pg));
            go_down(c);
            return CN__PG_EV_CONNECT_FAILED;
        }
        c->connect_want = st;
        return 0;
    }
    case CN__PG_IDLE: {
        if (!revents)
            return 0;
        if (!PQconsumeInput(c->pg) || PQstatus(c->pg) == CONNECTION_BAD)
            return broken(c);
        for (PGnotify *n; (n = PQnotifies(c->pg)) != NULL;)
            PQfreemem(n); /* no LISTEN API: drop them so they do not pile up */
        return 0;
    }
    case CN__PG_BUSY: {
        if (c->flushing && (revents & (POLLOUT | POLLIN | POLLERR | POLLHUP))) {
            unsigned ev = flush(c);
            if (ev)
                return ev;
        }
        bool lost = false;
        if (revents & (POLLIN | POLLERR | POLLHUP))
            lost = !PQconsumeInput(c->pg);
        return collect(c, lost);
    }
    }
    return 0;
}

struct cn__pg_req *cn__pg_conn_take(struct cn__pg_conn *c, PGresult **res, const char **sqlstate,
                                    const char **msg)
{
    struct cn__pg_req *q = c->req;
    *res = c->res;
    *sqlstate = c->fail_state[0] ? c->fail_state : CN_PG_SQLSTATE_CONN_FAILURE;
    *msg = c->fail_msg ? c->fail_msg : c->err;
    c->req = NULL;
    c->res = NULL;
    return q;
}
