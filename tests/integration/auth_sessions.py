"""Logins that cannot be guessed at, sessions that last, tokens that say who they are for.

Against the test stack's two nodes and nodes of this test (cnlib.Node, same PostgreSQL):
  - the per-account login back-off: 5 failures, then 429 + Retry-After for any password
    (the right one too, answered without a password check), on every node, the same for an
    email no account has; it ends on its own, a success resets the count, it doubles;
  - the per-address budgets of failed logins and sign-ups (a node with low [limits]);
  - refresh tokens: login returns one, refresh trades it (on the other node) for new tokens,
    a replayed one ends its family, logout ends it (204, also for unknown tokens);
  - access tokens carry iss and aud: others are refused on REST and at STOMP CONNECT, and
    a node with another audience refuses the stack's tokens;
  - a correctly signed token of a user that does not exist is refused on REST (401) and at
    STOMP CONNECT (ERROR), and the lookup behind it runs once per node and user.
"""
import base64
import datetime
import http.client
import json
import os
import statistics
import sys
import time
import types
import urllib.parse
import uuid

import pytest
import requests

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
import stomp_session as ss  # noqa: E402

NODE1 = cnlib.need("CN_TEST_NODE1_URL")
NODE2 = cnlib.need("CN_TEST_NODE2_URL")
STACK = [types.SimpleNamespace(url=NODE1), types.SimpleNamespace(url=NODE2)]
BACKOFF_BASE_S = 4


def unique_email(tag="auth"):
    return f"{tag}-{uuid.uuid4().hex[:12]}@example.com"


def strong_password():
    return "tr0ub4dor-" + uuid.uuid4().hex[:12]


def signup(base, tag="auth"):
    email, password = unique_email(tag), strong_password()
    r = requests.post(f"{base}/api/auth/signup",
                      json={"email": email, "password": password,
                            "nickname": f"{tag}-{uuid.uuid4().hex[:8]}"})
    assert r.status_code == 201, r.text
    return r.json()["id"], email, password


def login(base, email, password):
    """(status, body, Retry-After or None, seconds it took)"""
    t0 = time.monotonic()
    r = requests.post(f"{base}/api/auth/login", json={"email": email, "password": password})
    took = time.monotonic() - t0
    retry = r.headers.get("Retry-After")
    return r.status_code, r.json(), (int(retry) if retry is not None else None), took


def refresh(base, token):
    return requests.post(f"{base}/api/auth/refresh", json={"refreshToken": token})


def logout(base, token):
    return requests.post(f"{base}/api/auth/logout", json={"refreshToken": token})


def rooms(base, token):
    return requests.get(f"{base}/api/rooms", headers={"Authorization": f"Bearer {token}"})


def payload(token):
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def unescape(value):
    """A STOMP 1.2 header value as sent (\\c for ':', ...), decoded."""
    out, i = [], 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            out.append({"c": ":", "n": "\n", "r": "\r", "\\": "\\"}.get(value[i + 1], "?"))
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def stomp_connect(node, token):
    """(command, headers with values decoded) of the answer to CONNECT; an ERROR is
    followed by a close."""
    c = ss.Client(node)
    try:
        cmd, h, _ = c.connect(token)
        if cmd == "ERROR":
            c.wait_closed(5)
        return cmd, {k: unescape(v) for k, v in h.items()}
    finally:
        c.close()


def start_node(overrides):
    n = cnlib.Node(overrides=overrides)
    try:
        n.wait_healthy()
    except BaseException:
        n.close()
        raise
    return n


def stop_node(n):
    try:
        rc, _ = n.stop()
        assert rc == 0, n.output()[-4000:]
    finally:
        n.close()


@pytest.fixture(scope="module")
def slow_node():
    """Real password hashing (argon2id 'moderate', far slower than a database round trip)
    and a first back-off of BACKOFF_BASE_S seconds, so a test can act within it."""
    n = start_node({"CHAT_AUTH_PASSWORD_HASH_COST": "moderate",
                    "CHAT_AUTH_LOGIN_BACKOFF_BASE_S": str(BACKOFF_BASE_S)})
    yield n
    stop_node(n)


@pytest.fixture(scope="module")
def strict_node():
    """Per-address budgets a test can spend: 3 failed logins and 2 sign-ups an hour."""
    n = start_node({"CHAT_LIMITS_LOGIN_FAILURES_PER_HOUR": "3",
                    "CHAT_LIMITS_SIGNUPS_PER_HOUR": "2"})
    yield n
    stop_node(n)


@pytest.fixture(scope="module")
def billing_node():
    """A node whose tokens are for another audience (same key, same database)."""
    n = start_node({"CHAT_AUTH_AUDIENCE": "billing"})
    yield n
    stop_node(n)


# --- the per-account back-off -------------------------------------------------------------

def test_five_failures_then_every_login_of_the_account_waits(slow_node):
    _, email, password = signup(slow_node.url, "backoff")
    wrong = "wrong-" + uuid.uuid4().hex
    checked = []
    for i in range(5):
        # Failures count cluster-wide: spread them over the nodes, the fifth on slow_node
        # (its back-off settings decide the length of the wait).
        base = (NODE1, NODE2, NODE1, NODE2, slow_node.url)[i]
        status, body, retry, took = login(base, email, wrong)
        assert (status, body["error"]["code"], retry) == (401, "INVALID_CREDENTIALS", None), body
        if base == slow_node.url:
            checked.append(took)
    # The sixth attempt, wrong or right, on any node: 429 with a Retry-After.
    refused = []
    for base, pw in ((NODE1, wrong), (slow_node.url, password), (NODE2, password),
                     (slow_node.url, password)):
        status, body, retry, took = login(base, email, pw)
        assert status == 429, body
        assert body["error"]["code"] == "RATE_LIMITED"
        assert retry is not None and 1 <= retry <= BACKOFF_BASE_S, retry
        refused.append(took)
    # A refusal runs no password check: it comes back far faster than the one check a
    # login on slow_node costs (argon2id 'moderate').
    print(f"password check {checked[0]:.3f} s; refusals {[round(t, 3) for t in refused]} s")
    assert statistics.median(refused) < checked[0] / 2, (refused, checked)


def test_the_back_off_ends_on_its_own_and_a_success_resets_the_count(slow_node):
    _, email, password = signup(slow_node.url, "ends")
    wrong = "wrong-" + uuid.uuid4().hex
    for _ in range(5):
        assert login(slow_node.url, email, wrong)[0] == 401
    status, _, retry, _ = login(slow_node.url, email, password)
    assert status == 429 and 1 <= retry <= BACKOFF_BASE_S
    t_block = time.monotonic()
    # Attempts while it runs change nothing: the right password gets in once it is over.
    deadline = t_block + (BACKOFF_BASE_S + 10) * cnlib.scale()
    status = 429
    while status == 429:
        assert time.monotonic() < deadline, "the back-off did not end"
        time.sleep(0.5)
        status, body, _, _ = login(slow_node.url, email, password)
    assert status == 200, body
    assert time.monotonic() - t_block >= BACKOFF_BASE_S - 1.5
    # The success reset the count: four failures are plain 401s again ...
    for _ in range(4):
        assert login(slow_node.url, email, wrong)[0] == 401
    assert login(slow_node.url, email, password)[0] == 200
    # ... and after five more the back-off starts again from its first step.
    for _ in range(5):
        assert login(slow_node.url, email, wrong)[0] == 401
    status, _, retry, _ = login(NODE1, email, password)
    assert status == 429 and retry <= BACKOFF_BASE_S


def test_the_back_off_doubles_with_each_failure_after_it(slow_node):
    _, email, _ = signup(slow_node.url, "doubles")
    wrong = "wrong-" + uuid.uuid4().hex
    for _ in range(5):
        assert login(slow_node.url, email, wrong)[0] == 401
    assert login(slow_node.url, email, wrong)[0] == 429
    # The first failure once it is over (4 s) sets the next back-off: 8 s.
    status = None
    deadline = time.monotonic() + (BACKOFF_BASE_S + 10) * cnlib.scale()
    while status != 401:
        assert time.monotonic() < deadline, "the back-off did not end"
        time.sleep(0.5)
        status = login(slow_node.url, email, wrong)[0]
        assert status in (401, 429)
    status, _, retry, _ = login(NODE2, email, wrong)
    assert status == 429 and BACKOFF_BASE_S < retry <= 2 * BACKOFF_BASE_S, retry


def test_a_429_does_not_tell_whether_the_account_exists(slow_node):
    _, email, _ = signup(slow_node.url, "exists")
    ghost = unique_email("ghost")
    answers = []
    for who in (email, ghost):
        for _ in range(5):
            status, body, _, _ = login(slow_node.url, who, "wrong-password-1")
            assert status == 401
        status, body, retry, _ = login(slow_node.url, who, "any-password-2")
        answers.append((status, body, retry is not None))
    assert answers[0] == answers[1], answers
    assert answers[0][0] == 429


# --- per-address budgets --------------------------------------------------------------------

def test_failed_logins_and_signups_per_address(strict_node):
    _, email, password = signup(NODE1, "addr")
    # Failures on three different emails: no account reaches its own back-off.
    for _ in range(3):
        status, _, _, _ = login(strict_node.url, unique_email("nobody"), "wrong-password-3")
        assert status == 401
    status, body, retry, _ = login(strict_node.url, email, password)
    assert status == 429, body
    assert body["error"]["code"] == "RATE_LIMITED" and "address" in body["error"]["message"]
    assert retry is not None and retry >= 1
    # The budget is this node's: another node lets the same address in.
    assert login(NODE1, email, password)[0] == 200
    # Sign-ups: two an hour from this address on this node.
    codes = []
    for _ in range(3):
        r = requests.post(f"{strict_node.url}/api/auth/signup",
                          json={"email": unique_email("s"), "password": strong_password(),
                                "nickname": f"s-{uuid.uuid4().hex[:8]}"})
        codes.append((r.status_code, r.headers.get("Retry-After") is not None))
    assert codes[:2] == [(201, False), (201, False)] and codes[2] == (429, True), codes


# --- refresh tokens -------------------------------------------------------------------------

def iso_ms(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def test_login_returns_a_refresh_token_that_refresh_trades_on_the_other_node():
    uid, email, password = signup(NODE1, "refresh")
    status, first, _, _ = login(NODE1, email, password)
    assert status == 200
    assert set(first) == {"accessToken", "tokenType", "expiresIn", "refreshToken",
                          "refreshExpiresAt", "user"}
    tok = first["refreshToken"]
    assert len(tok) == 43 and set(tok) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert abs(iso_ms(first["refreshExpiresAt"]) - (time.time() + 30 * 86400)) < 300
    r = refresh(NODE2, tok)
    assert r.status_code == 200, r.text
    second = r.json()
    assert set(second) == set(first)
    assert second["user"]["id"] == uid and second["tokenType"] == "Bearer"
    assert second["refreshToken"] != tok and second["accessToken"] != first["accessToken"]
    for base in (NODE1, NODE2):
        assert rooms(base, second["accessToken"]).status_code == 200
    cmd, _ = stomp_connect(STACK[0], second["accessToken"])
    assert cmd == "CONNECTED"
    # The chain goes on: the successor is good once too.
    r = refresh(NODE1, second["refreshToken"])
    assert r.status_code == 200, r.text
    # Three tokens of one family, each stored as its SHA-256 only.
    assert cnlib_psql(f"SELECT count(*), count(DISTINCT family_id) FROM refresh_tokens "
                      f"WHERE user_id = {uid}") == "3|1"
    assert cnlib_psql(f"SELECT count(*) FROM refresh_tokens WHERE user_id = {uid} AND "
                      f"token_hash = sha256(convert_to('{tok}', 'UTF8'))") == "1"


def cnlib_psql(sql):
    import subprocess
    r = subprocess.run(["psql", cnlib.need("CN_TEST_PG_URL"), "-X", "-q", "-At", "-c", sql],
                       capture_output=True, text=True, timeout=30, check=True)
    return r.stdout.strip()


def test_a_replayed_refresh_token_ends_its_family():
    _, email, password = signup(NODE1, "replay")
    first = login(NODE1, email, password)[1]["refreshToken"]
    r = refresh(NODE2, first)
    assert r.status_code == 200
    successor = r.json()["refreshToken"]
    # The spent token comes back: someone kept a copy. 401, and the family is over ...
    r = refresh(NODE1, first)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "UNAUTHORIZED"
    assert "already used" in r.json()["error"]["message"]
    # ... so the holder of the successor must log in again.
    r = refresh(NODE2, successor)
    assert r.status_code == 401 and "revoked" in r.json()["error"]["message"], r.text
    # Another login is a family of its own and unaffected.
    again = login(NODE2, email, password)[1]["refreshToken"]
    assert refresh(NODE1, again).status_code == 200


def test_logout_ends_the_session_and_answers_the_same_for_any_token():
    _, email, password = signup(NODE1, "logout")
    one = login(NODE1, email, password)[1]["refreshToken"]
    two = login(NODE2, email, password)[1]["refreshToken"]
    r = logout(NODE2, one)
    assert r.status_code == 204 and r.content == b""
    assert refresh(NODE1, one).status_code == 401
    # Again, or a token never issued: the same answer (it tells nothing about tokens).
    assert logout(NODE1, one).status_code == 204
    never = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    assert logout(NODE1, never).status_code == 204
    # The other login's session goes on.
    assert refresh(NODE2, two).status_code == 200
    # Bodies that are not a refresh token are 400s with the usual shape.
    for body in ({}, {"refreshToken": "short"}, {"refreshToken": 42},
                 {"refreshToken": "A" * 42 + "+"}):
        for path in ("/api/auth/logout", "/api/auth/refresh"):
            r = requests.post(NODE1 + path, json=body)
            assert r.status_code == 400, (path, body, r.text)
            assert r.json()["error"]["code"] == "VALIDATION_FAILED"
            assert r.json()["error"]["message"].startswith("refreshToken: ")
    r = requests.post(NODE1 + "/api/auth/refresh", data=b"{",
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_JSON"
    assert requests.get(NODE1 + "/api/auth/logout").status_code == 405


def test_a_204_keeps_the_connection_framed():
    _, email, password = signup(NODE1, "keepalive")
    tok = login(NODE1, email, password)[1]["refreshToken"]
    u = urllib.parse.urlsplit(NODE1)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.request("POST", "/api/auth/logout", body=json.dumps({"refreshToken": tok}),
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        assert r.status == 204 and r.read() == b""
        sock = conn.sock
        conn.request("GET", "/healthz")
        r = conn.getresponse()
        assert r.status == 200
        json.loads(r.read())
        assert conn.sock is sock, "the connection was not kept after the 204"
    finally:
        conn.close()


# --- iss and aud ----------------------------------------------------------------------------

@pytest.mark.parametrize("claims,text", [
    ({"aud": "billing"}, "wrong audience"),
    ({"aud": None}, "wrong audience"),
    ({"aud": ["chat-node"]}, "wrong audience"),
    ({"iss": "sso"}, "wrong issuer"),
    ({"iss": None}, "wrong issuer"),
])
def test_tokens_for_another_issuer_or_audience_are_refused(claims, text):
    uid, _, _ = signup(NODE1, "aud")
    now = int(time.time())
    tok = ss.forge_token(uid, now, now + 600, **claims)
    for node in STACK:
        r = rooms(node.url, tok)
        assert r.status_code == 401, r.text
        assert r.json()["error"] == {"code": "UNAUTHORIZED", "message": text}
        cmd, h = stomp_connect(node, tok)
        assert cmd == "ERROR" and h["message"] == f"authentication failed: {text}", h
    # The same claims with the stack's iss and aud are accepted (the forge is sound).
    good = ss.forge_token(uid, now, now + 600)
    assert rooms(NODE1, good).status_code == 200
    assert stomp_connect(STACK[1], good)[0] == "CONNECTED"


def test_a_node_for_another_audience_refuses_the_stacks_tokens(billing_node):
    uid, email, password = signup(NODE1, "billing")
    stack_token = login(NODE1, email, password)[1]["accessToken"]
    assert payload(stack_token)["aud"] == "chat-node" and payload(stack_token)["iss"] == "chat-node"
    r = rooms(billing_node.url, stack_token)
    assert r.status_code == 401 and r.json()["error"]["message"] == "wrong audience"
    cmd, h = stomp_connect(billing_node, stack_token)
    assert cmd == "ERROR" and "wrong audience" in h["message"]
    status, body, _, _ = login(billing_node.url, email, password)
    assert status == 200
    own = body["accessToken"]
    assert payload(own)["aud"] == "billing"
    assert rooms(billing_node.url, own).status_code == 200
    assert stomp_connect(billing_node, own)[0] == "CONNECTED"
    assert rooms(NODE2, own).status_code == 401


# --- users that do not exist ----------------------------------------------------------------

def test_a_signed_token_of_a_user_that_does_not_exist_is_refused():
    ghost = 900_000_000 + int(uuid.uuid4().int % 1_000_000)
    now = int(time.time())
    tok = ss.forge_token(ghost, now, now + 600)
    for node in STACK:
        r = rooms(node.url, tok)
        assert r.status_code == 401, r.text
        assert r.json()["error"] == {"code": "UNAUTHORIZED",
                                     "message": "the user of this token does not exist"}
        cmd, h = stomp_connect(node, tok)
        assert cmd == "ERROR", h
        assert h["message"] == "authentication failed: the user of this token does not exist"


def test_a_removed_user_is_refused_by_a_node_that_had_not_seen_it():
    uid, email, password = signup(NODE1, "removed")
    token = login(NODE1, email, password)[1]["accessToken"]   # NODE2 never saw this user
    cnlib_psql(f"DELETE FROM users WHERE id = {uid}")
    assert rooms(NODE2, token).status_code == 401
    assert stomp_connect(STACK[1], token)[0] == "ERROR"


def test_the_user_lookup_runs_once_per_node():
    uid, email, password = signup(NODE1, "once")
    token = login(NODE1, email, password)[1]["accessToken"]
    q0 = ss.metric(STACK[1], "chat_pg_queries_total")
    assert rooms(NODE2, token).status_code == 200              # user_by_id + my_rooms
    q1 = ss.metric(STACK[1], "chat_pg_queries_total")
    assert rooms(NODE2, token).status_code == 200              # the cached list: nothing
    q2 = ss.metric(STACK[1], "chat_pg_queries_total")
    assert (q1 - q0, q2 - q1) == (2, 0), (q0, q1, q2)
    # STOMP on that node needs no lookup either now.
    assert stomp_connect(STACK[1], token)[0] == "CONNECTED"


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-s", "-p", "no:cacheprovider"]))
