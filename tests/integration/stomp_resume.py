"""Resume on SUBSCRIBE (issue 5): `x-resume-after: <position>` delivers exactly the room's
messages after that position, in order, then live ones, with no gap and no duplicate:
from the room's Redis window when it still covers the range, else from PostgreSQL. Also
after reconnecting to the other node. A malformed header is a protocol error.

Events are injected straight into Kafka (stomp_fanout.py's helpers), so these tests do
not depend on the SEND path.
"""
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
from stomp_fanout import (assert_none, connected, inject, numsub, recv_messages,  # noqa: E402
                          redis_cli)
from stomp_session import Closed, User, frame  # noqa: E402


@pytest.fixture(scope="module")
def nodes():
    return cnlib.need("CN_TEST_NODE1_URL"), cnlib.need("CN_TEST_NODE2_URL")


class At:
    def __init__(self, url):
        self.url = url


@pytest.fixture(scope="module")
def room_setup(nodes):
    import requests
    n1, _ = nodes
    alice = User(n1, "alice")
    bob = User(n1, "bob")
    room = alice.group_room(n1)
    r = requests.post(f"{n1}/api/rooms/{room}/join",
                      headers={"Authorization": f"Bearer {bob.token}"})
    assert r.status_code in (200, 201), r.text
    return alice, bob, room


def subscribe(c, room, sid="r", resume=None):
    hdrs = [("id", sid), ("destination", f"/topic/room.{room}"), ("receipt", f"sub-{sid}")]
    if resume is not None:
        hdrs.append(("x-resume-after", str(resume)))
    c.send(frame("SUBSCRIBE", hdrs))
    cmd, h, _ = c.recv_frame(5)
    assert (cmd, h.get("receipt-id")) == ("RECEIPT", f"sub-{sid}"), (cmd, h)


def window_keys(room):
    out = redis_cli("ZRANGE", f"room:{room}:window", "0", "-1")
    return {line.split(" ")[2] for line in out.split("\n") if line.count(" ") >= 2}


def wait_published(room, keys):
    cnlib.wait_until(lambda: set(keys) <= window_keys(room), 60 * cnlib.scale(),
                     what="broadcast pipeline published the events")


def psql(sql):
    r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d",
                        cnlib.need("CN_TEST_PG_URL"), "-c", sql],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return [line.split("|") for line in r.stdout.splitlines() if line]


def wait_stored(keys):
    quoted = ",".join(f"'{k}'" for k in keys)
    cnlib.wait_until(
        lambda: int(psql(f"SELECT count(*) FROM messages WHERE message_key IN ({quoted})")[0][0])
        == len(keys), 30 * cnlib.scale(), what="persistence pipeline stored the events")


def test_resume_on_the_other_node_from_the_window(nodes, room_setup):
    n1, n2 = nodes
    alice, bob, room = room_setup
    a = connected(At(n1), alice)
    b = connected(At(n2), bob)  # a plain subscriber on the node resumed to: unaffected
    a2 = None
    try:
        subscribe(a, room)
        subscribe(b, room)
        cnlib.wait_until(lambda: numsub(room) >= 2, 10 * cnlib.scale(), what="subscribed")
        first = inject(room, alice, [f"seen {i}" for i in range(3)])
        got = recv_messages(a, 3)
        assert [m["messageKey"] for _, m in got] == first
        last = got[-1][1]["position"]
        a.close()
        missed = inject(room, alice, [f"missed {i}" for i in range(5)])
        wait_published(room, missed)
        a2 = connected(At(n2), alice)
        subscribe(a2, room, resume=last)
        got = recv_messages(a2, len(missed))
        assert [m["messageKey"] for _, m in got] == missed
        positions = [m["position"] for _, m in got]
        assert positions == sorted(set(positions)) and positions[0] > last
        live = inject(room, alice, ["live"])
        got = recv_messages(a2, 1)
        assert got[0][1]["messageKey"] == live[0] and got[0][1]["position"] > positions[-1]
        assert_none(a2, 0.5)  # nothing twice
        # The plain subscriber saw every message once, in order, nothing replayed.
        got = recv_messages(b, len(first + missed + live))
        assert [m["messageKey"] for _, m in got] == first + missed + live
        assert_none(b, 0.5)
        # Resuming from the newest position gives nothing but live messages.
        a2.send(frame("UNSUBSCRIBE", [("id", "r")]))
        subscribe(a2, room, sid="r2", resume=got[-1][1]["position"])
        assert_none(a2, 0.5)
        live2 = inject(room, alice, ["live 2"])
        got = recv_messages(a2, 1)
        assert got[0][0]["subscription"] == "r2" and got[0][1]["messageKey"] == live2[0]
        assert_none(a2, 0.5)
    finally:
        for c in (a, b, a2):
            if c:
                c.close()


def test_resume_older_than_the_window_comes_from_postgresql(nodes, room_setup):
    n1, _ = nodes
    alice, bob, room = room_setup
    node = cnlib.Node(overrides={"CHAT_FANOUT_WINDOW_SIZE": "4"})
    a = a2 = None
    try:
        node.wait_healthy()
        # The node joins the stack's consumer groups: until that rebalance settles a
        # room's messages wait, so nothing is sent before it.
        cnlib.wait_groups_settled([node.url], 60 * cnlib.scale())
        a = connected(At(n1), alice)
        subscribe(a, room)
        cnlib.wait_until(lambda: numsub(room) >= 1, 10 * cnlib.scale(), what="subscribed")
        first = inject(room, alice, ["before the hole"])
        got = recv_messages(a, 1)
        assert got[0][1]["messageKey"] == first[0]
        last = got[0][1]["position"]
        a.close()
        missed = inject(room, alice, [f"old {i}" for i in range(12)])
        wait_published(room, missed)
        wait_stored(missed)
        # The stack's own nodes publish too (one chat-broadcast group), with their
        # larger window: cap the window as a 4-message node would, so the start of
        # the range is only in PostgreSQL whichever node published.
        redis_cli("ZREMRANGEBYRANK", f"room:{room}:window", "0", "-5")
        assert not set(missed[:8]) & window_keys(room)
        a2 = connected(node, alice)
        subscribe(a2, room, resume=last)
        got = recv_messages(a2, len(missed))
        assert [m["messageKey"] for _, m in got] == missed
        positions = [m["position"] for _, m in got]
        assert positions == sorted(set(positions)) and positions[0] > last
        # Rows from PostgreSQL carry their stored id.
        assert all("id" in m for _, m in got[:8]), got[:8]
        assert [m["content"] for _, m in got] == [f"old {i}" for i in range(12)]
        live = inject(room, alice, ["live after postgres"])
        got = recv_messages(a2, 1)
        assert got[0][1]["messageKey"] == live[0]
        assert_none(a2, 0.5)
        a2.close()
        a2 = None
        rc, _ = node.stop()
        assert rc == 0, node.output()[-4000:]
    finally:
        for c in (a, a2):
            if c:
                c.close()
        node.close()


def test_resume_while_the_room_is_busy_is_ordered_and_once(nodes, room_setup):
    """Live messages arriving during the catch-up are held for the resuming
    subscription and given after it, without duplicates."""
    import threading
    n1, n2 = nodes
    alice, bob, room = room_setup
    a = connected(At(n1), alice)
    b = connected(At(n2), bob)  # keeps the room's actor on n2 live and current
    a2 = None
    try:
        subscribe(a, room)
        subscribe(b, room)
        cnlib.wait_until(lambda: numsub(room) >= 2, 10 * cnlib.scale(), what="subscribed")
        first = inject(room, alice, ["seen"])
        last = recv_messages(a, 1)[0][1]["position"]
        a.close()
        missed = inject(room, alice, [f"missed {i}" for i in range(10)])
        wait_published(room, missed)
        busy = []
        t = threading.Thread(target=lambda: [busy.extend(inject(room, alice, [
            f"busy {r} {i}" for i in range(10)])) for r in range(3)])
        t.start()
        a2 = connected(At(n2), alice)
        subscribe(a2, room, resume=last)
        t.join(60)
        want = missed + busy
        got = recv_messages(a2, len(want), timeout=30)
        assert [m["messageKey"] for _, m in got] == want
        positions = [m["position"] for _, m in got]
        assert positions == sorted(set(positions)) and positions[0] > last
        assert_none(a2, 0.5)
        got = recv_messages(b, len(first + want))
        assert [m["messageKey"] for _, m in got] == first + want
    finally:
        for c in (a, b, a2):
            if c:
                c.close()


@pytest.mark.parametrize("bad", ["-1", "abc", "", "12x", "1234567890123456789"])
def test_malformed_resume_header_is_refused(nodes, room_setup, bad):
    n1, _ = nodes
    alice, _, room = room_setup
    c = connected(At(n1), alice)
    try:
        c.send(frame("SUBSCRIBE", [("id", "r"), ("destination", f"/topic/room.{room}"),
                                   ("x-resume-after", bad), ("receipt", "s1")]))
        cmd, h, body = c.recv_frame(5)
        assert cmd == "ERROR", (cmd, h, body)
        assert h.get("receipt-id") == "s1"
        assert "x-resume-after" in h.get("message", "") + body.decode(errors="replace")
        with pytest.raises(Closed):  # then the node closes the connection
            c.recv_frame(5)
    finally:
        c.close()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider", "-x"]))
