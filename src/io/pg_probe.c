/* PostgreSQL reachability probe; see pg_probe.h. */
#include "pg_probe.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"

struct cn_pg_probe {
    char *url;
    int timeout_ms;
    PGconn *conn;
};

struct cn_pg_probe *cn_pg_probe_new(const char *url, int timeout_ms)
{
    struct cn_pg_probe *p = cn_xcalloc(1, sizeof *p);
    p->url = cn_xstrdup(url);
    p->timeout_ms = timeout_ms;
    return p;
}

/* libpq messages end in a newline and may span lines; keep the first line. */
static void first_line(char *err, size_t errlen, const char *prefix, const char *msg)
{
    size_t n = strcspn(msg, "\n");
    snprintf(err, errlen, "%s%.*s", prefix, (int)n, msg);
}

static int connect_now(struct cn_pg_probe *p, char *err, size_t errlen)
{
    char timeout[16];
    /* connect_timeout has one-second granularity and 0 means "forever". */
    int secs = p->timeout_ms / 1000;
    snprintf(timeout, sizeof timeout, "%d", secs < 1 ? 1 : secs);
    const char *kw[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *val[] = {p->url, timeout, "chat-node", NULL};
    p->conn = PQconnectdbParams(kw, val, 1);
    if (PQstatus(p->conn) != CONNECTION_OK) {
        first_line(err, errlen, "postgres: ", PQerrorMessage(p->conn));
        PQfinish(p->conn);
        p->conn = NULL;
        return -1;
    }
    return 0;
}

int cn_pg_probe_check(struct cn_pg_probe *p, char *err, size_t errlen)
{
    if (!p->conn && connect_now(p, err, errlen) != 0)
        return -1;
    PGresult *res = PQexec(p->conn, "SELECT 1");
    int ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok)
        first_line(err, errlen, "postgres: ", PQerrorMessage(p->conn));
    PQclear(res);
    if (!ok) {
        /* Drop the broken connection; the next check reconnects from scratch. */
        PQfinish(p->conn);
        p->conn = NULL;
        return -1;
    }
    return 0;
}

void cn_pg_probe_free(struct cn_pg_probe *p)
{
    if (!p)
        return;
    if (p->conn)
        PQfinish(p->conn);
    free(p->url);
    free(p);
}
