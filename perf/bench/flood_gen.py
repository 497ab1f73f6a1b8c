#!/usr/bin/env python3
"""Flood generators for perf/bench/floods.sh: one abusive workload against one
chat-node, run for a fixed time, then one JSON line on stdout with the rate it reached.

    flood_gen.py MODE --port PORT --duration S --tokens FILE [--room ROOM] [--rate N] ...

MODE (what a misbehaving client does; the node's answer is tested elsewhere, this only
loads it while floods.sh measures a good client):
  churn     --rate connections/s opened and dropped, alternately a WebSocket upgrade +
            STOMP CONNECT with a valid token (closed at CONNECTED) and a plain TCP
            connect/close
  send      one session sending --rate SENDs/s into its own room; the node answers
            RATE_LIMITED and closes it for sustained flooding, so it reconnects and goes on
  noread    one session subscribed --subs times to --room that never reads its socket
            (small receive buffer); when the node closes it (slow consumer) it reconnects
  bigframe  --rate WebSocket frames/s that each claim and carry 10 MB, after CONNECT;
            the node refuses them (stomp.max_frame_size) and closes; reconnect, go on
  halfopen  --conns connections held open that never send CONNECT (half upgraded to
            WebSocket, half plain TCP with no request); each is reopened when the node
            closes it (stomp.connect_timeout_ms, the HTTP request timeout)

The tokens file is chat-bench's sessions file format (`userId token roomId`); the flood
users are its lines. Standard library only; several processes (--workers) where one Python
process cannot reach the rate. Owns nothing beyond its sockets and child processes.
"""
import argparse
import base64
import json
import multiprocessing as mp
import os
import selectors
import socket
import struct
import sys
import time

TCP_CLOSE_WAIT = 8  # tcpi_state once the peer has sent FIN (linux/tcp_states.h)


def stomp(command, headers, body=""):
    head = "".join(f"{k}:{v}\n" for k, v in headers)
    return f"{command}\n{head}\n{body}\0".encode()


def ws_head(opcode, n, key):
    b0 = 0x80 | opcode
    if n < 126:
        return struct.pack("!BB", b0, 0x80 | n) + key
    if n < 65536:
        return struct.pack("!BBH", b0, 0x80 | 126, n) + key
    return struct.pack("!BBQ", b0, 0x80 | 127, n) + key


def ws_frame(payload, opcode=1):
    key = os.urandom(4)
    n = len(payload)
    stream = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")
    return ws_head(opcode, n, key) + masked


def upgrade_request(port):
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: v12.stomp\r\n\r\n").encode()


def read_until(s, marker, limit=65536):
    """Reads until `marker` is in what came; returns it all (b"" on EOF first)."""
    buf = b""
    while marker not in buf and len(buf) < limit:
        chunk = s.recv(65536)
        if not chunk:
            return buf
        buf += chunk
    return buf


def open_session(port, token, rcvbuf=0):
    """WebSocket upgrade + CONNECT; returns (socket, None) at CONNECTED or (None, why)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(5)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(upgrade_request(port))
        head = read_until(s, b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            s.close()
            return None, head.split(b"\r\n", 1)[0].decode(errors="replace") or "EOF"
        s.sendall(ws_frame(stomp("CONNECT", [("accept-version", "1.2"), ("host", "chat"),
                                             ("heart-beat", "0,0"),
                                             ("Authorization", f"Bearer {token}")])))
        got = read_until(s, b"\0")
        if b"CONNECTED" not in got:
            s.close()
            return None, "no CONNECTED"
        return s, None
    except OSError as e:
        s.close()
        return None, type(e).__name__


def paced(rate, duration):
    """Yields once per tick at `rate`/s until `duration` is over (no catching up beyond 1 s)."""
    start = time.monotonic()
    end, step, nxt = start + duration, 1.0 / rate, start
    while True:
        now = time.monotonic()
        if now >= end:
            return
        if nxt > now:
            time.sleep(min(nxt - now, end - now))
            continue
        nxt = max(nxt + step, now - 1.0)
        yield


def churn_worker(i, args, tokens, q):
    n = {"ws_connected": 0, "tcp_closed": 0, "refused": 0, "errors": 0}
    first = ""
    k = 0
    for _ in paced(args.rate / args.workers, args.duration):
        k += 1
        if k % 2:
            s, why = open_session(args.port, tokens[(i + k) % len(tokens)][1])
            if s:
                s.close()
                n["ws_connected"] += 1
            else:
                n["refused" if why.startswith("HTTP/1.1 503") else "errors"] += 1
                first = first or why
        else:
            try:
                socket.create_connection(("127.0.0.1", args.port), timeout=5).close()
                n["tcp_closed"] += 1
            except OSError as e:
                n["errors"] += 1
                first = first or type(e).__name__
    n["first_error"] = first
    q.put(n)


def bigframe_worker(i, args, tokens, q):
    size = 10 * 1024 * 1024
    key = os.urandom(4)
    body = (b"SEND\ndestination:/app/chat.send\n\n" + b"x" * size)[:size - 1] + b"\0"
    stream = (key * (size // 4 + 1))[:size]
    masked = (int.from_bytes(body, "big") ^ int.from_bytes(stream, "big")).to_bytes(size, "big")
    frame = ws_head(1, size, key) + masked
    n = {"frames": 0, "bytes_written": 0, "closed_by_node": 0, "sessions_refused": 0}
    k = 0
    for _ in paced(args.rate / args.workers, args.duration):
        k += 1
        s, _why = open_session(args.port, tokens[(i + k) % len(tokens)][1])
        if not s:
            n["sessions_refused"] += 1
            continue
        n["frames"] += 1
        view = memoryview(frame)
        try:
            while view:
                sent = s.send(view)
                n["bytes_written"] += sent
                view = view[sent:]
        except OSError:
            n["closed_by_node"] += 1
        s.close()
    q.put(n)


def in_processes(target, args, tokens):
    q = mp.Queue()
    procs = [mp.Process(target=target, args=(i, args, tokens, q)) for i in range(args.workers)]
    for p in procs:
        p.start()
    parts = [q.get() for _ in procs]
    for p in procs:
        p.join()
    total = {}
    for part in parts:
        for k, v in part.items():
            if isinstance(v, str):
                total[k] = total.get(k) or v
            else:
                total[k] = total.get(k, 0) + v
    return total


def churn(args, tokens):
    t = in_processes(churn_worker, args, tokens)
    t["achieved_per_s"] = round((t["ws_connected"] + t["tcp_closed"] + t["refused"]
                                 + t["errors"]) / args.duration, 1)
    return t


def bigframe(args, tokens):
    t = in_processes(bigframe_worker, args, tokens)
    t["achieved_per_s"] = round(t["frames"] / args.duration, 1)
    t["mb_written_per_s"] = round(t["bytes_written"] / args.duration / 1e6, 1)
    return t


def send(args, tokens):
    uid, token, room = tokens[0]
    n = {"sent": 0, "sessions": 0, "closed_by_node": 0, "rate_limited": 0, "sessions_refused": 0}
    frame = ws_frame(stomp("SEND", [("destination", "/app/chat.send"),
                                    ("content-type", "application/json")],
                           '{"roomId":%s,"content":"flood"}' % room))
    s = None
    for _ in paced(args.rate, args.duration):
        if s is None:
            s, _why = open_session(args.port, token)
            if s is None:
                n["sessions_refused"] += 1
                time.sleep(0.01)
                continue
            s.setblocking(False)
            n["sessions"] += 1
        try:
            s.send(frame)
            n["sent"] += 1
            while True:  # drain what the node answered (RATE_LIMITED errors, receipts)
                got = s.recv(65536)
                if not got:
                    raise ConnectionResetError
                n["rate_limited"] += got.count(b"RATE_LIMITED")
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            n["closed_by_node"] += 1
            s.close()
            s = None
    if s:
        s.close()
    n["achieved_per_s"] = round(n["sent"] / args.duration, 1)
    return n


def tcp_state(s):
    return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]


def noread(args, tokens):
    uid, token, _ = tokens[0]
    n = {"sessions": 0, "closed_by_node": 0, "reopened": 0, "sessions_refused": 0,
         "subs": args.subs}
    end = time.monotonic() + args.duration
    s = None
    while time.monotonic() < end:
        if s is None:
            s, _why = open_session(args.port, token, rcvbuf=4096)
            if s is None:
                n["sessions_refused"] += 1
                time.sleep(0.05)
                continue
            n["sessions"] += 1
            opened = time.monotonic()
            for j in range(args.subs):
                s.sendall(ws_frame(stomp("SUBSCRIBE", [("id", f"s{j}"),
                                                       ("destination", f"/topic/room.{args.room}")])))
        # Never recv. The node's close of a slow consumer cannot be seen from here (its FIN
        # waits behind the bytes we never read), so a fresh session every 5 s keeps the
        # flood on; floods.sh counts the node's slow-consumer closes.
        if tcp_state(s) == TCP_CLOSE_WAIT or time.monotonic() - opened > 5:
            n["closed_by_node" if tcp_state(s) == TCP_CLOSE_WAIT else "reopened"] += 1
            s.close()
            s = None
            continue
        time.sleep(0.05)
    if s:
        s.close()
    n["achieved_per_s"] = round(n["sessions"] / args.duration, 2)
    return n


def halfopen(args, tokens):
    sel = selectors.DefaultSelector()
    n = {"opened": 0, "closed_by_node": 0, "refused": 0, "held_min": args.conns}

    def one(k):
        try:
            s = socket.create_connection(("127.0.0.1", args.port), timeout=5)
            if k % 2:
                s.sendall(upgrade_request(args.port))
                if not read_until(s, b"\r\n\r\n").startswith(b"HTTP/1.1 101"):
                    n["refused"] += 1
                    s.close()
                    return
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
            n["opened"] += 1
        except OSError:
            n["refused"] += 1

    end = time.monotonic() + args.duration
    k = 0
    while time.monotonic() < end:
        held = len(sel.get_map())
        if time.monotonic() > end - args.duration + 2:
            n["held_min"] = min(n["held_min"], held)
        # Reopen what was closed, at most 100 at a time so accept_rate is not the story.
        for _ in range(min(args.conns - held, 100)):
            k += 1
            one(k)
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            try:
                gone = not s.recv(65536)
            except (BlockingIOError, InterruptedError):
                gone = False
            except OSError:
                gone = True
            if gone:
                sel.unregister(s)
                s.close()
                n["closed_by_node"] += 1
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    n["achieved_per_s"] = round(n["opened"] / args.duration, 1)
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["churn", "send", "noread", "bigframe", "halfopen"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--duration", type=float, required=True)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--room", type=int, default=0)
    ap.add_argument("--rate", type=float, default=1000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--subs", type=int, default=1)
    ap.add_argument("--conns", type=int, default=400)
    args = ap.parse_args()
    tokens = [line.split()[:3] for line in open(args.tokens) if line.strip()]
    if not tokens:
        sys.exit("flood_gen: no tokens")
    start = time.monotonic()
    out = globals()[args.mode](args, tokens)
    out["flood_s"] = round(time.monotonic() - start, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
