#!/usr/bin/env python3
"""How long POST /api/rooms/{id}/leave takes, and whether a SEND right after it still
gets through (perf/revoke/leave_latency.sh runs it twice: with the nodes' acks awaited,
membership.revoke_wait_ms = 1000, and without, = 0).

    leave_latency.py --node1 URL --node2 URL --rounds N --mode NAME [--out FILE]

Per round: a fresh group room of alice and bob; bob holds a connection on node 2 that is
subscribed to nothing but /user/queue/errors and has sent once into the room (so its
membership is cached), and one on node 1 subscribed to the room. bob leaves over REST on
node 1 (timed from the request to the answer); the moment the answer is in, the node-2
connection SENDs into the room: refused (NOT_MEMBER) or accepted (RECEIPT: the
revocation had not reached that session yet). Prints the median, p90 and worst leave
latency and the SENDs accepted after the leave; appends one JSON line to --out.

Needs python3-websocket and python3-requests (both used by the integration tests). The
nodes should run with a send rate high enough for one SEND per round and connection
(the script sends two per round from bob's node-2 connection).
"""
import argparse
import json
import os
import statistics
import sys
import time
import uuid

import requests
import websocket


class Stomp:
    """A STOMP 1.2 connection over WebSocket, frames by hand."""

    def __init__(self, base, token):
        url = base.replace("http://", "ws://") + "/ws"
        self.ws = websocket.create_connection(url, subprotocols=["v12.stomp"], timeout=10)
        self.buf = b""
        self.send("CONNECT", [("accept-version", "1.2"), ("host", "chat"),
                              ("heart-beat", "0,0"), ("Authorization", f"Bearer {token}")])
        cmd, h, _ = self.recv()
        assert cmd == "CONNECTED", (cmd, h)

    def send(self, command, headers, body=""):
        lines = [command] + [f"{k}:{v}" for k, v in headers]
        self.ws.send("\n".join(lines) + "\n\n" + body + "\0")

    def recv(self, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            self.buf = self.buf.lstrip(b"\r\n")
            end = self.buf.find(b"\n\n")
            if end >= 0:
                head = self.buf[:end].decode().split("\n")
                headers = {}
                for line in head[1:]:
                    k, _, v = line.partition(":")
                    headers.setdefault(k, v)
                start = end + 2
                n = int(headers.get("content-length", "-1"))
                stop = start + n if n >= 0 else self.buf.find(b"\0", start)
                if stop >= 0 and len(self.buf) > stop:
                    body = self.buf[start:stop]
                    self.buf = self.buf[stop + 1:]
                    return head[0], headers, body
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no frame")
            self.ws.settimeout(left)
            self.buf += self.ws.recv_data(control_frame=False)[1]

    def answer(self, receipt, timeout=30):
        """The RECEIPT or the error MESSAGE for `receipt` (other frames skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            f = self.recv(max(0.01, deadline - time.monotonic()))
            if f[1].get("receipt-id") == receipt:
                return f


def user(base, nickname):
    suffix = uuid.uuid4().hex[:8]
    email, password = f"perf-{suffix}@example.com", "tr0ub4dor-" + uuid.uuid4().hex[:12]
    r = requests.post(f"{base}/api/auth/signup", json={
        "email": email, "password": password, "nickname": f"{nickname}-{suffix}"})
    r.raise_for_status()
    uid = r.json()["id"]
    r = requests.post(f"{base}/api/auth/login", json={"email": email, "password": password})
    r.raise_for_status()
    return uid, {"Authorization": f"Bearer {r.json()['accessToken']}"}, r.json()["accessToken"]


def chat_send(c, room, content, receipt):
    c.send("SEND", [("destination", "/app/chat.send"), ("receipt", receipt)],
           json.dumps({"roomId": room, "content": content}))
    cmd, h, body = c.answer(receipt)
    return "accepted" if cmd == "RECEIPT" else json.loads(body)["error"]["code"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--node1", required=True)
    ap.add_argument("--node2", required=True)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--mode", required=True, help="a label for the result line")
    ap.add_argument("--out")
    a = ap.parse_args()

    alice_id, alice, _ = user(a.node1, "alice")
    bob_id, bob, bob_token = user(a.node1, "bob")
    bob_1, bob_2 = Stomp(a.node1, bob_token), Stomp(a.node2, bob_token)
    bob_2.send("SUBSCRIBE", [("id", "errs"), ("destination", "/user/queue/errors"),
                             ("receipt", "e")])
    assert bob_2.answer("e")[0] == "RECEIPT"
    session = requests.Session()
    latencies, outcomes = [], {}
    for i in range(a.rounds):
        r = session.post(f"{a.node1}/api/rooms/group", headers=alice,
                         json={"name": "perf", "memberIds": [bob_id]})
        r.raise_for_status()
        room = r.json()["id"]
        bob_1.send("SUBSCRIBE", [("id", f"r{i}"), ("destination", f"/topic/room.{room}"),
                                 ("receipt", f"s{i}")])
        assert bob_1.answer(f"s{i}")[0] == "RECEIPT"
        assert chat_send(bob_2, room, "before", f"b{i}") == "accepted"
        t0 = time.perf_counter()
        r = session.post(f"{a.node1}/api/rooms/{room}/leave", headers=bob)
        latencies.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
        outcome = chat_send(bob_2, room, "after", f"a{i}")
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        bob_1.send("UNSUBSCRIBE", [("id", f"r{i}"), ("receipt", f"u{i}")])
        assert bob_1.answer(f"u{i}")[0] == "RECEIPT"
    latencies.sort()
    result = {
        "scenario": "leave_latency",
        "mode": a.mode,
        "rounds": a.rounds,
        "leave_ms_median": round(statistics.median(latencies), 2),
        "leave_ms_p90": round(latencies[int(0.9 * (len(latencies) - 1))], 2),
        "leave_ms_worst": round(latencies[-1], 2),
        "send_after_leave": outcomes,
        "date": time.strftime("%Y-%m-%d"),
    }
    print(json.dumps(result))
    if a.out:
        with open(a.out, "a") as f:
            f.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
