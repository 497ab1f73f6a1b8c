"""A broker of the Kafka cluster taken down during sends (issue 8, faults), on a dev
cluster of this test's own (chat-kafka-dev: librdkafka's mock cluster, 3 brokers) and a
node of its own on it (kafka.send_timeout_ms 3 s), so the stack's groups are untouched.

Six sessions send into six rooms (one on each partition) at 5 SENDs/s each while a broker
(the leader of the first room's partition) is down for 8 s, then back. What a user sees:
- every SEND is answered: a RECEIPT, or UNAVAILABLE on /user/queue/errors with the SEND's
  receipt id (never silence, never a RECEIPT for something Kafka does not have);
- a client that re-sends what was refused, with the same messageKey, gets it stored:
  in the end every messageKey is stored exactly once, and the rooms' subscriber got each
  once, in position order.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import pytest
import requests

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
from _faults import (Sender, collect, in_order, send_for, stored, subscriber,  # noqa: E402
                     wait_answered)
from stomp_send import PARTITIONS, partition_of  # noqa: E402
from stomp_session import User  # noqa: E402

DOWN_S = 8


def leaders(brokers):
    """partition of chat.messages -> its leader's broker id (the mock picks them)."""
    out = subprocess.run(["kcat", "-L", "-J", "-b", brokers, "-t", "chat.messages"],
                         check=True, capture_output=True, text=True, timeout=30).stdout
    parts = json.loads(out)["topics"][0]["partitions"]
    return {p["partition"]: p["leader"] for p in parts}


def control(path, line):
    with open(path, "w") as f:
        f.write(line + "\n")


@pytest.fixture
def cluster():
    bin_ = os.path.join(os.path.dirname(cnlib.need("CN_TEST_NODE_BIN")), "chat-kafka-dev")
    tmp = tempfile.mkdtemp(prefix="cn-broker-down-")
    boot, ctl = os.path.join(tmp, "boot"), os.path.join(tmp, "ctl")
    kafka = subprocess.Popen([bin_, "--brokers", "3", "--bootstrap-file", boot, "--control", ctl,
                              "--log-level", "warn"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    node = None
    try:
        brokers = cnlib.wait_until(lambda: os.path.exists(boot) and open(boot).read().strip(),
                                   10, what="chat-kafka-dev bootstrap file")
        node = cnlib.Node(overrides={"CHAT_KAFKA_BROKERS": brokers,
                                     "CHAT_KAFKA_SEND_TIMEOUT_MS": "3000"})
        node.wait_healthy()
        yield node, ctl, brokers
    finally:
        if node:
            rc, _ = node.stop()
            assert rc == 0, node.output()[-4000:]
            node.close()
        kafka.terminate()
        kafka.wait(10)


def test_a_broker_down_answers_every_send_and_loses_nothing_acknowledged(cluster):
    node, ctl, brokers = cluster
    alice, bob = User(node.url, "alice"), User(node.url, "bob")
    # A room on every partition of chat.messages, so some are led by the broker that goes
    # down and some are not, whatever the leaders are.
    by_partition = {}
    for _ in range(20 * PARTITIONS):
        room = alice.group_room(node.url)
        by_partition.setdefault(partition_of(room), room)
        if len(by_partition) == PARTITIONS:
            break
    assert len(by_partition) == PARTITIONS, by_partition
    rooms = list(by_partition.values())
    for room in rooms:
        r = requests.post(f"{node.url}/api/rooms/{room}/join",
                          headers={"Authorization": f"Bearer {bob.token}"})
        assert r.status_code in (200, 201), r.text
    subs = {room: subscriber(node.url, bob, room) for room in rooms}
    senders = [Sender(node.url, alice, room) for room in rooms]
    try:
        for s in senders:
            s.send("before")
        cnlib.wait_until(lambda: all(len(s.acked) == 1 for s in senders), 20 * cnlib.scale(),
                         what="a RECEIPT in every room")
        # The broker that leads the first room's partition goes down (the mock cluster
        # places leaders as it likes; it does not move them when a broker goes).
        lead = leaders(brokers)
        victim = lead[partition_of(rooms[0])]
        control(ctl, f"down {victim}")
        try:
            send_for(senders, DOWN_S, "during")
        finally:
            control(ctl, f"up {victim}")
        wait_answered(senders, "an answer to every SEND")
        refused = sum(len(s.refused) for s in senders)
        for s in senders:
            assert all(code == "UNAVAILABLE" for _, code in s.refused), s.refused[:5]
        # The rooms of partitions that broker leads were refused; the others went on.
        for s in senders:
            if lead[partition_of(s.room)] == victim:
                assert s.refused, (s.room, len(s.acked))
            else:  # producing went on there
                assert len(s.acked) > len(s.sent) // 2, (s.room, len(s.refused), len(s.acked))
        assert refused > 0

        # A real client re-sends what was refused, with the same messageKey.
        for _ in range(5):
            todo = [(s, k) for s in senders for k in sorted({k for k, _ in s.refused} - set(s.acked))]
            if not todo:
                break
            by_sender = {}
            for s, k in todo:
                by_sender.setdefault(s, []).append(k)
            while any(by_sender.values()):
                for s, keys in by_sender.items():
                    if keys:
                        s.send("retry", key=keys.pop())
                time.sleep(0.2)  # under the 10/s limit, as during the outage
            wait_answered(senders, "answers to the re-sends")
        for s in senders:
            keys = set(s.sent)
            assert keys == set(s.acked), f"{len(keys - set(s.acked))} never acknowledged"
            cnlib.wait_until(lambda: keys <= set(stored(s.room)), 60 * cnlib.scale(),
                             interval=0.5, what="every message of the room stored")
            rows = stored(s.room)
            assert set(rows) == keys and all(n == 1 for n in rows.values())
            got = collect(subs[s.room], keys, 60)
            assert {k for k, _ in got} == keys and in_order(got), s.room
    finally:
        for s in senders:
            s.close()
        for c in subs.values():
            c.close()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
