"""The STOMP interop matrix: real clients against the stack's nodes.

Clients: @stomp/stompjs 7, webstomp-client and stompjs 2.3.3 over the `ws` package in
Node (tests/e2e/stomp/interop.mjs), and Chromium's own WebSocket with a minimal STOMP
client in page JS (tests/e2e/web/stomp_browser.mjs). Each runs the same scenario
(tests/e2e/stomp/interop_flow.mjs) twice, with heart-beats (10000,10000) and with
heart-beats off (0,0), as a user of its own:

- connect: the subprotocol the node chose and the STOMP version it speaks (the highest
  the client offers: webstomp and the browser offer v10, v11, v12 in that order);
- subscribe to a room and to /user/queue/errors, SEND with a receipt, receive its own
  MESSAGE;
- SEND to a room it is not a member of: a readable JSON error on /user/queue/errors;
- meanwhile, a second session stays silent for longer than twice the node's heart-beat
  (26 s): it stays open; with 0,0 the node sends it no heart-beats and does not close
  it; then it SENDs and receives again;
- disconnect with the library's own call: a WebSocket close frame with 1000, and no
  error reported by the library;
- another connection SENDs to the foreign room without /user/queue/errors: ERROR with a
  readable `message` and body, then a close frame (not an abnormal 1006);
- a CONNECT with a token that is not a JWT: ERROR with a readable `message` (no `\\c`
  left for clients that do not unescape) and body, closed with 1008.

All runs go in parallel (one idle period for all). The matrix is printed as one line
per run. Outside `ops/dev test` this exits 77 unless CN_TEST_REQUIRE_STACK=1.
"""
import json
import os
import shutil
import subprocess
import sys

NEEDED = ["CN_TEST_NODE1_URL", "CN_TEST_NODE2_URL"]
if any(not os.environ.get(k) for k in NEEDED):
    if os.environ.get("CN_TEST_REQUIRE_STACK") == "1":
        sys.exit(f"missing {[k for k in NEEDED if not os.environ.get(k)]} with "
                 "CN_TEST_REQUIRE_STACK=1")
    print("skipped: run through ./ops/dev test (needs the stack's CN_TEST_* variables)")
    sys.exit(77)

import pytest  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
from _chat_helpers import NODE1, NODE2, Account  # noqa: E402

HERE = os.path.dirname(__file__)
STOMP_DIR = os.path.join(HERE, "..", "e2e", "stomp")
WEB_DIR = os.path.join(HERE, "..", "e2e", "web")
NODE_CLIENTS = ["stompjs7", "webstomp", "stompjs2"]
CLIENTS = NODE_CLIENTS + ["browser"]
MODES = ["on", "off"]
RUNS = [(c, m) for c in CLIENTS for m in MODES]
# What each client offers decides what it must get: the highest version in common.
WANT = {
    "stompjs7": ("v12.stomp", "1.2"),   # offers v12, v11, v10
    "webstomp": ("v12.stomp", "1.2"),   # offers v10, v11, v12
    "stompjs2": ("v11.stomp", "1.1"),   # offers v10, v11; accept-version 1.1,1.0
    "browser": ("v12.stomp", "1.2"),    # offers v10, v11, v12
}
# webstomp-client and stompjs 2.3.3 close the socket themselves, without a status code,
# right after writing DISCONNECT (they never wait for its RECEIPT). Their close is then
# clean either way: 1000 when the node's close frame went first, 1005 ("no status")
# when it answers the client's own code-less close frame (RFC 6455 7.1.5).
CLOSES_ITSELF = {"webstomp", "stompjs2"}
IDLE_MS = 26000  # more than twice stomp.heartbeat_ms (10000) of the stack's nodes


def ws(url):
    return url.replace("http://", "ws://") + "/ws"


def npm_ci(where, marker):
    if not os.path.isdir(os.path.join(where, "node_modules", marker)):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=where, check=True,
                       timeout=300)


@pytest.fixture(scope="module")
def matrix():
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.fail("node and npm are needed for the interop matrix (CN_PACKAGES_TEST)")
    if not os.path.exists("/usr/bin/chromium"):
        pytest.fail("/usr/bin/chromium is needed (CN_PACKAGES_TEST in ops/lib/packages.sh)")
    for marker in ("@stomp/stompjs", "webstomp-client", "stompjs", "ws"):
        npm_ci(STOMP_DIR, marker)
    npm_ci(WEB_DIR, "playwright-core")

    owner = Account("owner")
    foreign = owner.group_room([], name="not yours")  # public: refusals say NOT_MEMBER
    users = {}
    for client, mode in RUNS:
        a = Account(f"{client}{mode}")
        users[(client, mode)] = (a, a.group_room([], name=f"{client} {mode}"))

    step_ms = int(15000 * cnlib.scale())
    budget = (IDLE_MS + 8 * step_ms) / 1000 + 60
    procs = {}
    # Heart-beats on against node 1, off against node 2: both nodes see every client.
    base = {"on": NODE1, "off": NODE2}
    for client, mode in RUNS:
        if client == "browser":
            continue
        a, room = users[(client, mode)]
        procs[(client, mode)] = subprocess.Popen(
            ["node", "interop.mjs", client, ws(base[mode]), a.token, str(room), str(foreign),
             mode, str(IDLE_MS), str(step_ms)],
            cwd=STOMP_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    browser = {}
    for mode in MODES:
        a, room = users[("browser", mode)]
        spec = [{"hb": mode, "token": a.token, "roomId": room, "foreignRoomId": foreign}]
        browser[mode] = subprocess.Popen(
            ["node", "stomp_browser.mjs", base[mode], json.dumps(spec), str(IDLE_MS),
             str(step_ms)],
            cwd=WEB_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    results = {}

    def collect(p, what):
        try:
            out, err = p.communicate(timeout=budget)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            return {"crashed": f"{what}: no result within {budget:.0f} s\n{err[-2000:]}"}
        lines = out.strip().splitlines()
        if p.returncode != 0 or not lines:
            return {"crashed": f"{what}: exit {p.returncode}\n{out[-2000:]}\n{err[-2000:]}"}
        return json.loads(lines[-1])

    for key, p in procs.items():
        results[key] = collect(p, f"interop.mjs {key[0]} hb {key[1]}")
    for mode, p in browser.items():
        got = collect(p, f"stomp_browser.mjs hb {mode}")
        results[("browser", mode)] = got[0] if isinstance(got, list) else got
    print_table(results)
    return results


def cell(r, name, fmt=lambda s: "ok"):
    s = r.get("steps", {}).get(name)
    if s is None:
        return "-"
    return fmt(s) if s["ok"] else "FAIL(" + s["why"][:60] + ")"


def print_table(results):
    print()
    for (client, mode), r in results.items():
        if "crashed" in r:
            print(f"interop {client:9} hb={mode:3} | CRASHED {r['crashed'][:300]}")
            continue
        print(f"interop {client:9} hb={mode:3}"
              f" | connect {cell(r, 'connect', lambda s: s.get('protocol', '') + ' ' + s.get('version', ''))}"
              f" | send+recv {cell(r, 'sendReceive')}"
              f" | errors-queue {cell(r, 'errorQueue', lambda s: s['code'])}"
              f" | idle {cell(r, 'idle', lambda s: 'ok, %d LF' % s['heartbeatsReceived'])}"
              f" | disconnect {cell(r, 'disconnect', lambda s: 'close %s' % s['code'])}"
              f" | ERROR {cell(r, 'errorFrame', lambda s: 'close %s' % s['code'])}"
              f" | auth ERROR {cell(r, 'authError', lambda s: 'close %s' % s['code'])}"
              f" | library errors {r.get('libraryErrors')}")


def step(matrix, run, name):
    r = matrix[run]
    assert "crashed" not in r, r["crashed"]
    s = r["steps"].get(name)
    assert s is not None, f"{name} did not run: {r['steps']}"
    assert s["ok"], f"{run} {name}: {s['why']}"
    return s


def ids(runs):
    return [f"{c}-hb-{m}" for c, m in runs]


@pytest.mark.parametrize("run", RUNS, ids=ids(RUNS))
def test_the_highest_offered_version_is_negotiated(matrix, run):
    s = step(matrix, run, "connect")
    assert (s["protocol"], s["version"]) == WANT[run[0]], s


@pytest.mark.parametrize("run", RUNS, ids=ids(RUNS))
def test_subscribe_send_with_receipt_and_receive_own_message(matrix, run):
    step(matrix, run, "subscribe")
    step(matrix, run, "sendReceive")


@pytest.mark.parametrize("run", RUNS, ids=ids(RUNS))
def test_a_refused_send_is_a_readable_error_on_the_errors_queue(matrix, run):
    s = step(matrix, run, "errorQueue")
    assert s["code"] == "NOT_MEMBER" and s["message"].strip(), s


@pytest.mark.parametrize("run", RUNS, ids=ids(RUNS))
def test_an_idle_session_stays_and_heartbeats_follow_the_negotiation(matrix, run):
    s = step(matrix, run, "idle")
    if run[1] == "on":
        # The node writes at least every 10 s (stomp.heartbeat_ms): two LFs in 26 s.
        assert s["heartbeatsReceived"] >= 2, s
    else:
        assert s["heartbeatsReceived"] == 0, s  # 0,0: the client wants none


@pytest.mark.parametrize("run", RUNS, ids=ids(RUNS))
def test_disconnect_closes_with_1000_and_no_library_error(matrix, run):
    s = step(matrix, run, "disconnect")
    want = (1000, 1005) if run[0] in CLOSES_ITSELF else (1000,)
    assert s["code"] in want, s
    assert matrix[run]["libraryErrors"] == [], matrix[run]["libraryErrors"]


@pytest.mark.parametrize("run", RUNS, ids=ids(RUNS))
def test_an_error_frame_has_a_readable_body_and_a_close_frame(matrix, run):
    s = step(matrix, run, "errorFrame")
    assert s["message"] and s["message"].strip(), s
    assert s["body"] and s["body"].strip(), s
    assert s["code"] in (1000, 1002, 1008), s  # a close frame, not 1006 (dropped)


@pytest.mark.parametrize("run", RUNS, ids=ids(RUNS))
def test_a_refused_connect_is_readable_and_closed_with_1008(matrix, run):
    s = step(matrix, run, "authError")
    assert s["message"] and s["message"].strip(), s
    assert "\\c" not in s["message"], s  # readable by clients that do not unescape
    assert s["body"] and s["body"].strip(), s
    assert s["code"] == 1008, s


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-s", "-p", "no:cacheprovider"]))
