/* GET /api/rooms/{id}/messages?cursor={id}&size={n}: newest first, keyset
 * pagination on message id, so a page never repeats or skips a message while
 * new ones arrive (they only ever get larger ids). One statement fetches size+1
 * rows: the extra row only says whether there is a next page. */
#include <stdio.h>
#include <stdlib.h>

#include "base/xmalloc.h"
#include "io/pg_pool.h"
#include "actors/sql/queries.h"
#include "actors/rest/rest_request.h"
#include "actors/rest/rest_rows.h"
#include "proto/json_responses.h"

void rest_history_step(struct cn_rest_req *req, cn_msg *m)
{
    if (req->step == 0) {
        req->step = 1;
        rest_sql_ids(req, CN_SQL_ROOM_HISTORY, 4,
                     (int64_t[]){req->user_id, req->room_id, req->cursor, req->size});
        return;
    }
    struct cn_pg_reply *r = (struct cn_pg_reply *)m;
    if (!r->ok) {
        rest_reply_sql_error(req, r->sqlstate, r->error);
        cn_msg_free(m);
        return;
    }
    struct cn_pg_rows *res = r->rows;
    if (!cn_pg_rows_bool(res, 0, "room_exists")) {
        rest_reply_error(req, 404, "ROOM_NOT_FOUND", "no such room");
    } else if (!cn_pg_rows_bool(res, 0, "is_member")) {
        rest_reply_error(req, 403, "NOT_A_MEMBER", "you are not a member of this room");
    } else {
        int rows = cn_pg_rows_count(res);
        /* An empty page is one row of NULL message columns. */
        if (rows == 1 && !cn_pg_rows_str(res, 0, "id"))
            rows = 0;
        bool has_next = rows > req->size;
        int n = has_next ? req->size : rows;
        struct cn_message *msgs = cn_xcalloc((size_t)n + 1, sizeof *msgs);
        for (int i = 0; i < n; i++)
            rest_row_message(res, i, &msgs[i]);
        int64_t next = has_next ? msgs[n - 1].id : 0;
        json_t *v = cn_json_history_page(msgs, (size_t)n, next, has_next);
        free(msgs);
        rest_reply_json(req, 200, v);
    }
    cn_msg_free(m);
}
