/* PostgreSQL rows to chat structs; see rest_rows.h. */
#include "actors/rest/rest_rows.h"

#include <stdlib.h>
#include <string.h>

static int64_t time_or_null(const struct cn_pg_rows *r, int row, const char *col)
{
    /* The renderers take a negative time as JSON null. */
    return cn_pg_rows_str(r, row, col) ? cn_pg_rows_i64(r, row, col) : -1;
}

void rest_row_user(const struct cn_pg_rows *r, int row, struct cn_user *u)
{
    u->id = cn_pg_rows_i64(r, row, "id");
    u->email = cn_pg_rows_str(r, row, "email");
    u->nickname = cn_pg_rows_str(r, row, "nickname");
    u->status = cn_pg_rows_str(r, row, "status");
    if (!u->status)
        u->status = "OFFLINE";
    u->last_seen_at_ms = time_or_null(r, row, "last_seen_at_ms");
}

static void fill_message(const struct cn_pg_rows *r, int row, const char *const cols[9],
                         struct cn_message *m)
{
    memset(m, 0, sizeof *m);
    m->id = cn_pg_rows_i64(r, row, cols[0]);
    m->message_key = cn_pg_rows_str(r, row, cols[1]);
    m->room_id = cn_pg_rows_i64(r, row, cols[2]);
    m->sender_id = cn_pg_rows_i64(r, row, cols[3]);
    m->sender_nickname = cn_pg_rows_str(r, row, cols[4]);
    if (!m->sender_nickname)
        m->sender_nickname = "";
    m->sender_nickname_len = strlen(m->sender_nickname);
    m->content = cn_pg_rows_str(r, row, cols[5]);
    if (!m->content)
        m->content = "";
    m->content_len = cn_pg_rows_len(r, row, cols[5]);
    const char *type = cn_pg_rows_str(r, row, cols[6]);
    if (!type || cn_message_type_parse(type, strlen(type), &m->type) != 0)
        m->type = CN_MSG_TEXT;
    m->created_at_ms = cn_pg_rows_i64(r, row, cols[7]);
    m->position = cn_pg_rows_i64(r, row, cols[8]);
}

void rest_row_message(const struct cn_pg_rows *r, int row, struct cn_message *m)
{
    static const char *const cols[9] = {"id",        "message_key",     "room_id",
                                        "sender_id", "sender_nickname", "content",
                                        "type",      "created_at_ms",   "kafka_offset"};
    fill_message(r, row, cols, m);
}

void rest_row_room(const struct cn_pg_rows *r, int row, struct cn_room *room, struct cn_message *lm,
                   struct cn_user *peer)
{
    memset(room, 0, sizeof *room);
    const char *vis = cn_pg_rows_str(r, row, "visibility");
    if (!vis || cn_room_visibility_parse(vis, strlen(vis), &room->visibility) != 0)
        room->visibility = CN_ROOM_PRIVATE; /* defensive: the column is NOT NULL, checked */
    room->peer = NULL;
    if (cn_pg_rows_str(r, row, "peer_id")) {
        peer->id = cn_pg_rows_i64(r, row, "peer_id");
        peer->email = NULL; /* another user's email is never shown */
        peer->nickname = cn_pg_rows_str(r, row, "peer_nickname");
        peer->status = cn_pg_rows_str(r, row, "peer_status");
        if (!peer->status)
            peer->status = "OFFLINE";
        peer->last_seen_at_ms = time_or_null(r, row, "peer_last_seen_at_ms");
        room->peer = peer;
    }
    room->id = cn_pg_rows_i64(r, row, "id");
    room->name = cn_pg_rows_str(r, row, "name");
    const char *type = cn_pg_rows_str(r, row, "type");
    room->type = type && strcmp(type, "DIRECT") == 0 ? CN_ROOM_DIRECT : CN_ROOM_GROUP;
    room->created_by = cn_pg_rows_i64(r, row, "created_by");
    room->created_at_ms = cn_pg_rows_i64(r, row, "created_at_ms");
    room->member_count = cn_pg_rows_i64(r, row, "member_count");
    room->unread_count = cn_pg_rows_i64(r, row, "unread_count");
    room->last_message = NULL;
    if (cn_pg_rows_str(r, row, "last_msg_id")) {
        static const char *const cols[9] = {"last_msg_id",
                                            "last_msg_key",
                                            "id",
                                            "last_msg_sender_id",
                                            "last_msg_sender_nickname",
                                            "last_msg_content",
                                            "last_msg_type",
                                            "last_msg_created_at_ms",
                                            "last_msg_kafka_offset"};
        fill_message(r, row, cols, lm);
        lm->room_id = room->id;
        room->last_message = lm;
    }
}

size_t rest_parse_ids(const char *text, int64_t *out, size_t max)
{
    size_t n = 0;
    for (const char *p = text ? text : ""; *p && n < max;) {
        if (*p >= '0' && *p <= '9') {
            char *end;
            out[n++] = strtoll(p, &end, 10);
            p = end;
        } else {
            p++;
        }
    }
    return n;
}
