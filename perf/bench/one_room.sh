#!/usr/bin/env bash
# perf/bench/one_room.sh — fan-out in one big room: BENCH_ONE_ROOM_SIZE sessions all subscribed
# to one room, of which only the first BENCH_SENDERS send (the rest only listen), at rising
# total send rates; every message is delivered to the whole room, so deliveries/s = rate x
# room size. Each step prints chat-bench's JSON result (delivered vs expected, loss,
# end-to-end latency p50..max, deliveries/s, CPU of the server and of chat-bench) and
# appends it under perf/results/.
#
#   cmake --preset release && cmake --build build/release -j2 && perf/bench/one_room.sh
#
# chat-node's API makes groups of at most 100, so the room is created with 100 members and
# the others are added with SQL (setup_fanout.py --pg-url). Environment (defaults):
# BENCH_SERVER (chat-node, or rabbitmq: target.sh), BENCH_ONE_ROOM_SIZE (5000), BENCH_SENDERS
# (10; chat-node allows 10 SENDs/s a session, so rate <= 10 x senders), BENCH_ONE_ROOM_RATES
# (messages/s, "2 5 10 20"), BENCH_DURATION (15), BENCH_WARMUP (3), BENCH_DRAIN (5), BENCH_RESULTS
# (perf/results/one_room.jsonl; "-": nowhere), BENCH_NOTE, BENCH_KEEP_STACK (0), the
# stack's ports (lib.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
fi
# shellcheck source=perf/bench/lib.sh
source "$ROOT/perf/bench/lib.sh"
# shellcheck source=perf/bench/target.sh
source "$ROOT/perf/bench/target.sh"

SIZE="${BENCH_ONE_ROOM_SIZE:-5000}"
SENDERS="${BENCH_SENDERS:-10}"
RATES="${BENCH_ONE_ROOM_RATES:-2 5 10 20}"
DURATION="${BENCH_DURATION:-15}"
DRAIN="${BENCH_DRAIN:-5}"
WARMUP="${BENCH_WARMUP:-3}"
RESULTS="${BENCH_RESULTS:-$ROOT/perf/results/one_room.jsonl}"
((SIZE <= 65535)) || bench_die "BENCH_ONE_ROOM_SIZE must be at most 65535 (chat-bench counts in 16 bits)"

bench_target_up 1 "$SIZE"
first_rate="${RATES%% *}"
echo "[one_room] warm-up: $first_rate messages/s for 5s (not recorded)" >&2
"$BENCH_BIN" "${TARGET_ARGS[@]}" --url "$TARGET_URL" --sessions "$TARGET_SESSIONS" \
    --senders "$SENDERS" --rate "$first_rate" --duration 5 --drain "$DRAIN" --label warm-up \
    >/dev/null || true
for rate in $RATES; do
    echo "[one_room] $rate messages/s for ${DURATION}s ($((rate * SIZE)) deliveries/s)" >&2
    line="$("$BENCH_BIN" "${TARGET_ARGS[@]}" --url "$TARGET_URL" --sessions "$TARGET_SESSIONS" \
        --senders "$SENDERS" --rate "$rate" --duration "$DURATION" --warmup "$WARMUP" --drain "$DRAIN" \
        --server-pid "$TARGET_PID" --label "one room size=$SIZE senders=$SENDERS" || true)"
    [[ -n "$line" ]] || bench_die "chat-bench printed nothing at rate $rate"
    bench_record one_room "$line" "$RESULTS"
done
