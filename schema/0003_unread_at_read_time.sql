-- 0003_unread_at_read_time: a member's unread count is counted when it is read (the
-- room's messages after last_read_message_id that the member did not send) instead of
-- being kept in chat_room_members.unread_count.
-- Why: keeping it cost one row update per stored message and other member (nine per
-- message in a room of ten, 4,999 in a room of 5,000), most of PostgreSQL's work under
-- live traffic; counting costs a short index range when a room list is read.

-- A member who never sent a read receipt counted only what arrived after joining: that
-- is now where their read position starts.
UPDATE chat_room_members m
   SET last_read_message_id = (SELECT max(x.id) FROM messages x
                                WHERE x.room_id = m.room_id AND x.created_at < m.joined_at)
 WHERE m.last_read_message_id IS NULL;

ALTER TABLE chat_room_members DROP COLUMN unread_count;

-- The count reads (room_id, id) and sender_id from the index alone (once vacuum has
-- marked the pages all-visible), as do history pages and each room's last message.
DROP INDEX messages_room_id_desc_idx;
CREATE INDEX messages_room_id_desc_idx ON messages (room_id, id DESC) INCLUDE (sender_id);
