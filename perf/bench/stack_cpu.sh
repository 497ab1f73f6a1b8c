#!/usr/bin/env bash
# perf/bench/stack_cpu.sh SECONDS — CPU cores used by each process name (all threads, all
# processes of that name summed: every postgres backend counts as "postgres") over the
# next SECONDS, busiest first. Run it beside a bench step to see how the two cores are
# shared between chat-node, PostgreSQL, Redis, the dev broker and chat-bench:
#
#   BENCH_RATES=5000 BENCH_DURATION=25 perf/bench/fanout.sh &  sleep 40; perf/bench/stack_cpu.sh 12
set -euo pipefail
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
fi
secs="${1:?usage: stack_cpu.sh SECONDS}"
hz="$(getconf CLK_TCK)"
snap() {
    local p s name f
    for p in /proc/[0-9]*; do
        read -r s <"$p/stat" 2>/dev/null || continue
        read -ra f <<<"${s##*) }" # the fields after "(comm) ": f[11] utime, f[12] stime
        name="${s#*(}"
        name="${name%%)*}"
        echo "${p#/proc/} ${name// /_} $((f[11] + f[12]))"
    done | sort
}
a="$(snap)"
sleep "$secs"
b="$(snap)"
join <(echo "$a") <(echo "$b") |
    awk -v t="$secs" -v hz="$hz" '{d[$2] += $5 - $3}
        END {for (n in d) if (d[n] > 0) printf "%-20s %.2f\n", n, d[n] / hz / t}' |
    sort -k2 -nr
