-- Every SQL statement chat-node sends to PostgreSQL, one named statement each.
--
-- src/actors/sql/gen_queries.cmake turns this file into C at build time: cn_sql(CN_SQL_<NAME>)
-- returns the text (full-line comments and blank lines removed), cn_sql_name() the name
-- (also the prepared-statement name) and cn_sql_param_count() the highest $n. The enum
-- in src/actors/sql/queries.h must list exactly these names: a mismatch fails the build.
--
-- Format: a block starts with `-- name: <identifier>`, then `-- params:` and `-- returns:`
-- doc lines (both required, checked by the generator), then ONE statement (a trailing
-- semicolon is allowed and dropped).
--
-- Conventions (every statement):
--   * One request = one statement = one round trip. Parameters go in text format and are
--     cast here ($1::bigint), so the caller passes paramTypes = NULL.
--   * Times are Unix epoch milliseconds (bigint, floor), named *_ms; NULL stays NULL
--     (cn_user.last_seen_at_ms renders null for < 0: map NULL to -1). The proto layer
--     formats them as ISO-8601 (cn_format_time_ms).
--   * Arrays in text format: '{1,2,3}'; uuid[] as '{0f8fad5b-d9cb-469f-a165-70867728950e,...}';
--     text[] elements double-quoted with \" and \\ escaped.
--   * Outcomes that the handler must tell apart (404 / 403 / 409 / 4xx) come back in the
--     same result, as an `outcome` text column or documented zero-row answers, never as
--     a second query. Unexpected SQL errors (FK violation of a deleted user, ...) are 500s.
--   * Run at READ COMMITTED (the default). direct_room_open relies on it.
--
-- The ROOM columns (my_rooms, room_detail, direct_room_open, group_room_create, room_join),
-- in this order, so one C function can read a room from any of them:
--   id bigint, name text|NULL, type text ('DIRECT'|'GROUP'), created_by bigint,
--   created_at_ms bigint, member_count bigint, unread_count bigint (of the requester),
--   last_msg_id bigint|NULL, last_msg_key uuid|NULL, last_msg_sender_id bigint|NULL,
--   last_msg_sender_nickname text|NULL, last_msg_content text|NULL, last_msg_type text|NULL,
--   last_msg_created_at_ms bigint|NULL, last_msg_kafka_partition integer|NULL,
--   last_msg_kafka_offset bigint|NULL, visibility text ('public'|'private'; direct rooms
--   are 'private'), peer_id bigint|NULL, peer_nickname text|NULL, peer_status text|NULL,
--   peer_last_seen_at_ms bigint|NULL (the peer: a direct room's other member, NULL for a
--   group; a direct room's `name` is the peer's nickname)
-- The MESSAGE columns (room_history, room_messages_after_offset, messages_insert_batch):
--   id bigint, message_key uuid, room_id bigint, sender_id bigint, sender_nickname text,
--   content text, type text, created_at_ms bigint, kafka_partition integer,
--   kafka_offset bigint (= the JSON `position`)
--
-- Who may see a room: a room exists for a user when it is not closed (closed_at IS NULL)
-- and the user is a member of it or it is a public group room. A room the user may not see
-- gets exactly the answer of an id that does not exist (outcome 'not_found', zero rows,
-- room_exists = false), so ids reveal nothing about private and direct rooms; a public room
-- keeps its 'not_member' answers.
--
-- Unread counts are counted when read: the room's messages after the member's
-- last_read_message_id that the member did not send (the messages (room_id, id DESC)
-- INCLUDE (sender_id) index, so the count reads the index only). Nothing is written per
-- message and member; a new member's position starts at the room's last message.
--
-- Index use of each statement is checked by tests/integration/explain_hot_queries.py
-- against a seeded database (perf/seed).

-- name: user_signup
-- params: $1 email text, $2 password_hash text (argon2id string), $3 nickname text (clean:
--   NFC, trimmed; src/proto/display_name.h), $4 nickname_key text (its NFC case fold)
-- returns: exactly one row: outcome text, then id bigint, email text, nickname text,
--   status text, last_seen_at_ms bigint|NULL, created_at_ms bigint (all NULL unless 'ok').
--   outcome 'ok'             -> the new user (201);
--   outcome 'email_taken'    -> a user has the email, case-insensitively (409 EMAIL_TAKEN);
--   outcome 'nickname_taken' -> a user has the nickname_key (409 NICKNAME_TAKEN);
--   outcome 'conflict'       -> a sign-up committed after this statement's snapshot took the
--     email or the nickname (ON CONFLICT waited for it): run the statement once more, which
--     then sees that row and names what was taken.
-- Both checks read the unique indexes (users_email_lower_key, users_nickname_key_key) that
--   also arbitrate the insert, so racing sign-ups never make two rows.
WITH taken AS (
    SELECT EXISTS (SELECT 1 FROM users WHERE lower(email) = lower($1::text)) AS email,
           EXISTS (SELECT 1 FROM users WHERE nickname_key = $4::text) AS nickname
), ins AS (
    INSERT INTO users (email, password_hash, nickname, nickname_key)
    SELECT $1::text, $2::text, $3::text, $4::text
      FROM taken
     WHERE NOT taken.email AND NOT taken.nickname
    ON CONFLICT DO NOTHING
    RETURNING id, email, nickname, status, last_seen_at, created_at
)
SELECT CASE WHEN ins.id IS NOT NULL THEN 'ok'
            WHEN taken.email THEN 'email_taken'
            WHEN taken.nickname THEN 'nickname_taken'
            ELSE 'conflict' END AS outcome,
       ins.id, ins.email, ins.nickname, ins.status,
       floor(extract(epoch FROM ins.last_seen_at) * 1000)::bigint AS last_seen_at_ms,
       floor(extract(epoch FROM ins.created_at) * 1000)::bigint AS created_at_ms
  FROM taken
  LEFT JOIN ins ON true;

-- name: user_by_email
-- params: $1 email text (matched case-insensitively)
-- returns: exactly one row: retry_after_s integer, then id bigint, email text, nickname text,
--   status text, last_seen_at_ms bigint|NULL, created_at_ms bigint, password_hash text
--   (the user columns all NULL when no user has the email).
--   retry_after_s > 0 -> the email's login back-off (login_throttle, keyed by the lower-cased
--     email whether or not a user has it) runs that many more seconds: 429 + Retry-After,
--     without checking the password, so the answer is the same for any email;
--   retry_after_s = 0 -> check the password (no user: against a dummy hash, then 401, so
--     timing does not tell either).
-- The login's one round trip before the hash check.
SELECT coalesce(ceil(extract(epoch FROM t.blocked_until - now())), 0)::integer AS retry_after_s,
       u.id, u.email, u.nickname, u.status,
       floor(extract(epoch FROM u.last_seen_at) * 1000)::bigint AS last_seen_at_ms,
       floor(extract(epoch FROM u.created_at) * 1000)::bigint AS created_at_ms,
       u.password_hash
  FROM (SELECT lower($1::text) AS k) q
  LEFT JOIN login_throttle t ON t.email_key = q.k AND t.blocked_until > now()
  LEFT JOIN users u ON lower(u.email) = q.k;

-- name: user_by_id
-- params: $1 user_id bigint
-- returns: zero or one row id bigint, email text, nickname text, status text,
--   last_seen_at_ms bigint|NULL, created_at_ms bigint (a token whose user is gone: zero rows).
SELECT id, email, nickname, status,
       floor(extract(epoch FROM last_seen_at) * 1000)::bigint AS last_seen_at_ms,
       floor(extract(epoch FROM created_at) * 1000)::bigint AS created_at_ms
  FROM users
 WHERE id = $1::bigint;

-- name: direct_room_open
-- params: $1 me bigint, $2 target_user_id bigint, $3 may_create boolean (false: $1 has
--   spent the room-creation budget, so only an existing room may be returned)
-- returns: exactly one row: outcome text, created boolean, then the ROOM columns.
--   outcome 'ok'         -> the pair's one direct room (created = true when this call made it);
--   outcome 'self'       -> $1 = $2, nothing written (400/422), room columns NULL;
--   outcome 'no_target'  -> $2 is not a user (404), nothing written, room columns NULL;
--   outcome 'blocked'    -> no room yet and $1 blocked $2 (403), nothing written;
--   outcome 'blocked_by' -> no room yet and $2 blocked $1 (403), nothing written;
--   outcome 'over_budget' -> no room yet and $3 is false (429), nothing written;
--   outcome 'no_user'    -> $1 is not a user (token of a deleted user: 401), nothing written.
--   A block stops a NEW room only: a room the pair already has is returned as before.
-- Concurrency: the room insert is ON CONFLICT (direct_key) DO UPDATE (a no-op update).
--   At READ COMMITTED that returns the row even when another transaction inserted it after
--   this statement's snapshot (it waits for that transaction), where DO NOTHING would
--   return nothing. The update only runs in that race: a room already visible to the
--   snapshot is read, not written. Both memberships are inserted ON CONFLICT DO NOTHING,
--   so racing callers all get the same room, and the room has exactly two members.
--   member_count is 2 by construction; unread_count and the last message come from the
--   snapshot (0 and NULL for a room created in the race). A new membership of an
--   existing room starts with its last message read.
WITH args AS (
    SELECT $1::bigint AS me, $2::bigint AS target,
           least($1::bigint, $2::bigint)::text || ':' || greatest($1::bigint, $2::bigint)::text AS dkey
), check_ AS (
    SELECT a.*,
           CASE WHEN a.me = a.target THEN 'self'
                WHEN NOT EXISTS (SELECT 1 FROM users u WHERE u.id = a.me) THEN 'no_user'
                WHEN NOT EXISTS (SELECT 1 FROM users u WHERE u.id = a.target) THEN 'no_target'
                WHEN EXISTS (SELECT 1 FROM chat_rooms r WHERE r.direct_key = a.dkey) THEN 'ok'
                WHEN EXISTS (SELECT 1 FROM user_blocks b
                              WHERE b.blocker_id = a.me AND b.blocked_id = a.target) THEN 'blocked'
                WHEN EXISTS (SELECT 1 FROM user_blocks b
                              WHERE b.blocker_id = a.target AND b.blocked_id = a.me) THEN 'blocked_by'
                WHEN NOT $3::boolean THEN 'over_budget'
                ELSE 'ok' END AS outcome
      FROM args a
), existing AS (
    SELECT r.* FROM chat_rooms r, check_ c WHERE c.outcome = 'ok' AND r.direct_key = c.dkey
), ins AS (
    INSERT INTO chat_rooms (name, type, created_by, direct_key, visibility)
    SELECT NULL, 'DIRECT', c.me, c.dkey, 'private'
      FROM check_ c
     WHERE c.outcome = 'ok' AND NOT EXISTS (SELECT 1 FROM existing)
    ON CONFLICT (direct_key) DO UPDATE SET direct_key = EXCLUDED.direct_key
    RETURNING *, (xmax = 0) AS inserted
), room AS (
    SELECT id, type, visibility, created_by, created_at, false AS inserted FROM existing
    UNION ALL
    SELECT id, type, visibility, created_by, created_at, inserted FROM ins
), members AS (
    INSERT INTO chat_room_members (room_id, user_id, last_read_message_id)
    SELECT room.id, u.uid, (SELECT max(x.id) FROM messages x WHERE x.room_id = room.id)
      FROM room, check_ c, LATERAL (VALUES (c.me), (c.target)) u (uid)
    ON CONFLICT (room_id, user_id) DO NOTHING
    RETURNING user_id
)
SELECT c.outcome,
       coalesce(room.inserted, false) AS created,
       room.id, peer.nickname AS name, room.type, room.created_by,
       floor(extract(epoch FROM room.created_at) * 1000)::bigint AS created_at_ms,
       CASE WHEN room.id IS NULL THEN NULL ELSE 2::bigint END AS member_count,
       CASE WHEN room.id IS NULL THEN NULL
            ELSE coalesce((SELECT (SELECT count(*) FROM messages x
                                    WHERE x.room_id = m.room_id
                                      AND x.id > coalesce(m.last_read_message_id, 0)
                                      AND x.sender_id <> m.user_id)
                             FROM chat_room_members m
                            WHERE m.room_id = room.id AND m.user_id = c.me), 0) END AS unread_count,
       lm.id AS last_msg_id, lm.message_key AS last_msg_key, lm.sender_id AS last_msg_sender_id,
       lm.nickname AS last_msg_sender_nickname, lm.content AS last_msg_content,
       lm.type AS last_msg_type,
       floor(extract(epoch FROM lm.created_at) * 1000)::bigint AS last_msg_created_at_ms,
       lm.kafka_partition AS last_msg_kafka_partition, lm.kafka_offset AS last_msg_kafka_offset,
       room.visibility,
       peer.id AS peer_id, peer.nickname AS peer_nickname, peer.status AS peer_status,
       floor(extract(epoch FROM peer.last_seen_at) * 1000)::bigint AS peer_last_seen_at_ms
  FROM check_ c
  LEFT JOIN room ON true
  LEFT JOIN users peer ON peer.id = c.target AND room.id IS NOT NULL
  LEFT JOIN LATERAL (
        SELECT msg.id, msg.message_key, msg.sender_id, u.nickname, msg.content, msg.type,
               msg.created_at, msg.kafka_partition, msg.kafka_offset
          FROM messages msg JOIN users u ON u.id = msg.sender_id
         WHERE msg.room_id = room.id
         ORDER BY msg.id DESC
         LIMIT 1) lm ON true;

-- name: group_room_create
-- params: $1 creator bigint, $2 name text, $3 member_ids bigint[] (the creator may be
--   listed or not; duplicates and NULLs are ignored; the handler bounds the count),
--   $4 visibility text ('public'|'private')
-- returns: exactly one row: outcome text, unknown_member_ids bigint[]|NULL,
--   not_allowed_ids bigint[]|NULL, then the ROOM columns.
--   outcome 'ok'             -> the new room; creator and every listed user are members;
--   outcome 'unknown_member' -> nothing written; unknown_member_ids lists the ids that are
--                               not users (404), room columns NULL;
--   outcome 'not_allowed'    -> nothing written; not_allowed_ids lists the listed users who
--                               blocked the creator (403), room columns NULL;
--   outcome 'no_user'        -> $1 is not a user (401), nothing written.
WITH wanted AS (
    SELECT DISTINCT w.uid
      FROM unnest($3::bigint[] || ARRAY[$1::bigint]) AS w (uid)
     WHERE w.uid IS NOT NULL
), found AS (
    SELECT u.id FROM users u WHERE u.id IN (SELECT uid FROM wanted)
), blockers AS (
    SELECT b.blocker_id AS id FROM user_blocks b
     WHERE b.blocker_id IN (SELECT id FROM found) AND b.blocked_id = $1::bigint
), check_ AS (
    SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM found WHERE id = $1::bigint) THEN 'no_user'
                WHEN (SELECT count(*) FROM wanted) <> (SELECT count(*) FROM found)
                     THEN 'unknown_member'
                WHEN EXISTS (SELECT 1 FROM blockers) THEN 'not_allowed'
                ELSE 'ok' END AS outcome
), room AS (
    INSERT INTO chat_rooms (name, type, created_by, visibility)
    SELECT $2::text, 'GROUP', $1::bigint, $4::text FROM check_ WHERE outcome = 'ok'
    RETURNING id, name, type, visibility, created_by, created_at
), members AS (
    INSERT INTO chat_room_members (room_id, user_id)
    SELECT room.id, found.id FROM room, found
    RETURNING user_id
)
SELECT c.outcome,
       CASE WHEN c.outcome = 'unknown_member' THEN
            (SELECT array_agg(w.uid ORDER BY w.uid) FROM wanted w
              WHERE w.uid NOT IN (SELECT id FROM found)) END AS unknown_member_ids,
       CASE WHEN c.outcome = 'not_allowed' THEN
            (SELECT array_agg(b.id ORDER BY b.id) FROM blockers b) END AS not_allowed_ids,
       room.id, room.name, room.type, room.created_by,
       floor(extract(epoch FROM room.created_at) * 1000)::bigint AS created_at_ms,
       CASE WHEN room.id IS NULL THEN NULL ELSE (SELECT count(*) FROM members) END AS member_count,
       CASE WHEN room.id IS NULL THEN NULL ELSE 0::bigint END AS unread_count,
       NULL::bigint AS last_msg_id, NULL::uuid AS last_msg_key, NULL::bigint AS last_msg_sender_id,
       NULL::text AS last_msg_sender_nickname, NULL::text AS last_msg_content,
       NULL::text AS last_msg_type, NULL::bigint AS last_msg_created_at_ms,
       NULL::integer AS last_msg_kafka_partition, NULL::bigint AS last_msg_kafka_offset,
       room.visibility,
       NULL::bigint AS peer_id, NULL::text AS peer_nickname, NULL::text AS peer_status,
       NULL::bigint AS peer_last_seen_at_ms
  FROM check_ c
  LEFT JOIN room ON true;

-- name: room_join
-- params: $1 user_id bigint, $2 room_id bigint
-- returns: exactly one row: outcome text, joined boolean, then the ROOM columns.
--   outcome 'ok'         -> member now; joined = false when already a member (no-op; also
--                           for a member of a private room, the only one who sees it);
--   outcome 'not_found'  -> no such room, a closed one, or one the user may not see (a
--                           private group or a direct room of others) (404), room columns NULL;
--   outcome 'not_group'  -> the user's own direct room: it cannot be joined (409), nothing
--                           written, room columns NULL.
--   member_count counts the joiner once, whether this call or an earlier one added it.
--   A new member starts with the room's last message read (unread 0).
WITH r AS (
    SELECT r0.*,
           EXISTS (SELECT 1 FROM chat_room_members m
                    WHERE m.room_id = r0.id AND m.user_id = $1::bigint) AS is_member
      FROM chat_rooms r0
     WHERE r0.id = $2::bigint AND r0.closed_at IS NULL
), v AS (
    SELECT * FROM r WHERE r.is_member OR (r.type = 'GROUP' AND r.visibility = 'public')
), ins AS (
    INSERT INTO chat_room_members (room_id, user_id, last_read_message_id)
    SELECT v.id, $1::bigint, (SELECT max(x.id) FROM messages x WHERE x.room_id = v.id)
      FROM v WHERE v.type = 'GROUP' AND v.visibility = 'public'
    ON CONFLICT (room_id, user_id) DO NOTHING
    RETURNING room_id
), outcome AS (
    SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM v) THEN 'not_found'
                WHEN (SELECT type FROM v) <> 'GROUP' THEN 'not_group'
                ELSE 'ok' END AS outcome
)
SELECT o.outcome,
       EXISTS (SELECT 1 FROM ins) AS joined,
       v.id, v.name, v.type, v.created_by,
       floor(extract(epoch FROM v.created_at) * 1000)::bigint AS created_at_ms,
       CASE WHEN v.id IS NULL THEN NULL
            ELSE (SELECT count(*) FROM chat_room_members m
                   WHERE m.room_id = v.id AND m.user_id <> $1::bigint) + 1 END AS member_count,
       CASE WHEN v.id IS NULL THEN NULL
            ELSE coalesce((SELECT (SELECT count(*) FROM messages x
                                    WHERE x.room_id = m.room_id
                                      AND x.id > coalesce(m.last_read_message_id, 0)
                                      AND x.sender_id <> m.user_id)
                             FROM chat_room_members m
                            WHERE m.room_id = v.id AND m.user_id = $1::bigint), 0) END
           AS unread_count,
       lm.id AS last_msg_id, lm.message_key AS last_msg_key, lm.sender_id AS last_msg_sender_id,
       lm.nickname AS last_msg_sender_nickname, lm.content AS last_msg_content,
       lm.type AS last_msg_type,
       floor(extract(epoch FROM lm.created_at) * 1000)::bigint AS last_msg_created_at_ms,
       lm.kafka_partition AS last_msg_kafka_partition, lm.kafka_offset AS last_msg_kafka_offset,
       v.visibility,
       NULL::bigint AS peer_id, NULL::text AS peer_nickname, NULL::text AS peer_status,
       NULL::bigint AS peer_last_seen_at_ms
  FROM outcome o
  LEFT JOIN v ON o.outcome = 'ok'
  LEFT JOIN LATERAL (
        SELECT msg.id, msg.message_key, msg.sender_id, u.nickname, msg.content, msg.type,
               msg.created_at, msg.kafka_partition, msg.kafka_offset
          FROM messages msg JOIN users u ON u.id = msg.sender_id
         WHERE msg.room_id = v.id
         ORDER BY msg.id DESC
         LIMIT 1) lm ON true;

-- name: room_leave
-- params: $1 user_id bigint, $2 room_id bigint
-- returns: exactly one row: outcome text, member_ids bigint[] (the members left, without
--   the leaver, ordered; empty unless outcome is 'ok').
--   outcome 'ok'         -> the user was a member and no longer is;
--   outcome 'not_found'  -> no such room, or one the user may not see (404);
--   outcome 'not_group'  -> a direct room cannot be left (409), nothing written;
--   outcome 'not_member' -> the user is not a member of this public room (403), nothing
--                           written.
WITH r AS (
    SELECT r0.id, r0.type, r0.visibility,
           EXISTS (SELECT 1 FROM chat_room_members m
                    WHERE m.room_id = r0.id AND m.user_id = $1::bigint) AS is_member
      FROM chat_rooms r0
     WHERE r0.id = $2::bigint AND r0.closed_at IS NULL
), v AS (
    SELECT * FROM r WHERE r.is_member OR (r.type = 'GROUP' AND r.visibility = 'public')
), del AS (
    DELETE FROM chat_room_members m
     USING v
     WHERE m.room_id = v.id AND m.user_id = $1::bigint AND v.type = 'GROUP'
    RETURNING m.room_id
)
SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM v) THEN 'not_found'
            WHEN (SELECT type FROM v) <> 'GROUP' THEN 'not_group'
            WHEN NOT EXISTS (SELECT 1 FROM del) THEN 'not_member'
            ELSE 'ok' END AS outcome,
       CASE WHEN EXISTS (SELECT 1 FROM del)
            THEN ARRAY(SELECT m.user_id FROM chat_room_members m
                        WHERE m.room_id = $2::bigint AND m.user_id <> $1::bigint
                        ORDER BY m.user_id)
            ELSE '{}'::bigint[] END AS member_ids;

-- name: my_rooms
-- params: $1 user_id bigint
-- returns: one row per open room of the user (zero rows: no rooms), the ROOM columns plus
--   last_activity_ms bigint; ordered by last activity desc (the later of the last
--   message's time and the user's joined_at), then room id desc.
--   Per room: member count from UNIQUE (room_id, user_id), last message from
--   messages (room_id, id DESC), a direct room's peer from UNIQUE (room_id, user_id) and
--   users_pkey, all LATERAL: no N+1.
SELECT r.id, CASE WHEN r.type = 'DIRECT' THEN peer.nickname ELSE r.name END AS name,
       r.type, r.created_by,
       floor(extract(epoch FROM r.created_at) * 1000)::bigint AS created_at_ms,
       mc.member_count,
       uc.unread_count,
       lm.id AS last_msg_id, lm.message_key AS last_msg_key, lm.sender_id AS last_msg_sender_id,
       lm.nickname AS last_msg_sender_nickname, lm.content AS last_msg_content,
       lm.type AS last_msg_type,
       floor(extract(epoch FROM lm.created_at) * 1000)::bigint AS last_msg_created_at_ms,
       lm.kafka_partition AS last_msg_kafka_partition, lm.kafka_offset AS last_msg_kafka_offset,
       r.visibility,
       peer.id AS peer_id, peer.nickname AS peer_nickname, peer.status AS peer_status,
       floor(extract(epoch FROM peer.last_seen_at) * 1000)::bigint AS peer_last_seen_at_ms,
       floor(extract(epoch FROM greatest(lm.created_at, m.joined_at)) * 1000)::bigint
           AS last_activity_ms
  FROM chat_room_members m
  -- The room by primary key per membership: a plain join lets the planner hash-join a
  -- sequential scan of chat_rooms once the table is small relative to the statistics
  -- (measured: 2.8-4.1k statements/s that way, 6.0-6.8k by key). OFFSET 0 fences it.
  -- A closed room has no members, but a join racing the close may leave one behind:
  -- closed rooms are filtered here too.
  CROSS JOIN LATERAL (
        SELECT r0.* FROM chat_rooms r0
         WHERE r0.id = m.room_id AND r0.closed_at IS NULL OFFSET 0) r
  CROSS JOIN LATERAL (
        SELECT count(*) AS member_count FROM chat_room_members x WHERE x.room_id = m.room_id) mc
  CROSS JOIN LATERAL (
        SELECT count(*) AS unread_count FROM messages x
         WHERE x.room_id = m.room_id AND x.id > coalesce(m.last_read_message_id, 0)
           AND x.sender_id <> m.user_id) uc
  LEFT JOIN LATERAL (
        SELECT msg.id, msg.message_key, msg.sender_id, u.nickname, msg.content, msg.type,
               msg.created_at, msg.kafka_partition, msg.kafka_offset
          FROM messages msg JOIN users u ON u.id = msg.sender_id
         WHERE msg.room_id = m.room_id
         ORDER BY msg.id DESC
         LIMIT 1) lm ON true
  LEFT JOIN LATERAL (
        SELECT u.id, u.nickname, u.status, u.last_seen_at
          FROM chat_room_members pm JOIN users u ON u.id = pm.user_id
         WHERE r.type = 'DIRECT' AND pm.room_id = m.room_id AND pm.user_id <> m.user_id
         LIMIT 1) peer ON true
 WHERE m.user_id = $1::bigint
 ORDER BY greatest(lm.created_at, m.joined_at) DESC, r.id DESC;

-- name: room_detail
-- params: $1 requester bigint, $2 room_id bigint
-- returns: ZERO rows -> unknown room, closed, or one the requester may not see (404).
--   Otherwise the ROOM columns, is_member boolean, then member_id bigint,
--   member_nickname text, member_status text, member_last_seen_at_ms bigint|NULL,
--   member_joined_at_ms bigint:
--   is_member = false -> exactly one row, member columns NULL (a public room: 403, members
--                        not shown);
--   is_member = true  -> one row per member (room columns repeated), ordered by joined_at.
WITH me AS (
    SELECT (SELECT count(*) FROM messages x
             WHERE x.room_id = m.room_id AND x.id > coalesce(m.last_read_message_id, 0)
               AND x.sender_id <> m.user_id) AS unread_count
      FROM chat_room_members m
     WHERE m.room_id = $2::bigint AND m.user_id = $1::bigint
), r AS MATERIALIZED (      -- MATERIALIZED: see read_receipt_check
    SELECT * FROM chat_rooms
     WHERE id = $2::bigint AND closed_at IS NULL
       AND ((type = 'GROUP' AND visibility = 'public') OR EXISTS (SELECT 1 FROM me))
)
SELECT r.id, CASE WHEN r.type = 'DIRECT' THEN peer.nickname ELSE r.name END AS name,
       r.type, r.created_by,
       floor(extract(epoch FROM r.created_at) * 1000)::bigint AS created_at_ms,
       (SELECT count(*) FROM chat_room_members x WHERE x.room_id = r.id) AS member_count,
       coalesce((SELECT unread_count FROM me), 0) AS unread_count,
       lm.id AS last_msg_id, lm.message_key AS last_msg_key, lm.sender_id AS last_msg_sender_id,
       lm.nickname AS last_msg_sender_nickname, lm.content AS last_msg_content,
       lm.type AS last_msg_type,
       floor(extract(epoch FROM lm.created_at) * 1000)::bigint AS last_msg_created_at_ms,
       lm.kafka_partition AS last_msg_kafka_partition, lm.kafka_offset AS last_msg_kafka_offset,
       r.visibility,
       peer.id AS peer_id, peer.nickname AS peer_nickname, peer.status AS peer_status,
       floor(extract(epoch FROM peer.last_seen_at) * 1000)::bigint AS peer_last_seen_at_ms,
       EXISTS (SELECT 1 FROM me) AS is_member,
       mem.id AS member_id, mem.nickname AS member_nickname, mem.status AS member_status,
       floor(extract(epoch FROM mem.last_seen_at) * 1000)::bigint AS member_last_seen_at_ms,
       floor(extract(epoch FROM mem.joined_at) * 1000)::bigint AS member_joined_at_ms
  FROM r
  LEFT JOIN LATERAL (
        SELECT msg.id, msg.message_key, msg.sender_id, u.nickname, msg.content, msg.type,
               msg.created_at, msg.kafka_partition, msg.kafka_offset
          FROM messages msg JOIN users u ON u.id = msg.sender_id
         WHERE msg.room_id = r.id AND EXISTS (SELECT 1 FROM me)
         ORDER BY msg.id DESC
         LIMIT 1) lm ON true
  LEFT JOIN LATERAL (
        SELECT u.id, u.nickname, u.status, u.last_seen_at
          FROM chat_room_members pm JOIN users u ON u.id = pm.user_id
         WHERE r.type = 'DIRECT' AND pm.room_id = r.id AND pm.user_id <> $1::bigint
         LIMIT 1) peer ON true
  LEFT JOIN LATERAL (
        SELECT u.id, u.nickname, u.status, u.last_seen_at, m.joined_at, m.id AS membership_id
          FROM chat_room_members m JOIN users u ON u.id = m.user_id
         WHERE m.room_id = r.id AND EXISTS (SELECT 1 FROM me)) mem ON true
 ORDER BY mem.joined_at, mem.membership_id;

-- name: room_history
-- params: $1 requester bigint, $2 room_id bigint, $3 cursor bigint|NULL (a message id:
--   return older ones; NULL = from the newest), $4 size integer (the handler clamps 1..100)
-- returns: at least one row. Every row has room_exists boolean, is_member boolean, then
--   the MESSAGE columns (NULL on the single row of an empty page or a refusal).
--   room_exists = false -> 404 (also a closed room and one the requester may not see);
--   is_member = false -> 403 (a public room; no messages returned).
--   Otherwise up to $4 + 1 messages, newest first (id DESC, id < cursor): more than $4
--   rows means hasNext; nextCursor = id of row $4 (the last one shown).
--   The page is found in two steps inside the statement: the ids by an index-only scan of
--   messages (room_id, id DESC) (the cursor is an index condition even in a generic plan:
--   coalesce, not OR), then those rows by primary key. The index-only scan needs no heap
--   access, so it beats both alternatives the planner would otherwise weigh: sorting all
--   of a small-looking room's rows, and, for a room with a large share of all messages,
--   walking the primary key backwards from the cursor skipping other rooms' rows (which
--   is unbounded when that room has gone quiet). Needs a vacuumed table (autovacuum does).
WITH mem AS (
    SELECT EXISTS (SELECT 1 FROM chat_room_members
                    WHERE room_id = $2::bigint AND user_id = $1::bigint) AS is_member
), flags AS (
    SELECT EXISTS (SELECT 1 FROM chat_rooms
                    WHERE id = $2::bigint AND closed_at IS NULL
                      AND ((type = 'GROUP' AND visibility = 'public')
                           OR (SELECT is_member FROM mem))) AS room_exists,
           (SELECT is_member FROM mem) AS is_member
), page AS (
    SELECT m.id
      FROM messages m
     WHERE (SELECT room_exists AND is_member FROM flags)
       AND m.room_id = $2::bigint
       AND m.id < coalesce($3::bigint, 9223372036854775807)
     ORDER BY m.id DESC
     LIMIT $4::integer + 1
)
SELECT f.room_exists, f.is_member,
       p.id, p.message_key, p.room_id, p.sender_id, p.nickname AS sender_nickname, p.content,
       p.type, floor(extract(epoch FROM p.created_at) * 1000)::bigint AS created_at_ms,
       p.kafka_partition, p.kafka_offset
  FROM flags f
  LEFT JOIN (
        SELECT msg.id, msg.message_key, msg.room_id, msg.sender_id, u.nickname, msg.content,
               msg.type, msg.created_at, msg.kafka_partition, msg.kafka_offset
          FROM page
          JOIN messages msg ON msg.id = page.id
          JOIN users u ON u.id = msg.sender_id) p ON true
 ORDER BY p.id DESC;

-- name: read_receipt_check
-- params: $1 user_id bigint, $2 room_id bigint, $3 message_id bigint|NULL, $4 position
--   bigint|NULL (the message's kafka_offset, the `position` of a MESSAGE body; at most
--   one of $3 and $4; both NULL = the room's latest message)
-- returns: exactly one row: outcome text, message_id bigint|NULL (the message the receipt
--   is for: $3, the room's message at position $4, or the room's latest; NULL for an
--   empty room), last_read_message_id bigint|NULL and unread_count bigint|NULL (what the
--   member will have once the read-receipt pipeline applied the receipt, if no message
--   arrives meanwhile).
--   outcome 'ok'              -> a member; produce the ReadReceiptEvent when message_id
--                                is not NULL;
--   outcome 'not_found'       -> no such room, closed, or one the user may not see (404);
--   outcome 'not_member'      -> a public room's non-member (403);
--   outcome 'unknown_message' -> $3 is not a message of this room, or no stored message
--                                of this room has position $4 (404; a message still on
--                                its way to PostgreSQL is not stored yet).
--   Writes nothing: the pipeline (read_receipts_apply) does, so REST and STOMP reads go
--   through Kafka in room order. A position is looked up in messages (room_id,
--   kafka_offset); a room always maps to one partition, so a position names at most one
--   message of the room (LIMIT 1 is defensive).
-- The room id reaches the last-message lookup through a MATERIALIZED CTE, so the planner
-- costs it for "some room" (LIMIT 1: the (room_id, id DESC) index) instead of using this
-- room's share of all rows, which for a big room would make a backward walk of the primary
-- key filtering on room_id look cheap (unbounded when that room has gone quiet). Same in
-- room_detail.
WITH args AS MATERIALIZED (
    SELECT $2::bigint AS room_id
), me AS (
    SELECT m.last_read_message_id FROM chat_room_members m
     WHERE m.room_id = $2::bigint AND m.user_id = $1::bigint
), at_position AS (
    SELECT msg.id FROM messages msg
     WHERE msg.room_id = $2::bigint AND msg.kafka_offset = $4::bigint
     LIMIT 1
), flags AS (
    SELECT EXISTS (SELECT 1 FROM chat_rooms
                    WHERE id = $2::bigint AND closed_at IS NULL
                      AND ((type = 'GROUP' AND visibility = 'public')
                           OR EXISTS (SELECT 1 FROM me))) AS room_exists,
           EXISTS (SELECT 1 FROM me) AS is_member,
           ($3::bigint IS NULL OR EXISTS (SELECT 1 FROM messages
                                            WHERE id = $3::bigint AND room_id = $2::bigint))
           AND ($4::bigint IS NULL OR EXISTS (SELECT 1 FROM at_position)) AS message_ok,
           CASE WHEN $3::bigint IS NOT NULL THEN $3::bigint
                WHEN $4::bigint IS NOT NULL THEN (SELECT id FROM at_position)
                ELSE (SELECT msg.id FROM messages msg
                       WHERE msg.room_id = a.room_id
                       ORDER BY msg.id DESC LIMIT 1) END AS target
      FROM args a
)
SELECT CASE WHEN NOT f.room_exists THEN 'not_found'
            WHEN NOT f.is_member THEN 'not_member'
            WHEN NOT f.message_ok THEN 'unknown_message'
            ELSE 'ok' END AS outcome,
       f.target AS message_id,
       greatest((SELECT last_read_message_id FROM me), f.target) AS last_read_message_id,
       CASE WHEN NOT f.is_member THEN NULL
            ELSE (SELECT count(*) FROM messages x
                   WHERE x.room_id = $2::bigint
                     AND x.id > greatest(coalesce((SELECT last_read_message_id FROM me), 0),
                                         coalesce(f.target, 0))
                     AND x.sender_id <> $1::bigint) END AS unread_count
  FROM flags f;

-- name: read_receipts_apply
-- params: parallel arrays, one element per ReadReceiptEvent of a batch, all of the same
--   length: $1 room_id bigint[], $2 user_id bigint[], $3 message_id bigint[]
-- returns: one row per membership whose read position moved: room_id bigint, user_id
--   bigint, last_read_message_id bigint, unread_count bigint (the read-receipt
--   pipeline drops rooms:{user_id} and tells room:{room_id} for each).
--   Per (room, user) only the highest message id of the batch counts. The position never
--   moves backwards (an older or equal receipt changes nothing and returns no row); a
--   message that is not in the room, or a user who is not a member, changes nothing.
--   unread_count becomes the number of the room's messages after the new position that
--   the member did not send. Idempotent: a replayed batch returns no rows.
WITH batch AS (
    SELECT b.room_id, b.user_id, max(b.message_id) AS message_id
      FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS b (room_id, user_id, message_id)
     GROUP BY b.room_id, b.user_id
), valid AS (
    SELECT b.* FROM batch b
      JOIN messages msg ON msg.id = b.message_id AND msg.room_id = b.room_id
)
UPDATE chat_room_members m
   SET last_read_message_id = v.message_id
  FROM valid v
 WHERE m.room_id = v.room_id AND m.user_id = v.user_id
   AND (m.last_read_message_id IS NULL OR m.last_read_message_id < v.message_id)
RETURNING m.room_id, m.user_id, m.last_read_message_id,
          (SELECT count(*) FROM messages x
            WHERE x.room_id = m.room_id AND x.id > m.last_read_message_id
              AND x.sender_id <> m.user_id) AS unread_count;

-- name: room_membership
-- params: $1 user_id bigint, $2 room_id bigint
-- returns: exactly one row room_exists boolean, is_member boolean, room_type text|NULL
--   (STOMP SUBSCRIBE and SEND authorisation). room_exists is false for a closed room and
--   for one the user may not see (then is_member is false and room_type NULL), so SEND
--   answers those like an unknown id.
WITH mem AS (
    SELECT EXISTS (SELECT 1 FROM chat_room_members
                    WHERE room_id = $2::bigint AND user_id = $1::bigint) AS is_member
), r AS (
    SELECT r0.type FROM chat_rooms r0, mem
     WHERE r0.id = $2::bigint AND r0.closed_at IS NULL
       AND ((r0.type = 'GROUP' AND r0.visibility = 'public') OR mem.is_member)
)
SELECT EXISTS (SELECT 1 FROM r) AS room_exists,
       EXISTS (SELECT 1 FROM r) AND (SELECT is_member FROM mem) AS is_member,
       (SELECT type FROM r) AS room_type;

-- name: room_member_ids
-- params: $1 room_id bigint
-- returns: one row per member: user_id bigint, ordered by user_id (cache invalidation of
--   every member's room list). Zero rows: unknown room or no members.
SELECT user_id FROM chat_room_members WHERE room_id = $1::bigint ORDER BY user_id;

-- name: room_member_ids_many
-- params: $1 room_ids bigint[]
-- returns: one row per distinct member of any of the rooms: user_id bigint, ordered by
--   user_id (the persistence pipeline drops the cached room list of every member of the
--   rooms a batch stored messages in: one statement per batch). Zero rows: no members.
SELECT DISTINCT user_id FROM chat_room_members
 WHERE room_id = ANY ($1::bigint[])
 ORDER BY user_id;

-- name: messages_insert_batch
-- params: parallel arrays, one element per event, all of the same length:
--   $1 message_key uuid[], $2 room_id bigint[], $3 sender_id bigint[], $4 content text[],
--   $5 type text[] ('TEXT'|'IMAGE'|'FILE'|'SYSTEM'), $6 created_at_ms bigint[] (Unix ms),
--   $7 kafka_partition integer[], $8 kafka_offset bigint[]
-- returns: one row per message actually inserted: the MESSAGE columns (sender_nickname
--   included), in kafka order. A messageKey is its sender's idempotency key within a
--   room: an event whose (room_id, sender_id, message_key) is already stored, or comes
--   earlier in the same batch, inserts nothing and returns nothing (a replay, or a
--   client's retry that Kafka holds twice: the first offset is the one kept). The same
--   key from another sender or in another room is another message and is stored.
--   A room or sender that does not exist fails the whole statement (FK): the pipeline's
--   retry/DLT path. Rooms of one partition must not be inserted by two batches at once
--   (one pipeline per partition): ids then follow Kafka order within a room.
WITH batch AS (
    SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::text[], $5::text[],
                         $6::bigint[], $7::integer[], $8::bigint[])
           AS b (message_key, room_id, sender_id, content, type, created_at_ms,
                 kafka_partition, kafka_offset)
), ins AS (
    INSERT INTO messages (message_key, room_id, sender_id, content, type, created_at,
                          kafka_partition, kafka_offset)
    SELECT b.message_key, b.room_id, b.sender_id, b.content, b.type,
           to_timestamp(b.created_at_ms / 1000.0), b.kafka_partition, b.kafka_offset
      FROM batch b
     ORDER BY b.kafka_partition, b.kafka_offset
    ON CONFLICT (room_id, sender_id, message_key) DO NOTHING
    RETURNING id, message_key, room_id, sender_id, content, type, created_at,
              kafka_partition, kafka_offset
)
SELECT i.id, i.message_key, i.room_id, i.sender_id,
       (SELECT u.nickname FROM users u WHERE u.id = i.sender_id) AS sender_nickname, i.content,
       i.type, floor(extract(epoch FROM i.created_at) * 1000)::bigint AS created_at_ms,
       i.kafka_partition, i.kafka_offset
  FROM ins i
 ORDER BY i.kafka_partition, i.kafka_offset;

-- name: room_messages_after_offset
-- params: $1 room_id bigint, $2 after_offset bigint (exclusive; -1 = from the start),
--   $3 before_offset bigint|NULL (exclusive upper bound, NULL = none), $4 limit integer
-- returns: the room's stored messages with after < kafka_offset < before, oldest first
--   (kafka_offset ASC), at most $4: the MESSAGE columns. Resume and gap repair.
SELECT msg.id, msg.message_key, msg.room_id, msg.sender_id, u.nickname AS sender_nickname,
       msg.content, msg.type,
       floor(extract(epoch FROM msg.created_at) * 1000)::bigint AS created_at_ms,
       msg.kafka_partition, msg.kafka_offset
  FROM messages msg
  JOIN users u ON u.id = msg.sender_id
 WHERE msg.room_id = $1::bigint
   AND msg.kafka_offset > $2::bigint
   AND msg.kafka_offset < coalesce($3::bigint, 9223372036854775807)
 ORDER BY msg.kafka_offset
 LIMIT $4::integer;

-- name: presence_online
-- params: $1 user_ids bigint[]
-- returns: one row id bigint per user whose status changed to ONLINE (the others already
--   were). The presence actor runs it when a user's first session on the node opens, and
--   for every user with a local session on each refresh tick, which heals a race with
--   another node's OFFLINE (see docs/ARCHITECTURE.md "Presence").
UPDATE users SET status = 'ONLINE'
 WHERE id = ANY ($1::bigint[]) AND status <> 'ONLINE'
RETURNING id;

-- name: presence_offline
-- params: $1 user_ids bigint[]
-- returns: one row id bigint per user whose status changed to OFFLINE; last_seen_at is
--   set to now() for those. Users already OFFLINE are left alone (their last_seen_at
--   stays the time they went offline).
UPDATE users SET status = 'OFFLINE', last_seen_at = now()
 WHERE id = ANY ($1::bigint[]) AND status <> 'OFFLINE'
RETURNING id;

-- name: presence_online_page
-- params: $1 after_id bigint (exclusive; 0 = from the start), $2 limit integer
-- returns: up to $2 rows id bigint of ONLINE users with id > $1, ascending: the presence
--   sweep's pages (the partial index users_online_idx keeps it independent of the number
--   of offline users).
SELECT id FROM users
 WHERE status = 'ONLINE' AND id > $1::bigint
 ORDER BY id
 LIMIT $2::integer;

-- name: login_failure_record
-- params: $1 email text, $2 backoff_after integer (failures before the back-off starts),
--   $3 backoff_base_s integer, $4 backoff_max_s integer
-- returns: one row failures integer (consecutive failures of the email, this one included),
--   retry_after_s integer (the back-off now in force, 0 = none).
-- A failed password check for the email (whether or not a user has it). From the
--   backoff_after-th consecutive failure on, logins of the email are refused for
--   base * 2^(failures - backoff_after) seconds, at most max: 1 s, 2 s, 4 s ... with the
--   defaults. A failure more than a day after the previous one starts the count again.
--   Each call also drops up to 16 rows whose last failure is a day old and whose back-off
--   is over (login_throttle_last_failure_idx), so emails tried once do not pile up.
WITH prune AS (
    DELETE FROM login_throttle
     WHERE email_key IN (SELECT email_key FROM login_throttle
                          WHERE last_failure_at < now() - interval '1 day'
                            AND (blocked_until IS NULL OR blocked_until < now())
                          ORDER BY last_failure_at
                          LIMIT 16)
       AND email_key <> lower($1::text)
), up AS (
    INSERT INTO login_throttle AS t (email_key, failures, blocked_until, last_failure_at)
    VALUES (lower($1::text), 1,
            CASE WHEN $2::integer <= 1
                 THEN now() + make_interval(secs => least($4::integer, $3::integer)) END,
            now())
    ON CONFLICT (email_key) DO UPDATE
       SET failures = CASE WHEN t.last_failure_at < now() - interval '1 day' THEN 1
                           ELSE t.failures + 1 END,
           blocked_until =
               CASE WHEN (CASE WHEN t.last_failure_at < now() - interval '1 day' THEN 1
                               ELSE t.failures + 1 END) >= $2::integer
                    THEN now() + make_interval(secs => least($4::double precision,
                             $3::double precision * power(2, least(
                                 (CASE WHEN t.last_failure_at < now() - interval '1 day' THEN 1
                                       ELSE t.failures + 1 END) - $2::integer, 40))))
               END,
           last_failure_at = now()
    RETURNING t.failures, t.blocked_until
)
SELECT up.failures,
       coalesce(ceil(extract(epoch FROM up.blocked_until - now())), 0)::integer AS retry_after_s
  FROM up;

-- name: login_session_start
-- params: $1 email text (as logged in with), $2 user_id bigint, $3 refresh_token_hash text
--   (hex SHA-256 of the new refresh token), $4 refresh_ttl_s integer
-- returns: one row refresh_expires_at_ms bigint.
-- A successful login: ends the email's failure count and back-off, drops the user's expired
--   refresh tokens (a revoked one only with its whole family: it is what marks the family
--   revoked, see refresh_token_rotate), and stores the new refresh token as the first of a new family (a
--   family: one login and the tokens each refresh trades it for).
WITH reset AS (
    DELETE FROM login_throttle WHERE email_key = lower($1::text)
), prune AS (
    DELETE FROM refresh_tokens r
     WHERE r.user_id = $2::bigint AND r.expires_at < now()
       AND (r.revoked_at IS NULL
            OR NOT EXISTS (SELECT 1 FROM refresh_tokens f
                            WHERE f.family_id = r.family_id AND f.expires_at >= now()))
)
INSERT INTO refresh_tokens (token_hash, user_id, family_id, expires_at)
VALUES (decode($3::text, 'hex'), $2::bigint, gen_random_uuid(),
        now() + make_interval(secs => $4::integer))
RETURNING floor(extract(epoch FROM expires_at) * 1000)::bigint AS refresh_expires_at_ms;

-- name: refresh_token_rotate
-- params: $1 token_hash text (hex SHA-256 of the presented refresh token), $2 new_token_hash
--   text (hex SHA-256 of its successor), $3 refresh_ttl_s integer
-- returns: exactly one row: outcome text, then id bigint, email text, nickname text,
--   status text, last_seen_at_ms bigint|NULL, created_at_ms bigint (the user),
--   refresh_expires_at_ms bigint (of the successor); all NULL unless 'ok'.
--   outcome 'ok'      -> the token is spent now and its successor stored in its family;
--   outcome 'unknown' -> no such token (never issued, or expired and pruned): 401;
--   outcome 'expired' -> past its expiry: 401;
--   outcome 'revoked' -> logged out, or its family was revoked: 401;
--   outcome 'reused'  -> it was spent before: someone holds a copy. Every token of its
--     family is revoked now (the holder of the successor must log in again): 401.
-- Concurrency: the presented row is locked (FOR UPDATE), so of two refreshes with one token
--   exactly one gets 'ok'; the other waits, then sees it spent: 'reused'. That loser's
--   snapshot predates the winner's successor, so its revocation cannot reach that row
--   (nor can a logout's racing a refresh): a family counts as revoked while ANY of its rows
--   is, and presenting any token of such a family answers 'revoked' and revokes it too.
--   Each success also drops the family's expired tokens, never a revoked one.
WITH old AS (
    SELECT t.id, t.user_id, t.family_id, t.expires_at, t.spent_at, t.revoked_at,
           EXISTS (SELECT 1 FROM refresh_tokens f
                    WHERE f.family_id = t.family_id AND f.revoked_at IS NOT NULL)
             AS family_revoked
      FROM refresh_tokens t
     WHERE t.token_hash = decode($1::text, 'hex')
       FOR UPDATE OF t
), spend AS (
    UPDATE refresh_tokens r SET spent_at = now()
      FROM old
     WHERE r.id = old.id AND old.spent_at IS NULL AND old.revoked_at IS NULL
       AND NOT old.family_revoked AND old.expires_at > now()
    RETURNING r.user_id, r.family_id
), revoke AS (
    UPDATE refresh_tokens r SET revoked_at = now()
      FROM old
     WHERE r.family_id = old.family_id AND old.revoked_at IS NULL
       AND (old.spent_at IS NOT NULL OR old.family_revoked) AND r.revoked_at IS NULL
    RETURNING r.id
), prune AS (
    DELETE FROM refresh_tokens r
     USING spend s
     WHERE r.family_id = s.family_id AND r.expires_at < now() AND r.revoked_at IS NULL
), ins AS (
    INSERT INTO refresh_tokens (token_hash, user_id, family_id, expires_at)
    SELECT decode($2::text, 'hex'), s.user_id, s.family_id,
           now() + make_interval(secs => $3::integer)
      FROM spend s
    RETURNING user_id, expires_at
)
SELECT CASE WHEN ins.user_id IS NOT NULL THEN 'ok'
            WHEN old.id IS NULL THEN 'unknown'
            WHEN old.revoked_at IS NOT NULL OR old.family_revoked THEN 'revoked'
            WHEN old.spent_at IS NOT NULL THEN 'reused'
            ELSE 'expired' END AS outcome,
       u.id, u.email, u.nickname, u.status,
       floor(extract(epoch FROM u.last_seen_at) * 1000)::bigint AS last_seen_at_ms,
       floor(extract(epoch FROM u.created_at) * 1000)::bigint AS created_at_ms,
       floor(extract(epoch FROM ins.expires_at) * 1000)::bigint AS refresh_expires_at_ms
  FROM (SELECT 1) one
  LEFT JOIN old ON true
  LEFT JOIN ins ON true
  LEFT JOIN users u ON u.id = ins.user_id;

-- name: refresh_token_revoke
-- params: $1 token_hash text (hex SHA-256 of the presented refresh token)
-- returns: one row id bigint per token of its family revoked now; zero rows when the token
--   is unknown or its family was revoked already (logout answers the same either way).
-- Logout: the token's whole family (that login's session) ends.
UPDATE refresh_tokens r SET revoked_at = now()
 WHERE r.family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = decode($1::text, 'hex'))
   AND r.revoked_at IS NULL
RETURNING r.id;

-- name: room_invite_create
-- params: $1 user_id bigint, $2 room_id bigint, $3 token_hash text (the SHA-256 of the
--   token, 64 hex digits: the token itself never reaches the database), $4 max_uses
--   integer (1..1000), $5 expires_in_s integer (the handler bounds it)
-- returns: exactly one row: outcome text, then id bigint, room_id bigint, created_by bigint,
--   max_uses integer, uses integer, expires_at_ms bigint, created_at_ms bigint (NULL
--   unless outcome is 'ok').
--   outcome 'ok'         -> the invitation was stored;
--   outcome 'not_found'  -> no such room, closed, or one the user may not see (404);
--   outcome 'not_member' -> a public room the user is not in (403);
--   outcome 'not_group'  -> a direct room (409). Nothing written unless 'ok'.
WITH r AS (
    SELECT r0.id, r0.type, r0.visibility,
           EXISTS (SELECT 1 FROM chat_room_members m
                    WHERE m.room_id = r0.id AND m.user_id = $1::bigint) AS is_member
      FROM chat_rooms r0
     WHERE r0.id = $2::bigint AND r0.closed_at IS NULL
), v AS (
    SELECT * FROM r WHERE r.is_member OR (r.type = 'GROUP' AND r.visibility = 'public')
), check_ AS (
    SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM v) THEN 'not_found'
                WHEN NOT (SELECT is_member FROM v) THEN 'not_member'
                WHEN (SELECT type FROM v) <> 'GROUP' THEN 'not_group'
                ELSE 'ok' END AS outcome
), ins AS (
    INSERT INTO room_invites (room_id, created_by, token_hash, max_uses, expires_at)
    SELECT $2::bigint, $1::bigint, decode($3::text, 'hex'), $4::integer,
           now() + make_interval(secs => $5::integer)
      FROM check_ c WHERE c.outcome = 'ok'
    RETURNING id, room_id, created_by, max_uses, uses, expires_at, created_at
)
SELECT c.outcome, i.id, i.room_id, i.created_by, i.max_uses, i.uses,
       floor(extract(epoch FROM i.expires_at) * 1000)::bigint AS expires_at_ms,
       floor(extract(epoch FROM i.created_at) * 1000)::bigint AS created_at_ms
  FROM check_ c
  LEFT JOIN ins i ON true;

-- name: room_invites_list
-- params: $1 user_id bigint, $2 room_id bigint
-- returns: at least one row. Every row has outcome text ('ok', 'not_found', 'not_member',
--   'not_group' as in room_invite_create), then the invitation columns of
--   room_invite_create (all NULL on the single row of a refusal or of a room without
--   active invitations). For 'ok': the room's active invitations (not revoked, not
--   expired, not used up), newest first, at most 100.
WITH r AS (
    SELECT r0.id, r0.type, r0.visibility,
           EXISTS (SELECT 1 FROM chat_room_members m
                    WHERE m.room_id = r0.id AND m.user_id = $1::bigint) AS is_member
      FROM chat_rooms r0
     WHERE r0.id = $2::bigint AND r0.closed_at IS NULL
), v AS (
    SELECT * FROM r WHERE r.is_member OR (r.type = 'GROUP' AND r.visibility = 'public')
), check_ AS (
    SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM v) THEN 'not_found'
                WHEN NOT (SELECT is_member FROM v) THEN 'not_member'
                WHEN (SELECT type FROM v) <> 'GROUP' THEN 'not_group'
                ELSE 'ok' END AS outcome
)
SELECT c.outcome, i.id, i.room_id, i.created_by, i.max_uses, i.uses,
       floor(extract(epoch FROM i.expires_at) * 1000)::bigint AS expires_at_ms,
       floor(extract(epoch FROM i.created_at) * 1000)::bigint AS created_at_ms
  FROM check_ c
  LEFT JOIN LATERAL (
        SELECT * FROM room_invites x
         WHERE c.outcome = 'ok' AND x.room_id = $2::bigint AND x.revoked_at IS NULL
           AND x.expires_at > now() AND x.uses < x.max_uses
         ORDER BY x.id DESC
         LIMIT 100) i ON true
 ORDER BY i.id DESC;

-- name: room_invite_revoke
-- params: $1 user_id bigint, $2 room_id bigint, $3 invite_id bigint
-- returns: exactly one row: outcome text.
--   outcome 'ok'         -> the invitation is revoked (also when it already was, or had
--                           expired or been used up: revoking is idempotent);
--   outcome 'no_invite'  -> no invitation with this id in this room (404);
--   outcome 'not_found', 'not_member', 'not_group' as in room_invite_create.
WITH r AS (
    SELECT r0.id, r0.type, r0.visibility,
           EXISTS (SELECT 1 FROM chat_room_members m
                    WHERE m.room_id = r0.id AND m.user_id = $1::bigint) AS is_member
      FROM chat_rooms r0
     WHERE r0.id = $2::bigint AND r0.closed_at IS NULL
), v AS (
    SELECT * FROM r WHERE r.is_member OR (r.type = 'GROUP' AND r.visibility = 'public')
), check_ AS (
    SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM v) THEN 'not_found'
                WHEN NOT (SELECT is_member FROM v) THEN 'not_member'
                WHEN (SELECT type FROM v) <> 'GROUP' THEN 'not_group'
                ELSE 'ok' END AS outcome
), upd AS (
    UPDATE room_invites i SET revoked_at = coalesce(i.revoked_at, now())
      FROM check_ c
     WHERE c.outcome = 'ok' AND i.id = $3::bigint AND i.room_id = $2::bigint
    RETURNING i.id
)
SELECT CASE WHEN c.outcome = 'ok' AND NOT EXISTS (SELECT 1 FROM upd) THEN 'no_invite'
            ELSE c.outcome END AS outcome
  FROM check_ c;

-- name: room_invite_join
-- params: $1 user_id bigint, $2 token_hash text (SHA-256 of the token, 64 hex digits)
-- returns: exactly one row: outcome text, joined boolean, member_ids bigint[] (the room's
--   members before this call, without the joiner: their room lists show a new member
--   count), then the ROOM columns.
--   outcome 'ok'        -> a member now; joined = false when the user already was one: then
--                          no use is counted, and a used-up invitation still answers (a
--                          client retrying a join that worked gets the room again);
--   outcome 'no_invite' -> no such token, or revoked, expired, its room closed, or used up
--                          (for someone not yet a member): all one answer (404), nothing
--                          written, the rest NULL.
--   The invitation row is locked (FOR UPDATE) for the statement and its use count read
--   after the lock, so concurrent joins never use it more than max_uses times: the ones
--   that find it used up get 'no_invite'. A use is counted only when a membership was
--   inserted. A new member starts with the room's last message read (unread 0).
WITH inv AS (
    SELECT i.id, i.room_id, i.uses, i.max_uses
      FROM room_invites i
      JOIN chat_rooms r ON r.id = i.room_id AND r.closed_at IS NULL
     WHERE i.token_hash = decode($2::text, 'hex') AND i.revoked_at IS NULL
       AND i.expires_at > now()
       FOR UPDATE OF i
), already AS (
    SELECT EXISTS (SELECT 1 FROM chat_room_members m, inv
                    WHERE m.room_id = inv.room_id AND m.user_id = $1::bigint) AS member
), ok AS (
    SELECT inv.* FROM inv, already a WHERE a.member OR inv.uses < inv.max_uses
), ins AS (
    INSERT INTO chat_room_members (room_id, user_id, last_read_message_id)
    SELECT ok.room_id, $1::bigint,
           (SELECT max(x.id) FROM messages x WHERE x.room_id = ok.room_id)
      FROM ok, already a
     WHERE NOT a.member
    ON CONFLICT (room_id, user_id) DO NOTHING
    RETURNING room_id
), used AS (
    UPDATE room_invites i SET uses = i.uses + 1
      FROM ok
     WHERE i.id = ok.id AND EXISTS (SELECT 1 FROM ins)
    RETURNING i.id
)
SELECT CASE WHEN r.id IS NULL THEN 'no_invite' ELSE 'ok' END AS outcome,
       EXISTS (SELECT 1 FROM ins) AS joined,
       CASE WHEN r.id IS NOT NULL THEN
            ARRAY(SELECT m.user_id FROM chat_room_members m
                   WHERE m.room_id = r.id AND m.user_id <> $1::bigint ORDER BY m.user_id)
       END AS member_ids,
       r.id, r.name, r.type, r.created_by,
       floor(extract(epoch FROM r.created_at) * 1000)::bigint AS created_at_ms,
       CASE WHEN r.id IS NULL THEN NULL
            ELSE (SELECT count(*) FROM chat_room_members m
                   WHERE m.room_id = r.id AND m.user_id <> $1::bigint) + 1 END AS member_count,
       CASE WHEN r.id IS NULL THEN NULL
            ELSE coalesce((SELECT (SELECT count(*) FROM messages x
                                    WHERE x.room_id = m.room_id
                                      AND x.id > coalesce(m.last_read_message_id, 0)
                                      AND x.sender_id <> m.user_id)
                             FROM chat_room_members m
                            WHERE m.room_id = r.id AND m.user_id = $1::bigint), 0) END
           AS unread_count,
       lm.id AS last_msg_id, lm.message_key AS last_msg_key, lm.sender_id AS last_msg_sender_id,
       lm.nickname AS last_msg_sender_nickname, lm.content AS last_msg_content,
       lm.type AS last_msg_type,
       floor(extract(epoch FROM lm.created_at) * 1000)::bigint AS last_msg_created_at_ms,
       lm.kafka_partition AS last_msg_kafka_partition, lm.kafka_offset AS last_msg_kafka_offset,
       r.visibility,
       NULL::bigint AS peer_id, NULL::text AS peer_nickname, NULL::text AS peer_status,
       NULL::bigint AS peer_last_seen_at_ms
  FROM (SELECT 1) one
  LEFT JOIN ok ON true
  LEFT JOIN chat_rooms r ON r.id = ok.room_id
  LEFT JOIN LATERAL (
        SELECT msg.id, msg.message_key, msg.sender_id, u.nickname, msg.content, msg.type,
               msg.created_at, msg.kafka_partition, msg.kafka_offset
          FROM messages msg JOIN users u ON u.id = msg.sender_id
         WHERE msg.room_id = r.id
         ORDER BY msg.id DESC
         LIMIT 1) lm ON true;

-- name: room_members_add
-- params: $1 user_id bigint (who adds), $2 room_id bigint, $3 user_ids bigint[] (to add;
--   duplicates, NULLs and present members are ignored; the handler bounds the count)
-- returns: exactly one row: outcome text, unknown_ids bigint[]|NULL, not_allowed_ids
--   bigint[]|NULL, added_ids bigint[] (the users this call made members, ordered; empty
--   unless 'ok'), member_ids bigint[] (the members before this call, ordered: their room
--   lists show a new member count), member_count bigint (after; NULL unless 'ok').
--   outcome 'ok'             -> every listed user is a member;
--   outcome 'not_found'      -> no such room, closed, or one the user may not see (404);
--   outcome 'not_member'     -> a public room the user is not in (403);
--   outcome 'not_group'      -> a direct room (409);
--   outcome 'unknown_member' -> unknown_ids are not users (404);
--   outcome 'not_allowed'    -> not_allowed_ids blocked the user who adds (403).
--   Nothing is written unless 'ok'. New members start with the room's last message read.
WITH r AS (
    SELECT r0.id, r0.type, r0.visibility,
           EXISTS (SELECT 1 FROM chat_room_members m
                    WHERE m.room_id = r0.id AND m.user_id = $1::bigint) AS is_member
      FROM chat_rooms r0
     WHERE r0.id = $2::bigint AND r0.closed_at IS NULL
), v AS (
    SELECT * FROM r WHERE r.is_member OR (r.type = 'GROUP' AND r.visibility = 'public')
), wanted AS (
    SELECT DISTINCT w.uid FROM unnest($3::bigint[]) AS w (uid) WHERE w.uid IS NOT NULL
), found AS (
    SELECT u.id FROM users u WHERE u.id IN (SELECT uid FROM wanted)
), blockers AS (
    SELECT b.blocker_id AS id FROM user_blocks b
     WHERE b.blocker_id IN (SELECT id FROM found) AND b.blocked_id = $1::bigint
), check_ AS (
    SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM v) THEN 'not_found'
                WHEN NOT (SELECT is_member FROM v) THEN 'not_member'
                WHEN (SELECT type FROM v) <> 'GROUP' THEN 'not_group'
                WHEN (SELECT count(*) FROM wanted) <> (SELECT count(*) FROM found)
                     THEN 'unknown_member'
                WHEN EXISTS (SELECT 1 FROM blockers) THEN 'not_allowed'
                ELSE 'ok' END AS outcome
), ins AS (
    INSERT INTO chat_room_members (room_id, user_id, last_read_message_id)
    SELECT $2::bigint, f.id, (SELECT max(x.id) FROM messages x WHERE x.room_id = $2::bigint)
      FROM found f, check_ c
     WHERE c.outcome = 'ok'
    ON CONFLICT (room_id, user_id) DO NOTHING
    RETURNING user_id
), before AS (
    SELECT m.user_id FROM chat_room_members m, check_ c
     WHERE c.outcome = 'ok' AND m.room_id = $2::bigint
)
SELECT c.outcome,
       CASE WHEN c.outcome = 'unknown_member' THEN
            (SELECT array_agg(w.uid ORDER BY w.uid) FROM wanted w
              WHERE w.uid NOT IN (SELECT id FROM found)) END AS unknown_ids,
       CASE WHEN c.outcome = 'not_allowed' THEN
            (SELECT array_agg(b.id ORDER BY b.id) FROM blockers b) END AS not_allowed_ids,
       ARRAY(SELECT user_id FROM ins ORDER BY user_id) AS added_ids,
       ARRAY(SELECT user_id FROM before ORDER BY user_id) AS member_ids,
       CASE WHEN c.outcome = 'ok'
            THEN (SELECT count(*) FROM before) + (SELECT count(*) FROM ins) END AS member_count
  FROM check_ c;

-- name: room_member_remove
-- params: $1 user_id bigint (who removes), $2 room_id bigint, $3 member_id bigint (who is
--   removed; = $1 to leave)
-- returns: exactly one row: outcome text, member_ids bigint[] (the members left, ordered;
--   empty unless 'ok').
--   outcome 'ok'          -> $3 is no longer a member;
--   outcome 'not_found'   -> no such room, closed, or one $1 may not see (404);
--   outcome 'not_member'  -> $1 is not a member of this public room (403);
--   outcome 'not_group'   -> a direct room (409);
--   outcome 'not_creator' -> $1 removes someone else but did not create the room (403);
--   outcome 'no_member'   -> $3 is not a member (404). Nothing written unless 'ok'.
WITH r AS (
    SELECT r0.id, r0.type, r0.visibility, r0.created_by,
           EXISTS (SELECT 1 FROM chat_room_members m
                    WHERE m.room_id = r0.id AND m.user_id = $1::bigint) AS is_member
      FROM chat_rooms r0
     WHERE r0.id = $2::bigint AND r0.closed_at IS NULL
), v AS (
    SELECT * FROM r WHERE r.is_member OR (r.type = 'GROUP' AND r.visibility = 'public')
), check_ AS (
    SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM v) THEN 'not_found'
                WHEN NOT (SELECT is_member FROM v) THEN 'not_member'
                WHEN (SELECT type FROM v) <> 'GROUP' THEN 'not_group'
                WHEN $3::bigint <> $1::bigint AND (SELECT created_by FROM v) <> $1::bigint
                     THEN 'not_creator'
                ELSE 'ok' END AS outcome
), del AS (
    DELETE FROM chat_room_members m
     USING check_ c
     WHERE c.outcome = 'ok' AND m.room_id = $2::bigint AND m.user_id = $3::bigint
    RETURNING m.user_id
)
SELECT CASE WHEN c.outcome = 'ok' AND NOT EXISTS (SELECT 1 FROM del) THEN 'no_member'
            ELSE c.outcome END AS outcome,
       CASE WHEN EXISTS (SELECT 1 FROM del)
            THEN ARRAY(SELECT m.user_id FROM chat_room_members m
                        WHERE m.room_id = $2::bigint AND m.user_id <> $3::bigint
                        ORDER BY m.user_id)
            ELSE '{}'::bigint[] END AS member_ids
  FROM check_ c;

-- name: room_close
-- params: $1 user_id bigint, $2 room_id bigint
-- returns: exactly one row: outcome text, member_ids bigint[] (the members the room had,
--   ordered; empty unless 'ok').
--   outcome 'ok'          -> the room is closed: closed_at is set, every membership is
--                            deleted and every invitation revoked; from now on every
--                            statement answers for it as for an unknown id. Its messages stay;
--   outcome 'not_found'   -> no such room, already closed, or one the user may not see (404);
--   outcome 'not_member'  -> a public room the user is not in (403);
--   outcome 'not_group'   -> a direct room (409);
--   outcome 'not_creator' -> only the room's creator may close it (403).
--   Two closes of one room: the second waits for the first and answers 'not_found'.
WITH r AS (
    SELECT r0.id, r0.type, r0.visibility, r0.created_by,
           EXISTS (SELECT 1 FROM chat_room_members m
                    WHERE m.room_id = r0.id AND m.user_id = $1::bigint) AS is_member
      FROM chat_rooms r0
     WHERE r0.id = $2::bigint AND r0.closed_at IS NULL
), v AS (
    SELECT * FROM r WHERE r.is_member OR (r.type = 'GROUP' AND r.visibility = 'public')
), check_ AS (
    SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM v) THEN 'not_found'
                WHEN NOT (SELECT is_member FROM v) THEN 'not_member'
                WHEN (SELECT type FROM v) <> 'GROUP' THEN 'not_group'
                WHEN (SELECT created_by FROM v) <> $1::bigint THEN 'not_creator'
                ELSE 'ok' END AS outcome
), closed AS (
    UPDATE chat_rooms r0 SET closed_at = now()
      FROM check_ c
     WHERE c.outcome = 'ok' AND r0.id = $2::bigint AND r0.closed_at IS NULL
    RETURNING r0.id
), del AS (
    DELETE FROM chat_room_members m
     USING closed
     WHERE m.room_id = closed.id
    RETURNING m.user_id
), revoked AS (
    UPDATE room_invites i SET revoked_at = now()
      FROM closed
     WHERE i.room_id = closed.id AND i.revoked_at IS NULL
    RETURNING i.id
)
SELECT CASE WHEN c.outcome = 'ok' AND NOT EXISTS (SELECT 1 FROM closed) THEN 'not_found'
            ELSE c.outcome END AS outcome,
       ARRAY(SELECT user_id FROM del ORDER BY user_id) AS member_ids
  FROM check_ c;

-- name: public_rooms_search
-- params: $1 user_id bigint, $2 q text (a name prefix, matched case-insensitively; '' =
--   every public room), $3 cursor bigint|NULL (the id of the last room of the previous
--   page; NULL = first page), $4 size integer (the handler bounds it)
-- returns: up to $4 + 1 open public rooms whose folded name starts with the folded $2,
--   ordered by folded name (byte order) then id, after the cursor room: id bigint, name
--   text, type text, visibility text, created_by bigint, created_at_ms bigint, member_count
--   bigint, is_member boolean. More than $4 rows means a next page whose cursor is the id
--   of row $4. A cursor that is not a public room gives an empty page (so a cursor tells
--   nothing about private rooms' names).
--   Folding is lower() under the ICU root collation, the expression of
--   chat_rooms_public_name_idx, whose order the page follows (no sort).
WITH after AS (
    SELECT lower(c.name COLLATE "und-x-icu") COLLATE "C" AS fname, c.id
      FROM chat_rooms c
     WHERE c.id = $3::bigint AND c.type = 'GROUP' AND c.visibility = 'public'
)
SELECT r.id, r.name, r.type, r.visibility, r.created_by,
       floor(extract(epoch FROM r.created_at) * 1000)::bigint AS created_at_ms,
       (SELECT count(*) FROM chat_room_members x WHERE x.room_id = r.id) AS member_count,
       EXISTS (SELECT 1 FROM chat_room_members x
                WHERE x.room_id = r.id AND x.user_id = $1::bigint) AS is_member
  FROM chat_rooms r
 WHERE r.visibility = 'public' AND r.closed_at IS NULL
   AND lower(r.name COLLATE "und-x-icu") COLLATE "C"
       >= lower($2::text COLLATE "und-x-icu") COLLATE "C"
   AND lower(r.name COLLATE "und-x-icu") COLLATE "C"
       < (lower($2::text COLLATE "und-x-icu") || chr(1114111)) COLLATE "C"
   AND ($3::bigint IS NULL OR EXISTS (SELECT 1 FROM after))
   AND (lower(r.name COLLATE "und-x-icu") COLLATE "C", r.id)
       > (coalesce((SELECT fname FROM after), ''), coalesce((SELECT id FROM after), 0))
 ORDER BY lower(r.name COLLATE "und-x-icu") COLLATE "C", r.id
 LIMIT $4::integer + 1;

-- name: users_search
-- params: $1 user_id bigint (who searches), $2 q text (a nickname prefix, matched
--   case-insensitively, or an exact email), $3 cursor bigint|NULL (the id of the last
--   nickname match of the previous page; NULL = first page), $4 size integer (the handler
--   bounds it)
-- returns: the user whose email is $2 (case-insensitively; first page only, by_email =
--   true), then up to $4 + 1 users whose folded nickname starts with the folded $2, ordered
--   by folded nickname (byte order) then id, after the cursor user (by_email = false):
--   id bigint, nickname text, status text, by_email boolean. Never an email; never $1; never
--   a user who blocked $1; the email match is not repeated among the nickname matches.
--   More than $4 nickname rows means a next page whose cursor is the id of nickname row $4.
--   Folding as in public_rooms_search (users_nickname_fold_idx).
WITH after AS (
    SELECT lower(c.nickname COLLATE "und-x-icu") COLLATE "C" AS fnick, c.id
      FROM users c
     WHERE c.id = $3::bigint
), by_email AS (
    SELECT u.id, u.nickname, u.status, true AS by_email
      FROM users u
     WHERE $3::bigint IS NULL AND lower(u.email) = lower($2::text) AND u.id <> $1::bigint
       AND NOT EXISTS (SELECT 1 FROM user_blocks b
                        WHERE b.blocker_id = u.id AND b.blocked_id = $1::bigint)
), by_nick AS (
    SELECT u.id, u.nickname, u.status, false AS by_email
      FROM users u
     WHERE lower(u.nickname COLLATE "und-x-icu") COLLATE "C"
           >= lower($2::text COLLATE "und-x-icu") COLLATE "C"
       AND lower(u.nickname COLLATE "und-x-icu") COLLATE "C"
           < (lower($2::text COLLATE "und-x-icu") || chr(1114111)) COLLATE "C"
       AND ($3::bigint IS NULL OR EXISTS (SELECT 1 FROM after))
       AND (lower(u.nickname COLLATE "und-x-icu") COLLATE "C", u.id)
           > (coalesce((SELECT fnick FROM after), ''), coalesce((SELECT id FROM after), 0))
       AND u.id <> $1::bigint
       AND u.id NOT IN (SELECT id FROM by_email)
       AND NOT EXISTS (SELECT 1 FROM user_blocks b
                        WHERE b.blocker_id = u.id AND b.blocked_id = $1::bigint)
     ORDER BY lower(u.nickname COLLATE "und-x-icu") COLLATE "C", u.id
     LIMIT $4::integer + 1
)
SELECT id, nickname, status, by_email FROM by_email
UNION ALL
SELECT id, nickname, status, by_email FROM by_nick;

-- name: user_block
-- params: $1 user_id bigint (who blocks), $2 target bigint
-- returns: exactly one row: outcome text, created boolean.
--   outcome 'ok'        -> $1 blocks $2 (created = false when it already did);
--   outcome 'self'      -> $1 = $2 (400), nothing written;
--   outcome 'no_target' -> $2 is not a user (404), nothing written;
--   outcome 'too_many'  -> $1 already blocks 1000 users (409), nothing written.
WITH check_ AS (
    SELECT CASE WHEN $1::bigint = $2::bigint THEN 'self'
                WHEN NOT EXISTS (SELECT 1 FROM users WHERE id = $2::bigint) THEN 'no_target'
                WHEN NOT EXISTS (SELECT 1 FROM user_blocks
                                  WHERE blocker_id = $1::bigint AND blocked_id = $2::bigint)
                     AND (SELECT count(*) FROM user_blocks WHERE blocker_id = $1::bigint) >= 1000
                     THEN 'too_many'
                ELSE 'ok' END AS outcome
), ins AS (
    INSERT INTO user_blocks (blocker_id, blocked_id)
    SELECT $1::bigint, $2::bigint FROM check_ WHERE outcome = 'ok'
    ON CONFLICT (blocker_id, blocked_id) DO NOTHING
    RETURNING blocked_id
)
SELECT c.outcome, EXISTS (SELECT 1 FROM ins) AS created
  FROM check_ c;

-- name: user_unblock
-- params: $1 user_id bigint, $2 target bigint
-- returns: exactly one row: outcome text ('ok', or 'no_target' when $2 is not a user:
--   404), removed boolean (false when there was no block: unblocking is idempotent).
WITH del AS (
    DELETE FROM user_blocks WHERE blocker_id = $1::bigint AND blocked_id = $2::bigint
    RETURNING blocked_id
)
SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM users WHERE id = $2::bigint) THEN 'no_target'
            ELSE 'ok' END AS outcome,
       EXISTS (SELECT 1 FROM del) AS removed;

-- name: users_blocked
-- params: $1 user_id bigint
-- returns: one row per user $1 blocks (zero rows: none), newest block first, at most
--   1000 (user_block keeps it at that): id bigint, nickname text, blocked_at_ms bigint.
SELECT u.id, u.nickname, floor(extract(epoch FROM b.created_at) * 1000)::bigint AS blocked_at_ms
  FROM user_blocks b
  JOIN users u ON u.id = b.blocked_id
 WHERE b.blocker_id = $1::bigint
 ORDER BY b.created_at DESC, u.id
 LIMIT 1000;

-- name: admin_user_find
-- params: $1 who text (what the operator typed after `chat-admin user`: an id, an email
--   or a nickname)
-- returns: zero rows (no such user) or one row: id bigint, nickname text, email text,
--   status text, created_at_ms bigint, last_seen_at_ms bigint|NULL, matched_by text ('id',
--   'email' or 'nickname'). An id wins over an email, an email over a nickname (a nickname
--   may be all digits). Each arm reads an index: the primary key, users_email_lower_key,
--   users_nickname_fold_idx. Run by the admin thread on a connection of its own.
SELECT id, nickname, email, status,
       floor(extract(epoch FROM created_at) * 1000)::bigint AS created_at_ms,
       floor(extract(epoch FROM last_seen_at) * 1000)::bigint AS last_seen_at_ms, matched_by
  FROM (SELECT u.*, 'id' AS matched_by, 1 AS rank
          FROM users u
         WHERE $1::text ~ '^[0-9]{1,18}$'
           AND u.id = (CASE WHEN $1::text ~ '^[0-9]{1,18}$' THEN $1::text ELSE '0' END)::bigint
        UNION ALL
        SELECT u.*, 'email', 2 FROM users u WHERE lower(u.email) = lower($1::text)
        UNION ALL
        SELECT u.*, 'nickname', 3 FROM users u
         WHERE (lower(u.nickname COLLATE "und-x-icu")) COLLATE "C"
               = (lower($1::text COLLATE "und-x-icu")) COLLATE "C") m
 ORDER BY rank
 LIMIT 1;

-- name: admin_user_nicknames
-- params: $1 ids bigint[]
-- returns: one row per id of $1 that is a user: id bigint, nickname text (chat-admin
--   sessions puts the nickname next to each session's user id; one query per listing).
SELECT id, nickname FROM users WHERE id = ANY($1::bigint[]);
