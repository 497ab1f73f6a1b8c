#!/usr/bin/env bash
# perf/bench/fanout.sh — fan-out in small rooms: BENCH_ROOMS x BENCH_ROOM_SIZE STOMP
# sessions on ONE chat-node, every session subscribed to its room and sending into it, at
# rising total send rates; each step prints chat-bench's JSON result (delivered vs
# expected, loss, duplicates, end-to-end and SEND->RECEIPT latency, CPU of the node and of
# chat-bench). Every message is persisted too (chat-persistence runs in the same node).
#
#   cmake --preset release && cmake --build build/release -j2 && perf/bench/fanout.sh
#
# Runs on the private one-node bench stack of perf/bench/lib.sh (var/bench).
# Environment (defaults): BENCH_ROOMS (200), BENCH_ROOM_SIZE (10), BENCH_RATES (send rates
# in messages/s, "500 1000 2500 5000 7500 10000"; deliveries/s = rate x room size; the
# per-session limit of 10 SENDs/s caps the rate at 10 x sessions), BENCH_DURATION (15 s a
# step), BENCH_WARMUP (3 s a step at the step's rate before it is measured: see chat-bench
# --warmup), BENCH_DRAIN (5 s), BENCH_RESULTS (perf/results/fanout.jsonl; "-" appends nowhere),
# BENCH_NOTE (kept in each result), BENCH_KEEP_STACK (0; 1 leaves the stack running),
# BENCH_TIMELINE (a path: each step writes PATH.<rate>.<process> with the worst latency per
# 100 ms of send time, to tell a steady queue from stalls).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
fi
# shellcheck source=perf/bench/lib.sh
source "$ROOT/perf/bench/lib.sh"

ROOMS="${BENCH_ROOMS:-200}"
ROOM_SIZE="${BENCH_ROOM_SIZE:-10}"
RATES="${BENCH_RATES:-500 1000 2500 5000 7500 10000}"
DURATION="${BENCH_DURATION:-15}"
DRAIN="${BENCH_DRAIN:-5}"
WARMUP="${BENCH_WARMUP:-3}"
RESULTS="${BENCH_RESULTS:-$ROOT/perf/results/fanout.jsonl}"

bench_stack_up
bench_sessions "$ROOMS" "$ROOM_SIZE"
first_rate="${RATES%% *}"
echo "[fanout] warm-up: $first_rate messages/s for 5s (not recorded)" >&2
"$BENCH_BIN" --url "$NODE_HOSTPORT" --sessions "$SESSIONS" --rate "$first_rate" --duration 5 \
    --drain "$DRAIN" --label warm-up >/dev/null || true
for rate in $RATES; do
    echo "[fanout] $rate messages/s for ${DURATION}s" >&2
    timeline=()
    [[ -z "${BENCH_TIMELINE:-}" ]] || timeline=(--timeline "$BENCH_TIMELINE.$rate")
    line="$("$BENCH_BIN" --url "$NODE_HOSTPORT" --sessions "$SESSIONS" --rate "$rate" \
        --duration "$DURATION" --warmup "$WARMUP" --drain "$DRAIN" --server-pid "$NODE_PID" "${timeline[@]}" \
        --label "rooms=$ROOMS size=$ROOM_SIZE" || true)"
    [[ -n "$line" ]] || bench_die "chat-bench printed nothing at rate $rate"
    bench_record fanout "$line" "$RESULTS"
done
