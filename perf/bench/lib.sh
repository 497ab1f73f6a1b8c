# shellcheck shell=bash
# Shared by the chat-bench scenarios (fanout.sh, idle.sh): the private one-node bench
# stack, the sessions file, and the result line. Source it after setting ROOT.
#
# The stack is ops/dev's `test` profile pointed at var/bench, ports 25440/63810/18091,
# one Release node (CN_STACK_NODES=1; BENCH_NODE_BUILD=DIR runs DIR/bin/chat-node instead of
# build/release's, for A/B runs): the node under test is alone in its consumer
# groups, and the dev and test stacks are left alone. BENCH_PG_PORT, BENCH_REDIS_PORT,
# BENCH_NODE_PORT and BENCH_VAR move it, so that two bench stacks can run on one machine.

BENCH_BIN="$ROOT/build/release/bin/chat-bench"
BENCH_PG_PORT="${BENCH_PG_PORT:-25440}"
BENCH_REDIS_PORT="${BENCH_REDIS_PORT:-63810}"
BENCH_NODE_PORT="${BENCH_NODE_PORT:-18091}"
BENCH_VAR="${BENCH_VAR:-$ROOT/var/bench}"
NODE_HOSTPORT="127.0.0.1:$BENCH_NODE_PORT"
NODE_URL="http://$NODE_HOSTPORT"
# The node's admin listener (/metrics): ops/dev gives it the HTTP port + 100.
NODE_ADMIN_URL="http://127.0.0.1:$((BENCH_NODE_PORT + 100))"
SESSIONS="$BENCH_VAR/sessions.txt"

bench_die() {
    echo "$(basename "$0"): $*" >&2
    exit 1
}

# bench_stack_env NODES NODE_BUILD — exports what ops/dev's `--stack test up` reads to start
# the bench stack with NODES nodes of NODE_BUILD on the BENCH_* ports (node k on
# BENCH_NODE_PORT + k - 1), and the node settings every bench shares.
bench_stack_env() {
    export CN_STACK_NODES="$1" CN_TEST_STACK_VAR="$BENCH_VAR" CN_TEST_STACK_PG_PORT="$BENCH_PG_PORT" \
        CN_TEST_STACK_REDIS_PORT="$BENCH_REDIS_PORT" CN_TEST_STACK_NODE1_PORT="$BENCH_NODE_PORT" \
        CN_TEST_STACK_NODE2_PORT="$((BENCH_NODE_PORT + 1))" CN_TEST_STACK_NODE_BUILD="$2"
    # The benches measure what the node can hold (idle.sh: 19,000 sessions; connect_storm.sh:
    # upgrades as fast as chat-bench opens them), not its admission limits: switch those off
    # (the node inherits CHAT_* from this environment). BENCH_KEEP_LIMITS=1 keeps them.
    if [[ -z "${BENCH_KEEP_LIMITS:-}" ]]; then
        export CHAT_LIMITS_MAX_CONNECTIONS=0 CHAT_LIMITS_ACCEPT_RATE=0
    fi
    # The dev broker sits out a waiting fetch even when records arrive (a real Kafka answers
    # at once): 2 ms instead of 10 took 4 ms off p50 and 7 ms off p99 at 5,000 deliveries/s
    # (docs/PERFORMANCE.md). Set CHAT_KAFKA_BROADCAST_FETCH_WAIT_MS to measure another value.
    export CHAT_KAFKA_BROADCAST_FETCH_WAIT_MS="${CHAT_KAFKA_BROADCAST_FETCH_WAIT_MS:-2}"
}

# bench_stack_up — starts the stack (stopped again at exit unless BENCH_KEEP_STACK=1),
# waits until the node owns the 6 partitions of chat.messages; sets NODE_PID.
bench_stack_up() {
    local node_build="${BENCH_NODE_BUILD:-$ROOT/build/release}"
    [[ -x "$BENCH_BIN" && -x "$node_build/bin/chat-node" ]] ||
        bench_die "no Release build: cmake --preset release && cmake --build build/release -j2"
    bench_stack_env 1 "$node_build"
    trap bench_stack_down EXIT
    "$ROOT/ops/dev" --stack test up >/dev/null ||
        bench_die "the private bench stack did not come up ($BENCH_VAR/log)"
    NODE_PID="$(cat "$BENCH_VAR/run/node1.pid")"
    # A fresh node joins its consumer groups a few seconds after it is healthy.
    local _
    for _ in $(seq 1 600); do
        curl -s "$NODE_ADMIN_URL/metrics" | grep -q '^chat_kafka_consumer_assigned_partitions{group="chat-persistence"} 6$' && return 0
        sleep 0.1
    done
    bench_die "the node did not get the 6 partitions of chat.messages within 60 s"
}

bench_stack_down() {
    [[ "${BENCH_KEEP_STACK:-0}" == 1 ]] || "$ROOT/ops/dev" --stack test down >/dev/null || true
}

# bench_sessions ROOMS ROOM_SIZE — users, rooms and tokens through the REST API.
bench_sessions() {
    echo "[bench] setting up $(($1 * $2)) users in $1 rooms of $2" >&2
    /usr/bin/python3 "$ROOT/perf/bench/setup_fanout.py" --node "$NODE_URL" --rooms "$1" \
        --room-size "$2" --out "$SESSIONS" --pg-url "postgresql://chat:chat@127.0.0.1:$BENCH_PG_PORT/chat"
}

# bench_record SCENARIO JSON RESULTS — adds run facts to chat-bench's JSON, prints it and
# appends it to RESULTS ("-": nowhere).
bench_record() {
    local line
    line="$(SCENARIO="$1" BENCH_LINE="$2" COMMIT="$(git -C "$ROOT" rev-parse --short HEAD)" \
        DIRTY="$(git -C "$ROOT" status --porcelain -- src perf/bench | head -c1)" /usr/bin/python3 -c '
import json, os, time
d = json.loads(os.environ["BENCH_LINE"])
d["scenario"] = os.environ["SCENARIO"]
d["ts"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
d["commit"] = os.environ["COMMIT"]
d["src_dirty"] = bool(os.environ["DIRTY"])
d["machine"] = {"cpus": os.cpu_count(), "loadavg": open("/proc/loadavg").read().split()[:3]}
d["note"] = os.environ.get("BENCH_NOTE", "")
if os.environ.get("AB_BUILD"):  # perf/bench/ab.sh: which build, which round
    d["build"] = os.environ["AB_BUILD"]
    d["round"] = int(os.environ["AB_ROUND"])
    d["node_build"] = os.environ.get("BENCH_NODE_BUILD", "")
print(json.dumps(d))')"
    echo "$line"
    [[ "$3" == - ]] || echo "$line" >>"$3"
}
