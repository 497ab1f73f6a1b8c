#!/usr/bin/env bash
# perf/bench/soak.sh — soak: the fan-out workload (BENCH_ROOMS x BENCH_ROOM_SIZE sessions,
# each subscribed to its room and sending into it) at SOAK_RATE messages/s for
# SOAK_WARMUP + SOAK_SECONDS on ONE chat-node, sampling the node's RSS and descriptor count
# every SOAK_SAMPLE_S. Passes (exit 0) when, after the warm-up, RSS grows less than
# SOAK_MAX_GROWTH_PCT, chat-bench saw no loss, duplicate or error, and once chat-bench has
# closed its sessions the node's descriptors return to their count before the run.
# Prints one JSON result (chat-bench's, plus the samples and the verdict) and appends it
# to BENCH_RESULTS.
#
#   cmake --preset release && cmake --build build/release -j2 && perf/bench/soak.sh
#
# Defaults: BENCH_ROOMS 200, BENCH_ROOM_SIZE 10, SOAK_RATE 2000 (half the highest rate
# with zero loss measured on this machine, docs/PERFORMANCE.md), SOAK_WARMUP 60,
# SOAK_SECONDS 600, SOAK_SAMPLE_S 5, SOAK_MAX_GROWTH_PCT 5, BENCH_RESULTS
# perf/results/soak.jsonl ("-": nowhere), BENCH_NOTE. `ops/dev test` runs a 30-second
# version with 200 sessions. Runs on the private bench stack of perf/bench/lib.sh.
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
RATE="${SOAK_RATE:-2000}"
WARMUP="${SOAK_WARMUP:-60}"
SECONDS_RUN="${SOAK_SECONDS:-600}"
SAMPLE="${SOAK_SAMPLE_S:-5}"
MAX_GROWTH="${SOAK_MAX_GROWTH_PCT:-5}"
RESULTS="${BENCH_RESULTS:-$ROOT/perf/results/soak.jsonl}"
SAMPLES="$BENCH_VAR/soak-samples.txt"

bench_stack_up
bench_sessions "$ROOMS" "$ROOM_SIZE"
# A short run first, so that connections the node opens on first use (Kafka brokers,
# PostgreSQL pool members) are in the baseline rather than counted as leaks.
"$BENCH_BIN" --url "$NODE_HOSTPORT" --sessions "$SESSIONS" --rate "$RATE" \
    --duration 3 --drain 2 --label soak-warm-up >/dev/null || true
sleep 1 # the node closes its side of chat-bench's sessions
fds_before="$(ls "/proc/$NODE_PID/fd" | wc -l)"
: >"$SAMPLES"
echo "[soak] $((ROOMS * ROOM_SIZE)) sessions, $RATE msgs/s, ${WARMUP}s warm-up + ${SECONDS_RUN}s" >&2
out="$BENCH_VAR/soak-bench.json"
"$BENCH_BIN" --url "$NODE_HOSTPORT" --sessions "$SESSIONS" --rate "$RATE" \
    --duration "$((WARMUP + SECONDS_RUN))" --drain 5 --server-pid "$NODE_PID" \
    --label "soak rooms=$ROOMS size=$ROOM_SIZE rate=$RATE" >"$out" &
bench_pid=$!
t0=$SECONDS
while kill -0 "$bench_pid" 2>/dev/null; do
    rss="$(awk '/^VmRSS:/ {print $2}' "/proc/$NODE_PID/status")"
    fds="$(ls "/proc/$NODE_PID/fd" | wc -l)"
    echo "$((SECONDS - t0)) $rss $fds" >>"$SAMPLES"
    sleep "$SAMPLE"
done
wait "$bench_pid" || true
[[ -s "$out" ]] || bench_die "chat-bench printed nothing"
# chat-bench has closed its sessions: the node closes its side within a bounded time.
fds_after=""
for _ in $(seq 1 100); do
    fds_after="$(ls "/proc/$NODE_PID/fd" | wc -l)"
    ((fds_after <= fds_before)) && break
    sleep 0.1
done

line="$(BENCH_JSON="$(cat "$out")" SAMPLES="$SAMPLES" WARMUP="$WARMUP" MAX_GROWTH="$MAX_GROWTH" \
    FDS_BEFORE="$fds_before" FDS_AFTER="$fds_after" /usr/bin/python3 -c '
import json, os
d = json.loads(os.environ["BENCH_JSON"])
rows = [tuple(int(x) for x in l.split()) for l in open(os.environ["SAMPLES"]) if l.strip()]
warm = int(os.environ["WARMUP"])
after = [r for r in rows if r[0] >= warm]
base = after[0][1] if after else 0
peak = max((r[1] for r in after), default=0)
growth = 100.0 * (peak - base) / base if base else 0.0
fb, fa = int(os.environ["FDS_BEFORE"]), int(os.environ["FDS_AFTER"])
problems = []
if d["lost"] or d["duplicates"] or d["errors"] or d["dead_sessions"] or d["bad_bodies"]:
    problems.append("bench saw lost/duplicates/errors/dead sessions")
if growth >= float(os.environ["MAX_GROWTH"]):
    problems.append(f"RSS grew {growth:.1f}% after the warm-up")
if fa > fb:
    problems.append(f"{fa - fb} descriptors more than before the run")
if len(after) < 2:
    problems.append("too few samples after the warm-up")
d["soak"] = {"rss_kb_after_warmup": base, "rss_kb_peak": peak, "rss_growth_pct": round(growth, 2),
             "fds_before": fb, "fds_after": fa, "samples": rows, "problems": problems,
             "passed": not problems}
print(json.dumps(d))')"
bench_record soak "$line" "$RESULTS"
passed="$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["soak"]["passed"])' "$line")"
[[ "$passed" == True ]] || bench_die "soak failed: $(/usr/bin/python3 -c 'import json,sys; print("; ".join(json.loads(sys.argv[1])["soak"]["problems"]))' "$line")"
echo "[soak] passed" >&2
