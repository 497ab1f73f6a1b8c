#!/usr/bin/env bash
# perf/bench/fanout_peer.sh — fanout.sh's workload against the peer broker, RabbitMQ
# Web-STOMP (perf/peer/rabbitmq.sh, started here on loopback and stopped at exit): first
# idle capacity on the fresh broker (BENCH_IDLE_SESSIONS sessions subscribed to their rooms
# of 10 and held BENCH_HOLD s: the beam process's RSS growth per idle subscribed
# connection), then fan-out, BENCH_ROOMS x BENCH_ROOM_SIZE sessions, each subscribed to
# /topic/room.N and sending straight into it, at rising total send rates. Prints one JSON
# result per step ("server":"rabbitmq") and appends it under perf/results/.
#
#   cmake --preset release && cmake --build build/release -j2 --target chat-bench &&
#   perf/bench/fanout_peer.sh
#
# Environment (defaults, the same names and values as fanout.sh and idle.sh): BENCH_ROOMS
# (200), BENCH_ROOM_SIZE (10), BENCH_RATES ("500 1000 2500 5000 7500 10000"),
# (set and empty: no fan-out step), BENCH_DURATION (15), BENCH_WARMUP (3), BENCH_DRAIN (5), BENCH_IDLE_SESSIONS (2000; 0 skips the idle step),
# BENCH_HOLD (20), BENCH_RESULTS (perf/results/fanout.jsonl; "-": nowhere),
# BENCH_IDLE_RESULTS (perf/results/idle.jsonl), BENCH_NOTE, BENCH_KEEP_STACK (0: stop the
# broker at exit), RABBITMQ_BENCH_WS_PORT (15674) and the other ports of rabbitmq.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
fi
# shellcheck source=perf/bench/lib.sh
source "$ROOT/perf/bench/lib.sh"

ROOMS="${BENCH_ROOMS:-200}"
ROOM_SIZE="${BENCH_ROOM_SIZE:-10}"
RATES="${BENCH_RATES-500 1000 2500 5000 7500 10000}"
DURATION="${BENCH_DURATION:-15}"
DRAIN="${BENCH_DRAIN:-5}"
WARMUP="${BENCH_WARMUP:-3}"
IDLE_N="${BENCH_IDLE_SESSIONS:-2000}"
HOLD="${BENCH_HOLD:-20}"
RESULTS="${BENCH_RESULTS:-$ROOT/perf/results/fanout.jsonl}"
IDLE_RESULTS="${BENCH_IDLE_RESULTS:-$ROOT/perf/results/idle.jsonl}"
PEER="$ROOT/perf/peer/rabbitmq.sh"
PEER_URL="127.0.0.1:${RABBITMQ_BENCH_WS_PORT:-15674}"
PEER_SESSIONS="${RABBITMQ_BENCH_VAR:-$ROOT/var/rabbitmq}/sessions.txt"
((IDLE_N % 10 == 0)) || bench_die "BENCH_IDLE_SESSIONS must be a multiple of 10 (rooms of 10)"
[[ -x "$BENCH_BIN" ]] || bench_die "no Release chat-bench: cmake --preset release && cmake --build build/release -j2 --target chat-bench"

peer_down() { [[ "${BENCH_KEEP_STACK:-0}" == 1 ]] || "$PEER" down || true; }
trap peer_down EXIT
PEER_PID="$("$PEER" up)" || bench_die "rabbitmq did not come up"

if ((IDLE_N > 0)); then
    "$PEER" sessions "$((IDLE_N / 10))" 10 "$PEER_SESSIONS"
    echo "[fanout_peer] idle: $IDLE_N sessions, held ${HOLD}s" >&2
    line="$("$BENCH_BIN" --peer rabbitmq --url "$PEER_URL" --sessions "$PEER_SESSIONS" \
        --rate 0 --duration "$HOLD" --drain 0 --server-pid "$PEER_PID" \
        --label "idle sessions=$IDLE_N" || true)"
    [[ -n "$line" ]] || bench_die "chat-bench printed nothing (idle)"
    bench_record idle "$line" "$IDLE_RESULTS"
fi

[[ -n "$RATES" ]] || exit 0
"$PEER" sessions "$ROOMS" "$ROOM_SIZE" "$PEER_SESSIONS"
first_rate="${RATES%% *}"
echo "[fanout_peer] warm-up: $first_rate messages/s for 5s (not recorded)" >&2
"$BENCH_BIN" --peer rabbitmq --url "$PEER_URL" --sessions "$PEER_SESSIONS" --rate "$first_rate" \
    --duration 5 --drain "$DRAIN" --label warm-up >/dev/null || true
for rate in $RATES; do
    echo "[fanout_peer] $rate messages/s for ${DURATION}s" >&2
    line="$("$BENCH_BIN" --peer rabbitmq --url "$PEER_URL" --sessions "$PEER_SESSIONS" \
        --rate "$rate" --duration "$DURATION" --warmup "$WARMUP" --drain "$DRAIN" --server-pid "$PEER_PID" \
        --label "rooms=$ROOMS size=$ROOM_SIZE" || true)"
    [[ -n "$line" ]] || bench_die "chat-bench printed nothing at rate $rate"
    bench_record fanout "$line" "$RESULTS"
done
