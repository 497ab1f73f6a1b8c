#!/usr/bin/env bash
# perf/bench/connect_storm.sh — connect storm: BENCH_STORM_SESSIONS STOMP-over-WebSocket
# sessions (rooms of 10) opened as fast as chat-bench can, at most BENCH_INFLIGHT
# handshakes in flight (0: all at once); each session is counted connected at CONNECTED
# and ready after its SUBSCRIBE receipt. Prints chat-bench's JSON result: connect latency
# (connect_ms p50/p90/p99/max, TCP connect to CONNECTED), connects_per_s, connect_s (all
# ready), failures (dead_sessions, first_error), and appends it under perf/results/.
#
#   cmake --preset release && cmake --build build/release -j2 && perf/bench/connect_storm.sh
#
# Environment (defaults): BENCH_SERVER (chat-node, or rabbitmq: target.sh), BENCH_STORM_SESSIONS
# (5000, a multiple of 10; at most ~19,000 with this box's 20,000 open files),
# BENCH_INFLIGHT (0), BENCH_RESULTS (perf/results/connect_storm.jsonl; "-": nowhere),
# BENCH_NOTE, BENCH_KEEP_STACK (0), the stack's ports (lib.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
fi
# shellcheck source=perf/bench/lib.sh
source "$ROOT/perf/bench/lib.sh"
# shellcheck source=perf/bench/target.sh
source "$ROOT/perf/bench/target.sh"

N="${BENCH_STORM_SESSIONS:-5000}"
INFLIGHT="${BENCH_INFLIGHT:-0}"
RESULTS="${BENCH_RESULTS:-$ROOT/perf/results/connect_storm.jsonl}"
((N % 10 == 0)) || bench_die "BENCH_STORM_SESSIONS must be a multiple of 10 (rooms of 10)"

bench_target_up "$((N / 10))" 10
echo "[connect_storm] $N sessions, $INFLIGHT in flight (0: all)" >&2
# --rate 0: no messages; a short hold, then the result.
line="$("$BENCH_BIN" "${TARGET_ARGS[@]}" --url "$TARGET_URL" --sessions "$TARGET_SESSIONS" \
    --rate 0 --duration 0.5 --drain 0 --inflight "$INFLIGHT" --server-pid "$TARGET_PID" \
    --label "connect storm sessions=$N inflight=$INFLIGHT" || true)"
[[ -n "$line" ]] || bench_die "chat-bench printed nothing"
bench_record connect_storm "$line" "$RESULTS"
