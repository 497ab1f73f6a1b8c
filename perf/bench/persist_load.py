"""Persistence throughput, driven by perf/bench/persist.sh: writes users and
rooms straight into the bench database, produces N ChatMessageEvents (msgpack, the
product's format) to chat.messages with kcat, plus a replay of the first DUP of them
(same messageKeys: idempotency must keep one row each), and measures how fast the node's
persistence pipeline (consumer group chat-persistence) makes them rows in PostgreSQL.
Prints one JSON line.

usage: persist_load.py --pg URL --brokers LIST --count N [--rooms R] [--dup D]
"""
import argparse
import json
import subprocess
import sys
import time
import uuid

import msgpack

KEY_SEP, END = b"<<~KEY~>>", b"<<~END~>>"


def psql(url, sql):
    r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url,
                        "-c", sql], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        sys.exit(f"psql: {r.stderr.strip()}")
    return r.stdout.strip()


def setup(url, rooms):
    """Two users; `rooms` group rooms with both as members (the other member's room list
    is invalidated by each batch, as in real use). Returns (sender, room ids)."""
    tag = uuid.uuid4().hex[:8]
    ids = psql(url, f"""
        INSERT INTO users (email, password_hash, nickname, nickname_key)
        VALUES ('persist-a-{tag}@example.com', 'x', 'a-{tag}', 'a-{tag}'),
               ('persist-b-{tag}@example.com', 'x', 'b-{tag}', 'b-{tag}')
        RETURNING id""").split()
    a, b = int(ids[0]), int(ids[1])
    room_ids = [int(x) for x in psql(url, f"""
        INSERT INTO chat_rooms (name, type, created_by)
        SELECT 'persist ' || g, 'GROUP', {a} FROM generate_series(1, {rooms}) g
        RETURNING id""").split()]
    psql(url, f"""
        INSERT INTO chat_room_members (room_id, user_id)
        SELECT r, u FROM unnest(ARRAY{room_ids}::bigint[]) r, unnest(ARRAY[{a}, {b}]) u""")
    return a, room_ids


def events(sender, rooms, n):
    now = int(time.time() * 1000)
    out = []
    for i in range(n):
        room = rooms[i % len(rooms)]
        value = msgpack.packb({"kind": "ChatMessage", "v": 1, "messageKey": str(uuid.uuid4()),
                               "roomId": room, "senderId": sender, "senderNickname": "a",
                               "content": f"persist {i}", "type": "TEXT", "sentAt": now})
        out.append(str(room).encode() + KEY_SEP + value + END)
    return out


def produce(brokers, records, chunk=50000):
    """In chunks: one kcat for 200,000 records lost some of them (kcat's exit code was 0)."""
    for i in range(0, len(records), chunk):
        produce_chunk(brokers, records[i:i + chunk])


def produce_chunk(brokers, records):
    r = subprocess.run(["kcat", "-P", "-b", brokers, "-t", "chat.messages",
                        "-X", "topic.partitioner=murmur2_random", "-X", "linger.ms=20",
                        "-X", "batch.num.messages=10000", "-K", KEY_SEP.decode(),
                        "-D", END.decode()],
                       input=b"".join(records), capture_output=True, timeout=600)
    if r.returncode != 0 or r.stderr.strip():
        sys.exit(f"kcat (rc {r.returncode}): {r.stderr.decode().strip()[:2000]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", required=True)
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--count", type=int, default=200000)
    ap.add_argument("--rooms", type=int, default=200)
    ap.add_argument("--dup", type=int, default=20000)
    ap.add_argument("--deadline", type=float, default=300)
    a = ap.parse_args()

    sender, rooms = setup(a.pg, a.rooms)
    room_list = ",".join(str(r) for r in rooms)
    recs = events(sender, rooms, a.count)
    count_sql = f"SELECT count(*), count(DISTINCT message_key) FROM messages " \
                f"WHERE room_id IN ({room_list})"

    t0 = time.monotonic()
    produce(a.brokers, recs)
    t_produced = time.monotonic()
    produce(a.brokers, recs[:a.dup])  # the replay: nothing new may be stored
    rows, samples = 0, []
    while rows < a.count:
        if time.monotonic() - t0 > a.deadline:
            break
        rows, distinct = (int(x) for x in psql(a.pg, count_sql).split("|"))
        samples.append((round(time.monotonic() - t0, 2), rows))
        time.sleep(0.2)
    t_done = time.monotonic()
    # The replayed slice has been consumed too once the group's lag is gone; give the
    # pipeline the same time again at most, then count once more.
    time.sleep(min(5.0, t_done - t_produced))
    rows, distinct = (int(x) for x in psql(a.pg, count_sql).split("|"))
    elapsed = t_done - t0
    print(json.dumps({
        "bench": "persist", "count": a.count, "rooms": a.rooms, "replayed": a.dup,
        "rows": rows, "distinct_keys": distinct,
        "exactly_once": rows == a.count and distinct == a.count,
        "produce_s": round(t_produced - t0, 2), "stored_s": round(elapsed, 2),
        "produce_msgs_per_s": round(a.count / max(t_produced - t0, 1e-9)),
        "stored_msgs_per_s": round(a.count / max(elapsed, 1e-9)),
        "samples": samples[-50:],
    }))
    return 0 if rows == a.count and distinct == a.count else 1


if __name__ == "__main__":
    sys.exit(main())
