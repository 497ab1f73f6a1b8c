"""The edges of STOMP over WebSocket that other clients hit (docs/PROTOCOL.md,
"Subprotocols", "Heart-beats", "Close codes"): the subprotocol chosen from any offer
list (the highest version, whatever the order), STOMP 1.0 without header escaping,
HTTP answers to upgrades that cannot be served, heart-beat:0,0 honoured while dead
peers are still found by WebSocket PING, and the WebSocket close code of every kind
of end.

A node of its own (cnlib.Node) with short timers: heart-beat floor 1 s, PING after 2 s
without anything received and the close 2 s later, so every wait is short.
"""
import base64
import os
import socket
import sys
import time
import uuid

import pytest
import websocket

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
import stomp_session as ss  # noqa: E402
from stomp_session import frame  # noqa: E402

HB_MS = 1000
PING_S = 2
PONG_S = 2


@pytest.fixture(scope="module")
def node():
    n = cnlib.Node(overrides={
        "CHAT_STOMP_HEARTBEAT_MS": str(HB_MS),
        "CHAT_WS_PING_INTERVAL_S": str(PING_S),
        "CHAT_WS_PONG_TIMEOUT_S": str(PONG_S),
    })
    try:
        n.wait_healthy()
        yield n
        rc, _ = n.stop()
        assert rc == 0, n.output()[-4000:]
    finally:
        n.close()


@pytest.fixture(scope="module")
def alice(node):
    return ss.User(node.url, "edge")


def raw_upgrade(node, path="/ws", protocols=None):
    """Sends a WebSocket upgrade by hand; returns (socket, status, headers, body-so-far)."""
    s = socket.create_connection(("127.0.0.1", node.port), timeout=5 * cnlib.scale())
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{node.port}", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    if protocols is not None:
        lines.append(f"Sec-WebSocket-Protocol: {protocols}")
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        assert chunk, f"connection closed without an answer: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    headers = {}
    for line in head.decode().split("\r\n")[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return s, status, headers, rest


def read_body(s, headers, rest):
    n = int(headers.get("content-length", "0"))
    while len(rest) < n:
        chunk = s.recv(4096)
        if not chunk:
            break
        rest += chunk
    return rest[:n]


# --- subprotocols -----------------------------------------------------------------------

@pytest.mark.parametrize("offer,chosen", [
    (("v10.stomp", "v11.stomp", "v12.stomp"), "v12.stomp"),  # webstomp-client's order
    (("v12.stomp", "v11.stomp", "v10.stomp"), "v12.stomp"),
    (("v11.stomp", "v10.stomp"), "v11.stomp"),
    (("v10.stomp", "v11.stomp"), "v11.stomp"),
    (("mqtt", "v10.stomp"), "v10.stomp"),
    (None, None),
])
def test_the_highest_offered_subprotocol_is_chosen(node, alice, offer, chosen):
    c = ss.Client(node, subprotocols=offer)
    assert c.ws.getsubprotocol() == chosen
    cmd, h, _ = c.connect(alice.token, version="1.0,1.1,1.2")
    expect = {"v12.stomp": "1.2", "v11.stomp": "1.1", "v10.stomp": "1.0", None: "1.2"}[chosen]
    assert (cmd, h.get("version")) == ("CONNECTED", expect), h
    c.close()


def test_only_unsupported_subprotocols_get_400(node):
    for offer in ("mqtt", "v13.stomp, stomp", "V12.STOMP"):
        s, status, headers, rest = raw_upgrade(node, protocols=offer)
        body = read_body(s, headers, rest)
        s.close()
        assert status == 400, (offer, status, body)
        assert b"UNSUPPORTED_SUBPROTOCOL" in body and b"v12.stomp" in body, body


@pytest.mark.parametrize("path", ["/ws/", "/wsx", "/other"])
def test_upgrade_on_another_path_gets_404(node, path):
    s, status, headers, rest = raw_upgrade(node, path=path, protocols="v12.stomp")
    body = read_body(s, headers, rest)
    s.close()
    assert status == 404, (status, body)
    assert b"NOT_FOUND" in body and b"/ws" in body, body


def test_no_subprotocol_header_is_stomp_1_2(node):
    s, status, headers, _ = raw_upgrade(node)
    s.close()
    assert status == 101 and "sec-websocket-protocol" not in headers, headers


def test_stomp_1_0_has_no_header_escaping(node, alice):
    c = ss.Client(node, subprotocols=("v10.stomp",))
    assert c.ws.getsubprotocol() == "v10.stomp"
    # A 1.0 client sends no accept-version.
    c.send(frame("CONNECT", [("host", "chat"), ("Authorization", f"Bearer {alice.token}")]))
    cmd, h, _ = c.recv_frame()
    assert (cmd, h["version"]) == ("CONNECTED", "1.0"), h
    # Backslashes are plain bytes in 1.0 ("\q" is no escape at all in 1.2), both ways.
    c.send(frame("SUBSCRIBE", [("id", "a\\q"), ("destination", "/user/queue/errors"),
                               ("receipt", "r\\c1")]))
    cmd, h, _ = c.recv_frame()
    assert (cmd, h["receipt-id"]) == ("RECEIPT", "r\\c1"), h
    c.send(frame("SUBSCRIBE", [("id", "z"), ("destination", "/topic/room.999999999"),
                               ("receipt", "x:y")]))
    cmd, h, body = c.recv_frame()
    # The application error goes to the errors queue with the subscription id as sent.
    assert (cmd, h["subscription"], h["receipt-id"]) == ("MESSAGE", "a\\q", "x:y"), (h, body)
    c.close()
    # The same frames on 1.2 are escaped: "\q" is a protocol error there.
    c = ss.Client(node)
    assert c.connect(alice.token)[0] == "CONNECTED"
    c.send(frame("SUBSCRIBE", [("id", "a\\q"), ("destination", "/user/queue/errors")]))
    ss.expect_error_and_close(c, "undefined escape")
    assert c.close_code == 1002, (c.close_code, c.close_reason)


def test_v10_subprotocol_refuses_a_client_that_only_speaks_1_2(node, alice):
    c = ss.Client(node, subprotocols=("v10.stomp",))
    cmd, h, body = c.connect(alice.token, version="1.2")
    assert cmd == "ERROR" and "unsupported STOMP version" in h["message"], h
    assert b"v10.stomp" in body, body
    c.wait_closed(5)
    assert c.close_code == 1002


# --- heart-beats ---------------------------------------------------------------------------

def test_heartbeat_0_0_is_never_closed_for_silence(node, alice):
    c = ss.Client(node)
    cmd, h, _ = c.connect(alice.token, heart_beat="0,0")
    assert (cmd, h["heart-beat"]) == ("CONNECTED", "0,0"), h
    # Silent for well over twice the floor (and over the PING interval: the client
    # library answers the node's PINGs while it reads, as every WebSocket client does).
    quiet_until = time.monotonic() + 3 * HB_MS / 1000
    while time.monotonic() < quiet_until:
        with pytest.raises(TimeoutError):
            c.recv_frame(0.5)
    assert not c.closed and c.heartbeats == 0
    c.send(frame("SUBSCRIBE", [("id", "q"), ("destination", "/user/queue/errors"),
                               ("receipt", "alive")]))
    cmd, h, _ = c.recv_frame()
    assert (cmd, h["receipt-id"]) == ("RECEIPT", "alive")
    c.close()


def test_a_client_that_wants_heartbeats_gets_them_at_the_floor(node, alice):
    c = ss.Client(node)
    cmd, h, _ = c.connect(alice.token, heart_beat="0,200")
    assert (cmd, h["heart-beat"]) == ("CONNECTED", f"{HB_MS},0"), h
    stop = time.monotonic() + 2.5 * HB_MS / 1000
    while time.monotonic() < stop:
        try:
            c.recv_frame(0.3)
        except TimeoutError:
            pass
    assert not c.closed and 2 <= c.heartbeats <= 4, c.heartbeats
    c.close()


def test_a_dead_peer_that_declined_heartbeats_is_found_by_ping(node, alice):
    # A peer that reads nothing and answers no PING: the node pings it after PING_S
    # without anything received and closes it PONG_S later.
    s, status, _, rest = raw_upgrade(node, protocols="v12.stomp")
    assert status == 101
    payload = frame("CONNECT", [("accept-version", "1.2"), ("host", "chat"),
                                ("heart-beat", "0,0"),
                                ("Authorization", f"Bearer {alice.token}")]).encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    n = len(payload)
    head = bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big") if n >= 126 else \
        bytes([0x81, 0x80 | n])
    s.sendall(head + mask + masked)
    t0 = time.monotonic()
    data, pinged = rest, False
    s.settimeout(0.5)
    deadline = t0 + (PING_S + PONG_S + 4) * cnlib.scale()
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(4096)
        except socket.timeout:
            continue
        except OSError:
            break
        if not chunk:
            break
        data += chunk
        pinged = pinged or b"\x89" in data  # FIN + PING opcode (server frames are unmasked)
    took = time.monotonic() - t0
    s.close()
    assert b"CONNECTED" in data, data[:200]
    assert pinged, "the node sent no WebSocket PING"
    assert PING_S + PONG_S - 1 <= took <= (PING_S + PONG_S + 3) * cnlib.scale(), took


# --- close codes -----------------------------------------------------------------------------

def test_disconnect_receipt_then_close_1000(node, alice):
    c = ss.Client(node)
    assert c.connect(alice.token)[0] == "CONNECTED"
    c.send(frame("DISCONNECT", [("receipt", "bye-1")]))
    cmd, h, _ = c.recv_frame()
    assert (cmd, h["receipt-id"]) == ("RECEIPT", "bye-1")
    c.wait_closed(5)
    assert c.close_code == 1000, (c.close_code, c.close_reason)


@pytest.mark.parametrize("case", ["bad token", "no token"])
def test_auth_failure_is_error_with_body_then_close_1008(node, alice, case):
    c = ss.Client(node)
    cmd, h, body = c.connect("abc.def.ghi" if case == "bad token" else None)
    assert cmd == "ERROR" and h["message"].startswith("authentication"), h
    assert h.get("content-type") == "text/plain" and body.startswith(b"authentication"), body
    assert b"\\c" not in body, "the body is plain text, never escaped"
    assert "\\c" not in h["message"], "no version is agreed yet: the header is not escaped"
    c.wait_closed(5)
    assert c.close_code == 1008, (c.close_code, c.close_reason)


@pytest.mark.parametrize("raw,code", [
    ("BOGUS\n\n\0", 1002),
    ("SEND\ndestination:/app/x\ncontent-length:zz\n\n\0", 1002),
])
def test_protocol_errors_close_1002(node, alice, raw, code):
    c = ss.Client(node)
    assert c.connect(alice.token)[0] == "CONNECTED"
    c.send(raw)
    cmd, h, body = c.recv_frame()
    assert cmd == "ERROR" and body, (h, body)
    c.wait_closed(5)
    assert c.close_code == code, (c.close_code, c.close_reason)


def test_too_big_frame_closes_1009(node, alice):
    c = ss.Client(node)
    assert c.connect(alice.token)[0] == "CONNECTED"
    c.send(frame("SEND", [("destination", "/app/x")], "x" * (1 << 20)))
    cmd, h, _ = c.recv_frame()
    assert cmd == "ERROR" and "frame too large" in h["message"], h
    c.wait_closed(5)
    assert c.close_code == 1009, (c.close_code, c.close_reason)


def test_connect_timeout_closes_with_a_close_frame(node):
    c = ss.Client(node)
    c.wait_closed(15)
    assert c.frames_before_close and c.frames_before_close[0][0] == "ERROR"
    assert c.close_code == 1002, (c.close_code, c.close_reason)


def test_a_session_over_the_per_user_limit_is_closed_1013(node):
    user = ss.User(node.url, "lim")
    clients = []
    try:
        code = None
        for _ in range(64):  # limits.sessions_per_user is far below this
            c = ss.Client(node)
            clients.append(c)
            cmd, h, _ = c.connect(user.token)
            if cmd == "ERROR":
                assert "sessions_per_user" in h["message"], h
                c.wait_closed(5)
                code = c.close_code
                break
            c.keep_alive()
        assert code == 1013, code
    finally:
        for c in clients:
            c.close()


def test_node_stop_closes_sessions_1001(alice):
    n = cnlib.Node(overrides={"CHAT_STOMP_HEARTBEAT_MS": str(HB_MS)})
    try:
        n.wait_healthy()
        user = ss.User(n.url, "stop")
        c = ss.Client(n)
        assert c.connect(user.token)[0] == "CONNECTED"
        rc, _ = n.stop()
        assert rc == 0
        c.wait_closed(10)
        assert c.close_code in (1001, 1012), (c.close_code, c.close_reason)
    finally:
        n.close()


def test_wrong_message_header_is_never_unescaped_text_in_the_body(node):
    """ERRORs before CONNECTED (here: no CONNECT at all, a frame instead) explain
    themselves in the body."""
    c = ss.Client(node)
    c.send(frame("SUBSCRIBE", [("id", uuid.uuid4().hex), ("destination", "/user/queue/errors")]))
    cmd, h, body = c.recv_frame()
    assert cmd == "ERROR" and "expected CONNECT" in h["message"], h
    assert body.decode() == "expected CONNECT or STOMP first", body
    c.wait_closed(5)
    assert c.close_code == 1002


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
