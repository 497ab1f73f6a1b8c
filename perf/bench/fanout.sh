#!/usr/bin/env bash
# perf/bench/fanout.sh — fan-out in small rooms: SESSIONS STOMP sessions in rooms of
# ROOM_SIZE on ONE chat-node, every session subscribed to its room and sending into it,
# at rising total send rates; each step prints chat-bench's JSON result (delivered vs
# expected, loss, duplicates, end-to-end latency, CPU of the node and of chat-bench).
#
#   cmake --preset release && cmake --build build/release -j2 && perf/bench/fanout.sh
#
# It runs on a private stack of its own (PostgreSQL, Redis, the dev Kafka broker and one
# Release chat-node, under var/bench on ports 25440/63810/18091), so the node under test is
# the only one in the consumer groups and the dev and test stacks are left alone. The
# users, rooms and tokens come from perf/bench/setup_fanout.py through the REST API.
# Every message is persisted too (the chat-persistence pipeline runs in the same node).
#
# Environment (defaults): BENCH_ROOMS (200), BENCH_ROOM_SIZE (10), BENCH_RATES (send rates
# in messages/s, "500 1000 2500 5000 7500 10000"; deliveries/s = rate x room size),
# BENCH_DURATION (15 s per step), BENCH_DRAIN (5 s), BENCH_RESULTS
# (perf/results/fanout.jsonl; "-" appends nowhere), BENCH_NOTE (kept in each result),
# BENCH_KEEP_STACK (0; 1 leaves the private stack running for another run).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
fi
die() {
    echo "fanout.sh: $*" >&2
    exit 1
}

ROOMS="${BENCH_ROOMS:-200}"
ROOM_SIZE="${BENCH_ROOM_SIZE:-10}"
RATES="${BENCH_RATES:-500 1000 2500 5000 7500 10000}"
DURATION="${BENCH_DURATION:-15}"
DRAIN="${BENCH_DRAIN:-5}"
RESULTS="${BENCH_RESULTS:-$ROOT/perf/results/fanout.jsonl}"
BENCH_BIN="$ROOT/build/release/bin/chat-bench"
[[ -x "$BENCH_BIN" && -x "$ROOT/build/release/bin/chat-node" ]] ||
    die "no Release build: cmake --preset release && cmake --build build/release -j2"

export CN_STACK_NODES=1 CN_TEST_STACK_VAR="$ROOT/var/bench" CN_TEST_STACK_PG_PORT=25440 \
    CN_TEST_STACK_REDIS_PORT=63810 CN_TEST_STACK_NODE1_PORT=18091 \
    CN_TEST_STACK_NODE_BUILD="$ROOT/build/release"
stop_stack() { [[ "${BENCH_KEEP_STACK:-0}" == 1 ]] || ./ops/dev --stack test down >/dev/null || true; }
trap stop_stack EXIT
./ops/dev --stack test up >/dev/null || die "the private bench stack did not come up (var/bench/log)"
NODE_URL="http://127.0.0.1:18091"
NODE_PID="$(cat "$ROOT/var/bench/run/node1.pid")"

SESSIONS="$ROOT/var/bench/sessions.txt"
echo "[fanout] setting up $((ROOMS * ROOM_SIZE)) users in $ROOMS rooms of $ROOM_SIZE" >&2
/usr/bin/python3 perf/bench/setup_fanout.py --node "$NODE_URL" --rooms "$ROOMS" \
    --room-size "$ROOM_SIZE" --out "$SESSIONS"

# A fresh node joins its consumer groups a few seconds after it is healthy; messages sent
# before that wait for the assignment. Wait for it, then warm up (not recorded).
for _ in $(seq 1 600); do
    curl -s "$NODE_URL/metrics" | grep -q '^chat_persist_partitions_assigned 6$' && break
    sleep 0.1
done
curl -s "$NODE_URL/metrics" | grep -q '^chat_persist_partitions_assigned 6$' ||
    die "the node did not get the 6 partitions of chat.messages within 60 s"
first_rate="${RATES%% *}"
echo "[fanout] warm-up: $first_rate messages/s for 5s (not recorded)" >&2
"$BENCH_BIN" --url 127.0.0.1:18091 --sessions "$SESSIONS" --rate "$first_rate" --duration 5 \
    --drain "$DRAIN" --label warm-up >/dev/null || true

COMMIT="$(git rev-parse --short HEAD)"
DIRTY="$([[ -n "$(git status --porcelain -- src perf/bench)" ]] && echo true || echo false)"
for rate in $RATES; do
    echo "[fanout] $rate messages/s for ${DURATION}s" >&2
    set +e
    line="$("$BENCH_BIN" --url 127.0.0.1:18091 --sessions "$SESSIONS" --rate "$rate" \
        --duration "$DURATION" --drain "$DRAIN" --server-pid "$NODE_PID" \
        --label "rooms=$ROOMS size=$ROOM_SIZE")"
    set -e
    [[ -n "$line" ]] || die "chat-bench printed nothing at rate $rate"
    line="$(BENCH_LINE="$line" COMMIT="$COMMIT" DIRTY="$DIRTY" /usr/bin/python3 -c '
import json, os, time
d = json.loads(os.environ["BENCH_LINE"])
d["ts"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
d["commit"] = os.environ["COMMIT"]
d["src_dirty"] = os.environ["DIRTY"] == "true"
d["machine"] = {"cpus": os.cpu_count(), "loadavg": open("/proc/loadavg").read().split()[:3]}
d["command"] = "perf/bench/fanout.sh"
d["note"] = os.environ.get("BENCH_NOTE", "")
print(json.dumps(d))')"
    echo "$line"
    [[ "$RESULTS" == - ]] || echo "$line" >>"$RESULTS"
done
