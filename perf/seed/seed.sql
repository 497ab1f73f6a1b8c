-- perf/seed/seed.sql — fills a freshly migrated, empty chat database with synthetic data.
--
--   psql DBURL -v ON_ERROR_STOP=1 -v users=10000 -v rooms=50000 -v messages=1000000 \
--        [-v direct_pct=60] [-v seed=0.42] -f perf/seed/seed.sql      (perf/seed/run.sh does this)
--
-- What it makes (all set-based, generate_series; reproducible for a given seed):
--   users     ids 1..users, email user<N>@seed.test, nickname user<N> (nickname_key the
--             same: ASCII lower case is its case fold); status ~85% OFFLINE,
--             10% ONLINE, 5% AWAY; password_hash :'password_hash' (default a placeholder
--             that never verifies: seeded users are for reads; pass a real argon2id string
--             to log in as them).
--   rooms     direct_pct% DIRECT rooms between distinct random pairs (direct_key 'min:max'),
--             the rest GROUP rooms of 2..20 members (skewed to small: 2 + floor(19 r^2)),
--             created over the last 60 days; creators skewed to low user ids.
--   members   two per direct room, 2..20 per group room; joined at the room's creation.
--   messages  room popularity is skewed (room rank = floor(rooms * r^3) over a random
--             ordering: the top 1% of rooms get ~21% of the messages, the top 10% ~46%);
--             sender a random member of the room; created after the room, ids in time
--             order; 95% TEXT, 3% IMAGE, 2% FILE; 20..170 characters; kafka_partition =
--             room_id % 6 and kafka_offset counting up per partition in time order.
--   unread    ~70% of memberships have read up to the room's last message (unread 0);
--             the rest read nothing since joining (last_read_message_id NULL: every
--             message of the room that others sent is unread, counted when read).
-- Then VACUUM ANALYZE. Refuses to run on a database that already has users.

\set ON_ERROR_STOP 1
\if :{?direct_pct}
\else
\set direct_pct 60
\endif
\if :{?seed}
\else
\set seed 0.42
\endif
\if :{?password_hash}
\else
\set password_hash '$argon2id$v=19$m=65536,t=2,p=1$c2VlZC1wbGFjZWhvbGRlcg$seed-placeholder-never-verifies'
\endif

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM users) OR EXISTS (SELECT 1 FROM chat_rooms) THEN
        RAISE EXCEPTION 'seed: the database already has users or rooms; seed an empty, freshly migrated database';
    END IF;
END $$;

SET synchronous_commit = off;
SET work_mem = '256MB';
SET maintenance_work_mem = '512MB';
SELECT setseed(:seed);

\timing on
BEGIN;

-- Foreign keys are checked row by row (two checks per message): drop them for the load
-- and add them back at the end, which validates everything in one join per key. Taken
-- from the catalogue, so the definitions stay those of the migrations.
CREATE TEMP TABLE seed_fks ON COMMIT DROP AS
SELECT conrelid::regclass::text AS tbl, conname, pg_get_constraintdef(oid) AS def
  FROM pg_constraint
 WHERE contype = 'f'
   AND conrelid IN ('chat_rooms'::regclass, 'chat_room_members'::regclass, 'messages'::regclass);
-- Likewise the secondary indexes of messages (all but the primary key): built once, by
-- sorting, after the load, instead of a million random inserts into each.
CREATE TEMP TABLE seed_idx ON COMMIT DROP AS
SELECT c.conname, pg_get_constraintdef(c.oid) AS condef, i.relname AS idxname,
       pg_get_indexdef(i.oid) AS idxdef
  FROM pg_index x
  JOIN pg_class i ON i.oid = x.indexrelid
  LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.conrelid = x.indrelid
 WHERE x.indrelid = 'messages'::regclass AND NOT x.indisprimary;
DO $$
DECLARE f record;
BEGIN
    FOR f IN SELECT * FROM seed_fks LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', f.tbl, f.conname);
    END LOOP;
    FOR f IN SELECT * FROM seed_idx LOOP
        IF f.conname IS NOT NULL THEN
            EXECUTE format('ALTER TABLE messages DROP CONSTRAINT %I', f.conname);
        ELSE
            EXECUTE format('DROP INDEX %I', f.idxname);
        END IF;
    END LOOP;
END $$;

-- ---------------------------------------------------------------- users
INSERT INTO users (id, email, password_hash, nickname, nickname_key, status, last_seen_at,
                   created_at)
SELECT g,
       'user' || g || '@seed.test',
       :'password_hash',
       'user' || g,
       'user' || g,
       CASE WHEN r < 0.10 THEN 'ONLINE' WHEN r < 0.15 THEN 'AWAY' ELSE 'OFFLINE' END,
       now() - random() * interval '30 days',
       now() - interval '90 days' + random() * interval '30 days'
  FROM (SELECT g, random() AS r FROM generate_series(1, :users) g) s;
SELECT setval(pg_get_serial_sequence('users', 'id'), :users);

-- ---------------------------------------------------------------- rooms
-- Direct rooms: random distinct pairs (over-generated, deduplicated, cut to the count).
CREATE TEMP TABLE seed_direct ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY first_seen) AS n, a, b
  FROM (SELECT least(x, y) AS a, greatest(x, y) AS b, min(g) AS first_seen
          FROM (SELECT g,
                       1 + floor(random() * :users)::bigint AS x,
                       1 + floor(random() * :users)::bigint AS y
                  FROM generate_series(1, (:rooms * :direct_pct / 100) * 3 / 2 + 100) g) p
         WHERE x <> y
         GROUP BY 1, 2) d
 ORDER BY first_seen
 LIMIT (:rooms * :direct_pct / 100);

INSERT INTO chat_rooms (id, name, type, created_by, created_at, direct_key)
SELECT n, NULL, 'DIRECT', CASE WHEN random() < 0.5 THEN a ELSE b END,
       now() - random() * interval '60 days', a || ':' || b
  FROM seed_direct;

INSERT INTO chat_room_members (room_id, user_id, joined_at)
SELECT d.n, u.uid, r.created_at
  FROM seed_direct d
  JOIN chat_rooms r ON r.id = d.n
 CROSS JOIN LATERAL (VALUES (d.a), (d.b)) u (uid);

-- Group rooms: creator skewed to low ids; members creator + k * stride (mod users),
-- k < size, stride < users / 20: distinct by construction.
CREATE TEMP TABLE seed_group ON COMMIT DROP AS
SELECT (SELECT count(*) FROM seed_direct) + g AS id,
       1 + floor(:users * power(random(), 1.5))::bigint AS creator,
       2 + floor(19 * power(random(), 2))::int AS size,
       1 + floor(random() * greatest(1, :users / 20 - 1))::bigint AS stride,
       now() - random() * interval '60 days' AS created_at
  FROM generate_series(1, :rooms - (SELECT count(*) FROM seed_direct)) g;

INSERT INTO chat_rooms (id, name, type, created_by, created_at, direct_key)
SELECT id, 'group ' || id, 'GROUP', creator, created_at, NULL FROM seed_group;
SELECT setval(pg_get_serial_sequence('chat_rooms', 'id'), (SELECT max(id) FROM chat_rooms));

INSERT INTO chat_room_members (room_id, user_id, joined_at)
SELECT g.id, 1 + (g.creator - 1 + k * g.stride) % :users,
       g.created_at + k * interval '1 minute'
  FROM seed_group g
 CROSS JOIN LATERAL generate_series(0, g.size - 1) k;

-- ---------------------------------------------------------------- messages
-- Rooms in a random order of popularity, with their member lists.
CREATE TEMP TABLE seed_rank ON COMMIT DROP AS
SELECT (row_number() OVER (ORDER BY random()) - 1)::int AS rk, r.id AS room_id, r.created_at,
       m.members, cardinality(m.members) AS n
  FROM chat_rooms r
  JOIN (SELECT room_id, array_agg(user_id) AS members FROM chat_room_members GROUP BY room_id) m
    ON m.room_id = r.id;
CREATE UNIQUE INDEX ON seed_rank (rk);
ANALYZE seed_rank;

CREATE TEMP TABLE seed_msg ON COMMIT DROP AS
SELECT s.g, k.room_id,
       k.members[1 + floor(random() * k.n)::int] AS sender_id,
       k.created_at + random() * (now() - k.created_at) AS created_at
  FROM (SELECT g, floor((SELECT count(*) FROM seed_rank) * power(random(), 3))::int AS rk
          FROM generate_series(1, :messages) g) s
  JOIN seed_rank k ON k.rk = s.rk;

INSERT INTO messages (message_key, room_id, sender_id, content, type, created_at,
                      kafka_partition, kafka_offset)
SELECT gen_random_uuid(), room_id, sender_id,
       substr(repeat('lorem ipsum dolor sit amet, consectetur adipiscing elit. ', 4),
              1 + g % 37, 20 + ((g::bigint * 7919) % 151)::int),
       CASE WHEN g % 100 < 95 THEN 'TEXT' WHEN g % 100 < 98 THEN 'IMAGE' ELSE 'FILE' END,
       created_at,
       (room_id % 6)::int,
       row_number() OVER (PARTITION BY room_id % 6 ORDER BY created_at, g) - 1
  FROM seed_msg
 ORDER BY created_at, g;

-- ---------------------------------------------------------------- read state
-- ~70% of memberships are caught up; the others have read nothing since they joined.
WITH last AS (
    SELECT room_id, max(id) AS last_id FROM messages GROUP BY room_id
), caught_up AS (
    UPDATE chat_room_members m
       SET last_read_message_id = l.last_id
      FROM last l
     WHERE l.room_id = m.room_id AND hashint8(m.id) % 10 BETWEEN -6 AND 6
    RETURNING m.id
)
SELECT count(*) AS caught_up_memberships FROM caught_up;

DO $$
DECLARE f record;
BEGIN
    FOR f IN SELECT * FROM seed_idx LOOP
        IF f.conname IS NOT NULL THEN
            EXECUTE format('ALTER TABLE messages ADD CONSTRAINT %I %s', f.conname, f.condef);
        ELSE
            EXECUTE f.idxdef;
        END IF;
    END LOOP;
    FOR f IN SELECT * FROM seed_fks LOOP
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', f.tbl, f.conname, f.def);
    END LOOP;
END $$;

COMMIT;

-- VACUUM as well: the visibility map autovacuum would have built on a live system (the
-- index-only scans of the history query count on it).
VACUUM ANALYZE users;
VACUUM ANALYZE chat_rooms;
VACUUM ANALYZE chat_room_members;
VACUUM ANALYZE messages;
\timing off

SELECT (SELECT count(*) FROM users) AS users,
       (SELECT count(*) FROM chat_rooms WHERE type = 'DIRECT') AS direct_rooms,
       (SELECT count(*) FROM chat_rooms WHERE type = 'GROUP') AS group_rooms,
       (SELECT count(*) FROM chat_room_members) AS memberships,
       (SELECT count(*) FROM messages) AS messages,
       (SELECT max(c) FROM (SELECT count(*) AS c FROM messages GROUP BY room_id) x)
           AS max_messages_in_a_room;
