"""Read receipts through Kafka (issue 5): POST /api/rooms/{id}/read and SEND
/app/chat.read produce a ReadReceiptEvent to chat.read-receipts; the chat-read-receipt
pipeline moves the reader's position and unread count (never backwards), drops the
reader's cached room list and tells the room, whose subscribers on every node get a
MESSAGE with `x-event: read`.

Messages are written straight into PostgreSQL (as rest_api.py does), so these tests do
not wait on the SEND and persistence paths. Runs against the stack's two nodes.
"""
import json
import os
import subprocess
import sys
import time

import pytest
import requests

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
from _chat_helpers import Account  # noqa: E402
from stomp_session import Client, frame  # noqa: E402

NODE1 = cnlib.need("CN_TEST_NODE1_URL")
NODE2 = cnlib.need("CN_TEST_NODE2_URL")
PG_URL = cnlib.need("CN_TEST_PG_URL")


class At:
    def __init__(self, url):
        self.url = url


def psql(sql):
    out = subprocess.run(["psql", PG_URL, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"],
                         input=sql, capture_output=True, text=True, check=True).stdout
    return [line.split("|") for line in out.splitlines() if line]


def redis_cli(*args):
    return subprocess.run(["redis-cli", "-h", cnlib.need("CN_TEST_REDIS_HOST"), "-p",
                           cnlib.need("CN_TEST_REDIS_PORT"), *args], check=True,
                          capture_output=True, text=True, timeout=10).stdout.strip()


def insert_messages(room, sender, n):
    """n messages of `sender`, stored like the persistence pipeline stores them; ids."""
    rows = psql(f"""
        WITH ins AS (
          INSERT INTO messages (message_key, room_id, sender_id, content, type,
                                kafka_partition, kafka_offset)
          SELECT gen_random_uuid(), {room}, {sender}, 'rr ' || g, 'TEXT', 0,
                 coalesce((SELECT max(kafka_offset) FROM messages), 0) + g
            FROM generate_series(1, {n}) g
          RETURNING id, room_id)
        SELECT id FROM ins ORDER BY id""")
    return [int(r[0]) for r in rows]


def auth(user):
    return {"Authorization": f"Bearer {user.token}"}


def rooms_of(user, base=NODE1):
    r = requests.get(f"{base}/api/rooms", headers=auth(user))
    assert r.status_code == 200, r.text
    return {x["id"]: x for x in r.json()}


def member_row(room, user):
    """(read position, unread count): the messages after it that others sent."""
    return psql(f"SELECT coalesce(m.last_read_message_id, 0), "
                f"(SELECT count(*) FROM messages x WHERE x.room_id = m.room_id "
                f"AND x.id > coalesce(m.last_read_message_id, 0) AND x.sender_id <> m.user_id) "
                f"FROM chat_room_members m WHERE m.room_id = {room} AND m.user_id = {user}")[0]


def stomp(base, user, errors=True):
    c = Client(At(base))
    cmd, h, _ = c.connect(user.token, heart_beat="0,0")
    assert cmd == "CONNECTED", (cmd, h)
    c.keep_alive()
    if errors:
        c.send(frame("SUBSCRIBE", [("id", "errs"), ("destination", "/user/queue/errors"),
                                   ("receipt", "sub-errs")]))
        assert c.recv_frame(5)[1].get("receipt-id") == "sub-errs"
    return c


def subscribe(c, room, sid="room"):
    c.send(frame("SUBSCRIBE", [("id", sid), ("destination", f"/topic/room.{room}"),
                               ("receipt", f"sub-{sid}")]))
    cmd, h, body = c.recv_frame(5)
    assert (cmd, h.get("receipt-id")) == ("RECEIPT", f"sub-{sid}"), (cmd, h, body)


def send_read(c, body, receipt):
    c.send(frame("SEND", [("destination", "/app/chat.read"), ("content-type", "application/json"),
                          ("receipt", receipt)], body if isinstance(body, str) else json.dumps(body)))


def next_read_event(c, timeout=15):
    """The next room MESSAGE carrying x-event: read (chat MESSAGEs are skipped)."""
    deadline = time.monotonic() + timeout * cnlib.scale()
    while True:
        cmd, h, body = c.recv_frame(max(0.01, deadline - time.monotonic()))
        if cmd == "MESSAGE" and h.get("x-event") == "read":
            return h, json.loads(body)
        assert cmd == "MESSAGE", (cmd, h, body)


@pytest.fixture()
def room():
    """alice's group room with bob; 3 messages of alice, so bob has 3 unread."""
    alice, bob = Account("alice"), Account("bob")
    r = requests.post(f"{NODE1}/api/rooms/group", headers=auth(alice),
                      json={"name": "receipts", "memberIds": [bob.id],
                            # public: an outsider gets NOT_MEMBER (a private room: not found)
                            "visibility": "public"})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    ids = insert_messages(rid, alice.id, 3)
    return alice, bob, rid, ids


def test_rest_read_reaches_a_subscriber_on_the_other_node_and_zeroes_unread(room):
    alice, bob, rid, ids = room
    watcher = stomp(NODE2, alice)          # the other node
    try:
        subscribe(watcher, rid)
        assert rooms_of(bob)[rid]["unreadCount"] == 3   # and now cached
        r = requests.post(f"{NODE1}/api/rooms/{rid}/read", headers=auth(bob), json={})
        assert r.status_code == 200, r.text
        assert r.json() == {"roomId": rid, "lastReadMessageId": ids[-1], "unreadCount": 0}
        h, ev = next_read_event(watcher)
        assert ev == {"type": "READ", "roomId": rid, "userId": bob.id, "messageId": ids[-1]}
        assert h["destination"] == f"/topic/room.{rid}" and h["subscription"] == "room"
        assert h["message-id"] == f"read-{rid}-{bob.id}-{ids[-1]}"
        assert "position" not in ev
        assert member_row(rid, bob.id) == [str(ids[-1]), "0"]
        # The event came after the apply, which dropped bob's stale list.
        assert rooms_of(bob, NODE2)[rid]["unreadCount"] == 0
        assert rooms_of(alice)[rid]["unreadCount"] == 0   # alice's own messages
    finally:
        watcher.close()


def test_stomp_read_moves_forward_only_and_is_receipted(room):
    alice, bob, rid, ids = room
    watcher = stomp(NODE2, alice)
    reader = stomp(NODE1, bob)
    try:
        subscribe(watcher, rid)
        send_read(reader, {"roomId": rid, "messageId": ids[1]}, "r1")
        cmd, h, body = reader.recv_frame(10 * cnlib.scale())
        assert (cmd, h.get("receipt-id")) == ("RECEIPT", "r1"), (cmd, h, body)
        h, ev = next_read_event(watcher)
        assert ev == {"type": "READ", "roomId": rid, "userId": bob.id, "messageId": ids[1]}
        cnlib.wait_until(lambda: member_row(rid, bob.id) == [str(ids[1]), "1"],
                         10 * cnlib.scale(), what="bob read up to the 2nd message")
        # An older receipt is accepted (RECEIPT) but moves nothing and tells nobody: the
        # next event the watcher sees is the one after it.
        send_read(reader, {"roomId": rid, "messageId": ids[0]}, "r0")
        assert reader.recv_frame(10 * cnlib.scale())[1].get("receipt-id") == "r0"
        send_read(reader, {"roomId": rid, "messageId": ids[2]}, "r2")
        assert reader.recv_frame(10 * cnlib.scale())[1].get("receipt-id") == "r2"
        h, ev = next_read_event(watcher)
        assert ev["messageId"] == ids[2], "the backwards receipt was announced"
        cnlib.wait_until(lambda: member_row(rid, bob.id) == [str(ids[2]), "0"],
                         10 * cnlib.scale(), what="bob read everything")
    finally:
        watcher.close()
        reader.close()


def test_the_readers_cached_room_list_is_dropped(room):
    alice, bob, rid, ids = room
    rooms_of(bob)
    rooms_of(alice)
    assert redis_cli("EXISTS", f"rooms:{bob.id}") == "1"
    assert requests.post(f"{NODE2}/api/rooms/{rid}/read", headers=auth(bob),
                         json={"messageId": ids[0]}).status_code == 200
    cnlib.wait_until(lambda: redis_cli("EXISTS", f"rooms:{bob.id}") == "0",
                     10 * cnlib.scale(), what="rooms:{bob} dropped by the pipeline")
    assert rooms_of(bob)[rid]["unreadCount"] == 2
    # Only the reader's list changed: alice's stays cached.
    assert redis_cli("EXISTS", f"rooms:{alice.id}") == "1"


def app_error(c, receipt):
    cmd, h, body = c.recv_frame(10 * cnlib.scale())
    assert cmd == "MESSAGE" and h["destination"] == "/user/queue/errors", (cmd, h, body)
    assert h.get("receipt-id") == receipt, h
    return json.loads(body)["error"]


def test_bad_stomp_reads_get_clear_errors_and_the_session_stays(room):
    alice, bob, rid, ids = room
    carol = Account("carol")
    other = requests.post(f"{NODE1}/api/rooms/group", headers=auth(carol),
                          json={"name": "other", "memberIds": []}).json()["id"]
    foreign = insert_messages(other, carol.id, 1)[0]
    c = stomp(NODE1, carol)
    b = stomp(NODE1, bob)
    try:
        send_read(c, {"roomId": rid, "messageId": ids[0]}, "x1")
        assert app_error(c, "x1")["code"] == "NOT_MEMBER"
        send_read(c, {"roomId": 987654321, "messageId": ids[0]}, "x2")
        assert app_error(c, "x2")["code"] == "ROOM_NOT_FOUND"
        send_read(c, "{not json", "x3")
        assert app_error(c, "x3")["code"] == "INVALID_BODY"
        send_read(c, {"roomId": other}, "x4")
        assert app_error(c, "x4") == {"code": "INVALID_BODY",
                                      "message": "messageId: is required (or position)"}
        send_read(c, {"roomId": other, "messageId": 0}, "x5")
        assert app_error(c, "x5") == {"code": "INVALID_BODY",
                                      "message": "messageId: must be a positive integer"}
        send_read(b, {"roomId": rid, "messageId": foreign}, "x6")
        assert app_error(b, "x6")["code"] == "MESSAGE_NOT_FOUND"
        # Still connected, and a good read still works.
        send_read(c, {"roomId": other, "messageId": foreign}, "ok")
        assert c.recv_frame(10 * cnlib.scale())[1].get("receipt-id") == "ok"
        assert member_row(rid, bob.id)[0] == "0", "a refused read moved bob"
    finally:
        c.close()
        b.close()


def test_bad_rest_reads_get_clear_errors(room):
    alice, bob, rid, ids = room
    carol = Account("carol")
    cases = [
        (carol, rid, {}, 403, "NOT_A_MEMBER"),
        (bob, 987654321, {}, 404, "ROOM_NOT_FOUND"),
        (bob, rid, {"messageId": 987654321}, 404, "MESSAGE_NOT_FOUND"),
        (bob, rid, {"messageId": "1"}, 400, "VALIDATION_FAILED"),
    ]
    for user, room_id, body, status, code in cases:
        r = requests.post(f"{NODE1}/api/rooms/{room_id}/read", headers=auth(user), json=body)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), (body, r.text)
    r = requests.post(f"{NODE1}/api/rooms/{rid}/read", headers={**auth(bob),
                      "Content-Type": "application/json"}, data="{oops")
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_JSON"
    assert member_row(rid, bob.id) == ["0", "3"], "a refused read changed bob's row"


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
