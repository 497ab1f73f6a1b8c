/* The prepared-statement cache of one pool connection: SQL text -> statement name.
 *
 * Statements live in the server session, so the cache belongs to one connection and
 * is cleared whenever that connection is replaced. It is bounded: past `max` entries
 * nothing more is added and the caller runs the statement unnamed, so a stream of
 * ad-hoc SQL cannot grow server or client memory without limit.
 *
 * Threads: the pool thread only. Memory: entries own a copy of their SQL text. */
#ifndef CN_IO_PG_POOL_STMT_H
#define CN_IO_PG_POOL_STMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CN__PG_STMT_BUCKETS 256 /* power of two */
#define CN__PG_STMT_NAME    24

struct cn__pg_stmt {
    struct cn__pg_stmt *next; /* bucket chain */
    uint64_t hash;
    char name[CN__PG_STMT_NAME];
    char sql[]; /* NUL-terminated copy */
};

struct cn__pg_stmt_cache {
    struct cn__pg_stmt *bucket[CN__PG_STMT_BUCKETS];
    size_t count;
    size_t max;
    uint64_t next_id; /* names are never reused within one session */
};

/* FNV-1a 64 of the NUL-terminated `sql`. Cannot fail. */
uint64_t cn__pg_stmt_hash(const char *sql);

/* Initialises an empty cache in caller memory holding at most `max` entries. */
void cn__pg_stmt_init(struct cn__pg_stmt_cache *c, size_t max);

/* The name `sql` (borrowed) was prepared under, or NULL. Cannot fail. */
const char *cn__pg_stmt_find(const struct cn__pg_stmt_cache *c, const char *sql, uint64_t hash);

/* Writes a fresh statement name into `name` (CN__PG_STMT_NAME bytes) and returns
 * true, or returns false when the cache is full (run the statement unnamed). */
bool cn__pg_stmt_next_name(struct cn__pg_stmt_cache *c, char *name);

/* Records that `sql` (copied) is prepared as `name`. The caller made sure it is not
 * cached yet and that the cache is not full. Cannot fail. */
void cn__pg_stmt_add(struct cn__pg_stmt_cache *c, const char *sql, uint64_t hash, const char *name);

/* Forgets `sql` (the server says its statement is gone or stale). No-op if absent. */
void cn__pg_stmt_remove(struct cn__pg_stmt_cache *c, const char *sql, uint64_t hash);

/* Frees every entry; the cache is empty and usable again. Cannot fail. */
void cn__pg_stmt_clear(struct cn__pg_stmt_cache *c);

#endif
