/* The per-connection prepared-statement cache; see pg_pool_stmt.h.
 *
 * Chained hashing over a fixed bucket array: the cache is small (a few hundred
 * entries at most) and lookups compare the full text only when the 64-bit hashes
 * match, so a lookup costs one hash of the SQL and usually one strcmp. */
#include "io/pg_pool_stmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"

uint64_t cn__pg_stmt_hash(const char *sql)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (const unsigned char *s = (const unsigned char *)sql; *s; s++) {
        h ^= *s;
        h *= 0x100000001b3u;
    }
    return h;
}

void cn__pg_stmt_init(struct cn__pg_stmt_cache *c, size_t max)
{
    memset(c, 0, sizeof *c);
    c->max = max;
}

const char *cn__pg_stmt_find(const struct cn__pg_stmt_cache *c, const char *sql, uint64_t hash)
{
    for (const struct cn__pg_stmt *e = c->bucket[hash & (CN__PG_STMT_BUCKETS - 1)]; e; e = e->next)
        if (e->hash == hash && strcmp(e->sql, sql) == 0)
            return e->name;
    return NULL;
}

bool cn__pg_stmt_next_name(struct cn__pg_stmt_cache *c, char *name)
{
    if (c->count >= c->max)
        return false;
    snprintf(name, CN__PG_STMT_NAME, "cn_%llu", (unsigned long long)c->next_id++);
    return true;
}

void cn__pg_stmt_add(struct cn__pg_stmt_cache *c, const char *sql, uint64_t hash, const char *name)
{
    size_t len = strlen(sql);
    struct cn__pg_stmt *e = cn_xmalloc(sizeof *e + len + 1);
    e->hash = hash;
    snprintf(e->name, sizeof e->name, "%s", name);
    memcpy(e->sql, sql, len + 1);
    struct cn__pg_stmt **head = &c->bucket[hash & (CN__PG_STMT_BUCKETS - 1)];
    e->next = *head;
    *head = e;
    c->count++;
}

void cn__pg_stmt_remove(struct cn__pg_stmt_cache *c, const char *sql, uint64_t hash)
{
    for (struct cn__pg_stmt **pp = &c->bucket[hash & (CN__PG_STMT_BUCKETS - 1)]; *pp;
         pp = &(*pp)->next) {
        struct cn__pg_stmt *e = *pp;
        if (e->hash == hash && strcmp(e->sql, sql) == 0) {
            *pp = e->next;
            free(e);
            c->count--;
            return;
        }
    }
}

void cn__pg_stmt_clear(struct cn__pg_stmt_cache *c)
{
    for (size_t i = 0; i < CN__PG_STMT_BUCKETS; i++) {
        struct cn__pg_stmt *e = c->bucket[i];
        while (e) {
            struct cn__pg_stmt *next = e->next;
            free(e);
            e = next;
        }
        c->bucket[i] = NULL;
    }
    c->count = 0;
}
