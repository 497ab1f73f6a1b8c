#!/usr/bin/env bash
# perf/bench/rolling.sh — a rolling restart under load: BENCH_NODES chat-nodes (default 3)
# on one PostgreSQL, Redis and dev Kafka broker, BENCH_ROOMS rooms of BENCH_ROOM_SIZE
# members (default 300 × 10 = 3,000 sessions, spread over every node), a steady
# BENCH_RATE messages/s (default 100) with receipts, then `chat-admin drain` of every node
# in turn: restart it, wait for /healthz, next. The clients (perf/bench/rolling_client.py)
# do what docs/PROTOCOL.md asks of a drained client: reconnect to another node after
# x-reconnect-after-ms, re-send unreceipted messages with the same messageKey, resume with
# x-resume-after. Checks: every receipted message stored exactly once in PostgreSQL and
# delivered to every member once, in order; every client back and resumed. Reports the
# time to recover per node (drain start to the last of its clients resumed).
#
#   cmake --preset release && cmake --build build/release -j2 && perf/bench/rolling.sh
#
# Ports: BENCH_PG_PORT (25450), BENCH_REDIS_PORT (63820), BENCH_NODE_PORT (18101: the
# first node; node i gets BENCH_NODE_PORT + i - 1, its admin listener + 100), BENCH_VAR
# (var/rolling). BENCH_RESULTS (perf/results/rolling.jsonl, "-": nowhere), BENCH_NOTE,
# BENCH_KEEP_STACK=1 leaves the stack up (`rolling.sh down` stops it); BENCH_VAR is emptied first (BENCH_KEEP_VAR=1:
# not). BENCH_RECONNECT=next: a drained client goes to the next node up instead of a
# random one (the last drain then moves every session onto the first node). BENCH_CLIENT:
# another client script with rolling_client.py's arguments. Needs /usr/bin/python3 and psql.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
fi

NODES="${BENCH_NODES:-3}"
BENCH_PG_PORT="${BENCH_PG_PORT:-25450}"
BENCH_REDIS_PORT="${BENCH_REDIS_PORT:-63820}"
BENCH_NODE_PORT="${BENCH_NODE_PORT:-18101}"
BENCH_VAR="${BENCH_VAR:-$ROOT/var/rolling}"
RESULTS="${BENCH_RESULTS:-$ROOT/perf/results/rolling.jsonl}"
NODE_BUILD="${BENCH_NODE_BUILD:-$ROOT/build/release}"

# The stack is ops/dev's `test` profile (PostgreSQL over TLS, Redis with a password) with
# NODES ports instead of two: ops/lib/stack.sh's functions take any node count.
export CN_TEST_STACK_VAR="$BENCH_VAR" CN_TEST_STACK_PG_PORT="$BENCH_PG_PORT" \
    CN_TEST_STACK_REDIS_PORT="$BENCH_REDIS_PORT" CN_TEST_STACK_NODE_BUILD="$NODE_BUILD"
# Admission limits off (thousands of sessions from one address), a send rate per session
# far above what a sender uses; the drain's own settings are the defaults of docs/ADMIN.md.
export CHAT_LIMITS_MAX_CONNECTIONS=0 CHAT_LIMITS_ACCEPT_RATE=0
export CHAT_KAFKA_BROADCAST_FETCH_WAIT_MS="${CHAT_KAFKA_BROADCAST_FETCH_WAIT_MS:-2}"
# shellcheck source=ops/lib/common.sh
source "$ROOT/ops/lib/common.sh"
# shellcheck source=ops/lib/stack.sh
source "$ROOT/ops/lib/stack.sh"
cn_stack_profile test
NODE_PORTS=()
for ((i = 0; i < NODES; i++)); do NODE_PORTS+=($((BENCH_NODE_PORT + i))); done
NODE_COUNT=$NODES

die() {
    echo "rolling.sh: $*" >&2
    exit 1
}

# rolling.sh restart-node I — what the clients' driver runs for each node in turn:
# `chat-admin drain` (it returns once the node has stopped), start it again, wait for
# its /healthz. Prints one line of timings.
if [[ "${1:-}" == restart-node ]]; then
    i="$2"
    t0=$EPOCHREALTIME
    "$NODE_BUILD/bin/chat-admin" --socket "$(node_admin_socket "$i")" drain >"$LOGS/drain$i.out" 2>&1 ||
        die "chat-admin drain of node$i failed: $(tail -3 "$LOGS/drain$i.out")"
    pid="$(node_pid "$i")"
    while cn_pid_alive "$pid" chat-node; do sleep 0.05; done
    t1=$EPOCHREALTIME
    # The clients' thousands of connections take ephemeral ports, which on this box
    # include the node ports: a start that finds its port taken is tried again.
    for try in $(seq 1 20); do
        node_start "$i" >/dev/null
        until node_healthy "$i"; do
            node_running "$i" || break
            sleep 0.05
        done
        node_healthy "$i" && break
        tail -5 "$LOGS/node$i.log" | grep -q 'is already in use' ||
            die "node$i exited during start-up (see $LOGS/node$i.log)"
        echo "rolling.sh: node$i: its port is in use (try $try), starting again" >&2
        sleep 1
    done
    node_healthy "$i" || die "node$i did not start: its port stayed in use"
    t2=$EPOCHREALTIME
    printf 'node%s drained and stopped in %.2f s, healthy again %.2f s later\n' "$i" \
        "$(bc <<<"$t1 - $t0")" "$(bc <<<"$t2 - $t1")"
    exit 0
fi

# rolling.sh down — stops a stack left up by BENCH_KEEP_STACK=1.
if [[ "${1:-}" == down ]]; then
    stack_down
    exit 0
fi

[[ -x "$NODE_BUILD/bin/chat-node" ]] || die "no Release build: cmake --preset release && cmake --build build/release -j2"
# A fresh stack every run: the checks count every row of the run's rooms, and a database
# that has held earlier runs writes slower (docs/PERFORMANCE.md, "How the benchmarks run").
stack_down >/dev/null 2>&1 || true # what an earlier run left up (BENCH_KEEP_STACK=1)
if [[ "${BENCH_KEEP_VAR:-0}" != 1 && -e "$BENCH_VAR" ]]; then
    [[ -d "$BENCH_VAR/pg" ]] || die "$BENCH_VAR is not a stack's var dir: not emptying it"
    rm -rf "$BENCH_VAR"
fi
down() { [[ "${BENCH_KEEP_STACK:-0}" == 1 ]] || stack_down >/dev/null 2>&1 || true; }
trap down EXIT
stack_up >/dev/null || {
    stack_down >/dev/null 2>&1 || true
    die "the stack did not come up ($LOGS)"
}
# A node joins its consumer groups a few seconds after it is healthy: wait until the
# six partitions of chat.messages are owned (summed over the nodes).
for _ in $(seq 1 600); do
    owned=0
    for ((i = 1; i <= NODES; i++)); do
        n="$(curl -s "$(node_admin_url "$i")/metrics" |
            awk '/^chat_kafka_consumer_assigned_partitions\{group="chat-persistence"\}/ {print $2}')"
        owned=$((owned + ${n:-0}))
    done
    ((owned == 6)) && break
    sleep 0.1
done
((owned == 6)) || die "the nodes do not own the 6 partitions of chat.messages (owned: $owned)"

SESSIONS="$BENCH_VAR/sessions.txt"
ROOMS="${BENCH_ROOMS:-300}" SIZE="${BENCH_ROOM_SIZE:-10}"
echo "[rolling] setting up $((ROOMS * SIZE)) users in $ROOMS rooms of $SIZE" >&2
/usr/bin/python3 perf/bench/setup_fanout.py --node "$(node_url 1)" --rooms "$ROOMS" \
    --room-size "$SIZE" --out "$SESSIONS"
urls="$(for ((i = 1; i <= NODES; i++)); do node_url "$i"; echo; done | paste -sd,)"
# Every node's ports (its admin listener: + 100), which the client's connections avoid.
avoid="$(for ((i = 0; i < NODES; i++)); do echo $((BENCH_NODE_PORT + i)),$((BENCH_NODE_PORT + i + 100)); done | paste -sd,)"
rc=0
line="$(/usr/bin/python3 "${BENCH_CLIENT:-perf/bench/rolling_client.py}" --sessions "$SESSIONS" --nodes "$urls" \
    --rate "${BENCH_RATE:-100}" --pg-url "$PG_URL" --reconnect "${BENCH_RECONNECT:-random}" --avoid-ports "$avoid" \
    --restart "BENCH_NODES=$NODES BENCH_PG_PORT=$BENCH_PG_PORT BENCH_REDIS_PORT=$BENCH_REDIS_PORT BENCH_NODE_PORT=$BENCH_NODE_PORT BENCH_VAR=$BENCH_VAR BENCH_NODE_BUILD=$NODE_BUILD $ROOT/perf/bench/rolling.sh restart-node {i}")" || rc=$?
[[ -n "$line" ]] || die "rolling_client.py printed nothing (rc $rc)"
# shellcheck source=perf/bench/lib.sh
source "$ROOT/perf/bench/lib.sh"
bench_record rolling "$line" "$RESULTS"
((rc == 0)) || die "a check failed (see the result line)"
