"""chat-admin across the nodes, against the test stack's two nodes: `user ID|EMAIL|NICKNAME`
shows the account and the user's sessions on every node (the node asked reads the user's
presence set and asks the other nodes through the Redis relay), `kick --user` closes them
on every node and says how many per node, `sessions` names each session's user, and an
unknown user is a clear error with a non-zero exit, as text and as JSON.

Every command is run with the global flags before the command and after it.
"""
import json
import os
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
from stomp_session import Client, User  # noqa: E402


class Node:
    def __init__(self, i):
        self.url = cnlib.need(f"CN_TEST_NODE{i}_URL")
        self.admin_socket = cnlib.stack_admin_socket(i)
        self.name = f"node{i}"


@pytest.fixture(scope="module")
def nodes():
    return Node(1), Node(2)


def run(*argv):
    import subprocess
    r = subprocess.run([cnlib.admin_bin(), *argv], capture_output=True, text=True,
                       timeout=30 * cnlib.scale())
    return r.returncode, r.stdout, r.stderr


def both_orders(sock, *args, json_out=False):
    flags = ["--json"] if json_out else []
    first = run("--socket", sock, *flags, *args)
    last = run(*args, *flags, f"--socket={sock}")
    assert first[0] == last[0], (args, first, last)
    return first, last


def ok_json(sock, *args):
    out = []
    for rc, stdout, err in both_orders(sock, *args, json_out=True):
        assert rc == 0 and err == "", (args, rc, stdout, err)
        out.append(json.loads(stdout))
    assert out[0] == out[1] or args[0] == "kick", out
    return out[0]


def connect(node, user):
    c = Client(node)
    cmd, h, _ = c.connect(user.token)
    assert cmd == "CONNECTED", (cmd, h)
    return c, h["session"]


def on_both(sock, who, want):
    """The `user` answer once it lists the sessions in `want` ({session: node})."""
    def seen():
        r = ok_json(sock, "user", who)
        got = {s["session"]: s["node"] for s in r["sessions"]}
        return r if got == want else None
    return cnlib.wait_until(seen, 15 * cnlib.scale(), interval=0.2,
                            what=f"user {who} listed with {want}")


def test_user_shows_sessions_on_every_node_and_kick_user_closes_them(nodes):
    n1, n2 = nodes
    user = User(n1.url, "both")
    c1, s1 = connect(n1, user)
    c2, s2 = connect(n2, user)
    want = {s1: "node1", s2: "node2"}
    try:
        # Asked on either node, by id, email or nickname (any case): both sessions.
        for sock, who in ((n1.admin_socket, str(user.id)), (n2.admin_socket, user.email.upper()),
                          (n1.admin_socket, user.nickname.upper())):
            r = on_both(sock, who, want)
            assert r["user"]["id"] == user.id and r["user"]["nickname"] == user.nickname, r
            assert r["user"]["email"] == user.email and r["user"]["status"] == "ONLINE", r
            assert sorted((n["node"], n["sessions"]) for n in r["nodes"]) == [
                ("node1", 1), ("node2", 1)], r
            assert all(s["nickname"] == user.nickname and s["user"] == user.id
                       for s in r["sessions"]), r
        assert on_both(n1.admin_socket, user.email, want)["user"]["matched_by"] == "email"
        for rc, out, err in both_orders(n1.admin_socket, "user", str(user.id)):
            assert rc == 0 and err == "", (out, err)
            lines = out.splitlines()
            assert lines[0].split() == ["user", str(user.id)], out
            assert lines[1].split() == ["nickname", user.nickname], out
            assert "  node1        1 sessions" in lines and "  node2        1 sessions" in lines
            rows = {ln.split()[0]: ln.split() for ln in lines if ln.split()[:1] in ([s1], [s2])}
            assert rows[s1][1:4] == [str(user.id), user.nickname, "node1"], out
            assert rows[s2][1:4] == [str(user.id), user.nickname, "node2"], out
            assert lines[-1] == "(2 sessions)", out

        # kick --user, asked on node2, closes the sessions of both nodes.
        rc, out, err = run("kick", "--user", str(user.id), "--reason", "bye",
                           "--socket", n2.admin_socket, "--json")
        assert rc == 0 and err == "", (out, err)
        r = json.loads(out)
        assert r["kicked"] == 2, r
        assert sorted((n["node"], n["kicked"]) for n in r["nodes"]) == [("node1", 1),
                                                                         ("node2", 1)], r
        for c in (c1, c2):
            cmd, h, _ = c.recv_frame()
            assert cmd == "ERROR" and h["message"] == "closed by the operator\\c bye", (cmd, h)
            c.wait_closed(5)
        on_both(n1.admin_socket, str(user.id), {})
        # Nothing left anywhere: NOT_FOUND, exit 1.
        for (rc, out, err) in both_orders(n1.admin_socket, "kick", "--user", str(user.id)):
            assert rc == 1 and out == "" and err.splitlines() == [
                "chat-admin: NOT_FOUND: that user has no session on any node"], err
    finally:
        c1.close()
        c2.close()


def test_kick_user_text_names_each_node(nodes):
    n1, n2 = nodes
    user = User(n1.url, "kick")
    c1, s1 = connect(n1, user)
    c2, s2 = connect(n2, user)
    c3, s3 = connect(n2, user)
    try:
        on_both(n1.admin_socket, str(user.id), {s1: "node1", s2: "node2", s3: "node2"})
        rc, out, err = run("kick", "--user", str(user.id), "--socket", n1.admin_socket)
        assert rc == 0 and err == "", (out, err)
        assert out.splitlines() == ["kicked 3 sessions", "  node1        1 kicked",
                                    "  node2        2 kicked"], out
        for c in (c1, c2, c3):
            assert c.recv_frame()[0] == "ERROR"
            c.wait_closed(5)
    finally:
        for c in (c1, c2, c3):
            c.close()


def test_a_user_without_sessions_is_shown_with_none(nodes):
    n1, _ = nodes
    user = User(n1.url, "idle")
    r = ok_json(n1.admin_socket, "user", user.nickname)
    assert r["user"]["id"] == user.id and r["user"]["matched_by"] == "nickname", r
    assert r["sessions"] == [] and r["nodes"] == [{"node": "node1", "sessions": 0}], r


def test_unknown_user_is_an_error_with_exit_1(nodes):
    n1, _ = nodes
    who = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    for rc, out, err in both_orders(n1.admin_socket, "user", who):
        assert rc == 1 and out == "", (out, err)
        assert err.splitlines() == [
            f"chat-admin: NOT_FOUND: no user has the id, email or nickname '{who}'"], err
    for rc, out, err in both_orders(n1.admin_socket, "user", who, json_out=True):
        assert rc == 1 and err == "", (out, err)
        e = json.loads(out)["error"]
        assert e["code"] == "NOT_FOUND" and who in e["message"], e
    rc, out, err = run("--socket", n1.admin_socket, "user", "999999999999999")
    assert rc == 1 and "NOT_FOUND" in err, err
    # A usage error: one line and the hint; as JSON too.
    rc, out, err = run("--socket", n1.admin_socket, "user")
    assert rc == 2 and err.splitlines() == ["chat-admin: user: missing argument",
                                            "try 'chat-admin help user'"], err
    rc, out, err = run("user", "a", "b", "--json", "--socket", n1.admin_socket)
    assert rc == 2 and json.loads(out)["error"]["hint"] == "chat-admin help user", out


def test_sessions_show_the_nickname(nodes):
    n1, _ = nodes
    user = User(n1.url, "nick")
    c, sid = connect(n1, user)
    try:
        for rc, out, err in both_orders(n1.admin_socket, "sessions", "--user", str(user.id)):
            assert rc == 0, err
            head, row = out.splitlines()[:2]
            assert head.split()[:4] == ["SESSION", "USER", "NICKNAME", "NODE"], head
            assert row.split()[:4] == [sid, str(user.id), user.nickname, "node1"], row
        listed = ok_json(n1.admin_socket, "sessions", "--user", str(user.id))
        assert [(s["session"], s["nickname"]) for s in listed] == [(sid, user.nickname)]
    finally:
        c.close()


def test_completion_knows_user():
    import subprocess
    script = ('eval "$(' + cnlib.admin_bin() + ' completion bash)"; COMP_WORDS=("$@"); '
              'COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _chat_admin; '
              'printf "%s\\n" "${COMPREPLY[@]}"')
    r = subprocess.run(["bash", "-c", script, "bash", "chat-admin", "us"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.split() == ["user"], (r.stdout, r.stderr)
    rc, out, _ = run("help", "user")
    assert rc == 0 and out.startswith("usage: chat-admin user ID|EMAIL|NICKNAME"), out


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
