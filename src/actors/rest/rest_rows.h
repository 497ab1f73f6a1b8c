/* Reading PostgreSQL result rows into the proto layer's chat structs, by column
 * name, so the SQL (src/actors/sql/queries.sql) and the renderers agree on one set of
 * names:
 *   user:    id, email, nickname, status, last_seen_at_ms
 *   message: id, message_key, room_id, sender_id, sender_nickname, content, type,
 *            created_at_ms, kafka_offset
 *   room:    id, name, type, created_by, created_at_ms, member_count, unread_count,
 *            and the last message as last_msg_id, last_msg_key, last_msg_sender_id,
 *            last_msg_sender_nickname, last_msg_content, last_msg_type,
 *            last_msg_created_at_ms, last_msg_kafka_offset (all NULL without one),
 *            visibility, and a direct room's peer as peer_id, peer_nickname, peer_status,
 *            peer_last_seen_at_ms (all NULL for a group)
 * (the ROOM and MESSAGE column sets documented at the top of src/actors/sql/queries.sql)
 * Times are Unix milliseconds (bigint). A missing column reads as NULL/0.
 *
 * Memory: the filled structs borrow strings from the rows; keep them alive
 * until the JSON is rendered. */
#ifndef CN_ACTORS_REST_REST_ROWS_H
#define CN_ACTORS_REST_REST_ROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/pg_rows.h"
#include "proto/chat_types.h"

void rest_row_user(const struct cn_pg_rows *r, int row, struct cn_user *u);
void rest_row_message(const struct cn_pg_rows *r, int row, struct cn_message *m);
/* Fills room; its last message goes to *lm and room->last_message points at it
 * (or is NULL when last_msg_id is NULL); likewise the peer goes to *peer and
 * room->peer points at it (or is NULL when peer_id is NULL). */
void rest_row_room(const struct cn_pg_rows *r, int row, struct cn_room *room, struct cn_message *lm,
                   struct cn_user *peer);

/* Reads a bigint[] in text form ("{1,2,3}"; NULL or "{}" is empty) into at most max ids.
 * Returns the count. */
size_t rest_parse_ids(const char *text, int64_t *out, size_t max);

#endif
