"""Helpers for tests that drive the product as a client would: accounts made through the
REST API (a strong random password, a nickname with a random suffix), rooms, history
pages, STOMP sessions (stomp_session.py's hand-written frames) that send, subscribe and
read, and the Kafka plumbing (murmur2 partitions, kcat) for tests that write records
straight to a topic. Stdlib + requests + python3-websocket, like the tests around it."""
import json
import os
import subprocess
import sys
import time
import uuid

import requests

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
from stomp_session import Client, frame  # noqa: E402

NODE1 = cnlib.need("CN_TEST_NODE1_URL")
NODE2 = cnlib.need("CN_TEST_NODE2_URL")
RATE = 10  # limits.send_rate of the stack's nodes (the default)


class Account:
    """A user signed up and logged in through `base`."""

    def __init__(self, name, base=NODE1):
        tag = uuid.uuid4().hex[:8]
        self.nickname = f"{name}-{tag}"
        email = f"{name}-{tag}-{uuid.uuid4().hex[:6]}@example.com"
        password = "tr0ub4dor-" + uuid.uuid4().hex[:12]
        r = requests.post(f"{base}/api/auth/signup",
                          json={"email": email, "password": password, "nickname": self.nickname})
        assert r.status_code == 201, r.text
        self.id = r.json()["id"]
        r = requests.post(f"{base}/api/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        self.token = r.json()["accessToken"]
        self.h = {"Authorization": f"Bearer {self.token}"}

    def group_room(self, members, name="room", base=NODE1, visibility="public"):
        """A group room; public, so that an outsider is refused as a non-member (403)
        rather than as someone who may not see the room (404)."""
        r = requests.post(f"{base}/api/rooms/group", headers=self.h,
                          json={"name": name, "memberIds": [m.id for m in members],
                                "visibility": visibility})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def history(self, room, base=NODE1):
        """Every message of the room, newest first (pages of 100 by cursor)."""
        out, cursor = [], None
        while True:
            params = {"size": 100}
            if cursor:
                params["cursor"] = cursor
            r = requests.get(f"{base}/api/rooms/{room}/messages", headers=self.h, params=params)
            assert r.status_code == 200, r.text
            page = r.json()
            out += page["messages"]
            if not page["hasNext"]:
                return out
            cursor = page["nextCursor"]

    def unread(self, room, base=NODE1):
        r = requests.get(f"{base}/api/rooms", headers=self.h)
        assert r.status_code == 200, r.text
        return {x["id"]: x for x in r.json()}[room]["unreadCount"]

    def read(self, room, body, base=NODE1):
        """POST /api/rooms/{room}/read with `body` (a dict, or raw bytes)."""
        if isinstance(body, (bytes, str)):
            return requests.post(f"{base}/api/rooms/{room}/read",
                                 headers={**self.h, "Content-Type": "application/json"},
                                 data=body)
        return requests.post(f"{base}/api/rooms/{room}/read", headers=self.h, json=body)


class _At:
    def __init__(self, url):
        self.url = url


class Session:
    """One STOMP connection of `account` to `base`, subscribed to /user/queue/errors (so
    refusals arrive as MESSAGEs there and the connection stays)."""

    def __init__(self, account, base):
        self.c = Client(_At(base))
        cmd, h, _ = self.c.connect(account.token, heart_beat="0,0")
        assert cmd == "CONNECTED", (cmd, h)
        self.c.keep_alive()
        self.n = 0
        self.inbox = []  # room MESSAGEs that arrived while answer() waited
        self.sent_at = []  # monotonic times of the SENDs of the last second
        self.c.send(frame("SUBSCRIBE", [("id", "errs"), ("destination", "/user/queue/errors"),
                                        ("receipt", "sub-errs")]))
        cmd, h, _ = self.c.recv_frame(5)
        assert (cmd, h.get("receipt-id")) == ("RECEIPT", "sub-errs"), (cmd, h)

    def close(self):
        self.c.close()

    def subscribe(self, room):
        sid = f"room-{room}"
        self.c.send(frame("SUBSCRIBE", [("id", sid), ("destination", f"/topic/room.{room}"),
                                        ("receipt", f"sub-{sid}")]))
        cmd, h, body = self.c.recv_frame(5)
        assert (cmd, h.get("receipt-id")) == ("RECEIPT", f"sub-{sid}"), (cmd, h, body)

    def send_json(self, destination, body):
        """Sends one SEND with a fresh receipt id; returns that id (not waiting). Keeps
        under the node's SEND rate (limits.send_rate, 10 in any second by default): the
        10th SEND within a second waits until the first of them is a second old."""
        self.sent_at = [t for t in self.sent_at if time.monotonic() - t < 1.05]
        if len(self.sent_at) >= RATE - 1:
            time.sleep(max(0.0, 1.05 - (time.monotonic() - self.sent_at[0])))
        self.sent_at.append(time.monotonic())
        self.n += 1
        receipt = f"s{self.n}"
        self.c.send(frame("SEND", [("destination", destination),
                                   ("content-type", "application/json"),
                                   ("receipt", receipt)],
                          body if isinstance(body, str) else json.dumps(body)))
        return receipt

    def chat(self, room, content, key):
        return self.send_json("/app/chat.send",
                              {"roomId": room, "content": content, "messageKey": key})

    def answer(self, receipt, timeout=15):
        """The answer to SEND `receipt`: ("RECEIPT", None) or ("ERROR", {code, message})
        from /user/queue/errors. Room MESSAGEs that arrive meanwhile are kept in
        self.inbox."""
        deadline = time.monotonic() + timeout * cnlib.scale()
        while True:
            cmd, h, body = self.c.recv_frame(max(0.01, deadline - time.monotonic()))
            if cmd == "RECEIPT":
                assert h.get("receipt-id") == receipt, (h, receipt)
                return "RECEIPT", None
            if cmd == "MESSAGE" and h.get("destination") == "/user/queue/errors":
                assert h.get("receipt-id") == receipt, (h, body)
                return "ERROR", json.loads(body)["error"]
            assert cmd == "MESSAGE", (cmd, h, body)
            self.inbox.append((h, json.loads(body)))

    def room_messages(self, until, timeout=30):
        """Room MESSAGEs (chat messages, not events) as (headers, body) until `until(list)`
        is true; returns the list (which also holds what answer() set aside)."""
        got = [m for m in self.inbox if "x-event" not in m[0]]
        self.inbox = []
        deadline = time.monotonic() + timeout * cnlib.scale()
        while not until(got):
            cmd, h, body = self.c.recv_frame(max(0.01, deadline - time.monotonic()))
            assert cmd == "MESSAGE", (cmd, h, body)
            if "x-event" not in h:
                got.append((h, json.loads(body)))
        return got


# ------------------------------------------------------------------ Kafka

def murmur2(data):
    """Kafka's Java default partitioner hash."""
    m, h = 0x5bd1e995, 0x9747b28c ^ len(data)
    n4 = len(data) & ~3
    for i in range(0, n4, 4):
        k = (int.from_bytes(data[i:i + 4], "little") * m) & 0xffffffff
        k ^= k >> 24
        k = (k * m) & 0xffffffff
        h = ((h * m) & 0xffffffff) ^ k
    rem = len(data) & 3
    if rem == 3:
        h ^= data[n4 + 2] << 16
    if rem >= 2:
        h ^= data[n4 + 1] << 8
    if rem >= 1:
        h ^= data[n4]
        h = (h * m) & 0xffffffff
    h ^= h >> 13
    h = (h * m) & 0xffffffff
    return h ^ (h >> 15)


def partition_of(room, partitions):
    return (murmur2(str(room).encode()) & 0x7fffffff) % partitions


END = b"<<~END~>>"


def kafka_produce(topic, key, value, headers=(), partition=None):
    """One record (value bytes) with `key` to `topic`: to `partition`, or where Kafka's
    murmur2 partitioner puts the key (as the nodes' producers do); headers as (name,
    value) pairs."""
    cmd = ["kcat", "-P", "-b", cnlib.need("CN_TEST_KAFKA_BROKERS"), "-t", topic, "-k", str(key),
           "-X", "topic.partitioner=murmur2_random", "-D", END.decode()]
    if partition is not None:
        cmd += ["-p", str(partition)]
    for name, v in headers:
        cmd += ["-H", f"{name}={v}"]
    r = subprocess.run(cmd, input=value + END, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr


def kafka_records(topic, partition, offset="beginning"):
    """Records of one partition from `offset` to its end: [(offset, headers, value)]."""
    cmd = ["kcat", "-C", "-b", cnlib.need("CN_TEST_KAFKA_BROKERS"), "-t", topic, "-p",
           str(partition), "-o", str(offset), "-e", "-q", "-f", "%o\t%h\t%s" + END.decode()]
    r = subprocess.run(cmd, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = []
    for chunk in r.stdout.split(END)[:-1]:
        off, hdrs, value = chunk.split(b"\t", 2)
        headers = dict(h.split("=", 1) for h in hdrs.decode().split(",") if "=" in h)
        out.append((int(off), headers, value))
    return out


def kafka_end(topic, partition):
    """The offset the next record of the partition will get."""
    recs = kafka_records(topic, partition, offset=-1)
    return recs[-1][0] + 1 if recs else 0
