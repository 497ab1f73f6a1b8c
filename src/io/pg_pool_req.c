/* Requests and replies of the PostgreSQL pool; see pg_pool_req.h. */
#include "io/pg_pool_req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"
#include "io/pg_pool_stmt.h"

/* free_fn of a request that is dropped without a reply: only by cn_inbox_destroy,
 * which the pool reaches with an empty inbox, so this is a defensive path. */
static void req_free(cn_msg *m)
{
    struct cn__pg_req *q = (struct cn__pg_req *)m;
    cn_actor_unref(q->reply_to);
    free(q);
}

struct cn__pg_req *cn__pg_req_new(cn_actor *reply_to, uint32_t msg_type, uint64_t tag,
                                  const char *sql, int nparams, const char *const *params,
                                  uint64_t now_ns, uint64_t timeout_ns)
{
    size_t sql_len = strlen(sql) + 1;
    size_t size = sizeof(struct cn__pg_req) + (size_t)nparams * sizeof(char *) + sql_len;
    for (int i = 0; i < nparams; i++)
        if (params[i])
            size += strlen(params[i]) + 1;

    struct cn__pg_req *q = cn_xmalloc(size);
    cn_msg_init(&q->hdr, 0, req_free);
    q->next = NULL;
    cn_actor_ref(reply_to);
    q->reply_to = reply_to;
    q->msg_type = msg_type;
    q->tag = tag;
    q->submit_ns = now_ns;
    q->deadline_ns = now_ns + timeout_ns;
    q->nparams = nparams;

    /* Layout: struct, parameter pointers, SQL text, parameter texts. */
    char **pv = (char **)(q + 1);
    char *text = (char *)(pv + nparams);
    memcpy(text, sql, sql_len);
    q->sql = text;
    q->sql_hash = cn__pg_stmt_hash(text);
    text += sql_len;
    for (int i = 0; i < nparams; i++) {
        if (!params[i]) {
            pv[i] = NULL;
            continue;
        }
        size_t n = strlen(params[i]) + 1;
        memcpy(text, params[i], n);
        pv[i] = text;
        text += n;
    }
    q->params = (const char *const *)pv;
    return q;
}

static void reply_free(cn_msg *m)
{
    struct cn_pg_reply *r = (struct cn_pg_reply *)m;
    cn_pg_rows_free(r->rows);
    free(r);
}

/* Copies the first line of `s` into dst: libpq texts may span lines (DETAIL, HINT,
 * the query position), and only the first is meant for a client. */
static void first_line(char *dst, size_t cap, const char *s)
{
    size_t n = strcspn(s, "\n");
    snprintf(dst, cap, "%.*s", (int)n, s);
}

int cn__pg_req_reply(struct cn__pg_req *q, PGresult *res, const char *sqlstate, const char *msg,
                     uint64_t now_ns, uint64_t *latency_ns)
{
    struct cn_pg_reply *r = cn_xcalloc(1, sizeof *r);
    cn_msg_init(&r->hdr, q->msg_type, reply_free);
    r->tag = q->tag;
    r->latency_ns = now_ns > q->submit_ns ? now_ns - q->submit_ns : 0;
    *latency_ns = r->latency_ns;

    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (res && (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)) {
        r->rows = (struct cn_pg_rows *)res; /* see pg_rows.c */
        r->ok = 1;
    } else {
        const char *state = NULL, *primary = NULL;
        if (res && st == PGRES_EMPTY_QUERY) {
            state = "42601";
            primary = "empty query";
        } else if (res) {
            state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
            if (!primary)
                primary = PQresultErrorMessage(res);
        }
        snprintf(r->sqlstate, sizeof r->sqlstate, "%s",
                 state && *state ? state : (sqlstate ? sqlstate : CN_PG_SQLSTATE_CONN_FAILURE));
        first_line(r->error, sizeof r->error,
                   primary && *primary ? primary : (msg && *msg ? msg : "database error"));
        PQclear(res);
    }
    int ok = r->ok;
    cn_actor *to = q->reply_to;
    free(q);
    /* -ESHUTDOWN (the actor stopped meanwhile) already freed the reply. */
    (void)cn_actor_send(to, &r->hdr);
    cn_actor_unref(to);
    return ok;
}
