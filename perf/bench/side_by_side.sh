#!/usr/bin/env bash
# perf/bench/side_by_side.sh — chat-node and RabbitMQ Web-STOMP measured with identical
# parameters in one run: the scenarios of BENCH_SIDE_SCENARIOS ("idle fanout"; also
# connect_storm, one_room) first on the one-node bench stack (lib.sh: idle.sh, fanout.sh,
# connect_storm.sh, one_room.sh), then against RabbitMQ (fanout_peer.sh for idle and
# fan-out, the others with BENCH_SERVER=rabbitmq); every result is appended under
# perf/results/ as usual, and a table of both is printed at the end.
#
#   cmake --preset release && cmake --build build/release -j2 && perf/bench/side_by_side.sh
#
# Run it on a quiet machine: the two servers run one after the other, never at once.
# Environment: BENCH_SIDE_SCENARIOS; fanout.sh's (BENCH_ROOMS 200, BENCH_ROOM_SIZE 10,
# BENCH_RATES, BENCH_DURATION 15, BENCH_DRAIN 5, BENCH_NOTE; BENCH_RESULTS, when set, is
# every scenario's results file); BENCH_IDLE_SESSIONS (2000), BENCH_HOLD (20),
# BENCH_IDLE_RESULTS (perf/results/idle.jsonl); connect_storm.sh's (BENCH_STORM_SESSIONS,
# BENCH_INFLIGHT) and one_room.sh's (BENCH_ONE_ROOM_SIZE, BENCH_SENDERS,
# BENCH_ONE_ROOM_RATES); the stack's ports (BENCH_PG_PORT, BENCH_REDIS_PORT,
# BENCH_NODE_PORT, BENCH_VAR) and rabbitmq.sh's (RABBITMQ_BENCH_*).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
fi
SCENARIOS=" ${BENCH_SIDE_SCENARIOS:-idle fanout} "
for s in $SCENARIOS; do
    [[ " idle fanout connect_storm one_room " == *" $s "* ]] || {
        echo "side_by_side.sh: unknown scenario $s" >&2
        exit 1
    }
done
has() { [[ "$SCENARIOS" == *" $1 "* ]]; }
IDLE_N="${BENCH_IDLE_SESSIONS:-2000}"
has idle || IDLE_N=0
lines="$(mktemp)"
trap 'rm -f "$lines"' EXIT

if ((IDLE_N > 0)); then
    echo "[side_by_side] chat-node: idle, $IDLE_N sessions" >&2
    BENCH_SESSIONS="$IDLE_N" BENCH_RESULTS="${BENCH_IDLE_RESULTS:-$ROOT/perf/results/idle.jsonl}" \
        "$ROOT/perf/bench/idle.sh" >>"$lines"
fi
if has fanout; then
    echo "[side_by_side] chat-node: fan-out" >&2
    "$ROOT/perf/bench/fanout.sh" >>"$lines"
fi
for s in connect_storm one_room; do
    has "$s" || continue
    echo "[side_by_side] chat-node: $s" >&2
    BENCH_SERVER=chat-node "$ROOT/perf/bench/$s.sh" >>"$lines"
done
if ((IDLE_N > 0)) || has fanout; then
    echo "[side_by_side] rabbitmq: idle and/or fan-out" >&2
    rates="${BENCH_RATES-500 1000 2500 5000 7500 10000}"
    has fanout || rates=""
    BENCH_IDLE_SESSIONS="$IDLE_N" BENCH_RATES="$rates" "$ROOT/perf/bench/fanout_peer.sh" >>"$lines"
fi
for s in connect_storm one_room; do
    has "$s" || continue
    echo "[side_by_side] rabbitmq: $s" >&2
    BENCH_SERVER=rabbitmq "$ROOT/perf/bench/$s.sh" >>"$lines"
done

/usr/bin/python3 - "$lines" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print(f"{'server':<10} {'scenario':<13} {'rate':>6} {'deliv/s':>8} {'lost':>7} {'p50 ms':>8} "
      f"{'p99 ms':>8} {'p99.9 ms':>9} {'max ms':>8} {'srv cores':>9} {'bench':>6} {'KiB/sess':>8} "
      f"{'conn/s':>7} {'conn p99':>8} {'failed':>6}")
for r in rows:
    lat = r["latency_ms"]
    idle = r["scenario"] == "idle"
    per = r["server_rss_per_session_b"] / 1024 if idle and r["server_rss_per_session_b"] >= 0 else None
    bench = f"{r['bench_cpu_cores']:.2f}" + ("!" if r["bench_saturated"] else "")
    print(f"{r.get('server', 'chat-node'):<10} {r['scenario']:<13} {r['rate']:>6.0f} "
          f"{r['deliveries_per_s']:>8.0f} {r['lost']:>7} {lat['p50']:>8.2f} {lat['p99']:>8.2f} "
          f"{lat['p999']:>9.2f} {lat['max']:>8.2f} {r['server_cpu_cores']:>9.2f} {bench:>6} "
          f"{'' if per is None else f'{per:.0f}':>8} {r['connects_per_s']:>7.0f} "
          f"{r['connect_ms']['p99']:>8.1f} {r['dead_sessions']:>6}")
print("bench: chat-bench's own CPU in cores; '!' = it saturated, that run measured the bench")
PY
