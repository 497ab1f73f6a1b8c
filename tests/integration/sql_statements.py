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
import hashlib
import io
import os
import subprocess
import sys
import threading
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cnlib  # noqa: E402
from explain_hot_queries import (ENV, ScratchDb, execute_sql, load_queries,  # noqa: E402
                                 psql, run_tests_on_stack, stack_present)

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
                   + execute_sql("direct_room_open", Q["direct_room_open"], [me, target, True]))
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
    successors = [refresh_hash(f"succ-{i}-{uuid.uuid4()}") for i in range(n)]

    def run(i):
        r = subprocess.run(["psql", db.url, "-X", "-q", "--csv", "-v", "ON_ERROR_STOP=1"],
                           input=execute_sql("refresh_token_rotate", Q["refresh_token_rotate"],
                                             [first, successors[i], 3600]),
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
    # Whoever came second saw a spent token: the family is revoked, the winner's successor
    # too, although it was stored after the losers' snapshots were taken.
    winner = successors[results.index("ok")]
    again, = call(db, "refresh_token_rotate", winner, refresh_hash(f"late-{uuid.uuid4()}"), 3600)
    assert again["outcome"] == "revoked", again
    assert scalar(db, f"SELECT count(*) FROM refresh_tokens WHERE user_id = {uid} "
                      "AND revoked_at IS NULL") == "0"


def test_refresh_after_logout_raced_by_a_refresh_is_revoked(db):
    # A logout whose snapshot missed the successor of a refresh running at once still ends
    # the session: the successor's family holds a revoked row.
    uid = signup(db, "race.logout")
    first = refresh_hash(f"race-{uuid.uuid4()}")
    call(db, "login_session_start", "race.logout@example.test", uid, first, 3600)
    succ = refresh_hash(f"succ-{uuid.uuid4()}")
    assert call(db, "refresh_token_rotate", first, succ, 3600)[0]["outcome"] == "ok"
    # The logout's effect as a snapshot without the successor would leave it: only the
    # first token revoked.
    scalar(db, f"UPDATE refresh_tokens SET revoked_at = now() "
               f"WHERE token_hash = decode('{first}', 'hex') RETURNING 1")
    row, = call(db, "refresh_token_rotate", succ, refresh_hash(f"late-{uuid.uuid4()}"), 3600)
    assert row["outcome"] == "revoked", row
    # A later login's prune keeps the revoked row while its family has live tokens.
    call(db, "login_session_start", "race.logout@example.test", uid,
         refresh_hash(f"again-{uuid.uuid4()}"), 3600)
    row, = call(db, "refresh_token_rotate", succ, refresh_hash(f"late2-{uuid.uuid4()}"), 3600)
    assert row["outcome"] == "revoked", row


# ------------------------------------------------------------------ rooms

def test_direct_room_refusals(db):
    me = signup(db, "direct.me")
    assert call(db, "direct_room_open", me, me, True)[0]["outcome"] == "self"
    row, = call(db, "direct_room_open", me, 987654321, True)
    assert row["outcome"] == "no_target" and row["id"] is None
    assert call(db, "direct_room_open", 987654321, me, True)[0]["outcome"] == "no_user"
    assert scalar(db, f"SELECT count(*) FROM chat_room_members WHERE user_id = {me}") == "0"
    other = signup(db, "direct.other")
    first, = call(db, "direct_room_open", me, other, True)
    second, = call(db, "direct_room_open", other, me, True)
    assert (first["created"], second["created"]) == ("t", "f")
    assert first["id"] == second["id"] and first["type"] == "DIRECT"
    # A direct room is named after the other member, for each of the two.
    assert (first["name"], first["peer_id"]) == ("direct.other", str(other))
    assert (second["name"], second["peer_id"]) == ("direct.me", str(me))
    assert first["visibility"] == "private" and first["peer_status"] == "OFFLINE"


def test_group_create_and_join(db):
    owner, m1, m2, joiner = (signup(db, f"group.{t}") for t in ("owner", "m1", "m2", "joiner"))
    bad, = call(db, "group_room_create", owner, "g", [m1, 987654321, 987654322], "public")
    assert bad["outcome"] == "unknown_member" and bad["id"] is None
    assert bad["unknown_member_ids"] == "{987654321,987654322}"
    assert scalar(db, "SELECT count(*) FROM chat_rooms WHERE name = 'g'") == "0"
    ok, = call(db, "group_room_create", owner, "friends", [m1, m2, m1, owner, None], "public")
    assert ok["outcome"] == "ok" and ok["type"] == "GROUP" and ok["name"] == "friends"
    assert ok["visibility"] == "public" and ok["peer_id"] is None
    assert ok["member_count"] == "3" and ok["created_by"] == str(owner)
    room = int(ok["id"])

    j1, = call(db, "room_join", joiner, room)
    assert (j1["outcome"], j1["joined"], j1["member_count"]) == ("ok", "t", "4")
    j2, = call(db, "room_join", joiner, room)
    assert (j2["outcome"], j2["joined"], j2["member_count"]) == ("ok", "f", "4")
    assert call(db, "room_join", joiner, 987654321)[0]["outcome"] == "not_found"
    direct = call(db, "direct_room_open", owner, m1, True)[0]["id"]
    # Someone else's direct room does not exist for the joiner; one's own cannot be joined.
    assert call(db, "room_join", joiner, direct)[0]["outcome"] == "not_found"
    refused, = call(db, "room_join", m1, direct)
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
    # public: eve, an outsider, gets the non-member answers (a private room: not found)
    room = int(call(db, "group_room_create", alice, "flow", [bob, carol], "public")[0]["id"])

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
    other_room = call(db, "direct_room_open", alice, eve, True)[0]["id"]
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
    r1 = int(call(db, "group_room_create", a, "k1", [b], "public")[0]["id"])
    r2 = int(call(db, "group_room_create", a, "k2", [b], "public")[0]["id"])
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
    room = int(call(db, "group_room_create", a, "pos", [b], "public")[0]["id"])
    other = int(call(db, "group_room_create", b, "pos other", [], "public")[0]["id"])
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
    room = int(call(db, "direct_room_open", a, b, True)[0]["id"])
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
    r_old = int(call(db, "direct_room_open", u, v, True)[0]["id"])
    r_new = int(call(db, "direct_room_open", u, w, True)[0]["id"])
    g = int(call(db, "group_room_create", u, "quiet group", [v], "private")[0]["id"])
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
    room = int(call(db, "group_room_create", a, "resume", [b], "private")[0]["id"])
    assert call(db, "room_membership", a, room)[0] == {"room_exists": "t", "is_member": "t",
                                                       "room_type": "GROUP"}
    # c may not see the private room: it answers like an unknown id
    assert call(db, "room_membership", c, room)[0] == call(db, "room_membership", c, 987654321)[0]
    assert call(db, "room_membership", c, 987654321)[0] == {"room_exists": "f", "is_member": "f",
                                                            "room_type": None}
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


# ------------------------------------------------------------------ room access (schema 0006)

def token_hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def run_concurrently(db, name, param_lists, lock_key):
    """Runs statement `name` once per parameter list, each in its own session, all held at
    an advisory lock until every one waits there and then released at once. Returns the
    rows of each run, in order."""
    holder = subprocess.Popen(["psql", db.url, "-X", "-q", "-v", "ON_ERROR_STOP=1"],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    n = len(param_lists)
    workers, results, errors = [], [None] * n, []
    try:
        holder.stdin.write(f"SELECT pg_advisory_lock({lock_key});\n")
        holder.stdin.flush()
        locks = ("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                 f"AND objid = {lock_key} AND ")
        cnlib.wait_until(lambda: scalar(db, locks + "granted") == "1", 30,
                         what="the barrier lock to be held")

        def run(i):
            sql = (f"\\o /dev/null\nSELECT pg_advisory_lock_shared({lock_key});\n\\o\n"
                   + execute_sql(name, Q[name], param_lists[i]))
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


def test_private_direct_and_closed_rooms_answer_like_unknown_ids(db):
    owner, member, outsider = (signup(db, f"vis.{t}") for t in ("owner", "member", "outsider"))
    private = int(call(db, "group_room_create", owner, "hidden", [member], "private")[0]["id"])
    public = int(call(db, "group_room_create", owner, "open", [member], "public")[0]["id"])
    direct = int(call(db, "direct_room_open", owner, member, True)[0]["id"])
    nowhere = 987654321

    def answers(user, room):
        return (call(db, "room_join", user, room)[0]["outcome"],
                call(db, "room_leave", user, room)[0]["outcome"],
                len(call(db, "room_detail", user, room)),
                call(db, "room_history", user, room, None, 20)[0]["room_exists"],
                call(db, "read_receipt_check", user, room, None, None)[0]["outcome"],
                call(db, "room_membership", user, room)[0]["room_exists"],
                call(db, "room_invite_create", user, room, token_hash(str(uuid.uuid4())), 5,
                     3600)[0]["outcome"],
                call(db, "room_invites_list", user, room)[0]["outcome"],
                call(db, "room_members_add", user, room, [outsider])[0]["outcome"],
                call(db, "room_member_remove", user, room, owner)[0]["outcome"],
                call(db, "room_close", user, room)[0]["outcome"])

    unknown = answers(outsider, nowhere)
    assert unknown == ("not_found", "not_found", 0, "f", "not_found", "f", "not_found",
                       "not_found", "not_found", "not_found", "not_found")
    assert answers(outsider, private) == unknown
    assert answers(outsider, direct) == unknown
    assert scalar(db, f"SELECT count(*) FROM room_invites WHERE room_id = {private}") == "0"
    # A public room keeps its non-member answers (join is last: it makes a member).
    assert call(db, "room_detail", outsider, public)[0]["is_member"] == "f"
    assert call(db, "room_history", outsider, public, None, 20)[0]["room_exists"] == "t"
    assert call(db, "read_receipt_check", outsider, public, None, None)[0]["outcome"] == "not_member"
    assert call(db, "room_leave", outsider, public)[0]["outcome"] == "not_member"
    assert call(db, "room_membership", outsider, public)[0] == {
        "room_exists": "t", "is_member": "f", "room_type": "GROUP"}
    assert call(db, "room_join", outsider, public)[0]["joined"] == "t"
    # Members see their private and direct rooms; a private member's join is a no-op.
    again, = call(db, "room_join", member, private)
    assert (again["outcome"], again["joined"], again["visibility"]) == ("ok", "f", "private")
    assert call(db, "room_join", member, direct)[0]["outcome"] == "not_group"
    assert len(call(db, "room_detail", member, private)) == 2
    d = call(db, "room_detail", member, direct)
    assert (d[0]["name"], d[0]["peer_id"]) == ("vis.owner", str(owner))

    # Closing: only the creator; then the room is gone for everyone, former members too,
    # and from their lists; its messages stay.
    insert_messages(db, private, [member], ["kept"], partition=private % 6)
    assert call(db, "room_close", member, private)[0]["outcome"] == "not_creator"
    closed, = call(db, "room_close", owner, private)
    assert closed == {"outcome": "ok", "member_ids": "{" + ",".join(map(str, sorted([owner, member]))) + "}"}
    assert answers(owner, private) == unknown
    assert answers(member, private) == unknown
    assert private not in [int(r["id"]) for r in call(db, "my_rooms", member)]
    assert scalar(db, f"SELECT count(*) FROM messages WHERE room_id = {private}") == "1"
    assert scalar(db, f"SELECT count(*) FROM chat_room_members WHERE room_id = {private}") == "0"
    assert call(db, "room_close", owner, direct)[0]["outcome"] == "not_group"


def test_invites_create_list_join_use_up_expire_revoke(db):
    owner, a, b, c, outsider = (signup(db, f"inv.{t}") for t in ("owner", "a", "b", "c", "out"))
    room = int(call(db, "group_room_create", owner, "club", [], "private")[0]["id"])
    tok = str(uuid.uuid4())
    made, = call(db, "room_invite_create", owner, room, token_hash(tok), 2, 3600)
    assert made["outcome"] == "ok" and (made["max_uses"], made["uses"]) == ("2", "0")
    ttl = int(made["expires_at_ms"]) - int(made["created_at_ms"])
    assert 3_599_000 <= ttl <= 3_601_000, ttl
    # Only the hash is stored.
    assert scalar(db, f"SELECT encode(token_hash, 'hex') FROM room_invites WHERE id = {made['id']}") \
        == token_hash(tok)
    assert scalar(db, f"SELECT count(*) FROM room_invites WHERE token_hash::text LIKE '%{tok}%'") == "0"
    listed = call(db, "room_invites_list", owner, room)
    assert [(r["outcome"], r["id"]) for r in listed] == [("ok", made["id"])]

    j, = call(db, "room_invite_join", a, token_hash(tok))
    assert (j["outcome"], j["joined"], j["id"], j["member_count"]) == ("ok", "t", str(room), "2")
    assert j["member_ids"] == f"{{{owner}}}" and j["visibility"] == "private"
    # Joining again: no use consumed.
    j, = call(db, "room_invite_join", a, token_hash(tok))
    assert (j["outcome"], j["joined"]) == ("ok", "f")
    assert call(db, "room_invites_list", owner, room)[0]["uses"] == "1"
    assert call(db, "room_invite_join", b, token_hash(tok))[0]["joined"] == "t"
    # A member retrying with the used-up invitation still gets the room.
    j, = call(db, "room_invite_join", b, token_hash(tok))
    assert (j["outcome"], j["joined"], j["id"]) == ("ok", "f", str(room))
    # Used up: it is no longer listed, and joins fail like an unknown token.
    unknown, = call(db, "room_invite_join", c, token_hash("no such token"))
    assert unknown["outcome"] == "no_invite" and unknown["id"] is None
    used_up, = call(db, "room_invite_join", c, token_hash(tok))
    assert used_up == unknown
    assert call(db, "room_invites_list", owner, room)[0]["id"] is None

    # Expired.
    old = str(uuid.uuid4())
    e = call(db, "room_invite_create", owner, room, token_hash(old), 5, 60)[0]["id"]
    psql(db.url, f"UPDATE room_invites SET expires_at = now() - interval '1 second' WHERE id = {e}")
    assert call(db, "room_invite_join", c, token_hash(old))[0] == unknown
    # Revoked: by any member, idempotent; an invite of another room is not found.
    rv = str(uuid.uuid4())
    r = call(db, "room_invite_create", a, room, token_hash(rv), 5, 3600)[0]["id"]
    assert call(db, "room_invite_revoke", b, room, r)[0]["outcome"] == "ok"
    assert call(db, "room_invite_revoke", b, room, r)[0]["outcome"] == "ok"
    assert call(db, "room_invite_join", c, token_hash(rv))[0] == unknown
    other = int(call(db, "group_room_create", outsider, "other", [], "private")[0]["id"])
    assert call(db, "room_invite_revoke", owner, other, r)[0]["outcome"] == "not_found"
    assert call(db, "room_invite_revoke", outsider, other, r)[0]["outcome"] == "no_invite"
    # Closing the room kills its invitations.
    live = str(uuid.uuid4())
    call(db, "room_invite_create", owner, room, token_hash(live), 5, 3600)
    call(db, "room_close", owner, room)
    assert call(db, "room_invite_join", c, token_hash(live))[0] == unknown
    assert call(db, "room_invite_create", owner, other, token_hash(live), 5, 3600)[0]["outcome"] \
        == "not_found", "a room of someone else"


def test_invite_max_uses_holds_under_concurrent_joins(db):
    owner = signup(db, "race.inv.owner")
    joiners = [signup(db, f"race.inv.{i}") for i in range(12)]
    room = int(call(db, "group_room_create", owner, "race", [], "private")[0]["id"])
    tok = str(uuid.uuid4())
    call(db, "room_invite_create", owner, room, token_hash(tok), 3, 3600)
    results = run_concurrently(db, "room_invite_join",
                               [[u, token_hash(tok)] for u in joiners], lock_key=434343)
    outcomes = sorted(r[0]["outcome"] for r in results)
    assert outcomes == ["no_invite"] * 9 + ["ok"] * 3, outcomes
    assert scalar(db, f"SELECT count(*) FROM chat_room_members WHERE room_id = {room}") == "4"
    assert scalar(db, f"SELECT uses FROM room_invites WHERE room_id = {room}") == "3"


def test_members_add_and_remove(db):
    owner, m, x, y, blocker = (signup(db, f"mem.{t}") for t in ("owner", "m", "x", "y", "blk"))
    room = int(call(db, "group_room_create", owner, "team", [m], "private")[0]["id"])
    unknown, = call(db, "room_members_add", m, room, [x, 987654321])
    assert (unknown["outcome"], unknown["unknown_ids"]) == ("unknown_member", "{987654321}")
    assert call(db, "user_block", blocker, m)[0]["outcome"] == "ok"
    refused, = call(db, "room_members_add", m, room, [x, blocker])
    assert (refused["outcome"], refused["not_allowed_ids"]) == ("not_allowed", f"{{{blocker}}}")
    assert scalar(db, f"SELECT count(*) FROM chat_room_members WHERE room_id = {room}") == "2"
    # Someone not blocked by the adder may add the blocker.
    added, = call(db, "room_members_add", m, room, [x, m, y, x])
    assert added["outcome"] == "ok" and added["added_ids"] == "{" + ",".join(
        map(str, sorted([x, y]))) + "}"
    assert added["member_ids"] == "{" + ",".join(map(str, sorted([owner, m]))) + "}"
    assert added["member_count"] == "4"
    assert call(db, "room_members_add", owner, room, [blocker])[0]["added_ids"] == f"{{{blocker}}}"
    direct = int(call(db, "direct_room_open", owner, m, True)[0]["id"])
    assert call(db, "room_members_add", owner, direct, [x])[0]["outcome"] == "not_group"

    # Removing: the creator removes anyone; others only themselves.
    assert call(db, "room_member_remove", m, room, x)[0]["outcome"] == "not_creator"
    gone, = call(db, "room_member_remove", owner, room, x)
    assert gone["outcome"] == "ok" and str(x) not in gone["member_ids"]
    assert call(db, "room_member_remove", owner, room, x)[0]["outcome"] == "no_member"
    assert call(db, "room_member_remove", y, room, y)[0]["outcome"] == "ok"
    # x and y no longer see the private room at all.
    assert call(db, "room_member_remove", x, room, x)[0]["outcome"] == "not_found"
    assert call(db, "room_member_remove", owner, direct, m)[0]["outcome"] == "not_group"


def test_blocks_and_direct_rooms(db):
    a, b, c = (signup(db, f"blk.{t}") for t in ("a", "b", "c"))
    assert call(db, "user_block", a, a)[0]["outcome"] == "self"
    assert call(db, "user_block", a, 987654321)[0]["outcome"] == "no_target"
    assert call(db, "user_block", a, b)[0] == {"outcome": "ok", "created": "t"}
    assert call(db, "user_block", a, b)[0] == {"outcome": "ok", "created": "f"}
    # No new direct room, from either side; the reason differs by side.
    assert call(db, "direct_room_open", a, b, True)[0]["outcome"] == "blocked"
    assert call(db, "direct_room_open", b, a, True)[0]["outcome"] == "blocked_by"
    assert scalar(db, f"SELECT count(*) FROM chat_rooms WHERE direct_key = '{min(a, b)}:{max(a, b)}'") == "0"
    # The blocked one cannot put the blocker in a group; the blocker can.
    refused, = call(db, "group_room_create", b, "g", [a, c], "private")
    assert (refused["outcome"], refused["not_allowed_ids"], refused["id"]) == \
        ("not_allowed", f"{{{a}}}", None)
    assert call(db, "group_room_create", a, "g", [b], "private")[0]["outcome"] == "ok"
    # A room that existed before the block is still answered.
    existing = call(db, "direct_room_open", c, a, True)[0]["id"]
    call(db, "user_block", a, c)
    again, = call(db, "direct_room_open", c, a, True)
    assert (again["outcome"], again["id"], again["created"]) == ("ok", existing, "f")
    listed = call(db, "users_blocked", a)
    assert [int(r["id"]) for r in listed] == [c, b] and listed[0]["nickname"] == "blk.c"
    assert call(db, "user_unblock", a, b)[0] == {"outcome": "ok", "removed": "t"}
    assert call(db, "user_unblock", a, b)[0] == {"outcome": "ok", "removed": "f"}
    assert call(db, "user_unblock", a, 987654321)[0]["outcome"] == "no_target"
    # Over the room budget: an existing room is answered, a new one is not made.
    assert call(db, "direct_room_open", c, a, False)[0]["id"] == existing
    d = signup(db, "blk.d")
    over, = call(db, "direct_room_open", a, d, False)
    assert (over["outcome"], over["id"]) == ("over_budget", None)
    assert call(db, "direct_room_open", a, d, True)[0]["created"] == "t"
    # At most 1000 blocks per user.
    psql(db.url, f"INSERT INTO users (email, password_hash, nickname, nickname_key) "
                 f"SELECT 'many' || g || '@blk.test', 'h', 'many' || g, 'many' || g "
                 f"FROM generate_series(1, 1000) g")
    psql(db.url, f"INSERT INTO user_blocks (blocker_id, blocked_id) SELECT {d}, id FROM users "
                 f"WHERE email LIKE 'many%@blk.test'")
    assert call(db, "user_block", d, a)[0]["outcome"] == "too_many"
    assert len(call(db, "users_blocked", d)) == 1000


def test_public_room_and_user_searches(db):
    me, other = signup(db, "srch.me"), signup(db, "srch.other")
    names = ["Zebra Club", "zeal", "Zélie fans", "ZEBRA crossing", "zebu"]
    rooms = {n: int(call(db, "group_room_create", other, n, [], "public")[0]["id"])
             for n in names}
    call(db, "group_room_create", other, "zebra secret", [], "private")
    closed = int(call(db, "group_room_create", other, "zebra closed", [], "public")[0]["id"])
    call(db, "room_close", other, closed)
    call(db, "room_join", me, rooms["zebu"])

    def search(q, cursor=None, size=10):
        return call(db, "public_rooms_search", me, q, cursor, size)

    got = search("ZEB")
    # Folded name order (byte order of the lower-cased name), then id.
    assert [r["name"] for r in got] == ["Zebra Club", "ZEBRA crossing", "zebu"]
    assert [r["is_member"] for r in got] == ["f", "f", "t"]
    assert all(r["visibility"] == "public" and r["member_count"] in ("1", "2") for r in got)
    assert [r["name"] for r in search("zé")] == ["Zélie fans"], "folding beyond ASCII"
    assert [r["name"] for r in search("ZÉ")] == ["Zélie fans"]
    assert search("zebra s") == [] and search("nothing like it") == []
    # Pages by cursor: size + 1 rows say there is more; the cursor is the last id shown.
    first = search("z", size=2)
    assert len(first) == 3
    second = search("z", cursor=first[1]["id"], size=2)
    third = search("z", cursor=second[1]["id"], size=2)
    seen = [r["name"] for r in first[:2] + second[:2] + third]
    assert seen == ["zeal", "Zebra Club", "ZEBRA crossing", "zebu", "Zélie fans"], seen
    # Only public rooms make a cursor: a private room's id gives an empty page.
    secret = scalar(db, "SELECT id FROM chat_rooms WHERE name = 'zebra secret'")
    assert search("z", cursor=int(secret)) == search("z", cursor=987654321) == []

    ids = {t: signup(db, f"Finder{t}") for t in ("Ann", "anna", "Bob")}
    ids["ÅSA"] = signup(db, "Åsa")
    def users(q, searcher=me, cursor=None, size=10):  # noqa: E306
        return [(r["nickname"], r["by_email"]) for r in call(db, "users_search", searcher, q,
                                                              cursor, size)]
    assert users("finderan") == [("FinderAnn", "f"), ("Finderanna", "f")]
    assert users("åS") == [("Åsa", "f")]
    # An exact email (any case), shown first and once, without the email itself.
    rows = call(db, "users_search", me, "FINDERANNA@example.test", None, 10)
    assert rows == [{"id": str(ids["anna"]), "nickname": "Finderanna", "status": "OFFLINE",
                     "by_email": "t"}]
    assert users("srch.") == [("srch.other", "f")], "never the searcher"
    call(db, "user_block", ids["Ann"], me)
    assert users("finderan") == [("Finderanna", "f")], "never a user who blocked the searcher"
    assert users("finderann@example.test") == []
    assert users("finderan", searcher=ids["Bob"]) == [("FinderAnn", "f"), ("Finderanna", "f")]
    page = call(db, "users_search", ids["Bob"], "finder", None, 1)
    assert [r["nickname"] for r in page] == ["FinderAnn", "Finderanna"]
    nxt = call(db, "users_search", ids["Bob"], "finder", page[0]["id"], 1)
    assert [r["nickname"] for r in nxt] == ["Finderanna"]


def test_admin_user_find_prefers_id_then_email_then_nickname(db):
    tag = uuid.uuid4().hex[:8]
    uid = signup(db, f"Find.{tag}")
    # A nickname that is all digits, equal to that user's id: the id wins.
    digits = signup(db, f"D{tag}")
    call(db, "user_signup", f"n{tag}@example.test", HASH, str(uid), str(uid))
    row, = call(db, "admin_user_find", str(uid))
    assert int(row["id"]) == uid and row["matched_by"] == "id", row
    row, = call(db, "admin_user_find", f"FIND.{tag}@example.TEST")
    assert int(row["id"]) == uid and row["matched_by"] == "email", row
    assert row["email"] == f"Find.{tag}@Example.test" and row["status"] == "OFFLINE", row
    assert row["last_seen_at_ms"] is None and int(row["created_at_ms"]) > 0, row
    row, = call(db, "admin_user_find", f"d{tag.upper()}")
    assert int(row["id"]) == digits and row["matched_by"] == "nickname", row
    assert call(db, "admin_user_find", f"nobody-{tag}") == []
    assert call(db, "admin_user_find", "12345678901234567890123") == []
    rows = call(db, "admin_user_nicknames", [uid, digits, 987654321])
    assert sorted((int(r["id"]), r["nickname"]) for r in rows) == sorted(
        [(uid, f"Find.{tag}"), (digits, f"D{tag}")]), rows


if __name__ == "__main__":
    run_tests_on_stack(__file__)
