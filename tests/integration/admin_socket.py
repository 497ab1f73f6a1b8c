"""chat-admin over the node's Unix socket (issue 6): every command against the test stack's
nodes (status, sessions with filters, kick by session and by user, rooms, lag, dlt
list/show/replay, loglevel, limits), usage errors and a node that is not running, and, on
nodes of this test, the socket's start-up checks (a file that is not a socket, a live
listener, a stale socket) and drain (clients told to reconnect with x-reconnect-after-ms
after their in-flight SEND got its RECEIPT, then the node exits 0).

STOMP frames by hand with stomp_session.py's client; records by kcat.
"""
import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
from stomp_session import Closed, User, connected, frame, metric  # noqa: E402

JITTER_MS = 3000


class StackNode:
    def __init__(self, i):
        self.url = cnlib.need(f"CN_TEST_NODE{i}_URL")
        self.admin_socket = cnlib.stack_admin_socket(i)
        self.name = f"node{i}"


@pytest.fixture(scope="module")
def node1():
    return StackNode(1)


@pytest.fixture(scope="module")
def node2():
    return StackNode(2)


def admin(node, *args, **kw):
    return cnlib.chat_admin(node.admin_socket, *args, **kw)


def ok_json(node, *args):
    rc, out, err = admin(node, *args, json_out=True)
    assert rc == 0, (args, err)
    return out


def subscribe(c, room, sub_id):
    c.send(frame("SUBSCRIBE", [("id", sub_id), ("destination", f"/topic/room.{room}"),
                               ("receipt", f"r-{sub_id}")]))
    cmd, h, body = c.recv_frame()
    assert (cmd, h.get("receipt-id")) == ("RECEIPT", f"r-{sub_id}"), (cmd, h, body)


def session_id(c_connected_headers):
    return c_connected_headers["session"]


def open_session(node, user, room=None, sub="s1"):
    c = cnlib_client(node)
    cmd, h, _ = c.connect(user.token)
    assert cmd == "CONNECTED", (cmd, h)
    if room:
        subscribe(c, room, sub)
    return c, h["session"]


def cnlib_client(node):
    from stomp_session import Client
    return Client(node)


# --- status, sessions, rooms, kick on the stack's nodes ---------------------------------

def test_status_human_and_json(node1, node2):
    for n in (node1, node2):
        st = ok_json(n, "status")
        assert st["node"] == n.name
        assert st["version"] and st["uptime_s"] >= 0 and st["draining"] is False
        assert st["actors"] > 0 and st["workers"] >= 1
        assert {"sessions_max_hwm", "sessions_max_depth"} <= set(st["mailbox"])
        assert st["dependencies"] == {"postgres": {"ok": True}, "redis": {"ok": True},
                                      "kafka": {"ok": True}}
        rc, out, err = admin(n, "status")
        assert rc == 0, err
        assert f"node          {n.name}" in out and "kafka         ok" in out, out


def test_sessions_rooms_filters_and_mailboxes(node1):
    alice, bob = User(node1.url, "alice"), User(node1.url, "bob")
    room_a, room_b = alice.group_room(node1.url), bob.group_room(node1.url)
    ca, sa = open_session(node1, alice, room_a)
    cb, sb = open_session(node1, bob, room_b)
    subscribe(cb, room_b, "s2")  # twice in one room: 2 subscriptions, 1 session
    try:
        before = ok_json(node1, "status")["sessions"]
        assert before >= 2
        listed = {s["session"]: s for s in ok_json(node1, "sessions")}
        assert listed[sa]["user"] == alice.id and listed[sa]["rooms"] == [room_a]
        assert listed[sb]["user"] == bob.id and sorted(listed[sb]["rooms"]) == [room_b, room_b]
        assert listed[sa]["messages"] >= 2 and listed[sa]["mailbox_hwm"] >= 1
        assert [s["session"] for s in ok_json(node1, "sessions", "--user", str(alice.id))] == [sa]
        assert [s["session"] for s in ok_json(node1, "sessions", "--room", str(room_b))] == [sb]
        assert ok_json(node1, "sessions", "--user", "999999999") == []
        rooms = {r["room"]: r for r in ok_json(node1, "rooms")}
        assert rooms[room_a] == {"room": room_a, "sessions": 1, "subscriptions": 1,
                                 "messages_1m": 0}
        assert rooms[room_b] == {"room": room_b, "sessions": 1, "subscriptions": 2,
                                 "messages_1m": 0}
        top = ok_json(node1, "rooms", "--top", "1")
        assert len(top) == 1 and top[0]["subscriptions"] >= 2
        rc, out, _ = admin(node1, "sessions", "--user", str(alice.id))
        assert rc == 0 and sa in out and "(1 session)" in out, out
    finally:
        ca.close()
        cb.close()
    cnlib.wait_until(lambda: not ok_json(node1, "sessions", "--user", str(alice.id)),
                     10 * cnlib.scale(), what="alice's session gone from the listing")


def test_kick_by_session_and_by_user(node1):
    carol = User(node1.url, "carol")
    c1, s1 = open_session(node1, carol)
    c2, s2 = open_session(node1, carol)
    c3, s3 = open_session(node1, carol)
    kicked0 = metric(node1, "chat_stomp_disconnects_total", '{reason="kicked"}')
    rc, out, err = admin(node1, "kick", s1, "--reason", "spam")
    assert rc == 0 and "kicked 1 session" in out, (out, err)
    cmd, h, _ = c1.recv_frame()
    # STOMP escapes ':' in header values as \c.
    assert cmd == "ERROR" and h["message"] == "closed by the operator\\c spam", (cmd, h)
    c1.wait_closed(5)
    assert {s["session"] for s in ok_json(node1, "sessions", "--user", str(carol.id))} <= {s2, s3}
    assert ok_json(node1, "kick", "--user", str(carol.id)) == {
        "kicked": 2, "nodes": [{"node": "node1", "kicked": 2}]}
    for c in (c2, c3):
        cmd, h, _ = c.recv_frame()
        assert cmd == "ERROR" and h["message"] == "closed by the operator", (cmd, h)
        c.wait_closed(5)
    cnlib.wait_until(lambda: metric(node1, "chat_stomp_disconnects_total",
                                    '{reason="kicked"}') >= kicked0 + 3,
                     10 * cnlib.scale(), what="3 kicks counted")
    rc, _, err = admin(node1, "kick", s1)
    assert rc == 1 and "NOT_FOUND" in err and len(err.strip().splitlines()) == 1, err


def test_loglevel_and_limits(node2):
    assert ok_json(node2, "loglevel", "debug") == {"previous": "info", "level": "debug"}
    assert ok_json(node2, "status")["log_level"] == "debug"
    assert ok_json(node2, "loglevel", "INFO")["level"] == "info"
    r = ok_json(node2, "limits", "set", "send-rate", "3")
    assert r["value"] == 3 and r["previous"] >= 1
    try:
        assert ok_json(node2, "status")["send_rate"] == 3
        dave = User(node2.url, "dave")
        room = dave.group_room(node2.url)
        c, _ = open_session(node2, dave)
        c.send(frame("SUBSCRIBE", [("id", "errs"), ("destination", "/user/queue/errors"),
                                   ("receipt", "e")]))
        assert c.recv_frame()[0] == "RECEIPT"
        # Five SENDs in one burst: the window admits 3, the next two are RATE_LIMITED.
        for i in range(5):
            c.send(frame("SEND", [("destination", "/app/chat.send"), ("receipt", f"m{i}"),
                                  ("content-type", "application/json")],
                         json.dumps({"roomId": room, "content": f"burst {i}"})))
        got = [c.recv_frame(10) for _ in range(5)]
        kinds = [("RECEIPT" if cmd == "RECEIPT" else json.loads(body)["error"]["code"])
                 for cmd, _, body in got]
        assert kinds == ["RECEIPT"] * 3 + ["RATE_LIMITED"] * 2, got
        c.close()
    finally:
        ok_json(node2, "limits", "set", "send-rate", str(r["previous"]))


def test_lag_reports_every_group_and_catches_up(node1):
    erin = User(node1.url, "erin")
    room = erin.group_room(node1.url)
    c, _ = open_session(node1, erin)
    c.send(frame("SEND", [("destination", "/app/chat.send"), ("receipt", "lag"),
                          ("content-type", "application/json")],
                 json.dumps({"roomId": room, "content": "for the lag"})))
    assert c.recv_frame(10)[0] == "RECEIPT"
    c.close()
    lag = ok_json(node1, "lag")
    assert [(g["group"], g["topic"], len(g["partitions"])) for g in lag] == [
        ("chat-persistence", "chat.messages", 6), ("chat-broadcast", "chat.messages", 6),
        ("chat-read-receipt", "chat.read-receipts", 3)]
    assert sum(p["end"] for p in lag[0]["partitions"]) >= 1

    def caught_up():
        groups = ok_json(node1, "lag")[:2]
        for g in groups:
            for p in g["partitions"]:
                if p["end"] > 0 and (p["committed"] != p["end"] or p["lag"] != 0):
                    return None
        return groups
    cnlib.wait_until(caught_up, 30 * cnlib.scale(), interval=0.5,
                     what="both chat.messages groups committed up to the end")
    rc, out, _ = admin(node1, "lag")
    assert rc == 0 and "chat-read-receipt    chat.read-receipts" in out, out


def kcat_produce(topic, partition, key, value):
    r = subprocess.run(["kcat", "-P", "-b", cnlib.need("CN_TEST_KAFKA_BROKERS"), "-t", topic,
                        "-p", str(partition), "-K", "\t"], input=key + b"\t" + value + b"\n",
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr


def kcat_values(topic, partition):
    r = subprocess.run(["kcat", "-C", "-b", cnlib.need("CN_TEST_KAFKA_BROKERS"), "-t", topic,
                        "-p", str(partition), "-o", "beginning", "-e", "-q", "-f", "%s\n"],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.split(b"\n")


def test_dlt_list_show_and_replay(node1):
    since = str(int(time.time()) - 5)
    junk = b"\xc1 admin junk " + uuid.uuid4().hex.encode()
    part = 4
    kcat_produce("chat.messages", part, b"424242", junk)

    def mine():
        recs = ok_json(node1, "dlt", "list", "--since", since, "--limit", "1000")["records"]
        return [r for r in recs if r["partition"] == part and r["value_bytes"] == len(junk)
                and r["error-stage"] == "decode"]
    recs = cnlib.wait_until(mine, 30 * cnlib.scale(), interval=0.5, what="the junk in the DLT")
    rec = recs[-1]
    assert rec["origin-topic"] == "chat.messages" and rec["origin-partition"] == str(part)
    assert rec["key"] == "424242" and rec["attempts"] == "0", rec
    shown = ok_json(node1, "dlt", "show", f"{rec['partition']}:{rec['offset']}")
    matching = [r for r in recs if bytes.fromhex(shown["value_hex"]) == junk]
    assert matching and shown["offset"] == rec["offset"], shown
    rc, out, _ = admin(node1, "dlt", "list", "--since", since, "--limit", "1000")
    assert rc == 0 and "decode" in out and f"chat.messages[{part}]@" in out, out

    copies = kcat_values("chat.messages", part).count(junk)
    r = ok_json(node1, "dlt", "replay", "--since", "10m")
    assert r["replayed"] >= 1 and r["records"] >= r["replayed"], r
    # Back in its origin topic and partition, where the persistence pipeline dead-letters
    # it once more (it still does not decode).
    assert kcat_values("chat.messages", part).count(junk) >= copies + 1
    cnlib.wait_until(lambda: len(mine()) > len(recs), 30 * cnlib.scale(), interval=0.5,
                     what="the replayed junk dead-lettered again")
    rc, _, err = admin(node1, "dlt", "show", "5:999999999")
    assert rc == 1 and "no record" in err, err


# --- usage errors and a node that is not there ------------------------------------------

# Usage errors, --json errors and flags anywhere: admin_cli.py.


def test_help_and_node_not_running(node1):
    rc, out, _ = admin(node1, "help")
    assert rc == 0 and "limits [set send-rate N]" in out and "drain" in out
    path = os.path.join(tempfile.gettempdir(), f"cn-no-node-{uuid.uuid4().hex[:8]}.sock")
    rc, out, err = cnlib.chat_admin(path, "status")
    assert rc == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and path in err, err


def test_raw_protocol_errors_keep_the_connection(node1):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10 * cnlib.scale())
        s.connect(node1.admin_socket)
        f = s.makefile("rwb")
        for line, code in [(b"not json", "BAD_REQUEST"), (b'{"cmd": 3}', "BAD_REQUEST"),
                           (b'{"cmd":"nope"}', "UNKNOWN_COMMAND"),
                           (b'{"cmd":"sessions","user":-1}', "BAD_ARGUMENT")]:
            f.write(line + b"\n")
            f.flush()
            ans = json.loads(f.readline())
            assert ans["ok"] is False and ans["error"]["code"] == code, (line, ans)
        f.write(b'{"cmd":"help"}\n')
        f.flush()
        assert "drain" in json.loads(f.readline())["result"]["commands"]


# --- start-up checks of the socket path, on nodes of this test ---------------------------

def test_socket_path_checks_at_startup(node1):
    tmp = tempfile.mkdtemp(prefix="cn-admin-")
    # A regular file is never replaced.
    regular = os.path.join(tmp, "file.sock")
    with open(regular, "w") as f:
        f.write("keep me")
    n = cnlib.Node(overrides={"CHAT_ADMIN_SOCKET": regular})
    try:
        rc = n.proc.wait(30 * cnlib.scale())
        assert rc != 0 and "is not a socket" in n.output(), n.output()
        assert open(regular).read() == "keep me"
    finally:
        n.close()
    # A live node's socket: refused, and that node keeps it.
    n = cnlib.Node(overrides={"CHAT_ADMIN_SOCKET": node1.admin_socket})
    try:
        rc = n.proc.wait(30 * cnlib.scale())
        assert rc != 0 and "another chat-node is listening" in n.output(), n.output()
        assert ok_json(node1, "status")["node"] == "node1"
    finally:
        n.close()
    # A stale socket (its listener died without unlinking): replaced, mode 0600.
    stale = os.path.join(tmp, "stale.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(stale)
    s.close()
    assert stat.S_ISSOCK(os.lstat(stale).st_mode)
    n = cnlib.Node(overrides={"CHAT_ADMIN_SOCKET": stale})
    try:
        n.wait_healthy()
        st = os.lstat(stale)
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
        assert st.st_uid == os.getuid()
        rc, out, err = cnlib.chat_admin(stale, "status", json_out=True)
        assert rc == 0 and out["node"] == f"test-{n.port}", err
        rc, _ = n.stop()
        assert rc == 0
        assert not os.path.exists(stale), "the node removes its socket when it stops"
    finally:
        n.close()


# --- drain, on a node of this test --------------------------------------------------------

def test_drain_finishes_inflight_sends_and_tells_clients_to_reconnect():
    n = cnlib.Node(overrides={"CHAT_ADMIN_DRAIN_RECONNECT_JITTER_MS": str(JITTER_MS),
                              "CHAT_ADMIN_DRAIN_BATCH": "2"})
    try:
        n.wait_healthy()
        users = [User(n.url, f"drain{i}") for i in range(5)]
        room = users[0].group_room(n.url)
        clients = [open_session(n, u)[0] for u in users]
        # Every client has a SEND in flight when the drain starts.
        for i, c in enumerate(clients):
            own = users[i].group_room(n.url)
            c.send(frame("SEND", [("destination", "/app/chat.send"), ("receipt", f"d{i}"),
                                  ("content-type", "application/json")],
                         json.dumps({"roomId": own, "content": f"in flight {i}"})))
        del room
        proc = subprocess.Popen([cnlib.admin_bin(), "--socket", n.admin_socket, "drain"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        hints = []
        for i, c in enumerate(clients):
            frames = []
            try:
                while True:
                    frames.append(c.recv_frame(30))
            except Closed:
                pass
            cmds = [f[0] for f in frames]
            assert cmds == ["RECEIPT", "ERROR"], frames
            assert frames[0][1]["receipt-id"] == f"d{i}"
            h = frames[1][1]
            assert "reconnect to another node" in h["message"], h
            hints.append(int(h["x-reconnect-after-ms"]))
        assert all(0 <= x <= JITTER_MS for x in hints), hints
        assert len(set(hints)) > 1, f"no jitter: {hints}"
        out, err = proc.communicate(timeout=60 * cnlib.scale())
        assert proc.returncode == 0, (out, err)
        assert "draining: 5 sessions" in out and out.strip().endswith("stopped"), out
        rc = n.proc.wait(30 * cnlib.scale())
        assert rc == 0, n.output()[-3000:]
        assert "chat-admin drain: draining" in n.output()
        assert not os.path.exists(n.admin_socket)
    finally:
        n.close()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))


NOBODY = 65534
AS_NOBODY = r"""
import json, os, socket, sys
dfd, name = int(sys.argv[1]), sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    # Through the directory's descriptor: only the socket's own mode decides.
    s.connect(f"/proc/self/fd/{dfd}/{name}")
except OSError as e:
    print(json.dumps({"connect_errno": e.errno})); sys.exit(0)
s.sendall(b'{"cmd":"status"}\n')
data = b""
while not data.endswith(b"\n"):
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(json.dumps({"answer": data.decode(), "closed": s.recv(1) == b""}))
"""


def run_as_nobody(sock_path):
    """What a process of another user gets from the admin socket."""
    dfd = os.open(os.path.dirname(sock_path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        def drop():
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
        out = subprocess.run(["/usr/bin/python3", "-c", AS_NOBODY, str(dfd),
                              os.path.basename(sock_path)], preexec_fn=drop, pass_fds=(dfd,),
                             capture_output=True, text=True, timeout=30 * cnlib.scale())
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)
    finally:
        os.close(dfd)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_other_users_are_refused(node1):
    """The socket is 0600 (the kernel refuses another user), and when its mode is
    loosened the node still refuses a peer that is neither its user nor root."""
    import errno
    st = os.stat(node1.admin_socket)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.geteuid()
    assert run_as_nobody(node1.admin_socket) == {"connect_errno": errno.EACCES}
    os.chmod(node1.admin_socket, 0o666)
    try:
        got = run_as_nobody(node1.admin_socket)
    finally:
        os.chmod(node1.admin_socket, 0o600)
    answer = json.loads(got["answer"])
    assert answer["ok"] is False and answer["error"]["code"] == "FORBIDDEN", answer
    assert f"uid {NOBODY}" in answer["error"]["message"]
    assert got["closed"]
    # The node's own user still drives it.
    assert ok_json(node1, "status")["node"]
