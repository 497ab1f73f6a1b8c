/* One PostgreSQL statement for the admin thread, answered as JSON rows: the admin
 * commands that need the database (chat-admin user, the nicknames of the sessions
 * listing) are rare and may block, so they take a connection of their own for one
 * statement rather than a place in the node's pools, which serve the clients.
 *
 * Blocking: connects (connect_timeout), runs the statement under statement_timeout,
 * disconnects. Admin thread only; never an I/O thread or a worker.
 *
 * Memory: the returned array is new and the caller's (json_decref). */
#ifndef CN_IO_ADMIN_PG_H
#define CN_IO_ADMIN_PG_H

#include <jansson.h>
#include <stddef.h>

/* Runs `sql` (parameters in text format, NULL for SQL NULL) on a new connection to
 * `url`. Returns an array with one object per row, column name -> value (integer and
 * boolean columns as JSON integers and booleans, NULL as null, the rest as strings),
 * or NULL with a one-line reason in err. timeout_ms bounds the connect and the
 * statement each. */
json_t *cn_admin_pg_query(const char *url, const char *sql, int nparams, const char *const *params,
                          int timeout_ms, char *err, size_t errlen);

#endif
