/* One statement on a connection of its own; see admin_pg.h. */
#include "io/admin_pg.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Type oids whose text is a JSON number or boolean (pg_type.h is server-side). */
enum { OID_BOOL = 16, OID_INT8 = 20, OID_INT2 = 21, OID_INT4 = 23 };

static json_t *value(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return json_null();
    const char *text = PQgetvalue(r, row, col);
    switch (PQftype(r, col)) {
    case OID_BOOL:
        return json_boolean(text[0] == 't');
    case OID_INT8:
    case OID_INT2:
    case OID_INT4:
        return json_integer(strtoll(text, NULL, 10));
    default:
        return json_string(text);
    }
}

/* The first line of libpq's message (they end with a newline, some have a second). */
static void first_line(char *err, size_t errlen, const char *what, const char *msg)
{
    snprintf(err, errlen, "%s: %s", what, msg && *msg ? msg : "unknown error");
    char *nl = strchr(err, '\n');
    if (nl)
        *nl = '\0';
}

json_t *cn_admin_pg_query(const char *url, const char *sql, int nparams, const char *const *params,
                          int timeout_ms, char *err, size_t errlen)
{
    char connect_s[16], options[64];
    snprintf(connect_s, sizeof connect_s, "%d", timeout_ms / 1000 > 0 ? timeout_ms / 1000 : 1);
    snprintf(options, sizeof options, "-c statement_timeout=%d", timeout_ms);
    /* expand_dbname: `url` may be a URI or a key=value string; the later keys add to it. */
    const char *const keys[] = {"dbname", "connect_timeout", "options", "application_name", NULL};
    const char *const vals[] = {url, connect_s, options, "chat-node admin", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        first_line(err, errlen, "PostgreSQL", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    PGresult *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
    json_t *rows = NULL;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        first_line(err, errlen, "PostgreSQL", PQresultErrorMessage(r));
    } else {
        rows = json_array();
        for (int i = 0; i < PQntuples(r); i++) {
            json_t *row = json_object();
            for (int j = 0; j < PQnfields(r); j++)
                json_object_set_new(row, PQfname(r, j), value(r, i, j));
            json_array_append_new(rows, row);
        }
    }
    PQclear(r);
    PQfinish(c);
    return rows;
}
