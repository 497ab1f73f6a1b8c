"""A messageKey is its sender's idempotency key within a room: "a RECEIPT means the
message will be in history".

Two users send over STOMP (alice on node 1, bob on node 2) into three rooms of theirs:
two on the same partition of chat.messages (so their records share persistence batches
and broadcast runs) and one on another. Each key is reused in another room, by another
sender, and both, in both orders (the first message stored before the second is sent),
plus once all at the same moment (likely one batch). Checked, as a client sees it:
every SEND gets its RECEIPT; a subscriber of every room on each node gets every message
live exactly once; GET /api/rooms/{id}/messages holds every message exactly once. And
the same sender re-sending a key to the same room is one message in history and one
delivery (the first one's content), although both SENDs get their RECEIPT.
"""
import os
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
from _chat_helpers import NODE1, NODE2, Account, Session, partition_of  # noqa: E402

MESSAGES_PARTITIONS = 6


@pytest.fixture(scope="module")
def world():
    alice, bob = Account("alice"), Account("bob")
    # Rooms until two share a partition and a third does not (6 partitions: at most 8
    # rooms, when the first two already share one).
    by_part = {}
    while not (len(by_part) >= 2 and any(len(rs) >= 2 for rs in by_part.values())):
        rid = alice.group_room([bob], name="keys")
        by_part.setdefault(partition_of(rid, MESSAGES_PARTITIONS), []).append(rid)
    shared = next(p for p, rs in by_part.items() if len(rs) >= 2)
    r1, r2 = by_part[shared][:2]
    r3 = next(rs[0] for p, rs in by_part.items() if p != shared)
    senders = {"alice": Session(alice, NODE1), "bob": Session(bob, NODE2)}
    # A subscriber of every room on each node (the other user of that node's sender).
    watchers = [Session(alice, NODE2), Session(bob, NODE1)]
    for w in watchers:
        for r in (r1, r2, r3):
            w.subscribe(r)
    try:
        yield {"alice": alice, "bob": bob, "rooms": (r1, r2, r3), "senders": senders,
               "watchers": watchers}
    finally:
        for s in list(senders.values()) + watchers:
            s.close()


def in_history(account, room, sender, key, content):
    return any((m["senderId"], m["messageKey"], m["content"]) == (sender.id, key, content)
               for m in account.history(room))


def test_reused_keys_are_receipted_delivered_and_stored_once_each(world):
    alice, bob = world["alice"], world["bob"]
    r1, r2, r3 = world["rooms"]
    users = {"alice": alice, "bob": bob}
    t = 20 * cnlib.scale()
    sent = []  # (room, sender id, key, content): what must be delivered and stored

    def send(who, room, key, content):
        s = world["senders"][who]
        assert s.answer(s.chat(room, content, key)) == ("RECEIPT", None), (who, room, content)
        sent.append((room, users[who].id, key, content))

    cases = [
        ("another room", [("alice", r1), ("alice", r2)]),
        ("another room, other order", [("alice", r2), ("alice", r1)]),
        ("a room on another partition", [("alice", r1), ("alice", r3)]),
        ("a room on another partition, other order", [("alice", r3), ("alice", r1)]),
        ("another sender", [("alice", r1), ("bob", r1)]),
        ("another sender, other order", [("bob", r1), ("alice", r1)]),
        ("another sender and room", [("alice", r1), ("bob", r2)]),
        ("another sender and room, other order", [("bob", r2), ("alice", r1)]),
    ]
    for label, ((who1, room1), (who2, room2)) in cases:
        key = str(uuid.uuid4())
        first, second = f"{label}: first", f"{label}: second"
        send(who1, room1, key, first)
        # The first is stored before the second is sent: the order is the stored one.
        cnlib.wait_until(lambda: in_history(alice, room1, users[who1], key, first), t,
                         what=f"'{first}' in history")
        send(who2, room2, key, second)

    # All at once: one key from alice into two rooms of one partition and from bob into
    # one of them, sent before any answer, so they likely share a persistence batch.
    key = str(uuid.uuid4())
    a, b = world["senders"]["alice"], world["senders"]["bob"]
    ra1, ra2 = a.chat(r1, "at once: alice r1", key), a.chat(r2, "at once: alice r2", key)
    rb1 = b.chat(r1, "at once: bob r1", key)
    for s, rid in ((a, ra1), (a, ra2), (b, rb1)):
        assert s.answer(rid) == ("RECEIPT", None)
    sent += [(r1, alice.id, key, "at once: alice r1"), (r2, alice.id, key, "at once: alice r2"),
             (r1, bob.id, key, "at once: bob r1")]

    # The same sender again with the same key into the same room: a retry. Both SENDs
    # are receipted; the first is the message.
    key = str(uuid.uuid4())
    send("alice", r2, key, "retried: first")
    rid = a.chat(r2, "retried: second", key)
    assert a.answer(rid) == ("RECEIPT", None)

    # A last message per room: delivery is in position order, so once a watcher has it,
    # everything sent before it in that room was delivered or skipped.
    for r in (r1, r2, r3):
        send("bob", r, str(uuid.uuid4()), f"last of {r}")

    want = sorted(sent)
    for w in world["watchers"]:
        got = w.room_messages(lambda ms: {m["content"] for _, m in ms} >=
                              {f"last of {r}" for r in (r1, r2, r3)}, timeout=30)
        live = sorted((m["roomId"], m["senderId"], m["messageKey"], m["content"]) for _, m in got)
        assert live == want, f"live delivery differs:\n got {live}\nwant {want}"
        for h, m in got:
            assert h["destination"] == f"/topic/room.{m['roomId']}", h

    for r in (r1, r2, r3):
        want_room = sorted((s, k, c) for room, s, k, c in sent if room == r)

        def stored():
            return sorted((m["senderId"], m["messageKey"], m["content"])
                          for m in alice.history(r))
        cnlib.wait_until(lambda: stored() == want_room, t, interval=0.2,
                         what=f"room {r}'s history to hold exactly what was sent")
        positions = [m["position"] for m in alice.history(r)]
        assert len(set(positions)) == len(positions), positions
    print(f"{len(sent)} messages over {len(cases)} reuses + 1 burst + 1 retry: each receipted, "
          f"delivered once on both nodes, stored once")


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-s", "-p", "no:cacheprovider"]))
