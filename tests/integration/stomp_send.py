"""SEND /app/chat.send through the rate limiter to Kafka (issue 5): RECEIPT only after
Kafka acknowledged, the msgpack event on the room's partition of chat.messages (read
back with kcat), a client messageKey carried through, membership and type checks, the
sliding window (10 per second by default), flooding closing the session, and a Kafka
outage answered with UNAVAILABLE (on a node of this test pointed at a private
chat-kafka-dev that the test stops).

Frames by hand over python3-websocket, with stomp_session.py's client.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import msgpack
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
import _chat_helpers  # noqa: E402
from stomp_session import (Closed, User, connected, expect_error_and_close,  # noqa: E402
                           frame, metric)

PARTITIONS = 6
FLOOD = 20  # refused SENDs within the flood window that close a session here


@pytest.fixture(scope="module")
def node():
    n = cnlib.Node(overrides={"CHAT_LIMITS_SEND_BURST_CLOSE": str(FLOOD)})
    try:
        n.wait_healthy()
        yield n
        rc, _ = n.stop()
        assert rc == 0, n.output()[-4000:]
    finally:
        n.close()


@pytest.fixture(scope="module")
def alice(node):
    return User(node.url, "alice")


@pytest.fixture(scope="module")
def bob(node):
    return User(node.url, "bob")


def partition_of(room):
    return _chat_helpers.partition_of(room, PARTITIONS)


def kafka_records(partition, last=200):
    """The last records of a partition of chat.messages: [(key, offset, event dict)]."""
    out = subprocess.run(
        ["kcat", "-C", "-b", cnlib.need("CN_TEST_KAFKA_BROKERS"), "-t", "chat.messages",
         "-p", str(partition), "-o", f"-{last}", "-e", "-q", "-f", "%k %o %S\n%s"],
        capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    data, recs = out.stdout, []
    while data:
        line, _, data = data.partition(b"\n")
        key, off, size = line.split(b" ")
        size = int(size)
        try:
            ev = msgpack.unpackb(data[:size], raw=False)
        except (ValueError, msgpack.exceptions.UnpackException):
            ev = None  # another test's junk (persist_pipeline.py's DLT case) on this partition
        if isinstance(ev, dict):
            recs.append((key.decode(), int(off), ev))
        data = data[size:]
    return recs


def find_event(room, key, timeout=10):
    def look():
        for k, off, ev in kafka_records(partition_of(room)):
            if ev.get("messageKey") == key:
                return k, off, ev
        return None
    return cnlib.wait_until(look, timeout, interval=0.2, what=f"event {key} in Kafka")


def send(c, room, content, receipt=None, **extra):
    headers = [("destination", "/app/chat.send"), ("content-type", "application/json")]
    if receipt:
        headers.append(("receipt", receipt))
    c.send(frame("SEND", headers, json.dumps({"roomId": room, "content": content, **extra})))


def errors_queue(c):
    c.send(frame("SUBSCRIBE", [("id", "errs"), ("destination", "/user/queue/errors"),
                               ("receipt", "sub-errs")]))
    cmd, h, _ = c.recv_frame()
    assert (cmd, h.get("receipt-id")) == ("RECEIPT", "sub-errs")


def app_error(frame_):
    cmd, h, body = frame_
    assert cmd == "MESSAGE" and h["destination"] == "/user/queue/errors", (cmd, h, body)
    return json.loads(body)["error"]["code"], h.get("receipt-id")


def test_send_gets_receipt_and_the_event_is_on_the_rooms_partition(node, alice):
    room = alice.group_room(node.url)
    accepted = metric(node, "chat_send_total", '{outcome="accepted"}')
    c = connected(node, alice)
    content = f"hello {uuid.uuid4()}"
    send(c, room, content, receipt="s1")
    cmd, h, _ = c.recv_frame(15)
    assert (cmd, h.get("receipt-id")) == ("RECEIPT", "s1"), (cmd, h)
    # The node made the messageKey: find the record by its content.
    def look():
        for k, off, ev in kafka_records(partition_of(room)):
            if ev.get("content") == content:
                return k, off, ev
        return None
    key, _, ev = cnlib.wait_until(look, 10, interval=0.2, what="the event in Kafka")
    assert key == str(room)
    assert ev["kind"] == "ChatMessage" and ev["v"] == 1
    assert ev["roomId"] == room and ev["senderId"] == alice.id
    assert ev["senderNickname"] == alice.nickname and ev["type"] == "TEXT"
    assert str(uuid.UUID(ev["messageKey"])) == ev["messageKey"]
    assert abs(ev["sentAt"] - time.time() * 1000) < 60000
    assert metric(node, "chat_send_total", '{outcome="accepted"}') >= accepted + 1
    c.close()


def test_client_message_key_is_carried_through(node, alice):
    room = alice.group_room(node.url)
    c = connected(node, alice)
    key = str(uuid.uuid4())
    send(c, room, "with my key", receipt="k1", messageKey=key.upper(), type="IMAGE")
    cmd, h, _ = c.recv_frame(15)
    assert (cmd, h.get("receipt-id")) == ("RECEIPT", "k1"), (cmd, h)
    k, _, ev = find_event(room, key)
    assert k == str(room) and ev["content"] == "with my key" and ev["type"] == "IMAGE"
    c.close()


def test_non_member_unknown_room_and_system_type_are_refused_and_session_stays(
        node, alice, bob):
    room = alice.group_room(node.url)
    rejected = metric(node, "chat_send_total", '{outcome="rejected"}')
    c = connected(node, bob)
    errors_queue(c)
    send(c, room, "not mine", receipt="nm")
    send(c, 999999999, "nowhere", receipt="nf")
    own = bob.group_room(node.url)
    send(c, own, "I am the system", receipt="sys", type="SYSTEM")
    send(c, own, "fine", receipt="ok")
    got = [c.recv_frame(15) for _ in range(3)]
    assert [app_error(f) for f in got] == [("NOT_MEMBER", "nm"), ("ROOM_NOT_FOUND", "nf"),
                                           ("INVALID_BODY", "sys")]
    cmd, h, _ = c.recv_frame(15)
    assert (cmd, h.get("receipt-id")) == ("RECEIPT", "ok"), (cmd, h)
    assert metric(node, "chat_send_total", '{outcome="rejected"}') >= rejected + 3
    c.close()


def test_eleven_sends_in_a_second_the_excess_is_rate_limited(node, alice):
    room = alice.group_room(node.url)
    limited = metric(node, "chat_send_total", '{outcome="rate_limited"}')
    c = connected(node, alice)
    errors_queue(c)
    t0 = time.monotonic()
    for i in range(12):
        send(c, room, f"burst {i}", receipt=f"b{i}")
    sent_in = time.monotonic() - t0
    got = [c.recv_frame(15) for _ in range(12)]
    assert sent_in < 0.5, sent_in
    # Answers come in the order the SENDs were made: 10 receipts, then the refusals.
    assert [(f[0], f[1].get("receipt-id")) for f in got[:10]] == \
        [("RECEIPT", f"b{i}") for i in range(10)]
    assert [app_error(f) for f in got[10:]] == [("RATE_LIMITED", "b10"), ("RATE_LIMITED", "b11")]
    assert metric(node, "chat_send_total", '{outcome="rate_limited"}') == limited + 2
    # The window slides: a second later, sending works again.
    time.sleep(1.05)  # the window is time itself: nothing to poll for
    send(c, room, "after the window", receipt="later")
    cmd, h, _ = c.recv_frame(15)
    assert (cmd, h.get("receipt-id")) == ("RECEIPT", "later"), (cmd, h)
    c.close()


def test_sustained_flooding_closes_the_session_and_another_of_the_user_works(node, alice):
    room = alice.group_room(node.url)
    closes = metric(node, "chat_send_flood_closes_total")
    other = connected(node, alice)
    flooder = connected(node, alice)
    errors_queue(flooder)
    n = 10 + FLOOD + 5
    for i in range(n):
        send(flooder, room, f"flood {i}", receipt=f"f{i}")
    # 10 receipts, FLOOD-1 refusals on the queue, then ERROR for the FLOOD-th refusal.
    frames = []
    with pytest.raises(Closed):
        while True:
            frames.append(flooder.recv_frame(15))
    cmds = [f[0] for f in frames]
    assert cmds[:10] == ["RECEIPT"] * 10, cmds
    assert [app_error(f)[0] for f in frames[10:10 + FLOOD - 1]] == ["RATE_LIMITED"] * (FLOOD - 1)
    cmd, h, body = frames[10 + FLOOD - 1]
    assert cmd == "ERROR" and "flooding" in h["message"], (cmd, h, body)
    assert h.get("receipt-id") == f"f{10 + FLOOD - 1}"
    assert len(frames) == 10 + FLOOD
    assert metric(node, "chat_send_flood_closes_total") == closes + 1
    send(other, room, "still here", receipt="alive")
    cmd, h, _ = other.recv_frame(15)
    assert (cmd, h.get("receipt-id")) == ("RECEIPT", "alive"), (cmd, h)
    other.close()


def test_kafka_outage_answers_unavailable(alice):
    bin_ = os.path.join(os.path.dirname(cnlib.need("CN_TEST_NODE_BIN")), "chat-kafka-dev")
    tmp = tempfile.mkdtemp(prefix="cn-send-kafka-")
    boot = os.path.join(tmp, "boot")
    kafka = subprocess.Popen([bin_, "--bootstrap-file", boot, "--control",
                              os.path.join(tmp, "ctl"), "--log-level", "warn"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    n = None
    try:
        brokers = cnlib.wait_until(
            lambda: os.path.exists(boot) and open(boot).read().strip(), 10,
            what="chat-kafka-dev bootstrap file")
        n = cnlib.Node(overrides={"CHAT_KAFKA_BROKERS": brokers,
                                  "CHAT_KAFKA_SEND_TIMEOUT_MS": "2000"})
        n.wait_healthy()
        user = User(n.url, "outage")
        room = user.group_room(n.url)
        c = connected(n, user).keep_alive()
        errors_queue(c)
        send(c, room, "before", receipt="up")
        cmd, h, _ = c.recv_frame(15)
        assert (cmd, h.get("receipt-id")) == ("RECEIPT", "up"), (cmd, h)
        kafka.send_signal(signal.SIGTERM)
        kafka.wait(10)
        t0 = time.monotonic()
        send(c, room, "during", receipt="down", messageKey=str(uuid.uuid4()))
        code = app_error(c.recv_frame(15))
        assert code == ("UNAVAILABLE", "down"), code
        assert time.monotonic() - t0 < 10 * cnlib.scale()
        assert metric(n, "chat_send_total", '{outcome="failed"}') >= 1
        c.close()
    finally:
        if kafka.poll() is None:
            kafka.kill()
            kafka.wait()
        if n:
            n.stop(sig=signal.SIGKILL)
            n.close()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
