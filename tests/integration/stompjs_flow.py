"""The chat flow through a real third-party STOMP client (@stomp/stompjs, see
tests/e2e/stomp/flow.mjs): two users on the two nodes, SENDs with RECEIPTs only after
Kafka acknowledged them, every message to both subscribers in position order, resume
after a reconnect to the other node with exactly the missed messages, and the
per-session rate limit answering RATE_LIMITED with the refused SEND's receipt id.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
from stomp_session import User  # noqa: E402

E2E_DIR = os.path.join(os.path.dirname(__file__), "..", "e2e", "stomp")
N, M = 4, 3  # with the live one, 8 paced SENDs: under the default 10 per second


def ws(url):
    return url.replace("http://", "ws://") + "/ws"


@pytest.fixture(scope="module")
def flow():
    n1, n2 = cnlib.need("CN_TEST_NODE1_URL"), cnlib.need("CN_TEST_NODE2_URL")
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.fail("node and npm are needed for the stompjs flow (CN_PACKAGES_TEST)")
    if not os.path.isdir(os.path.join(E2E_DIR, "node_modules")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=E2E_DIR, check=True,
                       timeout=300)
    import requests
    alice, bob = User(n1, "alice"), User(n1, "bob")
    room = alice.group_room(n1)
    r = requests.post(f"{n1}/api/rooms/{room}/join",
                      headers={"Authorization": f"Bearer {bob.token}"})
    assert r.status_code in (200, 201), r.text
    deadline_ms = int(60_000 * cnlib.scale())
    out = subprocess.run(["node", "flow.mjs", ws(n1), ws(n2), alice.token, bob.token, str(room),
                          str(N), str(M), str(deadline_ms)],
                         cwd=E2E_DIR, capture_output=True, text=True,
                         timeout=deadline_ms / 1000 + 30)
    assert out.returncode == 0, out.stdout + out.stderr
    return room, json.loads(out.stdout.strip().splitlines()[-1])


def contents(msgs):
    return [m["content"] for m in msgs]


def test_both_nodes_get_every_message_in_position_order(flow):
    _, out = flow
    sent = [f"m{i}" for i in range(N)]
    assert contents(out["bob1"]) == sent  # bob is on the other node
    assert contents(out["alice"][:N]) == sent
    positions = [m["position"] for m in out["alice"]]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert [m["position"] for m in out["bob1"]] == positions[:N]


def test_resume_on_the_other_node_gives_exactly_the_missed_messages_then_live(flow):
    _, out = flow
    # Then the burst's accepted messages (bob stays subscribed while alice floods).
    assert contents(out["bob2"][:M + 1]) == [f"m{i}" for i in range(N, N + M)] + ["live"]
    assert all(c.startswith("burst ") for c in contents(out["bob2"][M + 1:]))
    seen = [m["messageId"] for m in out["bob1"] + out["bob2"]]
    assert len(seen) == len(set(seen))  # no duplicate across the reconnect


def test_each_acknowledged_send_is_stored_once(flow):
    room, out = flow
    assert out["receipts"] == N + M + 1
    want = N + M + 1 + out["burstReceipts"]

    def stored():
        r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-d", cnlib.need("CN_TEST_PG_URL"),
                            "-c", f"SELECT count(*), count(DISTINCT message_key) FROM messages"
                            f" WHERE room_id = {room}"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return [int(x) for x in r.stdout.strip().split("|")]

    cnlib.wait_until(lambda: stored()[0] >= want, 20 * cnlib.scale(),
                     what="persistence stored every acknowledged SEND")
    assert stored() == [want, want]


def test_a_burst_over_the_limit_is_refused_with_rate_limited_and_its_receipt_id(flow):
    _, out = flow
    assert out["sentBurst"] == 25
    assert len(out["rateLimited"]) >= 25 - 10  # at most 10 SENDs in any second
    assert len(out["rateLimited"]) + out["burstReceipts"] == 25
    assert all(rid and rid.startswith("burst-") for rid in out["rateLimited"])


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
