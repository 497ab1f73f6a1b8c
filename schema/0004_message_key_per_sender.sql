-- 0004_message_key_per_sender: a messageKey is its sender's idempotency key within a
-- room. The same sender sending the same key to the same room again (a retry after a
-- lost RECEIPT, a replay) stores nothing new; any other reuse of a key (another room,
-- another sender) is another message and is stored.
-- Why: the key used to be unique over the whole table, so a key reused in another room
-- (or by another sender) was acknowledged with a RECEIPT, delivered live, and then
-- silently not stored: a message that vanished from history.

-- The arbiter of messages_insert_batch's ON CONFLICT (room_id, sender_id, message_key).
-- message_key leads: ON CONFLICT infers the index from its set of columns, whatever
-- their order, and a random UUID first keeps this index out of every "rows of room R"
-- plan. History, the room's last message and unread counts keep (room_id, id DESC)
-- INCLUDE (sender_id), resume and positions keep (room_id, kafka_offset); a third index
-- led by room_id would only give the planner a wrong choice to weigh. No query looks a
-- message up by its key.
-- IF NOT EXISTS: on a large table an operator may build it beforehand, without blocking
-- inserts, with CREATE UNIQUE INDEX CONCURRENTLY and this name; this transaction then
-- only drops the old constraint.
-- Roll-out: apply it together with the nodes of the same release. Nodes of the release
-- before fail their inserts once it is applied (their ON CONFLICT names the old
-- constraint), and nodes of this release fail theirs until it is; such inserts are
-- retried, then parked in chat.messages.dlt, from where `chat-admin dlt replay` stores
-- them once every node runs this release.
CREATE UNIQUE INDEX IF NOT EXISTS messages_key_room_sender_key
    ON messages (message_key, room_id, sender_id);

ALTER TABLE messages DROP CONSTRAINT messages_message_key_key;
