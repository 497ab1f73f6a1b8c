"""Reading up to a live message: POST /api/rooms/{id}/read and SEND /app/chat.read
accept `{"position": N}` (the `position` of a MESSAGE body; live MESSAGEs carry no `id`)
as well as `{"messageId": N}`: the room's stored message at that position.

alice sends three messages over STOMP on node 1; bob, subscribed on node 2, sees them
live with their positions and reads by position, over REST (the answer names the
stored message, the unread count in GET /api/rooms drops) and over STOMP (RECEIPT, the
room's read event names the stored message, the unread count drops to 0). Position 0
is a position (a row stored at Kafka offset 0). Bad inputs get their documented errors
(400 VALIDATION_FAILED naming the field, 404 MESSAGE_NOT_FOUND for a position with no
stored message of the room, 403/404 for rooms; INVALID_BODY and the rest on
/user/queue/errors over STOMP, the session staying) and move nothing.
"""
import json
import os
import subprocess
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
from _chat_helpers import NODE1, NODE2, Account, Session  # noqa: E402

FAR = 10**15  # a position no room has reached


def psql(sql):
    out = subprocess.run(["psql", cnlib.need("CN_TEST_PG_URL"), "-X", "-q", "-At", "-v",
                          "ON_ERROR_STOP=1"], input=sql, capture_output=True, text=True,
                         check=True, timeout=30).stdout
    return [line.split("|") for line in out.splitlines() if line]


@pytest.fixture(scope="module")
def world():
    alice, bob, carol = Account("alice"), Account("bob"), Account("carol")
    room = alice.group_room([bob], name="positions")
    other = carol.group_room([], name="elsewhere")
    sender, reader = Session(alice, NODE1), Session(bob, NODE2)
    reader.subscribe(room)
    try:
        keys = [str(uuid.uuid4()) for _ in range(3)]
        for i, k in enumerate(keys):
            assert sender.answer(sender.chat(room, f"m{i}", k)) == ("RECEIPT", None)
        live = reader.room_messages(lambda ms: len(ms) >= 3)
        assert [m["messageKey"] for _, m in live] == keys
        positions = [m["position"] for _, m in live]
        # The live bodies carry the position; the ids come from history once stored.
        t = 20 * cnlib.scale()
        stored = cnlib.wait_until(lambda: len(bob.history(room)) == 3 and bob.history(room), t,
                                  what="the three messages stored")
        ids = {m["position"]: m["id"] for m in stored}
        assert sorted(ids) == positions
        csender = Session(carol, NODE1)
        assert csender.answer(csender.chat(other, "elsewhere", str(uuid.uuid4()))) == \
            ("RECEIPT", None)
        foreign = cnlib.wait_until(lambda: carol.history(other), t, what="carol's message")
        csender.close()
        yield {"alice": alice, "bob": bob, "carol": carol, "room": room, "other": other,
               "positions": positions, "ids": [ids[p] for p in positions],
               "foreign_position": foreign[0]["position"], "reader": reader}
    finally:
        sender.close()
        reader.close()


def test_bad_rest_reads_get_their_errors_and_move_nothing(world):
    bob, carol, room = world["bob"], world["carol"], world["room"]
    pos, ids = world["positions"], world["ids"]
    before = bob.unread(room)
    assert before == 3
    # carol's message is in another room (on another partition maybe at the same
    # offset as one of bob's: then that case is covered by FAR instead).
    foreign = world["foreign_position"] if world["foreign_position"] not in pos else FAR + 1
    cases = [
        (bob, room, {"position": -1}, 400, "VALIDATION_FAILED",
         "position: must be a non-negative integer"),
        (bob, room, {"position": str(pos[0])}, 400, "VALIDATION_FAILED",
         "position: must be a non-negative integer"),
        (bob, room, {"position": 1.5}, 400, "VALIDATION_FAILED",
         "position: must be a non-negative integer"),
        (bob, room, {"messageId": ids[0], "position": pos[0]}, 400, "VALIDATION_FAILED",
         "position: cannot be given together with messageId"),
        (bob, room, {"position": FAR}, 404, "MESSAGE_NOT_FOUND", None),
        (bob, room, {"position": foreign}, 404, "MESSAGE_NOT_FOUND",
         "position: no stored message of this room has this position"),
        (carol, room, {"position": pos[0]}, 403, "NOT_A_MEMBER", None),
        (bob, 987654321, {"position": pos[0]}, 404, "ROOM_NOT_FOUND", None),
        (bob, room, b"{\"position\":", 400, "INVALID_JSON", None),
    ]
    for user, rid, body, status, code, message in cases:
        r = user.read(rid, body)
        assert r.status_code == status, (body, r.status_code, r.text)
        err = r.json()["error"]
        assert err["code"] == code, (body, err)
        if message:
            assert err["message"] == message, (body, err)
    assert bob.unread(room) == before, "a refused read moved bob"


def test_rest_read_by_position_reads_up_to_that_message(world):
    bob, room, pos, ids = world["bob"], world["room"], world["positions"], world["ids"]
    r = bob.read(room, {"position": pos[1]}, base=NODE2)
    assert r.status_code == 200, r.text
    assert r.json() == {"roomId": room, "lastReadMessageId": ids[1], "unreadCount": 1}
    cnlib.wait_until(lambda: bob.unread(room) == 1, 20 * cnlib.scale(),
                     what="bob's unread count at 1 after reading up to the 2nd message")


def test_stomp_read_by_position_is_receipted_told_and_applied(world):
    bob, room, pos, ids = world["bob"], world["room"], world["positions"], world["ids"]
    reader = world["reader"]
    rid = reader.send_json("/app/chat.read", {"roomId": room, "position": pos[2]})
    assert reader.answer(rid) == ("RECEIPT", None)
    # The room's read event (bob is subscribed) names the stored message. (The event
    # of the REST read before may still be on its way: events are skipped until this
    # one, which times out if the read named another message.)
    def read_event():
        cmd, h, body = reader.c.recv_frame(10)
        assert cmd == "MESSAGE", (cmd, h, body)
        ev = json.loads(body) if h.get("x-event") == "read" else {}
        return ev if ev.get("messageId") == ids[2] else None
    ev = cnlib.wait_until(read_event, 20 * cnlib.scale(), interval=0, what="the read event")
    assert ev == {"type": "READ", "roomId": room, "userId": bob.id, "messageId": ids[2]}
    cnlib.wait_until(lambda: bob.unread(room) == 0, 20 * cnlib.scale(),
                     what="bob's unread count at 0")


def test_bad_stomp_reads_get_errors_and_the_session_stays(world):
    bob, room, other = world["bob"], world["room"], world["other"]
    pos, ids = world["positions"], world["ids"]
    s = Session(bob, NODE1)
    try:
        cases = [
            ({"roomId": room, "position": -1}, "INVALID_BODY",
             "position: must be a non-negative integer"),
            ({"roomId": room, "position": "7"}, "INVALID_BODY",
             "position: must be a non-negative integer"),
            ({"roomId": room, "messageId": ids[0], "position": pos[0]}, "INVALID_BODY",
             "position: cannot be given together with messageId"),
            ({"roomId": room}, "INVALID_BODY", "messageId: is required (or position)"),
            ({"roomId": room, "position": FAR}, "MESSAGE_NOT_FOUND",
             "position: no stored message of this room has this position"),
            ({"roomId": other, "position": pos[0]}, "NOT_MEMBER", None),
        ]
        for body, code, message in cases:
            verdict, err = s.answer(s.send_json("/app/chat.read", body))
            assert verdict == "ERROR" and err["code"] == code, (body, verdict, err)
            if message:
                assert err["message"] == message, (body, err)
        # Still connected, and a good read by position still works.
        assert s.answer(s.send_json("/app/chat.read", {"roomId": room, "position": pos[0]})) \
            == ("RECEIPT", None)
    finally:
        s.close()


def test_position_zero_is_a_position(world):
    alice, bob = world["alice"], world["bob"]
    room = alice.group_room([bob], name="offset zero")
    # A message stored at Kafka offset 0 (as the persistence pipeline stores the first
    # record of a partition): position 0 must name it, not mean "none".
    mid = int(psql(f"INSERT INTO messages (message_key, room_id, sender_id, content, type, "
                   f"kafka_partition, kafka_offset) VALUES (gen_random_uuid(), {room}, "
                   f"{alice.id}, 'at zero', 'TEXT', 0, 0) RETURNING id")[0][0])
    r = bob.read(room, {"position": 0})
    assert r.status_code == 200, r.text
    assert r.json() == {"roomId": room, "lastReadMessageId": mid, "unreadCount": 0}
    s = Session(bob, NODE2)
    try:
        assert s.answer(s.send_json("/app/chat.read", {"roomId": room, "position": 0})) == \
            ("RECEIPT", None)
    finally:
        s.close()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-s", "-p", "no:cacheprovider"]))
