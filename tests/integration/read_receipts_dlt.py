"""Read-receipt failures are dead-lettered like chat messages, and replayable.

A record that does not decode, produced to chat.read-receipts on a room's partition,
lands in chat.read-receipts.dlt (same partition) with the headers of
chat.messages.dlt (error, error-stage decode, origin-topic/partition/offset pointing at
it, attempts 0), and the pipeline moves on: a read of that room sent after it is applied
(GET /api/rooms shows the unread count drop). A valid receipt parked in the DLT by hand
(as the pipeline parks a batch whose apply keeps failing, stage "apply") is applied
after `chat-admin dlt replay --topic chat.read-receipts.dlt`, which also sends the junk
back, where it is dead-lettered once more. (A batch that keeps failing after its
retries is driven by the unit test tests/unit/actors/pipeline/read_receipts_step.c: a
receipt statement cannot be made to fail here without failing every other.)
"""
import os
import re
import sys
import time
import uuid

import msgpack
import pytest
import requests

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
from _chat_helpers import (NODE1, NODE2, Account, Session, kafka_produce,  # noqa: E402
                           kafka_records, partition_of)

TOPIC, DLT, PARTITIONS = "chat.read-receipts", "chat.read-receipts.dlt", 3


def dlt_metric():
    total = 0.0
    for url in (NODE1, NODE2):
        text = cnlib.metrics_text(url)
        m = re.search(r"^chat_read_receipts_dlt_records_total (\S+)$", text, re.M)
        total += float(m.group(1)) if m else 0.0
    return total


def admin(*args):
    rc, out, err = cnlib.chat_admin(cnlib.stack_admin_socket(1), *args, json_out=True)
    assert rc == 0, (args, err)
    return out


@pytest.fixture(scope="module")
def world():
    alice, bob = Account("alice"), Account("bob")
    room = alice.group_room([bob], name="dead letters")
    s = Session(alice, NODE1)
    try:
        for i in range(3):
            assert s.answer(s.chat(room, f"dl{i}", str(uuid.uuid4()))) == ("RECEIPT", None)
    finally:
        s.close()
    stored = cnlib.wait_until(lambda: len(bob.history(room)) == 3 and bob.history(room),
                              20 * cnlib.scale(), what="three messages stored")
    ids = sorted(m["id"] for m in stored)
    cnlib.wait_until(lambda: bob.unread(room) == 3, 20 * cnlib.scale(), what="bob's 3 unread")
    return {"alice": alice, "bob": bob, "room": room, "ids": ids,
            "part": partition_of(room, PARTITIONS), "since": str(int(time.time()) - 5)}


def test_undecodable_receipt_goes_to_the_dlt_and_later_receipts_apply(world):
    bob, room, part, ids = world["bob"], world["room"], world["part"], world["ids"]
    t = 30 * cnlib.scale()
    dlt_before = dlt_metric()
    junk = b"\xc1 not a receipt " + uuid.uuid4().hex.encode()
    kafka_produce(TOPIC, room, junk)
    # A read of the same room after it: same partition, so it waits for the junk's fate.
    r = bob.read(room, {"messageId": ids[0]})
    assert r.status_code == 200, r.text
    cnlib.wait_until(lambda: bob.unread(room) == 2, t,
                     what="the read after the junk applied (the partition moved on)")

    def parked():
        return [rec for rec in kafka_records(DLT, part) if rec[2] == junk]
    recs = cnlib.wait_until(parked, t, interval=0.2, what="the junk in chat.read-receipts.dlt")
    assert len(recs) == 1, recs
    _, h, _ = recs[0]
    assert h.get("error-stage") == "decode" and h.get("attempts") == "0", h
    assert h.get("origin-topic") == TOPIC and h.get("origin-partition") == str(part), h
    assert h.get("error"), h
    origin = [rec for rec in kafka_records(TOPIC, part, offset=int(h["origin-offset"]))][:1]
    assert origin and origin[0][0] == int(h["origin-offset"]) and origin[0][2] == junk, origin
    cnlib.wait_until(lambda: dlt_metric() >= dlt_before + 1, t,
                     what="chat_read_receipts_dlt_records_total counted it")
    world["junk"] = junk


def test_a_parked_receipt_is_applied_after_dlt_replay(world):
    bob, room, part, ids = world["bob"], world["room"], world["part"], world["ids"]
    t = 30 * cnlib.scale()
    # What the pipeline parks after an apply that kept failing: the record as it was
    # (key = room, the msgpack ReadReceiptEvent) with its origin in headers.
    event = msgpack.packb({"kind": "ReadReceipt", "v": 1, "roomId": room, "userId": bob.id,
                           "messageId": ids[2], "readAt": int(time.time() * 1000)})
    kafka_produce(DLT, room, event, partition=part, headers=[
        ("error", "57P01: terminating connection due to administrator command"),
        ("error-stage", "apply"), ("origin-topic", TOPIC), ("origin-partition", str(part)),
        ("origin-offset", "0"), ("attempts", "4")])
    listed = admin("dlt", "list", "--topic", DLT, "--since", world["since"], "--limit", "1000")
    mine = [x for x in listed["records"] if x["partition"] == part and
            x["key"] == str(room) and x["error-stage"] == "apply"]
    assert len(mine) == 1 and mine[0]["origin-topic"] == TOPIC, listed
    assert bob.unread(room) == 2, "a parked receipt was applied before the replay"

    junk_copies = sum(rec[2] == world.get("junk") for rec in kafka_records(DLT, part))
    r = admin("dlt", "replay", "--topic", DLT, "--since", world["since"])
    assert r["topic"] == DLT and r["replayed"] >= 2 and r["records"] >= r["replayed"], r
    cnlib.wait_until(lambda: bob.unread(room) == 0, t,
                     what="the replayed receipt applied (bob read up to the last message)")
    # The junk went back too and, still undecodable, is parked again.
    if world.get("junk"):
        cnlib.wait_until(lambda: sum(rec[2] == world["junk"] for rec in
                                     kafka_records(DLT, part)) > junk_copies, t, interval=0.2,
                         what="the replayed junk dead-lettered again")


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-s", "-p", "no:cacheprovider"]))
