"""chat-admin's command line against the test stack's node1: global flags anywhere on the
line, --version, one-line usage errors with a `chat-admin help COMMAND` hint, `help
COMMAND` and `COMMAND --help`, --json for results and for errors ({"error":{...}} and a
non-zero exit), loglevel and limits showing the current value when given none, and the
sessions table's columns (node, client address, subscriptions, queue depth) and
count ("(1 session)"), `rooms --sort`, `dlt show` decoding the event to JSON, and
the bash completion script (`chat-admin completion bash`).

Every command is run with the global flags before the command and after it.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
from stomp_session import Client, User, frame  # noqa: E402


@pytest.fixture(scope="module")
def node1():
    class N:
        url = cnlib.need("CN_TEST_NODE1_URL")
        admin_socket = cnlib.stack_admin_socket(1)
    return N


def run(*argv):
    r = subprocess.run([cnlib.admin_bin(), *argv], capture_output=True, text=True,
                       timeout=30 * cnlib.scale())
    return r.returncode, r.stdout, r.stderr


def both_orders(sock, *args, json_out=False):
    """Runs the command with the global flags first, then with them last and in the
    --socket=PATH form; both must give the same exit status and output shape."""
    flags = ["--json"] if json_out else []
    first = run("--socket", sock, *flags, *args)
    last = run(*args, *flags, f"--socket={sock}")
    assert first[0] == last[0], (args, first, last)
    return first, last


def ok_json(sock, *args):
    for rc, out, err in both_orders(sock, *args, json_out=True):
        assert rc == 0 and err == "", (args, rc, out, err)
        yield json.loads(out)


def test_version_and_help():
    rc, out, err = run("--version")
    assert rc == 0 and out.startswith("chat-admin ") and len(out.splitlines()) == 1, out
    rc, out, _ = run("--version", "--json")
    assert rc == 0 and json.loads(out)["version"] == run("--version")[1].split()[1]
    rc, out, _ = run("help")
    assert rc == 0 and "usage: chat-admin" in out and "limits [set send-rate N]" in out
    for argv in (["help", "kick"], ["kick", "--help"], ["--help", "kick"], ["kick", "-h"]):
        rc, out, err = run(*argv)
        assert rc == 0 and err == "", (argv, err)
        assert out.startswith("usage: chat-admin kick SESSION | --user ID"), (argv, out)
        assert "usage: chat-admin sessions" not in out
    rc, out, err = run("help", "bogus")
    assert rc == 2 and err.splitlines() == ["chat-admin: help: unknown command 'bogus'",
                                            "try 'chat-admin help'"], err


@pytest.mark.parametrize("args,hint", [
    (["bogus"], "chat-admin help"), ([], "chat-admin help"),
    (["status", "extra"], "chat-admin help status"),
    (["sessions", "--user", "x"], "chat-admin help sessions"),
    (["sessions", "--top", "3"], "chat-admin help sessions"),
    (["kick"], "chat-admin help kick"), (["kick", "abc", "--user", "3"], "chat-admin help kick"),
    (["rooms", "--top", "0"], "chat-admin help rooms"),
    (["rooms", "--sort", "name"], "chat-admin help rooms"),
    (["loglevel", "chatty"], "chat-admin help loglevel"),
    (["loglevel", "info", "debug"], "chat-admin help loglevel"),
    (["limits", "set", "send-rate", "0"], "chat-admin help limits"),
    (["limits", "get", "x", "1"], "chat-admin help limits"),
    (["limits", "set"], "chat-admin help limits"),
    (["dlt"], "chat-admin help dlt"), (["dlt", "purge"], "chat-admin help dlt"),
    (["dlt", "show", "3"], "chat-admin help dlt"),
    (["dlt", "list", "--since", "yesterday"], "chat-admin help dlt"),
    (["--frobnicate", "status"], "chat-admin help"),
    (["status", "--socket"], "chat-admin help"),
])
def test_usage_error_is_one_line_and_a_hint(node1, args, hint):
    rc, out, err = run("--socket", node1.admin_socket, *args)
    lines = err.splitlines()
    assert rc == 2 and out == "", (args, rc, out, err)
    assert len(lines) == 2 and lines[0].startswith("chat-admin: "), err
    assert lines[1] == f"try '{hint}'", err
    # The same with --json, wherever it stands: the error as JSON on stdout.
    for argv in (["--json", *args], [*args, "--json"]):
        rc, out, err = run("--socket", node1.admin_socket, *argv)
        assert rc == 2 and err == "", (argv, rc, out, err)
        e = json.loads(out)["error"]
        assert e["code"] == "USAGE" and e["message"] == lines[0][len("chat-admin: "):], e
        assert e["hint"] == hint, e


def test_node_errors_as_json_exit_1(node1):
    rc, out, err = run("kick", "no-such-session", "--socket", node1.admin_socket, "--json")
    assert rc == 1 and err == "", (out, err)
    assert json.loads(out)["error"]["code"] == "NOT_FOUND", out
    rc, out, err = run("kick", "no-such-session", "--socket", node1.admin_socket)
    assert rc == 1 and out == "" and err.splitlines() == [
        "chat-admin: NOT_FOUND: no such session on this node"], err
    path = os.path.join(tempfile.gettempdir(), f"cn-no-node-{uuid.uuid4().hex[:8]}.sock")
    rc, out, err = run("status", "--json", "--socket", path)
    assert rc == 1 and err == "", err
    e = json.loads(out)["error"]
    assert e["code"] == "UNREACHABLE" and path in e["message"], e
    rc, out, err = run("status", "--socket", path)
    assert rc == 1 and out == "" and len(err.splitlines()) == 1 and path in err, err


def test_every_read_command_with_flags_anywhere(node1):
    sock = node1.admin_socket
    for st in ok_json(sock, "status"):
        assert st["node"] == "node1"
    for (rc1, out1, _), (rc2, out2, _) in [both_orders(sock, "status")]:
        assert rc1 == rc2 == 0 and "node          node1" in out1 and "node          node1" in out2
    for lag in ok_json(sock, "lag"):
        assert [g["group"] for g in lag] == ["chat-persistence", "chat-broadcast",
                                            "chat-read-receipt"]
    for rooms in ok_json(sock, "rooms", "--top", "5"):
        assert isinstance(rooms, list) and len(rooms) <= 5
    for d in ok_json(sock, "dlt", "list", "--limit", "1"):
        assert d["topic"] == "chat.messages.dlt" and len(d["records"]) <= 1
    for (rc, out, _) in both_orders(sock, "dlt", "list", "--limit", "1"):
        assert rc == 0 and "PARTITION" in out
    for h in both_orders(sock, "help", "lag"):
        assert h[0] == 0 and h[1].startswith("usage: chat-admin lag")


def test_loglevel_and_limits_show_when_given_no_value(node1):
    sock = node1.admin_socket
    for r in ok_json(sock, "loglevel"):
        assert r == {"level": "info"}, r
    for rc, out, err in both_orders(sock, "loglevel"):
        assert rc == 0 and out == "log level info\n", (out, err)
    rate = [r["send-rate"] for r in ok_json(sock, "limits")]
    assert rate[0] == rate[1] and rate[0] >= 1
    for rc, out, err in both_orders(sock, "limits"):
        assert rc == 0 and out == f"send-rate {rate[0]} per second per session\n", (out, err)
    # Setting still answers the previous value, and the show then sees the new one.
    got = list(ok_json(sock, "limits", "set", "send-rate", str(rate[0] + 1)))
    try:
        assert got[0] == {"limit": "send-rate", "previous": rate[0], "value": rate[0] + 1}
        assert [r["send-rate"] for r in ok_json(sock, "limits")] == [rate[0] + 1] * 2
    finally:
        list(ok_json(sock, "limits", "set", "send-rate", str(rate[0])))
    rc, out, _ = run("loglevel", "debug", "--socket", sock)
    try:
        assert rc == 0 and out == "log level debug (was info)\n", out
        assert list(ok_json(sock, "loglevel")) == [{"level": "debug"}] * 2
    finally:
        run("loglevel", "info", "--socket", sock)


def test_sessions_columns_and_count(node1):
    user = User(node1.url, "cli")
    room = user.group_room(node1.url)
    c = Client(node1)
    cmd, h, _ = c.connect(user.token)
    assert cmd == "CONNECTED", (cmd, h)
    for sub in ("a", "b"):
        c.send(frame("SUBSCRIBE", [("id", sub), ("destination", f"/topic/room.{room}"),
                                   ("receipt", sub)]))
        assert c.recv_frame()[0] == "RECEIPT"
    try:
        for rc, out, err in both_orders(node1.admin_socket, "sessions", "--user", str(user.id)):
            assert rc == 0 and out.endswith("(1 session)\n"), (out, err)
            head, row = out.splitlines()[:2]
            assert head.split() == ["SESSION", "USER", "NICKNAME", "NODE", "CLIENT", "CONNECTED",
                                    "SUBS", "QUEUE", "HWM", "ROOMS"], head
            cols = row.split()
            assert cols[:5] == [h["session"], str(user.id), user.nickname, "node1",
                                "127.0.0.1"], row
            assert cols[6] == "2" and cols[9] == f"{room},{room}", row
        for s in ok_json(node1.admin_socket, "sessions", "--user", str(user.id)):
            assert len(s) == 1, s
            one = s[0]
            assert one["session"] == h["session"] and one["node"] == "node1", one
            assert one["nickname"] == user.nickname, one
            assert one["client"] == "127.0.0.1" and one["subscriptions"] == 2, one
            assert one["mailbox_depth"] >= 0 and one["connected_at_ms"] > 0, one
    finally:
        c.close()
    cnlib.wait_until(lambda: list(ok_json(node1.admin_socket, "sessions", "--user",
                                          str(user.id))) == [[], []],
                     10 * cnlib.scale(), what="the session gone from the listing")
    for rc, out, _ in both_orders(node1.admin_socket, "sessions", "--user", str(user.id)):
        assert rc == 0 and out.endswith("(0 sessions)\n"), out


def msgpack_receipt(room, user, message, at):
    """A ReadReceipt event (src/proto/event_codec.h) in msgpack, by hand."""
    def s(x):
        b = x.encode()
        return bytes([0xa0 | len(b)]) + b

    def i(x):
        return b"\xd3" + struct.pack(">q", x)
    return (b"\x86" + s("kind") + s("ReadReceipt") + s("v") + b"\x01" + s("roomId") + i(room)
            + s("userId") + i(user) + s("messageId") + i(message) + s("readAt") + i(at))


def test_dlt_show_decodes_the_event(node1):
    sock, topic, part = node1.admin_socket, "chat.read-receipts.dlt", 1
    key = str(int(uuid.uuid4().int % 10**12) + 1)
    event = msgpack_receipt(int(key), 77, 88, 1764626400123)
    junk = b"\xc1 not an event " + key.encode()
    for value in (event, junk):
        r = subprocess.run(["kcat", "-P", "-b", cnlib.need("CN_TEST_KAFKA_BROKERS"), "-t", topic,
                            "-p", str(part), "-K", "\t"], input=key.encode() + b"\t" + value,
                           capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr

    def mine():
        recs = next(ok_json(sock, "dlt", "list", "--topic", topic, "--since", "10m",
                            "--limit", "1000"))["records"]
        got = [x for x in recs if x["key"] == key]
        return got if len(got) == 2 else None
    recs = cnlib.wait_until(mine, 30 * cnlib.scale(), interval=0.5, what="both records listed")
    at = [f"{x['partition']}:{x['offset']}" for x in recs]
    for shown in ok_json(sock, "dlt", "show", at[0], "--topic", topic):
        assert bytes.fromhex(shown["value_hex"]) == event, shown
        assert shown["event"] == {"kind": "ReadReceipt", "v": 1, "roomId": int(key),
                                  "userId": 77, "messageId": 88, "readAt": 1764626400123}, shown
        assert "event_error" not in shown
    for shown in ok_json(sock, "dlt", "show", at[1], "--topic", topic):
        assert shown["event"] is None and shown["event_error"], shown
    for rc, out, err in both_orders(sock, "dlt", "show", at[0], "--topic", topic):
        assert rc == 0 and '"kind": "ReadReceipt"' in out and '"messageId": 88' in out, out


def complete(*words):
    """What bash offers for the last of words (the word being typed), with the script of
    `chat-admin completion bash` loaded."""
    script = ('eval "$(' + cnlib.admin_bin() + ' completion bash)"; COMP_WORDS=("$@"); '
              'COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _chat_admin; '
              'printf "%s\\n" "${COMPREPLY[@]}"')
    r = subprocess.run(["bash", "-c", script, "bash", "chat-admin", *words],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return sorted(w for w in r.stdout.split("\n") if w)


def test_bash_completion():
    rc, out, err = run("completion", "bash")
    assert rc == 0 and "complete -F _chat_admin chat-admin" in out, (out, err)
    assert complete("se") == ["sessions"]
    assert "status" in complete("") and "--json" in complete("")
    assert complete("--json", "dlt", "") == ["list", "replay", "show"]
    assert complete("dlt", "list", "--t") == ["--topic"]
    assert complete("dlt", "list", "--topic", "chat.r") == ["chat.read-receipts.dlt"]
    assert complete("loglevel", "") == ["debug", "error", "info", "warn"]
    assert complete("limits", "s") == ["set"]
    assert complete("rooms", "--sort", "r") == ["rate"]
    assert complete("limits", "set", "") == ["send-rate"]
    assert complete("sessions", "--") == sorted(["--user", "--room", "--socket", "--config",
                                                 "--json", "--help", "--version"])
    assert complete("--socket", "/tmp/x.sock", "help", "ki") == ["kick"]
    rc, out, err = run("completion", "zsh")
    assert rc == 2 and err.splitlines()[1] == "try 'chat-admin help completion'", err


def test_rooms_sort_by_subscriptions_sessions_or_rate(node1):
    sock = node1.admin_socket
    user = User(node1.url, "rate")
    busy, quiet = user.group_room(node1.url), user.group_room(node1.url)
    c = Client(node1)
    assert c.connect(user.token)[0] == "CONNECTED"
    for sub, room in (("b", busy), ("q1", quiet), ("q2", quiet)):
        c.send(frame("SUBSCRIBE", [("id", sub), ("destination", f"/topic/room.{room}"),
                                   ("receipt", sub)]))
        assert c.recv_frame()[0] == "RECEIPT"
    try:
        for i in range(3):
            c.send(frame("SEND", [("destination", "/app/chat.send"), ("receipt", f"m{i}"),
                                  ("content-type", "application/json")],
                         json.dumps({"roomId": busy, "content": f"rate {i}"})))

        def counted():
            rooms = {r["room"]: r for r in next(ok_json(sock, "rooms", "--sort", "rate"))}
            return rooms if rooms.get(busy, {}).get("messages_1m", 0) >= 3 else None
        rooms = cnlib.wait_until(counted, 30 * cnlib.scale(), interval=0.5,
                                 what="the busy room's 3 messages counted")
        assert rooms[quiet]["messages_1m"] == 0 and rooms[quiet]["subscriptions"] == 2, rooms

        def order(*args):
            got = [[r["room"] for r in x if r["room"] in (busy, quiet)]
                   for x in ok_json(sock, "rooms", *args)]
            assert got[0] == got[1], got
            return got[0]
        assert order() == [quiet, busy]
        assert order("--sort", "subscriptions") == [quiet, busy]
        assert order("--sort", "rate") == [busy, quiet]
        assert len(next(ok_json(sock, "rooms", "--sort", "rate", "--top", "1"))) == 1
        for rc, out, err in both_orders(sock, "rooms", "--sort", "rate"):
            lines = out.splitlines()
            assert rc == 0 and lines[0].split() == ["ROOM", "SESSIONS", "SUBSCRIPTIONS",
                                                    "MSGS/MIN"], out
            mine = [ln.split() for ln in lines[1:] if ln.split()[0] in (str(busy), str(quiet))]
            assert mine[0][0] == str(busy) and int(mine[0][3]) >= 3, out
            assert mine[1] == [str(quiet), "1", "2", "0"], out
    finally:
        c.close()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
