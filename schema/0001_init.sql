-- 0001_init: users, rooms, memberships and messages.
-- Applied by ops/migrate in one transaction and recorded in schema_migrations.
-- Never edit a migration once it is on main; add the next number instead.

CREATE TABLE users (
    id            bigserial   PRIMARY KEY,
    email         text        NOT NULL CHECK (email <> '' AND char_length(email) <= 320),
    password_hash text        NOT NULL,
    nickname      text        NOT NULL CHECK (nickname <> '' AND char_length(nickname) <= 100),
    status        text        NOT NULL DEFAULT 'OFFLINE'
                              CHECK (status IN ('ONLINE', 'OFFLINE', 'AWAY')),
    last_seen_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
-- Sign-up and login look users up by email, case-insensitively.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

CREATE TABLE chat_rooms (
    id         bigserial   PRIMARY KEY,
    name       text        CHECK (name IS NULL OR char_length(name) <= 200),
    type       text        NOT NULL CHECK (type IN ('DIRECT', 'GROUP')),
    created_by bigint      NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    -- 'smallerUserId:largerUserId' for a direct room, so a pair has exactly one.
    direct_key text        UNIQUE,
    CHECK ((type = 'DIRECT') = (direct_key IS NOT NULL)),
    CHECK (type = 'DIRECT' OR name IS NOT NULL)
);

CREATE TABLE chat_room_members (
    id                   bigserial   PRIMARY KEY,
    room_id              bigint      NOT NULL REFERENCES chat_rooms (id) ON DELETE CASCADE,
    user_id              bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_at            timestamptz NOT NULL DEFAULT now(),
    -- Advanced by the read-receipt pipeline; no foreign key so that bookkeeping never
    -- waits on (or fails for) the message row it points at.
    last_read_message_id bigint,
    unread_count         integer     NOT NULL DEFAULT 0 CHECK (unread_count >= 0),
    UNIQUE (room_id, user_id)           -- members of a room; one membership per pair
);
-- "My rooms" and the membership check (is user U in room R?) start from the user.
CREATE INDEX chat_room_members_user_room_idx ON chat_room_members (user_id, room_id);

CREATE TABLE messages (
    id              bigserial   PRIMARY KEY,
    -- Idempotency key chosen by the sender (or the node): replays insert nothing.
    message_key     uuid        NOT NULL UNIQUE,
    room_id         bigint      NOT NULL REFERENCES chat_rooms (id) ON DELETE CASCADE,
    sender_id       bigint      NOT NULL REFERENCES users (id),
    content         text        NOT NULL,
    type            text        NOT NULL DEFAULT 'TEXT'
                                CHECK (type IN ('TEXT', 'IMAGE', 'FILE', 'SYSTEM')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- Position in chat.messages: a room always maps to the same partition.
    kafka_partition integer     NOT NULL CHECK (kafka_partition >= 0),
    kafka_offset    bigint      NOT NULL CHECK (kafka_offset >= 0)
);
-- History pages (newest first, cursor on id) and each room's last message.
CREATE INDEX messages_room_id_desc_idx ON messages (room_id, id DESC);
-- Resume and gap filling by position: messages of a room after a given offset.
CREATE INDEX messages_room_offset_idx ON messages (room_id, kafka_offset);
