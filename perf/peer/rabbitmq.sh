#!/usr/bin/env bash
# perf/peer/rabbitmq.sh — the peer broker of the side-by-side benchmarks: Debian's
# rabbitmq-server with the rabbitmq_web_stomp plugin, on loopback only, in var/rabbitmq.
#
#   perf/peer/rabbitmq.sh up                  installs rabbitmq-server if missing, starts it,
#                                             waits for Web-STOMP; prints the beam pid
#   perf/peer/rabbitmq.sh down                stops it (no beam or epmd of ours left)
#   perf/peer/rabbitmq.sh pid                 the beam pid (fails when it is not running)
#   perf/peer/rabbitmq.sh sessions R K FILE   a chat-bench sessions file for R rooms of K
#                                             (`N login:passcode R`: rooms 1..R, no signup)
#
# Web-STOMP listens on 127.0.0.1:$RABBITMQ_BENCH_WS_PORT (15674), path /ws; AMQP on
# 127.0.0.1:$RABBITMQ_BENCH_AMQP_PORT (5682), plain STOMP on 127.0.0.1:61623, Erlang
# distribution on AMQP+20000 and our own epmd on $RABBITMQ_BENCH_EPMD_PORT (4370), so that
# stopping it never touches another epmd. Management is off. The node is
# cnbench-<ws port>@localhost; state, logs and config live under $RABBITMQ_BENCH_VAR
# (var/rabbitmq), HOME too (the Erlang cookie). The bench user is bench / bench-peer.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=ops/lib/common.sh
source "$ROOT/ops/lib/common.sh"
# shellcheck source=ops/lib/packages.sh
source "$ROOT/ops/lib/packages.sh"

WS_PORT="${RABBITMQ_BENCH_WS_PORT:-15674}"
AMQP_PORT="${RABBITMQ_BENCH_AMQP_PORT:-5682}"
EPMD_PORT="${RABBITMQ_BENCH_EPMD_PORT:-4370}"
VAR="${RABBITMQ_BENCH_VAR:-$ROOT/var/rabbitmq}"
NODE="cnbench-$WS_PORT@localhost"
BENCH_USER=bench
BENCH_PASS=bench-peer
RMQ_BIN=/usr/lib/rabbitmq/bin # the real scripts: /usr/sbin's wrappers switch to the rabbitmq user
PID_FILE="$VAR/beam.pid"
SCALE="${CN_TEST_TIMEOUT_SCALE:-1}"

# Everything the server and rabbitmqctl read: one environment for both.
rmq_env() {
    export HOME="$VAR/home" RABBITMQ_NODENAME="$NODE" RABBITMQ_USE_LONGNAME=false \
        RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$AMQP_PORT" \
        RABBITMQ_DIST_PORT="$((AMQP_PORT + 20000))" ERL_EPMD_PORT="$EPMD_PORT" \
        ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_CONF_ENV_FILE="$VAR/rabbitmq-env.conf" \
        RABBITMQ_CONFIG_FILE="$VAR/rabbitmq.conf" RABBITMQ_ADVANCED_CONFIG_FILE="$VAR/advanced.config" \
        RABBITMQ_ENABLED_PLUGINS_FILE="$VAR/enabled_plugins" RABBITMQ_MNESIA_BASE="$VAR/mnesia" \
        RABBITMQ_LOG_BASE="$VAR/log" RABBITMQ_PID_FILE="$PID_FILE" \
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

ctl() { "$RMQ_BIN/rabbitmqctl" -n "$NODE" -q "$@"; }

running_pid() {
    local pid
    pid="$(cat "$PID_FILE" 2>/dev/null)" || return 1
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

write_config() {
    mkdir -p "$VAR/home" "$VAR/mnesia" "$VAR/log"
    : >"$VAR/rabbitmq-env.conf"
    echo '[].' >"$VAR/advanced.config"
    echo '[rabbitmq_web_stomp].' >"$VAR/enabled_plugins"
    cat >"$VAR/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$AMQP_PORT
stomp.listeners.tcp.1 = 127.0.0.1:61623
web_stomp.tcp.ip = 127.0.0.1
web_stomp.tcp.port = $WS_PORT
web_stomp.ws_path = /ws
log.file.level = warning
log.console = false
EOF
}

cmd_up() {
    cn_ensure_packages rabbitmq-server >&2
    rmq_env
    if pid="$(running_pid)"; then
        cn_say "rabbitmq: already running (pid $pid)" >&2
        echo "$pid"
        return 0
    fi
    cn_require_port_free "$WS_PORT" "rabbitmq web-stomp"
    cn_require_port_free "$AMQP_PORT" "rabbitmq amqp"
    write_config
    rm -f "$PID_FILE"
    setsid "$RMQ_BIN/rabbitmq-server" >"$VAR/log/server.out" 2>&1 </dev/null &
    local deadline=$((SECONDS + 120 * SCALE))
    until [[ -s "$PID_FILE" ]] && ctl await_startup --timeout 5 >/dev/null 2>&1; do
        ((SECONDS < deadline)) || cn_die "rabbitmq did not start within $((120 * SCALE)) s ($VAR/log)"
        sleep 0.5
    done
    until curl -s -o /dev/null "http://127.0.0.1:$WS_PORT/ws"; do
        ((SECONDS < deadline)) || cn_die "web-stomp is not listening on $WS_PORT ($VAR/log)"
        sleep 0.2
    done
    ctl add_user "$BENCH_USER" "$BENCH_PASS" >/dev/null 2>&1 ||
        ctl change_password "$BENCH_USER" "$BENCH_PASS" >/dev/null
    ctl set_permissions -p / "$BENCH_USER" '.*' '.*' '.*' >/dev/null
    cn_say "rabbitmq: up (pid $(running_pid), web-stomp 127.0.0.1:$WS_PORT/ws)" >&2
    running_pid
}

cmd_down() {
    rmq_env
    local pid
    if pid="$(running_pid)"; then
        ctl stop "$PID_FILE" >/dev/null 2>&1 || true
        local deadline=$((SECONDS + 60 * SCALE))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
        if kill -0 "$pid" 2>/dev/null; then
            cn_say "rabbitmq: did not stop within $((60 * SCALE)) s, killing pid $pid" >&2
            kill -9 "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$PID_FILE"
    # Our own epmd (its own port), never another one.
    epmd -port "$EPMD_PORT" -kill >/dev/null 2>&1 || true
    cn_say "rabbitmq: down" >&2
}

cmd_sessions() {
    local rooms="$1" size="$2" out="$3" r k n=0
    mkdir -p "$(dirname "$out")"
    : >"$out"
    for ((r = 1; r <= rooms; r++)); do
        for ((k = 0; k < size; k++)); do
            echo "$((++n)) $BENCH_USER:$BENCH_PASS $r"
        done
    done >"$out"
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
pid)
    rmq_env
    running_pid
    ;;
sessions)
    (($# == 4)) || cn_die "usage: $0 sessions ROOMS ROOM_SIZE FILE"
    cmd_sessions "$2" "$3" "$4"
    ;;
*)
    sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
