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
    "chat_kafka_consumer_lag_messages", "chat_kafka_consumer_assigned_partitions",
    "chat_kafka_consumer_topic_partitions", "chat_http_requests_total",
    "chat_http_request_duration_seconds", "chat_send_receipt_seconds",
    "chat_broadcast_publish_seconds", "chat_room_delivery_seconds", "chat_persist_retries_total",
    "chat_persist_dlt_records_total", "chat_redis_reconnects_total", "chat_cache_lookups_total",
    "chat_runtime_actors", "chat_runtime_worker_messages_total", "chat_dependency_up",
    "process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds",
]


def promtool():
    path = shutil.which("promtool")
    if not path:
        raise AssertionError("promtool missing: ops/dev test installs Debian's prometheus")
    return path


OPS = os.path.join(os.path.dirname(__file__), "..", "..", "ops")


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


def test_alert_rules_pass_promtool():
    r = subprocess.run([promtool(), "check", "rules", os.path.join(OPS, "prometheus-alerts.yml")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, (r.stdout, r.stderr)


def samples(text, name):
    """{labels text: value} of one sample name."""
    return {m.group(1) or "": float(m.group(2))
            for m in re.finditer(rf"^{name}(?:\{{(.*)\}})? (\S+)$", text, re.M)}


def consumer_view():
    """Partitions assigned per group over the stack's nodes, the groups with a lag sample,
    and the two pages."""
    texts = [cnlib.metrics_text(cnlib.need(f"CN_TEST_NODE{i}_URL")) for i in (1, 2)]
    assigned, lagged = {}, set()
    for text in texts:
        for labels, v in samples(text, "chat_kafka_consumer_assigned_partitions").items():
            group = re.search(r'group="([^"]+)"', labels).group(1)
            assigned[group] = assigned.get(group, 0) + v
        lagged |= {re.search(r'group="([^"]+)"', k).group(1)
                   for k in samples(text, "chat_kafka_consumer_lag_messages")}
    return assigned, lagged, texts


def test_consumer_metrics_cover_every_group_without_sentinels():
    want = {"chat-persistence": 6, "chat-broadcast": 6, "chat-read-receipt": 3}
    seen = []

    def settled():
        seen[:] = [consumer_view()]
        return seen[0][0] == want

    # A node of an earlier test may just have left: wait for the groups to settle. (A
    # partition's lag is absent until its first record tells the committed offset: the
    # test after traffic checks it.)
    try:
        cnlib.wait_until(settled, 60 * cnlib.scale(), interval=0.5, what="every partition owned")
    except AssertionError:
        raise AssertionError(f"assigned {seen[0][0]}, lag samples of {seen[0][1]}")
    _, _, texts = seen[0]
    for text in texts:
        assert "chat_persist_lag" not in text and "chat_redis_up" not in text
        assert "chat_persist_partitions_assigned" not in text
        for labels, v in samples(text, "chat_kafka_consumer_lag_messages").items():
            assert v >= 0, (labels, v)
            assert re.fullmatch(r'group="[^"]+",topic="[^"]+",partition="\d+"', labels), labels
        parts = samples(text, "chat_kafka_consumer_topic_partitions")
        assert parts.get('group="chat-persistence"') == 6, parts
        assert parts.get('group="chat-read-receipt"') == 3, parts


def test_node_info_and_inbound_frames():
    text = cnlib.metrics_text(cnlib.need("CN_TEST_NODE1_URL"))
    info = samples(text, "chat_node_info")
    assert len(info) == 1 and list(info.values()) == [1], info
    assert re.fullmatch(r'node_id="[^"]+",version="\d+\.\d+\.\d+[^"]*"', list(info)[0]), info
    commands = {re.search(r'command="(\w+)"', k).group(1)
                for k in samples(text, "chat_stomp_frames_in_total")}
    assert "SEND" in commands and "SUBSCRIBE" in commands, commands
    assert not commands & {"MESSAGE", "RECEIPT", "ERROR", "CONNECTED"}, commands


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
    # Stage latencies: this node took the SEND and wrote the MESSAGE to the socket.
    for name in ("chat_send_receipt_seconds", "chat_room_delivery_seconds"):
        assert t[name] == "histogram"
        assert samples(text, name + "_count")[""] >= 1, name
    published = sum(samples(cnlib.metrics_text(u), "chat_broadcast_publish_seconds_count")[""]
                    for u in (node.url, cnlib.need("CN_TEST_NODE1_URL"),
                              cnlib.need("CN_TEST_NODE2_URL")))
    assert published >= 1, "whichever node broadcast the message timed its publish"
    # The message gave its partition a committed offset: its lag is known in both groups
    # that consume chat.messages (on whichever nodes own it).
    urls = (node.url, cnlib.need("CN_TEST_NODE1_URL"), cnlib.need("CN_TEST_NODE2_URL"))
    cnlib.wait_until(lambda: {"chat-persistence", "chat-broadcast"} <= {
        re.search(r'group="([^"]+)"', k).group(1) for u in urls
        for k in samples(cnlib.metrics_text(u), "chat_kafka_consumer_lag_messages")},
        30 * cnlib.scale(), interval=0.5, what="a lag sample of both chat.messages groups")
    # REST: the room's creation and a 404 are counted by route template, never by path.
    http = samples(text, "chat_http_requests_total")
    assert any('route="/api/rooms/group",method="POST",status="2xx"' == k for k in http), http
    r = requests.get(f"{node.url}/api/rooms/{room}/nothing-here", timeout=10)
    assert r.status_code == 404
    requests.get(f"{node.url}/api/rooms/{room}", headers={"Authorization": f"Bearer {alice.token}"}, timeout=10)
    text = node.metrics()
    check(text)
    http = samples(text, "chat_http_requests_total")
    assert http.get('route="/api/*",method="GET",status="4xx"', 0) >= 1, http
    assert any(k.startswith('route="/api/rooms/{roomId}",method="GET"') for k in http), http
    assert not any(str(room) in k for k in http), "a path, not its template, in a label"
    counts = samples(text, "chat_http_request_duration_seconds_count")
    assert set(counts) == set(http) and all(counts[k] == http[k] for k in http)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
