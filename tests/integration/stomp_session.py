"""STOMP 1.2 over WebSocket at /ws: transport and session lifecycle (issue 5, issue 9's
heart-beat floor). Frames are written by hand over python3-websocket so that malformed
input can be sent; tests/e2e/stomp proves a real third-party client (@stomp/stompjs)
works too.

The tests run against a node of their own (cnlib.Node) with short timers: heart-beat
floor 1 s, connect timeout 1.5 s, outbound queue 64 KiB, so every wait is short and
bounded. Users and rooms come from the REST API of that node.
"""
import base64
import configparser
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
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

# python3-websocket refuses close codes it does not list (1012 and 1013 among them,
# which the node sends for drain and limits): accept the whole registered range.
websocket.ABNF._is_valid_close_status = staticmethod(lambda code: 1000 <= code < 5000)

HB_MS = 1000
CONNECT_TIMEOUT_MS = 1500
MAX_OUTBOUND = 65536
E2E_DIR = os.path.join(os.path.dirname(__file__), "..", "e2e", "stomp")


def secret():
    cp = configparser.ConfigParser()
    cp.read(cnlib.need("CN_TEST_CONFIG"))
    return cp["auth"]["jwt_secret"].encode()


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token_names():
    """The stack's (iss, aud): [auth] issuer and audience, "chat-node" by default."""
    cp = configparser.ConfigParser()
    cp.read(cnlib.need("CN_TEST_CONFIG"))
    auth = cp["auth"] if cp.has_section("auth") else {}
    return auth.get("issuer", "chat-node"), auth.get("audience", "chat-node")


def forge_token(user_id, iat, exp, key=None, **extra):
    """A token as the node issues it (iss, aud, sub, iat, exp, jti), signed with key (the
    stack's secret by default); extra claims replace or add (iss="other", ...)."""
    iss, aud = token_names()
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"iss": iss, "aud": aud, "sub": str(user_id), "iat": iat, "exp": exp,
              "jti": str(uuid.uuid4())}
    claims.update(extra)
    payload = b64(json.dumps({k: v for k, v in claims.items() if v is not None}).encode())
    signing = f"{header}.{payload}"
    sig = hmac.new(key or secret(), signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{b64(sig)}"


@pytest.fixture(scope="module")
def node():
    n = cnlib.Node(overrides={
        "CHAT_STOMP_HEARTBEAT_MS": str(HB_MS),
        "CHAT_STOMP_CONNECT_TIMEOUT_MS": str(CONNECT_TIMEOUT_MS),
        "CHAT_STOMP_MAX_OUTBOUND_BYTES": str(MAX_OUTBOUND),
    })
    try:
        n.wait_healthy()
        yield n
        rc, _ = n.stop()
        assert rc == 0, n.output()[-4000:]
    finally:
        n.close()


class User:
    """A user signed up and logged in on base. Nicknames are unique case-insensitively, so
    the one asked for gets a random suffix: compare with .nickname."""

    def __init__(self, base, nickname="ws"):
        email = f"ws-{uuid.uuid4().hex[:12]}@example.com"
        password = "tr0ub4dor-" + uuid.uuid4().hex[:12]
        nickname = f"{nickname}-{uuid.uuid4().hex[:8]}"
        r = requests.post(f"{base}/api/auth/signup",
                          json={"email": email, "password": password, "nickname": nickname})
        assert r.status_code == 201, r.text
        self.id = r.json()["id"]
        self.nickname = r.json()["nickname"]
        self.email, self.password = email, password
        r = requests.post(f"{base}/api/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        self.token = r.json()["accessToken"]
        self.refresh_token = r.json()["refreshToken"]

    def group_room(self, base, visibility="public"):
        # Public by default: the tests that use it let others join with POST /join.
        r = requests.post(f"{base}/api/rooms/group",
                          json={"name": "ws room", "memberIds": [], "visibility": visibility},
                          headers={"Authorization": f"Bearer {self.token}"})
        assert r.status_code in (200, 201), r.text
        return r.json()["id"]


@pytest.fixture(scope="module")
def alice(node):
    return User(node.url, "alice")


@pytest.fixture(scope="module")
def bob(node):
    return User(node.url, "bob")


def ws_url(node, path="/ws"):
    return node.url.replace("http://", "ws://") + path


def frame(command, headers=(), body=""):
    """A client frame; headers is a list of (name, value) already escaped."""
    lines = [command] + [f"{k}:{v}" for k, v in headers]
    return "\n".join(lines) + "\n\n" + body + "\0"


class Closed(Exception):
    pass


class Client:
    """STOMP over one WebSocket, frames by hand. recv_frame skips heart-beats (counted)."""

    def __init__(self, node, subprotocols=("v12.stomp", "v11.stomp"), sockopt=None):
        kw = {"timeout": 5 * cnlib.scale(), "enable_multithread": True}
        if subprotocols:
            kw["subprotocols"] = list(subprotocols)
        if sockopt:
            kw["sockopt"] = sockopt
        self.ws = websocket.create_connection(ws_url(node), **kw)
        self.buf = b""
        self.heartbeats = 0
        self.closed = False
        self.close_code = None  # the server's WebSocket close frame: code and reason
        self.close_reason = None

    def send(self, data):
        self.ws.send(data)

    def keep_alive(self, every=0.3):
        """Sends a heart-beat EOL every `every` seconds until closed, so a session that
        waits on something else is not closed for silence (the floor is 1 s here)."""
        def run():
            while not self.closed:
                try:
                    self.ws.send("\n")
                except Exception:
                    return
                time.sleep(every)
        threading.Thread(target=run, daemon=True).start()
        return self

    def connect(self, token, extra=(), command="CONNECT", version="1.2", heart_beat="0,0"):
        headers = [("accept-version", version), ("host", "chat"), ("heart-beat", heart_beat)]
        if token is not None:
            headers.append(("Authorization", f"Bearer {token}"))
        self.send(frame(command, headers + list(extra)))
        return self.recv_frame()

    def _fill(self, deadline):
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no frame before the deadline")
            self.ws.settimeout(left)
            try:
                op, data = self.ws.recv_data(control_frame=False)
            except websocket.WebSocketTimeoutException:
                raise TimeoutError("no frame before the deadline")
            except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError):
                self.closed = True
                raise Closed()
            if op == websocket.ABNF.OPCODE_CLOSE:
                self.closed = True
                if len(data) >= 2:
                    self.close_code = int.from_bytes(data[:2], "big")
                    self.close_reason = data[2:].decode(errors="replace")
                raise Closed()
            self.buf += data
            return

    def recv_frame(self, timeout=5):
        """(command, headers (first wins), body bytes)."""
        deadline = time.monotonic() + timeout * cnlib.scale()
        while True:
            while self.buf[:1] in (b"\n", b"\r"):
                if self.buf[:1] == b"\n":
                    self.heartbeats += 1
                self.buf = self.buf[1:]
            end = self.buf.find(b"\n\n")
            if end >= 0:
                head = self.buf[:end].decode().split("\n")
                headers = {}
                for line in head[1:]:
                    k, _, v = line.partition(":")
                    headers.setdefault(k, v)
                start = end + 2
                if "content-length" in headers:
                    n = int(headers["content-length"])
                    if len(self.buf) >= start + n + 1:
                        body = self.buf[start:start + n]
                        assert self.buf[start + n:start + n + 1] == b"\0"
                        self.buf = self.buf[start + n + 1:]
                        return head[0], headers, body
                else:
                    nul = self.buf.find(b"\0", start)
                    if nul >= 0:
                        body = self.buf[start:nul]
                        self.buf = self.buf[nul + 1:]
                        return head[0], headers, body
            self._fill(deadline)

    def wait_closed(self, timeout):
        """Reads (and keeps counting heart-beats) until the server closes; returns the
        seconds it took. Fails at the deadline."""
        t0 = time.monotonic()
        deadline = t0 + timeout * cnlib.scale()
        frames = []
        try:
            while True:
                frames.append(self.recv_frame(max(0.01, deadline - time.monotonic())))
        except Closed:
            self.frames_before_close = frames
            return time.monotonic() - t0
        except TimeoutError:
            raise AssertionError(f"connection still open after {timeout}s (frames: {frames})")

    def close(self):
        self.closed = True
        try:
            self.ws.close()
        except Exception:
            pass


def connected(node, user, **kw):
    c = Client(node)
    cmd, h, _ = c.connect(user.token, **kw)
    assert cmd == "CONNECTED", (cmd, h)
    return c


def expect_error_and_close(c, text, receipt=None, timeout=5):
    cmd, h, body = c.recv_frame(timeout)
    assert cmd == "ERROR", (cmd, h, body)
    assert text in h["message"], h
    if receipt is not None:
        assert h.get("receipt-id") == receipt, h
    c.wait_closed(5)
    return h, body


def metric(node, name, labels=""):
    text = cnlib.metrics_text(node.url)
    m = re.search(rf"^{re.escape(name + labels)} ([0-9.e+]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def assert_healthy_and_responsive(node, other):
    assert requests.get(node.url + "/healthz").status_code == 200
    rid = f"alive-{uuid.uuid4().hex[:6]}"
    other.send(frame("SUBSCRIBE", [("id", rid), ("destination", "/user/queue/errors"),
                                   ("receipt", rid)]))
    cmd, h, _ = other.recv_frame(3)
    assert (cmd, h.get("receipt-id")) == ("RECEIPT", rid)


# --- CONNECT ---------------------------------------------------------------------------

def test_connect_ok_reports_version_heartbeat_server_session(node, alice):
    c = Client(node)
    assert c.ws.getsubprotocol() == "v12.stomp"
    cmd, h, _ = c.connect(alice.token)
    assert cmd == "CONNECTED"
    assert h["version"] == "1.2"
    assert h["heart-beat"] == "0,0", "heart-beat:0,0 declined both directions"
    assert re.fullmatch(r"chat-node/\d+\.\d+\.\d+.*", h["server"]), h
    assert h["session"] and h["user-name"] == str(alice.id)
    c.close()


def test_stomp_command_passcode_token_v11_and_no_subprotocol(node, alice):
    c = Client(node, subprotocols=("v11.stomp",))
    assert c.ws.getsubprotocol() == "v11.stomp"
    cmd, h, _ = c.connect(None, command="STOMP", version="1.1",
                          extra=[("login", "x"), ("passcode", alice.token)])
    assert (cmd, h["version"]) == ("CONNECTED", "1.1"), h
    c.close()
    c = Client(node, subprotocols=None)
    cmd, h, _ = c.connect(alice.token, version="1.0,1.1,1.2")
    assert (cmd, h["version"]) == ("CONNECTED", "1.2")
    c.close()


def test_upgrade_elsewhere_than_ws_is_refused(node):
    with pytest.raises(websocket.WebSocketException):
        websocket.create_connection(ws_url(node, "/other"), timeout=5)


@pytest.mark.parametrize("case", ["no token", "bad token", "expired token", "wrong key",
                                  "not bearer", "no version"])
def test_connect_refusals_are_error_then_close(node, alice, case):
    before = metric(node, "chat_stomp_disconnects_total", '{reason="auth_failed"}')
    c = Client(node)
    now = int(time.time())
    token, extra, version, text = alice.token, [], "1.2", "authentication failed"
    if case == "no token":
        token, text = None, "authentication required"
    elif case == "bad token":
        token = "abc.def.ghi"
    elif case == "expired token":
        token, text = forge_token(alice.id, now - 7200, now - 3600), "token expired"
    elif case == "wrong key":
        token = forge_token(alice.id, now, now + 600, key=b"k" * 40)
    elif case == "not bearer":
        token, extra = None, [("Authorization", f"Basic {alice.token}")]
    elif case == "no version":
        version, text = "2.0,1.3", "unsupported STOMP version"
    if case == "expired token":
        # The same forged token, unexpired, is accepted: the refusal above is the expiry.
        ok = Client(node)
        cmd, _, _ = ok.connect(forge_token(alice.id, now, now + 600))
        assert cmd == "CONNECTED"
        ok.close()
    headers = [("accept-version", version), ("host", "chat")] + extra
    if token is not None:
        headers.append(("Authorization", f"Bearer {token}"))
    c.send(frame("CONNECT", headers))
    expect_error_and_close(c, text)
    if case != "no version":
        cnlib.wait_until(lambda: metric(node, "chat_stomp_disconnects_total",
                                        '{reason="auth_failed"}') > before, 5,
                         what="auth_failed counted")


# --- heart-beats and timeouts ------------------------------------------------------------

def test_heartbeat_floor_applies_to_a_client_that_asks_and_a_silent_one_is_closed(node, alice):
    # The client offers heart-beats every 200 ms (below the node's floor) and wants
    # none: it must send at the floor, and is closed for silence past twice that.
    c = Client(node)
    cmd, h, _ = c.connect(alice.token, heart_beat="200,0")
    assert cmd == "CONNECTED" and h["heart-beat"] == f"0,{HB_MS}", h
    t = c.wait_closed(10)
    # Closed for silence after more than 2x the floor, and well before 4x.
    assert 2 * HB_MS / 1000 - 0.2 <= t <= 4 * HB_MS / 1000 * cnlib.scale(), t
    assert c.heartbeats == 0, "a client that wants no heart-beats gets none"
    errors = [f for f in c.frames_before_close if f[0] == "ERROR"]
    assert errors and "heart-beat timeout" in errors[0][1]["message"], c.frames_before_close
    assert b"heart-beat timeout" in errors[0][2], "the ERROR body explains it too"
    assert c.close_code == 1002, (c.close_code, c.close_reason)
    cnlib.wait_until(lambda: metric(node, "chat_stomp_disconnects_total",
                                    '{reason="heartbeat_timeout"}') >= 1, 5, what="counted")


def test_client_heartbeats_keep_the_session_and_server_sends_at_negotiated_rate(node, alice):
    # The client offers to send every 300 ms and wants the server's every 200 ms:
    # client->server runs at max(300, 1000), server->client at max(1000, 200).
    c = connected(node, alice, heart_beat="300,200")
    stop = time.monotonic() + 3.5
    while time.monotonic() < stop:
        c.send("\n")
        try:
            c.recv_frame(0.3)
        except TimeoutError:
            pass
    assert not c.closed
    assert 2 <= c.heartbeats <= 5, c.heartbeats
    rid = "still-there"
    c.send(frame("SUBSCRIBE", [("id", "q"), ("destination", "/user/queue/errors"),
                               ("receipt", rid)]))
    cmd, h, _ = c.recv_frame()
    assert (cmd, h["receipt-id"]) == ("RECEIPT", rid)
    c.close()


def test_no_connect_is_closed_after_the_connect_timeout(node):
    c = Client(node)
    t = c.wait_closed(10)
    assert CONNECT_TIMEOUT_MS / 1000 - 0.2 <= t <= 3 * CONNECT_TIMEOUT_MS / 1000 * cnlib.scale(), t
    assert c.frames_before_close and "no CONNECT" in c.frames_before_close[0][1]["message"]


# --- framing and limits ----------------------------------------------------------------

def test_frame_split_across_messages_and_several_frames_in_one(node, alice):
    c = Client(node)
    raw = frame("CONNECT", [("accept-version", "1.2"), ("host", "x"),
                            ("Authorization", f"Bearer {alice.token}")])
    for i in range(0, len(raw), 7):  # the CONNECT itself in 7-byte pieces
        c.send(raw[i:i + 7])
    assert c.recv_frame()[0] == "CONNECTED"
    sub = frame("SUBSCRIBE", [("id", "s1"), ("destination", "/user/queue/errors"),
                              ("receipt", "r1")])
    c.send(sub[:20])
    c.send(sub[20:])
    assert c.recv_frame()[1]["receipt-id"] == "r1"
    c.send(frame("SUBSCRIBE", [("id", "s2"), ("destination", "/user/queue/errors"),
                               ("receipt", "r2")]) + "\n\n" +
           frame("UNSUBSCRIBE", [("id", "s2"), ("receipt", "r3")]) +
           frame("UNSUBSCRIBE", [("id", "s1"), ("receipt", "r4")]))
    assert [c.recv_frame()[1]["receipt-id"] for _ in range(3)] == ["r2", "r3", "r4"]
    c.close()


def test_oversized_frame_is_error_naming_the_limit_and_others_are_unaffected(node, alice, bob):
    other = connected(node, bob).keep_alive()
    c = connected(node, alice)
    c.send(frame("SEND", [("destination", "/app/chat.send")], "x" * (65 * 1024)))
    expect_error_and_close(c, "frame too large (frame-size limit)")
    assert_healthy_and_responsive(node, other)
    other.close()


@pytest.mark.parametrize("raw,text", [
    (frame("SUBSCRIBE", [("id", "a\\tb"), ("destination", "/user/queue/errors")]),
     "undefined escape sequence in header"),
    (frame("FLY", []), "unknown command"),
    (frame("SUBSCRIBE", [("destination", "/user/queue/errors")]),
     "SUBSCRIBE needs id and destination"),
    (frame("UNSUBSCRIBE", [("id", "nope"), ("receipt", "u1")]), "no subscription with this id"),
    (frame("CONNECT", [("accept-version", "1.2")]), "already connected"),
    (frame("BEGIN", [("transaction", "t")]), "transactions are not supported"),
])
def test_protocol_errors_are_error_then_close(node, alice, raw, text):
    c = connected(node, alice)
    c.send(raw)
    expect_error_and_close(c, text, receipt="u1" if "u1" in raw else None)


def test_frame_before_connect_and_duplicate_subscription(node, alice):
    c = Client(node)
    c.send(frame("SUBSCRIBE", [("id", "1"), ("destination", "/user/queue/errors"),
                               ("receipt", "early")]))
    expect_error_and_close(c, "expected CONNECT", receipt="early")
    c = connected(node, alice)
    sub = frame("SUBSCRIBE", [("id", "dup"), ("destination", "/user/queue/errors")])
    c.send(sub + sub)
    expect_error_and_close(c, "duplicate subscription id")


# --- subscriptions, receipts, errors ------------------------------------------------------

def test_receipts_for_subscribe_unsubscribe_disconnect(node, alice):
    room = alice.group_room(node.url)
    c = connected(node, alice)
    c.send(frame("SUBSCRIBE", [("id", "room"), ("destination", f"/topic/room.{room}"),
                               ("receipt", "s")]))
    assert c.recv_frame()[1]["receipt-id"] == "s"
    c.send(frame("UNSUBSCRIBE", [("id", "room"), ("receipt", "u")]))
    assert c.recv_frame()[1]["receipt-id"] == "u"
    c.send(frame("DISCONNECT", [("receipt", "bye")]))
    cmd, h, _ = c.recv_frame()
    assert (cmd, h["receipt-id"]) == ("RECEIPT", "bye")
    c.wait_closed(5)


def test_not_a_member_goes_to_the_errors_queue_and_connection_stays(node, alice, bob):
    room = alice.group_room(node.url)
    c = connected(node, bob)
    c.send(frame("SUBSCRIBE", [("id", "errs"), ("destination", "/user/queue/errors")]))
    c.send(frame("SUBSCRIBE", [("id", "r"), ("destination", f"/topic/room.{room}"),
                               ("receipt", "nm")]))
    c.send(frame("SUBSCRIBE", [("id", "r2"), ("destination", "/user/queue/errors"),
                               ("receipt", "after")]))
    cmd, h, body = c.recv_frame()
    assert cmd == "MESSAGE" and h["subscription"] == "errs", (cmd, h)
    assert h["destination"] == "/user/queue/errors" and h["receipt-id"] == "nm"
    assert json.loads(body)["error"]["code"] == "NOT_MEMBER"
    # No RECEIPT for the refused frame; the next one is answered: the session lives.
    cmd, h, _ = c.recv_frame()
    assert (cmd, h["receipt-id"]) == ("RECEIPT", "after")
    c.close()


def test_not_a_member_without_errors_queue_is_error_with_receipt_then_close(node, alice, bob):
    room = alice.group_room(node.url)
    c = connected(node, bob)
    c.send(frame("SUBSCRIBE", [("id", "r"), ("destination", f"/topic/room.{room}"),
                               ("receipt", "nm2")]))
    _, body = expect_error_and_close(c, "not a member", receipt="nm2")
    assert json.loads(body)["error"]["code"] == "NOT_MEMBER"


def test_unknown_room_and_destination_are_application_errors(node, alice):
    c = connected(node, alice)
    c.send(frame("SUBSCRIBE", [("id", "e"), ("destination", "/user/queue/errors")]))
    c.send(frame("SUBSCRIBE", [("id", "x"), ("destination", "/topic/room.999999999"),
                               ("receipt", "a")]))
    c.send(frame("SUBSCRIBE", [("id", "y"), ("destination", "/topic/other"), ("receipt", "b")]))
    got = [c.recv_frame() for _ in range(2)]
    assert [(json.loads(b)["error"]["code"], h["receipt-id"]) for _, h, b in got] == \
        [("NOT_MEMBER", "a"), ("UNKNOWN_DESTINATION", "b")]
    c.close()


def test_send_is_receipted_after_kafka_and_bad_sends_are_application_errors(node, alice):
    # A valid SEND is receipted once Kafka acknowledged it (tests/integration/stomp_send.py
    # covers the SEND path in depth); bad ones are application errors, in order.
    room = alice.group_room(node.url)
    c = connected(node, alice)
    c.send(frame("SUBSCRIBE", [("id", "e"), ("destination", "/user/queue/errors")]))
    c.send(frame("SEND", [("destination", "/app/chat.send"), ("receipt", "s1"),
                          ("content-type", "application/json")],
                 json.dumps({"roomId": room, "content": "hello"})))
    c.send(frame("SEND", [("destination", "/app/chat.send"), ("receipt", "s2")],
                 json.dumps({"roomId": room, "content": ""})))
    c.send(frame("SEND", [("destination", "/app/nowhere"), ("receipt", "s3")], "{}"))
    got = [c.recv_frame(15) for _ in range(3)]
    # The SEND waits for Kafka while the invalid ones are answered at once.
    receipt = [f for f in got if f[0] == "RECEIPT"]
    assert [h["receipt-id"] for _, h, _ in receipt] == ["s1"], got
    errors = [f for f in got if f[0] == "MESSAGE"]
    assert [(json.loads(b)["error"]["code"], h["receipt-id"]) for _, h, b in errors] == \
        [("INVALID_BODY", "s2"), ("UNKNOWN_DESTINATION", "s3")]
    assert "content" in json.loads(errors[0][2])["error"]["message"]
    c.close()


# --- slow consumer ----------------------------------------------------------------------

def test_slow_consumer_is_closed_counted_and_others_stay_responsive(node, alice, bob):
    before = metric(node, "chat_ws_slow_consumer_closes_total")
    other = connected(node, bob).keep_alive()
    slow = Client(node, sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
    assert slow.connect(alice.token)[0] == "CONNECTED"
    # Each pair of frames makes the node write two RECEIPTs of ~7 KiB; the client never
    # reads, so they pile up in the kernel buffers and then in the node's queue.
    big = "r" * 7000
    pair = (frame("SUBSCRIBE", [("id", "q"), ("destination", "/user/queue/errors"),
                                ("receipt", big)]) +
            frame("UNSUBSCRIBE", [("id", "q"), ("receipt", big)]))
    done = threading.Event()
    sent = [0]

    def flood():
        try:
            while not done.is_set() and sent[0] < 20000:
                slow.send(pair)
                sent[0] += 1
        except Exception:
            pass  # the node closed us: expected
        done.set()

    th = threading.Thread(target=flood, daemon=True)
    th.start()
    try:
        cnlib.wait_until(lambda: metric(node, "chat_ws_slow_consumer_closes_total") > before,
                         30 * cnlib.scale(), interval=0.1, what="slow consumer closed")
        # Meanwhile another session answers promptly.
        t0 = time.monotonic()
        assert_healthy_and_responsive(node, other)
        assert time.monotonic() - t0 < 2 * cnlib.scale()
        cnlib.wait_until(lambda: metric(node, "chat_stomp_disconnects_total",
                                        '{reason="slow_consumer"}') >= 1, 10,
                         what="slow_consumer disconnect counted")
        cnlib.wait_until(done.is_set, 10, what="the slow client's socket closed")
    finally:
        done.set()
        th.join(5)
        slow.close()
        other.close()


# --- metrics and a real client --------------------------------------------------------------

def test_metrics_families(node):
    text = cnlib.metrics_text(node.url)
    for fam in ["chat_ws_connections_open", "chat_stomp_sessions_open",
                'chat_stomp_connects_total{result="ok"}',
                'chat_stomp_disconnects_total{reason="protocol_error"}',
                'chat_stomp_frames_in_total{command="SUBSCRIBE"}',
                'chat_stomp_frames_out_total{command="RECEIPT"}',
                "chat_ws_slow_consumer_closes_total", "chat_stomp_heartbeats_out_total"]:
        assert fam in text, fam
    assert metric(node, "chat_stomp_connects_total", '{result="ok"}') > 0
    assert metric(node, "chat_stomp_frames_out_total", '{command="RECEIPT"}') > 0


def test_stompjs_connects_subscribes_gets_receipts_and_disconnects(node, alice):
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.fail("node and npm are needed for the stompjs check (CN_PACKAGES_TEST)")
    if not os.path.isdir(os.path.join(E2E_DIR, "node_modules")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=E2E_DIR, check=True,
                       timeout=300)
    room = alice.group_room(node.url)
    before = metric(node, "chat_stomp_disconnects_total", '{reason="disconnect"}')
    out = subprocess.run(["node", "client.mjs", ws_url(node), alice.token, str(room)],
                         cwd=E2E_DIR, capture_output=True, text=True,
                         timeout=30 * cnlib.scale())
    assert out.returncode == 0, out.stdout + out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["connected"]["version"] == "1.2"
    assert result["connected"]["server"].startswith("chat-node/")
    assert result["receipts"] == ["sub-errors", "sub-room", "unsub-room"]
    assert result["error"]["code"] == "INVALID_BODY"  # the client's SYSTEM SEND
    assert result["disconnected"] is True
    cnlib.wait_until(lambda: metric(node, "chat_stomp_disconnects_total",
                                    '{reason="disconnect"}') > before, 5,
                     what="clean DISCONNECT counted")


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
