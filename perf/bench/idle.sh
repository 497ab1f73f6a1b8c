#!/usr/bin/env bash
# perf/bench/idle.sh — idle capacity: BENCH_SESSIONS STOMP sessions (in rooms of 10, each
# subscribed to its room) connected to ONE chat-node and held open for BENCH_HOLD seconds
# with heart-beats only; prints chat-bench's JSON result with connect latency, failed
# connects (dead_sessions) and the node's RSS growth per session.
#
#   cmake --preset release && cmake --build build/release -j2 && perf/bench/idle.sh
#
# Runs on the private one-node bench stack of perf/bench/lib.sh (var/bench). This machine
# allows 20,000 open files per process, for the node and for chat-bench alike, so 19,000
# is the most one run can hold. Environment (defaults): BENCH_SESSIONS (19000),
# BENCH_HOLD (20), BENCH_PROCS (1: chat-bench processes, --procs), BENCH_RESULTS
# (perf/results/idle.jsonl; "-" appends nowhere), BENCH_NOTE, BENCH_KEEP_STACK (0).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
fi
# shellcheck source=perf/bench/lib.sh
source "$ROOT/perf/bench/lib.sh"

N="${BENCH_SESSIONS:-19000}"
HOLD="${BENCH_HOLD:-20}"
PROCS="${BENCH_PROCS:-1}"
RESULTS="${BENCH_RESULTS:-$ROOT/perf/results/idle.jsonl}"
((N % 10 == 0)) || bench_die "BENCH_SESSIONS must be a multiple of 10 (rooms of 10)"

bench_stack_up
bench_sessions "$((N / 10))" 10
echo "[idle] $N sessions, held ${HOLD}s" >&2
line="$("$BENCH_BIN" --url "$NODE_HOSTPORT" --sessions "$SESSIONS" --rate 0 --duration "$HOLD" \
    --drain 0 --procs "$PROCS" --server-pid "$NODE_PID" --label "idle sessions=$N procs=$PROCS" ||
    true)"
[[ -n "$line" ]] || bench_die "chat-bench printed nothing"
bench_record idle "$line" "$RESULTS"
