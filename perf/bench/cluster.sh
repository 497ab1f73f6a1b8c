#!/usr/bin/env bash
# perf/bench/cluster.sh — the multi-node bench: BENCH_NODES chat-nodes (Release) against one
# PostgreSQL, Redis and dev Kafka broker, waits until every node is ready and the nodes
# together own the 6 partitions of chat.messages, then runs the scenarios of
# BENCH_CLUSTER_SCENARIOS with chat-bench spreading the sessions over every node (member i
# of a room on node (i + room id) mod N, so deliveries cross nodes through Redis), over several
# processes and over loopback source addresses:
#   held    BENCH_SESSIONS sessions (rooms of 10) held BENCH_HOLD s: failed connects per
#           node, each node's RSS per session
#   fanout  BENCH_FANOUT_ROOMS rooms of BENCH_ROOM_SIZE at each rate of BENCH_RATES for
#           BENCH_DURATION s: deliveries/s, loss, p99, Redis CPU and its share of the stack's
#   storm   BENCH_STORM_SESSIONS sessions opened at once on all nodes (--inflight 0)
# Each result is chat-bench's JSON plus the stack's facts (partitions per node, CPU of
# Redis, PostgreSQL, the broker and the nodes over the run), appended to
# perf/results/cluster_<scenario>.jsonl. With more nodes than partitions the extra nodes
# consume nothing (consumers are bounded by the 6 partitions): the result says so.
#
#   cmake --preset release && cmake --build build/release -j2 && perf/bench/cluster.sh
#
# Environment (defaults): BENCH_NODES (6), BENCH_CLUSTER_SCENARIOS ("held fanout storm"),
# BENCH_SESSIONS (16,000 x nodes, a multiple of 10; a node holds at most ~19,000 with this
# box's 20,000 open files), BENCH_HOLD (20), BENCH_FANOUT_ROOMS (200), BENCH_ROOM_SIZE (10),
# BENCH_RATES ("500 1000 2000"), BENCH_DURATION (15), BENCH_WARMUP (3), BENCH_DRAIN (5),
# BENCH_STORM_SESSIONS (5,000 x nodes), BENCH_SOURCE_ADDRS (127.0.0.2-127.0.0.9),
# BENCH_INFLIGHT (200: handshakes in flight in the held run), BENCH_CONNECT_TIMEOUT (300 s per
# chat-bench process), BENCH_RESULTS_DIR (perf/results;
# "-": nowhere), BENCH_NOTE, BENCH_KEEP_STACK (0), BENCH_CHECK (0; 1: exit 1 unless every
# run had no failed connect, no loss, and every node held its share: the short form of
# `ops/dev test`). The stack: BENCH_PG_PORT (25460), BENCH_REDIS_PORT (63830),
# BENCH_NODE_PORT (18121; node k on BENCH_NODE_PORT + k - 1, its admin listener + 100),
# BENCH_VAR (var/cluster).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,32p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
fi
# Its own ports and var dir: it can run beside the one-node bench stack and the test stack.
export BENCH_PG_PORT="${BENCH_PG_PORT:-25460}" BENCH_REDIS_PORT="${BENCH_REDIS_PORT:-63830}" \
    BENCH_NODE_PORT="${BENCH_NODE_PORT:-18121}" BENCH_VAR="${BENCH_VAR:-$ROOT/var/cluster}"
# shellcheck source=perf/bench/lib.sh
source "$ROOT/perf/bench/lib.sh"

NODES="${BENCH_NODES:-6}"
SCENARIOS="${BENCH_CLUSTER_SCENARIOS:-held fanout storm}"
HELD_N="${BENCH_SESSIONS:-$((NODES * 16000))}"
HOLD="${BENCH_HOLD:-20}"
FAN_ROOMS="${BENCH_FANOUT_ROOMS:-200}"
ROOM_SIZE="${BENCH_ROOM_SIZE:-10}"
RATES="${BENCH_RATES:-500 1000 2000}"
DURATION="${BENCH_DURATION:-15}"
WARMUP="${BENCH_WARMUP:-3}"
DRAIN="${BENCH_DRAIN:-5}"
STORM_N="${BENCH_STORM_SESSIONS:-$((NODES * 5000))}"
SOURCES="${BENCH_SOURCE_ADDRS:-127.0.0.2-127.0.0.9}"
CONNECT_TIMEOUT="${BENCH_CONNECT_TIMEOUT:-300}"
RESULTS_DIR="${BENCH_RESULTS_DIR:-$ROOT/perf/results}"
CHECK="${BENCH_CHECK:-0}"
[[ "$NODES" =~ ^[1-9][0-9]?$ && "$NODES" -le 16 ]] || bench_die "BENCH_NODES: 1 to 16"
((HELD_N % 10 == 0 && STORM_N % 10 == 0)) || bench_die "session counts must be multiples of 10"

# cluster_up — the stack with NODES nodes (stopped at exit unless BENCH_KEEP_STACK=1); sets
# NODE_PIDS (comma-separated, node order), URLS (HOST:PORT,...), ADMIN_URLS (array).
cluster_up() {
    [[ -x "$BENCH_BIN" && -x "$ROOT/build/release/bin/chat-node" ]] ||
        bench_die "no Release build: cmake --preset release && cmake --build build/release -j2"
    bench_stack_env "$NODES" "$ROOT/build/release"
    trap bench_stack_down EXIT
    "$ROOT/ops/dev" --stack test up >/dev/null ||
        bench_die "the cluster bench stack did not come up ($BENCH_VAR/log)"
    local i pids=() urls=()
    ADMIN_URLS=()
    for ((i = 0; i < NODES; i++)); do
        pids+=("$(cat "$BENCH_VAR/run/node$((i + 1)).pid")")
        urls+=("127.0.0.1:$((BENCH_NODE_PORT + i))")
        ADMIN_URLS+=("http://127.0.0.1:$((BENCH_NODE_PORT + i + 100))")
    done
    NODE_PIDS="$(IFS=,; echo "${pids[*]}")"
    URLS="$(IFS=,; echo "${urls[*]}")"
    # Every node ready (the detailed /healthz answers 200), and the group's members
    # together own the 6 partitions: a node that joins rebalances the others for seconds.
    local _ u n total ready
    for _ in $(seq 1 450); do
        total=0 ready=0
        for u in "${ADMIN_URLS[@]}"; do
            if curl -fs -m 2 -o /dev/null "$u/healthz"; then ready=$((ready + 1)); fi
            n="$( { curl -s -m 2 "$u/metrics" || true; } |
                awk '/^chat_kafka_consumer_assigned_partitions\{group="chat-persistence"\}/ {n = $2} END {print n + 0}')"
            total=$((total + n))
        done
        if ((ready == NODES && total == 6)); then return 0; fi
        sleep 0.2
    done
    bench_die "after 90 s: $ready of $NODES nodes ready, $total of 6 partitions of chat.messages owned"
}

# partitions_json — {"node1": {"chat-persistence": 2, ...}, ...}: who consumes what now.
partitions_json() {
    local i
    for ((i = 0; i < NODES; i++)); do
        { curl -s -m 2 "${ADMIN_URLS[i]}/metrics" || true; } | sed -n 's/^chat_kafka_consumer_assigned_partitions{group="\([^"]*\)"} \([0-9]*\)$/node'$((i + 1))' \1 \2/p'
    done | /usr/bin/python3 -c '
import json, sys
d = {}
for l in sys.stdin:
    n, g, c = l.split()
    d.setdefault(n, {})[g] = int(c)
print(json.dumps(d))'
}

# cpu_snapshot — "redis postgres kafka nodes" CPU ticks now (every postgres process of the
# stack's cluster, every node of the stack).
cpu_snapshot() {
    local redis pg kafka
    redis="$(cat "$BENCH_VAR/run/redis.pid")"
    kafka="$(cat "$BENCH_VAR/run/kafka.pid")"
    pg="$(head -n 1 "$BENCH_VAR/pg/data/postmaster.pid")"
    REDIS="$redis" KAFKA="$kafka" PG="$pg" NODES_PIDS="$NODE_PIDS" /usr/bin/python3 -c '
import os
def ticks(pid):
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])  # own + reaped children
    except (OSError, IndexError):
        return 0
def ppid(pid):
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1]
    except (OSError, IndexError):
        return ""
pg = os.environ["PG"]
pgs = [pg] + [p for p in os.listdir("/proc") if p.isdigit() and ppid(p) == pg]
print(ticks(os.environ["REDIS"]), sum(ticks(p) for p in pgs), ticks(os.environ["KAFKA"]),
      sum(ticks(p) for p in os.environ["NODES_PIDS"].split(",")))'
}

# run_bench SCENARIO SESSIONS_FILE CHAT_BENCH_ARGS... — runs chat-bench over all nodes,
# adds the stack's CPU and the partitions, records the line; RUN_OK=0 when the run fails
# the BENCH_CHECK conditions.
run_bench() {
    local scenario="$1" file="$2" line c0 c1 t0 t1 parts
    shift 2
    parts="$(partitions_json)"
    c0="$(cpu_snapshot)"
    t0="$(date +%s.%N)"
    line="$("$BENCH_BIN" --url "$URLS" --server-pid "$NODE_PIDS" --sessions "$file" \
        --source-addrs "$SOURCES" --connect-timeout "$CONNECT_TIMEOUT" "$@" || true)"
    t1="$(date +%s.%N)"
    c1="$(cpu_snapshot)"
    [[ -n "$line" ]] || bench_die "chat-bench printed nothing ($scenario)"
    line="$(BENCH_LINE="$line" C0="$c0" C1="$c1" T="$(echo "$t1 - $t0" | bc)" PARTS="$parts" \
        NODES="$NODES" HZ="$(getconf CLK_TCK)" CHECK="$CHECK" /usr/bin/python3 -c '
import json, os
d = json.loads(os.environ["BENCH_LINE"])
hz, t = int(os.environ["HZ"]), float(os.environ["T"])
a = [int(x) for x in os.environ["C0"].split()]
b = [int(x) for x in os.environ["C1"].split()]
cpu = {k: (y - x) / hz for k, x, y in zip(["redis", "postgres", "kafka", "nodes"], a, b)}
total = sum(cpu.values())
d["cluster"] = {
    "nodes": int(os.environ["NODES"]),
    "partitions": json.loads(os.environ["PARTS"]),
    "run_s": round(t, 2),
    # CPU over the whole chat-bench run (connect, warm-up, send, drain), cores = s / run_s
    "stack_cpu_s": {k: round(v, 2) for k, v in cpu.items()},
    "redis_cores": round(cpu["redis"] / t, 3) if t else None,
    "redis_share_of_stack": round(cpu["redis"] / total, 3) if total else None,
}
nodes = d.get("nodes") or []
idle = [n for n, g in d["cluster"]["partitions"].items() if not g.get("chat-persistence")]
d["cluster"]["nodes_consuming_nothing"] = idle
problems = []
if d["dead_sessions"] or d["errors"] or d["lost"]:
    problems.append("dead {}, errors {}, lost {}: {}".format(
        d["dead_sessions"], d["errors"], d["lost"], d["first_error"]))
for n in nodes:
    if n["ready"] != n["sessions"] or n["sessions"] == 0:
        problems.append("{}: {} of {} sessions ready".format(n["url"], n["ready"], n["sessions"]))
d["cluster"]["problems"] = problems
print(json.dumps(d))')"
    local results=-
    [[ "$RESULTS_DIR" == - ]] || results="$RESULTS_DIR/cluster_$scenario.jsonl"
    bench_record "cluster_$scenario" "$line" "$results"
    local problems
    problems="$(/usr/bin/python3 -c 'import json,sys; print("; ".join(json.loads(sys.argv[1])["cluster"]["problems"]))' "$line")"
    if [[ -n "$problems" ]]; then
        echo "[cluster] $scenario: $problems" >&2
        RUN_OK=0
    fi
}

cluster_up
echo "[cluster] $NODES nodes up ($URLS); partitions: $(partitions_json)" >&2
# One sessions file for every scenario: users in blocks of ROOM_SIZE (one room each), in
# file order, so the first K*ROOM_SIZE lines are K whole rooms.
max_n=0
for sc in $SCENARIOS; do
    case "$sc" in
    held) n=$HELD_N ;;
    fanout) n=$((FAN_ROOMS * ROOM_SIZE)) ;;
    storm) n=$STORM_N ;;
    *) bench_die "unknown scenario '$sc' (held, fanout, storm)" ;;
    esac
    if ((n > max_n)); then max_n=$n; fi
done
((max_n % ROOM_SIZE == 0)) || bench_die "session counts must be multiples of BENCH_ROOM_SIZE"
t0=$SECONDS
bench_sessions "$((max_n / ROOM_SIZE))" "$ROOM_SIZE"
echo "[cluster] $max_n users set up in $((SECONDS - t0)) s" >&2
RUN_OK=1
for sc in $SCENARIOS; do
    case "$sc" in
    held)
        head -n "$HELD_N" "$SESSIONS" >"$BENCH_VAR/held.txt"
        echo "[cluster] held: $HELD_N sessions over $NODES nodes for ${HOLD}s" >&2
        run_bench held "$BENCH_VAR/held.txt" --rate 0 --duration "$HOLD" --drain 0 \
            --inflight "${BENCH_INFLIGHT:-200}" \
            --label "held nodes=$NODES sessions=$HELD_N"
        ;;
    fanout)
        head -n "$((FAN_ROOMS * ROOM_SIZE))" "$SESSIONS" >"$BENCH_VAR/fanout.txt"
        for rate in $RATES; do
            echo "[cluster] fanout: $FAN_ROOMS rooms of $ROOM_SIZE, $rate msgs/s for ${DURATION}s" >&2
            run_bench fanout "$BENCH_VAR/fanout.txt" --rate "$rate" --duration "$DURATION" \
                --warmup "$WARMUP" --drain "$DRAIN" \
                --label "fanout nodes=$NODES rooms=$FAN_ROOMS size=$ROOM_SIZE"
        done
        ;;
    storm)
        head -n "$STORM_N" "$SESSIONS" >"$BENCH_VAR/storm.txt"
        echo "[cluster] storm: $STORM_N sessions at once over $NODES nodes" >&2
        run_bench storm "$BENCH_VAR/storm.txt" --rate 0 --duration 0.5 --drain 0 --inflight 0 \
            --label "connect storm nodes=$NODES sessions=$STORM_N"
        ;;
    esac
done
if [[ "$CHECK" == 1 && "$RUN_OK" != 1 ]]; then
    bench_die "a run failed its check (above)"
fi
echo "[cluster] done" >&2
