"""A membership ends on every node at once (docs/PROTOCOL.md, "Membership ends").

The leaver holds a connection on node 2 that never subscribed to the room (only to
/user/queue/errors) and has its membership cached by an earlier SEND, and one on node 1
subscribed to the room. After POST /api/rooms/{id}/leave on node 1 answers, the very next
SEND from node 2 is NOT_MEMBER and nothing of it is stored; /app/chat.read (STOMP) and
POST /read are refused; node 1's subscription got its leave event, ends, refuses typing and
gets nothing more. Repeated over fresh rooms, since the failure it guards against is a race.

Then the bounds that hold whatever happens to Redis Pub/Sub: a membership deleted behind
the nodes' backs (no revocation at all) stops SENDs within membership.cache_ttl_ms; and on
a node with a long cache, the Redis subscriber connection coming back drops every cached
membership at once.

Runs against the stack's two nodes, plus a node of its own for the last case.
"""
import json
import os
import subprocess
import sys
import time
import uuid

import pytest
import requests

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
from stomp_session import Client, Closed, frame  # noqa: E402

ROUNDS = 8
# The nodes' SEND budget ([limits] send_rate, 10 per second per user on a node, chat.read
# included): the rounds run faster than that, so every SEND here waits for room in it.
SENDS_PER_SECOND = 8
_sent_at = {}  # (node url, token) -> monotonic times of the last SENDs


def within_rate(c):
    times = _sent_at.setdefault(c.pace_key, [])
    while len(times) >= SENDS_PER_SECOND:
        wait = times[-SENDS_PER_SECOND] + 1.0 - time.monotonic()
        if wait <= 0:
            break
        time.sleep(wait)
    times.append(time.monotonic())
    del times[:-SENDS_PER_SECOND]


class Stack:
    def __init__(self, url):
        self.url = url


@pytest.fixture(scope="module")
def nodes():
    return Stack(cnlib.need("CN_TEST_NODE1_URL")), Stack(cnlib.need("CN_TEST_NODE2_URL"))


class User:
    def __init__(self, base, nickname):
        suffix = uuid.uuid4().hex[:8]
        email = f"rv-{suffix}@example.com"
        password = "tr0ub4dor-" + uuid.uuid4().hex[:12]
        r = requests.post(f"{base}/api/auth/signup",
                          json={"email": email, "password": password,
                                "nickname": f"{nickname}-{suffix}"})
        assert r.status_code == 201, r.text
        self.id = r.json()["id"]
        r = requests.post(f"{base}/api/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        self.token = r.json()["accessToken"]
        self.auth = {"Authorization": f"Bearer {self.token}"}


def psql(sql):
    r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d",
                        cnlib.need("CN_TEST_PG_URL"), "-c", sql],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return [line.split("|") for line in r.stdout.split("\n") if line]


def redis_cli(*args):
    return subprocess.run(["redis-cli", "-h", cnlib.need("CN_TEST_REDIS_HOST"), "-p",
                           cnlib.need("CN_TEST_REDIS_PORT"), *args],
                          capture_output=True, text=True, timeout=10)


def stored_contents(room):
    return {row[0] for row in psql(f"SELECT content FROM messages WHERE room_id = {int(room)}")}


def connect(node, user, errors=True):
    c = Client(node)
    c.pace_key = (node.url, user.token)
    cmd, h, _ = c.connect(user.token, heart_beat="0,0")
    assert cmd == "CONNECTED", (cmd, h)
    c.keep_alive()
    if errors:
        c.send(frame("SUBSCRIBE", [("id", "errs"), ("destination", "/user/queue/errors"),
                                   ("receipt", "e")]))
        assert c.recv_frame()[1].get("receipt-id") == "e"
    return c


def until(c, pred, what, timeout=20):
    """Reads frames (typing and read events skipped) until one satisfies pred; returns it
    and the frames passed on the way."""
    deadline = time.monotonic() + timeout * cnlib.scale()
    passed = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {what} (passed: {passed})")
        try:
            f = c.recv_frame(left / cnlib.scale())
        except TimeoutError:
            continue
        if f[1].get("x-event") in ("typing", "read"):
            continue
        if pred(f):
            return f, passed
        passed.append(f)


def answer_to(c, receipt, timeout=20):
    f, passed = until(c, lambda f: f[1].get("receipt-id") == receipt, f"answer to {receipt}",
                      timeout)
    return f, passed


def error_code(f):
    cmd, h, body = f
    assert cmd == "MESSAGE" and h.get("destination") == "/user/queue/errors", f
    return json.loads(body)["error"]["code"]


def send(c, room, content, receipt):
    within_rate(c)
    c.send(frame("SEND", [("destination", "/app/chat.send"), ("receipt", receipt)],
                 json.dumps({"roomId": room, "content": content})))


def is_chat(content):
    return lambda f: f[0] == "MESSAGE" and not f[1].get("x-event") and \
        f[1].get("destination", "").startswith("/topic/room.") and \
        json.loads(f[2]).get("content") == content


def group(owner, base, members, visibility="public"):
    r = requests.post(f"{base}/api/rooms/group", headers=owner.auth,
                      json={"name": "revoke", "memberIds": [m.id for m in members],
                            "visibility": visibility})
    assert r.status_code in (200, 201), r.text
    return r.json()["id"]


def test_leave_stops_every_connection_of_the_leaver_on_every_node(nodes):
    n1, n2 = nodes
    alice, bob = User(n1.url, "alice"), User(n1.url, "bob")
    alice_1 = connect(n1, alice)
    bob_1 = connect(n1, bob)  # subscribes to each round's room
    bob_2 = connect(n2, bob)  # never subscribes to a room
    latencies = []
    for i in range(ROUNDS):
        # Public and private rooms alternate: a former member of a private room is refused
        # like anyone who may not see it (ROOM_NOT_FOUND), of a public one as a non-member.
        private = i % 2 == 1
        room = group(alice, n1.url, [bob], "private" if private else "public")
        refused = "ROOM_NOT_FOUND" if private else "NOT_MEMBER"
        refused_rest = (404, "ROOM_NOT_FOUND") if private else (403, "NOT_A_MEMBER")
        for c, sid in ((alice_1, f"a{i}"), (bob_1, f"b{i}")):
            c.send(frame("SUBSCRIBE", [("id", sid), ("destination", f"/topic/room.{room}"),
                                       ("receipt", f"s-{sid}")]))
            (cmd, h, _), _ = answer_to(c, f"s-{sid}")
            assert cmd == "RECEIPT", (cmd, h)
        # Both of bob's connections send first: each caches the membership.
        for c, tag in ((bob_1, "1"), (bob_2, "2")):
            send(c, room, f"before-{i}-{tag}", f"m{i}-{tag}")
            (cmd, h, _), _ = answer_to(c, f"m{i}-{tag}", 60)
            assert cmd == "RECEIPT", (cmd, h)

        # A stored message for the read receipts below (which need one).
        read_id = cnlib.wait_until(
            lambda: (psql(f"SELECT max(id) FROM messages WHERE room_id = {room}") or [[""]])[0][0],
            60 * cnlib.scale(), what="a stored message")

        t0 = time.monotonic()
        r = requests.post(f"{n1.url}/api/rooms/{room}/leave", headers=bob.auth)
        latencies.append(time.monotonic() - t0)
        assert r.status_code == 200, r.text
        assert r.json() == {"roomId": room, "left": True}

        # At once, from the unsubscribed connection on the other node: refused.
        send(bob_2, room, f"after-{i}", f"x{i}")
        f, _ = answer_to(bob_2, f"x{i}")
        assert error_code(f) == refused, f
        within_rate(bob_2)
        bob_2.send(frame("SEND", [("destination", "/app/chat.read"), ("receipt", f"rd{i}")],
                         json.dumps({"roomId": room, "messageId": int(read_id)})))
        f, _ = answer_to(bob_2, f"rd{i}")
        assert error_code(f) == refused, f
        r = requests.post(f"{n2.url}/api/rooms/{room}/read", headers=bob.auth,
                          json={"messageId": int(read_id)})
        assert (r.status_code, r.json()["error"]["code"]) == refused_rest, r.text

        # The subscribed connection: its leave event, then no SEND, no typing.
        (cmd, h, body), passed = until(bob_1, lambda f: f[1].get("x-event") == "leave",
                                       "leave event")
        assert json.loads(body) == {"type": "LEAVE", "roomId": room, "userId": bob.id}, body
        assert h["subscription"] == f"b{i}" and h["message-id"].startswith(
            f"leave-{room}-{bob.id}-"), h
        send(bob_1, room, f"after-{i}-1", f"y{i}")
        f, _ = answer_to(bob_1, f"y{i}")
        assert error_code(f) == refused, f

        # Alice's message reaches her subscription (same node, same room actor as bob's
        # was); a frame bob sends after that is answered with nothing of the room before.
        send(alice_1, room, f"sentinel-{i}", f"z{i}")
        until(alice_1, is_chat(f"sentinel-{i}"), "alice's sentinel", 60)
        bob_1.send(frame("SEND", [("destination", "/app/chat.typing"), ("receipt", f"t{i}")],
                         json.dumps({"roomId": room})))
        f, passed = answer_to(bob_1, f"t{i}")
        assert error_code(f) == "NOT_SUBSCRIBED", f
        assert not [p for p in passed if p[1].get("subscription") == f"b{i}"], passed

        # Stored: the SENDs before the leave and alice's, never those after it.
        cnlib.wait_until(lambda: f"sentinel-{i}" in stored_contents(room), 60 * cnlib.scale(),
                         what="alice's sentinel stored")
        contents = stored_contents(room)
        assert {f"before-{i}-1", f"before-{i}-2"} <= contents, contents
        assert not {c for c in contents if c.startswith("after-")}, contents

    # Without /user/queue/errors the refusal is ERROR, then close.
    room = group(alice, n1.url, [bob])
    bare = connect(n2, bob, errors=False)
    send(bare, room, "cached", "c0")
    (cmd, h, _), _ = answer_to(bare, "c0", 60)
    assert cmd == "RECEIPT", (cmd, h)
    assert requests.post(f"{n1.url}/api/rooms/{room}/leave", headers=bob.auth).status_code == 200
    send(bare, room, "after-bare", "c1")
    cmd, h, body = bare.recv_frame(10)
    assert (cmd, h.get("receipt-id"), json.loads(body)["error"]["code"]) == \
        ("ERROR", "c1", "NOT_MEMBER"), (cmd, h, body)
    with pytest.raises(Closed):
        bare.recv_frame(10)

    latencies.sort()
    print(f"leave latency over {ROUNDS} rounds: median {latencies[len(latencies) // 2] * 1000:.1f}"
          f" ms, worst {latencies[-1] * 1000:.1f} ms")
    for c in (alice_1, bob_1, bob_2, bare):
        c.close()


def test_a_membership_lost_behind_the_nodes_back_ends_within_the_cache_ttl(nodes):
    """No revocation at all (the row is deleted in PostgreSQL directly, as if every
    event were lost): the cached membership stops SENDs within membership.cache_ttl_ms
    (5 s by default on the stack's nodes)."""
    n1, n2 = nodes
    alice, bob = User(n1.url, "alice"), User(n1.url, "bob")
    room = group(alice, n1.url, [bob])
    c = connect(n2, bob)
    send(c, room, "cached", "k0")
    (cmd, h, _), _ = answer_to(c, "k0", 60)
    assert cmd == "RECEIPT", (cmd, h)
    t0 = time.monotonic()
    psql(f"DELETE FROM chat_room_members WHERE room_id = {room} AND user_id = {bob.id}")
    i = 0
    while True:
        i += 1
        send(c, room, f"probe-{i}", f"k{i}")
        f, _ = answer_to(c, f"k{i}", 60)
        if f[0] != "RECEIPT":
            assert error_code(f) == "NOT_MEMBER", f
            break
        assert time.monotonic() - t0 < 5.0 + 2.0 * cnlib.scale(), "still accepted past the TTL"
        time.sleep(0.2)  # within the SEND rate limit (10/s)
    c.close()


@pytest.fixture(scope="module")
def long_cache_node():
    n = cnlib.Node(overrides={"CHAT_MEMBERSHIP_CACHE_TTL_MS": "600000"})
    try:
        n.wait_healthy()
        yield n
        rc, _ = n.stop()
        assert rc == 0, n.output()[-4000:]
    finally:
        n.close()


def metric(url, name):
    for line in cnlib.metrics_text(url).splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def test_the_redis_subscriber_coming_back_drops_every_cached_membership(long_cache_node):
    """With a ten-minute cache, only the reconnect can explain a refusal: the membership
    is deleted behind the node's back, Redis drops every Pub/Sub connection, and once the
    node has resubscribed the next SEND is NOT_MEMBER."""
    node = long_cache_node
    alice, bob = User(node.url, "alice"), User(node.url, "bob")
    room = group(alice, node.url, [bob])
    c = connect(node, bob)
    send(c, room, "cached", "k0")
    (cmd, h, _), _ = answer_to(c, "k0", 60)
    assert cmd == "RECEIPT", (cmd, h)
    psql(f"DELETE FROM chat_room_members WHERE room_id = {room} AND user_id = {bob.id}")
    send(c, room, "still cached", "k1")
    (cmd, h, _), _ = answer_to(c, "k1", 60)
    assert cmd == "RECEIPT", (cmd, h)  # the cache is what answers, as designed
    drops = metric(node.url, "chat_membership_cache_drops_total")
    r = redis_cli("CLIENT", "KILL", "TYPE", "pubsub")
    assert r.returncode == 0, r.stderr
    cnlib.wait_until(lambda: metric(node.url, "chat_membership_cache_drops_total") > drops,
                     20 * cnlib.scale(), what="the node's caches dropped after the reconnect")
    send(c, room, "after the reconnect", "k2")
    f, _ = answer_to(c, "k2", 60)
    assert error_code(f) == "NOT_MEMBER", f
    c.close()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-s", "-p", "no:cacheprovider"]))
