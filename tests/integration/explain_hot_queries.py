"""Every hot statement of src/actors/sql/queries.sql is index-backed on a seeded database.

Creates a scratch database on the test stack's PostgreSQL (as the superuser over the
stack's private socket, $CN_TEST_VAR/pg/sock, since the `chat` role may not create
databases; CN_TEST_PG_ADMIN_URL overrides), owned by `chat`, migrates it with ops/migrate,
seeds it with perf/seed/run.sh, and runs EXPLAIN (FORMAT JSON) on each statement with
realistic parameters taken from the seeded data, twice: the custom plan for those values,
and the generic plan that a prepared statement switches to (plan_cache_mode =
force_generic_plan). It fails on any Seq Scan of messages, chat_room_members, chat_rooms
or users, and when a statement does not use the index it is meant to use. Each plan's top
node and total cost are printed. The database is dropped at the end.

Knobs: CN_EXPLAIN_SEED="users,rooms,messages" (default 4000,20000,300000: big enough that a
missing index turns into a sequential scan), CN_EXPLAIN_DROP_INDEX=<index name> (drops that
index after seeding: the way to watch this test fail), CN_EXPLAIN_KEEP_DB=1 (keep it).

The helpers here (the queries.sql parser, psql runner, scratch databases) are also used by
tests/integration/sql_statements.py. Run with /usr/bin/python3 (pytest + Debian's
python3-pytest); outside `ops/dev test` it exits 77 unless CN_TEST_REQUIRE_STACK=1.
"""
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
QUERIES_SQL = os.path.join(ROOT, "src", "actors", "sql", "queries.sql")
ENV = os.environ
SKIP = 77

FORBIDDEN_SEQ_SCAN = {"messages", "chat_room_members", "chat_rooms", "users", "room_invites",
                      "user_blocks"}


# ------------------------------------------------------------------ queries.sql

def load_queries(path=QUERIES_SQL):
    """name -> statement text, by the rules of src/actors/sql/gen_queries.cmake."""
    out, cur, lines = {}, None, []

    def finish():
        if cur is not None:
            text = "\n".join(lines).rstrip()
            if text.endswith(";"):
                text = text[:-1].rstrip()
            assert text, f"statement {cur} is empty"
            out[cur] = text

    with open(path, encoding="utf-8") as f:
        for line in f.read().split("\n"):
            m = re.match(r"^-- name:\s*([a-z_][a-z0-9_]*)\s*$", line)
            if m:
                finish()
                cur, lines = m.group(1), []
                assert cur not in out, f"duplicate statement {cur}"
            elif re.match(r"^\s*--", line) or not line.strip():
                continue
            elif cur is not None:
                lines.append(line)
    finish()
    return out


def param_count(sql):
    return max((int(n) for n in re.findall(r"\$(\d+)", sql)), default=0)


def lit(v):
    """A value as an SQL literal of unknown type (the statement's casts type it)."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "'t'" if v else "'f'"
    if isinstance(v, (list, tuple)):
        def elem(e):
            if e is None:
                return "NULL"
            if isinstance(e, (int, float)) and not isinstance(e, bool):
                return str(e)
            return '"' + str(e).replace("\\", "\\\\").replace('"', '\\"') + '"'
        v = "{" + ",".join(elem(e) for e in v) + "}"
    return "'" + str(v).replace("'", "''") + "'"


# ------------------------------------------------------------------ psql

def stack_present():
    return bool(ENV.get("CN_TEST_PG_URL"))


def run_tests_on_stack(path):
    """The main of a pytest file that needs the stack's PostgreSQL: skipped (77) without
    it, unless CN_TEST_REQUIRE_STACK=1 makes that a failure."""
    if not stack_present():
        if ENV.get("CN_TEST_REQUIRE_STACK") == "1":
            print("CN_TEST_PG_URL is not set but CN_TEST_REQUIRE_STACK=1", file=sys.stderr)
            sys.exit(1)
        print("skipped: no CN_TEST_PG_URL (run through ./ops/dev test)")
        sys.exit(SKIP)
    sys.exit(pytest.main([path, "-q", "-s", "-p", "no:cacheprovider"]))


def psql(target, sql, timeout=120, fields=False):
    """Runs sql in one psql session on target (a URL or a list of connection args).
    Returns stdout (unaligned, tuples only); fields=True splits rows on '|' ."""
    conn = [target] if isinstance(target, str) else list(target)
    r = subprocess.run(
        ["psql", *conn, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"],
        input=sql, capture_output=True, text=True, timeout=timeout,
        env={**ENV, "PGOPTIONS": "-c client_min_messages=warning"})
    if r.returncode != 0:
        raise AssertionError(f"psql failed ({r.returncode}): {r.stderr.strip()}\n--- sql:\n{sql}")
    if fields:
        return [line.split("|") for line in r.stdout.splitlines() if line]
    return r.stdout


def db_url(dbname):
    """CN_TEST_PG_URL with another database name."""
    u = urllib.parse.urlsplit(ENV["CN_TEST_PG_URL"])
    return urllib.parse.urlunsplit(u._replace(path="/" + dbname))


def admin_target():
    """Connection args of a role that may CREATE DATABASE on the test server."""
    if ENV.get("CN_TEST_PG_ADMIN_URL"):
        return ENV["CN_TEST_PG_ADMIN_URL"]
    u = urllib.parse.urlsplit(ENV["CN_TEST_PG_URL"])
    sock = os.path.join(ENV.get("CN_TEST_VAR", ""), "pg", "sock")
    if ENV.get("CN_TEST_VAR") and os.path.isdir(sock):
        # ops/lib/stack.sh: initdb --auth-local=trust, superuser `postgres`, socket here.
        return ["-h", sock, "-p", str(u.port or 5432), "-U", "postgres", "-d", "postgres"]
    return db_url("postgres")   # works when the chat role has CREATEDB


class ScratchDb:
    """A database of its own on the test server, owned by chat, migrated; dropped on close."""

    def __init__(self, prefix):
        self.name = f"{prefix}_{os.getpid()}_{int(time.time() * 1000) % 100000}"
        self.admin = admin_target()
        psql(self.admin, f'CREATE DATABASE "{self.name}" OWNER chat')
        self.url = db_url(self.name)
        r = subprocess.run([os.path.join(ROOT, "ops", "migrate"), self.url],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            self.close()
            raise AssertionError(f"ops/migrate failed: {r.stdout}{r.stderr}")

    def seed(self, users, rooms, messages):
        t0 = time.monotonic()
        r = subprocess.run([os.path.join(ROOT, "perf", "seed", "run.sh"), self.url,
                            str(users), str(rooms), str(messages)],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise AssertionError(f"seed failed: {r.stdout[-2000:]}{r.stderr[-2000:]}")
        self.settle_visibility()
        return time.monotonic() - t0

    def settle_visibility(self, timeout=60):
        """VACUUMs messages until its visibility map covers it, as on a live system.

        The seed's own VACUUM cannot mark pages all-visible while another backend of the
        database holds an older snapshot (an autovacuum ANALYZE that the big load started
        is enough), and without the map the planner prices the history query's
        index-only scan too high and walks the primary key instead."""
        deadline = time.monotonic() + timeout
        while True:
            self.q("VACUUM messages")
            pages, visible = (int(x) for x in self.rows(
                "SELECT relpages, relallvisible FROM pg_class WHERE relname = 'messages'")[0])
            if visible >= 0.9 * pages:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"messages: {visible} of {pages} pages all-visible")
            time.sleep(0.5)

    def q(self, sql, **kw):
        return psql(self.url, sql, **kw)

    def rows(self, sql):
        return psql(self.url, sql, fields=True)

    def close(self):
        if ENV.get("CN_EXPLAIN_KEEP_DB") == "1":
            print(f"keeping database {self.name}")
            return
        psql(self.admin, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def execute_sql(name, sql, params, prefix=""):
    """PREPARE + EXECUTE text for one statement of queries.sql with literal parameters."""
    assert len(params) == param_count(sql), f"{name}: {len(params)} params for {param_count(sql)}"
    args = "(" + ", ".join(lit(p) for p in params) + ")" if params else ""
    return f"PREPARE {name} AS {sql};\n{prefix}EXECUTE {name}{args};\n"


# ------------------------------------------------------------------ plans

def walk(node, depth=0):
    yield node, depth
    for child in node.get("Plans", []):
        yield from walk(child, depth + 1)


def explain(db, name, sql, params, generic):
    mode = "SET plan_cache_mode = force_generic_plan;\n" if generic else ""
    text = db.q(mode + execute_sql(name, sql, params, prefix="EXPLAIN (FORMAT JSON) "))
    return json.loads(text)[0]["Plan"]


# Statement -> the indexes its plan must use: each entry is a set of alternatives, at least
# one of which must appear in the plan (by name; the migrations name them). (name, case)
# keys override the statement's entry for that case.
_MEMBERS_BY_ROOM = "chat_room_members_room_id_user_id_key"
EXPECTED_INDEXES = {
    # the taken checks read both unique indexes (which also arbitrate the insert)
    "user_signup": [{"users_email_lower_key"}, {"users_nickname_key_key"}],
    "user_by_email": [{"users_email_lower_key"}],
    "user_by_id": [{"users_pkey"}],
    "direct_room_open": [{"chat_rooms_direct_key_key"}],
    "group_room_create": [{"users_pkey"}],
    "room_join": [{"chat_rooms_pkey"}, {_MEMBERS_BY_ROOM, "chat_room_members_user_room_idx"}],
    "room_leave": [{"chat_rooms_pkey"}, {_MEMBERS_BY_ROOM, "chat_room_members_user_room_idx"}],
    "my_rooms": [{"chat_room_members_user_room_idx"}, {"messages_room_id_desc_idx"},
                 {_MEMBERS_BY_ROOM}],
    "room_detail": [{_MEMBERS_BY_ROOM}, {"messages_room_id_desc_idx"}],
    "room_history": [{"messages_room_id_desc_idx"}],
    "read_receipt_check": [{_MEMBERS_BY_ROOM, "chat_room_members_user_room_idx"},
                           {"messages_room_id_desc_idx"}],
    # A position is found by (room_id, kafka_offset), as resume finds its rows.
    ("read_receipt_check", "hot room, by position"): [
        {_MEMBERS_BY_ROOM, "chat_room_members_user_room_idx"}, {"messages_room_id_desc_idx"},
        {"messages_room_offset_idx"}],
    ("read_receipt_check", "quiet room, by position"): [
        {_MEMBERS_BY_ROOM, "chat_room_members_user_room_idx"}, {"messages_room_id_desc_idx"},
        {"messages_room_offset_idx"}],
    "read_receipts_apply": [{_MEMBERS_BY_ROOM, "chat_room_members_user_room_idx"},
                            {"messages_room_id_desc_idx"}],
    "presence_online": [{"users_pkey"}],
    "presence_offline": [{"users_pkey"}],
    "presence_online_page": [{"users_online_idx"}],
    "room_membership": [{_MEMBERS_BY_ROOM, "chat_room_members_user_room_idx"}],
    "room_member_ids": [{_MEMBERS_BY_ROOM}],
    "room_member_ids_many": [{_MEMBERS_BY_ROOM}],
    "messages_insert_batch": [{"users_pkey"}],   # the sender nickname; nothing per member
    "room_messages_after_offset": [{"messages_room_offset_idx"}],
    "login_failure_record": [],   # an upsert by primary key on a small table
    "login_session_start": [],    # an INSERT, and deletes by primary key / user
    "refresh_token_rotate": [{"refresh_tokens_token_hash_key"}],
    "refresh_token_revoke": [{"refresh_tokens_token_hash_key"}, {"refresh_tokens_family_idx"}],
    # Room access (schema 0006).
    "room_invite_create": [{"chat_rooms_pkey"}, {_MEMBERS_BY_ROOM, "chat_room_members_user_room_idx"}],
    "room_invites_list": [{"room_invites_room_idx"}],
    "room_invite_revoke": [{"room_invites_pkey", "room_invites_room_idx"}],
    "room_invite_join": [{"room_invites_token_hash_key"}, {"chat_rooms_pkey"}],
    "room_members_add": [{"chat_rooms_pkey"}, {"users_pkey"},
                         {"user_blocks_pkey", "user_blocks_blocked_idx"}],
    "room_member_remove": [{"chat_rooms_pkey"}, {_MEMBERS_BY_ROOM}],
    "room_close": [{"chat_rooms_pkey"}, {_MEMBERS_BY_ROOM}],
    "public_rooms_search": [{"chat_rooms_public_name_idx"}],
    "users_search": [{"users_nickname_fold_idx"}, {"user_blocks_pkey", "user_blocks_blocked_idx"}],
    ("users_search", "exact email"): [{"users_email_lower_key"}],
    "user_block": [{"user_blocks_pkey"}, {"users_pkey"}],
    "user_unblock": [{"user_blocks_pkey", "user_blocks_blocked_idx"}],
    "users_blocked": [{"user_blocks_pkey"}],
    # chat-admin (admin thread): each arm of admin_user_find reads its own index.
    "admin_user_find": [{"users_pkey"}],
    ("admin_user_find", "by email"): [{"users_email_lower_key"}],
    ("admin_user_find", "by nickname"): [{"users_nickname_fold_idx"}],
    "admin_user_nicknames": [{"users_pkey"}],
}

# What the seed (perf/seed) does not make: public rooms (a third of the groups), invitations
# (two per public room, one used up) and blocks (each of the first 2,000 users blocks three).
ROOM_ACCESS_SEED = """
UPDATE chat_rooms SET visibility = 'public' WHERE type = 'GROUP' AND id % 3 = 0;
INSERT INTO room_invites (room_id, created_by, token_hash, max_uses, uses, expires_at)
SELECT r.id, r.created_by, sha256(convert_to('seed-' || r.id || '-' || k, 'UTF8')),
       10, CASE WHEN k = 1 THEN 10 ELSE 0 END, now() + interval '7 days'
  FROM chat_rooms r CROSS JOIN generate_series(1, 2) k
 WHERE r.visibility = 'public';
INSERT INTO user_blocks (blocker_id, blocked_id)
SELECT u.id, 1 + (u.id * 7 + k * 13) % (SELECT max(id) FROM users)
  FROM users u CROSS JOIN generate_series(1, 3) k
 WHERE u.id <= 2000 AND 1 + (u.id * 7 + k * 13) % (SELECT max(id) FROM users) <> u.id
ON CONFLICT DO NOTHING;
ANALYZE chat_rooms;
ANALYZE room_invites;
ANALYZE user_blocks;
"""


def plan_cases(db):
    """(statement, case, parameters) for every statement, picked from the seeded data:
    the heaviest user and room, and typical (median) ones."""
    one = lambda sql: db.rows(sql)[0]  # noqa: E731
    heavy_user, = one("""SELECT user_id FROM chat_room_members GROUP BY user_id
                          ORDER BY count(*) DESC, user_id LIMIT 1""")
    typical_user, = one("""SELECT user_id FROM (SELECT user_id, count(*) AS n
                             FROM chat_room_members GROUP BY user_id) c
                            ORDER BY n, user_id
                           OFFSET (SELECT count(DISTINCT user_id) / 2 FROM chat_room_members)
                           LIMIT 1""")
    rooms = {}
    for label, order in (("hot room", "n DESC, room_id"), ("quiet room", None)):
        if order:
            room, n = one(f"""SELECT room_id, count(*) AS n FROM messages GROUP BY room_id
                               ORDER BY {order} LIMIT 1""")
        else:
            room, n = one("""SELECT room_id, n FROM (SELECT room_id, count(*) AS n
                               FROM messages GROUP BY room_id) c
                              ORDER BY n, room_id
                             OFFSET (SELECT count(DISTINCT room_id) / 2 FROM messages) LIMIT 1""")
        member, = one(f"SELECT min(user_id) FROM chat_room_members WHERE room_id = {room}")
        cursor, offset = one(f"""SELECT id, kafka_offset FROM messages WHERE room_id = {room}
                                  ORDER BY id DESC OFFSET {int(n) // 2} LIMIT 1""")
        rooms[label] = (room, member, cursor, offset)
    email, = one("SELECT upper(email) FROM users ORDER BY id LIMIT 1 OFFSET 17")
    a, b = one("""SELECT u1.id, u2.id FROM users u1, users u2
                   WHERE u1.id < u2.id AND NOT EXISTS (SELECT 1 FROM chat_rooms
                         WHERE direct_key = u1.id || ':' || u2.id)
                   ORDER BY u1.id, u2.id LIMIT 1""")
    da, db_ = one("SELECT split_part(direct_key, ':', 1), split_part(direct_key, ':', 2) "
                  "FROM chat_rooms WHERE type = 'DIRECT' ORDER BY id LIMIT 1")
    group, outsider = one("""SELECT r.id, u.id FROM chat_rooms r, users u
                              WHERE r.type = 'GROUP' AND NOT EXISTS (SELECT 1 FROM chat_room_members m
                                    WHERE m.room_id = r.id AND m.user_id = u.id)
                              ORDER BY r.id, u.id LIMIT 1""")
    members = [int(x[0]) for x in db.rows("SELECT id FROM users ORDER BY id DESC LIMIT 8")]
    hot_room = rooms["hot room"][0]
    senders = [int(x[0]) for x in db.rows(
        f"SELECT user_id FROM chat_room_members WHERE room_id = {hot_room} ORDER BY user_id")]
    n = 50
    batch = [
        [f"00000000-0000-4000-8000-{i:012d}" for i in range(n)],
        [int(hot_room)] * n,
        [senders[i % len(senders)] for i in range(n)],
        [f"batch message {i}" for i in range(n)],
        ["TEXT"] * n,
        [1_700_000_000_000 + i for i in range(n)],
        [int(hot_room) % 6] * n,
        [10_000_000 + i for i in range(n)],
    ]
    cases = [
        ("user_signup", "new email", ["new.user@seed.test", "$argon2id$v=19$m=65536,t=2,p=1$x$y",
                                      "Newbie", "newbie"]),
        ("user_by_email", "upper-cased email", [email]),
        ("user_by_id", "heavy user", [heavy_user]),
        ("direct_room_open", "new pair", [a, b, True]),
        ("direct_room_open", "existing pair", [db_, da, True]),
        ("group_room_create", "8 members", [members[0], "new group", members[1:], "private"]),
        ("room_join", "outsider", [outsider, group]),
        ("my_rooms", "heavy user", [heavy_user]),
        ("my_rooms", "typical user", [typical_user]),
        ("messages_insert_batch", "50 messages", batch),
    ]
    for label, (room, member, cursor, offset) in rooms.items():
        cases += [
            ("room_detail", label, [member, room]),
            ("room_history", label, [member, room, cursor, 20]),
            ("room_history", label + ", first page", [member, room, None, 20]),
            ("read_receipt_check", label, [member, room, None, None]),
            ("read_receipt_check", label + ", explicit message", [member, room, cursor, None]),
            ("read_receipt_check", label + ", by position", [member, room, None, offset]),
            ("read_receipts_apply", label, [[room], [member], [cursor]]),
            ("room_membership", label, [member, room]),
            ("room_leave", label, [member, room]),
            ("room_member_ids", label, [room]),
            ("room_messages_after_offset", label, [room, offset, None, 100]),
        ]
    cases.append(("room_member_ids_many", "sample rooms", [[r for r, *_ in rooms.values()]]))
    cases += room_access_cases(db, members)
    cases += [
        ("presence_online", "8 users", [members]),
        ("presence_offline", "8 users", [members]),
        ("presence_online_page", "first page", [0, 500]),
        ("login_failure_record", "an email", [email, 5, 1, 900]),
        ("login_session_start", "heavy user", [email, heavy_user, "ab" * 32, 2592000]),
        ("refresh_token_rotate", "a token", ["cd" * 32, "ef" * 32, 2592000]),
        ("refresh_token_revoke", "a token", ["cd" * 32]),
        ("admin_user_find", "by id", [str(heavy_user)]),
        ("admin_user_find", "by email", [email]),
        ("admin_user_find", "by nickname",
         [one("SELECT upper(nickname) FROM users ORDER BY id LIMIT 1 OFFSET 29")[0]]),
        ("admin_user_nicknames", "8 users", [members]),
    ]
    return cases


def room_access_cases(db, users):
    """Cases of the statements of schema 0006, from ROOM_ACCESS_SEED's data."""
    one = lambda sql: db.rows(sql)[0]  # noqa: E731
    room, creator, member = one("""SELECT r.id, r.created_by, max(m.user_id)
                                     FROM chat_rooms r
                                     JOIN chat_room_members m ON m.room_id = r.id
                                    WHERE r.visibility = 'public' AND m.user_id <> r.created_by
                                      AND EXISTS (SELECT 1 FROM chat_room_members c
                                                   WHERE c.room_id = r.id
                                                     AND c.user_id = r.created_by)
                                    GROUP BY r.id ORDER BY r.id LIMIT 1""")
    invite, = one(f"SELECT max(id) FROM room_invites WHERE room_id = {room}")
    token = one(f"SELECT encode(token_hash, 'hex') FROM room_invites WHERE id = {invite}")[0]
    blocker, blocked = one("SELECT blocker_id, blocked_id FROM user_blocks "
                           "ORDER BY blocker_id, blocked_id LIMIT 1")
    after_room, = one("""SELECT id FROM chat_rooms WHERE visibility = 'public'
                          ORDER BY lower(name COLLATE "und-x-icu") COLLATE "C", id
                         OFFSET 40 LIMIT 1""")
    after_user, = one("""SELECT id FROM users WHERE nickname LIKE 'user1%'
                          ORDER BY lower(nickname COLLATE "und-x-icu") COLLATE "C", id
                         OFFSET 40 LIMIT 1""")
    email, = one("SELECT upper(email) FROM users ORDER BY id LIMIT 1 OFFSET 23")
    digest = "ab" * 32
    return [
        ("room_invite_create", "member", [member, room, digest, 25, 604800]),
        ("room_invites_list", "member", [member, room]),
        ("room_invite_revoke", "member", [member, room, invite]),
        ("room_invite_join", "valid token", [users[0], token]),
        ("room_invite_join", "unknown token", [users[0], digest]),
        ("room_members_add", "8 users", [member, room, users]),
        ("room_member_remove", "by the creator", [creator, room, member]),
        ("room_close", "by the creator", [creator, room]),
        ("public_rooms_search", "all, first page", [member, "", None, 20]),
        ("public_rooms_search", "prefix", [member, "GROUP 1", None, 20]),
        ("public_rooms_search", "prefix, next page", [member, "group 1", after_room, 20]),
        ("users_search", "prefix", [member, "USER1", None, 20]),
        ("users_search", "prefix, next page", [member, "user1", after_user, 20]),
        ("users_search", "exact email", [member, email, None, 20]),
        ("user_block", "new block", [blocked, blocker]),
        ("user_unblock", "existing block", [blocker, blocked]),
        ("users_blocked", "a blocker", [blocker]),
    ]


def check_plan(name, case, plan):
    """Problems of one plan: forbidden sequential scans, missing expected indexes."""
    problems, used = [], set()
    for node, _ in walk(plan):
        if node.get("Index Name"):
            used.add(node["Index Name"])
        if node["Node Type"] == "Seq Scan" and node.get("Relation Name") in FORBIDDEN_SEQ_SCAN:
            problems.append(f"Seq Scan on {node['Relation Name']}")
    for alternatives in EXPECTED_INDEXES.get((name, case), EXPECTED_INDEXES.get(name, [])):
        if not alternatives & used:
            problems.append(f"uses none of {sorted(alternatives)} (uses {sorted(used)})")
    return problems


def render(plan, depth_limit=99):
    out = []
    for node, depth in walk(plan):
        if depth > depth_limit:
            continue
        what = node["Node Type"]
        if node.get("Relation Name"):
            what += f" on {node['Relation Name']}"
        if node.get("Index Name"):
            what += f" using {node['Index Name']}"
        out.append("  " * depth + f"{what}  (cost {node['Startup Cost']}..{node['Total Cost']})")
    return "\n".join(out)


# ------------------------------------------------------------------ the test

def seed_scale():
    raw = ENV.get("CN_EXPLAIN_SEED", "4000,20000,300000")
    users, rooms, messages = (int(x) for x in raw.split(","))
    return users, rooms, messages


@pytest.fixture(scope="module")
def seeded():
    if not stack_present():
        pytest.skip("no CN_TEST_PG_URL: run through ./ops/dev test")
    db = ScratchDb("cn_explain")
    try:
        scale = seed_scale()
        took = db.seed(*scale)
        print(f"\nseeded {db.name}: {scale[0]} users, {scale[1]} rooms, {scale[2]} messages "
              f"in {took:.1f} s")
        db.q(ROOM_ACCESS_SEED)
        drop = ENV.get("CN_EXPLAIN_DROP_INDEX")
        if drop:
            print(f"dropping index {drop} (CN_EXPLAIN_DROP_INDEX): this test should fail")
            db.q(f'DROP INDEX "{drop}"; ANALYZE;')
        yield db
    finally:
        db.close()


def test_every_statement_has_a_case(seeded):
    """A new statement in queries.sql must get realistic parameters (and so a plan check)."""
    assert {c[0] for c in plan_cases(seeded)} == set(load_queries()), \
        "statements of queries.sql without an EXPLAIN case here"
    assert set(k if isinstance(k, str) else k[0] for k in EXPECTED_INDEXES) == set(load_queries())


@pytest.mark.parametrize("generic", [False, True], ids=["custom", "generic"])
def test_hot_statements_are_index_backed(seeded, generic):
    queries = load_queries()
    failures = []
    t0 = time.monotonic()
    cases = plan_cases(seeded)
    for name, case, params in cases:
        plan = explain(seeded, name, queries[name], params, generic)
        problems = check_plan(name, case, plan)
        flag = "  <-- " + "; ".join(problems) if problems else ""
        print(f"{'generic' if generic else 'custom '} {name + ' (' + case + ')':52s} "
              f"top {plan['Node Type']:16s} total cost {plan['Total Cost']:>10}{flag}")
        if problems:
            failures.append(f"{name} ({case}): {'; '.join(problems)}\n{render(plan)}")
    print(f"{len(cases)} plans in {time.monotonic() - t0:.1f} s")
    assert not failures, "\n\n".join(failures)


def test_hot_statements_run_fast(seeded):
    """The read statements really run (not only plan) and each is quick on the seeded data:
    EXPLAIN ANALYZE execution time well under a budget that a scan of messages would blow."""
    queries = load_queries()
    slow = []
    for name, case, params in plan_cases(seeded):
        if name in ("user_signup", "direct_room_open", "group_room_create", "room_join",
                    "read_receipts_apply", "presence_online", "presence_offline",
                    "messages_insert_batch", "login_failure_record", "login_session_start",
                    "refresh_token_rotate", "refresh_token_revoke", "room_invite_create",
                    "room_invite_revoke", "room_invite_join", "room_members_add",
                    "room_member_remove", "room_close", "user_block", "user_unblock"):
            continue   # writes: planned above, exercised by sql_statements.py
        text = seeded.q(execute_sql(name, queries[name], params,
                                    prefix="EXPLAIN (ANALYZE, FORMAT JSON) "))
        result = json.loads(text)[0]
        ms = result["Execution Time"]
        print(f"analyze {name + ' (' + case + ')':52s} {ms:8.2f} ms  rows {result['Plan']['Actual Rows']}")
        if ms > 50 * float(ENV.get("CN_TEST_TIMEOUT_SCALE", "1")):
            slow.append(f"{name} ({case}): {ms:.1f} ms")
    assert not slow, f"slow statements: {slow}"


if __name__ == "__main__":
    run_tests_on_stack(__file__)
