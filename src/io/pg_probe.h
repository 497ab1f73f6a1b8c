/* PostgreSQL reachability probe: one libpq connection kept open and checked with
 * `SELECT 1`, reconnected when it breaks. Used at start-up and by the health
 * checker; the request path uses the connection pool, not this.
 *
 * Memory: the probe owns its PGconn; cn_pg_probe_free closes it. One thread at a time. */
#ifndef CN_IO_PG_PROBE_H
#define CN_IO_PG_PROBE_H

#include <stddef.h>

struct cn_pg_probe;

/* Borrows url (copied). Does not connect yet. Cannot fail. */
struct cn_pg_probe *cn_pg_probe_new(const char *url, int timeout_ms);

/* Connects if needed and runs SELECT 1. Returns 0, or -1 with a one-line reason
 * (never containing the password) in err. Blocks at most about timeout_ms. */
int cn_pg_probe_check(struct cn_pg_probe *p, char *err, size_t errlen);

void cn_pg_probe_free(struct cn_pg_probe *p);

#endif
