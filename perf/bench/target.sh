# shellcheck shell=bash disable=SC2034
# The server a scenario measures, BENCH_SERVER: chat-node (default; the one-node bench
# stack of lib.sh, sessions signed up through REST) or rabbitmq (perf/peer/rabbitmq.sh,
# sessions with the bench login, /topic/room.N straight through the broker). Source it
# after lib.sh.

BENCH_SERVER="${BENCH_SERVER:-chat-node}"

# bench_target_up ROOMS ROOM_SIZE — starts the server (stopped at exit unless
# BENCH_KEEP_STACK=1) and writes the sessions file; sets TARGET_URL, TARGET_PID,
# TARGET_SESSIONS and TARGET_ARGS (chat-bench's server options).
bench_target_up() {
    case "$BENCH_SERVER" in
    chat-node)
        bench_stack_up
        bench_sessions "$1" "$2"
        TARGET_URL="$NODE_HOSTPORT" TARGET_PID="$NODE_PID" TARGET_SESSIONS="$SESSIONS"
        TARGET_ARGS=(--peer chat-node)
        ;;
    rabbitmq)
        local peer="$ROOT/perf/peer/rabbitmq.sh"
        trap '[[ "${BENCH_KEEP_STACK:-0}" == 1 ]] || "$ROOT/perf/peer/rabbitmq.sh" down || true' EXIT
        TARGET_PID="$("$peer" up)" || bench_die "rabbitmq did not come up"
        TARGET_URL="127.0.0.1:${RABBITMQ_BENCH_WS_PORT:-15674}"
        TARGET_SESSIONS="${RABBITMQ_BENCH_VAR:-$ROOT/var/rabbitmq}/sessions.txt"
        "$peer" sessions "$1" "$2" "$TARGET_SESSIONS"
        TARGET_ARGS=(--peer rabbitmq)
        ;;
    *) bench_die "BENCH_SERVER must be chat-node or rabbitmq" ;;
    esac
}
