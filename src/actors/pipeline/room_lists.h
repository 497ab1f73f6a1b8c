/* The cached room lists (rooms:{userId}, kept by GET /api/rooms) that the pipelines
 * drop after a change that shows in them: a stored message, an applied read. */
#ifndef CN_ACTORS_PIPELINE_ROOM_LISTS_H
#define CN_ACTORS_PIPELINE_ROOM_LISTS_H

#include <stdint.h>

#include "io/pg_rows.h"
#include "io/redis_client.h"

/* Sends one DEL rooms:{id} ... for the user ids in column `col` of every row of `rows`
 * (both borrowed), fire and forget: a lost DEL leaves lists that expire by their TTL.
 * Returns the number of keys when Redis accepted the command, 0 when there was none to
 * delete or it was refused. Any thread; cannot fail. */
uint64_t cn__room_lists_drop(struct cn_redis *redis, const struct cn_pg_rows *rows,
                             const char *col);

#endif
