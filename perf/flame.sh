#!/usr/bin/env bash
# perf/flame.sh — a flame graph of chat-node under a bench scenario: runs the scenario
# (perf/bench/SCENARIO.sh, fanout by default, with ARGS and the environment passed on),
# and when it starts its load (a line of its stderr matching FLAME_AFTER) records the node
# with `perf record -e cpu-clock -g -p <node pid>` for FLAME_WINDOW seconds, lets the
# scenario finish, and renders an interactive, self-contained HTML flame graph with
# d3-flame-graph (perf/flame/: `npm ci` on first use; the folding is perf/flame/render.py).
#
#   perf/flame.sh [SCENARIO] [ARGS...]        e.g. BENCH_RATES=5000 perf/flame.sh fanout
#
# Writes perf/results/flame-SCENARIO-TIME.html (and the .data beside it; both gitignored)
# and prints the HTML's path. Environment: FLAME_WINDOW (10 s), FLAME_AFTER (the extended
# regex that starts the window, '^\[[a-z_]+\] [0-9]': a scenario's first measured
# step), FLAME_FREQ (perf's sampling rate, 999 Hz), BENCH_VAR (var/bench, where the
# scenario's stack writes the node's pid) and the scenario's own variables.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
fi
die() {
    echo "flame.sh: $*" >&2
    exit 1
}
SCENARIO="${1:-fanout}"
(($# > 0)) && shift
SCRIPT="$ROOT/perf/bench/$SCENARIO.sh"
[[ -x "$SCRIPT" ]] || die "no scenario $SCRIPT"
[[ "${BENCH_SERVER:-chat-node}" == chat-node ]] || die "flame graphs are of chat-node (BENCH_SERVER=chat-node)"
WINDOW="${FLAME_WINDOW:-10}"
AFTER="${FLAME_AFTER:-^\[[a-z_]+\] [0-9]}"
FREQ="${FLAME_FREQ:-999}"
PID_FILE="${BENCH_VAR:-$ROOT/var/bench}/run/node1.pid"
command -v perf >/dev/null || die "perf is missing: apt-get install linux-perf"
if [[ ! -d "$ROOT/perf/flame/node_modules/d3-flame-graph" ]]; then
    (cd "$ROOT/perf/flame" && npm ci --no-audit --no-fund >&2) || die "npm ci in perf/flame failed"
fi

out="$ROOT/perf/results/flame-$SCENARIO-$(date -u +%Y%m%dT%H%M%SZ)"
log="$(mktemp)" since="$(mktemp)" # since: when the scenario started
trap 'rm -f "$log" "$since"' EXIT
"$SCRIPT" "$@" 2> >(tee "$log" >&2) &
scenario=$!
# Once the scenario runs, a failure here lets it finish (it stops its own stack).
abandon() {
    echo "flame.sh: $*; waiting for the scenario to finish" >&2
    wait "$scenario" || true
    exit 1
}

until grep -Eq "$AFTER" "$log"; do
    kill -0 "$scenario" 2>/dev/null || die "the scenario ended before its load started"
    sleep 0.2
done
# The pid file must be this run's (written after the scenario started), not a stale one.
[[ "$PID_FILE" -nt "$since" ]] || abandon "no node pid of this run in $PID_FILE"
node_pid="$(cat "$PID_FILE")"
kill -0 "$node_pid" 2>/dev/null || abandon "the node (pid $node_pid) is not running"
started="$(date -u +%H:%M:%SZ)"
echo "[flame] recording chat-node (pid $node_pid) for ${WINDOW}s" >&2
perf record -e cpu-clock -F "$FREQ" -g -p "$node_pid" -o "$out.data" -- sleep "$WINDOW" \
    2>"$out.record.log" || abandon "perf record failed ($out.record.log)"
rm -f "$out.record.log"
wait "$scenario" || echo "[flame] the scenario exited with $? (the graph is still drawn)" >&2
perf script -i "$out.data" -F comm,tid,period,ip,sym,dso 2>/dev/null |
    /usr/bin/python3 "$ROOT/perf/flame/render.py" \
        --title "chat-node, $SCENARIO ($*), ${WINDOW}s from $started" \
        --out "$out.html" >&2
echo "$out.html"
