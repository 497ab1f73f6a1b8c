"""The HTTP interop matrix: everyday HTTP clients against the stack's node 1.

- curl: POST /api/rooms/{id}/join without a body (no Content-Length at all) and with
  one; a chunked request body (200, or 411 with the JSON error shape: never an empty
  reply, curl's exit 52); request headers of 10 KiB (accepted) and 20 KiB (431 with the
  JSON error shape); a 5 MiB body (413), also with `Expect:` switched off, so that the
  answer must arrive while curl is still sending.
- Node's fetch (tests/e2e/http/fetch.mjs): a 5 MiB body sees the 413 (no EPIPE or
  reset); a normal login and GET work.
- Python's http.client: reason phrases (`201 Created`, ...), HEAD and OPTIONS answered.

Each client's observations are printed as one line at the end. Outside `ops/dev test`
this exits 77 unless CN_TEST_REQUIRE_STACK=1.
"""
import http
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import uuid

NEEDED = ["CN_TEST_NODE1_URL", "CN_TEST_NODE2_URL"]
if any(not os.environ.get(k) for k in NEEDED):
    if os.environ.get("CN_TEST_REQUIRE_STACK") == "1":
        sys.exit(f"missing {[k for k in NEEDED if not os.environ.get(k)]} with "
                 "CN_TEST_REQUIRE_STACK=1")
    print("skipped: run through ./ops/dev test (needs the stack's CN_TEST_* variables)")
    sys.exit(77)

import pytest  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
from _chat_helpers import NODE1, Account  # noqa: E402

FETCH_DIR = os.path.join(os.path.dirname(__file__), "..", "e2e", "http")
HOST = urllib.parse.urlsplit(NODE1)
BIG = 5 * 1024 * 1024
SEEN = {}  # client -> {case: what it saw}, printed at the end


def seen(client, case, what):
    SEEN.setdefault(client, {})[case] = what


@pytest.fixture(scope="module", autouse=True)
def table():
    yield
    print()
    for client, cases in SEEN.items():
        print(f"http {client:11} | " + " | ".join(f"{k} {v}" for k, v in cases.items()))


@pytest.fixture(scope="module")
def user():
    """An account (with its password, for the logins) and a public room of another."""
    if not shutil.which("curl"):
        pytest.fail("curl is needed for the HTTP matrix")
    email = f"http-{uuid.uuid4().hex[:10]}@example.com"
    password = "tr0ub4dor-" + uuid.uuid4().hex[:12]
    nickname = f"http-{uuid.uuid4().hex[:8]}"
    st, _, body = cnlib.http("POST", f"{NODE1}/api/auth/signup",
                             {"email": email, "password": password, "nickname": nickname})
    assert st == 201, body
    st, _, body = cnlib.http("POST", f"{NODE1}/api/auth/login",
                             {"email": email, "password": password})
    assert st == 200, body
    owner = Account("owner")
    rooms = [owner.group_room([], name=f"open {i}") for i in range(2)]
    return {"email": email, "password": password, "token": json.loads(body)["accessToken"],
            "rooms": rooms}


def curl(*args, data_file=None):
    """Runs curl; returns (exit code, status, headers (lower-case names), body text)."""
    with tempfile.TemporaryDirectory() as d:
        hdr, out = os.path.join(d, "h"), os.path.join(d, "b")
        cmd = ["curl", "-sS", "--max-time", str(int(30 * cnlib.scale())), "-D", hdr, "-o", out]
        cmd += list(args)
        if data_file:
            cmd += ["--data-binary", "@" + data_file]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60 * cnlib.scale())
        status, headers = None, {}
        if os.path.exists(hdr):
            blocks = open(hdr, encoding="latin-1").read().strip().split("\r\n\r\n")
            lines = blocks[-1].split("\r\n")  # the last answer (after any 100 Continue)
            if lines and lines[0].startswith("HTTP/"):
                status = int(lines[0].split()[1])
                headers = {k.strip().lower(): v.strip() for k, _, v in
                           (ln.partition(":") for ln in lines[1:])}
        body = open(out, encoding="utf-8", errors="replace").read() if os.path.exists(out) else ""
        return r.returncode, status, headers, body, r.stderr.strip()


def error_shape(body, status):
    e = json.loads(body)["error"]
    assert e["code"] and e["message"], (status, body)
    return e["code"]


def auth(user):
    return ["-H", f"Authorization: Bearer {user['token']}"]


# --- curl -----------------------------------------------------------------------------------

def test_curl_post_join_without_a_body(user):
    rc, st, _, body, err = curl("-X", "POST", *auth(user),
                                f"{NODE1}/api/rooms/{user['rooms'][0]}/join")
    seen("curl", "join-no-body", st or f"exit {rc}")
    assert rc == 0, f"curl exit {rc}: {err}"  # 52: empty reply
    assert st == 200 and json.loads(body)["id"] == user["rooms"][0], (st, body)


def test_curl_post_join_with_a_body(user):
    rc, st, _, body, err = curl("-X", "POST", *auth(user), "-H", "Content-Type: application/json",
                                "--data-binary", "{}",
                                f"{NODE1}/api/rooms/{user['rooms'][1]}/join")
    seen("curl", "join-body", st or f"exit {rc}")
    assert rc == 0, f"curl exit {rc}: {err}"
    assert st == 200 and json.loads(body)["id"] == user["rooms"][1], (st, body)


def test_curl_chunked_login_is_decoded_or_refused_with_411(user):
    rc, st, _, body, err = curl("-X", "POST", "-H", "Content-Type: application/json",
                                "-H", "Transfer-Encoding: chunked",
                                "--data-binary", json.dumps({"email": user["email"],
                                                             "password": user["password"]}),
                                f"{NODE1}/api/auth/login")
    seen("curl", "chunked", st or f"exit {rc}")
    assert rc == 0, f"curl exit {rc}: {err}"  # 52: empty reply
    assert st in (200, 411), (st, body)
    if st == 200:
        assert json.loads(body)["accessToken"]
    else:
        error_shape(body, st)


def test_curl_10_kib_of_headers_are_accepted(user):
    rc, st, _, body, err = curl(*auth(user), "-H", "Cookie: pad=" + "c" * (10 * 1024),
                                f"{NODE1}/api/rooms")
    seen("curl", "10KiB-headers", st or f"exit {rc}")
    assert rc == 0, f"curl exit {rc}: {err}"
    assert st == 200 and isinstance(json.loads(body), list), (st, body)


def test_curl_20_kib_of_headers_get_431(user):
    rc, st, _, body, err = curl(*auth(user), "-H", "Cookie: pad=" + "c" * (20 * 1024),
                                f"{NODE1}/api/rooms")
    seen("curl", "20KiB-headers", st or f"exit {rc}")
    assert rc == 0, f"curl exit {rc}: {err}"
    assert st == 431, (st, body)
    error_shape(body, st)


@pytest.mark.parametrize("expect", ["100-continue", "off"])
def test_curl_5_mib_body_gets_413(user, expect, tmp_path):
    big = tmp_path / "big.json"
    big.write_bytes(b'{"email":"' + b"x" * BIG + b'","password":"p"}')
    extra = ["-H", "Expect:"] if expect == "off" else []
    rc, st, _, body, err = curl("-X", "POST", "-H", "Content-Type: application/json", *extra,
                                f"{NODE1}/api/auth/login", data_file=str(big))
    seen("curl", f"5MiB-expect-{expect}", st or f"exit {rc}")
    assert st == 413, (rc, st, body, err)
    error_shape(body, st)
    assert rc == 0, f"curl exit {rc} after the 413: {err}"  # 55/56: reset while sending


# --- Node's fetch ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fetched(user):
    if not shutil.which("node"):
        pytest.fail("node is needed for the fetch column (CN_PACKAGES_TEST)")
    r = subprocess.run(["node", "fetch.mjs", NODE1, user["email"], user["password"]],
                       cwd=FETCH_DIR, capture_output=True, text=True, timeout=120 * cnlib.scale())
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    for case, v in out.items():
        seen("node-fetch", case, v.get("status") or v.get("error"))
    return out


def test_fetch_5_mib_body_sees_413_not_a_reset(fetched):
    big = fetched["big"]
    assert big.get("status") == 413, big  # e.g. {"error": "EPIPE: write EPIPE"}
    error_shape(big["body"], 413)


def test_fetch_normal_requests_work(fetched):
    assert fetched["login"] == {"status": 200, "statusText": "OK", "hasToken": True}
    assert fetched["rooms"]["status"] == 200 and fetched["rooms"]["isList"], fetched["rooms"]


# --- Python's http.client -------------------------------------------------------------------

def request(method, path, body=None, headers=None):
    c = http.client.HTTPConnection(HOST.hostname, HOST.port, timeout=15 * cnlib.scale())
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.reason, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def test_http_client_signup_answers_201_created():
    tag = uuid.uuid4().hex[:8]
    st, reason, _, body = request("POST", "/api/auth/signup", json.dumps({
        "email": f"hc-{tag}@example.com", "password": "tr0ub4dor-" + uuid.uuid4().hex[:12],
        "nickname": f"hc-{tag}"}), {"Content-Type": "application/json"})
    seen("http.client", "signup", f"{st} {reason!r}")
    assert st == 201, body
    assert reason == "Created", f"status line 'HTTP/1.1 201 {reason}'"


@pytest.mark.parametrize("path,status", [
    ("/healthz", 200), ("/api/rooms", 401), ("/api/no-such-route", 404),
    ("/api/auth/login", 405),
])
def test_http_client_every_status_has_its_reason_phrase(path, status):
    st, reason, _, body = request("GET", path)
    seen("http.client", f"GET {path}", f"{st} {reason!r}")
    assert st == status, (path, body)
    assert reason == http.HTTPStatus(st).phrase, f"{path}: 'HTTP/1.1 {st} {reason}'"


def test_http_client_head_is_answered_without_a_body(user):
    for path, headers in (("/healthz", {}),
                          ("/api/rooms", {"Authorization": f"Bearer {user['token']}"})):
        st, reason, h, body = request("HEAD", path, headers=headers)
        seen("http.client", f"HEAD {path}", f"{st} {reason!r}")
        assert st == 200, (path, st, body)
        assert body == b"", (path, body)
        g_st, _, _, g_body = request("GET", path, headers=headers)
        assert g_st == 200
        if "content-length" in h and path == "/api/rooms":
            assert int(h["content-length"]) == len(g_body), (h, len(g_body))


def test_http_client_options_is_answered():
    st, reason, h, body = request("OPTIONS", "/api/rooms")
    seen("http.client", "OPTIONS /api/rooms", f"{st} {reason!r} allow={h.get('allow')!r}")
    assert st in (200, 204), (st, body)
    assert "GET" in h.get("allow", "") or "GET" in h.get("access-control-allow-methods", ""), h


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-s", "-p", "no:cacheprovider"]))
