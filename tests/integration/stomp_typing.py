"""Typing (issue 9): SEND /app/chat.typing {roomId} goes through Redis only, at most one
event per user and room every 3 s (across the user's sessions and nodes), delivered to
the room's subscribers on every node with `x-event: typing` and `expiresInMs`.

Two nodes of this test (cnlib.Node) against the stack's PostgreSQL, Redis and Kafka.
"""
import json
import os
import sys
import threading
import time

import pytest
import requests

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
import stomp_send  # noqa: E402  (kafka_records, partition_of)
from stomp_session import Client, User, frame, metric  # noqa: E402

RUN_S = 7.0
RATE = 100  # typing SENDs per second from each typing session


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


@pytest.fixture(scope="module")
def room(nodes):
    a = nodes[0]
    alice, bob, carol = User(a.url, "alice"), User(a.url, "bob"), User(a.url, "carol")
    r = requests.post(f"{a.url}/api/rooms/group",
                      json={"name": "typing", "memberIds": [bob.id, carol.id]},
                      headers={"Authorization": f"Bearer {alice.token}"})
    assert r.status_code in (200, 201), r.text
    return alice, bob, carol, r.json()["id"]


def session(node, user, room_id=None, sid="r"):
    c = Client(node)
    cmd, h, _ = c.connect(user.token, heart_beat="0,0")
    assert cmd == "CONNECTED", (cmd, h)
    c.keep_alive()
    c.send(frame("SUBSCRIBE", [("id", "errs"), ("destination", "/user/queue/errors"),
                               ("receipt", "e")]))
    assert c.recv_frame()[1].get("receipt-id") == "e"
    if room_id:
        c.send(frame("SUBSCRIBE", [("id", sid), ("destination", f"/topic/room.{room_id}"),
                                   ("receipt", "s")]))
        cmd, h, _ = c.recv_frame()
        assert (cmd, h.get("receipt-id")) == ("RECEIPT", "s"), (cmd, h)
    return c


def typing(room_id, receipt=None):
    headers = [("destination", "/app/chat.typing"), ("content-type", "application/json")]
    if receipt:
        headers.append(("receipt", receipt))
    return frame("SEND", headers, json.dumps({"roomId": room_id}))


class Collector:
    """Reads every frame of a session on a thread; keeps typing events with their times."""

    def __init__(self, c):
        self.c, self.events, self.other, self.stop = c, [], [], False
        self.th = threading.Thread(target=self.run, daemon=True)
        self.th.start()

    def run(self):
        while not self.stop:
            try:
                cmd, h, body = self.c.recv_frame(0.2)
            except TimeoutError:
                continue
            except Exception:
                return
            if cmd == "MESSAGE" and h.get("x-event") == "typing":
                self.events.append((time.monotonic(), h, json.loads(body)))
            else:
                self.other.append((cmd, h, body))

    def close(self):
        self.stop = True
        self.th.join(5)
        self.c.close()


def test_typing_storm_gives_each_subscriber_one_event_per_3s_and_nothing_in_kafka(nodes, room):
    alice, bob, carol, room_id = room
    a, b = nodes
    sent_before = [metric(n, "chat_send_total", '{outcome="accepted"}') for n in nodes]
    listeners = [Collector(session(a, bob, room_id)), Collector(session(b, carol, room_id))]
    # The same user types from one session on each node: the 3 s window is per user and
    # room, not per session.
    typists = [session(a, alice, room_id), session(b, alice, room_id)]
    own = [Collector(t) for t in typists]  # drains their receipts and own typing events
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < RUN_S:
        for t in typists:
            t.send(typing(room_id))
        n += 1
        time.sleep(max(0.0, t0 + n / RATE - time.monotonic()))
    # The last event of the run may still be in flight: give it a moment.
    cnlib.wait_until(lambda: all(len(x.events) >= 2 for x in listeners), 5 * cnlib.scale(),
                     what="typing events at both subscribers")
    time.sleep(0.5 * cnlib.scale())
    for x in listeners:
        times = [t for t, _, _ in x.events]
        gaps = [b_ - a_ for a_, b_ in zip(times, times[1:])]
        assert 2 <= len(times) <= int(RUN_S / 3) + 1, (len(times), gaps)
        # 3 s between events by Redis' clock; delivery jitter may shave a little off.
        assert all(g >= 2.7 for g in gaps), gaps
        for _, h, body in x.events:
            assert h["destination"] == f"/topic/room.{room_id}"
            assert h["message-id"].startswith(f"typing-{room_id}-{alice.id}-"), h
            assert body == {"type": "TYPING", "roomId": room_id, "userId": alice.id,
                            "expiresInMs": 5000}, body
        assert x.other == [], x.other[:3]
    assert metric(a, "chat_typing_in_total") >= RATE * RUN_S * 0.5
    assert metric(a, "chat_typing_throttled_total") > 0
    # Nothing went to Kafka: no chat SEND accepted, no record of the room in its partition.
    assert [metric(n, "chat_send_total", '{outcome="accepted"}') for n in nodes] == sent_before
    part = stomp_send.partition_of(room_id)
    assert [r for r in stomp_send.kafka_records(part) if r[2].get("roomId") == room_id] == []
    # Control: a chat message of the same room does reach Kafka and the subscribers, so the
    # silence above is the typing path's, not a dead pipeline's.
    typists[0].send(frame("SEND", [("destination", "/app/chat.send"), ("receipt", "m1")],
                          json.dumps({"roomId": room_id, "content": "done typing"})))
    cnlib.wait_until(lambda: any(h.get("receipt-id") == "m1" for _, h, _ in own[0].other),
                     20 * cnlib.scale(), what="RECEIPT of the chat message")
    cnlib.wait_until(lambda: any(c == "MESSAGE" and b"done typing" in body
                                 for c, _, body in listeners[1].other),
                     20 * cnlib.scale(), what="the chat message on the other node")
    recs = [r for r in stomp_send.kafka_records(part) if r[2].get("roomId") == room_id]
    assert len(recs) == 1 and recs[0][2]["content"] == "done typing", recs
    for x in listeners + own:
        x.close()


def test_typing_needs_a_subscription_and_a_valid_body(nodes, room):
    alice, _, _, room_id = room
    c = session(nodes[0], alice)  # not subscribed to the room
    c.send(typing(room_id, receipt="t1"))
    cmd, h, body = c.recv_frame()
    assert (cmd, h.get("receipt-id")) == ("MESSAGE", "t1"), (cmd, h)
    assert json.loads(body)["error"]["code"] == "NOT_SUBSCRIBED"
    c.send(frame("SEND", [("destination", "/app/chat.typing"), ("receipt", "t2")], "{}"))
    cmd, h, body = c.recv_frame()
    err = json.loads(body)["error"]
    assert (h.get("receipt-id"), err["code"]) == ("t2", "INVALID_BODY"), err
    assert "roomId" in err["message"]
    c.close()
    # Subscribed: receipted (taken), whether or not this one is throttled.
    c = session(nodes[0], alice, room_id)
    c.send(typing(room_id, receipt="t3"))
    got = []
    cnlib.wait_until(lambda: got.append(c.recv_frame()) or
                     any(f[1].get("receipt-id") == "t3" for f in got), 5 * cnlib.scale(),
                     what="typing receipted")
    c.close()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
