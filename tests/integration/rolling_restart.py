"""A rolling restart without loss (issue 6): two nodes, clients chatting continuously,
`chat-admin drain` on node 1. Its clients get ERROR with x-reconnect-after-ms, wait that
long, reconnect to node 2 and go on: senders re-send, with the same messageKey, whatever
got no RECEIPT; subscribers re-subscribe with x-resume-after (the last position they saw).
Then, waiting on conditions with deadlines:

- node 1 exited 0 and `chat-admin drain` returned 0 once it had;
- every message was acknowledged in the end, and each is in `messages` exactly once;
- every subscriber of every room, on either node, moved or not, got every stored message
  of its room exactly once, in position order.

Two private nodes (cnlib.Node) with the stack's PostgreSQL, Redis and Kafka; STOMP by hand
with stomp_session.py's client; the checks reuse redelivery.py's helpers.
"""
import json
import os
import select
import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
from redelivery import Burst, history, psql  # noqa: E402
from stomp_session import Client, Closed, User, frame, metric  # noqa: E402

ROOMS = 3
SENDERS_PER_NODE = 3
WINDOW = 8
PACE_S = 0.01     # between two SENDs of one client: a conversation, not a flood
DRAIN_AT = 300    # receipts before the drain
AFTER = 300       # receipts after node 1 has gone, before the chat ends
JITTER_MS = 1500

OVERRIDES = {
    "CHAT_LIMITS_SEND_RATE": "100000",
    "CHAT_LIMITS_SEND_BURST_CLOSE": "0",
    "CHAT_STOMP_MAX_OUTBOUND_BYTES": str(64 << 20),
    "CHAT_ADMIN_DRAIN_RECONNECT_JITTER_MS": str(JITTER_MS),
    "CHAT_ADMIN_DRAIN_BATCH": "3",
    "CHAT_SHUTDOWN_TIMEOUT_MS": "20000",
}


def auth(user):
    return {"Authorization": f"Bearer {user.token}"}


def drain_hint(cmd, h):
    """The x-reconnect-after-ms of a drain ERROR, else None."""
    if cmd == "ERROR" and "x-reconnect-after-ms" in h:
        assert "reconnect to another node" in h["message"], h
        return int(h["x-reconnect-after-ms"])
    return None


def session(burst, node, user, deadline_s=30):
    deadline = time.monotonic() + deadline_s * cnlib.scale()
    while True:
        try:
            c = Client(burst.where(node))
            cmd, h, _ = c.connect(user.token, heart_beat="0,0")
            if cmd == "CONNECTED":
                c.keep_alive()
                return c
            c.close()
        except Exception:  # a node going away: try again
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"no STOMP session for {user.id} within {deadline_s}s")
        time.sleep(0.1)


class Sender(threading.Thread):
    """Chats until the burst is finished: new messages at a steady pace with a window of
    receipts in flight; on a drain ERROR it waits the hint, reconnects where the burst
    says and first re-sends, with the same messageKey, what was not receipted."""

    def __init__(self, index, user, node, rooms, burst):
        super().__init__(daemon=True)
        self.index, self.user, self.node, self.rooms, self.burst = index, user, node, rooms, burst
        self.msgs = []  # (key, room): every message this client sent at least once
        self.acked, self.hints, self.error = set(), [], None

    def run(self):
        try:
            self._run()
        except BaseException as e:
            self.error = e

    def new_msg(self):
        if self.burst.finished.is_set():
            return None
        key, room = str(uuid.uuid4()), self.rooms[(self.index + len(self.msgs)) % ROOMS]
        self.msgs.append((key, room))
        return key, room

    def send(self, c, key, room):
        c.send(frame("SEND", [("destination", "/app/chat.send"),
                              ("content-type", "application/json"), ("receipt", key)],
                     json.dumps({"roomId": room, "content": f"client {self.index} {key}",
                                 "messageKey": key})))

    def _run(self):
        while True:
            c = session(self.burst, self.node, self.user)
            c.send(frame("SUBSCRIBE", [("id", "errs"), ("destination", "/user/queue/errors")]))
            resend = [m for m in self.msgs if m[0] not in self.acked]
            sent, done = [], False
            try:
                while True:
                    while len(sent) < WINDOW:
                        # Read what has arrived before sending more: a SEND written after
                        # the drain's ERROR and close draws a reset, and a reset discards
                        # the unread ERROR (and its hint) from our receive buffer.
                        if sent and (c.buf or select.select([c.ws.sock], [], [], 0)[0]):
                            break
                        m = resend.pop(0) if resend else self.new_msg()
                        if m is None:
                            break
                        self.send(c, *m)
                        sent.append(m[0])
                        time.sleep(PACE_S)
                    if not sent:
                        done = True
                        break
                    cmd, h, body = c.recv_frame(30)
                    rid = h.get("receipt-id")
                    hint = drain_hint(cmd, h)
                    if hint is not None:
                        self.hints.append(hint)
                        c.wait_closed(10)
                        time.sleep(hint / 1000)
                        break
                    if cmd == "RECEIPT" and rid in sent:
                        self.acked.add(rid)
                        self.burst.ack()
                        sent.remove(rid)
                    elif cmd == "MESSAGE" and rid in sent:  # UNAVAILABLE: sent again
                        sent.remove(rid)
                        resend.append(next(m for m in self.msgs if m[0] == rid))
                    else:
                        raise AssertionError(f"unexpected {cmd} {h} {body[:200]}")
            except (Closed, OSError, ConnectionError, TimeoutError):
                pass
            c.close()
            if done:
                return


class Subscriber(threading.Thread):
    """A member subscribed to one room; on a drain ERROR it waits the hint, reconnects
    where the burst says and resumes after the last position it got."""

    def __init__(self, node, user, room, burst):
        super().__init__(daemon=True)
        self.node, self.user, self.room, self.burst = node, user, room, burst
        self.got, self.hints, self.error, self.done = [], [], None, False
        self.resumed = []  # the positions it resumed after
        self.c = self.subscribe(None)

    def subscribe(self, after):
        c = session(self.burst, self.node, self.user)
        headers = [("id", "r"), ("destination", f"/topic/room.{self.room}"), ("receipt", "sub")]
        if after is not None:
            headers.append(("x-resume-after", str(after)))
        c.send(frame("SUBSCRIBE", headers))
        while True:  # a resume may deliver MESSAGEs before the receipt
            cmd, h, body = c.recv_frame(20)
            if cmd == "RECEIPT" and h.get("receipt-id") == "sub":
                return c
            self.take(cmd, h, body)

    def take(self, cmd, h, body):
        assert cmd == "MESSAGE", (cmd, h, body)
        self.got.append((h["message-id"], json.loads(body)["position"]))

    def run(self):
        try:
            while not self.done:
                try:
                    cmd, h, body = self.c.recv_frame(1)
                except TimeoutError:
                    continue
                except Closed:
                    if self.done:
                        return
                    raise
                hint = drain_hint(cmd, h)
                if hint is None:
                    self.take(cmd, h, body)
                    continue
                self.hints.append(hint)
                self.c.wait_closed(10)
                time.sleep(hint / 1000)
                assert self.got, "drained before the first MESSAGE: nothing to resume after"
                self.resumed.append(self.got[-1][1])
                self.c = self.subscribe(self.got[-1][1])
        except BaseException as e:
            if not self.done:
                self.error = e

    def close(self):
        self.done = True
        self.c.close()


@pytest.fixture(scope="module")
def nodes():
    live = []
    try:
        for _ in range(2):
            n = cnlib.Node(overrides=OVERRIDES)
            live.append(n)
            n.wait_healthy()
        yield live
    finally:
        for n in live:
            n.close()


def test_drain_of_one_node_loses_and_duplicates_nothing(nodes):
    n1, n2 = nodes
    owner = User(n2.url, "owner")
    users = [User(n2.url, f"rr{i}") for i in range(2 * SENDERS_PER_NODE)]
    readers = [User(n2.url, f"reader{i}") for i in range(2)]
    rooms = []
    for r in range(ROOMS):
        resp = requests.post(f"{n2.url}/api/rooms/group",
                             json={"name": f"rolling {r}",
                                   "memberIds": [u.id for u in users + readers]},
                             headers=auth(owner), timeout=30)
        assert resp.status_code in (200, 201), resp.text
        rooms.append(resp.json()["id"])
    burst = Burst()
    burst.finished = threading.Event()
    # Every room has a subscriber on each node (its SUBSCRIBE RECEIPT means the room is
    # live there); node 1's must move.
    subs = [Subscriber(node, readers[i], room, burst)
            for room in rooms for i, node in enumerate((n1, n2))]
    for s in subs:
        s.start()
    cnlib.wait_until(lambda: metric(n1, "chat_kafka_consumer_assigned_partitions",
                                      '{group="chat-persistence"}') >= 1,
                     60 * cnlib.scale(), interval=0.2, what="partitions for node 1")
    senders = [Sender(ci, u, n1 if ci % 2 else n2, rooms, burst)
               for ci, u in enumerate(users)]
    for s in senders:
        s.start()
    # Mid-conversation: enough acknowledged, and every subscriber has a position to resume
    # after (fan-out can trail the RECEIPTs by seconds while the consumer groups rebalance).
    cnlib.wait_until(lambda: (burst.count() >= DRAIN_AT and all(s.got for s in subs))
                     or any(not s.is_alive() for s in senders),
                     60 * cnlib.scale(), interval=0.01,
                     what=f"{DRAIN_AT} receipts and a MESSAGE at every subscriber")
    cut = burst.count()
    burst.move(n1, n2)  # where node 1's clients reconnect (the load balancer's job)
    drain = subprocess.run([cnlib.admin_bin(), "--socket", n1.admin_socket, "drain"],
                           capture_output=True, text=True, timeout=120 * cnlib.scale())
    assert drain.returncode == 0, (drain.stdout, drain.stderr)
    assert drain.stdout.strip().endswith("stopped"), drain.stdout
    assert n1.proc.wait(30 * cnlib.scale()) == 0, n1.output()[-4000:]
    gone = burst.count()
    print(f"\ndrained node 1 after {cut} receipts ({gone} when it had exited): "
          f"{drain.stdout.strip()}")
    # The conversation goes on, all of it on node 2 now.
    cnlib.wait_until(lambda: burst.count() >= gone + AFTER
                     or any(not s.is_alive() for s in senders),
                     60 * cnlib.scale(), interval=0.05, what=f"{AFTER} receipts after the drain")
    burst.finished.set()
    for s in senders:
        s.join(120 * cnlib.scale())
        assert not s.is_alive(), "a sender is still sending"
        if s.error:
            raise s.error
    moved = [s for s in senders + subs if s.node is n1]
    assert all(s.hints for s in moved), [s.hints for s in moved]
    assert all(0 <= h <= JITTER_MS for s in moved for h in s.hints)
    assert not any(s.hints for s in senders + subs if s.node is n2)
    per_room = {room: [] for room in rooms}
    for s in senders:
        for key, room in s.msgs:
            per_room[room].append(key)
    print(f"{sum(len(k) for k in per_room.values())} messages in {ROOMS} rooms")

    acked = set().union(*(s.acked for s in senders))
    every = {k for keys in per_room.values() for k in keys}
    assert acked == every, f"{len(every - acked)} messages never acknowledged"
    ids = ",".join(str(r) for r in rooms)

    def stored():
        rows = psql(f"SELECT room_id, count(*) FROM messages WHERE room_id IN ({ids}) "
                    "GROUP BY room_id")
        have = {int(r): int(n) for r, n in rows}
        return all(have.get(r, 0) >= len(per_room[r]) for r in rooms) and have
    cnlib.wait_until(stored, 60 * cnlib.scale(), interval=0.5, what="every message stored")
    dups = psql(f"SELECT message_key, count(*) FROM messages WHERE room_id IN ({ids}) "
                "GROUP BY message_key HAVING count(*) > 1")
    assert not dups, f"stored more than once: {dups[:10]}"
    stored_keys = {}
    for room in rooms:
        rows = psql(f"SELECT message_key, kafka_offset FROM messages WHERE room_id = {room} "
                    "ORDER BY kafka_offset")
        stored_keys[room] = [k for k, _ in rows]
        assert sorted(stored_keys[room]) == sorted(per_room[room]), room
        assert [k for k, _ in history(n2, owner, room)] == stored_keys[room]

    for s in subs:
        try:
            cnlib.wait_until(lambda: len(s.got) >= len(stored_keys[s.room]) or s.error,
                             60 * cnlib.scale(), interval=0.2,
                             what=f"room {s.room}'s MESSAGEs at a subscriber")
        except AssertionError as e:
            # Which subscriber, and where its missing messages sit in the room's order
            # (a hole in the middle is a lost catch-up, a missing tail a stalled one).
            have = {k for k, _ in s.got}
            where = "moved from node 1" if s.node is n1 else "on node 2"
            missing = [i for i, k in enumerate(stored_keys[s.room]) if k not in have]
            raise AssertionError(f"{e}: the subscriber {where} has {len(s.got)} of "
                                 f"{len(stored_keys[s.room])}; missing indexes {missing[:20]}"
                                 f"{'...' if len(missing) > 20 else ''}; resumed after "
                                 f"{s.resumed}") from None
    for s in subs:
        s.close()
    failures = []
    for s in subs:
        assert s.error is None, s.error
        keys = [k for k, _ in s.got]
        where = "moved from node 1" if s.node is n1 else "on node 2"
        if keys != stored_keys[s.room]:
            failures.append(f"room {s.room}, subscriber {where}: {len(keys)} MESSAGEs "
                            f"({len(keys) - len(set(keys))} duplicates, "
                            f"{len(set(stored_keys[s.room]) - set(keys))} missing)")
    assert not failures, "\n".join(failures)
    rc, _ = n2.stop()
    assert rc == 0, n2.output()[-4000:]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-s", "-p", "no:cacheprovider"]))
