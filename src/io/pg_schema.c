/* See pg_schema.h. */
#include "pg_schema.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"
#include "schema_version.h"

int cn_schema_first_missing(const int *applied, size_t n)
{
    for (int i = 0; i < CN_SCHEMA_MIGRATION_COUNT; i++) {
        bool found = false;
        for (size_t j = 0; j < n && !found; j++)
            found = applied[j] == cn_schema_migrations[i].version;
        if (!found)
            return i;
    }
    return -1;
}

int cn_pg_schema_check(const char *url, char *err, size_t errlen)
{
    const char *kw[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *val[] = {url, "10", "chat-node", NULL};
    PGconn *conn = PQconnectdbParams(kw, val, 1);
    if (PQstatus(conn) != CONNECTION_OK) {
        const char *msg = PQerrorMessage(conn);
        snprintf(err, errlen, "schema check: postgres: %.*s", (int)strcspn(msg, "\n"), msg);
        PQfinish(conn);
        return -1;
    }
    PGresult *res = PQexec(conn, "SELECT version FROM schema_migrations ORDER BY version");
    int rc = 0;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        /* 42P01 undefined_table: a database never migrated, so none is applied. */
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (!state || strcmp(state, "42P01") != 0) {
            const char *msg = PQerrorMessage(conn);
            snprintf(err, errlen, "schema check: postgres: %.*s", (int)strcspn(msg, "\n"), msg);
            rc = -1;
        }
    }
    size_t n = PQresultStatus(res) == PGRES_TUPLES_OK ? (size_t)PQntuples(res) : 0;
    int *applied = cn_xcalloc(n ? n : 1, sizeof *applied);
    int highest = 0;
    for (size_t i = 0; i < n; i++) {
        applied[i] = atoi(PQgetvalue(res, (int)i, 0));
        if (applied[i] > highest)
            highest = applied[i];
    }
    PQclear(res);
    PQfinish(conn);
    int missing = rc == 0 ? cn_schema_first_missing(applied, n) : -1;
    free(applied);
    if (missing >= 0) {
        const int need = cn_schema_migrations[CN_SCHEMA_MIGRATION_COUNT - 1].version;
        snprintf(err, errlen,
                 "schema is at %04d, this node needs %04d (%s is missing): run "
                 "chat-node-migrate (ops/migrate) first",
                 highest, need, cn_schema_migrations[missing].file);
        rc = -1;
    }
    return rc;
}
