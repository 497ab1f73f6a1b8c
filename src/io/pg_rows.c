/* Rows of a PostgreSQL answer; see pg_rows.h. A struct cn_pg_rows is a libpq
 * PGresult under another name: the cast lives here and in pg_pool_req.c only. */
#include "io/pg_rows.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"

static const PGresult *res_of(const struct cn_pg_rows *rows)
{
    return (const PGresult *)rows;
}

int cn_pg_rows_count(const struct cn_pg_rows *rows)
{
    return rows ? PQntuples(res_of(rows)) : 0;
}

/* The column index of `col` in a row that exists, or -1 (absent, NULL or no row). */
static int cell(const struct cn_pg_rows *rows, int row, const char *col)
{
    if (!rows || row < 0 || row >= PQntuples(res_of(rows)))
        return -1;
    int c = PQfnumber(res_of(rows), col);
    if (c < 0 || PQgetisnull(res_of(rows), row, c))
        return -1;
    return c;
}

const char *cn_pg_rows_str(const struct cn_pg_rows *rows, int row, const char *col)
{
    int c = cell(rows, row, col);
    return c < 0 ? NULL : PQgetvalue(res_of(rows), row, c);
}

size_t cn_pg_rows_len(const struct cn_pg_rows *rows, int row, const char *col)
{
    int c = cell(rows, row, col);
    return c < 0 ? 0 : (size_t)PQgetlength(res_of(rows), row, c);
}

int64_t cn_pg_rows_i64(const struct cn_pg_rows *rows, int row, const char *col)
{
    const char *v = cn_pg_rows_str(rows, row, col);
    return v ? strtoll(v, NULL, 10) : 0;
}

bool cn_pg_rows_bool(const struct cn_pg_rows *rows, int row, const char *col)
{
    const char *v = cn_pg_rows_str(rows, row, col);
    return v && v[0] == 't';
}

void cn_pg_rows_free(struct cn_pg_rows *rows)
{
    PQclear((PGresult *)rows);
}

struct cn_pg_rows *cn_pg_rows_make(int ncols, const char *const *names, int nrows,
                                   const char *const *values)
{
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    if (!res)
        cn_oom(0);
    PGresAttDesc *atts = cn_xcalloc((size_t)(ncols > 0 ? ncols : 1), sizeof *atts);
    for (int c = 0; c < ncols; c++) {
        atts[c].name = (char *)names[c]; /* copied by PQsetResultAttrs */
        atts[c].format = 0;              /* text */
        atts[c].typid = 25;              /* text: callers read every value as text */
        atts[c].typlen = -1;
        atts[c].atttypmod = -1;
    }
    if (!PQsetResultAttrs(res, ncols, atts))
        cn_oom(0);
    free(atts);
    for (int r = 0; r < nrows; r++) {
        for (int c = 0; c < ncols; c++) {
            const char *v = values[(size_t)r * (size_t)ncols + (size_t)c];
            /* A length of -1 makes the value SQL NULL. */
            if (!PQsetvalue(res, r, c, (char *)v, v ? (int)strlen(v) : -1))
                cn_oom(0);
        }
    }
    return (struct cn_pg_rows *)res;
}
