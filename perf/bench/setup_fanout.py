#!/usr/bin/env python3
"""Sessions file for chat-bench's fan-out scenario (perf/bench/fanout.sh).

    setup_fanout.py --node URL --rooms R --room-size K --out FILE

Signs up (or logs in again) R*K bench users, bench-fanout-NNNNN@bench.example.com, through
the REST API of --node (run it with CHAT_AUTH_PASSWORD_HASH_COST=min, or each sign-up costs
~110 ms), puts them in R group rooms of K members (users in blocks of K; the block's first
user creates the room with the other K-1), and writes FILE with one line per user:
`userId token roomId`. A re-run reuses a block's room when its creator already has exactly
one room with these members. A room of more than 100 (the API's limit for a group) is
created with its first 100 members, and the others are added with SQL (--pg-url, psql on
PATH): the one-room fan-out of one_room.sh. Stdlib only.
"""
import argparse
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "rest"))
from setup_rooms import call  # noqa: E402  (the REST bench's client: keep-alive per thread, retries)

PASSWORD = "bench-fanout-password"  # sign-up wants 10+ characters, not a common password
API_GROUP_MAX = 100  # POST /api/rooms/group: memberIds holds at most 100 distinct ids


def user(base, i):
    email = f"bench-fanout-{i:05d}@bench.example.com"
    # Nicknames are unique case-insensitively: "bench-fan-NNNNN" follows the email, so a
    # re-run gets EMAIL_TAKEN (and logs in); NICKNAME_TAKEN means someone else has it.
    st, body = call(base, "POST", "/api/auth/signup",
                    {"email": email, "password": PASSWORD, "nickname": f"bench-fan-{i:05d}"})
    if st not in (201, 409) or (st == 409 and body["error"]["code"] != "EMAIL_TAKEN"):
        raise SystemExit(f"setup_fanout: signup {email}: {st} {body}")
    st, body = call(base, "POST", "/api/auth/login", {"email": email, "password": PASSWORD})
    if st != 200:
        raise SystemExit(f"setup_fanout: login {email}: {st} {body}")
    return body["user"]["id"], body["accessToken"]


def room(base, block, users, pg_url):
    creator_id, token = users[0]
    members = sorted(u for u, _ in users[1:API_GROUP_MAX])
    st, rooms = call(base, "GET", "/api/rooms", token=token)
    if st != 200:
        raise SystemExit(f"setup_fanout: my rooms: {st} {rooms}")
    name = f"fanout-{block:05d}"
    room_id = None
    for r in rooms:
        if r["name"] == name and (r["memberCount"] == len(users) or
                                  (len(users) > API_GROUP_MAX and r["memberCount"] >= API_GROUP_MAX)):
            room_id = r["id"]
    if room_id is None:
        st, body = call(base, "POST", "/api/rooms/group", {"name": name, "memberIds": members},
                        token=token)
        if st not in (200, 201):
            raise SystemExit(f"setup_fanout: create room: {st} {body}")
        room_id = body["id"]
    if len(users) > API_GROUP_MAX:
        if not pg_url:
            raise SystemExit(f"setup_fanout: rooms of more than {API_GROUP_MAX} need --pg-url")
        rest = ",".join(str(u) for u, _ in users[API_GROUP_MAX:])
        subprocess.run(["psql", pg_url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                        f"INSERT INTO chat_room_members (room_id, user_id) SELECT {room_id}, u"
                        f" FROM unnest('{{{rest}}}'::bigint[]) u ON CONFLICT DO NOTHING"],
                       check=True)
    return room_id


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--node", required=True)
    ap.add_argument("--rooms", type=int, required=True)
    ap.add_argument("--room-size", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--pg-url", help="for rooms of more than 100: the node's database")
    a = ap.parse_args()
    n = a.rooms * a.room_size
    with ThreadPoolExecutor(16) as ex:
        users = list(ex.map(lambda i: user(a.node, i), range(n)))
        blocks = [users[b * a.room_size:(b + 1) * a.room_size] for b in range(a.rooms)]
        room_ids = list(ex.map(lambda b: room(a.node, b, blocks[b], a.pg_url), range(a.rooms)))
    with open(a.out, "w") as f:
        for b, members in enumerate(blocks):
            for uid, tok in members:
                f.write(f"{uid} {tok} {room_ids[b]}\n")
    print(f"setup_fanout: {n} users in {a.rooms} rooms of {a.room_size} -> {a.out}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
