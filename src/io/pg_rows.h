/* The rows of a PostgreSQL answer, read by column name: what the PostgreSQL adapter
 * hands the chat actors instead of a libpq result, so that no code above src/io
 * includes libpq (tests/check_layers.py).
 *
 * A value is read by the column's name as the statement spells it (an `AS` alias in
 * src/actors/sql/queries.sql); a column the statement does not have reads as SQL NULL,
 * so a renamed column shows as a missing value in a test, never as a crash. Values are
 * PostgreSQL's text format.
 *
 * Memory: a struct cn_pg_rows belongs to the struct cn_pg_reply that carries it and
 * goes with that message; a caller that keeps it longer takes it out of the reply
 * (sets the reply's `rows` to NULL) and frees it with cn_pg_rows_free. Strings read
 * from it are borrowed and live as long as the rows. Any thread (a rows value is
 * read by one actor at a time). */
#ifndef CN_IO_PG_ROWS_H
#define CN_IO_PG_ROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cn_pg_rows;

/* Rows in the answer; 0 for NULL (a failed statement) or a command without rows. */
int cn_pg_rows_count(const struct cn_pg_rows *rows);

/* The text of column `col` in row `row`, or NULL when the value is SQL NULL, the
 * column does not exist or row is out of range. */
const char *cn_pg_rows_str(const struct cn_pg_rows *rows, int row, const char *col);

/* The byte length of that text; 0 when cn_pg_rows_str is NULL. */
size_t cn_pg_rows_len(const struct cn_pg_rows *rows, int row, const char *col);

/* The value as a base-10 integer; 0 when NULL or absent. */
int64_t cn_pg_rows_i64(const struct cn_pg_rows *rows, int row, const char *col);

/* True when the value is the boolean true ('t'); false when false, NULL or absent. */
bool cn_pg_rows_bool(const struct cn_pg_rows *rows, int row, const char *col);

/* Frees rows taken out of a reply. NULL is a no-op. */
void cn_pg_rows_free(struct cn_pg_rows *rows);

/* Builds rows without a server, for fake adapters in tests: `ncols` column names and
 * `nrows` * `ncols` values in row order (a NULL value is SQL NULL). Everything is
 * copied. Cannot fail (out of memory aborts). */
struct cn_pg_rows *cn_pg_rows_make(int ncols, const char *const *names, int nrows,
                                   const char *const *values);

#endif
