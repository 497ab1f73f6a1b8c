"""The statements of src/actors/sql/queries.sql do what their doc comments promise, at SQL level.

Against a scratch database on the test stack's PostgreSQL (created, migrated and dropped
like tests/integration/explain_hot_queries.py does; its helpers are reused), each
statement is run the way the node runs it (a prepared statement, text parameters):
  - direct_room_open under contention: 50 sessions, half opening (a, b) and half (b, a),
    held on an advisory lock until all 50 wait and then released at once, three times:
    exactly one room and two memberships per pair, every caller got that room, one of
    them reports created;
  - every outcome the REST handlers tell apart (taken email, self / unknown target,
    unknown group members, join of a direct / unknown room, second join, 404 vs 403 in
    detail / history / read, unknown read message), history paging without gaps or
    duplicates while messages keep arriving, idempotent batch inserts with unread
    bookkeeping, my_rooms order and contents, resume by Kafka offset.
Run with /usr/bin/python3 (pytest); outside `ops/dev test` it exits 77 unless
CN_TEST_REQUIRE_STACK=1.
"""
import csv
import io
import os
import subprocess
import sys
import threading
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cnlib  # noqa: E402
from explain_hot_queries import (ENV, SKIP, ScratchDb, execute_sql, load_queries,  # noqa: E402
                                 psql, stack_present)

Q = load_queries()


def call(db, name, *params):
    """Runs statement `name` as a prepared statement; returns its rows as dicts (NULL -> None)."""
    r = subprocess.run(
        ["psql", db.url, "-X", "-q", "--csv", "-P", "null=\\N", "-v", "ON_ERROR_STOP=1"],
        input=execute_sql(name, Q[name], list(params)), capture_output=True, text=True,
        timeout=60, env={**ENV, "PGOPTIONS": "-c client_min_messages=warning"})
    if r.returncode != 0:
        raise AssertionError(f"{name}{params}: psql failed: {r.stderr.strip()}")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    return [{k: (None if v == "\\N" else v) for k, v in row.items()} for row in rows]


def scalar(db, sql):
    return psql(db.url, sql).strip()


@pytest.fixture(scope="module")
def db():
    if not stack_present():
        pytest.skip("no CN_TEST_PG_URL: run through ./ops/dev test")
    d = ScratchDb("cn_sqlstmt")
    try:
        yield d
    finally:
        d.close()


HASH = "$argon2id$v=19$m=8,t=1,p=1$x$y"


def signup(db, tag):
    rows = call(db, "user_signup", f"{tag}@Example.test", HASH, tag, tag.lower())
    assert len(rows) == 1 and rows[0]["outcome"] == "ok", rows
    return int(rows[0]["id"])


def insert_messages(db, room, senders, contents, partition=0, first_offset=None, keys=None):
    n = len(contents)
    if first_offset is None:
        first_offset = int(scalar(db, "SELECT coalesce(max(kafka_offset) + 1, 0) FROM messages "
                                      f"WHERE kafka_partition = {partition}"))
    keys = keys or [str(uuid.uuid4()) for _ in range(n)]
    return call(db, "messages_insert_batch", keys, [room] * n,
                [senders[i % len(senders)] for i in range(n)], contents, ["TEXT"] * n,
                [1_700_000_000_000 + i for i in range(n)], [partition] * n,
                [first_offset + i for i in range(n)])


# ------------------------------------------------------------------ concurrency

def open_concurrently(db, a, b, n=50, lock_key=424242):
    """n sessions run direct_room_open, half (a, b) and half (b, a), all released at once."""
    holder = subprocess.Popen(["psql", db.url, "-X", "-q", "-v", "ON_ERROR_STOP=1"],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    workers, results, errors = [], [None] * n, []
    try:
        holder.stdin.write(f"SELECT pg_advisory_lock({lock_key});\n")
        holder.stdin.flush()
        locks = ("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                 f"AND objid = {lock_key} AND ")
        cnlib.wait_until(lambda: scalar(db, locks + "granted") == "1", 30,
                         what="the barrier lock to be held")

        def run(i):
            me, target = (a, b) if i % 2 == 0 else (b, a)
            sql = (f"\\o /dev/null\nSELECT pg_advisory_lock_shared({lock_key});\n\\o\n"
                   + execute_sql("direct_room_open", Q["direct_room_open"], [me, target]))
            r = subprocess.run(["psql", db.url, "-X", "-q", "--csv", "-v", "ON_ERROR_STOP=1"],
                               input=sql, capture_output=True, text=True, timeout=120)
            if r.returncode != 0:
                errors.append(r.stderr)
                return
            results[i] = list(csv.DictReader(io.StringIO(r.stdout)))

        workers = [threading.Thread(target=run, args=(i,)) for i in range(n)]
        for w in workers:
            w.start()
        cnlib.wait_until(lambda: scalar(db, locks + "NOT granted") == str(n), 60,
                         what=f"all {n} sessions waiting at the barrier")
        holder.stdin.write(f"SELECT pg_advisory_unlock({lock_key});\n")
        holder.stdin.close()
    finally:
        for w in workers:
            w.join(120)
        holder.wait(30)
    assert not errors, errors[:3]
    return results


def test_direct_room_open_concurrent_from_both_sides(db):
    for round_ in range(3):
        a, b = signup(db, f"race{round_}a"), signup(db, f"race{round_}b")
        results = open_concurrently(db, a, b)
        assert all(r is not None and len(r) == 1 for r in results), results
        rows = [r[0] for r in results]
        assert {r["outcome"] for r in rows} == {"ok"}
        ids = {r["id"] for r in rows}
        assert len(ids) == 1, f"callers got different rooms: {ids}"
        created = sum(r["created"] == "t" for r in rows)
        assert created == 1, f"{created} callers report creating the room"
        key = f"{min(a, b)}:{max(a, b)}"
        assert scalar(db, f"SELECT count(*) FROM chat_rooms WHERE direct_key = '{key}'") == "1"
        room = ids.pop()
        assert scalar(db, f"SELECT string_agg(user_id::text, ',' ORDER BY user_id) "
                          f"FROM chat_room_members WHERE room_id = {room}") == f"{min(a, b)},{max(a, b)}"
        assert {r["member_count"] for r in rows} == {"2"}
        print(f"round {round_}: 50 concurrent opens -> room {room}, created once")


# ------------------------------------------------------------------ users

def test_signup_and_login_lookup(db):
    uid = signup(db, "Alice.Sign")
    again, = call(db, "user_signup", "ALICE.SIGN@example.TEST", "h", "other", "other")
    assert again["outcome"] == "email_taken" and again["id"] is None, again
    # The nickname key decides, whatever the spelling the nickname was given in.
    nick, = call(db, "user_signup", "someone.else@example.test", "h", "ALICE.SIGN", "alice.sign")
    assert nick["outcome"] == "nickname_taken" and nick["id"] is None, nick
    # Both taken: the email is named.
    both, = call(db, "user_signup", "alice.sign@example.test", "h", "Alice.Sign", "alice.sign")
    assert both["outcome"] == "email_taken"
    assert scalar(db, "SELECT count(*) FROM users WHERE nickname_key = 'alice.sign'") == "1"
    row, = call(db, "user_by_email", "alice.sign@EXAMPLE.test")
    assert int(row["id"]) == uid and row["password_hash"].startswith("$argon2id$")
    assert row["retry_after_s"] == "0"
    assert row["status"] == "OFFLINE" and row["last_seen_at_ms"] is None
    assert abs(int(row["created_at_ms"]) - int(scalar(db, "SELECT floor(extract(epoch FROM now()) * 1000)"))) < 60_000
    # An unknown email: one row, no user, and no back-off.
    nobody, = call(db, "user_by_email", "nobody@example.test")
    assert nobody["id"] is None and nobody["password_hash"] is None
    assert nobody["retry_after_s"] == "0"
    assert call(db, "user_by_id", uid)[0]["nickname"] == "Alice.Sign"
    assert call(db, "user_by_id", 987654321) == []


def test_login_backoff_grows_and_a_login_ends_it(db):
    uid = signup(db, "backoff.user")
    email = "Backoff.User@example.test"
    # After 3 failures: 2 s, 4 s, 8 s, then the cap of 10 s.
    got = []
    for _ in range(7):
        row, = call(db, "login_failure_record", email, 3, 2, 10)
        got.append((int(row["failures"]), int(row["retry_after_s"])))
    assert [f for f, _ in got] == [1, 2, 3, 4, 5, 6, 7]
    assert [w for _, w in got[:2]] == [0, 0]
    # Each wait is what it should be, give or take the second ceil() may add.
    for (_, w), want in zip(got[2:], [2, 4, 8, 10, 10]):
        assert want <= w <= want + 1, got
    # The lookup reports the back-off in force, for any spelling of the email.
    row, = call(db, "user_by_email", email.upper())
    assert 9 <= int(row["retry_after_s"]) <= 11 and int(row["id"]) == uid
    # An email no account has is throttled the same way (a 429 must not tell).
    for _ in range(3):
        call(db, "login_failure_record", "ghost@example.test", 3, 2, 10)
    ghost, = call(db, "user_by_email", "GHOST@example.test")
    assert ghost["id"] is None and 1 <= int(ghost["retry_after_s"]) <= 3
    # A successful login ends the count and the back-off, and starts a token family.
    token_hash = "ab" * 32
    started, = call(db, "login_session_start", email, uid, token_hash, 3600)
    now_ms = int(scalar(db, "SELECT floor(extract(epoch FROM now()) * 1000)"))
    assert abs(int(started["refresh_expires_at_ms"]) - (now_ms + 3600_000)) < 60_000
    row, = call(db, "user_by_email", email)
    assert row["retry_after_s"] == "0"
    assert scalar(db, "SELECT count(*) FROM login_throttle WHERE email_key = 'backoff.user@example.test'") == "0"
    assert scalar(db, f"SELECT count(*) FROM refresh_tokens WHERE user_id = {uid} "
                      f"AND token_hash = decode('{token_hash}', 'hex')") == "1"
    # A back-off that has run out lets the next attempt through (and counts it).
    db_q = ("UPDATE login_throttle SET blocked_until = now() - interval '1 second' "
            "WHERE email_key = 'ghost@example.test'")
    psql(db.url, db_q)
    ghost, = call(db, "user_by_email", "ghost@example.test")
    assert ghost["retry_after_s"] == "0"
    # A failure a day after the previous one starts the count again.
    psql(db.url, "UPDATE login_throttle SET last_failure_at = now() - interval '2 days', "
                 "blocked_until = NULL WHERE email_key = 'ghost@example.test'")
    row, = call(db, "login_failure_record", "ghost@example.test", 3, 2, 10)
    assert row["failures"] == "1" and row["retry_after_s"] == "0"


def test_login_failures_prune_day_old_rows(db):
    psql(db.url, "INSERT INTO login_throttle (email_key, failures, last_failure_at) "
                 "SELECT 'old' || g || '@example.test', 1, now() - interval '3 days' "
                 "FROM generate_series(1, 40) g")
    call(db, "login_failure_record", "fresh@example.test", 5, 1, 900)
    left = int(scalar(db, "SELECT count(*) FROM login_throttle WHERE email_key LIKE 'old%'"))
    assert left == 40 - 16, left
    assert scalar(db, "SELECT failures FROM login_throttle WHERE email_key = 'fresh@example.test'") == "1"


def refresh_hash(tag):
    """A distinct 64-hex-digit 'SHA-256' per tag (the statements only compare them)."""
    import hashlib
    return hashlib.sha256(tag.encode()).hexdigest()


def test_refresh_rotation_and_reuse(db):
    uid = signup(db, "rotate.user")
    t0, t1, t2, t3 = (refresh_hash(f"rot-{i}-{uuid.uuid4()}") for i in range(4))
    call(db, "login_session_start", "rotate.user@example.test", uid, t0, 3600)
    ok, = call(db, "refresh_token_rotate", t0, t1, 3600)
    assert ok["outcome"] == "ok" and int(ok["id"]) == uid and ok["nickname"] == "rotate.user"
    assert int(ok["refresh_expires_at_ms"]) > 0
    ok2, = call(db, "refresh_token_rotate", t1, t2, 3600)
    assert ok2["outcome"] == "ok"
    family = scalar(db, f"SELECT count(DISTINCT family_id) FROM refresh_tokens WHERE user_id = {uid}")
    assert family == "1"
    # t0 again: spent before, so someone holds a copy: the family ends, t2 with it.
    reused, = call(db, "refresh_token_rotate", t0, t3, 3600)
    assert reused["outcome"] == "reused" and reused["id"] is None
    gone, = call(db, "refresh_token_rotate", t2, t3, 3600)
    assert gone["outcome"] == "revoked"
    assert scalar(db, f"SELECT count(*) FROM refresh_tokens WHERE user_id = {uid} "
                      "AND revoked_at IS NULL") == "0"
    assert scalar(db, f"SELECT count(*) FROM refresh_tokens WHERE token_hash = decode('{t3}', 'hex')") == "0"
    unknown, = call(db, "refresh_token_rotate", refresh_hash("never issued"), t3, 3600)
    assert unknown["outcome"] == "unknown"


def test_refresh_expired_and_logout(db):
    uid = signup(db, "logout.user")
    a, b, c = (refresh_hash(f"lo-{i}-{uuid.uuid4()}") for i in range(3))
    call(db, "login_session_start", "logout.user@example.test", uid, a, 0)  # expires at once
    expired, = call(db, "refresh_token_rotate", a, b, 3600)
    assert expired["outcome"] == "expired"
    # A second login is a family of its own; logout ends it and only it.
    call(db, "login_session_start", "logout.user@example.test", uid, b, 3600)
    assert len(call(db, "refresh_token_revoke", b)) == 1
    assert call(db, "refresh_token_revoke", b) == []          # already revoked
    assert call(db, "refresh_token_revoke", c) == []          # unknown
    revoked, = call(db, "refresh_token_rotate", b, c, 3600)
    assert revoked["outcome"] == "revoked"
    # The next login prunes the user's expired tokens (the first family's).
    call(db, "login_session_start", "logout.user@example.test", uid, c, 3600)
    assert scalar(db, f"SELECT count(*) FROM refresh_tokens WHERE token_hash = decode('{a}', 'hex')") == "0"


def test_refresh_rotate_concurrently_one_wins(db):
    uid = signup(db, "race.refresh")
    first = refresh_hash(f"race-{uuid.uuid4()}")
    call(db, "login_session_start", "race.refresh@example.test", uid, first, 3600)
    n = 8
    results, errors = [None] * n, []

    def run(i):
        r = subprocess.run(["psql", db.url, "-X", "-q", "--csv", "-v", "ON_ERROR_STOP=1"],
                           input=execute_sql("refresh_token_rotate", Q["refresh_token_rotate"],
                                             [first, refresh_hash(f"succ-{i}-{uuid.uuid4()}"), 3600]),
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            errors.append(r.stderr)
        else:
            results[i] = list(csv.DictReader(io.StringIO(r.stdout)))[0]["outcome"]

    workers = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert not errors, errors[:3]
    assert results.count("ok") == 1, results
    assert set(results) <= {"ok", "reused", "revoked"}, results
    # Whoever came second saw a spent token: the family is revoked, the winner's too.
    assert scalar(db, f"SELECT count(*) FROM refresh_tokens WHERE user_id = {uid} "
                      "AND revoked_at IS NULL") == "0"


# ------------------------------------------------------------------ rooms

def test_direct_room_refusals(db):
    me = signup(db, "direct.me")
    assert call(db, "direct_room_open", me, me)[0]["outcome"] == "self"
    row, = call(db, "direct_room_open", me, 987654321)
    assert row["outcome"] == "no_target" and row["id"] is None
    assert call(db, "direct_room_open", 987654321, me)[0]["outcome"] == "no_user"
    assert scalar(db, f"SELECT count(*) FROM chat_room_members WHERE user_id = {me}") == "0"
    other = signup(db, "direct.other")
    first, = call(db, "direct_room_open", me, other)
    second, = call(db, "direct_room_open", other, me)
    assert (first["created"], second["created"]) == ("t", "f")
    assert first["id"] == second["id"] and first["type"] == "DIRECT" and first["name"] is None


def test_group_create_and_join(db):
    owner, m1, m2, joiner = (signup(db, f"group.{t}") for t in ("owner", "m1", "m2", "joiner"))
    bad, = call(db, "group_room_create", owner, "g", [m1, 987654321, 987654322])
    assert bad["outcome"] == "unknown_member" and bad["id"] is None
    assert bad["unknown_member_ids"] == "{987654321,987654322}"
    assert scalar(db, "SELECT count(*) FROM chat_rooms WHERE name = 'g'") == "0"
    ok, = call(db, "group_room_create", owner, "friends", [m1, m2, m1, owner, None])
    assert ok["outcome"] == "ok" and ok["type"] == "GROUP" and ok["name"] == "friends"
    assert ok["member_count"] == "3" and ok["created_by"] == str(owner)
    room = int(ok["id"])

    j1, = call(db, "room_join", joiner, room)
    assert (j1["outcome"], j1["joined"], j1["member_count"]) == ("ok", "t", "4")
    j2, = call(db, "room_join", joiner, room)
    assert (j2["outcome"], j2["joined"], j2["member_count"]) == ("ok", "f", "4")
    assert call(db, "room_join", joiner, 987654321)[0]["outcome"] == "not_found"
    direct = call(db, "direct_room_open", owner, m1)[0]["id"]
    refused, = call(db, "room_join", joiner, direct)
    assert refused["outcome"] == "not_group" and refused["joined"] == "f"
    assert scalar(db, f"SELECT count(*) FROM chat_room_members WHERE room_id = {direct}") == "2"

    # room_leave: the joiner leaves; the members left come back (for their caches).
    left, = call(db, "room_leave", joiner, room)
    assert left["outcome"] == "ok", left
    assert left["member_ids"] == "{" + ",".join(str(u) for u in sorted([owner, m1, m2])) + "}"
    assert scalar(db, f"SELECT count(*) FROM chat_room_members WHERE room_id = {room} "
                      f"AND user_id = {joiner}") == "0"
    again, = call(db, "room_leave", joiner, room)
    assert (again["outcome"], again["member_ids"]) == ("not_member", "{}")
    assert call(db, "room_leave", joiner, 987654321)[0]["outcome"] == "not_found"
    assert call(db, "room_leave", owner, direct)[0]["outcome"] == "not_group"
    assert scalar(db, f"SELECT count(*) FROM chat_room_members WHERE room_id = {direct}") == "2"


def test_detail_history_read_and_unread(db):
    alice, bob, carol, eve = (signup(db, f"flow.{t}") for t in ("alice", "bob", "carol", "eve"))
    room = int(call(db, "group_room_create", alice, "flow", [bob, carol])[0]["id"])

    # detail: 404 / 403 / members
    assert call(db, "room_detail", alice, 987654321) == []
    denied = call(db, "room_detail", eve, room)
    assert len(denied) == 1 and denied[0]["is_member"] == "f" and denied[0]["member_id"] is None
    detail = call(db, "room_detail", alice, room)
    assert {int(r["member_id"]) for r in detail} == {alice, bob, carol}
    assert all(r["is_member"] == "t" and r["member_count"] == "3" for r in detail)

    # batch insert: unread counts, idempotent replays and in-batch duplicates
    keys = [str(uuid.uuid4()) for _ in range(5)]
    inserted = insert_messages(db, room, [alice, bob], [f"m{i}" for i in range(5)],
                               partition=room % 6, keys=keys)
    assert [r["content"] for r in inserted] == [f"m{i}" for i in range(5)]
    assert inserted[0]["sender_nickname"] == "flow.alice"
    ids = [int(r["id"]) for r in inserted]
    assert ids == sorted(ids)
    unread = lambda u: [r["unread_count"] for r in call(db, "my_rooms", u)  # noqa: E731
                        if int(r["id"]) == room][0]
    # alice sent m0, m2, m4; bob m1, m3; carol none
    assert (unread(alice), unread(bob), unread(carol)) == ("2", "3", "5")
    replay = insert_messages(db, room, [alice, bob], [f"m{i}" for i in range(5)],
                             partition=room % 6, keys=keys)
    assert replay == []
    dup_key = str(uuid.uuid4())
    dup = insert_messages(db, room, [carol], ["d1", "d2"], partition=room % 6,
                          keys=[dup_key, dup_key])
    assert len(dup) == 1
    assert scalar(db, f"SELECT count(*) FROM messages WHERE room_id = {room}") == "6"
    assert (unread(alice), unread(bob), unread(carol)) == ("3", "4", "5")

    # my_rooms: the room with its last message and carol's unread count
    mine = call(db, "my_rooms", carol)
    assert [int(r["id"]) for r in mine] == [room]
    assert mine[0]["last_msg_content"] == "d1" and mine[0]["unread_count"] == "5"
    assert mine[0]["last_msg_sender_nickname"] == "flow.carol" and mine[0]["member_count"] == "3"

    # history: 404 / 403 / pages
    h404 = call(db, "room_history", alice, 987654321, None, 20)
    assert len(h404) == 1 and h404[0]["room_exists"] == "f" and h404[0]["id"] is None
    h403 = call(db, "room_history", eve, room, None, 20)
    assert len(h403) == 1 and (h403[0]["room_exists"], h403[0]["is_member"]) == ("t", "f")
    assert h403[0]["id"] is None
    page = call(db, "room_history", alice, room, None, 4)
    assert len(page) == 5 and [r["content"] for r in page[:4]] == ["d1", "m4", "m3", "m2"]

    # read check: 404 / 403 / unknown message / explicit / latest; writes nothing
    assert call(db, "read_receipt_check", alice, 987654321, None, None)[0]["outcome"] == \
        "not_found"
    assert call(db, "read_receipt_check", eve, room, None, None)[0]["outcome"] == "not_member"
    other_room = call(db, "direct_room_open", alice, eve)[0]["id"]
    foreign = insert_messages(db, int(other_room), [eve], ["x"], partition=int(other_room) % 6)
    bad, = call(db, "read_receipt_check", carol, room, foreign[0]["id"], None)
    assert bad["outcome"] == "unknown_message"
    c1, = call(db, "read_receipt_check", carol, room, ids[2], None)
    # after m2: m3 and m4 (bob, alice); d1 is carol's own
    assert (c1["outcome"], c1["message_id"], c1["last_read_message_id"], c1["unread_count"]) == \
        ("ok", str(ids[2]), str(ids[2]), "2")
    latest, = call(db, "read_receipt_check", carol, room, None, None)
    assert latest["message_id"] == dup[0]["id"] and latest["unread_count"] == "0"
    assert unread(carol) == "5", "the check must not write"

    # apply: only the highest receipt per member counts; never backwards; idempotent;
    # foreign messages and non-members change nothing
    moved = call(db, "read_receipts_apply", [room, room, room, room],
                 [carol, carol, eve, bob], [ids[0], ids[2], ids[2], int(foreign[0]["id"])])
    assert [(r["user_id"], r["last_read_message_id"], r["unread_count"]) for r in moved] == \
        [(str(carol), str(ids[2]), "2")]
    assert unread(carol) == "2" and unread(bob) == "4"
    assert call(db, "read_receipts_apply", [room], [carol], [ids[2]]) == []
    assert call(db, "read_receipts_apply", [room], [carol], [ids[0]]) == [], "moved backwards"
    back, = call(db, "read_receipt_check", carol, room, ids[0], None)
    assert (back["last_read_message_id"], back["unread_count"]) == (str(ids[2]), "2")
    done, = call(db, "read_receipts_apply", [room], [carol], [int(dup[0]["id"])])
    assert done["unread_count"] == "0"
    assert call(db, "my_rooms", carol)[0]["unread_count"] == "0"

    # a new member: what was said before the join is not unread, what comes after is
    joined, = call(db, "room_join", eve, room)
    assert (joined["outcome"], joined["unread_count"]) == ("ok", "0")
    assert unread(eve) == "0"
    insert_messages(db, room, [alice], ["after eve joined"], partition=room % 6)
    assert (unread(eve), unread(carol)) == ("1", "1")
    assert call(db, "room_detail", eve, room)[0]["unread_count"] == "1"


def test_message_key_is_per_sender_and_room(db):
    """A messageKey is its sender's idempotency key within a room: the same sender and
    room again inserts nothing (across batches and within one, the first offset kept);
    the same key from another sender or in another room is another message."""
    a, b = signup(db, "keys.a"), signup(db, "keys.b")
    r1 = int(call(db, "group_room_create", a, "k1", [b])[0]["id"])
    r2 = int(call(db, "group_room_create", a, "k2", [b])[0]["id"])
    k = str(uuid.uuid4())
    offset = int(scalar(db, "SELECT coalesce(max(kafka_offset) + 1, 0) FROM messages"))

    def batch(rows):
        """rows: (room, sender, content); all with key k, at consecutive offsets."""
        nonlocal offset
        n = len(rows)
        out = call(db, "messages_insert_batch", [k] * n, [r for r, _, _ in rows],
                   [s for _, s, _ in rows], [c for _, _, c in rows], ["TEXT"] * n,
                   [1_700_000_000_000] * n, [0] * n, list(range(offset, offset + n)))
        offset += n
        return [(int(x["room_id"]), int(x["sender_id"]), x["content"]) for x in out]

    # One batch: a's key in r1 twice (a retry: the first kept), in r2, and b's in r1.
    assert batch([(r1, a, "a r1"), (r1, a, "a r1 retry"), (r2, a, "a r2"), (r1, b, "b r1")]) == \
        [(r1, a, "a r1"), (r2, a, "a r2"), (r1, b, "b r1")]
    # Later batches: every one of those again inserts nothing; b in r2 is new.
    assert batch([(r2, a, "again"), (r1, b, "again"), (r1, a, "again")]) == []
    assert batch([(r2, b, "b r2")]) == [(r2, b, "b r2")]
    rows = scalar(db, f"SELECT string_agg(room_id || ':' || sender_id || ':' || content, ',' "
                      f"ORDER BY kafka_offset) FROM messages WHERE message_key = '{k}'")
    assert rows.split(",") == [f"{r1}:{a}:a r1", f"{r2}:{a}:a r2", f"{r1}:{b}:b r1",
                               f"{r2}:{b}:b r2"], rows


def test_read_check_by_position(db):
    """read_receipt_check with $4 (a position): the room's stored message at that
    Kafka offset; none there (or only in another room) is unknown_message; 0 is a
    position; a position and an id name the same message alike."""
    a, b = signup(db, "pos.a"), signup(db, "pos.b")
    room = int(call(db, "group_room_create", a, "pos", [b])[0]["id"])
    other = int(call(db, "group_room_create", b, "pos other", [])[0]["id"])
    msgs = insert_messages(db, room, [a], ["p0", "p1", "p2"], partition=0, first_offset=0)
    ids = [int(m["id"]) for m in msgs]
    foreign = insert_messages(db, other, [b], ["x"], partition=1, first_offset=5)
    zero, = call(db, "read_receipt_check", b, room, None, 0)
    assert (zero["outcome"], zero["message_id"], zero["unread_count"]) == ("ok", str(ids[0]), "2")
    by_pos, = call(db, "read_receipt_check", b, room, None, 1)
    by_id, = call(db, "read_receipt_check", b, room, ids[1], None)
    assert by_pos == by_id and by_pos["message_id"] == str(ids[1]), (by_pos, by_id)
    # Position 5 holds a message of another room only: not this room's.
    in_other, = call(db, "read_receipt_check", b, other, None, 5)
    assert (in_other["outcome"], in_other["message_id"]) == ("ok", foreign[0]["id"])
    missing, = call(db, "read_receipt_check", b, room, None, 5)
    assert (missing["outcome"], missing["message_id"]) == ("unknown_message", None)
    assert call(db, "read_receipt_check", b, room, None, 3)[0]["outcome"] == "unknown_message"
    assert call(db, "read_receipt_check", b, room, None, 10**15)[0]["outcome"] == \
        "unknown_message"
    assert call(db, "read_receipt_check", signup(db, "pos.c"), room, None, 1)[0]["outcome"] == \
        "not_member"
    assert call(db, "read_receipt_check", b, 987654321, None, 1)[0]["outcome"] == "not_found"


def test_presence_transitions_and_sweep_page(db):
    a, b, c = (signup(db, f"presence.{t}") for t in ("a", "b", "c"))
    status = lambda u: scalar(db, f"SELECT status || ' ' || (last_seen_at IS NOT NULL) "  # noqa: E731
                                  f"FROM users WHERE id = {u}")
    assert status(a) == "OFFLINE false"
    assert sorted(int(r["id"]) for r in call(db, "presence_online", [a, b])) == sorted([a, b])
    assert call(db, "presence_online", [a]) == [], "already ONLINE: no change"
    page = [int(r["id"]) for r in call(db, "presence_online_page", 0, 500)]
    assert a in page and b in page and c not in page and page == sorted(page)
    assert [int(r["id"]) for r in call(db, "presence_online_page", a, 500)][:1] == [b]
    assert [int(r["id"]) for r in call(db, "presence_offline", [a, c])] == [a]
    assert status(a) == "OFFLINE true" and status(c) == "OFFLINE false" and status(b) == "ONLINE false"


def test_history_pages_while_messages_arrive(db):
    a, b = signup(db, "page.a"), signup(db, "page.b")
    room = int(call(db, "direct_room_open", a, b)[0]["id"])
    insert_messages(db, room, [a, b], [f"old{i}" for i in range(23)], partition=room % 6)
    seen, cursor, pages = [], None, 0
    while True:
        rows = call(db, "room_history", b, room, cursor, 5)
        page = rows[:5]
        seen += [r["content"] for r in page]
        pages += 1
        # new messages keep arriving between pages: they are newer than the cursor
        insert_messages(db, room, [a], [f"new{pages}"], partition=room % 6)
        if len(rows) <= 5:
            break
        cursor = page[-1]["id"]
    assert pages == 5
    assert seen == [f"old{i}" for i in range(22, -1, -1)], "gap or duplicate across pages"


def test_my_rooms_order_by_activity(db):
    u, v, w = signup(db, "order.u"), signup(db, "order.v"), signup(db, "order.w")
    r_old = int(call(db, "direct_room_open", u, v)[0]["id"])
    r_new = int(call(db, "direct_room_open", u, w)[0]["id"])
    g = int(call(db, "group_room_create", u, "quiet group", [v])[0]["id"])
    # activity: r_old gets the newest message, r_new an older one, g none (joined now)
    psql(db.url, f"UPDATE chat_room_members SET joined_at = now() - interval '1 day' "
                 f"WHERE user_id = {u}")
    psql(db.url, f"UPDATE chat_room_members SET joined_at = now() - interval '1 hour' "
                 f"WHERE user_id = {u} AND room_id = {g}")
    for room, ms in ((r_new, 1_000), (r_old, 2_000)):
        call(db, "messages_insert_batch", [str(uuid.uuid4())], [room], [u], ["hi"], ["TEXT"],
             [int(scalar(db, "SELECT floor(extract(epoch FROM now()) * 1000)")) - 10_000 + ms],
             [room % 6], [int(scalar(db, f"SELECT coalesce(max(kafka_offset) + 1, 0) FROM messages WHERE kafka_partition = {room % 6}"))])
    order = [int(r["id"]) for r in call(db, "my_rooms", u)]
    assert order == [r_old, r_new, g], order
    rows = {int(r["id"]): r for r in call(db, "my_rooms", u)}
    assert rows[g]["last_msg_id"] is None and rows[g]["member_count"] == "2"
    assert call(db, "my_rooms", 987654321) == []


def test_membership_member_ids_and_resume(db):
    a, b, c = signup(db, "res.a"), signup(db, "res.b"), signup(db, "res.c")
    room = int(call(db, "group_room_create", a, "resume", [b])[0]["id"])
    assert call(db, "room_membership", a, room)[0] == {"room_exists": "t", "is_member": "t",
                                                       "room_type": "GROUP"}
    assert call(db, "room_membership", c, room)[0]["is_member"] == "f"
    assert call(db, "room_membership", c, 987654321)[0]["room_exists"] == "f"
    assert [int(r["user_id"]) for r in call(db, "room_member_ids", room)] == sorted([a, b])
    rows = insert_messages(db, room, [a], [f"r{i}" for i in range(10)], partition=room % 6,
                           first_offset=1000)
    offsets = [int(r["kafka_offset"]) for r in rows]
    assert offsets == list(range(1000, 1010))
    got = call(db, "room_messages_after_offset", room, 1003, None, 100)
    assert [int(r["kafka_offset"]) for r in got] == list(range(1004, 1010))
    got = call(db, "room_messages_after_offset", room, 1003, 1007, 100)
    assert [r["content"] for r in got] == ["r4", "r5", "r6"]
    got = call(db, "room_messages_after_offset", room, -1, None, 2)
    assert [r["content"] for r in got] == ["r0", "r1"]


if __name__ == "__main__":
    if not stack_present():
        if ENV.get("CN_TEST_REQUIRE_STACK") == "1":
            print("CN_TEST_PG_URL is not set but CN_TEST_REQUIRE_STACK=1", file=sys.stderr)
            sys.exit(1)
        print("skipped: no CN_TEST_PG_URL (run through ./ops/dev test)")
        sys.exit(SKIP)
    sys.exit(pytest.main([__file__, "-q", "-s", "-p", "no:cacheprovider"]))
