/* GET /api/rooms/public?q=&cursor=&size=: the open public rooms whose name starts with q
 * (case-insensitively; no q: all of them), by name, a page at a time. One statement
 * (public_rooms_search) reads size + 1 rows of chat_rooms_public_name_idx in its order:
 * the extra row only says whether there is a next page, whose cursor is the id of the
 * page's last room. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/rest/rest_request.h"
#include "actors/sql/queries.h"
#include "base/xmalloc.h"
#include "io/pg_pool.h"
#include "proto/json_responses.h"

void rest_public_rooms_step(struct cn_rest_req *req, cn_msg *m)
{
    if (req->step == 0) {
        char uid[24], cursor[24], size[16];
        snprintf(uid, sizeof uid, "%lld", (long long)req->user_id);
        snprintf(cursor, sizeof cursor, "%lld", (long long)req->cursor);
        snprintf(size, sizeof size, "%d", req->size);
        const char *params[] = {uid, req->q ? req->q : "", req->cursor > 0 ? cursor : NULL, size};
        req->step = 1;
        rest_sql(req, CN_SQL_PUBLIC_ROOMS_SEARCH, 4, params);
        return;
    }
    struct cn_pg_reply *r = rest_pg_ok(req, m);
    if (!r)
        return;
    int rows = cn_pg_rows_count(r->rows);
    bool has_next = rows > req->size;
    int n = has_next ? req->size : rows;
    struct cn_public_room *rooms = cn_xcalloc((size_t)n + 1, sizeof *rooms);
    for (int i = 0; i < n; i++) {
        rooms[i].id = cn_pg_rows_i64(r->rows, i, "id");
        rooms[i].name = cn_pg_rows_str(r->rows, i, "name");
        rooms[i].created_by = cn_pg_rows_i64(r->rows, i, "created_by");
        rooms[i].created_at_ms = cn_pg_rows_i64(r->rows, i, "created_at_ms");
        rooms[i].member_count = cn_pg_rows_i64(r->rows, i, "member_count");
        rooms[i].is_member = cn_pg_rows_bool(r->rows, i, "is_member");
    }
    json_t *v =
        cn_json_public_rooms_page(rooms, (size_t)n, has_next ? rooms[n - 1].id : 0, has_next);
    free(rooms);
    rest_reply_json(req, 200, v);
    cn_msg_free(m);
}
