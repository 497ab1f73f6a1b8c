"""Presence (issue 5): a user is ONLINE while any of their STOMP sessions on any node is
open, OFFLINE with lastSeenAt once the last one closed, and the users of a node that
dies without a word (SIGKILL) go OFFLINE within presence.ttl_ms + the sweep interval.

Status is read the way a client reads it: the members of GET /api/rooms/{id}, asked by
another member. Runs against the stack's two nodes; the crash test starts a node of its
own (short presence.* intervals through CHAT_* overrides) and kills it.
"""
import configparser
import os
import signal
import sys
import time

import pytest
import requests

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
from stomp_session import Client, User  # noqa: E402

NODE1 = cnlib.need("CN_TEST_NODE1_URL")
NODE2 = cnlib.need("CN_TEST_NODE2_URL")


class At:
    def __init__(self, url):
        self.url = url


def stack_presence_ms():
    """(ttl_ms, sweep_ms) of the stack's nodes: the crash bound depends on the sweep of
    whichever node holds the sweep lock, which may be one of them."""
    cp = configparser.ConfigParser()
    cp.read(cnlib.need("CN_TEST_CONFIG"))
    sec = cp["presence"] if cp.has_section("presence") else {}
    return int(sec.get("ttl_ms", 30000)), int(sec.get("sweep_ms", 15000))


def session(base, user):
    c = Client(At(base))
    cmd, h, _ = c.connect(user.token, heart_beat="0,0")
    assert cmd == "CONNECTED", (cmd, h)
    c.keep_alive()
    return c


def member(observer, room, user_id, base=NODE1):
    r = requests.get(f"{base}/api/rooms/{room}",
                     headers={"Authorization": f"Bearer {observer.token}"})
    assert r.status_code == 200, r.text
    return next(m for m in r.json()["members"] if m["id"] == user_id)


def wait_status(observer, room, user_id, status, timeout, base=NODE1):
    return cnlib.wait_until(
        lambda: (lambda m: m if m["status"] == status else None)(
            member(observer, room, user_id, base)),
        timeout * cnlib.scale(), interval=0.1, what=f"user {user_id} {status}")


@pytest.fixture()
def pair():
    """bob watches alice through the members of a room they share."""
    alice, bob = User(NODE1, "alice"), User(NODE1, "bob")
    r = requests.post(f"{NODE1}/api/rooms/group", headers={"Authorization": f"Bearer {alice.token}"},
                      json={"name": "presence", "memberIds": [bob.id]})
    assert r.status_code == 201, r.text
    return alice, bob, r.json()["id"]


def test_online_while_any_session_is_open_offline_with_last_seen_after_the_last(pair):
    alice, bob, room = pair
    m = member(bob, room, alice.id)
    assert (m["status"], m["lastSeenAt"]) == ("OFFLINE", None)
    first = session(NODE1, alice)
    second = None
    try:
        wait_status(bob, room, alice.id, "ONLINE", 10)
        second = session(NODE2, alice)
        # The session on node 2 closes first: node 1 still holds alice.
        second.close()
        second = None
        # Node 2 handles that close asynchronously: alice must stay ONLINE throughout,
        # seen from both nodes, checked over and over for a few seconds.
        deadline = time.monotonic() + 3 * cnlib.scale()
        while time.monotonic() < deadline:
            assert member(bob, room, alice.id)["status"] == "ONLINE"
            assert member(bob, room, alice.id, NODE2)["status"] == "ONLINE"
        t_close = time.time()
        first.close()
        first = None
        m = wait_status(bob, room, alice.id, "OFFLINE", 10)
        assert m["lastSeenAt"] is not None
        # ISO-8601 UTC with milliseconds, at (or just after) the last close.
        seen = time.mktime(time.strptime(m["lastSeenAt"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        assert t_close - 2 <= seen <= time.time() + 2, (m["lastSeenAt"], t_close)
    finally:
        for c in (first, second):
            if c:
                c.close()


def test_two_sessions_on_one_node_and_reconnect(pair):
    alice, bob, room = pair
    a1, a2 = session(NODE1, alice), session(NODE1, alice)
    try:
        wait_status(bob, room, alice.id, "ONLINE", 10)
        a1.close()
        deadline = time.monotonic() + 2 * cnlib.scale()
        while time.monotonic() < deadline:
            assert member(bob, room, alice.id)["status"] == "ONLINE"
        a2.close()
        wait_status(bob, room, alice.id, "OFFLINE", 10)
        a1 = session(NODE2, alice)
        wait_status(bob, room, alice.id, "ONLINE", 10)
    finally:
        a1.close()
        a2.close()
    wait_status(bob, room, alice.id, "OFFLINE", 10)


def test_a_killed_nodes_users_go_offline_within_the_bound(pair):
    alice, bob, room = pair
    ttl_ms, refresh_ms, sweep_ms = 1500, 300, 500
    # Its pipelines off: a killed member of chat-persistence or chat-read-receipt would
    # stall those groups for the stack's nodes until its session times out.
    node = cnlib.Node({"CHAT_PRESENCE_TTL_MS": str(ttl_ms),
                       "CHAT_PRESENCE_REFRESH_MS": str(refresh_ms),
                       "CHAT_PRESENCE_SWEEP_MS": str(sweep_ms),
                       "CHAT_PERSIST_ENABLED": "false",
                       "CHAT_RECEIPTS_ENABLED": "false"})
    try:
        node.wait_healthy()
        c = session(node.url, alice)
        wait_status(bob, room, alice.id, "ONLINE", 10)
        # Well past the TTL: the refresh keeps alice ONLINE.
        deadline = time.monotonic() + 2 * ttl_ms / 1000
        while time.monotonic() < deadline:
            assert member(bob, room, alice.id)["status"] == "ONLINE"
        node.proc.send_signal(signal.SIGKILL)
        node.proc.wait(10)
        t_kill = time.monotonic()
        c.close()
        _, stack_sweep = stack_presence_ms()
        # Entries expire ttl_ms after the last refresh; some node sweeps within the
        # longest sweep interval of the cluster (the lock holder's); plus slack.
        bound = (ttl_ms + max(sweep_ms, stack_sweep)) / 1000 + 2
        m = wait_status(bob, room, alice.id, "OFFLINE", bound)
        assert m["lastSeenAt"] is not None
        assert time.monotonic() - t_kill <= bound * cnlib.scale()
    finally:
        node.close()


def test_a_stopped_nodes_users_go_offline_at_once(pair):
    """SIGTERM: the node closes its sessions and waits for their OFFLINE before it stops,
    so nobody waits for the TTL (30 s here) and a sweep."""
    alice, bob, room = pair
    node = cnlib.Node({"CHAT_PERSIST_ENABLED": "false", "CHAT_RECEIPTS_ENABLED": "false"})
    try:
        node.wait_healthy()
        c = session(node.url, alice)
        wait_status(bob, room, alice.id, "ONLINE", 10)
        rc, _ = node.stop(signal.SIGTERM)
        assert rc == 0, node.output()[-3000:]
        m = member(bob, room, alice.id)
        assert (m["status"], m["lastSeenAt"] is not None) == ("OFFLINE", True), m
        c.close()
    finally:
        node.close()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
