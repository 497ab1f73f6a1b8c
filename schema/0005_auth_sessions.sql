-- 0005_auth_sessions: nicknames unique case-insensitively, the per-account login back-off,
-- and refresh tokens.

-- ---------------------------------------------------------------- nicknames
-- The key under which two nicknames are the same: the node computes it from the clean
-- nickname (NFC, trimmed) with Unicode full case folding (u8_casefold) and sends it with
-- the sign-up insert (user_signup). Rows that exist already get lower(nickname), which is
-- the same key for every ASCII nickname.
ALTER TABLE users ADD COLUMN nickname_key text;

-- Existing duplicates (nicknames equal but for case): the earliest account (lowest id)
-- keeps its nickname; every later one gets '#' and its own id appended ('ANN' -> 'ANN#42'),
-- cut so the result stays within 100 characters. Deterministic: the same rows get the
-- same names on every copy of the database. Should a renamed nickname collide with one that
-- exists already, creating the unique index below fails and the migration changes nothing.
UPDATE users u
   SET nickname = left(u.nickname, 100 - char_length('#' || u.id)) || '#' || u.id
  FROM (SELECT id, row_number() OVER (PARTITION BY lower(nickname) ORDER BY id) AS rn
          FROM users) d
 WHERE d.id = u.id AND d.rn > 1;

UPDATE users SET nickname_key = lower(nickname);
ALTER TABLE users ALTER COLUMN nickname_key SET NOT NULL;
ALTER TABLE users ADD CONSTRAINT users_nickname_key_check
    CHECK (nickname_key <> '' AND char_length(nickname_key) <= 300);
-- Sign-up's uniqueness check and the arbiter of its insert.
CREATE UNIQUE INDEX users_nickname_key_key ON users (nickname_key);

-- ---------------------------------------------------------------- login back-off
-- Consecutive failed logins per email, cluster-wide. Keyed by the lower-cased email whether
-- or not an account has it, so a refusal (429) never tells whether an account exists.
-- A successful login deletes the row (login_session_start).
CREATE TABLE login_throttle (
    email_key       text        PRIMARY KEY CHECK (email_key <> ''),
    failures        integer     NOT NULL CHECK (failures > 0),
    blocked_until   timestamptz,
    last_failure_at timestamptz NOT NULL DEFAULT now()
);
-- login_failure_record drops rows a day old, oldest first, a few per failure.
CREATE INDEX login_throttle_last_failure_idx ON login_throttle (last_failure_at);

-- ---------------------------------------------------------------- refresh tokens
-- Only the SHA-256 of a token is stored. A family is one login and the tokens each refresh
-- traded it for: a token is spent once; presenting a spent one revokes its family.
CREATE TABLE refresh_tokens (
    id         bigserial   PRIMARY KEY,
    token_hash bytea       NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id  uuid        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    spent_at   timestamptz, -- traded for its successor (refresh_token_rotate)
    revoked_at timestamptz  -- logged out, or its family revoked after a reuse
);
-- Reuse revokes a family; logout too; each refresh prunes its family's expired tokens.
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
-- A login prunes the user's expired tokens; deleting a user cascades here.
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id, expires_at);
