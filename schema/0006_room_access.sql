-- 0006_room_access: who may see and enter a room. Group rooms are public (anyone may find
-- and join them) or private (members add people or hand out invitations); a room's creator
-- may close it; users may block each other; people and public rooms can be searched.

-- Visibility. Until now every group room could be joined by anyone who knew (or guessed:
-- ids are sequential) its id. Existing group rooms stay 'public', so nobody loses access
-- they had and no client breaks; their creators cannot change that later (there is no
-- endpoint for it yet), but no new room becomes public unless its creator asks. Direct
-- rooms are private by nature. New rooms default to 'private'.
ALTER TABLE chat_rooms
    ADD COLUMN visibility text NOT NULL DEFAULT 'public'
        CHECK (visibility IN ('public', 'private'));
UPDATE chat_rooms SET visibility = 'private' WHERE type = 'DIRECT';
ALTER TABLE chat_rooms ALTER COLUMN visibility SET DEFAULT 'private';
ALTER TABLE chat_rooms ADD CONSTRAINT chat_rooms_direct_is_private
    CHECK (type = 'GROUP' OR visibility = 'private');

-- Closing: the room row and its messages stay (the id is never reused and the history is
-- kept for the operator), every membership ends, and every statement treats a closed room
-- as one that does not exist. Deleting the row instead would make the persistence
-- pipeline's batch fail on the foreign key for messages still in flight to that room.
ALTER TABLE chat_rooms ADD COLUMN closed_at timestamptz;
ALTER TABLE chat_rooms ADD CONSTRAINT chat_rooms_only_groups_close
    CHECK (closed_at IS NULL OR type = 'GROUP');

-- Public rooms by name (GET /api/rooms/public): a case-insensitive prefix, ordered by the
-- folded name in byte order ("C") then id, which is also the page cursor's order. lower()
-- under an ICU collation folds every script; the database's own collation may be "C",
-- under which lower() folds only ASCII.
CREATE INDEX chat_rooms_public_name_idx
    ON chat_rooms ((lower(name COLLATE "und-x-icu")) COLLATE "C", id)
    WHERE visibility = 'public' AND closed_at IS NULL;

-- People by nickname prefix (GET /api/users), the same way; an exact email uses
-- users_email_lower_key.
CREATE INDEX users_nickname_fold_idx
    ON users ((lower(nickname COLLATE "und-x-icu")) COLLATE "C", id);

-- Invitations: a bearer token (random, handed to the creator once) of which only the
-- SHA-256 is stored, so a leaked table does not let anyone in.
CREATE TABLE room_invites (
    id         bigserial   PRIMARY KEY,
    room_id    bigint      NOT NULL REFERENCES chat_rooms (id) ON DELETE CASCADE,
    created_by bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash bytea       NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    max_uses   integer     NOT NULL CHECK (max_uses BETWEEN 1 AND 1000),
    uses       integer     NOT NULL DEFAULT 0 CHECK (uses BETWEEN 0 AND max_uses),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- A room's invitations, newest first (listing, and revoking them all when it closes).
CREATE INDEX room_invites_room_idx ON room_invites (room_id, id DESC);

-- Blocks: blocker_id does not want blocked_id to open a direct room with them, add them to
-- rooms, or find them in a search. Checks are by the pair (the primary key), by the
-- blocker (its prefix: the block list), or by the blocked user (a search leaves out
-- everyone who blocked the searcher: user_blocks_blocked_idx, which also serves the
-- foreign key when a user is deleted).
CREATE TABLE user_blocks (
    blocker_id bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    blocked_id bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (blocker_id, blocked_id),
    CHECK (blocker_id <> blocked_id)
);
CREATE INDEX user_blocks_blocked_idx ON user_blocks (blocked_id, blocker_id);
