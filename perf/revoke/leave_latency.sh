#!/usr/bin/env bash
# The leave latency with and without waiting for every node's acknowledgement of the
# membership revocation (perf/revoke/leave_latency.py; numbers in docs/OPERATIONS.md).
#
#   perf/revoke/leave_latency.sh [ROUNDS]      (default 200)
#
# Runs the private two-node stack (ops/dev's `test` profile under var/perf-revoke, Release
# nodes from build/release) twice: membership.revoke_wait_ms = 1000 ("acks") and 0
# ("noack"), each time a fresh stack, and appends a result line per run to
# perf/results/revoke.jsonl. Ports: REVOKE_PG_PORT (25470), REVOKE_REDIS_PORT (63840),
# REVOKE_NODE1_PORT (18121), REVOKE_NODE2_PORT (18122), so it can share a box.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ROUNDS="${1:-200}"
[[ -x "$ROOT/build/release/bin/chat-node" ]] ||
    { echo "no Release build: cmake --preset release && cmake --build build/release -j2" >&2; exit 1; }
export CN_TEST_STACK_VAR="${REVOKE_VAR:-$ROOT/var/perf-revoke}"
export CN_TEST_STACK_PG_PORT="${REVOKE_PG_PORT:-25470}"
export CN_TEST_STACK_REDIS_PORT="${REVOKE_REDIS_PORT:-63840}"
export CN_TEST_STACK_NODE1_PORT="${REVOKE_NODE1_PORT:-18121}"
export CN_TEST_STACK_NODE2_PORT="${REVOKE_NODE2_PORT:-18122}"
export CN_TEST_STACK_NODE_BUILD="$ROOT/build/release"
# Two SENDs per round from one connection: lift the per-session rate (the nodes inherit
# CHAT_* from this environment).
export CHAT_LIMITS_SEND_RATE=100000
export CHAT_HTTP_STATIC_DIR="" # no web client needed (its build is not part of chat-node's)
down() { "$ROOT/ops/dev" --stack test down >/dev/null || true; }
trap down EXIT
for mode in acks noack; do
    if [[ $mode == acks ]]; then export CHAT_MEMBERSHIP_REVOKE_WAIT_MS=1000; else
        export CHAT_MEMBERSHIP_REVOKE_WAIT_MS=0; fi
    "$ROOT/ops/dev" --stack test up >/dev/null
    /usr/bin/python3 "$ROOT/perf/revoke/leave_latency.py" \
        --node1 "http://127.0.0.1:$CN_TEST_STACK_NODE1_PORT" \
        --node2 "http://127.0.0.1:$CN_TEST_STACK_NODE2_PORT" \
        --rounds "$ROUNDS" --mode "$mode" --out "$ROOT/perf/results/revoke.jsonl"
    down
done
