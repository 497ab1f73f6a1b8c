/* The start-up schema check: a node refuses to serve a database that lacks a migration
 * this build knows (schema/NNNN_name.sql, listed at configure time in schema_version.h),
 * since its statements would fail on the first request that needs the missing tables or
 * columns. A database with more migrations than the build knows is accepted: during a
 * rolling upgrade the old nodes keep serving after the new version migrated.
 *
 * Memory: nothing is kept; one libpq connection is opened and closed per call. */
#ifndef CN_IO_PG_SCHEMA_H
#define CN_IO_PG_SCHEMA_H

#include <stddef.h>

/* Which of this build's migrations `applied` (the versions recorded in
 * schema_migrations, any order) lacks: returns the index in cn_schema_migrations of the
 * first missing one, or -1 when none is. Pure; for the unit test. */
int cn_schema_first_missing(const int *applied, size_t n);

/* Reads schema_migrations at `url` and returns 0 when every migration this build knows
 * is applied, else -1 with a one-line reason in err, e.g. "schema is at 0005, this node
 * needs 0006 (0006_room_access.sql is missing): run chat-node-migrate". Never quotes
 * the URL (it may hold a password). */
int cn_pg_schema_check(const char *url, char *err, size_t errlen);

#endif
