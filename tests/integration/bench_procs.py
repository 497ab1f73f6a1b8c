"""chat-bench --procs (issue 10): sessions split over forked processes still count every
delivery. One room of 6 sessions, split 3/3 over two chat-bench processes, every session
sending: each message is sent in one process and delivered to subscribers in both, so the
run passes only if deliveries seen in the other process are counted (delivered must equal
sent x 6, with no loss and no duplicate). Runs the chat-bench built next to the node under
test against the stack's node 1; users come from perf/bench/setup_fanout.py.
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
ROOM = 6


def main():
    if not os.environ.get("CN_TEST_NODE1_URL"):
        print("bench_procs: not under ops/dev test")
        return 77
    node = cnlib.need("CN_TEST_NODE1_URL")
    bench = os.path.join(os.path.dirname(cnlib.need("CN_TEST_NODE_BIN")), "chat-bench")
    with tempfile.TemporaryDirectory() as d:
        sessions = os.path.join(d, "sessions.txt")
        subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "perf/bench/setup_fanout.py"),
                        "--node", node, "--rooms", "1", "--room-size", str(ROOM), "--out",
                        sessions], check=True, timeout=120 * cnlib.scale())
        hostport = node.split("//", 1)[1]
        # 6 messages/s over 6 senders: 1 SEND/s a session, far below the node's 10/s limit
        r = subprocess.run([bench, "--url", hostport, "--sessions", sessions, "--rate", "6",
                            "--duration", "3", "--drain", str(10 * cnlib.scale()), "--procs",
                            "2", "--label", "integ bench_procs"],
                           capture_output=True, text=True, timeout=120 * cnlib.scale())
    assert r.stdout.strip(), f"chat-bench printed nothing: {r.stderr}"
    res = json.loads(r.stdout)
    print(json.dumps(res))
    assert res["procs"] == 2, res
    assert res["ready"] == ROOM and res["dead_sessions"] == 0, res
    assert res["sent"] > 0 and res["acked"] == res["sent"], res
    assert res["expected"] == res["acked"] * ROOM, res
    assert res["delivered"] == res["expected"], res
    assert res["lost"] == 0 and res["duplicates"] == 0, res
    assert r.returncode == 0, r.stderr
    print("bench_procs: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
