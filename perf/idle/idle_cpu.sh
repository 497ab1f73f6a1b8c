#!/usr/bin/env bash
# perf/idle/idle_cpu.sh — idle cost: one chat-node on a fresh private stack with no
# session at all; the node's own CPU time (utime + stime of every thread, from
# /proc/PID/stat, so other work on the machine does not count) over IDLE_SECONDS, IDLE_RUNS
# times; prints each run, then the median and the worst in % of one core, the dev Kafka
# broker's own CPU beside it, and where the node's time and wake-ups (voluntary context
# switches) went, by thread name.
#
#   cmake --preset release && cmake --build build/release -j2 && perf/idle/idle_cpu.sh
#
# The node runs with the dev stack's settings (ops/config/dev.ini, IDLE_CONFIG moves it):
# the dev broker (librdkafka's mock cluster) holds an empty fetch for the whole
# fetch.wait.max.ms even when a record arrives, so dev.ini gives the broadcast consumer a
# 2 ms wait. IDLE_BROADCAST_FETCH_WAIT_MS=500 measures the wait a broker that answers
# fetches as soon as a record arrives (Kafka) allows: idle, both brokers hold the fetch
# for the whole wait, so the difference between the two runs is the dev broker's share.
#
# Environment (defaults): IDLE_RUNS (3), IDLE_SECONDS (60), IDLE_SETTLE (10: seconds
# after the node owns its partitions before the first window), IDLE_PG_PORT (25450),
# IDLE_REDIS_PORT (63820), IDLE_NODE_PORT (18095), IDLE_VAR (var/idle),
# IDLE_NODE_BUILD (build/release), IDLE_CONFIG (ops/config/dev.ini),
# IDLE_BROADCAST_FETCH_WAIT_MS (the config's), IDLE_KEEP_STACK (0). Other CHAT_* variables
# reach the node as overrides of its config.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
fi

RUNS="${IDLE_RUNS:-3}"
SECS="${IDLE_SECONDS:-60}"
SETTLE="${IDLE_SETTLE:-10}"
VAR="${IDLE_VAR:-$ROOT/var/idle}"
NODE_PORT="${IDLE_NODE_PORT:-18095}"
NODE_BUILD="${IDLE_NODE_BUILD:-$ROOT/build/release}"
HZ="$(getconf CLK_TCK)"

die() {
    echo "idle_cpu.sh: $*" >&2
    exit 1
}
[[ -x "$NODE_BUILD/bin/chat-node" ]] ||
    die "no build in $NODE_BUILD: cmake --preset release && cmake --build build/release -j2"

export CN_STACK_NODES=1 CN_TEST_STACK_VAR="$VAR" CN_TEST_STACK_PG_PORT="${IDLE_PG_PORT:-25450}" \
    CN_TEST_STACK_REDIS_PORT="${IDLE_REDIS_PORT:-63820}" CN_TEST_STACK_NODE1_PORT="$NODE_PORT" \
    CN_TEST_STACK_NODE_BUILD="$NODE_BUILD" \
    CN_TEST_STACK_CONFIG="${IDLE_CONFIG:-$ROOT/ops/config/dev.ini}"
if [[ -n "${IDLE_BROADCAST_FETCH_WAIT_MS:-}" ]]; then
    export CHAT_KAFKA_BROADCAST_FETCH_WAIT_MS="$IDLE_BROADCAST_FETCH_WAIT_MS"
fi
if [[ -n "${IDLE_FETCH_WAIT_MS:-}" ]]; then
    export CHAT_KAFKA_FETCH_WAIT_MS="$IDLE_FETCH_WAIT_MS"
fi

stack_down() {
    [[ "${IDLE_KEEP_STACK:-0}" == 1 ]] || "$ROOT/ops/dev" --stack test down >/dev/null 2>&1 || true
}
trap stack_down EXIT
# Fresh: what an earlier run left (rows, topics' offsets) is not part of an idle node.
"$ROOT/ops/dev" --stack test down >/dev/null 2>&1 || true
rm -rf "$VAR"
"$ROOT/ops/dev" --stack test up >/dev/null || die "the private stack did not come up ($VAR/log)"
NODE_PID="$(cat "$VAR/run/node1.pid")"
KAFKA_PID="$(cat "$VAR/run/kafka.pid")"
metrics="http://127.0.0.1:$((NODE_PORT + 100))/metrics"
for _ in $(seq 1 600); do
    curl -s "$metrics" | grep -q '^chat_persist_partitions_assigned 6$' && break
    sleep 0.1
done
sleep "$SETTLE"

# ticks PID: utime + stime of the whole process (field 14 + 15 of /proc/PID/stat).
ticks() {
    local s f
    read -r s <"/proc/$1/stat"
    read -ra f <<<"${s##*) }"
    echo $((f[11] + f[12]))
}
# threads PID: "name ticks voluntary_switches" for each thread.
threads() {
    local t s f name v
    for t in /proc/"$1"/task/*; do
        read -r s <"$t/stat" 2>/dev/null || continue
        read -ra f <<<"${s##*) }"
        name="${s#*(}"
        name="${name%%)*}"
        v="$(sed -n 's/^voluntary_ctxt_switches:[[:space:]]*//p' "$t/status" 2>/dev/null)"
        echo "${t##*/} ${name// /_} $((f[11] + f[12])) ${v:-0}"
    done | sort
}

node_pcts=()
kafka_pcts=()
for ((r = 1; r <= RUNS; r++)); do
    n0="$(ticks "$NODE_PID")"
    k0="$(ticks "$KAFKA_PID")"
    t0="$(threads "$NODE_PID")"
    sleep "$SECS"
    n1="$(ticks "$NODE_PID")"
    k1="$(ticks "$KAFKA_PID")"
    t1="$(threads "$NODE_PID")"
    np="$(awk -v d=$((n1 - n0)) -v hz="$HZ" -v t="$SECS" 'BEGIN {printf "%.2f", 100 * d / hz / t}')"
    kp="$(awk -v d=$((k1 - k0)) -v hz="$HZ" -v t="$SECS" 'BEGIN {printf "%.2f", 100 * d / hz / t}')"
    node_pcts+=("$np")
    kafka_pcts+=("$kp")
    echo "run $r: node ${np} % of a core, dev broker ${kp} % (${SECS} s)"
    # By thread name (librdkafka's rdk:broker threads of every client summed):
    # CPU % and wake-ups per second.
    join <(echo "$t0") <(echo "$t1") |
        awk -v hz="$HZ" -v t="$SECS" '{c[$2] += $6 - $3; w[$2] += $7 - $4}
            END {for (n in c) if (c[n] > 0 || w[n] > t)
                printf "    %-18s %6.2f %%  %7.1f wake-ups/s\n", n, 100 * c[n] / hz / t, w[n] / t}' |
        sort -k2 -nr
done

stats() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {printf "median %.2f %%, worst %.2f %%", v[int((NR + 1) / 2)], v[NR]}'; }
echo "node:       $(stats "${node_pcts[@]}") of a core ($RUNS x ${SECS} s, no session)"
echo "dev broker: $(stats "${kafka_pcts[@]}") of a core"
