#!/usr/bin/env bash
# perf/bench/persist.sh — persistence throughput: BENCH_PERSIST_COUNT ChatMessageEvents
# produced to chat.messages (kcat, batched) plus a replay of the first BENCH_PERSIST_DUP of
# them; measures how fast ONE node's persistence pipeline (consumer group
# chat-persistence: batch → one multi-row INSERT … ON CONFLICT DO NOTHING, cache invalidation,
# commit) stores them, end to end from Kafka, and checks that every event is one row.
# Target: at least 30,000 messages/s on the 2-core reference VM (docs/PERFORMANCE.md).
#
#   cmake --preset release && cmake --build build/release -j2 && perf/bench/persist.sh
#
# The dev broker (librdkafka's mock cluster) keeps about 5 MB per partition and drops the
# oldest producer batches beyond that, so a backlog larger than ~120,000 events (6 partitions)
# loses its head before the node reads it (a 200,000 run stored 185,088): hence the defaults.
# Defaults: BENCH_PERSIST_COUNT 100000, BENCH_PERSIST_ROOMS 200, BENCH_PERSIST_DUP 5000,
# BENCH_RESULTS perf/results/persist.jsonl ("-": nowhere), BENCH_NOTE. Runs on the private
# bench stack of perf/bench/lib.sh. Needs /usr/bin/python3 with python3-msgpack and kcat.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
fi
# shellcheck source=perf/bench/lib.sh
source "$ROOT/perf/bench/lib.sh"

RESULTS="${BENCH_RESULTS:-$ROOT/perf/results/persist.jsonl}"
bench_stack_up
cpu_before="$(awk '{print $14 + $15}' "/proc/$NODE_PID/stat")"
rc=0
line="$(/usr/bin/python3 "$ROOT/perf/bench/persist_load.py" \
    --pg "postgresql://chat:chat@127.0.0.1:$BENCH_PG_PORT/chat" \
    --brokers "$(cat "$BENCH_VAR/kafka/bootstrap")" --count "${BENCH_PERSIST_COUNT:-100000}" \
    --rooms "${BENCH_PERSIST_ROOMS:-200}" --dup "${BENCH_PERSIST_DUP:-5000}")" || rc=$?
[[ -n "$line" ]] || bench_die "persist_load.py printed nothing"
cpu_after="$(awk '{print $14 + $15}' "/proc/$NODE_PID/stat")"
line="$(LINE="$line" CPU="$(((cpu_after - cpu_before)))" HZ="$(getconf CLK_TCK)" /usr/bin/python3 -c '
import json, os
d = json.loads(os.environ["LINE"])
d["server_cpu_s"] = round(int(os.environ["CPU"]) / int(os.environ["HZ"]), 2)
print(json.dumps(d))')"
bench_record persist "$line" "$RESULTS"
((rc == 0)) || bench_die "not every event was stored exactly once (see the result)"
