/* Dropping cached room lists (see room_lists.h). */
#include "actors/pipeline/room_lists.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/xmalloc.h"

uint64_t cn__room_lists_drop(struct cn_redis *redis, const struct cn_pg_rows *rows, const char *col)
{
    int n = cn_pg_rows_count(rows);
    if (n <= 0)
        return 0;
    char(*keys)[32] = cn_xmalloc((size_t)n * sizeof *keys);
    const char **argv = cn_xmalloc(((size_t)n + 1) * sizeof *argv);
    argv[0] = "DEL";
    for (int i = 0; i < n; i++) {
        snprintf(keys[i], sizeof keys[i], "rooms:%" PRId64, cn_pg_rows_i64(rows, i, col));
        argv[i + 1] = keys[i];
    }
    int rc = cn_redis_command(redis, NULL, 0, 0, n + 1, argv, NULL);
    free(argv);
    free(keys);
    return rc == 0 ? (uint64_t)n : 0;
}
