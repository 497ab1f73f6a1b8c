"""Passwords and tokens never reach the logs (issue 8, security): with both nodes at
debug level, every path that handles a secret runs (sign-up, good and bad logins, REST
with good, tampered and garbage tokens, STOMP CONNECT with good and bad tokens,
/app/auth.refresh with a good and a bad token, refresh tokens traded, replayed and logged
out); then neither node's log, nor
PostgreSQL's or Redis's, holds any of those passwords or tokens (whole, or a token's
signature), nor the JWT secret of the configuration.

The logs are the stack's files (CN_TEST_VAR/log); the secrets are fresh for this run, so a
hit can only come from this test.
"""
import configparser
import os
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
    grown = 0
    for name, off in start.items():
        with open(log_path(name), "rb") as f:
            whole = f.read()
        new = whole[off:]
        grown += len(new) if name.startswith("node") else 0
        for s in secrets:
            assert s.encode() not in new, f"{name}.log holds a secret of this test"
        assert jwt_secret.encode() not in whole, f"{name}.log holds the JWT secret"
    assert grown > 0, "the nodes logged nothing for this run: the check would prove nothing"
