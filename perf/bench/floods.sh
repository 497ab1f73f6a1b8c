#!/usr/bin/env bash
# perf/bench/floods.sh — floods of bad clients, each while a well-behaved client's end-to-end p99
# is measured against its quiet value (bound: 2x, and zero loss). The good client is
# chat-bench on a few sessions in 3 rooms at a modest rate; the floods are flood_gen.py
# (churn, send, noread, bigframe, halfopen). One JSON line per flood, appended to
# perf/results/floods.jsonl; exit 1 when any flood breaks the bound.
#
#   cmake --preset release && cmake --build build/release -j2 && perf/bench/floods.sh
#
# Runs WITH the production limits (BENCH_KEEP_LIMITS=1 is forced): limits.accept_rate,
# limits.max_connections, send rate and burst close are what a user's node has.
# Environment (defaults): BENCH_GOOD_RATE (50 messages/s), BENCH_DURATION (20 s a phase),
# BENCH_DRAIN (5), BENCH_FLOODS ("churn send noread bigframe halfopen"), BENCH_RESULTS
# (perf/results/floods.jsonl; "-": nowhere), BENCH_NOTE, BENCH_KEEP_STACK, lib.sh's ports.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
fi
export BENCH_KEEP_LIMITS=1
# shellcheck source=perf/bench/lib.sh
source "$ROOT/perf/bench/lib.sh"

RATE="${BENCH_GOOD_RATE:-50}"
DURATION="${BENCH_DURATION:-20}"
DRAIN="${BENCH_DRAIN:-5}"
FLOODS="${BENCH_FLOODS:-churn send noread bigframe halfopen}"
RESULTS="${BENCH_RESULTS:-$ROOT/perf/results/floods.jsonl}"
GEN=(/usr/bin/python3 "$ROOT/perf/bench/flood_gen.py" --port "$BENCH_NODE_PORT" --duration "$DURATION")

bench_stack_up
# 5 rooms of 5: rooms 1-3 the good client (less one member of room 1, the never-reading
# flooder), rooms 4-5 the flood users.
bench_sessions 5 5
GOOD="$BENCH_VAR/good.txt" FLOOD="$BENCH_VAR/flood.txt" NOREAD="$BENCH_VAR/noread.txt"
sed -n '1,4p;6,15p' "$SESSIONS" >"$GOOD"
sed -n '5p' "$SESSIONS" >"$NOREAD"
sed -n '16,25p' "$SESSIONS" >"$FLOOD"
BUSY_ROOM="$(awk 'NR==1{print $3}' "$SESSIONS")"

good() {
    "$BENCH_BIN" --url "$NODE_HOSTPORT" --sessions "$GOOD" --rate "$RATE" --duration "$DURATION" \
        --drain "$DRAIN" --server-pid "$NODE_PID" --label "$1" || true
}
flood_args() {
    case "$1" in
    churn) echo "churn --tokens $FLOOD --rate 1000 --workers 4" ;;
    send) echo "send --tokens $FLOOD --rate 1000" ;;
    noread) echo "noread --tokens $NOREAD --room $BUSY_ROOM --subs 256" ;;
    bigframe) echo "bigframe --tokens $FLOOD --rate 20 --workers 2" ;;
    halfopen) echo "halfopen --tokens $FLOOD --conns 400" ;;
    *) bench_die "unknown flood $1" ;;
    esac
}

# The node's own count of slow consumers it closed: a client that never reads cannot see
# its close (the FIN waits in the node's kernel buffer behind the bytes it never read).
slow_closes() {
    curl -s "$NODE_ADMIN_URL/metrics" | awk '$1 == "chat_ws_slow_consumer_closes_total" {print $2 + 0}'
}

good warm-up >/dev/null
quiet="$(good quiet)"
[[ -n "$quiet" ]] || bench_die "chat-bench printed nothing (quiet)"
bench_record floods_quiet "$quiet" "$RESULTS" >&2
fail=0
for f in $FLOODS; do
    echo "[floods] $f for ${DURATION}s with the good client at $RATE/s" >&2
    out="$BENCH_VAR/flood_$f.json"
    # shellcheck disable=SC2046
    slow0="$(slow_closes)"
    "${GEN[@]}" $(flood_args "$f") >"$out" &
    gen_pid=$!
    line="$(good "flood $f")"
    wait "$gen_pid" || true
    slow1="$(slow_closes)"
    merged="$(QUIET="$quiet" GOODL="$line" FLOODL="$(cat "$out")" NAME="$f" \
        SLOW="$((slow1 - slow0))" /usr/bin/python3 -c '
import json, os
q = json.loads(os.environ["QUIET"]); g = json.loads(os.environ["GOODL"] or "{}")
fl = json.loads(os.environ["FLOODL"] or "{}")
lat = g.get("latency_ms", {}); qp99 = q["latency_ms"]["p99"]
ratio = lat.get("p99", float("inf")) / qp99 if qp99 else float("inf")
ok = ratio <= 2 and g.get("delivered") == g.get("expected") and g.get("expected", 0) > 0
print(json.dumps({"flood": os.environ["NAME"], "flood_achieved_per_s": fl.get("achieved_per_s"),
    "flood_detail": fl, "good_p50_ms": lat.get("p50"), "good_p99_ms": lat.get("p99"),
    "good_max_ms": lat.get("max"), "good_delivered": g.get("delivered"),
    "good_expected": g.get("expected"), "quiet_p99_ms": qp99, "ratio": round(ratio, 2),
    "node_slow_consumer_closes": int(os.environ["SLOW"]), "pass": ok}))')"
    bench_record floods "$merged" "$RESULTS"
    grep -q '"pass": true' <<<"$merged" || fail=1
done
exit "$fail"
