"""No loss and no duplicates under redelivery (issue 5): a chat-node dies in the middle
of a 10,000-message burst, and what its clients were told is still exactly true.

Two private nodes (cnlib.Node) join the stack's consumer groups, so both host
chat-persistence and chat-broadcast partitions and a node's death rebalances them.
Several STOMP clients (stomp_session.py's hand-written client) on both nodes send
10,000 messages over several rooms, each with a client messageKey and a `receipt`,
through a raised per-session rate limit. Mid-burst one node is SIGKILLed (first test)
or SIGTERMed and started again (second test); its clients reconnect to the surviving
node and re-send, with the same messageKey, every message whose RECEIPT they did not
get, as a real client does. Then, waiting on conditions with deadlines:

- every messageKey (all are acknowledged in the end) is in `messages` exactly once;
- the rows of each room are exactly the distinct keys sent to it;
- kafka_offset order per room is history order (GET /api/rooms/{id}/messages);
- a subscriber of each room on the surviving node got every stored message, in
  position order, each message-id once; so did a subscriber of each room on the node that
  died, which reconnected to the survivor and resubscribed with x-resume-after.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests
import websocket

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
from stomp_session import Client, Closed, User, frame, metric  # noqa: E402

TOTAL = 10000
ROOMS = 5
CLIENTS_PER_NODE = 4
WINDOW = 32            # SENDs a client has in flight before it waits for a RECEIPT
CUT_AT = TOTAL * 3 // 10  # acknowledged messages before the node is stopped

OVERRIDES = {
    "CHAT_LIMITS_SEND_RATE": "100000",
    "CHAT_LIMITS_SEND_BURST_CLOSE": "0",
    # A watcher thread that the GIL holds back must not be closed as a slow consumer
    # (2,000 MESSAGEs of a room are ~1 MiB, the default queue).
    "CHAT_STOMP_MAX_OUTBOUND_BYTES": str(64 << 20),
}


def psql(sql):
    r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d",
                        cnlib.need("CN_TEST_PG_URL"), "-c", sql],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [line.split("|") for line in r.stdout.splitlines() if line]


def start_node():
    n = cnlib.Node(overrides=OVERRIDES)
    try:
        n.wait_healthy()
    except BaseException:
        n.close()
        raise
    return n


@pytest.fixture(scope="module")
def nodes():
    """{"survivor": node, "victim": node}: the SIGTERM case replaces the victim with its
    restarted self, which the SIGKILL case then kills (one node start fewer)."""
    live = [start_node()]
    try:
        live.append(start_node())
        pair = {"survivor": live[0], "victim": live[1], "all": live}
        yield pair
        rc, _ = live[0].stop()
        assert rc == 0, live[0].output()[-4000:]
    finally:
        for n in live:
            n.close()


def auth(user):
    return {"Authorization": f"Bearer {user.token}"}


class Sender(threading.Thread):
    """One STOMP client: sends its messages with a window of receipts in flight; when the
    connection dies it reconnects (to the node `where()` names at that moment) and
    re-sends everything not yet receipted, with the same messageKey."""

    def __init__(self, user, node, msgs, burst):
        super().__init__(daemon=True)
        self.user, self.node, self.msgs, self.burst = user, node, msgs, burst
        self.acked = set()
        self.reconnects = 0
        self.resent = 0
        self.error = None

    def session(self):
        deadline = time.monotonic() + 30 * cnlib.scale()
        while True:
            node = self.burst.where(self.node)
            try:
                c = Client(node)
                cmd, h, _ = c.connect(self.user.token, heart_beat="0,0")
                if cmd == "CONNECTED":
                    c.keep_alive()
                    c.send(frame("SUBSCRIBE", [("id", "errs"),
                                               ("destination", "/user/queue/errors")]))
                    return c
                c.close()
            except Exception:  # the node is going away or not up yet: try again
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"no STOMP session for {self.user.id} within 30s")
            time.sleep(0.1)

    def run(self):
        try:
            self._run()
        except BaseException as e:  # reported by the test
            self.error = e

    def _run(self):
        pending = list(self.msgs)  # (key, room, content), in the order first sent
        tried = set()
        first = True
        while pending:
            c = self.session()
            if not first:
                self.reconnects += 1
                self.resent += len([m for m in pending if m[0] in tried])
            first = False
            sent, i = [], 0
            try:
                while i < len(pending) or sent:
                    while i < len(pending) and len(sent) < WINDOW:
                        key, room, content = pending[i]
                        c.send(frame("SEND", [("destination", "/app/chat.send"),
                                              ("content-type", "application/json"),
                                              ("receipt", key)],
                                     json.dumps({"roomId": room, "content": content,
                                                 "messageKey": key})))
                        sent.append(key)
                        tried.add(key)
                        i += 1
                    cmd, h, body = c.recv_frame(30)
                    rid = h.get("receipt-id")
                    if cmd == "RECEIPT" and rid in sent:
                        self.acked.add(rid)
                        self.burst.ack()
                        sent.remove(rid)
                    elif cmd == "MESSAGE" and rid in sent:
                        # Refused (UNAVAILABLE while a node goes away): sent again below.
                        sent.remove(rid)
                    else:
                        raise AssertionError(f"unexpected {cmd} {h} {body[:200]}")
            except (Closed, OSError, ConnectionError, TimeoutError):
                pass
            c.close()
            pending = [m for m in pending if m[0] not in self.acked]


class Burst:
    """The clients of one run and the node each should talk to."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = 0
        self.redirect = {}

    def ack(self):
        with self.lock:
            self.acked += 1

    def count(self):
        with self.lock:
            return self.acked

    def where(self, node):
        with self.lock:
            return self.redirect.get(node.port, node)

    def move(self, dead, to):
        with self.lock:
            self.redirect[dead.port] = to


class Watcher(threading.Thread):
    """A subscriber of one room: every MESSAGE it gets. With `fallback`, it is a client of
    the node that dies: when its connection drops it reconnects to `fallback` and
    resubscribes with x-resume-after (the last position it saw), as a real client does."""

    def __init__(self, node, user, room, fallback=None):
        super().__init__(daemon=True)
        self.user, self.room, self.fallback = user, room, fallback
        self.got = []  # (message-id, position)
        self.error = None
        self.done = False
        self.moved = False
        self.c = self._subscribe(node, [])

    def _subscribe(self, node, extra):
        c = Client(node)
        cmd, h, _ = c.connect(self.user.token, heart_beat="0,0")
        assert cmd == "CONNECTED", (cmd, h)
        c.keep_alive()
        c.send(frame("SUBSCRIBE", [("id", "r"), ("destination", f"/topic/room.{self.room}"),
                                   ("receipt", "sub")] + extra))
        cmd, h, _ = c.recv_frame(10)
        assert (cmd, h.get("receipt-id")) == ("RECEIPT", "sub"), (cmd, h)
        return c

    def run(self):
        try:
            while not self.done:
                try:
                    cmd, h, body = self.c.recv_frame(1)
                    if cmd == "ERROR" and self.fallback and not self.moved:
                        raise Closed()  # a stopping node says so, then closes
                except TimeoutError:
                    continue
                except (Closed, OSError, websocket.WebSocketException):
                    if self.done or not self.fallback or self.moved:
                        raise
                    assert self.got, "the node died before this subscriber saw a message"
                    self.moved = True
                    self.c.close()
                    self.c = self._subscribe(self.fallback,
                                             [("x-resume-after", str(self.got[-1][1]))])
                    continue
                assert cmd == "MESSAGE", (cmd, h, body)
                self.got.append((h["message-id"], json.loads(body)["position"]))
        except BaseException as e:
            if not self.done:
                self.error = e

    def close(self):
        self.done = True
        self.c.close()


def history(node, user, room):
    """The whole history of a room, oldest first: [(messageKey, position)]."""
    out, cursor = [], None
    while True:
        params = {"size": 100} | ({"cursor": cursor} if cursor else {})
        r = requests.get(f"{node.url}/api/rooms/{room}/messages", params=params,
                         headers=auth(user), timeout=30)
        assert r.status_code == 200, r.text
        page = r.json()
        out += [(m["messageKey"], m["position"]) for m in page["messages"]]
        if not page["hasNext"]:
            return out[::-1]
        cursor = page["nextCursor"]


def run_burst(survivor, victim, stop):
    """Sends TOTAL messages from clients on `survivor` and `victim`; calls stop(victim)
    once CUT_AT are acknowledged (it returns the node the victim's clients move to).
    Returns (rooms, the keys sent to each room, senders, watchers, owner user)."""
    t0 = time.monotonic()
    owner = User(survivor.url, "owner")
    users = [User(survivor.url, f"s{i}") for i in range(2 * CLIENTS_PER_NODE)]
    rooms = []
    for r in range(ROOMS):
        resp = requests.post(f"{survivor.url}/api/rooms/group",
                             json={"name": f"redelivery {r}", "memberIds": [u.id for u in users]},
                             headers=auth(owner), timeout=30)
        assert resp.status_code in (200, 201), resp.text
        rooms.append(resp.json()["id"])
    # A subscriber of each room on each node (a SUBSCRIBE's RECEIPT means its room is
    # live); the victim's move to the survivor when it dies and resume there.
    watchers = [Watcher(survivor, owner, room) for room in rooms]
    watchers += [Watcher(victim, owner, room, fallback=survivor) for room in rooms]
    for w in watchers:
        w.start()
    # The victim owns chat-persistence partitions, so its death moves work to others.
    cnlib.wait_until(lambda: metric(victim, "chat_kafka_consumer_assigned_partitions",
                                      '{group="chat-persistence"}') >= 1,
                     60 * cnlib.scale(), interval=0.2, what="partitions for the victim")
    # Every partition has an owner again: a burst during a rebalance could end before
    # the victim's subscribers saw any message of a room whose partition had none.
    cnlib.wait_groups_settled([survivor.url, victim.url], 60 * cnlib.scale())
    per_room = {room: [] for room in rooms}
    burst = Burst()
    senders = []
    per_client = TOTAL // len(users)
    for ci, u in enumerate(users):
        msgs = []
        for j in range(per_client):
            room = rooms[(ci + j) % ROOMS]
            key = str(uuid.uuid4())
            per_room[room].append(key)
            msgs.append((key, room, f"client {ci} message {j}"))
        node = victim if ci % 2 else survivor
        senders.append(Sender(u, node, msgs, burst))
    assert sum(len(k) for k in per_room.values()) == TOTAL
    print(f"\nsetup {time.monotonic() - t0:.1f}s")
    t0 = time.monotonic()
    for s in senders:
        s.start()
    # The victim's subscribers resume after the last position they saw, so each must
    # have seen one before the node goes: on a loaded machine the broadcast can trail
    # the receipts by seconds, so the cut waits for that too, not only for the count.
    movers = [w for w in watchers if w.fallback]
    cnlib.wait_until(lambda: (burst.count() >= CUT_AT and all(w.got or w.error for w in movers))
                     or any(not s.is_alive() for s in senders),
                     60 * cnlib.scale(), interval=0.01,
                     what=f"{CUT_AT} receipts and a MESSAGE at each of the victim's subscribers")
    cut = burst.count()
    target = stop(victim)
    burst.move(victim, target)
    print(f"stopped the node after {cut} receipts, {time.monotonic() - t0:.1f}s into the burst")
    for s in senders:
        s.join(120 * cnlib.scale())
        assert not s.is_alive(), "a sender is still sending"
        if s.error:
            raise s.error
    print(f"burst done in {time.monotonic() - t0:.1f}s: "
          f"{sum(s.reconnects for s in senders)} reconnects, "
          f"{sum(s.resent for s in senders)} messages re-sent")
    # The node really went away in the middle: each of its clients had to move.
    assert cut < TOTAL * 9 // 10, cut
    assert all(s.reconnects >= 1 for s in senders if s.node is victim), \
        [s.reconnects for s in senders]
    return rooms, per_room, senders, watchers, owner


def check(survivor, rooms, per_room, senders, watchers, owner):
    acked = set().union(*(s.acked for s in senders))
    every = {k for keys in per_room.values() for k in keys}
    assert len(every) == TOTAL
    assert acked == every, f"{len(every - acked)} messages never acknowledged"
    ids = ",".join(str(r) for r in rooms)
    t = 60 * cnlib.scale()

    def stored():
        rows = psql(f"SELECT room_id, count(*) FROM messages WHERE room_id IN ({ids}) "
                    "GROUP BY room_id")
        have = {int(r): int(n) for r, n in rows}
        return all(have.get(r, 0) >= len(per_room[r]) for r in rooms) and have
    t0 = time.monotonic()
    cnlib.wait_until(stored, t, interval=0.5, what="every message in PostgreSQL")
    print(f"stored {time.monotonic() - t0:.1f}s after the burst; the subscribers have "
          f"{sum(len(w.got) for w in watchers)} MESSAGEs")

    dups = psql(f"SELECT message_key, count(*) FROM messages WHERE room_id IN ({ids}) "
                "GROUP BY message_key HAVING count(*) > 1")
    assert not dups, f"stored more than once: {dups[:10]}"
    for room in rooms:
        rows = psql(f"SELECT message_key, kafka_offset FROM messages WHERE room_id = {room} "
                    "ORDER BY kafka_offset")
        keys = [k for k, _ in rows]
        assert len(keys) == len(set(keys)) == len(per_room[room]), (room, len(keys))
        assert set(keys) == set(per_room[room]), room
        hist = history(survivor, owner, room)
        assert [k for k, _ in hist] == keys, f"room {room}: history order is not offset order"
        assert [p for _, p in hist] == [int(o) for _, o in rows]

    print(f"rows and history checked {time.monotonic() - t0:.1f}s after the burst")
    # The subscribers of the surviving node: every stored message, in order, once.
    for w in watchers:
        room = w.room
        want = len(per_room[room])
        try:
            cnlib.wait_until(lambda: len(w.got) >= want or w.error, 30 * cnlib.scale(),
                             interval=0.2, what=f"room {room}'s MESSAGEs")
        except AssertionError:
            pass  # judged below, with what did arrive
        assert w.error is None, w.error
    for w in watchers:
        w.close()
    print(f"subscribers checked {time.monotonic() - t0:.1f}s after the burst")
    text = cnlib.metrics_text(survivor.url)
    print(" ".join(line for line in text.splitlines()
                   if line.startswith(("chat_room_", "chat_broadcast_"))))
    failures = []
    for w in watchers:
        room = w.room
        got = list(w.got)
        keys = [k for k, _ in got]
        positions = [p for _, p in got]
        stored_keys = {k for k, _ in psql(
            f"SELECT message_key, 1 FROM messages WHERE room_id = {room}")}
        if positions != sorted(positions):
            failures.append(f"room {room}{' (moved)' if w.fallback else ''}: "
                            "MESSAGEs out of position order")
        extra = len(keys) - len(set(keys))
        if extra:
            seen, twice = set(), []
            for k, p in got:
                if k in seen:
                    twice.append(p)
                seen.add(k)
            failures.append(f"room {room}: {extra} duplicate message-id(s) (second at "
                            f"positions {twice[:10]})")
        missing = stored_keys - set(keys)
        if missing:
            offs = sorted(int(o) for k, o in psql(
                f"SELECT message_key, kafka_offset FROM messages WHERE room_id = {room}")
                if k in missing)
            failures.append(f"room {room}: {len(missing)} stored message(s) never delivered "
                            f"(positions {offs[:20]})")
    if failures:
        text = cnlib.metrics_text(survivor.url)
        failures += [line for line in text.splitlines() if line.startswith("chat_room_")]
    assert not failures, "\n".join(failures)


def test_sigterm_and_restart_mid_burst_loses_nothing_and_duplicates_nothing(nodes):
    survivor = nodes["survivor"]

    def restart(n):
        rc, _ = n.stop(sig=signal.SIGTERM)
        assert rc == 0, n.output()[-4000:]
        again = start_node()
        nodes["all"].append(again)
        nodes["victim"] = again
        return again
    check(survivor, *run_burst(survivor, nodes["victim"], restart))


def test_sigkill_mid_burst_loses_nothing_and_duplicates_nothing(nodes):
    survivor = nodes["survivor"]

    def kill(n):
        n.stop(sig=signal.SIGKILL)
        return survivor
    check(survivor, *run_burst(survivor, nodes["victim"], kill))


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-s", "-p", "no:cacheprovider"]))
