"""Passwords and tokens never reach the logs (issue 8, security): with both nodes at
debug level, every path that handles a secret runs (sign-up, good and bad logins, REST
with good, tampered and garbage tokens, STOMP CONNECT with good and bad tokens,
/app/auth.refresh with a good and a bad token, refresh tokens traded, replayed and logged
out); then neither node's log, nor
PostgreSQL's or Redis's, holds any of those passwords or tokens (whole, or a token's
signature), nor the JWT secret of the configuration, nor the stack's Redis password.

The logs are the stack's files (CN_TEST_VAR/log); the secrets are fresh for this run, so a
hit can only come from this test.

The same holds for a node of this test logging in JSON (log.format=json), whose JWT
secret comes from a file (auth.jwt_secret_file) and whose Redis password from the
stack's password file: neither appears in its log. There, every
line is also a JSON object with ts, level, node, module and msg; logins (good and bad)
and the session's open and close are logged with their context, the email only hashed.
"""
import hashlib
import json
import re
import configparser
import os
import subprocess
import sys
import uuid

import pytest
import requests

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
from stomp_session import Client, frame  # noqa: E402

NODES = (1, 2)


def log_path(name):
    return os.path.join(cnlib.need("CN_TEST_VAR"), "log", f"{name}.log")


def set_level(level):
    for i in NODES:
        rc, out, err = cnlib.chat_admin(cnlib.stack_admin_socket(i), "loglevel", level)
        assert rc == 0, err


@pytest.fixture
def debug_logs():
    set_level("debug")
    try:
        yield
    finally:
        set_level("info")


def tamper(token):
    head, payload, sig = token.split(".")
    return ".".join([head, payload, ("A" if sig[0] != "A" else "B") + sig[1:]])


def stomp_round(url, token, refresh_with):
    """CONNECT with token; when it works, refresh with each of refresh_with."""
    c = Client(type("N", (), {"url": url}))
    try:
        cmd, h, _ = c.connect(token)
        if cmd != "CONNECTED":
            return cmd
        for i, t in enumerate(refresh_with):
            c.send(frame("SEND", [("destination", "/app/auth.refresh"), ("receipt", f"r{i}"),
                                  ("Authorization", f"Bearer {t}")]))
            c.recv_frame()
        return cmd
    finally:
        c.close()


def test_no_password_or_token_in_any_log(debug_logs):
    n1, n2 = cnlib.need("CN_TEST_NODE1_URL"), cnlib.need("CN_TEST_NODE2_URL")
    names = ["node1", "node2", "postgres", "redis"]
    start = {n: os.path.getsize(log_path(n)) for n in names if os.path.exists(log_path(n))}
    assert {"node1", "node2"} <= set(start)

    password = f"pw-{uuid.uuid4().hex}"
    wrong = f"wrong-{uuid.uuid4().hex}"
    email = f"logs-{uuid.uuid4().hex[:12]}@example.com"
    r = requests.post(f"{n1}/api/auth/signup",
                      json={"email": email, "password": password,
                            "nickname": f"logs-{uuid.uuid4().hex[:8]}"})
    assert r.status_code == 201, r.text
    assert requests.post(f"{n2}/api/auth/login",
                         json={"email": email, "password": wrong}).status_code == 401
    tokens, refresh = [], []
    for base in (n1, n2):
        r = requests.post(f"{base}/api/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        tokens.append(r.json()["accessToken"])
        refresh.append(r.json()["refreshToken"])
    # Refresh tokens: traded once on the other node, replayed (which revokes the
    # family), and logged out.
    r = requests.post(f"{n2}/api/auth/refresh", json={"refreshToken": refresh[0]})
    assert r.status_code == 200, r.text
    refresh.append(r.json()["refreshToken"])
    tokens.append(r.json()["accessToken"])
    assert requests.post(f"{n1}/api/auth/refresh",
                         json={"refreshToken": refresh[0]}).status_code == 401
    assert requests.post(f"{n1}/api/auth/logout",
                         json={"refreshToken": refresh[1]}).status_code == 204
    bad = [tamper(t) for t in tokens] + [f"garbage.{uuid.uuid4().hex}.x"]
    for base, t in zip((n1, n2), tokens):
        assert requests.get(f"{base}/api/rooms",
                            headers={"Authorization": f"Bearer {t}"}).status_code == 200
    for base, t in zip((n1, n2, n1), bad):
        assert requests.get(f"{base}/api/rooms",
                            headers={"Authorization": f"Bearer {t}"}).status_code == 401
    assert stomp_round(n1, tokens[0], [tokens[1], bad[0]]) == "CONNECTED"
    assert stomp_round(n2, tokens[1], [tokens[0]]) == "CONNECTED"
    assert stomp_round(n2, bad[1], []) == "ERROR"
    assert stomp_round(n1, bad[2], []) == "ERROR"

    # What the nodes logged for this run must be there (debug level took), so a
    # clean result means something.
    set_level("info")
    secrets = ([password, wrong] + tokens + bad + refresh +
               [t.split(".")[2] for t in tokens + bad[:2]])
    cfg = configparser.ConfigParser()
    cfg.read(cnlib.need("CN_TEST_CONFIG"))
    jwt_secret = cfg.get("auth", "jwt_secret")
    redis_pw = cnlib.redis_password()
    grown = 0
    for name, off in start.items():
        with open(log_path(name), "rb") as f:
            whole = f.read()
        new = whole[off:]
        grown += len(new) if name.startswith("node") else 0
        for s in secrets:
            assert s.encode() not in new, f"{name}.log holds a secret of this test"
        assert jwt_secret.encode() not in whole, f"{name}.log holds the JWT secret"
        if redis_pw:
            assert redis_pw.encode() not in whole, f"{name}.log holds the Redis password"
        if name.startswith("node"):
            assert email.encode() not in new, f"{name}.log holds an email in clear"
    assert grown > 0, "the nodes logged nothing for this run: the check would prove nothing"
    text = b"".join(open(log_path(n), "rb").read()[start[n]:] for n in ("node1", "node2"))
    assert b"login succeeded" in text and b"login failed: wrong password" in text


TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_json_log_lines_carry_context_and_no_secret(tmp_path):
    # A JWT secret of this test, from a file (the empty CHAT_AUTH_JWT_SECRET clears the
    # config's, which would otherwise collide with the file).
    file_secret = f"file-secret-{uuid.uuid4().hex}{uuid.uuid4().hex}"
    secret_file = tmp_path / "jwt_secret"
    secret_file.write_text(file_secret + "\n")
    node = cnlib.Node(overrides={"CHAT_LOG_FORMAT": "json", "CHAT_LOG_LEVEL": "debug",
                                 "CHAT_AUTH_JWT_SECRET": "",
                                 "CHAT_AUTH_JWT_SECRET_FILE": str(secret_file)})
    try:
        node.wait_healthy()
        password = f"pw-{uuid.uuid4().hex}"
        wrong = f"wrong-{uuid.uuid4().hex}"
        email = f"json-{uuid.uuid4().hex[:12]}@example.com"
        r = requests.post(f"{node.url}/api/auth/signup",
                          json={"email": email, "password": password,
                                "nickname": f"json-{uuid.uuid4().hex[:8]}"})
        assert r.status_code == 201, r.text
        user_id = r.json()["id"]
        assert requests.post(f"{node.url}/api/auth/login",
                             json={"email": email, "password": wrong}).status_code == 401
        assert requests.post(f"{node.url}/api/auth/login",
                             json={"email": "nobody-" + email, "password": wrong}
                             ).status_code == 401
        r = requests.post(f"{node.url}/api/auth/login",
                          json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        token, refresh = r.json()["accessToken"], r.json()["refreshToken"]
        assert requests.get(f"{node.url}/api/rooms",
                            headers={"Authorization": f"Bearer {token}"}).status_code == 200
        c = Client(type("N", (), {"url": node.url}))
        try:
            cmd, headers, _ = c.connect(token)
            assert cmd == "CONNECTED"
            session = headers["session"]
            c.send(frame("DISCONNECT", [("receipt", "bye")]))
            assert c.recv_frame()[0] == "RECEIPT"
        finally:
            c.close()

        def lines():
            out = node.output()
            return [json.loads(ln) for ln in out.splitlines() if ln.strip()]

        def closed_logged():
            return [e for e in lines() if e.get("module") == "session"
                    and e["msg"].startswith("closed after")] or None
        cnlib.wait_until(closed_logged, 10 * cnlib.scale(), what="the session's close logged")
        rc, _ = node.stop()
        assert rc == 0
        out = node.output()
        entries = []
        for ln in out.splitlines():
            if not ln.strip():
                continue
            e = json.loads(ln)  # every line is one JSON object
            entries.append(e)
            assert {"ts", "level", "node", "module", "msg"} <= set(e), ln
            assert TS.match(e["ts"]) and e["level"] in ("debug", "info", "warn", "error"), ln
            assert e["node"] == f"test-{node.port}", ln
        for secret in (password, wrong, token, refresh, token.split(".")[2], email):
            assert secret not in out, "the JSON log holds a secret or an email in clear"
        assert file_secret not in out, "the JSON log holds the JWT secret from its file"
        if cnlib.redis_password():
            assert cnlib.redis_password() not in out, "the JSON log holds the Redis password"

        version = subprocess.run([cnlib.need("CN_TEST_NODE_BIN"), "--version"],
                                 capture_output=True, text=True).stdout.split()[-1]
        assert any(version in e["msg"] and "starting" in e["msg"] for e in entries)
        assert any(f":{node.port}" in e["msg"] and "admin socket" in e["msg"] for e in entries)

        auth = [e for e in entries if e["module"] == "auth"]
        digest = hashlib.sha256(email.encode()).hexdigest()[:12]
        ok = [e for e in auth if e["msg"].startswith("login succeeded")]
        assert len(ok) == 1 and ok[0]["level"] == "info" and ok[0]["user"] == user_id, auth
        assert digest in ok[0]["msg"] and ok[0]["peer"] == "127.0.0.1" and ok[0]["request_id"]
        bad = [e for e in auth if e["msg"].startswith("login failed: wrong password")]
        assert len(bad) == 1 and bad[0]["user"] == user_id and digest in bad[0]["msg"], auth
        assert [e for e in auth if e["msg"].startswith("login failed: no account")], auth

        mine = [e for e in entries if e.get("session") == session]
        opened = [e for e in mine if e["msg"].startswith("opened")]
        closed = [e for e in mine if e["msg"].startswith("closed after")]
        assert opened and opened[0]["user"] == user_id and opened[0]["peer"] == "127.0.0.1"
        assert closed and closed[0]["msg"].endswith("disconnect") and closed[0]["user"] == user_id
    finally:
        node.close()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v", "-p", "no:cacheprovider"]))
