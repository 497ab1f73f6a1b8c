"""Session lifecycle (issue 9): live token expiry and SEND /app/auth.refresh, the
per-user session limit, the node's connection limits (HTTP 503 + Retry-After), TCP
keepalive, and silent clients of every kind being closed with the node's file count
back at its baseline.

Frames are written by hand (stomp_session.Client); the refresh and the expiry are also
driven by @stomp/stompjs (tests/e2e/stomp/refresh.mjs). Each group of tests runs
against a node of its own (cnlib.Node) with short timers and small limits.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest
import requests
import websocket

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
import stomp_session as ss  # noqa: E402  (the hand-written client and helpers)

from stomp_session import frame, forge_token, metric  # noqa: E402

HB_MS = 1000
CONNECT_TIMEOUT_MS = 1500
PER_USER = 3


def start(overrides):
    n = cnlib.Node(overrides=overrides)
    n.wait_healthy()
    return n


def stop(n):
    try:
        rc, _ = n.stop()
        assert rc == 0, n.output()[-4000:]
    finally:
        n.close()


@pytest.fixture(scope="module")
def node():
    n = start({
        "CHAT_STOMP_HEARTBEAT_MS": str(HB_MS),
        "CHAT_STOMP_CONNECT_TIMEOUT_MS": str(CONNECT_TIMEOUT_MS),
        "CHAT_LIMITS_SESSIONS_PER_USER": str(PER_USER),
    })
    yield n
    stop(n)


@pytest.fixture(scope="module")
def alice(node):
    return ss.User(node.url, "alice")


@pytest.fixture(scope="module")
def bob(node):
    return ss.User(node.url, "bob")


def short_token(user, seconds):
    """A token of `user` that expires `seconds` from now (whole seconds, as JWT's exp)."""
    now = int(time.time())
    return forge_token(user.id, now, now + seconds), now + seconds


def subscribe_errors(c, rid="errs-r"):
    c.send(frame("SUBSCRIBE", [("id", "errs"), ("destination", "/user/queue/errors"),
                               ("receipt", rid)]))
    cmd, h, _ = c.recv_frame()
    assert (cmd, h.get("receipt-id")) == ("RECEIPT", rid), (cmd, h)


def refresh(c, token, receipt, via_header=False):
    headers = [("destination", "/app/auth.refresh"), ("receipt", receipt)]
    body = ""
    if via_header:
        headers.append(("Authorization", f"Bearer {token}"))
    else:
        headers.append(("content-type", "application/json"))
        body = json.dumps({"accessToken": token})
    c.send(frame("SEND", headers, body))


def alive(c, rid):
    c.send(frame("SUBSCRIBE", [("id", rid), ("destination", "/user/queue/errors"),
                               ("receipt", rid)]))
    cmd, h, _ = c.recv_frame()
    return (cmd, h.get("receipt-id")) == ("RECEIPT", rid)


# --- token expiry and refresh ------------------------------------------------------------

def test_session_is_closed_with_token_expired_at_exp(node, alice):
    before = metric(node, "chat_stomp_disconnects_total", '{reason="token_expired"}')
    token, exp = short_token(alice, 2)
    c = ss.Client(node)
    assert c.connect(token)[0] == "CONNECTED"
    c.keep_alive()  # heart-beats flowing: only the expiry may close it
    subscribe_errors(c)
    t = c.wait_closed(10)
    closed_at = time.time()
    errors = [f for f in c.frames_before_close if f[0] == "ERROR"]
    assert errors and errors[0][1]["message"] == "token-expired", c.frames_before_close
    assert c.close_code == 1008, (c.close_code, c.close_reason)
    # Not before exp (1 s granularity of the clock), and soon after it.
    assert closed_at >= exp - 0.05, (closed_at, exp)
    assert closed_at <= exp + 1.5 * cnlib.scale(), (closed_at, exp, t)
    cnlib.wait_until(lambda: metric(node, "chat_stomp_disconnects_total",
                                    '{reason="token_expired"}') > before, 5,
                     what="token_expired counted")


@pytest.mark.parametrize("via_header", [False, True])
def test_refresh_with_a_new_token_of_the_same_user_keeps_the_session(node, alice, via_header):
    before = metric(node, "chat_stomp_token_refreshes_total", '{result="ok"}')
    token, exp = short_token(alice, 2)
    c = ss.Client(node)
    assert c.connect(token)[0] == "CONNECTED"
    c.keep_alive()
    subscribe_errors(c)
    fresh, _ = short_token(alice, 600)
    refresh(c, fresh, "ref-1", via_header)
    cmd, h, _ = c.recv_frame()
    assert (cmd, h.get("receipt-id")) == ("RECEIPT", "ref-1"), (cmd, h)
    # Wait past the old exp (plus the slack the expiry test allows): still open.
    deadline = exp + 1.5 * cnlib.scale()
    while time.time() < deadline:
        try:
            cmd, h, b = c.recv_frame(0.2)
            raise AssertionError(f"unexpected frame after refresh: {cmd} {h} {b}")
        except TimeoutError:
            pass
    assert alive(c, "later")
    assert metric(node, "chat_stomp_token_refreshes_total", '{result="ok"}') > before
    c.close()


def test_refresh_with_another_users_token_is_refused_and_old_expiry_stands(node, alice, bob):
    token, exp = short_token(alice, 3)
    c = ss.Client(node)
    assert c.connect(token)[0] == "CONNECTED"
    c.keep_alive()
    subscribe_errors(c)
    other, _ = short_token(bob, 600)
    refresh(c, other, "wrong")
    cmd, h, body = c.recv_frame()
    assert cmd == "MESSAGE" and h["destination"] == "/user/queue/errors", (cmd, h)
    assert h["receipt-id"] == "wrong"
    assert json.loads(body)["error"]["code"] == "WRONG_USER"
    c.wait_closed(10)
    errors = [f for f in c.frames_before_close if f[0] == "ERROR"]
    assert errors and errors[0][1]["message"] == "token-expired", c.frames_before_close
    assert time.time() >= exp - 0.05


@pytest.mark.parametrize("case", ["wrong key", "wrong audience", "expired", "not a jwt",
                                  "no token"])
def test_bad_refresh_is_an_application_error_and_the_session_stays(node, alice, case):
    c = ss.connected(node, alice)
    c.keep_alive()
    subscribe_errors(c)
    now = int(time.time())
    if case == "wrong key":
        body, code, text = {"accessToken": forge_token(alice.id, now, now + 600, key=b"k" * 40)}, \
            "INVALID_TOKEN", "bad signature"
    elif case == "wrong audience":
        body, code, text = {"accessToken": forge_token(alice.id, now, now + 600, aud="billing")}, \
            "INVALID_TOKEN", "wrong audience"
    elif case == "expired":
        body, code, text = {"accessToken": forge_token(alice.id, now - 7200, now - 3600)}, \
            "INVALID_TOKEN", "token expired"
    elif case == "not a jwt":
        body, code, text = {"accessToken": "hello world"}, "INVALID_BODY", "accessToken"
    else:
        body, code, text = {}, "INVALID_BODY", "accessToken: is required"
    c.send(frame("SEND", [("destination", "/app/auth.refresh"), ("receipt", "bad")],
                 json.dumps(body)))
    cmd, h, b = c.recv_frame()
    assert cmd == "MESSAGE" and h["receipt-id"] == "bad", (cmd, h, b)
    err = json.loads(b)["error"]
    assert err["code"] == code and text in err["message"], err
    assert alive(c, "after-bad")
    c.close()


def test_refresh_without_errors_queue_and_bad_token_is_error_then_close(node, alice):
    c = ss.connected(node, alice)
    c.send(frame("SEND", [("destination", "/app/auth.refresh"), ("receipt", "x")],
                 json.dumps({"accessToken": "a.b.c"})))
    ss.expect_error_and_close(c, "token refused", receipt="x")


def stompjs(*args):
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.fail("node and npm are needed for the stompjs check (CN_PACKAGES_TEST)")
    if not os.path.isdir(os.path.join(ss.E2E_DIR, "node_modules")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=ss.E2E_DIR, check=True,
                       timeout=300)
    out = subprocess.run(["node", "refresh.mjs", *args], cwd=ss.E2E_DIR, capture_output=True,
                         text=True, timeout=40 * cnlib.scale())
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_stompjs_refreshes_its_token_and_sees_token_expired_without_one(node, alice):
    short, exp = short_token(alice, 3)
    fresh, _ = short_token(alice, 600)
    r = stompjs(ss.ws_url(node), short, fresh, "refresh")
    assert r["receipt"] == "refresh-1" and r["aliveAfterOldExp"] is True, r
    assert r["stompError"] is None, r
    assert r["checkedAt"] >= exp, r  # the liveness check ran after the old token expired
    short, exp = short_token(alice, 2)
    r = stompjs(ss.ws_url(node), short, "-", "expire")
    assert r["stompError"] == "token-expired", r
    assert r["errorAt"] >= exp - 0.05, r


# --- per-user session limit -------------------------------------------------------------

def recv_close(c, timeout=10):
    """Reads until the server's close frame; returns (status code, ERROR frames seen).
    python3-websocket 1.2.3 refuses close codes it does not list, 1013 (RFC 6455's
    registry: try again later) among them; accept every code of the registered range."""
    websocket.ABNF._is_valid_close_status = staticmethod(lambda code: 1000 <= code < 5000)
    deadline = time.monotonic() + timeout * cnlib.scale()
    errors = []
    while time.monotonic() < deadline:
        c.ws.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            # The frame itself, without the library's automatic close reply: the node
            # does not wait for one, and a reply into a closed socket would raise
            # before the close frame is returned.
            fr = c.ws.recv_frame()
        except websocket.WebSocketConnectionClosedException:
            return None, errors
        op, data = fr.opcode, fr.data
        if op == websocket.ABNF.OPCODE_CLOSE:
            return (int.from_bytes(data[:2], "big") if len(data) >= 2 else None), errors
        if b"ERROR" in data[:8]:
            errors.append(data.decode(errors="replace"))
    raise AssertionError("no close frame before the deadline")


def test_a_user_over_the_session_limit_gets_error_and_close_1013(node):
    carol = ss.User(node.url, "carol")
    before = metric(node, "chat_ws_refused_total", '{reason="user_limit"}')
    sessions = [ss.connected(node, carol).keep_alive() for _ in range(PER_USER)]
    extra = ss.Client(node)
    extra.send(frame("CONNECT", [("accept-version", "1.2"), ("host", "x"),
                                 ("Authorization", f"Bearer {carol.token}")]))
    code, errors = recv_close(extra)
    assert code == 1013, (code, errors)
    assert errors and "too many sessions for this user" in errors[0], errors
    assert metric(node, "chat_ws_refused_total", '{reason="user_limit"}') == before + 1
    # Another user is not affected; and once one of carol's sessions ends, she gets a slot.
    ss.connected(node, ss.User(node.url, "dave")).close()
    sessions.pop().close()

    def reconnect():
        c = ss.Client(node)
        cmd, _, _ = c.connect(carol.token)
        if cmd == "CONNECTED":
            sessions.append(c.keep_alive())
            return True
        c.close()
        return False
    cnlib.wait_until(reconnect, 5 * cnlib.scale(), interval=0.1, what="a slot freed")
    for c in sessions:
        c.close()


# --- silent clients, keepalive and the file count ----------------------------------------

def dependency_ports():
    """Ports of PostgreSQL, Redis and the Kafka brokers of the stack."""
    ports = {int(cnlib.need("CN_TEST_REDIS_PORT"))}
    ports.add(int(cnlib.need("CN_TEST_PG_URL").rsplit(":", 1)[1].split("/")[0]))
    for b in cnlib.need("CN_TEST_KAFKA_BROKERS").split(","):
        ports.add(int(b.rsplit(":", 1)[1]))
    return ports


def tcp_peer_ports():
    """socket inode -> remote port, of every TCP socket on the machine."""
    peer = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                for line in f.readlines()[1:]:
                    cols = line.split()
                    peer[cols[9]] = int(cols[2].rsplit(":", 1)[1], 16)
        except FileNotFoundError:
            pass
    return peer


def node_socket_peers(pid):
    """The remote ports of the node's TCP sockets."""
    peer, ports = tcp_peer_ports(), set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:[") and target[8:-1] in peer:
            ports.add(peer[target[8:-1]])
    return ports


def fd_count(pid, deps=None):
    """Open files of the node, not counting its TCP connections to the dependencies:
    librdkafka opens and closes broker connections on its own schedule, which would make
    the count wander for reasons unrelated to clients."""
    peer = tcp_peer_ports()
    deps = deps if deps is not None else dependency_ports()
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:[") and peer.get(target[8:-1]) in deps:
            continue
        n += 1
    return n


def test_silent_clients_of_every_kind_are_closed_and_files_return_to_baseline(node):
    erin = ss.User(node.url, "erin")
    pid = node.proc.pid
    # Baseline once the node is idle (pool and broker connections settled).
    cnlib.wait_until(lambda: metric(node, "chat_ws_connections_open") == 0, 10,
                     what="no WebSocket connection left from earlier tests")
    base = fd_count(pid)
    raw = [socket.create_connection(("127.0.0.1", node.port)) for _ in range(10)]
    upgraded = [ss.Client(node) for _ in range(5)]  # never send CONNECT
    connected = []
    for _ in range(PER_USER):  # CONNECTed offering heart-beats, then silent
        connected.append(ss.connected(node, erin, heart_beat="1000,0"))
    # Every client socket accepted: the node holds a socket whose peer is each one. (Not
    # a count over the baseline: sockets of earlier tests in their lingering close may
    # be in the baseline and leave meanwhile.)
    ours = {s.getsockname()[1] for s in raw} | \
        {c.ws.sock.getsockname()[1] for c in upgraded + connected}
    cnlib.wait_until(lambda: ours <= node_socket_peers(pid), 5 * cnlib.scale(),
                     what="the node holding a socket per client")
    # The node's side of every accepted socket has TCP keepalive armed (ss shows the
    # keepalive timer once no retransmission timer of data in flight hides it).
    def all_keepalive():
        out = subprocess.run(["ss", "-tnoH", "state", "established", "(", "sport", "=",
                              f":{node.port}", ")"], capture_output=True, text=True).stdout
        lines = [line for line in out.splitlines() if line.strip()]
        return len(lines) >= 10 + 5 + PER_USER and \
            all("timer:(keepalive" in line for line in lines) and out
    cnlib.wait_until(all_keepalive, 5, interval=0.1, what="keepalive on every socket")

    def closed_by_server(s):
        s.settimeout(0)
        try:
            return s.recv(4096) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    t0 = time.monotonic()
    # A socket that never sends a request: libwebsockets' 10 s; the others: the connect
    # timeout and twice the heart-beat floor.
    cnlib.wait_until(lambda: all(closed_by_server(s) for s in raw), 15 * cnlib.scale(),
                     interval=0.2, what="silent raw sockets closed by the node")
    for c in upgraded + connected:
        c.wait_closed(15)
    assert time.monotonic() - t0 <= 15 * cnlib.scale()
    cnlib.wait_until(lambda: fd_count(pid) <= base, 10 * cnlib.scale(), interval=0.2,
                     what=f"the node's file count back at {base}")
    for s in raw:
        s.close()
    for c in upgraded + connected:
        c.close()


# --- node limits: connections and accept rate ----------------------------------------------

def test_node_connection_limit_refuses_upgrades_with_503_and_retry_after():
    n = start({"CHAT_LIMITS_MAX_CONNECTIONS": "3"})
    try:
        held = [ss.Client(n) for _ in range(3)]
        with pytest.raises(websocket.WebSocketBadStatusException) as e:
            ss.Client(n)
        assert e.value.status_code == 503
        headers = {k.lower(): v for k, v in (e.value.resp_headers or {}).items()}
        assert headers.get("retry-after") == "5", headers
        assert metric(n, "chat_ws_refused_total", '{reason="node_limit"}') == 1
        # REST is not a WebSocket connection: still served.
        assert requests.get(n.url + "/healthz").status_code == 200
        held.pop().close()

        def one_more():
            try:
                held.append(ss.Client(n))
                return True
            except websocket.WebSocketBadStatusException:
                return False
        cnlib.wait_until(one_more, 5 * cnlib.scale(), interval=0.1, what="a freed slot")
        for c in held:
            c.close()
    finally:
        stop(n)


def test_accept_rate_refuses_an_upgrade_storm_with_503():
    rate = 5
    n = start({"CHAT_LIMITS_ACCEPT_RATE": str(rate)})
    try:
        ok, refused, retry = [], 0, set()
        t0 = time.monotonic()
        for _ in range(4 * rate):
            try:
                ok.append(ss.Client(n))
            except websocket.WebSocketBadStatusException as e:
                assert e.status_code == 503
                refused += 1
                retry.add({k.lower(): v for k, v in (e.resp_headers or {}).items()}
                          .get("retry-after"))
        seconds = int(time.monotonic() - t0) + 2  # windows the storm can have touched
        assert refused > 0, "an upgrade storm over the rate was not refused"
        assert len(ok) <= rate * seconds, (len(ok), seconds)
        assert retry == {"1"}, retry
        assert metric(n, "chat_ws_refused_total", '{reason="accept_rate"}') == refused
        for c in ok:
            c.close()
    finally:
        stop(n)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
