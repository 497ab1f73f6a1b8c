#!/usr/bin/env bash
# perf/bench/ab.sh — A/B of two chat-node builds under perf/bench/fanout.sh: ROUNDS rounds,
# each running fanout.sh on a fresh bench stack once with each build (base first in odd
# rounds, new first in even ones, so drift on the box does not favour one side); then
# prints, per rate and build, the median and the worst of p50, p99, loss and node CPU, and
# the ratio new/base (perf/bench/ab_summary.py).
#
#   cmake --preset release && cmake --build build/release -j2     # chat-bench + new node
#   perf/bench/ab.sh /path/to/base-build build/release
#
# BASE_DIR and NEW_DIR are CMake build directories holding bin/chat-node. Environment:
# ROUNDS (3), BENCH_NOTE (required: it tells this A/B's result lines from all others),
# BENCH_RESULTS (perf/results/fanout.jsonl), and fanout.sh's own (BENCH_RATES etc.).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
if [[ $# -ne 2 || "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 2
fi
BASE="$(cd "$1" && pwd)"
NEW="$(cd "$2" && pwd)"
[[ -x "$BASE/bin/chat-node" && -x "$NEW/bin/chat-node" ]] || {
    echo "ab.sh: both builds need bin/chat-node" >&2
    exit 2
}
[[ -n "${BENCH_NOTE:-}" ]] || {
    echo "ab.sh: set BENCH_NOTE to a text that names this A/B" >&2
    exit 2
}
ROUNDS="${ROUNDS:-3}"
export BENCH_RESULTS="${BENCH_RESULTS:-$ROOT/perf/results/fanout.jsonl}"

run_one() { # NAME DIR ROUND
    echo "[ab] round $3: $1 ($2)" >&2
    AB_BUILD="$1" AB_ROUND="$3" BENCH_NODE_BUILD="$2" BENCH_KEEP_STACK=0 perf/bench/fanout.sh >/dev/null
}

for round in $(seq 1 "$ROUNDS"); do
    if ((round % 2)); then
        run_one base "$BASE" "$round"
        run_one new "$NEW" "$round"
    else
        run_one new "$NEW" "$round"
        run_one base "$BASE" "$round"
    fi
done
/usr/bin/python3 "$ROOT/perf/bench/ab_summary.py" "$BENCH_RESULTS" "$BENCH_NOTE"
