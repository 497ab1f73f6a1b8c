"""Leaving a room (issue 9): POST /api/rooms/{id}/leave ends the leaver's subscriptions
to the room on every node within a second (each gets the leave event, then nothing
more), the room's other subscribers see the event, and the leaver can no longer send,
type or subscribe there. Two nodes of this test (cnlib.Node).
"""
import json
import os
import sys
import time

import pytest
import requests

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
from stomp_session import Client, User, frame  # noqa: E402


@pytest.fixture(scope="module")
def nodes():
    ns = [cnlib.Node(overrides={"CHAT_STOMP_HEARTBEAT_MS": "2000"}) for _ in range(2)]
    try:
        for n in ns:
            n.wait_healthy()
        yield ns
        for n in ns:
            rc, _ = n.stop()
            assert rc == 0, n.output()[-4000:]
    finally:
        for n in ns:
            n.close()


def auth(user):
    return {"Authorization": f"Bearer {user.token}"}


def session(node, user):
    c = Client(node)
    cmd, h, _ = c.connect(user.token, heart_beat="0,0")
    assert cmd == "CONNECTED", (cmd, h)
    c.keep_alive()
    c.send(frame("SUBSCRIBE", [("id", "errs"), ("destination", "/user/queue/errors"),
                               ("receipt", "e")]))
    assert c.recv_frame()[1].get("receipt-id") == "e"
    return c


def subscribe(c, room, sid):
    c.send(frame("SUBSCRIBE", [("id", sid), ("destination", f"/topic/room.{room}"),
                               ("receipt", f"s-{sid}")]))
    return c.recv_frame()


def send(c, room, content, receipt):
    c.send(frame("SEND", [("destination", "/app/chat.send"), ("receipt", receipt)],
                 json.dumps({"roomId": room, "content": content})))


def next_frame(c, timeout=10):
    """The next frame that is not a typing or read event."""
    while True:
        f = c.recv_frame(timeout)
        if f[1].get("x-event") not in ("typing", "read"):
            return f


def wait_for(c, pred, timeout, what):
    """Reads frames until one satisfies pred; returns it and the chat MESSAGE contents
    passed on the way (the Kafka path may deliver them late, when the consumer groups
    are rebalancing after other tests' nodes)."""
    deadline = time.monotonic() + timeout * cnlib.scale()
    passed = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {what} (passed: {passed})")
        try:
            f = next_frame(c, left / cnlib.scale())
        except TimeoutError:
            continue
        if pred(f):
            return f, passed
        passed.append(json.loads(f[2]).get("content") if f[0] == "MESSAGE" else f)


def is_chat(content):
    return lambda f: f[0] == "MESSAGE" and not f[1].get("x-event") and \
        json.loads(f[2]).get("content") == content


def test_leaving_ends_the_leavers_subscriptions_on_every_node(nodes):
    a, b = nodes
    alice, bob, carol = User(a.url, "alice"), User(a.url, "bob"), User(a.url, "carol")
    # Public: once out, bob gets the answers of a non-member (NOT_MEMBER, 403); a private
    # room would answer him as if it did not exist (tests/integration/room_access.py).
    r = requests.post(f"{a.url}/api/rooms/group", headers=auth(alice),
                      json={"name": "leave", "memberIds": [bob.id, carol.id],
                            "visibility": "public"})
    assert r.status_code in (200, 201), r.text
    room = r.json()["id"]
    bob_a, bob_b, carol_b, alice_a = session(a, bob), session(b, bob), session(b, carol), \
        session(a, alice)
    for c in (bob_a, bob_b, carol_b, alice_a):
        cmd, h, _ = subscribe(c, room, "room")
        assert (cmd, h.get("receipt-id")) == ("RECEIPT", "s-room"), (cmd, h)
    # bob can send (and his membership is now cached by his session).
    send(bob_a, room, "before leaving", "m0")
    wait_for(bob_a, lambda f: f[1].get("receipt-id") == "m0", 60, "RECEIPT of m0")

    t0 = time.monotonic()
    r = requests.post(f"{b.url}/api/rooms/{room}/leave", headers=auth(bob))
    assert r.status_code == 200, r.text
    assert r.json() == {"roomId": room, "left": True}
    want = {"type": "LEAVE", "roomId": room, "userId": bob.id}
    for c in (bob_a, bob_b, carol_b, alice_a):
        (cmd, h, body), _ = wait_for(c, lambda f: f[1].get("x-event") == "leave", 5,
                                     "leave event")
        assert json.loads(body) == want, body
        assert h["message-id"].startswith(f"leave-{room}-{bob.id}-")
    assert time.monotonic() - t0 <= 1.0 * cnlib.scale(), time.monotonic() - t0

    # The others still get the room's messages; bob's sessions, on either node, do not.
    send(alice_a, room, "after bob left", "m1")
    wait_for(carol_b, is_chat("after bob left"), 60, "the message after bob left")
    for c in (bob_a, bob_b):
        with pytest.raises(AssertionError, match="no the message"):
            wait_for(c, is_chat("after bob left"), 1, "the message after bob left")
    # bob can no longer send (the cached membership was dropped), type or subscribe there;
    # his UNSUBSCRIBE of the ended subscription is still answered.
    send(bob_a, room, "sneaky", "m2")
    (cmd, h, body), _ = wait_for(bob_a, lambda f: f[1].get("receipt-id") == "m2", 20,
                                 "the answer to m2")
    assert (cmd, json.loads(body)["error"]["code"]) == ("MESSAGE", "NOT_MEMBER"), (cmd, h, body)
    bob_a.send(frame("SEND", [("destination", "/app/chat.typing"), ("receipt", "t")],
                     json.dumps({"roomId": room})))
    (cmd, h, body), _ = wait_for(bob_a, lambda f: f[1].get("receipt-id") == "t", 10,
                                 "the answer to typing")
    assert json.loads(body)["error"]["code"] == "NOT_SUBSCRIBED", (cmd, h, body)
    bob_b.send(frame("UNSUBSCRIBE", [("id", "room"), ("receipt", "u")]))
    (cmd, h, _), _ = wait_for(bob_b, lambda f: f[1].get("receipt-id") == "u", 10, "RECEIPT u")
    assert cmd == "RECEIPT", (cmd, h)
    bob_b.send(frame("SUBSCRIBE", [("id", "again"), ("destination", f"/topic/room.{room}"),
                                   ("receipt", "s-again")]))
    (cmd, h, body), _ = wait_for(bob_b, lambda f: f[1].get("receipt-id") == "s-again", 10,
                                 "the answer to the new SUBSCRIBE")
    assert json.loads(body)["error"]["code"] == "NOT_MEMBER", (cmd, h, body)
    assert requests.get(f"{a.url}/api/rooms/{room}", headers=auth(bob)).status_code == 403
    rooms = requests.get(f"{a.url}/api/rooms", headers=auth(bob)).json()
    assert room not in [x["id"] for x in rooms]
    detail = requests.get(f"{a.url}/api/rooms/{room}", headers=auth(alice)).json()
    assert sorted(m["id"] for m in detail["members"]) == sorted([alice.id, carol.id])
    for c in (bob_a, bob_b, carol_b, alice_a):
        c.close()


def test_leave_refusals(nodes):
    a, _ = nodes
    alice, bob = User(a.url, "alice"), User(a.url, "bob")
    r = requests.post(f"{a.url}/api/rooms/group", headers=auth(alice),
                      json={"name": "x", "memberIds": [], "visibility": "public"})
    room = r.json()["id"]
    r = requests.post(f"{a.url}/api/rooms/{room}/leave", headers=auth(bob))
    assert (r.status_code, r.json()["error"]["code"]) == (403, "NOT_A_MEMBER")
    private = requests.post(f"{a.url}/api/rooms/group", headers=auth(alice),
                            json={"name": "y", "memberIds": []}).json()["id"]
    r = requests.post(f"{a.url}/api/rooms/{private}/leave", headers=auth(bob))
    assert (r.status_code, r.json()["error"]["code"]) == (404, "ROOM_NOT_FOUND")
    r = requests.post(f"{a.url}/api/rooms/987654321/leave", headers=auth(bob))
    assert (r.status_code, r.json()["error"]["code"]) == (404, "ROOM_NOT_FOUND")
    direct = requests.post(f"{a.url}/api/rooms/direct", headers=auth(alice),
                           json={"targetUserId": bob.id}).json()["id"]
    r = requests.post(f"{a.url}/api/rooms/{direct}/leave", headers=auth(bob))
    assert (r.status_code, r.json()["error"]["code"]) == (409, "NOT_LEAVABLE")
    assert requests.post(f"{a.url}/api/rooms/{room}/leave").status_code == 401
    assert requests.get(f"{a.url}/api/rooms/{room}/leave", headers=auth(alice)).status_code == 405


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
