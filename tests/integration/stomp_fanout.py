"""Redis fan-out (issue 5): the broadcast pipeline (group chat-broadcast) publishes every
chat.messages event to room:{id}; each node's room actor delivers it as a STOMP MESSAGE
to the room's local subscriptions, in offset order, repairing holes from the room's Redis
window (or PostgreSQL) after a Redis subscriber reconnect.

Events are injected straight into Kafka (kcat, key = room id, Kafka's murmur2 partitioner)
as msgpack ChatMessageEvents, so these tests do not depend on the SEND path. They run
against the stack's two nodes (CN_TEST_NODE1_URL / NODE2_URL) plus, for the slow
consumer, a node of their own with a small outbound queue. STOMP helpers come from
stomp_session.py (hand-written frames over python3-websocket).
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

import msgpack
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
from stomp_session import Client, User, frame  # noqa: E402


class Stack:
    def __init__(self, url):
        self.url = url


def metric(url, name, labels=""):
    import re
    text = cnlib.metrics_text(url)
    m = re.search(rf"^{re.escape(name + labels)} ([0-9.e+]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


@pytest.fixture(scope="module")
def nodes():
    return Stack(cnlib.need("CN_TEST_NODE1_URL")), Stack(cnlib.need("CN_TEST_NODE2_URL"))


def redis_cli(*args):
    out = subprocess.run(["redis-cli", "-h", cnlib.need("CN_TEST_REDIS_HOST"), "-p",
                          cnlib.need("CN_TEST_REDIS_PORT"), *args],
                         check=True, capture_output=True, text=True, timeout=10)
    return out.stdout.strip()


def numsub(room):
    out = redis_cli("PUBSUB", "NUMSUB", f"room:{room}").split("\n")
    return int(out[1]) if len(out) > 1 else 0


def inject(room, sender, contents, message_keys=None):
    """Produces one ChatMessageEvent per content to chat.messages, key = room id, in
    order (one kcat process, one partition: Kafka keeps the order). Returns the keys
    (message_keys when given, else fresh UUIDs)."""
    keys, lines = [], []
    for i, c in enumerate(contents):
        k = message_keys[i] if message_keys else str(uuid.uuid4())
        keys.append(k)
        ev = msgpack.packb({"kind": "ChatMessage", "v": 1, "messageKey": k, "roomId": room,
                            "senderId": sender.id, "senderNickname": "alice", "content": c,
                            "type": "TEXT", "sentAt": int(time.time() * 1000)})
        lines.append(ev)
    # One file per event: kcat -P sends each file as one message, in order (msgpack may
    # hold any byte, so no delimiter would do).
    with tempfile.TemporaryDirectory() as d:
        files = []
        for i, ev in enumerate(lines):
            files.append(os.path.join(d, f"{i:05d}"))
            with open(files[-1], "wb") as f:
                f.write(ev)
        subprocess.run(["kcat", "-P", "-b", cnlib.need("CN_TEST_KAFKA_BROKERS"), "-t",
                        "chat.messages", "-k", str(room), "-X",
                        "topic.partitioner=murmur2_random", *files], check=True, timeout=60)
    return keys


def subscribe(c, room, sid="r"):
    c.send(frame("SUBSCRIBE", [("id", sid), ("destination", f"/topic/room.{room}"),
                               ("receipt", f"sub-{sid}")]))
    cmd, h, _ = c.recv_frame(5)
    assert (cmd, h.get("receipt-id")) == ("RECEIPT", f"sub-{sid}"), (cmd, h)


def connected(node, user):
    c = Client(node)
    cmd, h, _ = c.connect(user.token, heart_beat="0,0")
    assert cmd == "CONNECTED", (cmd, h)
    return c.keep_alive()


def recv_messages(c, n, timeout=20):
    got = []
    deadline = time.monotonic() + timeout * cnlib.scale()
    while len(got) < n:
        cmd, h, body = c.recv_frame(max(0.01, deadline - time.monotonic()))
        assert cmd == "MESSAGE", (cmd, h, body)
        got.append((h, json.loads(body)))
    return got


def assert_none(c, wait=1.0):
    """Nothing arrives within `wait` seconds (used after the positive case proved the
    path is live, so the silence is meaningful)."""
    with pytest.raises(TimeoutError):
        cmd, h, body = c.recv_frame(wait)
        raise AssertionError(f"unexpected frame {cmd} {h} {body}")


@pytest.fixture(scope="module")
def room_setup(nodes):
    n1, _ = nodes
    alice = User(n1.url, "alice")
    bob = User(n1.url, "bob")
    room = alice.group_room(n1.url)
    import requests
    r = requests.post(f"{n1.url}/api/rooms/{room}/join",
                      headers={"Authorization": f"Bearer {bob.token}"})
    assert r.status_code in (200, 201), r.text
    return alice, bob, room


def test_two_nodes_receive_every_message_in_order_and_other_rooms_nothing(nodes, room_setup):
    n1, n2 = nodes
    alice, bob, room = room_setup
    carol = User(n1.url, "carol")
    other = carol.group_room(n1.url)
    a = connected(n1, alice)
    b = connected(n2, bob)
    c = connected(n2, carol)
    try:
        subscribe(a, room)
        subscribe(b, room)
        subscribe(c, other)
        cnlib.wait_until(lambda: numsub(room) >= 2, 10 * cnlib.scale(),
                         what="both nodes subscribed to the room channel")
        contents = [f"hello {i} \"quoted\"\n" for i in range(20)]
        keys = inject(room, alice, contents)
        for cl in (a, b):
            got = recv_messages(cl, len(keys))
            positions = [m["position"] for _, m in got]
            assert positions == sorted(set(positions)), positions
            assert [m["messageKey"] for _, m in got] == keys
            assert [m["content"] for _, m in got] == contents
            for h, m in got:
                assert h["destination"] == f"/topic/room.{room}"
                assert h["subscription"] == "r"
                assert h["message-id"] == m["messageKey"]
                assert h["content-type"] == "application/json"
                assert m["roomId"] == room and m["senderId"] == alice.id
                assert m["type"] == "TEXT" and "id" not in m
        assert_none(c)
        # Unsubscribed: nothing more arrives (a's other subscription proves liveness).
        b.send(frame("UNSUBSCRIBE", [("id", "r"), ("receipt", "u")]))
        cmd, h, _ = b.recv_frame(5)
        assert (cmd, h.get("receipt-id")) == ("RECEIPT", "u")
        more = inject(room, alice, ["after unsubscribe"])
        got = recv_messages(a, 1)
        assert got[0][1]["messageKey"] == more[0]
        assert_none(b)
    finally:
        for cl in (a, b, c):
            cl.close()


def test_a_burst_arrives_as_one_websocket_message_per_frame(nodes, room_setup):
    """The node writes a burst for one connection several frames per send; each MESSAGE
    must still be a WebSocket message of its own (what STOMP-over-WebSocket clients
    parse), whole, in order."""
    import websocket
    n1, _ = nodes
    alice, _, room = room_setup
    a = connected(n1, alice)
    try:
        subscribe(a, room)
        repairs0 = metric(n1.url, "chat_room_gap_repairs_total")
        contents = [f"burst {i} " + "x" * (i % 7) * 300 for i in range(300)]
        keys = inject(room, alice, contents)
        got = []
        deadline = time.monotonic() + 30 * cnlib.scale()
        while len(got) < len(keys):
            a.ws.settimeout(max(0.01, deadline - time.monotonic()))
            op, data = a.ws.recv_data(control_frame=False)
            assert op == websocket.ABNF.OPCODE_TEXT, op
            if data.strip(b"\r\n") == b"":
                continue  # a heart-beat
            assert data.startswith(b"MESSAGE\n") and data.endswith(b"\0"), data[:80]
            head, _, body = data.partition(b"\n\n")
            assert body.count(b"\0") == 1, "two STOMP frames in one WebSocket message"
            got.append(json.loads(body[:-1]))
        assert [m["messageKey"] for m in got] == keys
        assert [m["content"] for m in got] == contents
        # The broadcast pipeline publishes such a burst many records per Redis call; each
        # envelope must still name the one before it, or the room would have repaired.
        assert metric(n1.url, "chat_room_gap_repairs_total") == repairs0
    finally:
        a.close()


def test_subscriber_reconnects_lose_nothing_and_duplicate_nothing(nodes, room_setup):
    n1, n2 = nodes
    alice, bob, room = room_setup
    a = connected(n1, alice)
    b = connected(n2, bob)
    try:
        subscribe(a, room)
        subscribe(b, room)
        cnlib.wait_until(lambda: numsub(room) >= 2, 10 * cnlib.scale(),
                         what="both nodes subscribed")
        repairs0 = [metric(n.url, "chat_room_gap_repairs_total") for n in nodes]
        keys = inject(room, alice, ["first"])
        for cl in (a, b):
            recv_messages(cl, 1)
        for round_ in range(4):
            # Kill the subscriber connections, then publish at once: messages published
            # before the nodes resubscribe are lost to Pub/Sub and must come back from
            # the window; those after arrive live. Either way: once, in order.
            redis_cli("CLIENT", "KILL", "TYPE", "pubsub")
            keys += inject(room, alice, [f"round {round_} #{i}" for i in range(5)])
        want = keys[1:]
        for cl in (a, b):
            got = recv_messages(cl, len(want), timeout=30)
            assert [m["messageKey"] for _, m in got] == want
            positions = [m["position"] for _, m in got]
            assert positions == sorted(set(positions))
            assert_none(cl, 0.5)  # no duplicate trails behind
        for n, r0 in zip(nodes, repairs0):
            cnlib.wait_until(lambda: metric(n.url, "chat_room_gap_repairs_total") > r0,
                             5 * cnlib.scale(), what="gap repair counted")
    finally:
        a.close()
        b.close()


def test_a_retried_message_key_is_delivered_once(nodes, room_setup):
    """A client that got no RECEIPT (its node died) sends again with the same
    messageKey, so Kafka may hold the message twice. Subscribers get it once, at the
    first position (the one PostgreSQL keeps); redelivery.py is the end-to-end case."""
    n1, n2 = nodes
    alice, bob, room = room_setup
    a = connected(n1, alice)
    b = connected(n2, bob)
    try:
        subscribe(a, room)
        subscribe(b, room)
        cnlib.wait_until(lambda: numsub(room) >= 2, 10 * cnlib.scale(),
                         what="both nodes subscribed")
        retried = sum(metric(n.url, "chat_broadcast_retried_keys_total") for n in nodes)
        k1, k2, k3 = (str(uuid.uuid4()) for _ in range(3))
        inject(room, alice, ["one", "two", "one again", "three", "two again"],
               message_keys=[k1, k2, k1, k3, k2])
        for cl in (a, b):
            got = recv_messages(cl, 3)
            assert [(m["messageKey"], m["content"]) for _, m in got] == \
                [(k1, "one"), (k2, "two"), (k3, "three")]
            assert_none(cl)  # neither retry trails behind
        cnlib.wait_until(
            lambda: sum(metric(n.url, "chat_broadcast_retried_keys_total") for n in nodes)
            >= retried + 2, 5 * cnlib.scale(), what="retried keys counted")
    finally:
        a.close()
        b.close()


def test_slow_subscriber_does_not_delay_the_other(room_setup):
    alice, bob, room = room_setup
    node = cnlib.Node(overrides={"CHAT_STOMP_MAX_OUTBOUND_BYTES": "65536"})
    try:
        node.wait_healthy()
        # The slow one never reads: a tiny receive buffer makes its socket fill fast.
        import socket
        slow = Client(node, sockopt=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)])
        cmd, _, _ = slow.connect(bob.token)
        assert cmd == "CONNECTED"
        subscribe(slow, room)
        fast = connected(node, alice)
        subscribe(fast, room, "f")
        cnlib.wait_until(lambda: metric(node.url, "chat_rooms_open") >= 1, 10 * cnlib.scale(),
                         what="room actor")
        cnlib.wait_until(lambda: numsub(room) >= 1, 10 * cnlib.scale(), what="subscribed")
        # The kernel's socket buffers absorb the first megabytes for the slow reader, so
        # keep the room busy (in rounds of ~240 KiB, each delivered in full to the fast
        # subscriber) until the node gives up on the slow one; bounded at 40 rounds.
        big = "x" * 4000
        for _ in range(40):
            keys = inject(room, alice, [big] * 60)
            got = recv_messages(fast, len(keys), timeout=30)
            assert [m["messageKey"] for _, m in got] == keys
            if metric(node.url, "chat_ws_slow_consumer_closes_total") >= 1:
                break
        cnlib.wait_until(lambda: metric(node.url, "chat_ws_slow_consumer_closes_total") >= 1,
                         10 * cnlib.scale(), what="slow consumer closed")
        fast.close()
        slow.close()
        rc, _ = node.stop()
        assert rc == 0, node.output()[-4000:]
    finally:
        node.close()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider", "-x"]))


def fresh_room(n1):
    """A room no node has a subscriber of yet (its room actor and Redis channel are new)."""
    dave = User(n1.url, "dave")
    return dave, dave.group_room(n1.url)


def test_subscribe_receipt_waits_until_the_room_channel_is_live(nodes):
    """A SUBSCRIBE's RECEIPT means the subscription gets, live, every message sent
    after it: the node answers only once Redis confirmed the room's channel. Redis is
    held with CLIENT PAUSE (every client, the node's subscriber connection too), so
    the RECEIPT must come after the pause, not before; then it is live at once."""
    n1, n2 = nodes
    dave, room = fresh_room(n1)
    d = connected(n2, dave)
    try:
        timeouts = metric(n2.url, "chat_subscribe_join_timeouts_total")
        pause_ms = 1500
        redis_cli("CLIENT", "PAUSE", str(pause_ms), "ALL")
        paused_until = time.monotonic() + pause_ms / 1000
        d.send(frame("SUBSCRIBE", [("id", "r"), ("destination", f"/topic/room.{room}"),
                                   ("receipt", "sub")]))
        cmd, h, _ = d.recv_frame(10 * cnlib.scale())
        assert (cmd, h.get("receipt-id")) == ("RECEIPT", "sub"), (cmd, h)
        assert time.monotonic() >= paused_until - 0.05, "RECEIPT came while Redis was paused"
        assert numsub(room) == 1
        keys = inject(room, dave, ["right after the receipt"])
        assert [m["messageKey"] for _, m in recv_messages(d, 1)] == keys
        assert metric(n2.url, "chat_subscribe_join_timeouts_total") == timeouts
    finally:
        d.close()


def test_subscribe_receipt_is_bounded_when_redis_does_not_answer(nodes):
    """Redis unresponsive for longer than the node waits (3 s): the RECEIPT still comes
    (the membership was checked; sends still persist), counted as a join timeout, and
    live delivery starts once Redis answers again."""
    n1, n2 = nodes
    dave, room = fresh_room(n1)
    d = connected(n2, dave)
    try:
        timeouts = metric(n2.url, "chat_subscribe_join_timeouts_total")
        pause_ms = 6000
        redis_cli("CLIENT", "PAUSE", str(pause_ms), "ALL")
        paused_until = time.monotonic() + pause_ms / 1000
        d.send(frame("SUBSCRIBE", [("id", "r"), ("destination", f"/topic/room.{room}"),
                                   ("receipt", "sub")]))
        cmd, h, _ = d.recv_frame(pause_ms / 1000)
        assert (cmd, h.get("receipt-id")) == ("RECEIPT", "sub"), (cmd, h)
        assert time.monotonic() < paused_until, "the RECEIPT waited for Redis past the bound"
        assert metric(n2.url, "chat_subscribe_join_timeouts_total") == timeouts + 1
        cnlib.wait_until(lambda: numsub(room) == 1, 20 * cnlib.scale(),
                         what="the room channel subscribed once Redis answers")
        keys = inject(room, dave, ["after redis answered"])
        assert [m["messageKey"] for _, m in recv_messages(d, 1)] == keys
    finally:
        d.close()
