"""The persistence pipeline (consumer group chat-persistence) of the stack's nodes.

Events are produced to chat.messages with kcat (msgpack encoded here: the format is a
small map of strings and integers) for users and rooms made in the test database; the
nodes' own pipelines consume them, which is the real behaviour. Every wait is on a
condition with a deadline: rows in PostgreSQL, the group's committed offset in the
nodes' /metrics, records in chat.messages.dlt, keys in Redis.

Checked: rows carry the partition/offset of their record and its content; a duplicate
messageKey and a replay of a whole batch leave exactly one row each; unread counts of
the other members grow by exactly the new rows; an event for a missing room (FK) is
retried 3 times, then lands in the DLT with its headers, and the partition moves on;
a garbage payload goes to the DLT at once (no retries); members' rooms:{userId} cache
keys are deleted after a new message."""
import os
import re
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
import _chat_helpers  # noqa: E402

TOPIC, DLT, PARTITIONS = "chat.messages", "chat.messages.dlt", 6
END = b"<<~END~>>"


def stack_or_skip():
    names = ["CN_TEST_PG_URL", "CN_TEST_KAFKA_BROKERS", "CN_TEST_REDIS_HOST", "CN_TEST_REDIS_PORT",
             "CN_TEST_NODE1_URL", "CN_TEST_NODE2_URL"]
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        if os.environ.get("CN_TEST_REQUIRE_STACK") == "1":
            sys.exit(f"missing {missing} with CN_TEST_REQUIRE_STACK=1")
        print(f"skipped: {missing} not set (run through ./ops/dev test)")
        sys.exit(77)


# ------------------------------------------------------------------ msgpack (subset)

def mp(v):
    if isinstance(v, dict):
        out = bytes([0x80 | len(v)]) if len(v) < 16 else b"\xde" + len(v).to_bytes(2, "big")
        for k, x in v.items():
            out += mp(k) + mp(x)
        return out
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        return b"\xd3" + v.to_bytes(8, "big", signed=True)
    b = v.encode()
    if len(b) < 32:
        return bytes([0xA0 | len(b)]) + b
    return b"\xda" + len(b).to_bytes(2, "big") + b


def event(key, room, sender, content, kind="ChatMessage", v=1):
    return mp({"kind": kind, "v": v, "messageKey": key, "roomId": room, "senderId": sender,
               "senderNickname": "n", "content": content, "type": "TEXT",
               "sentAt": int(time.time() * 1000)})


def partition_of(room):
    return _chat_helpers.partition_of(room, PARTITIONS)


# ------------------------------------------------------------------ the outside things

def psql(sql):
    r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d",
                        os.environ["CN_TEST_PG_URL"], "-c", sql],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return [line.split("|") for line in r.stdout.splitlines() if line]


def redis(*args):
    r = subprocess.run(["redis-cli", "-h", os.environ["CN_TEST_REDIS_HOST"], "-p",
                        os.environ["CN_TEST_REDIS_PORT"], *args],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def produce(records):
    """records: [(key bytes, value bytes)], produced in order by one kcat with Kafka's
    Java partitioner (murmur2), so each room lands where the nodes' producers put it."""
    data = b"".join(k + b"<<~KEY~>>" + v + END for k, v in records)
    r = subprocess.run(["kcat", "-P", "-b", os.environ["CN_TEST_KAFKA_BROKERS"], "-t", TOPIC,
                        "-X", "topic.partitioner=murmur2_random", "-K", "<<~KEY~>>",
                        "-D", END.decode()], input=data, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr


def consume(topic, partition, offset="beginning", count=None):
    """Records of one partition from `offset` to its end: [(offset, headers, value bytes)]."""
    cmd = ["kcat", "-C", "-b", os.environ["CN_TEST_KAFKA_BROKERS"], "-t", topic, "-p",
           str(partition), "-o", str(offset), "-e", "-q", "-f", "%o\t%h\t%s" + END.decode()]
    if count:
        cmd += ["-c", str(count)]
    r = subprocess.run(cmd, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = []
    for chunk in r.stdout.split(END)[:-1]:
        off, hdrs, value = chunk.split(b"\t", 2)
        headers = dict(h.split("=", 1) for h in hdrs.decode().split(",") if "=" in h)
        out.append((int(off), headers, value))
    return out


def metrics():
    """name{labels} -> summed value over both nodes."""
    total = {}
    for url in (os.environ["CN_TEST_NODE1_URL"], os.environ["CN_TEST_NODE2_URL"]):
        for line in cnlib.metrics_text(url).splitlines():
            m = re.match(r"^(chat_persist_\w+(?:\{[^}]*\})?) (\S+)$", line)
            if m:
                total[m.group(1)] = total.get(m.group(1), 0) + float(m.group(2))
    return total


def committed(partition):
    key = f'chat_persist_committed_offset{{topic="{TOPIC}",partition="{partition}"}}'
    # Only the owner reports a partition; -1 (unknown) from nobody else.
    return metrics().get(key, -1)


def wait_committed_past(partition, offset, timeout):
    cnlib.wait_until(lambda: committed(partition) > offset, timeout,
                     what=f"group offset of {TOPIC}[{partition}] past {offset}")


def end_offset(partition):
    recs = consume(TOPIC, partition, offset=-1, count=1)
    return recs[-1][0] if recs else -1


# ------------------------------------------------------------------ the test

def main():
    stack_or_skip()
    t = 30 * cnlib.scale()
    tag = uuid.uuid4().hex[:10]
    users = [int(r[0]) for r in psql(
        "INSERT INTO users (email, password_hash, nickname, nickname_key) SELECT 'persist-' || g "
        f"|| '-{tag}@t', 'x', 'p' || g || '-{tag}', 'p' || g || '-{tag}' "
        "FROM generate_series(1, 3) g RETURNING id")]
    a, b, c = users
    room = int(psql(f"INSERT INTO chat_rooms (name, type, created_by) VALUES "
                    f"('persist {tag}', 'GROUP', {a}) RETURNING id")[0][0])
    psql("INSERT INTO chat_room_members (room_id, user_id) VALUES " +
         ",".join(f"({room},{u})" for u in users))
    part = partition_of(room)
    rkey = str(room).encode()

    def unread():
        # What GET /api/rooms counts: the room's messages after the member's read
        # position that others sent.
        return {int(u): int(n) for u, n in psql(
            f"SELECT m.user_id, (SELECT count(*) FROM messages x WHERE x.room_id = m.room_id "
            f"AND x.id > coalesce(m.last_read_message_id, 0) AND x.sender_id <> m.user_id) "
            f"FROM chat_room_members m WHERE m.room_id = {room}")}

    def rows_of(key):
        return psql("SELECT room_id, sender_id, content, kafka_partition, kafka_offset "
                    f"FROM messages WHERE message_key = '{key}'")

    # Cache keys of the members exist before the first message.
    for u in users:
        redis("SET", f"rooms:{u}", "stale", "EX", "300")

    # 1. Three new messages, then one of them again (a duplicate messageKey).
    keys = [str(uuid.uuid4()) for _ in range(3)]
    values = [event(k, room, a, f"hello {i} \"quoted\", {{braces}} \\ NULL {tag}")
              for i, k in enumerate(keys)]
    before = unread()
    produce([(rkey, v) for v in values] + [(rkey, values[0])])
    last = end_offset(part)
    cnlib.wait_until(lambda: all(rows_of(k) for k in keys), t, what="three rows stored")
    for i, k in enumerate(keys):
        rows = rows_of(k)
        assert len(rows) == 1, rows
        r_room, r_sender, content, r_part, r_off = rows[0]
        assert (int(r_room), int(r_sender)) == (room, a), rows
        assert content == f"hello {i} \"quoted\", {{braces}} \\ NULL {tag}", content
        assert int(r_part) == part, (r_part, part)
        # The record at the row's position is the one that carried this message.
        rec = consume(TOPIC, part, offset=int(r_off), count=1)
        assert rec and rec[0][0] == int(r_off) and k.encode() in rec[0][2], (r_off, rec)
    wait_committed_past(part, last, t)
    assert all(len(rows_of(k)) == 1 for k in keys)
    after = unread()
    assert after[a] == before[a] and after[b] == before[b] + 3 and after[c] == before[c] + 3, \
        (before, after)
    print(f"stored 3 rows (+1 duplicate) at {TOPIC}[{part}], unread {before} -> {after}")

    # 2. The members' cached room lists were dropped by the new messages.
    cnlib.wait_until(lambda: all(redis("EXISTS", f"rooms:{u}") == "0" for u in users), t,
                     what="rooms:{userId} keys deleted")

    # 3. A replay of the whole batch: nothing new, unread unchanged.
    m0 = metrics()
    produce([(rkey, v) for v in values])
    wait_committed_past(part, end_offset(part) - 1, t)
    assert all(len(rows_of(k)) == 1 for k in keys)
    assert unread() == after, (after, unread())
    m1 = metrics()
    dups = m1.get("chat_persist_duplicates_total", 0) - m0.get("chat_persist_duplicates_total", 0)
    assert dups >= 3, dups
    print(f"replay of 3 events: no new rows, duplicates counted {dups:.0f}")

    # 4. An event for a room that does not exist (FK), in the same partition: retried 3
    #    times, then to the DLT with headers; a later good event is stored.
    ghost = next(r for r in range(10**12, 10**12 + 10000) if partition_of(r) == part)
    bad_key, good_key = str(uuid.uuid4()), str(uuid.uuid4())
    dlt_start = consume(DLT, part, offset=-1, count=1)  # the DLT twin: same partition
    dlt_from = dlt_start[-1][0] + 1 if dlt_start else 0
    t0 = time.monotonic()
    produce([(str(ghost).encode(), event(bad_key, ghost, a, "to nowhere"))])
    bad_off = end_offset(part)
    produce([(rkey, event(good_key, room, b, "after the bad one"))])

    def dlt_records():
        return [r for r in consume(DLT, part, offset=dlt_from) if bad_key.encode() in r[2]]
    recs = cnlib.wait_until(dlt_records, t + 10, what="FK failure in the DLT")
    took = time.monotonic() - t0
    _, h, _ = recs[0]
    assert h.get("attempts") == "4" and h.get("error-stage") == "insert", h
    assert h.get("origin-topic") == TOPIC and h.get("origin-partition") == str(part), h
    assert h.get("origin-offset") == str(bad_off), (h, bad_off)
    assert "23503" in h.get("error", ""), h  # foreign_key_violation
    assert took >= 2.0, f"3 retries with 100/400/1600 ms backoff took only {took:.2f}s"
    cnlib.wait_until(lambda: rows_of(good_key), t, what="the good event after the bad one")
    assert not rows_of(bad_key)
    m2 = metrics()
    retries = m2.get("chat_persist_retries_total", 0) - m1.get("chat_persist_retries_total", 0)
    assert retries >= 3, retries
    print(f"FK failure: DLT after {took:.2f}s with {h}; partition moved on")

    # 5. Garbage and an unknown version go to the DLT at once, without retries.
    junk = b"\xc1 not msgpack " + tag.encode()
    vkey = str(uuid.uuid4())
    after_key = str(uuid.uuid4())
    t0 = time.monotonic()
    produce([(rkey, junk), (rkey, event(vkey, room, a, "v9", v=9)),
             (rkey, event(after_key, room, a, "after the junk"))])

    def junk_records():
        got = [r for r in consume(DLT, part, offset=dlt_from)
               if r[2] == junk or vkey.encode() in r[2]]
        return got if len(got) == 2 else None
    recs = cnlib.wait_until(junk_records, t, what="garbage in the DLT")
    took = time.monotonic() - t0
    for _, h, _ in recs:
        assert h.get("attempts") == "0" and h.get("error-stage") == "decode", h
        assert h.get("origin-partition") == str(part), h
    cnlib.wait_until(lambda: rows_of(after_key), t, what="the good event after the junk")
    # No retries: each DLT record says attempts 0 (the retry counter is the stack's, which
    # the tests running alongside this one may move).
    m3 = metrics()
    assert m3.get("chat_persist_dlt_undecodable_total", 0) >= \
        m2.get("chat_persist_dlt_undecodable_total", 0) + 2
    print(f"garbage + unknown version: DLT in {took:.2f}s without retries: "
          f"{[r[1].get('error') for r in recs]}")
    print("persist metrics:", {k: v for k, v in m3.items() if "{" not in k})


if __name__ == "__main__":
    main()
