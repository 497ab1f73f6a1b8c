#!/usr/bin/env python3
"""Bench data for GET /api/rooms (perf/rest/bench_rooms.sh).

    setup_rooms.py --node URL --pg-url URL --redis-port N --users N --out DIR

Creates (or reuses) N bench users, bench-rooms-NNNN@bench.example.com, each a member of
exactly 10 rooms: 2 direct rooms (user i with i-1 and i+1, a ring) and 8 group rooms of
5 members (users in blocks of 5; the block's first user creates them). Users and rooms
go through the REST API of --node (run it with CHAT_AUTH_PASSWORD_HASH_COST=min or each
sign-up costs ~110 ms); every bench room gets 3 messages through SQL (the persistence
pipeline does not exist yet), so each listed room carries a last message. A re-run logs
in again and reuses the rooms when every bench user has exactly 10; otherwise it deletes
the bench users' rooms (only rooms created by bench users) and builds them again.

Writes DIR/tokens (one access token per line, user order) and DIR/users.json
({"ids": [...], "rooms_per_user": 10}). Drops the bench users' cached room lists in Redis
at the end, so the first read of each list comes from PostgreSQL. Stdlib only.
"""
import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

PASSWORD = "bench-rooms-password"  # sign-up wants 10+ characters, not a common password
ROOMS_PER_USER = 10
GROUP_SIZE = 5
GROUPS_PER_BLOCK = 8
MESSAGES_PER_ROOM = 3

_local = threading.local()


def conn(base):
    c = getattr(_local, "conn", None)
    if c is None:
        u = urllib.parse.urlsplit(base)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        _local.conn = c
    return c


def call(base, method, path, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    data = json.dumps(body).encode() if body is not None else None
    for attempt in range(3):
        c = conn(base)
        try:
            c.request(method, path, body=data, headers=headers)
            r = c.getresponse()
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
        except (http.client.HTTPException, OSError):
            c.close()
            _local.conn = None
            if attempt == 2:
                raise
            time.sleep(0.2)


def email(i):
    return "bench-rooms-%04d@bench.example.com" % i


def psql(pg_url, sql):
    out = subprocess.run(["psql", pg_url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


def pmap(fn, items, workers):
    with ThreadPoolExecutor(max_workers=workers) as ex:
        return list(ex.map(fn, items))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--node", required=True)
    ap.add_argument("--pg-url", required=True)
    ap.add_argument("--redis-port", type=int, required=True)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--out", required=True)
    ap.add_argument("--parallel", type=int, default=16)
    a = ap.parse_args()
    n = a.users
    if n < 10 or n % GROUP_SIZE:
        sys.exit("setup: --users must be a multiple of %d and at least 10" % GROUP_SIZE)
    t0 = time.monotonic()

    def signup(i):
        # The nickname follows the email (nicknames are unique case-insensitively): a
        # re-run gets EMAIL_TAKEN; NICKNAME_TAKEN means someone else has the name.
        st, body = call(a.node, "POST", "/api/auth/signup",
                        {"email": email(i), "password": PASSWORD, "nickname": "bench-rooms-%04d" % i})
        if st not in (201, 200, 409) or (st == 409 and body["error"]["code"] != "EMAIL_TAKEN"):
            raise RuntimeError("signup %s: %s %s" % (email(i), st, body))
        return st != 409

    created = sum(pmap(signup, range(n), a.parallel))

    def login(i):
        st, body = call(a.node, "POST", "/api/auth/login", {"email": email(i), "password": PASSWORD})
        if st != 200:
            raise RuntimeError("login %s: %s %s (bench user made by someone else?)" % (email(i), st, body))
        return body["user"]["id"], body["accessToken"]

    logged = pmap(login, range(n), a.parallel)
    ids = [u for u, _ in logged]
    tokens = [t for _, t in logged]
    t_users = time.monotonic() - t0

    idlist = "ARRAY[%s]::bigint[]" % ",".join(str(i) for i in ids)
    counts = psql(a.pg_url, """
        SELECT count(*) FILTER (WHERE c = %d) || ' ' || count(*) FILTER (WHERE c <> %d)
          FROM (SELECT u.id, count(m.room_id) AS c FROM unnest(%s) AS u(id)
                  LEFT JOIN chat_room_members m ON m.user_id = u.id GROUP BY u.id) s
    """ % (ROOMS_PER_USER, ROOMS_PER_USER, idlist)).split()
    rooms_reused = int(counts[0]) == n
    if not rooms_reused:
        if int(counts[0]) or created < n:
            psql(a.pg_url, "DELETE FROM chat_rooms WHERE created_by = ANY(%s)" % idlist)

        def direct(i):
            st, body = call(a.node, "POST", "/api/rooms/direct", {"targetUserId": ids[(i + 1) % n]},
                            token=tokens[i])
            if st not in (200, 201):
                raise RuntimeError("direct room %d: %s %s" % (i, st, body))

        def group(job):
            block, k = job
            first = block * GROUP_SIZE
            members = ids[first + 1:first + GROUP_SIZE]
            st, body = call(a.node, "POST", "/api/rooms/group",
                            {"name": "bench block %d room %d" % (block, k), "memberIds": members},
                            token=tokens[first])
            if st not in (200, 201):
                raise RuntimeError("group room %d/%d: %s %s" % (block, k, st, body))

        pmap(direct, range(n), a.parallel)
        pmap(group, [(b, k) for b in range(n // GROUP_SIZE) for k in range(GROUPS_PER_BLOCK)], a.parallel)
        # Messages: a few per bench room with no messages yet, sent by a member, oldest first;
        # kafka_partition = room_id % 6 as the design maps rooms, offsets made up but increasing.
        psql(a.pg_url, """
            INSERT INTO messages (message_key, room_id, sender_id, content, type, created_at,
                                  kafka_partition, kafka_offset)
            SELECT gen_random_uuid(), r.id, r.sender,
                   'bench message ' || k || ' in room ' || r.id
                       || ': see you at the stand-up tomorrow, bring the numbers',
                   'TEXT', now() - make_interval(secs => (%d - k) * 60 + r.id %% 3600),
                   (r.id %% 6)::int, r.id * 100 + k
              FROM (SELECT c.id, min(m.user_id) AS sender
                      FROM chat_rooms c JOIN chat_room_members m ON m.room_id = c.id
                     WHERE c.created_by = ANY(%s)
                       AND NOT EXISTS (SELECT 1 FROM messages x WHERE x.room_id = c.id)
                     GROUP BY c.id) r
             CROSS JOIN generate_series(1, %d) k
        """ % (MESSAGES_PER_ROOM, idlist, MESSAGES_PER_ROOM))
        counts = psql(a.pg_url, """
            SELECT count(*) FILTER (WHERE c = %d) FROM (SELECT u.id, count(m.room_id) AS c
              FROM unnest(%s) AS u(id) LEFT JOIN chat_room_members m ON m.user_id = u.id GROUP BY u.id) s
        """ % (ROOMS_PER_USER, idlist))
        if int(counts) != n:
            sys.exit("setup: only %s of %d bench users have %d rooms" % (counts, n, ROOMS_PER_USER))
    t_rooms = time.monotonic() - t0 - t_users

    # Drop cached lists (rooms and messages may have changed under the cache through SQL).
    keys = ["rooms:%d" % i for i in ids]
    for k in range(0, len(keys), 500):
        subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(a.redis_port), "DEL"] + keys[k:k + 500],
                       check=True, capture_output=True)

    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "tokens"), "w") as f:
        f.write("\n".join(tokens) + "\n")
    with open(os.path.join(a.out, "users.json"), "w") as f:
        json.dump({"ids": ids, "rooms_per_user": ROOMS_PER_USER}, f)
    print("setup: %d users (%d new) in %.1f s; rooms %s in %.1f s" %
          (n, created, t_users, "reused" if rooms_reused else "created", t_rooms), file=sys.stderr)


if __name__ == "__main__":
    main()
