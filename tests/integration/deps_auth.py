"""Authenticated dependencies as an operator configures them.

The test stack runs Redis with an ACL user and a password and PostgreSQL with TLS
(ops/lib/stack.sh), and its nodes' config carries redis.username, redis.password_file
and a postgres.url with sslmode=require. Here:
- a node with a wrong Redis password, or an unknown Redis user, does not start: its
  error says Redis authentication failed at host:port, and never shows the password;
- a node given the right password through redis.password_file (AUTH with the password
  alone, the ACL user `default`) and a [kafka.client] property starts, is healthy and
  delivers a SEND;
- an unknown [kafka.client] property, or a bad value, stops start-up with librdkafka's
  own message naming the key;
- every PostgreSQL connection of the stack's nodes is encrypted (pg_stat_ssl).
"""
import json
import os
import subprocess
import sys
import uuid

import pytest
import requests

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
from _faults import collect, subscriber  # noqa: E402
from stomp_session import Client, User, frame  # noqa: E402


def need_auth():
    if not cnlib.redis_password():
        assert os.environ.get("CN_TEST_REQUIRE_STACK") != "1", \
            "the test stack's Redis has no password (CN_TEST_REDIS_PASSWORD_FILE)"
        pytest.skip("the stack's Redis has no password (run through ./ops/dev test)")


def exit_of(node, timeout=60):
    """Waits for a node that must not start; returns (exit code, its output)."""
    try:
        rc = node.proc.wait(timeout * cnlib.scale())
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the node kept running: {node.output()[-2000:]}")
    return rc, node.output()


def config_with(tmp_path, extra):
    """The stack's config with `extra` (INI text) appended, as a file of this test."""
    with open(cnlib.need("CN_TEST_CONFIG")) as f:
        text = f.read()
    path = tmp_path / "chat-node.ini"
    path.write_text(text + "\n" + extra)
    return str(path)


FAST_FAIL = {"CHAT_STARTUP_CONNECT_ATTEMPTS": "2", "CHAT_STARTUP_CONNECT_RETRY_MS": "100"}


@pytest.mark.parametrize("case", ["wrong password", "unknown user"])
def test_wrong_redis_credentials_stop_startup_naming_redis_authentication(case):
    need_auth()
    wrong = f"wrong-{uuid.uuid4().hex}"
    env = dict(FAST_FAIL)
    if case == "wrong password":
        # The file of the stack's config gives way to a password in the environment.
        env.update({"CHAT_REDIS_PASSWORD_FILE": "", "CHAT_REDIS_PASSWORD": wrong})
    else:
        env.update({"CHAT_REDIS_USERNAME": f"nobody-{uuid.uuid4().hex[:8]}"})
    node = cnlib.Node(overrides=env)
    try:
        rc, out = exit_of(node)
        assert rc == 1, out
        host, port = cnlib.need("CN_TEST_REDIS_HOST"), cnlib.need("CN_TEST_REDIS_PORT")
        assert f"Redis authentication failed at {host}:{port}" in out, out
        assert "cannot reach redis" in out, out
        assert wrong not in out and cnlib.redis_password() not in out, \
            "the start-up error shows a password"
    finally:
        node.close()


def test_password_file_and_kafka_client_property_give_a_working_node(tmp_path):
    need_auth()
    pw = tmp_path / "redis-password"
    pw.write_text(cnlib.redis_password() + "\n")
    pw.chmod(0o600)
    # A librdkafka property through [kafka.client]: every Kafka client gets it.
    cfg = config_with(tmp_path, "[kafka.client]\nsocket.keepalive.enable = true\n")
    node = cnlib.Node(config=cfg, overrides={"CHAT_REDIS_USERNAME": "",
                                             "CHAT_REDIS_PASSWORD_FILE": str(pw)})
    try:
        node.wait_healthy(60)
        status, body = node.healthz()
        assert status == 200 and body["checks"]["redis"] == "ok", body
        alice, bob = User(node.url, "alice"), User(node.url, "bob")
        room = alice.group_room(node.url)
        r = requests.post(f"{node.url}/api/rooms/{room}/join",
                          headers={"Authorization": f"Bearer {bob.token}"})
        assert r.status_code in (200, 201), r.text
        sub = subscriber(node.url, bob, room)
        c = Client(type("N", (), {"url": node.url}))
        try:
            cmd, h, _ = c.connect(alice.token)
            assert cmd == "CONNECTED", (cmd, h)
            key = str(uuid.uuid4())
            c.send(frame("SEND", [("destination", "/app/chat.send"), ("receipt", key),
                                  ("content-type", "application/json")],
                         json.dumps({"roomId": room, "content": "over AUTH",
                                     "messageKey": key})))
            cmd, h, _ = c.recv_frame(10 * cnlib.scale())
            assert (cmd, h.get("receipt-id")) == ("RECEIPT", key), (cmd, h)
            got = collect(sub, {key}, 30)
            assert [k for k, _ in got] == [key], got
        finally:
            c.close()
            sub.close()
        assert node.stop()[0] == 0
        assert cnlib.redis_password() not in node.output()
    finally:
        node.close()


@pytest.mark.parametrize("prop,value", [("sasl.mechanismz", "PLAIN"),
                                        ("security.protocol", "SASL_TLS")])
def test_bad_kafka_client_property_stops_startup_naming_the_key(tmp_path, prop, value):
    cfg = config_with(tmp_path, f"[kafka.client]\n{prop} = {value}\n")
    node = cnlib.Node(config=cfg)
    try:
        rc, out = exit_of(node, 30)
        assert rc == 2, out
        assert f"configuration error: kafka.client.{prop}: " in out, out
    finally:
        node.close()


def psql(sql):
    r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1",
                        "-d", cnlib.need("CN_TEST_PG_URL"), "-c", sql],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return [line.split("|") for line in r.stdout.split("\n") if line]


def test_every_postgres_connection_of_the_nodes_is_tls():
    url = cnlib.need("CN_TEST_PG_URL")
    if "sslmode=require" not in url:
        pytest.skip("the stack's PostgreSQL URL asks for no TLS")
    # Our own connection, made with the same URL, is encrypted too.
    assert psql("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == [["t"]]
    rows = psql("SELECT a.application_name, s.ssl, coalesce(s.version, '')"
                " FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)"
                " WHERE a.usename = 'chat' AND a.application_name LIKE 'chat-node%'")
    # The stack's two nodes hold pools and presence connections: some must be there.
    assert len(rows) >= 2, rows
    assert all(ssl == "t" and version.startswith("TLS") for _, ssl, version in rows), rows


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v", "-p", "no:cacheprovider"]))
