"""/metrics is valid Prometheus text (`promtool check metrics`, Debian's prometheus package)
on the stack's nodes and on a node of this test after real traffic, and it carries the
families the operations docs and the Grafana dashboard (ops/grafana) rely on (issue 6).
"""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import requests

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
from stomp_session import User, connected, frame  # noqa: E402

# Every family the dashboard and docs/OPERATIONS.md's alerts use.
FAMILIES = [
    "chat_stomp_sessions_open", "chat_stomp_connects_total", "chat_stomp_disconnects_total",
    "chat_stomp_frames_in_total", "chat_stomp_frames_out_total", "chat_send_total",
    "chat_room_deliveries_total", "chat_pg_query_duration_seconds",
    "chat_kafka_produce_duration_seconds", "chat_send_to_broadcast_seconds",
    "chat_persist_lag", "chat_persist_retries_total",
    "chat_persist_dlt_records_total", "chat_redis_reconnects_total", "chat_cache_lookups_total",
    "chat_runtime_actors", "chat_runtime_worker_messages_total", "chat_dependency_up",
    "process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds",
]


def promtool():
    path = shutil.which("promtool")
    if not path:
        raise AssertionError("promtool missing: ops/dev test installs Debian's prometheus")
    return path


def check(text):
    r = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    # promtool prints lint problems and exits non-zero on any of them.
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), \
        (r.returncode, r.stdout, r.stderr)


def types(text):
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))


@pytest.fixture(scope="module")
def node():
    n = cnlib.Node()
    try:
        n.wait_healthy()
        yield n
        rc, _ = n.stop()
        assert rc == 0, n.output()[-4000:]
    finally:
        n.close()


def test_stack_nodes_pass_promtool():
    for i in (1, 2):
        check(cnlib.metrics_text(cnlib.need(f"CN_TEST_NODE{i}_URL")))


def broadcasts_timed(node):
    total = 0
    for url in (node.url, cnlib.need("CN_TEST_NODE1_URL"), cnlib.need("CN_TEST_NODE2_URL")):
        text = cnlib.metrics_text(url)
        m = re.search(r"^chat_send_to_broadcast_seconds_count (\d+)$", text, re.M)
        total += int(m.group(1)) if m else 0
    return total


def test_after_traffic_families_are_there_and_histograms_count(node):
    before = broadcasts_timed(node)
    alice = User(node.url, "alice")
    room = alice.group_room(node.url)
    c = connected(node, alice)
    c.send(frame("SUBSCRIBE", [("id", "r"), ("destination", f"/topic/room.{room}"),
                               ("receipt", "sub")]))
    assert c.recv_frame(10)[0] == "RECEIPT"
    c.send(frame("SEND", [("destination", "/app/chat.send"), ("receipt", "m1"),
                          ("content-type", "application/json")],
                 json.dumps({"roomId": room, "content": "metrics"})))
    got = {c.recv_frame(15)[0] for _ in range(2)}
    assert got == {"RECEIPT", "MESSAGE"}, got
    c.close()
    text = node.metrics()
    check(text)
    t = types(text)
    missing = [f for f in FAMILIES if f not in t]
    assert not missing, missing
    assert t["chat_kafka_produce_duration_seconds"] == "histogram"
    count = re.search(r"^chat_kafka_produce_duration_seconds_count (\d+)$", text, re.M)
    assert count and int(count.group(1)) >= 1, "the SEND's acknowledgement is in the histogram"
    inf = re.search(r'^chat_kafka_produce_duration_seconds_bucket\{le="\+Inf"\} (\d+)$', text,
                    re.M)
    assert inf and inf.group(1) == count.group(1)
    # Whichever node owns the room's partition in chat-broadcast timed its broadcast.
    assert broadcasts_timed(node) > before, "the SEND's broadcast is in a node's histogram"
    assert re.search(r'^chat_send_total\{outcome="accepted"\} [1-9]', text, re.M)
    assert re.search(r"^chat_room_deliveries_total [1-9]", text, re.M)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
