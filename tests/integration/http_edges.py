"""HTTP/1.1 at the edges everyday clients reach (src/io/http_server.c): bodyless and
chunked POSTs, large headers, large bodies sent without `Expect: 100-continue`, reason
phrases, HEAD and OPTIONS, and client faults logged at WARN with the peer's address.

Clients: raw sockets, Python's http.client, curl, and Node's fetch (when node is on
the PATH). After each edge the node still answers a normal request.
Outside `ops/dev test` this exits 77 unless CN_TEST_REQUIRE_STACK=1.
"""
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402

NEEDED = ["CN_TEST_NODE1_URL", "CN_TEST_VAR"]
if any(not os.environ.get(k) for k in NEEDED):
    if os.environ.get("CN_TEST_REQUIRE_STACK") == "1":
        sys.exit(f"missing {[k for k in NEEDED if not os.environ.get(k)]} with "
                 "CN_TEST_REQUIRE_STACK=1")
    print("skipped: run through ./ops/dev test (needs the stack's CN_TEST_* variables)")
    sys.exit(77)

import pytest  # noqa: E402

NODE = os.environ["CN_TEST_NODE1_URL"]
HOST = urllib.parse.urlsplit(NODE).hostname
PORT = urllib.parse.urlsplit(NODE).port
MAX_BODY = 65536  # http.max_body, the default
MAX_HEADERS = 16384  # http.max_header_bytes, the default
NODE1_LOG = os.path.join(os.environ["CN_TEST_VAR"], "log", "node1.log")


def timeout():
    return 10 * cnlib.scale()


def user():
    """Signs a fresh user up and logs in; returns (id, auth header value)."""
    email = f"edge-{uuid.uuid4().hex[:12]}@example.com"
    password = "tr0ub4dor-" + uuid.uuid4().hex[:12]
    nickname = f"edge-{uuid.uuid4().hex[:8]}"
    st, _, body = cnlib.http("POST", f"{NODE}/api/auth/signup",
                             {"email": email, "password": password, "nickname": nickname})
    assert st == 201, body
    st, _, body = cnlib.http("POST", f"{NODE}/api/auth/login",
                             {"email": email, "password": password})
    assert st == 200, body
    b = json.loads(body)
    return b["user"]["id"], "Bearer " + b["accessToken"]


@pytest.fixture(scope="module")
def owner():
    return user()


@pytest.fixture(scope="module")
def public_room(owner):
    _, auth = owner
    st, _, body = cnlib.http("POST", f"{NODE}/api/rooms/group",
                             {"name": "edges " + uuid.uuid4().hex[:6], "memberIds": [],
                              "visibility": "public"},
                             headers={"Authorization": auth})
    assert st == 201, body
    return json.loads(body)["id"]


def raw(request: bytes, read_timeout=None):
    """Sends bytes as they are; returns everything the node sends until it closes (or
    the read times out)."""
    s = socket.create_connection((HOST, PORT), timeout=read_timeout or timeout())
    try:
        s.sendall(request)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


def parse(resp: bytes):
    """(status line, {lower-case header: value}, body) of one raw answer."""
    head, _, body = resp.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return lines[0], headers, body


def assert_error(body: bytes, code: str):
    err = json.loads(body)["error"]
    assert err["code"] == code and err["message"], err


def assert_still_serves():
    st, _, body = cnlib.http("GET", f"{NODE}/healthz", timeout=timeout())
    assert st == 200, body


def curl(*args):
    r = subprocess.run(["curl", "-sS", "--max-time", str(int(timeout())), *args],
                       capture_output=True, timeout=timeout() + 5)
    return r


# --- bodyless POSTs ---------------------------------------------------------------

def test_post_without_content_length_is_answered(public_room):
    _, auth = user()
    req = (f"POST /api/rooms/{public_room}/join HTTP/1.1\r\nHost: x\r\n"
           f"Authorization: {auth}\r\n\r\n").encode()
    status, headers, body = parse(raw(req))
    assert status == "HTTP/1.1 200 OK", status
    assert json.loads(body)["id"] == public_room
    # lws would wait for a body: the node answers and closes instead.
    assert headers["connection"] == "close"
    assert_still_serves()


def test_curl_post_without_body(public_room):
    _, auth = user()
    r = curl("-i", "-X", "POST", "-H", f"Authorization: {auth}",
             f"{NODE}/api/rooms/{public_room}/join")
    assert r.returncode == 0, r.stderr
    status, _, body = parse(r.stdout)
    assert status == "HTTP/1.1 200 OK", r.stdout[:200]
    assert json.loads(body)["id"] == public_room


def test_post_with_content_length_zero_keeps_the_connection(public_room):
    _, auth = user()
    c = http.client.HTTPConnection(HOST, PORT, timeout=timeout())
    c.request("POST", f"/api/rooms/{public_room}/join", body=b"",
              headers={"Authorization": auth, "Content-Length": "0"})
    r = c.getresponse()
    assert (r.status, r.reason) == (200, "OK")
    assert json.loads(r.read())["id"] == public_room
    # The same connection carries the next request.
    c.request("GET", "/healthz")
    r = c.getresponse()
    assert r.status == 200
    r.read()
    c.close()


# --- chunked bodies ---------------------------------------------------------------

def group_body():
    return json.dumps({"name": "chunked " + uuid.uuid4().hex[:6], "memberIds": []}).encode()


def test_chunked_body_is_decoded(owner):
    _, auth = owner
    c = http.client.HTTPConnection(HOST, PORT, timeout=timeout())
    body = group_body()
    # Three chunks: the decoder must join them.
    c.request("POST", "/api/rooms/group", body=iter([body[:5], body[5:17], body[17:]]),
              headers={"Authorization": auth, "Content-Type": "application/json"},
              encode_chunked=True)
    r = c.getresponse()
    data = r.read()
    assert (r.status, r.reason) == (201, "Created"), data
    assert json.loads(data)["name"] == json.loads(body)["name"]
    c.close()
    assert_still_serves()


def test_curl_chunked_body(owner):
    _, auth = owner
    r = curl("-i", "-H", "Transfer-Encoding: chunked", "-H", "Content-Type: application/json",
             "-H", f"Authorization: {auth}", "--data-binary", group_body().decode(),
             f"{NODE}/api/rooms/group")
    assert r.returncode == 0, r.stderr
    status, _, body = parse(r.stdout.split(b"HTTP/1.1 100 Continue\r\n\r\n")[-1])
    assert status == "HTTP/1.1 201 Created", r.stdout[:300]
    assert json.loads(body)["type"] == "GROUP"


def test_chunked_body_over_the_limit_is_413(owner):
    _, auth = owner
    c = http.client.HTTPConnection(HOST, PORT, timeout=timeout())
    c.request("POST", "/api/rooms/group", body=iter([b"x" * 40000] * 3),
              headers={"Authorization": auth, "Content-Type": "application/json"},
              encode_chunked=True)
    r = c.getresponse()
    assert (r.status, r.reason) == (413, "Content Too Large")
    assert_error(r.read(), "PAYLOAD_TOO_LARGE")
    c.close()
    assert_still_serves()


def test_malformed_chunked_body_is_400():
    req = (b"POST /api/rooms/group HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"zz\r\nhello\r\n0\r\n\r\n")
    status, _, body = parse(raw(req))
    assert status == "HTTP/1.1 400 Bad Request", status
    assert_error(body, "BAD_REQUEST")
    assert_still_serves()


def test_other_transfer_codings_are_501():
    req = (b"POST /api/rooms/group HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n"
           b"\r\n5\r\nhello\r\n0\r\n\r\n")
    status, _, body = parse(raw(req))
    assert status == "HTTP/1.1 501 Not Implemented", status
    assert_error(body, "NOT_IMPLEMENTED")


def test_content_length_with_transfer_encoding_is_400():
    req = (b"POST /api/rooms/group HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    status, _, body = parse(raw(req))
    assert status == "HTTP/1.1 400 Bad Request", status
    assert_error(body, "BAD_REQUEST")


# --- header sizes -----------------------------------------------------------------

def test_headers_up_to_the_limit_are_accepted(owner):
    _, auth = owner
    cookie = "a=" + "x" * 12000  # lws's own default buffer is 4096
    r = curl("-i", "-H", f"Authorization: {auth}", "-H", f"Cookie: {cookie}",
             f"{NODE}/api/rooms")
    assert r.returncode == 0, r.stderr
    status, _, body = parse(r.stdout)
    assert status == "HTTP/1.1 200 OK", r.stdout[:200]
    assert isinstance(json.loads(body), list)


def test_headers_over_the_limit_are_431(owner):
    _, auth = owner
    cookie = "a=" + "x" * (MAX_HEADERS + 2000)
    c = http.client.HTTPConnection(HOST, PORT, timeout=timeout())
    c.request("GET", "/api/rooms", headers={"Authorization": auth, "Cookie": cookie})
    r = c.getresponse()
    assert (r.status, r.reason) == (431, "Request Header Fields Too Large")
    assert_error(r.read(), "HEADERS_TOO_LARGE")
    c.close()
    assert_still_serves()


def test_headers_beyond_the_buffer_drop_only_that_connection():
    # Beyond lws's buffer (twice the limit) lws can only close: the hard edge.
    cookie = "a=" + "x" * (3 * MAX_HEADERS)
    out = raw(f"GET /healthz HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\r\n".encode())
    assert out == b"" or out.startswith(b"HTTP/1.1 431 "), out[:100]
    assert_still_serves()


# --- large bodies -----------------------------------------------------------------

BIG = 5 * 1024 * 1024


def test_big_body_without_expect_gets_413_http_client(owner):
    _, auth = owner
    c = http.client.HTTPConnection(HOST, PORT, timeout=timeout())
    # http.client sends the whole body before it reads: a reset would fail the send.
    c.request("POST", "/api/rooms/group", body=b"x" * BIG,
              headers={"Authorization": auth, "Content-Type": "application/json"})
    r = c.getresponse()
    assert (r.status, r.reason) == (413, "Content Too Large")
    assert r.getheader("Connection") == "close"
    assert_error(r.read(), "PAYLOAD_TOO_LARGE")
    c.close()
    assert_still_serves()


def test_big_body_raw_socket_sees_413_not_a_reset():
    s = socket.create_connection((HOST, PORT), timeout=timeout())
    s.sendall(f"POST /api/rooms/group HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              f"Content-Length: {BIG}\r\n\r\n".encode())
    s.sendall(b"y" * BIG)  # raises ECONNRESET/EPIPE if the node closed abruptly
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    status, headers, body = parse(out)
    assert status == "HTTP/1.1 413 Content Too Large", status
    assert_error(body, "PAYLOAD_TOO_LARGE")


def test_big_body_curl_with_expect():
    # curl sends `Expect: 100-continue` for a body this large and reads the 413 first.
    p = subprocess.run(["curl", "-sS", "-i", "--max-time", str(int(timeout())), "-H",
                        "Content-Type: application/json", "--data-binary", "@-",
                        f"{NODE}/api/rooms/group"], input=b"z" * BIG, capture_output=True,
                       timeout=timeout() + 5)
    assert p.returncode == 0, p.stderr
    status, _, body = parse(p.stdout)
    assert status == "HTTP/1.1 413 Content Too Large", p.stdout[:200]
    assert_error(body, "PAYLOAD_TOO_LARGE")


@pytest.mark.skipif(not shutil.which("node"), reason="node is not installed")
def test_big_body_node_fetch():
    script = (
        "fetch(process.argv[1], {method: 'POST', body: 'x'.repeat(5 * 1024 * 1024),"
        " headers: {'content-type': 'application/json'}})"
        ".then(async r => console.log(JSON.stringify({status: r.status, text: r.statusText,"
        " body: await r.text()})))"
        ".catch(e => { console.log(JSON.stringify({error: String(e.cause || e)})); })")
    p = subprocess.run(["node", "-e", script, f"{NODE}/api/rooms/group"], capture_output=True,
                       text=True, timeout=timeout() + 5)
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out.get("status") == 413, out
    assert out["text"] == "Content Too Large"
    assert_error(out["body"].encode(), "PAYLOAD_TOO_LARGE")
    assert_still_serves()


# --- status lines, HEAD, OPTIONS ---------------------------------------------------

def test_reason_phrases_on_status_lines(owner):
    _, auth = owner
    body = group_body()
    req = (f"POST /api/rooms/group HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n"
           f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
           f"Connection: close\r\n\r\n").encode() + body
    assert parse(raw(req))[0] == "HTTP/1.1 201 Created"
    assert parse(raw(b"GET /api/nothing-here HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))[0] \
        == "HTTP/1.1 404 Not Found"
    assert parse(raw(b"GET /api/rooms HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))[0] \
        == "HTTP/1.1 401 Unauthorized"


def test_head_on_api_and_static_paths(owner):
    _, auth = owner
    for path, hdrs in (("/api/rooms", {"Authorization": auth}), ("/healthz", {}), ("/", {})):
        c = http.client.HTTPConnection(HOST, PORT, timeout=timeout())
        c.request("GET", path, headers=hdrs)
        g = c.getresponse()
        gbody = g.read()
        c.request("HEAD", path, headers=hdrs)
        h = c.getresponse()
        assert (h.status, h.reason) == (g.status, g.reason), path
        assert h.status in (200, 404), path  # / is 404 without a web client
        assert h.getheader("Content-Length") == str(len(gbody)), path
        assert h.read() == b"", path
        # No body bytes were sent: the connection carries the next request cleanly.
        c.request("GET", "/healthz")
        assert c.getresponse().status == 200
        c.close()


def test_options_on_api_and_static_paths():
    for path, allow in (("/api/rooms", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
                        ("/", "GET, HEAD, OPTIONS"), ("/healthz", "GET, HEAD, OPTIONS")):
        c = http.client.HTTPConnection(HOST, PORT, timeout=timeout())
        c.request("OPTIONS", path)
        r = c.getresponse()
        assert (r.status, r.reason) == (204, "No Content"), path
        assert r.getheader("Allow") == allow, path
        assert r.read() == b""
        c.close()


# --- logging ----------------------------------------------------------------------

def test_client_faults_are_warnings_with_the_peer():
    marker = "/api/log-marker-" + uuid.uuid4().hex[:8]
    raw(f"POST {marker} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        f"zz\r\n\r\n".encode())
    raw(f"GET /healthz HTTP/1.1\r\nHost: x\r\nCookie: {'c' * (3 * MAX_HEADERS)}\r\n\r\n".encode())
    assert_still_serves()

    def logged():
        with open(NODE1_LOG, errors="replace") as f:
            text = f.read()
        return marker in text and "lws's buffer" in text and text
    text = cnlib.wait_until(logged, timeout(), what="client faults in node1.log")
    lines = [ln for ln in text.splitlines() if marker in ln]
    assert lines and all(" WARN " in ln and "127.0.0.1" in ln for ln in lines), lines
    assert not [ln for ln in text.splitlines() if "ERROR" in ln and "header data space" in ln]
    overflow = [ln for ln in text.splitlines() if "lws's buffer" in ln]
    assert all(" WARN " in ln and "127.0.0.1" in ln for ln in overflow), overflow


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v", "-p", "no:cacheprovider"]))
