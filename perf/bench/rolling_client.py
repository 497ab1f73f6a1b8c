#!/usr/bin/env python3
"""The clients of the rolling restart (perf/bench/rolling.sh): thousands of STOMP sessions
over N nodes, a steady send rate with receipts, and the drain of every node in turn.

    rolling_client.py --sessions FILE --nodes URL,URL,... --rate R --restart CMD --pg-url URL

FILE is setup_fanout.py's (`userId token roomId`, users in blocks of one room): session i
connects to node i % N, so every room has members on every node and its messages cross
nodes through Redis. Every session subscribes to its room; the first member of each room
also sends (R messages/s over all rooms, each with a receipt and a messageKey, at most
WINDOW unreceipted), starting once every session's first SUBSCRIBE is receipted: a
subscription without x-resume-after gets what is published after it, and the check
expects every stored message of a room at each of its members. Once all are subscribed and chatting, for each node in turn: it is
marked down (where the load balancer would stop sending new clients), CMD with {i} = the
node's number is run (rolling.sh's `restart-node`: chat-admin drain, start it again, wait
for /healthz), and the node is marked up. A drained client does what docs/PROTOCOL.md asks:
on `ERROR` with `x-reconnect-after-ms` it waits that long, connects to the next node that is
up, re-sends with the same messageKey what was not receipted, and re-subscribes with
`x-resume-after` = the last position it saw.

At the end the senders stop, and it checks, with deadlines: every message was receipted;
each is in PostgreSQL's `messages` exactly once; every subscriber got every stored message
of its room exactly once in position order; every drained session came back and resumed.
Prints one JSON line (the result, with the time to recover per node: drain start to the
resumed SUBSCRIBE RECEIPT of the last of its clients); exits 1 when a check failed.

WebSocket and STOMP by hand on asyncio (stdlib only; the node's WebSocket pings are
answered). Memory: everything lives until the process exits.
"""
import argparse
import asyncio
import base64
import json
import os
import random
import subprocess
import sys
import time
import uuid

WINDOW = 8
RETRY_S = 15  # a SEND without its RECEIPT for this long is sent again (same messageKey)


class Closed(Exception):
    pass


class Ws:
    """One client WebSocket: masked text frames out, frames in; pings answered."""

    def __init__(self, reader, writer):
        self.r, self.w = reader, writer
        self.buf = b""  # STOMP bytes received and not yet a whole frame

    async def frame(self):
        """The next STOMP frame as (command, headers, body): one WebSocket message may hold
        several frames (the node writes a connection's queued frames at once), and
        heart-beat EOLs between them are skipped."""
        while True:
            self.buf = self.buf.lstrip(b"\r\n")
            end = self.buf.find(b"\0")
            if end >= 0:
                raw, self.buf = self.buf[:end], self.buf[end + 1:]
                return parse(raw)
            self.buf += await self.recv()

    AVOID = set()  # local ports a connection must not hold: the nodes' (--avoid-ports)

    @classmethod
    async def open(cls, hostport, timeout=5):
        host, port = hostport.rsplit(":", 1)
        while True:
            r, w = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout)
            # An ephemeral port of ours that is a node's port would keep that node from
            # starting again after its drain: take another.
            if w.get_extra_info("sockname")[1] not in cls.AVOID:
                break
            w.close()
        key = base64.b64encode(os.urandom(16)).decode()
        w.write((f"GET /ws HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n"
                 f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                 "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: v12.stomp\r\n\r\n").encode())
        head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), timeout)
        if not head.startswith(b"HTTP/1.1 101"):
            w.close()
            raise Closed(head.split(b"\r\n")[0].decode(errors="replace"))
        return cls(r, w)

    def send(self, text, opcode=1):
        data = text.encode() if isinstance(text, str) else text
        n = len(data)
        hdr = bytes([0x80 | opcode])
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            hdr += bytes([0x80 | 127]) + n.to_bytes(8, "big")
        mask = os.urandom(4)
        keystream = (mask * (n // 4 + 1))[:n]
        masked = (int.from_bytes(data, "big") ^ int.from_bytes(keystream, "big")).to_bytes(n, "big")
        self.w.write(hdr + mask + masked)

    async def recv(self):
        """The next text payload (a message's fragments joined)."""
        parts = []
        while True:
            try:
                b0, b1 = await self.r.readexactly(2)
                n = b1 & 0x7F
                if n == 126:
                    n = int.from_bytes(await self.r.readexactly(2), "big")
                elif n == 127:
                    n = int.from_bytes(await self.r.readexactly(8), "big")
                data = await self.r.readexactly(n)
            except (asyncio.IncompleteReadError, ConnectionError, OSError):
                raise Closed("eof")
            op = b0 & 0x0F
            if op == 8:
                raise Closed("close frame")
            if op == 9:
                self.send(data, opcode=10)
                continue
            if op == 10:
                continue
            parts.append(data)
            if b0 & 0x80:
                return b"".join(parts)

    def close(self):
        try:
            self.w.close()
        except Exception:
            pass


def frame(command, headers=(), body=""):
    return "\n".join([command] + [f"{k}:{v}" for k, v in headers]) + "\n\n" + body + "\0"


def parse(raw):
    text = raw.decode()
    head, _, body = text.partition("\n\n")
    lines = head.split("\n")
    h = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        h.setdefault(k, v)
    return lines[0], h, body


class Run:
    def __init__(self, a):
        self.a = a
        self.nodes = [u.replace("http://", "") for u in a.nodes.split(",")]
        self.up = [True] * len(self.nodes)
        self.stop_sending = asyncio.Event()
        # Set once every session's first SUBSCRIBE is receipted: a plain SUBSCRIBE gets
        # what is published after it, so a message sent before a member subscribed is
        # not that member's to get, and the check expects every stored message of the
        # room at every member. No sender starts before.
        self.chatting = asyncio.Event()
        self.sent_at = {}  # key -> when it was first sent (diagnostics)
        self.finished = False
        self.t0 = time.monotonic()

    def now(self):
        return time.monotonic() - self.t0

    def next_node(self, after):
        """Another node that is up, at random: what a load balancer in front of the
        nodes does with a client that reconnects. --reconnect next: the next node up in
        order, so one node takes every drained client (all of them, for the last drain)."""
        if self.a.reconnect == "next":
            for k in range(1, len(self.nodes) + 1):
                i = (after + k) % len(self.nodes)
                if self.up[i]:
                    return i
        up = [i for i in range(len(self.nodes)) if self.up[i] and i != after]
        return random.choice(up) if up else after


class Session:
    def __init__(self, run, idx, uid, token, room, node, sender):
        self.run, self.idx, self.uid, self.token, self.room = run, idx, uid, token, room
        self.node, self.sender = node, sender
        self.got = []          # (messageKey, position)
        self.msgs = []         # keys this session sent at least once
        self.acked = set()
        self.inflight = {}     # key -> when it was (last) sent
        self.retried = 0       # SENDs sent again after RETRY_S without their RECEIPT
        self.drains = []       # [node, t_error, hint_ms, t_resumed, to_node]
        self.drops = 0         # connections lost without a drain hint
        self.errors = []
        self.unavailable = 0
        self.subscribed = asyncio.Event()
        self.t_subscribed = None  # when its first SUBSCRIBE was receipted
        self.ws = None

    async def connect(self, first):
        deadline = time.monotonic() + 120
        node = self.node
        while True:
            try:
                ws = await Ws.open(self.run.nodes[node])
                ws.send(frame("CONNECT", [("accept-version", "1.2"), ("host", "chat"),
                                          ("heart-beat", "0,0"),
                                          ("Authorization", f"Bearer {self.token}")]))
                cmd, h, body = await asyncio.wait_for(ws.frame(), 10)
                if cmd == "CONNECTED":
                    self.node = node
                    return ws
                ws.close()
                if "x-reconnect-after-ms" not in h:
                    raise AssertionError(f"CONNECT: {cmd} {h} {body[:200]}")
            except (Closed, OSError, asyncio.TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"session {self.idx}: no STOMP session within 120 s")
            await asyncio.sleep(0.1 + random.random() * 0.2)
            node = self.run.next_node(node)

    def take(self, h, body):
        pos = json.loads(body)["position"]
        self.got.append((h["message-id"], pos))

    async def life(self):
        first = True
        while True:
            ws = self.ws = await self.connect(first)
            headers = [("id", "r"), ("destination", f"/topic/room.{self.room}"),
                       ("receipt", "sub")]
            if self.got:
                headers.append(("x-resume-after", str(self.got[-1][1])))
            ws.send(frame("SUBSCRIBE", headers))
            sender = None
            hint = None
            try:
                while True:
                    cmd, h, body = await ws.frame()  # quiet is fine: the node pings
                    if cmd == "MESSAGE":
                        self.take(h, body)
                    elif cmd == "RECEIPT" and h.get("receipt-id") == "sub":
                        if not first and self.drains and self.drains[-1][3] is None:
                            self.drains[-1][3] = self.run.now()
                            self.drains[-1][4] = self.node
                        if self.t_subscribed is None:
                            self.t_subscribed = time.monotonic()
                        self.subscribed.set()
                        first = False
                        if self.sender:
                            sender = asyncio.ensure_future(self.send_loop(ws))
                    elif cmd == "RECEIPT":
                        key = h.get("receipt-id")
                        if key in self.inflight:
                            del self.inflight[key]
                            self.acked.add(key)
                    elif cmd == "ERROR" and "x-reconnect-after-ms" in h:
                        hint = int(h["x-reconnect-after-ms"])
                        break
                    elif cmd == "ERROR":
                        # UNAVAILABLE (Kafka did not acknowledge in time) asks for a retry
                        # with the same messageKey: the next connection re-sends
                        if "UNAVAILABLE" in body:
                            self.unavailable += 1
                        else:
                            self.errors.append(f"{h.get('message')} {body[:200]}")
                        break
                    # other frames (a SEND refused as UNAVAILABLE: a MESSAGE on the errors
                    # queue is not subscribed here) are ignored; unreceipted keys are re-sent.
            except (Closed, asyncio.TimeoutError):
                pass
            if sender:
                sender.cancel()
            ws.close()
            if self.run.finished:
                return
            was = self.node
            self.drains.append([was, self.run.now(), hint, None, None])
            if hint is None:
                self.drops += 1
                hint = int(random.random() * 1000)
            self.inflight.clear()  # re-sent (same key) on the next connection
            await asyncio.sleep(hint / 1000)
            if not self.run.up[was]:
                self.node = self.run.next_node(was)

    async def send_loop(self, ws):
        period = self.run.a.period
        await self.run.chatting.wait()
        for key in [k for k in self.msgs if k not in self.acked]:
            self.send(ws, key)
        while True:
            await asyncio.sleep(period * (0.5 + random.random()))
            # a client retries, with the same messageKey, what has had no RECEIPT for long
            now = time.monotonic()
            for key in [k for k, t in self.inflight.items() if now - t > RETRY_S]:
                self.retried += 1
                self.send(ws, key)
            if self.run.stop_sending.is_set() or len(self.inflight) >= WINDOW:
                continue
            key = str(uuid.uuid4())
            self.msgs.append(key)
            self.send(ws, key)
        # after the stop: nothing new; unreceipted ones are re-sent by the next connection

    def send(self, ws, key):
        self.inflight[key] = time.monotonic()
        self.run.sent_at.setdefault(key, self.inflight[key])
        ws.send(frame("SEND", [("destination", "/app/chat.send"),
                               ("content-type", "application/json"), ("receipt", key)],
                      json.dumps({"roomId": self.room, "content": f"rolling {self.idx} {key}",
                                  "messageKey": key})))


def psql(url, sql):
    out = subprocess.run(["psql", url, "-X", "-q", "-At", "-F", " ", "-c", sql],
                         check=True, capture_output=True, text=True).stdout
    return [line.split(" ") for line in out.splitlines() if line]


TASKS = []


async def wait_until(cond, secs, what):
    deadline = time.monotonic() + secs
    while not cond():
        for t in TASKS:
            if t.done() and not t.cancelled() and t.exception():
                raise t.exception()
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {secs} s: {what}")
        await asyncio.sleep(0.2)


async def main_async(a):
    run = Run(a)
    rows = [line.split() for line in open(a.sessions) if line.strip()]
    n = len(run.nodes)
    sessions, seen_rooms = [], set()
    for i, (uid, tok, room) in enumerate(rows):
        sender = room not in seen_rooms
        seen_rooms.add(room)
        sessions.append(Session(run, i, int(uid), tok, int(room), i % n, sender))
    rooms = sorted({s.room for s in sessions})
    a.period = len(rooms) / a.rate
    log = lambda m: print(f"[rolling {run.now():7.1f}s] {m}", file=sys.stderr, flush=True)
    log(f"{len(sessions)} sessions in {len(rooms)} rooms over {n} nodes; "
        f"{a.rate} messages/s ({len(rooms)} senders)")
    tasks = TASKS
    for k, s in enumerate(sessions):
        tasks.append(asyncio.ensure_future(s.life()))
        if k % 50 == 49:  # a sleep per session would take a loop turn each: minutes at 3,000
            await asyncio.sleep(a.ramp * 50 / len(sessions))
    await wait_until(lambda: all(s.subscribed.is_set() for s in sessions) or
                     any(t.done() for t in tasks), 300, "every session subscribed")
    for t in tasks:
        if t.done():
            t.result()
    run.chatting.set()
    log(f"all subscribed; chatting {a.warmup} s before the first drain")
    await asyncio.sleep(a.warmup)
    result = {"sessions": len(sessions), "rooms": len(rooms), "nodes": n, "rate": a.rate,
              "per_node": []}
    for i in range(n):
        acked_before = sum(len(s.acked) for s in sessions)
        t_start = run.now()
        run.up[i] = False
        log(f"node{i + 1}: drain and restart")
        p = await asyncio.create_subprocess_shell(a.restart.format(i=i + 1),
                                                  stdout=subprocess.PIPE)
        out, _ = await p.communicate()
        t_ready = run.now()
        if p.returncode != 0:
            raise AssertionError(f"restart of node{i + 1} failed ({p.returncode}): {out!r}")
        run.up[i] = True
        moved = [s for s in sessions if any(d[0] == i and d[1] >= t_start for d in s.drains)]
        await wait_until(lambda: all(d[3] is not None for s in moved for d in s.drains
                                     if d[0] == i and d[1] >= t_start), 120,
                         f"node{i + 1}'s clients resumed")
        t_back = max([d[3] for s in moved for d in s.drains if d[0] == i and d[1] >= t_start],
                     default=t_start)
        rec = {"node": i + 1, "clients_moved": len(moved),
               "drain_to_restarted_s": round(t_ready - t_start, 2),
               "recover_s": round(t_back - t_start, 2),
               "drops_without_hint": sum(1 for s in moved for d in s.drains
                                         if d[0] == i and d[1] >= t_start and d[2] is None),
               "acked_during": sum(len(s.acked) for s in sessions) - acked_before,
               "restart_log": out.decode().strip().splitlines()[-1:] }
        result["per_node"].append(rec)
        log(f"node{i + 1}: {json.dumps(rec)}")
        await asyncio.sleep(a.settle)
    run.stop_sending.set()
    log("senders stop; waiting for every receipt")
    await asyncio.sleep(max(2 * a.period, 1))
    try:
        await wait_until(lambda: all(not s.inflight and set(s.msgs) <= s.acked
                                     for s in sessions if s.sender), 120,
                         "every message receipted")
    except AssertionError as e:
        log(str(e))
    sent = {r: [] for r in rooms}
    for s in sessions:
        sent[s.room].extend(s.msgs)
    total = sum(len(v) for v in sent.values())
    ids = ",".join(map(str, rooms))

    def all_stored():
        rows = psql(a.pg_url, f"SELECT room_id, message_key FROM messages WHERE room_id IN ({ids})")
        have = {(int(r), k) for r, k in rows}
        return all((r, k) in have for r in rooms for k in sent[r] if k in acked)
    acked = set().union(*(s.acked for s in sessions))
    try:
        await wait_until(all_stored, 120, "every receipted message stored")
    except AssertionError as e:
        log(str(e))
    dups = psql(a.pg_url, f"SELECT message_key, count(*) FROM messages WHERE room_id IN ({ids}) "
                "GROUP BY message_key HAVING count(*) > 1")
    stored = {r: [] for r in rooms}
    for room, key in psql(a.pg_url, f"SELECT room_id, message_key FROM messages WHERE room_id "
                          f"IN ({ids}) ORDER BY room_id, kafka_offset"):
        stored[int(room)].append(key)
    not_stored = sum(len((set(sent[r]) & acked) - set(stored[r])) for r in rooms)
    strangers = sum(len(set(stored[r]) - set(sent[r])) for r in rooms)
    try:
        await wait_until(lambda: all(len(s.got) >= len(stored[s.room]) for s in sessions), 120,
                         "every stored message at every subscriber")
    except AssertionError as e:
        log(str(e))
    run.finished = True
    bad_subs = [s for s in sessions if [k for k, _ in s.got] != stored[s.room]]
    missing = sum(len(set(stored[s.room]) - {k for k, _ in s.got}) for s in sessions)
    dup_deliveries = sum(len(s.got) - len({k for k, _ in s.got}) for s in sessions)
    drained = [s for s in sessions if s.drains]
    unresumed = sum(1 for s in sessions for d in s.drains if d[3] is None)
    result.update({
        "messages": total, "receipted": sum(len(s.acked) for s in sessions),
        "stored": sum(len(v) for v in stored.values()), "stored_twice": len(dups),
        "not_stored": not_stored, "stored_unknown": strangers,
        "deliveries_expected": sum(len(stored[s.room]) for s in sessions),
        "deliveries": sum(len(s.got) for s in sessions), "deliveries_missing": missing,
        "deliveries_duplicate": dup_deliveries, "subscribers_wrong_order_or_gap": len(bad_subs),
        "sessions_drained": len(drained), "resumes": sum(len(s.drains) for s in sessions),
        "not_resumed": unresumed, "session_errors": sum(len(s.errors) for s in sessions),
        "unavailable_errors": sum(s.unavailable for s in sessions),
        "sends_retried_after_timeout": sum(s.retried for s in sessions),
        "max_recover_s": max(r["recover_s"] for r in result["per_node"]),
    })
    ok = (result["receipted"] == total and not dups and not not_stored and not strangers
          and not missing and not dup_deliveries and not bad_subs and not unresumed
          and not result["session_errors"] and len(drained) >= len(sessions) * (n - 1) // n)
    result["ok"] = ok
    if not ok:
        # Where each subscriber's missing messages sit (a hole in the middle: a lost
        # catch-up or live message; a missing tail: a stalled room) against its resumes.
        offsets = {}
        for room, key, off in psql(a.pg_url, f"SELECT room_id, message_key, kafka_offset FROM "
                                   f"messages WHERE room_id IN ({ids})"):
            offsets[key] = int(off)
        for s in bad_subs[:8]:
            have = {k for k, _ in s.got}
            # the third: seconds from the subscriber's first SUBSCRIBE RECEIPT to the
            # message's first SEND (negative: sent before this member subscribed)
            miss = [(i, offsets.get(k), round(run.sent_at[k] - s.t_subscribed, 2)
                     if k in run.sent_at and s.t_subscribed else None)
                    for i, k in enumerate(stored[s.room]) if k not in have]
            log(f"subscriber {s.idx} room {s.room}: {len(s.got)} of {len(stored[s.room])}; "
                f"missing (index, position, sent after subscribed s) {miss[:5]} of "
                f"{len(stored[s.room])}; positions "
                f"around: {[p for _, p in s.got[-4:]]}; resumed after "
                f"{[(d[0] + 1, round(d[1], 1), d[4] + 1 if d[4] is not None else None) for d in s.drains]}"
                f" (from node, at s, to node); errors {s.errors[:2]}")
    for t in tasks:
        t.cancel()
    for s in sessions:
        if s.ws:
            s.ws.close()
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", required=True)
    ap.add_argument("--nodes", required=True, help="http://host:port,... in node order")
    ap.add_argument("--rate", type=float, default=100, help="messages/s over all rooms")
    ap.add_argument("--restart", required=True, help="shell command; {i}: the node number")
    ap.add_argument("--pg-url", required=True)
    ap.add_argument("--ramp", type=float, default=10, help="seconds to open every session")
    ap.add_argument("--warmup", type=float, default=10)
    ap.add_argument("--avoid-ports", default="", help="port,...: never a local port of ours")
    ap.add_argument("--reconnect", choices=("random", "next"), default="random",
                    help="where a drained client goes: a random node up, or the next one")
    ap.add_argument("--settle", type=float, default=5, help="seconds between two nodes")
    a = ap.parse_args()
    Ws.AVOID = {int(p) for p in a.avoid_ports.split(",") if p}
    result = asyncio.run(main_async(a))
    print(json.dumps(result))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
