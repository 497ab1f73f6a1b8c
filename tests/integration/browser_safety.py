"""Browser safety and the admin listener, as a browser and an operator see them.

- http.allowed_origins on the WebSocket upgrade: no Origin (native clients) and the node's
  own origin are accepted; another Origin gets 403 with a JSON body (never a dropped
  connection); an Origin on the list is accepted.
- CORS on the REST API: a preflight from an allowed Origin gets 204 with the
  Access-Control-* headers, one from another Origin 403 without them; answers to an
  allowed cross-origin request carry Access-Control-Allow-Origin and Vary: Origin.
- The web client's files carry Content-Security-Policy, nosniff, X-Frame-Options and
  Referrer-Policy; JSON answers Cache-Control: no-store and nosniff.
- /metrics is not on the public port (404); the admin listener serves it and the detailed
  /healthz; the public /healthz says only {"status":"up"}.
- A malformed http.allowed_origins stops start-up naming the key.
"""
import base64
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402

NEEDED = ["CN_TEST_NODE1_URL", "CN_TEST_NODE1_ADMIN_URL", "CN_TEST_NODE_BIN"]
if any(not os.environ.get(k) for k in NEEDED):
    if os.environ.get("CN_TEST_REQUIRE_STACK") == "1":
        sys.exit(f"missing {[k for k in NEEDED if not os.environ.get(k)]} with "
                 "CN_TEST_REQUIRE_STACK=1")
    print("skipped: run through ./ops/dev test (needs the stack's CN_TEST_* variables)")
    sys.exit(77)

import pytest  # noqa: E402

NODE1 = os.environ["CN_TEST_NODE1_URL"]
ADMIN1 = os.environ["CN_TEST_NODE1_ADMIN_URL"]
ALLOWED = "https://chat.example.com"


@pytest.fixture(scope="module")
def cors_node():
    """A node of this test with http.allowed_origins set."""
    n = cnlib.Node({"CHAT_HTTP_ALLOWED_ORIGINS": f"{ALLOWED}, http://other.example:8443"})
    try:
        n.wait_healthy()
        yield n
        rc, _ = n.stop()
        assert rc == 0, n.output()[-4000:]
    finally:
        n.close()


def upgrade(base, origin=None, host=None):
    """Sends a WebSocket upgrade on /ws; returns (status, headers dict, body bytes). The
    status is None when the node closed the connection without an answer."""
    u = urllib.parse.urlsplit(base)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        "GET /ws HTTP/1.1",
        f"Host: {host or u.netloc}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Protocol: v12.stomp",
    ]
    if origin:
        lines.append(f"Origin: {origin}")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode()
    with socket.create_connection((u.hostname, u.port), timeout=10 * cnlib.scale()) as s:
        s.sendall(raw)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                return None, {}, data
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        status_line, *hdr_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for h in hdr_lines:
            k, _, v = h.partition(":")
            headers[k.strip().lower()] = v.strip()
        status = int(status_line.split()[1])
        body = rest
        if status != 101:
            want = int(headers.get("content-length", "0"))
            while len(body) < want:
                chunk = s.recv(4096)
                if not chunk:
                    break
                body += chunk
        return status, headers, body


def own_origin(base):
    return "http://" + urllib.parse.urlsplit(base).netloc


# --- the WebSocket upgrade ---------------------------------------------------------------

def test_upgrade_without_origin_is_accepted():
    status, headers, _ = upgrade(NODE1)
    assert status == 101, headers
    assert headers.get("sec-websocket-protocol") == "v12.stomp"


def test_upgrade_from_own_origin_is_accepted():
    status, headers, _ = upgrade(NODE1, origin=own_origin(NODE1))
    assert status == 101, headers


def test_upgrade_from_foreign_origin_is_403_with_a_body():
    status, headers, body = upgrade(NODE1, origin="https://evil.example")
    assert status == 403, (status, headers, body)
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "ORIGIN_NOT_ALLOWED"
    # Same host name, another port: another origin.
    u = urllib.parse.urlsplit(NODE1)
    status, _, _ = upgrade(NODE1, origin=f"http://{u.hostname}:{u.port + 1}")
    assert status == 403
    # The node goes on serving.
    assert upgrade(NODE1)[0] == 101


def test_upgrade_from_listed_origin_is_accepted(cors_node):
    assert upgrade(cors_node.url, origin=ALLOWED)[0] == 101
    assert upgrade(cors_node.url, origin="http://other.example:8443")[0] == 101
    assert upgrade(cors_node.url, origin="https://chat.example.com.evil.example")[0] == 403
    assert upgrade(cors_node.url, origin="http://chat.example.com")[0] == 403
    assert upgrade(cors_node.url, origin="null")[0] == 403


# --- CORS on the REST API ----------------------------------------------------------------

def preflight(base, origin, path="/api/rooms"):
    return cnlib.http("OPTIONS", base + path, headers={
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    })


def test_preflight_from_allowed_origin_is_204_with_cors_headers(cors_node):
    status, h, body = preflight(cors_node.url, ALLOWED)
    assert status == 204, (status, body)
    assert h["Access-Control-Allow-Origin"] == ALLOWED
    methods = {m.strip() for m in h["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "POST", "DELETE"} <= methods
    allowed = {x.strip().lower() for x in h["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert int(h["Access-Control-Max-Age"]) > 0
    assert "Origin" in h["Vary"]
    assert body == b""


def test_preflight_from_other_origin_is_403_without_cors_headers(cors_node):
    for base in (cors_node.url, NODE1):
        status, h, body = preflight(base, "https://evil.example")
        assert status == 403, (status, body)
        assert "Access-Control-Allow-Origin" not in h
        assert json.loads(body)["error"]["code"] == "ORIGIN_NOT_ALLOWED"


def test_answers_to_allowed_cross_origin_carry_acao(cors_node):
    nick = f"cors{uuid.uuid4().hex[:8]}"
    status, h, body = cnlib.http("POST", cors_node.url + "/api/auth/signup", body={
        "email": f"{nick}@example.com", "password": "tr0ub4dor-" + uuid.uuid4().hex[:8],
        "nickname": nick}, headers={"Origin": ALLOWED, "Content-Type": "application/json"})
    assert status in (200, 201), (status, body)
    assert h["Access-Control-Allow-Origin"] == ALLOWED
    assert "Origin" in h["Vary"]
    # An error answer too: the page must be able to read it.
    status, h, _ = cnlib.http("GET", cors_node.url + "/api/rooms", headers={"Origin": ALLOWED})
    assert status == 401
    assert h["Access-Control-Allow-Origin"] == ALLOWED
    # Another origin's answer carries none: its page cannot read it.
    status, h, _ = cnlib.http("GET", cors_node.url + "/api/rooms",
                              headers={"Origin": "https://evil.example"})
    assert status == 401
    assert "Access-Control-Allow-Origin" not in h


# --- headers on files and JSON -----------------------------------------------------------

def test_static_files_carry_csp_and_frame_protection():
    status, h, body = cnlib.http("GET", NODE1 + "/")
    assert status == 200 and b"<html" in body.lower()
    csp = h["Content-Security-Policy"]
    for part in ("default-src 'self'", "frame-ancestors 'none'", "base-uri 'none'",
                 "object-src 'none'", "connect-src 'self' ws: wss:"):
        assert part in csp, csp
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["X-Frame-Options"] == "DENY"
    assert h["Referrer-Policy"] in ("no-referrer", "same-origin")
    # Nothing in the page that the policy would block: scripts and stylesheets come from
    # the node itself, no inline script or style (the browser check is web_client.py).
    html = body.decode()
    scripts = re.findall(r"<script\b([^>]*)>", html)
    assert scripts and all(re.search(r'src="(?!https?:|//)[^"]+"', a) for a in scripts), scripts
    assert "<style" not in html and " style=" not in html
    for m in re.findall(r'<link\b[^>]*href="([^"]+)"', html):
        assert m.startswith("data:") or not re.match(r"(https?:)?//", m), m


def test_json_answers_are_no_store_and_nosniff():
    for method, path in (("GET", "/api/rooms"), ("GET", "/healthz"), ("GET", "/api/nope"),
                         ("POST", "/api/auth/login")):
        status, h, _ = cnlib.http(method, NODE1 + path, body=b"{}" if method == "POST" else None)
        assert h["Content-Type"].startswith("application/json"), (path, status)
        assert h["Cache-Control"] == "no-store", path
        assert h["X-Content-Type-Options"] == "nosniff", path


# --- metrics and health -----------------------------------------------------------------

def test_metrics_is_not_on_the_public_port():
    status, h, body = cnlib.http("GET", NODE1 + "/metrics")
    assert status == 404, status
    assert json.loads(body)["error"]["code"] == "NOT_FOUND"
    assert b"chat_" not in body


def test_admin_listener_serves_metrics_and_detailed_health():
    status, h, body = cnlib.http("GET", ADMIN1 + "/metrics")
    assert status == 200
    assert h["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE chat_http_requests_total counter" in body.decode()
    status, body = cnlib.get_json(ADMIN1 + "/healthz")
    assert status == 200
    assert body["status"] == "ok" and body["node"]
    assert body["checks"] == {"postgres": "ok", "redis": "ok", "kafka": "ok"}
    assert urllib.parse.urlsplit(ADMIN1).hostname == "127.0.0.1"
    assert cnlib.http("GET", ADMIN1 + "/api/rooms")[0] == 404
    assert cnlib.http("POST", ADMIN1 + "/metrics", body=b"{}")[0] == 405


def test_public_healthz_says_only_up():
    assert cnlib.get_json(NODE1 + "/healthz") == (200, {"status": "up"})


def test_node_without_admin_listener_still_serves_the_public_port():
    n = cnlib.Node({"CHAT_ADMIN_HTTP_PORT": "0"})
    try:
        assert n.admin_url is None
        n.wait_healthy()  # the public /healthz: there is no admin listener
        assert cnlib.http("GET", n.url + "/metrics")[0] == 404
        rc, _ = n.stop()
        assert rc == 0, n.output()[-4000:]
    finally:
        n.close()


@pytest.mark.parametrize("value", ["chat.example.com", "https://chat.example.com/app",
                                   "ftp://x.example", "https://"])
def test_malformed_allowed_origins_stops_startup(value):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
    env["CHAT_ADMIN_SOCKET"] = os.path.join(tempfile.gettempdir(), f"cn-bs-{os.getpid()}.sock")
    env["CHAT_HTTP_PORT"] = str(cnlib.free_port())
    env["CHAT_HTTP_ALLOWED_ORIGINS"] = value
    args = [cnlib.need("CN_TEST_NODE_BIN")]
    if os.environ.get("CN_TEST_CONFIG"):
        args += ["--config", os.environ["CN_TEST_CONFIG"]]
    r = subprocess.run(args, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                       timeout=30 * cnlib.scale())
    assert r.returncode != 0
    assert "http.allowed_origins" in r.stderr + r.stdout


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
