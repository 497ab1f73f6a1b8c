"""A WebSocket-level fuzzer against a live chat-node (issue 8): for a bounded time,
several processes open real sockets and send random and mutated input at every layer:
HTTP upgrade requests, WebSocket framing (opcodes, RSV bits, masks, lengths,
fragmentation, control frames), and STOMP frames mutated from valid ones (CONNECT with
a good token, SUBSCRIBE, SEND). Meanwhile a well-behaved client keeps chatting in a
room. The test asserts what a user would see: the node stays up and healthy, the
well-behaved client gets a RECEIPT for every SEND and every one of its messages, in
order, within a bound; after the fuzzer's sockets are gone the node's descriptor count
returns to its baseline; and the node stops cleanly (exit 0, so no sanitizer report).

CN_WS_FUZZ_SECONDS (default 20) sets the fuzzing time; CN_WS_FUZZ_SEED replays a run
(the seed is printed).
"""
import base64
import os
import random
import socket
import subprocess
import struct
import sys
import multiprocessing as mp
import time

import pytest
import requests

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
from stomp_session import User, connected, frame  # noqa: E402

SECONDS = float(os.environ.get("CN_WS_FUZZ_SECONDS", "20"))
SEED = int(os.environ.get("CN_WS_FUZZ_SEED", str(random.randrange(1 << 30))))
FUZZERS = 3


@pytest.fixture(scope="module")
def node():
    # No consumer groups on the fuzzed node: under the fuzz an ASan node's group
    # memberships churned in CI (rebalances every few seconds, each holding every room's
    # broadcast for 6-10 s), which measured Kafka's group protocol, not the sessions.
    # Its subscribers get their rooms from the stack's nodes through Redis.
    n = cnlib.Node(overrides={"CHAT_STOMP_CONNECT_TIMEOUT_MS": "2000",
                              "CHAT_PERSIST_ENABLED": "false",
                              "CHAT_RECEIPTS_ENABLED": "false",
                              "CHAT_FANOUT_BROADCAST_ENABLED": "false"})
    try:
        n.wait_healthy()
        yield n
        rc, _ = n.stop()
        assert rc == 0, n.output()[-4000:]
    finally:
        n.close()


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def fd_kinds(pid):
    kinds = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        kind = target.split(":")[0] if ":" in target else "file"
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def ws_frame(rng, opcode, payload, fin=True, rsv=0, mask=True, claim=None):
    """One client frame; `claim` overrides the length field (a lie)."""
    b0 = (0x80 if fin else 0) | (rsv << 4) | (opcode & 0x0F)
    n = len(payload) if claim is None else claim
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = rng.randbytes(4)
    n = len(payload)
    stream = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")
    return head + key + masked


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(6)
        i = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[i % len(data)] ^= 1 << rng.randrange(8)
        elif op == 1:
            data[i:i] = rng.randbytes(rng.randint(1, 16))
        elif op == 2:
            del data[i:i + rng.randint(1, 16)]
        elif op == 3:
            data[i:i] = rng.choice([b"\0", b"\n", b"\r\n", b":", b"\\", b"\\x", b"\xff\xfe",
                                    b"content-length:99999999\n", b"\n\n", b"A" * 5000])
        elif op == 4:
            data = data[:i]
        else:
            data += data[:rng.randint(0, len(data))]
    return bytes(data)


def stomp_templates(token, room):
    return [
        frame("CONNECT", [("accept-version", "1.2"), ("host", "chat"),
                          ("Authorization", f"Bearer {token}")]).encode(),
        frame("SUBSCRIBE", [("id", "s"), ("destination", f"/topic/room.{room}"),
                            ("receipt", "r1")]).encode(),
        frame("SEND", [("destination", "/app/chat.send"), ("content-type", "application/json")],
              '{"roomId":%d,"content":"fuzz"}' % room).encode(),
        frame("SEND", [("destination", "/app/chat.read")], '{"roomId":%d,"messageId":1}' % room)
        .encode(),
        frame("UNSUBSCRIBE", [("id", "s")]).encode(),
        frame("DISCONNECT", [("receipt", "bye")]).encode(),
        b"\n\n\r\n",
    ]


def handshake(rng, port):
    key = base64.b64encode(rng.randbytes(16)).decode()
    good = (f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: v12.stomp\r\n\r\n").encode()
    roll = rng.random()
    if roll < 0.8:
        return good, True
    if roll < 0.9:
        return mutate(rng, good), False
    return rng.randbytes(rng.randint(1, 3000)), False


def one_connection(rng, port, templates, stop):
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    try:
        req, upgraded = handshake(rng, port)
        s.sendall(req)
        if not upgraded or rng.random() < 0.05:
            return  # garbage, or an upgrade and then nothing: closed by us
        try:
            s.recv(4096)  # the 101 (or whatever came back)
        except OSError:
            return
        s.setblocking(False)
        for _ in range(rng.randint(1, 40)):
            if stop.is_set():
                return
            kind = rng.random()
            if kind < 0.45:
                data = mutate(rng, rng.choice(templates)) if rng.random() < 0.7 \
                    else rng.choice(templates)
                out = ws_frame(rng, rng.choice([1, 1, 1, 2, 0]), data,
                               fin=rng.random() < 0.9)
            elif kind < 0.6:
                out = ws_frame(rng, rng.randrange(16), rng.randbytes(rng.randint(0, 300)),
                               fin=rng.random() < 0.7, rsv=rng.randrange(8) if rng.random() < 0.2
                               else 0)
            elif kind < 0.7:  # control frames: ping/pong/close, some oversized
                out = ws_frame(rng, rng.choice([8, 9, 10]),
                               rng.randbytes(rng.choice([0, 2, 125, 126, 200])))
            elif kind < 0.75:  # unmasked client frame (a protocol violation)
                out = ws_frame(rng, 1, rng.choice(templates), mask=False)
            elif kind < 0.8:  # a length that lies (huge, or longer than what follows)
                out = ws_frame(rng, 1, rng.randbytes(rng.randint(0, 64)),
                               claim=rng.choice([200, 70000, 1 << 40, (1 << 63) - 1]))
            elif kind < 0.85:  # invalid UTF-8 in a text frame
                out = ws_frame(rng, 1, b"SEND\ndestination:/app/chat.send\n\n\xc3\x28\xf0\x28\0")
            elif kind < 0.9:  # a large frame, near and over the STOMP frame limit
                out = ws_frame(rng, 1, b"SEND\ndestination:/app/chat.send\n\n"
                               + b"x" * rng.choice([60000, 70000, 300000]) + b"\0")
            else:
                out = rng.randbytes(rng.randint(1, 200))
            try:
                s.sendall(out) if len(out) < 65536 else s.send(out[:65536])
            except (BlockingIOError, OSError):
                return
            try:
                while s.recv(65536):
                    pass
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                return
    finally:
        s.close()


def fuzzer(seed, port, templates, stop, conns, refused):
    rng = random.Random(seed)
    while not stop.is_set():
        try:
            one_connection(rng, port, templates, stop)
            with conns.get_lock():
                conns.value += 1
        except OSError:
            with refused.get_lock():
                refused.value += 1


def round_trip(good, room, content, receipt):
    """SEND, then wait for its RECEIPT and its MESSAGE; returns the MESSAGE body."""
    good.send(frame("SEND", [("destination", "/app/chat.send"), ("receipt", receipt),
                             ("content-type", "application/json")],
                    '{"roomId":%d,"content":"%s"}' % (room, content)))
    receipted, mine = False, None
    t0 = time.monotonic()
    while not receipted or mine is None:
        cmd, h, body = good.recv_frame(10)
        if cmd == "RECEIPT":
            assert h["receipt-id"] == receipt, h
            receipted = True
            good.receipt_s = time.monotonic() - t0
        elif cmd == "MESSAGE" and b'"content":"%s"' % content.encode() in body:
            mine = body
            good.message_s = time.monotonic() - t0
        else:
            assert cmd == "MESSAGE", (cmd, h, body)  # others' messages (the fuzzer's)
    return mine


def test_fuzzed_node_stays_up_and_a_good_client_is_unaffected(node):
    print(f"ws_fuzz seed {SEED} ({SECONDS}s); replay with CN_WS_FUZZ_SEED={SEED}")
    alice, bob = User(node.url, "alice"), User(node.url, "bob")
    room = alice.group_room(node.url)
    pid = node.proc.pid
    # bob (the fuzzer's token) is a member too, so mutated frames reach the SEND path.
    r = requests.post(f"{node.url}/api/rooms/{room}/join",
                      headers={"Authorization": f"Bearer {bob.token}"})
    assert r.status_code in (200, 201), r.text
    # The stack's nodes own every partition (earlier tests' nodes may have just left).
    cnlib.wait_groups_settled([], 60 * cnlib.scale())
    good = connected(node, alice)
    good.send(frame("SUBSCRIBE", [("id", "r"), ("destination", f"/topic/room.{room}"),
                                  ("receipt", "sub")]))
    cmd, h, _ = good.recv_frame(5)
    assert (cmd, h.get("receipt-id")) == ("RECEIPT", "sub"), (cmd, h)
    round_trip(good, room, "warm-up", "w")  # membership and nickname are cached now
    baseline, baseline_kinds = fd_count(pid), fd_kinds(pid)

    # Processes, not threads: the fuzzers' CPU must not hold the good client's GIL, or
    # its round trips would measure this test rather than the node.
    stop = mp.Event()
    conns, refused = mp.Value("l", 0), mp.Value("l", 0)
    templates = stomp_templates(bob.token, room)
    procs = [mp.Process(target=fuzzer, args=(SEED + i, node.port, templates, stop, conns,
                                             refused), daemon=True)
             for i in range(FUZZERS)]
    for p in procs:
        p.start()

    # The well-behaved client: a SEND every 250 ms (under the 10/s limit), each answered
    # by its RECEIPT and its MESSAGE, in order.
    sent, got, worst = 0, [], 0.0
    t_end = time.monotonic() + SECONDS
    while time.monotonic() < t_end:
        t0 = time.monotonic()
        got.append(round_trip(good, room, f"good {sent}", f"g{sent}"))
        sent += 1
        rtt = time.monotonic() - t0
        worst = max(worst, rtt)
        if rtt > 0.5:
            print(f"slow round trip {sent - 1}: {rtt * 1000:.0f} ms (RECEIPT after "
                  f"{good.receipt_s * 1000:.0f} ms, MESSAGE after {good.message_s * 1000:.0f} ms)"
                  f" at {time.strftime('%H:%M:%S')}")
        time.sleep(max(0.0, 0.25 - (time.monotonic() - t0)))
    stop.set()
    for p in procs:
        p.join(30)
    counts = {"conns": conns.value, "refused": refused.value}
    print(f"fuzz connections: {counts}; good client: {sent} sends, worst round trip "
          f"{worst * 1000:.0f} ms")

    assert counts["conns"] > 100, counts  # the fuzzer really ran
    assert node.proc.poll() is None, node.output()[-4000:]
    assert node.healthz()[0] == 200
    assert [b.split(b'"content":"')[1].split(b'"')[0] for b in got] == \
        [f"good {i}".encode() for i in range(sent)]
    assert worst < 5 * cnlib.scale(), worst
    # Every fuzzer connection is gone from the node: no socket of its port but the
    # listeners and the good client's (TIME-WAIT / FIN-WAIT-2 hold no descriptor), and the
    # descriptor count is back near its baseline (the PostgreSQL pool may have grown).
    def client_sockets():
        out = subprocess.run(["ss", "-tanH", "state", "established", "state", "close-wait",
                              "state", "syn-recv", f"sport = :{node.port}"],
                             capture_output=True, text=True).stdout
        return len(out.splitlines())

    try:
        cnlib.wait_until(lambda: client_sockets() <= 1 and fd_count(pid) <= baseline + 8,
                         10 * cnlib.scale(), what="the fuzzer's connections closed")
    except AssertionError:
        raise AssertionError(f"{client_sockets()} client connections left; "
                             f"{fd_count(pid)} descriptors against a baseline of {baseline} "
                             f"(by kind {fd_kinds(pid)}, at the baseline {baseline_kinds})")
    good.close()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-s", "-p", "no:cacheprovider"]))
