"""The per-user live events on /user/queue/events (docs/PROTOCOL.md, "Per-user events
(/user/queue/events)"): ROOM_ADDED, ROOM_REMOVED and MEMBERS_CHANGED reach the user
concerned on every node where they are connected, after their room list (GET /api/rooms)
already shows the change; a user who is not concerned gets nothing.

Runs against the stack's two nodes: A acts through node 1, B listens on node 2 and on a
second connection on node 1.
"""
import json
import os
import sys

import pytest
import requests

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
from _chat_helpers import NODE1, NODE2, Account  # noqa: E402
from stomp_session import Client, frame  # noqa: E402

EVENTS = "/user/queue/events"


class _At:
    def __init__(self, url):
        self.url = url


class Listener:
    """One STOMP connection of `account` on `base`, subscribed to /user/queue/events (and
    nothing else: no room membership is needed)."""

    def __init__(self, account, base, sub_id="ev"):
        self.account = account
        self.sub_id = sub_id
        self.c = Client(_At(base))
        cmd, h, _ = self.c.connect(account.token, heart_beat="0,0")
        assert cmd == "CONNECTED", (cmd, h)
        self.c.keep_alive()
        self.c.send(frame("SUBSCRIBE", [("id", sub_id), ("destination", EVENTS),
                                        ("receipt", "sub-ev")]))
        cmd, h, body = self.c.recv_frame(5)
        assert (cmd, h.get("receipt-id")) == ("RECEIPT", "sub-ev"), (cmd, h, body)

    def next_event(self, timeout=10):
        """The next frame, which must be a MESSAGE on /user/queue/events: its body."""
        cmd, h, body = self.c.recv_frame(timeout)
        assert cmd == "MESSAGE", (cmd, h, body)
        assert h.get("destination") == EVENTS, h
        assert h.get("subscription") == self.sub_id, h
        assert h.get("message-id"), h
        assert h.get("content-type") == "application/json", h
        return json.loads(body)

    def close(self):
        self.c.close()


def room_ids(account, base):
    r = requests.get(f"{base}/api/rooms", headers=account.h)
    assert r.status_code == 200, r.text
    return {x["id"] for x in r.json()}


def direct(a, b):
    r = requests.post(f"{NODE1}/api/rooms/direct", headers=a.h, json={"targetUserId": b.id})
    assert r.status_code in (200, 201), r.text
    return r.status_code, r.json()["id"]


@pytest.fixture()
def people():
    a, b, c = Account("ev-a"), Account("ev-b"), Account("ev-c")
    listeners = {
        "b2": Listener(b, NODE2),
        "b1": Listener(b, NODE1, sub_id="ev-other-tab"),
        "a1": Listener(a, NODE1),
        "c2": Listener(c, NODE2),
    }
    yield a, b, c, listeners
    for x in listeners.values():
        x.close()


def expect(listeners, names, want):
    """Each listener in `names` gets `want` (a dict the body must contain) next."""
    for name in names:
        got = listeners[name].next_event()
        for k, v in want.items():
            assert got.get(k) == v, (name, got, want)


def test_room_added_on_both_nodes_and_the_list_already_shows_it(people):
    a, b, c, ls = people
    room = a.group_room([b], name="ev-group", visibility="private")
    expect(ls, ["b2", "b1"], {"type": "ROOM_ADDED", "roomId": room})
    assert room in room_ids(b, NODE2) and room in room_ids(b, NODE1)
    expect(ls, ["a1"], {"type": "ROOM_ADDED", "roomId": room})  # the creator's other tabs

    status, dm = direct(a, b)
    assert status == 201
    expect(ls, ["b2", "b1", "a1"], {"type": "ROOM_ADDED", "roomId": dm})
    assert dm in room_ids(b, NODE2)
    # Opening it again creates nothing: no event. The fence: C is added to the group.
    assert direct(a, b) == (200, dm)
    r = requests.post(f"{NODE1}/api/rooms/{room}/members", headers=a.h, json={"userIds": [c.id]})
    assert r.status_code == 200, r.text
    expect(ls, ["c2"], {"type": "ROOM_ADDED", "roomId": room, "memberCount": 3})
    assert room in room_ids(c, NODE2)
    # A and B, already in the room, hear of the new member; nothing about the direct room.
    expect(ls, ["a1", "b2", "b1"], {"type": "MEMBERS_CHANGED", "roomId": room, "memberCount": 3})


def test_added_then_removed_closed_and_left(people):
    a, b, c, ls = people
    room = a.group_room([c], name="ev-add")
    for name in ("a1", "c2"):
        expect(ls, [name], {"type": "ROOM_ADDED", "roomId": room})
    r = requests.post(f"{NODE1}/api/rooms/{room}/members", headers=a.h, json={"userIds": [b.id]})
    assert r.status_code == 200, r.text
    expect(ls, ["b2", "b1"], {"type": "ROOM_ADDED", "roomId": room, "memberCount": 3})
    assert room in room_ids(b, NODE2)
    expect(ls, ["a1", "c2"], {"type": "MEMBERS_CHANGED", "roomId": room})

    # Removed by the creator.
    r = requests.delete(f"{NODE1}/api/rooms/{room}/members/{b.id}", headers=a.h)
    assert r.status_code == 200, r.text
    expect(ls, ["b2", "b1"], {"type": "ROOM_REMOVED", "roomId": room, "reason": "REMOVED"})
    assert room not in room_ids(b, NODE2)
    expect(ls, ["a1", "c2"], {"type": "MEMBERS_CHANGED", "roomId": room, "memberCount": 2})

    # B leaves another room: both of B's connections hear it, A hears the member left.
    other = a.group_room([b], name="ev-leave")
    expect(ls, ["a1", "b2", "b1"], {"type": "ROOM_ADDED", "roomId": other})
    r = requests.post(f"{NODE2}/api/rooms/{other}/leave", headers=b.h)
    assert r.status_code == 200, r.text
    expect(ls, ["b2", "b1"], {"type": "ROOM_REMOVED", "roomId": other, "reason": "LEFT"})
    assert other not in room_ids(b, NODE1)
    expect(ls, ["a1"], {"type": "MEMBERS_CHANGED", "roomId": other, "memberCount": 1})

    # Closed: every member hears ROOM_REMOVED CLOSED, nobody MEMBERS_CHANGED.
    r = requests.delete(f"{NODE1}/api/rooms/{room}", headers=a.h)
    assert r.status_code == 200, r.text
    expect(ls, ["a1", "c2"], {"type": "ROOM_REMOVED", "roomId": room, "reason": "CLOSED"})
    assert room not in room_ids(c, NODE2)
    # B was no longer a member: the next event B gets is the fence, not the close.
    fence = c.group_room([b], name="ev-fence")
    expect(ls, ["b2", "b1"], {"type": "ROOM_ADDED", "roomId": fence})


def test_members_changed_on_public_join_and_invite_join(people):
    a, b, c, ls = people
    room = a.group_room([], name="ev-public", visibility="public")
    expect(ls, ["a1"], {"type": "ROOM_ADDED", "roomId": room})
    r = requests.post(f"{NODE2}/api/rooms/{room}/join", headers=c.h)
    assert r.status_code == 200, r.text
    expect(ls, ["c2"], {"type": "ROOM_ADDED", "roomId": room})
    expect(ls, ["a1"], {"type": "MEMBERS_CHANGED", "roomId": room, "memberCount": 2})
    assert room in room_ids(c, NODE2)
    # Joining again changes nothing: no event (the fence below comes first).

    r = requests.post(f"{NODE2}/api/rooms/{room}/join", headers=c.h)
    assert r.status_code == 200, r.text
    private = a.group_room([], name="ev-private", visibility="private")
    expect(ls, ["a1"], {"type": "ROOM_ADDED", "roomId": private})
    r = requests.post(f"{NODE1}/api/rooms/{private}/invites", headers=a.h, json={})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    r = requests.post(f"{NODE2}/api/rooms/join", headers=c.h, json={"inviteToken": token})
    assert r.status_code == 200, r.text
    expect(ls, ["c2"], {"type": "ROOM_ADDED", "roomId": private})
    assert private in room_ids(c, NODE2)
    expect(ls, ["a1"], {"type": "MEMBERS_CHANGED", "roomId": private, "memberCount": 2})


def test_a_user_not_concerned_gets_nothing(people):
    a, b, c, ls = people
    # Rooms and changes between A and C only: B (both connections) is not concerned.
    room = a.group_room([c], name="ev-others")
    status, dm = direct(a, c)
    r = requests.post(f"{NODE1}/api/rooms/{room}/leave", headers=c.h)
    assert r.status_code == 200, r.text
    # The fence: the first thing B hears is being added to a room now.
    fence = a.group_room([b], name="ev-fence")
    expect(ls, ["b2", "b1"], {"type": "ROOM_ADDED", "roomId": fence})


def test_subscribe_without_rooms_and_a_second_subscription_gets_a_copy():
    d = Account("ev-d")
    e = Account("ev-e")
    x = Listener(d, NODE2)
    try:
        # A second subscription on the same connection is served too.
        x.c.send(frame("SUBSCRIBE", [("id", "ev2"), ("destination", EVENTS),
                                     ("receipt", "sub-ev2")]))
        cmd, h, _ = x.c.recv_frame(5)
        assert (cmd, h.get("receipt-id")) == ("RECEIPT", "sub-ev2"), (cmd, h)
        status, dm = direct(e, d)
        seen = {}
        for _ in range(2):
            cmd, h, body = x.c.recv_frame(10)
            assert cmd == "MESSAGE" and h["destination"] == EVENTS, (cmd, h)
            seen[h["subscription"]] = json.loads(body)
        assert seen == {"ev": {"type": "ROOM_ADDED", "roomId": dm, "memberCount": 2},
                        "ev2": {"type": "ROOM_ADDED", "roomId": dm, "memberCount": 2}}
        # Unsubscribed: that subscription gets nothing more.
        x.c.send(frame("UNSUBSCRIBE", [("id", "ev2"), ("receipt", "unsub")]))
        cmd, h, _ = x.c.recv_frame(5)
        assert (cmd, h.get("receipt-id")) == ("RECEIPT", "unsub"), (cmd, h)
        room = e.group_room([d], name="ev-after")
        got = x.next_event()
        assert got == {"type": "ROOM_ADDED", "roomId": room}, got
    finally:
        x.close()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
