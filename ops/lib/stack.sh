# shellcheck shell=bash
# The stack: PostgreSQL, Redis, the dev Kafka broker and two chat-nodes, each started
# under a var dir with its own ports, log file and pid file. Two profiles share this
# code: `dev` (ops/dev up/down/status) and `test` (the private stack of ops/dev test).
#
# Every setting below can be overridden from the environment (CN_DEV_PG_PORT=...).
# Long-lived children are started with fd 9 closed: ops/dev holds its lock on fd 9.

PG_BINDIR="${CN_PG_BINDIR:-/usr/lib/postgresql/15/bin}"
PG_OS_USER="${CN_PG_OS_USER:-postgres}"

# cn_stack_profile dev|test — sets the variables every other function uses.
cn_stack_profile()
{
    STACK="$1"
    case "$STACK" in
    dev)
        VAR="${CN_DEV_VAR:-$ROOT/var}"
        PG_PORT="${CN_DEV_PG_PORT:-25420}"
        REDIS_PORT="${CN_DEV_REDIS_PORT:-63790}"
        NODE_PORTS=("${CN_DEV_NODE1_PORT:-8081}" "${CN_DEV_NODE2_PORT:-8082}")
        CONFIG_TEMPLATE="${CN_DEV_CONFIG:-$ROOT/ops/config/dev.ini}"
        NODE_BUILD="${CN_DEV_NODE_BUILD:-$ROOT/build/release}"
        ;;
    test)
        VAR="${CN_TEST_STACK_VAR:-$ROOT/var/test}"
        PG_PORT="${CN_TEST_STACK_PG_PORT:-25430}"
        REDIS_PORT="${CN_TEST_STACK_REDIS_PORT:-63800}"
        NODE_PORTS=("${CN_TEST_STACK_NODE1_PORT:-18081}" "${CN_TEST_STACK_NODE2_PORT:-18082}")
        CONFIG_TEMPLATE="${CN_TEST_STACK_CONFIG:-$ROOT/ops/config/test.ini}"
        NODE_BUILD="${CN_TEST_STACK_NODE_BUILD:-$ROOT/build/asan}"
        ;;
    *) cn_die "unknown stack profile '$STACK' (dev or test)" ;;
    esac
    RUN="$VAR/run"
    # The nodes' config: the template with this stack's PostgreSQL URL, Redis port and
    # Kafka bootstrap list filled in (rendered by stack_render_config), so that the file
    # alone is enough to start a node against this stack (tests do; CN_TEST_CONFIG).
    CONFIG="$VAR/chat-node.ini"
    LOGS="$VAR/log"
    PG_DIR="$VAR/pg"
    PG_DATA="$PG_DIR/data"
    PG_SOCK="$PG_DIR/sock"
    REDIS_DIR="$VAR/redis"
    KAFKA_DIR="$VAR/kafka"
    KAFKA_BOOTSTRAP_FILE="$KAFKA_DIR/bootstrap"
    KAFKA_CONTROL="$KAFKA_DIR/control"
    KAFKA_BIN="${CN_KAFKA_BIN:-$NODE_BUILD/bin/chat-kafka-dev}"
    NODE_BIN="$NODE_BUILD/bin/chat-node"
    PG_URL="postgresql://chat:chat@127.0.0.1:$PG_PORT/chat"
    # The test stack runs its dependencies as production does: PostgreSQL over TLS
    # (sslmode=require in every URL) and Redis with an ACL user and a password, so every
    # integration test goes through both. The dev stack keeps them open.
    REDIS_USER=""
    REDIS_PASSWORD_FILE=""
    PG_TLS=0
    if [[ "$STACK" == test ]]; then
        PG_TLS=1
        PG_URL+="?sslmode=require"
        REDIS_USER=chat
        REDIS_PASSWORD_FILE="$REDIS_DIR/password"
    fi
    # CN_STACK_NODES=1 runs the stack with its first node only (perf/bench/fanout.sh);
    # N > 2 runs N nodes on consecutive ports from the first one's (perf/bench/cluster.sh).
    local nodes="${CN_STACK_NODES:-2}" i
    [[ "$nodes" =~ ^[1-9][0-9]*$ ]] || cn_die "CN_STACK_NODES must be a positive number"
    if ((nodes == 1)); then
        NODE_PORTS=("${NODE_PORTS[0]}")
    elif ((nodes > 2)); then
        for ((i = 1; i < nodes; i++)); do NODE_PORTS[i]=$((NODE_PORTS[0] + i)); done
    fi
    NODE_COUNT=${#NODE_PORTS[@]}
    # Deadlines (seconds). Sanitizer builds start slowly.
    NODE_HEALTH_TIMEOUT="${CN_NODE_HEALTH_TIMEOUT:-90}"
    STOP_GRACE="${CN_STOP_GRACE:-15}"
}

cn_stack_dirs()
{
    mkdir -p "$RUN" "$LOGS" "$PG_DIR" "$REDIS_DIR" "$KAFKA_DIR"
}

# Runs a command as the PostgreSQL OS user when we are root (initdb refuses root).
as_pg()
{
    if ((EUID == 0)); then
        runuser -u "$PG_OS_USER" -- "$@"
    else
        "$@"
    fi
}

# psql as the superuser over the private unix socket.
pg_admin_psql() { PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" -U postgres "$@"; }

# ---------------------------------------------------------------- PostgreSQL

pg_pid() { cn_pid_from "$PG_DATA/postmaster.pid"; }
pg_running() { cn_pid_alive "$(pg_pid)" postgres; }
pg_healthy() { "$PG_BINDIR/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -d chat -U chat; }

pg_init()
{
    cn_say "postgres: initdb into $PG_DATA (first run)"
    if ((EUID == 0)); then
        id "$PG_OS_USER" >/dev/null 2>&1 || cn_die "no '$PG_OS_USER' user (is the postgresql package installed?)"
        chown "$PG_OS_USER": "$PG_DIR"
    fi
    rm -rf "$PG_DATA"
    as_pg "$PG_BINDIR/initdb" -D "$PG_DATA" -U postgres -E UTF8 --no-locale \
        --auth-local=trust --auth-host=scram-sha-256 >"$LOGS/initdb.log" 2>&1 ||
        cn_die "initdb failed; see $LOGS/initdb.log"
    local fast=""
    # The private test stack trades durability for speed; it is thrown away anyway.
    [[ "$STACK" == test ]] && fast=$'fsync = off\nsynchronous_commit = off\nfull_page_writes = off'
    as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null <<EOF

# --- chat-node dev stack (ops/dev) ---
listen_addresses = '127.0.0.1'
max_connections = 200
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
log_min_duration_statement = 1000
$fast
EOF
}

pg_start()
{
    if pg_running; then
        cn_say "postgres: already running (pid $(pg_pid), port $PG_PORT)"
        return 0
    fi
    cn_require_port_free "$PG_PORT" "PostgreSQL ($STACK stack)"
    [[ -f "$PG_DATA/PG_VERSION" ]] || pg_init
    mkdir -p "$PG_SOCK"
    touch "$LOGS/postgres.log"
    if ((EUID == 0)); then
        chown "$PG_OS_USER": "$PG_SOCK" "$LOGS/postgres.log"
        chown -R "$PG_OS_USER": "$PG_DATA"
    fi
    rm -f "$PG_DATA/postmaster.pid" # stale: the postmaster is not running (checked above)
    local opts="-p $PG_PORT -k $PG_SOCK"
    if ((PG_TLS)); then
        pg_tls_cert
        opts+=" -c ssl=on"
    fi
    as_pg "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -l "$LOGS/postgres.log" -w -t 60 \
        -o "$opts" start >/dev/null 9>&- ||
        cn_die "postgres did not start; see $LOGS/postgres.log"
    cn_say "postgres: started (pid $(pg_pid), port $PG_PORT)"
    pg_bootstrap
}

# A self-signed certificate for the stack's PostgreSQL (server.crt/server.key in its
# data dir, PostgreSQL's default names), made once. The key must be private to the
# server's user or PostgreSQL refuses to start.
pg_tls_cert()
{
    [[ -f "$PG_DATA/server.crt" && -f "$PG_DATA/server.key" ]] && return 0
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=127.0.0.1" \
        -keyout "$PG_DATA/server.key" -out "$PG_DATA/server.crt" >"$LOGS/pg-tls.log" 2>&1 ||
        cn_die "postgres: making a TLS certificate failed; see $LOGS/pg-tls.log"
    chmod 600 "$PG_DATA/server.key"
    if ((EUID == 0)); then chown "$PG_OS_USER": "$PG_DATA/server.crt" "$PG_DATA/server.key"; fi
}

# Role, database and extension; idempotent, so an interrupted first run heals.
pg_bootstrap()
{
    pg_admin_psql -d postgres <<'EOF' >/dev/null || cn_die "postgres: creating role/database chat failed"
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'chat') THEN
    CREATE ROLE chat LOGIN PASSWORD 'chat';
  END IF;
END $$;
SELECT 'CREATE DATABASE chat OWNER chat'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'chat') \gexec
EOF
    pg_admin_psql -d chat -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" \
        -c "GRANT pg_read_all_stats, pg_read_all_settings TO chat" 2>&1 | { grep -v 'already exists' || true; }
}

pg_stop()
{
    local pid
    pid="$(pg_pid)"
    cn_pid_alive "$pid" postgres || return 0
    # SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to leave.
    cn_stop_pid postgres "$pid" postgres INT "$STOP_GRACE" && cn_say "postgres: stopped"
}

# --------------------------------------------------------------------- Redis

redis_pid() { cn_pid_from "$RUN/redis.pid"; }
redis_running() { cn_pid_alive "$(redis_pid)" redis-server; }
redis_healthy() { [[ "$(stack_redis_cli ping 2>/dev/null)" == PONG ]]; }

# redis-cli at this stack's Redis, authenticated when it has a password (as the user
# default, which shares the password; REDISCLI_AUTH keeps it off the command line).
stack_redis_cli()
{
    if [[ -n "$REDIS_PASSWORD_FILE" && -f "$REDIS_PASSWORD_FILE" ]]; then
        REDISCLI_AUTH="$(<"$REDIS_PASSWORD_FILE")" redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"
    else
        redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"
    fi
}

# The test stack's Redis password: random, made once, kept across restarts (a running
# Redis and the nodes' rendered config must agree).
redis_password()
{
    if [[ ! -s "$REDIS_PASSWORD_FILE" ]]; then
        (umask 077 && openssl rand -hex 24 >"$REDIS_PASSWORD_FILE") ||
            cn_die "redis: cannot write $REDIS_PASSWORD_FILE"
    fi
    cat "$REDIS_PASSWORD_FILE"
}

# The ACL lines of the test stack: the nodes' user `chat` and the user `default` (for
# redis-cli in tests and ops/dev), both with the password; nobody gets in without it.
redis_acl()
{
    [[ -n "$REDIS_PASSWORD_FILE" ]] || return 0
    local pw
    pw="$(redis_password)"
    printf 'user default on >%s ~* &* +@all\n' "$pw"
    printf 'user %s on >%s ~* &* +@all\n' "$REDIS_USER" "$pw"
}

redis_start()
{
    if redis_running; then
        cn_say "redis: already running (pid $(redis_pid), port $REDIS_PORT)"
        return 0
    fi
    cn_require_port_free "$REDIS_PORT" "Redis ($STACK stack)"
    rm -f "$RUN/redis.pid"
    (umask 077 && : >"$REDIS_DIR/redis.conf") # it may hold the password
    cat >"$REDIS_DIR/redis.conf" <<EOF
# Generated by ops/dev on every start; edits are lost.
bind 127.0.0.1
port $REDIS_PORT
daemonize yes
pidfile $RUN/redis.pid
logfile $LOGS/redis.log
dir $REDIS_DIR
save ""
appendonly no
maxclients 10000
$(redis_acl)
EOF
    redis-server "$REDIS_DIR/redis.conf" 9>&- || cn_die "redis did not start; see $LOGS/redis.log"
    cn_wait_for 15 "redis on port $REDIS_PORT" redis_healthy || cn_die "redis is not answering; see $LOGS/redis.log"
    cn_say "redis: started (pid $(redis_pid), port $REDIS_PORT)"
}

redis_stop()
{
    local pid
    pid="$(redis_pid)"
    cn_pid_alive "$pid" redis-server || {
        rm -f "$RUN/redis.pid"
        return 0
    }
    cn_stop_pid redis "$pid" redis-server TERM "$STOP_GRACE" && cn_say "redis: stopped"
    rm -f "$RUN/redis.pid"
}

# --------------------------------------------------------------------- Kafka

kafka_pid() { cn_pid_from "$RUN/kafka.pid"; }
kafka_running() { cn_pid_alive "$(kafka_pid)" chat-kafka-dev; }
kafka_bootstrap() { [[ -s "$KAFKA_BOOTSTRAP_FILE" ]] && head -1 "$KAFKA_BOOTSTRAP_FILE"; }
kafka_healthy()
{
    local bs hp
    bs="$(kafka_bootstrap)" || return 1
    IFS=, read -ra hp <<<"$bs"
    local h
    for h in "${hp[@]}"; do
        (exec 3<>"/dev/tcp/${h%:*}/${h##*:}") 2>/dev/null || return 1
    done
}

# Sets KAFKA_RESTARTED=1 when it had to start the broker (its ports are new then).
kafka_start()
{
    KAFKA_RESTARTED=0
    if kafka_running && [[ -s "$KAFKA_BOOTSTRAP_FILE" ]]; then
        cn_say "kafka: already running (pid $(kafka_pid), $(kafka_bootstrap))"
        return 0
    fi
    [[ -x "$KAFKA_BIN" ]] || cn_die "kafka: $KAFKA_BIN is not built"
    kafka_stop # a half-started broker (no bootstrap file) is replaced
    rm -f "$KAFKA_BOOTSTRAP_FILE"
    setsid "$KAFKA_BIN" --brokers 3 --bootstrap-file "$KAFKA_BOOTSTRAP_FILE" \
        --control "$KAFKA_CONTROL" >>"$LOGS/kafka.log" 2>&1 </dev/null 9>&- &
    echo $! >"$RUN/kafka.pid"
    cn_wait_for 20 "the dev Kafka broker's bootstrap file" test -s "$KAFKA_BOOTSTRAP_FILE" ||
        cn_die "kafka did not start; see $LOGS/kafka.log"
    KAFKA_RESTARTED=1
    cn_say "kafka: started (pid $(kafka_pid), bootstrap $(kafka_bootstrap))"
}

kafka_stop()
{
    local pid
    pid="$(kafka_pid)"
    if cn_pid_alive "$pid" chat-kafka-dev; then
        cn_stop_pid kafka "$pid" chat-kafka-dev TERM "$STOP_GRACE" && cn_say "kafka: stopped"
    fi
    rm -f "$RUN/kafka.pid" "$KAFKA_BOOTSTRAP_FILE"
}

# Writes one control line ("down 1", "up 1", "rtt 2 500") to the running broker.
kafka_control()
{
    kafka_running || cn_die "kafka is not running"
    [[ -p "$KAFKA_CONTROL" ]] || cn_die "no control fifo at $KAFKA_CONTROL"
    printf '%s\n' "$*" >"$KAFKA_CONTROL"
    sleep 0.2
    tail -n 1 "$LOGS/kafka.log"
}

# --------------------------------------------------------------------- nodes

node_name() { printf 'node%d' "$1"; }
node_port() { printf '%s' "${NODE_PORTS[$(($1 - 1))]}"; }
node_pid() { cn_pid_from "$RUN/$(node_name "$1").pid"; }
node_running() { cn_pid_alive "$(node_pid "$1")" chat-node; }
node_url() { printf 'http://127.0.0.1:%s' "$(node_port "$1")"; }
# The node's admin HTTP listener (/metrics, detailed /healthz): its HTTP port + 100,
# on loopback.
node_admin_port() { printf '%s' "$(($(node_port "$1") + 100))"; }
node_admin_url() { printf 'http://127.0.0.1:%s' "$(node_admin_port "$1")"; }
node_healthy() { curl -fs -m 2 -o /dev/null "$(node_url "$1")/healthz" 2>/dev/null; }
node_admin_socket() { printf '%s/%s.admin.sock' "$RUN" "$(node_name "$1")"; }

# The per-node and per-stack settings, as CHAT_* overrides of the shared ini file.
node_env()
{
    local i="$1"
    printf '%s\n' \
        "CHAT_NODE_ID=$(node_name "$i")" \
        "CHAT_HTTP_PORT=$(node_port "$i")" \
        "CHAT_ADMIN_SOCKET=$(node_admin_socket "$i")" \
        "CHAT_ADMIN_HTTP_PORT=$(node_admin_port "$i")" \
        "CHAT_POSTGRES_URL=$PG_URL" \
        "CHAT_REDIS_HOST=127.0.0.1" \
        "CHAT_REDIS_PORT=$REDIS_PORT" \
        "CHAT_KAFKA_BROKERS=$(kafka_bootstrap)"
}

node_start()
{
    local i="$1" name port
    name="$(node_name "$i")"
    port="$(node_port "$i")"
    if node_running "$i"; then
        cn_say "$name: already running (pid $(node_pid "$i"), port $port)"
        return 0
    fi
    cn_require_port_free "$port" "chat-node $name ($STACK stack)"
    cn_require_port_free "$(node_admin_port "$i")" "chat-node $name admin listener ($STACK stack)"
    local env_args
    mapfile -t env_args < <(node_env "$i")
    rm -f "$(node_admin_socket "$i")"
    printf '\n==== %s start %s ====\n' "$name" "$(date -u +%FT%TZ)" >>"$LOGS/$name.log"
    env "${env_args[@]}" ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}" \
        UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
        setsid "$NODE_BIN" --config "$CONFIG" >>"$LOGS/$name.log" 2>&1 </dev/null 9>&- &
    echo $! >"$RUN/$name.pid"
    cn_say "$name: started (pid $!, port $port)"
}

# Waits until every node answers /healthz with 200; fails early when one dies.
nodes_wait_healthy()
{
    local deadline=$((SECONDS + NODE_HEALTH_TIMEOUT)) i pending
    while :; do
        pending=0
        for ((i = 1; i <= NODE_COUNT; i++)); do
            if ! node_running "$i"; then
                cn_warn "$(node_name "$i") exited during start-up; last lines of $LOGS/$(node_name "$i").log:"
                tail -n 20 "$LOGS/$(node_name "$i").log" >&2
                return 1
            fi
            node_healthy "$i" || pending=1
        done
        ((pending == 0)) && return 0
        if ((SECONDS >= deadline)); then
            for ((i = 1; i <= NODE_COUNT; i++)); do
                node_healthy "$i" && continue
                cn_warn "$(node_name "$i") not healthy after ${NODE_HEALTH_TIMEOUT}s: $(curl -sS -m 2 "$(node_admin_url "$i")/healthz" 2>&1 | head -c 300)"
                tail -n 20 "$LOGS/$(node_name "$i").log" >&2
            done
            return 1
        fi
        sleep 0.3
    done
}

node_stop()
{
    local i="$1" name pid
    name="$(node_name "$i")"
    pid="$(node_pid "$i")"
    if cn_pid_alive "$pid" chat-node; then
        # chat-node drains and exits within 10 s on SIGTERM.
        cn_stop_pid "$name" "$pid" chat-node TERM "$STOP_GRACE" && cn_say "$name: stopped"
    fi
    rm -f "$RUN/$name.pid"
}

# ------------------------------------------------------------- whole stack

stack_migrate()
{
    "$ROOT/ops/migrate" "$PG_URL" || cn_die "migrations failed"
}

# Writes $CONFIG from $CONFIG_TEMPLATE: [postgres] url, [redis] host/port and [kafka]
# brokers replaced with this stack's values, [http] static_dir with the absolute path of
# the stack's build's web client ($NODE_BUILD/web); everything else kept.
stack_render_config()
{
    local brokers
    brokers="$(kafka_bootstrap)" || cn_die "no Kafka bootstrap list to put in $CONFIG"
    awk -v url="$PG_URL" -v rport="$REDIS_PORT" -v brokers="$brokers" -v tmpl="$CONFIG_TEMPLATE" \
        -v ruser="$REDIS_USER" -v rpwfile="$REDIS_PASSWORD_FILE" \
        -v web="$NODE_BUILD/web" '
        BEGIN { print "; GENERATED by ops/dev from " tmpl " for this stack; edits are lost." }
        /^[ \t]*\[/ { sec = $0; gsub(/[][ \t]/, "", sec) }
        sec == "postgres" && /^[ \t]*url[ \t]*=/     { print "url = " url; next }
        sec == "redis"    && /^[ \t]*host[ \t]*=/    { print "host = 127.0.0.1"; next }
        sec == "redis"    && /^[ \t]*port[ \t]*=/    {
            print "port = " rport
            if (ruser != "") { print "username = " ruser; print "password_file = " rpwfile }
            next }
        sec == "kafka"    && /^[ \t]*brokers[ \t]*=/ { print "brokers = " brokers; next }
        sec == "http"     && /^[ \t]*static_dir[ \t]*=/ { print "static_dir = " web; next }
        { print }
    ' "$CONFIG_TEMPLATE" >"$CONFIG.tmp" && mv "$CONFIG.tmp" "$CONFIG"
}

# stack_up — starts what is not running; keeps what is.
stack_up()
{
    cn_stack_dirs
    pg_start
    redis_start
    stack_migrate
    kafka_start
    stack_render_config
    if [[ ! -x "$NODE_BIN" ]]; then
        cn_warn "$NODE_BIN is not built yet (no src/chat-node.c?): chat-nodes not started"
        return 0
    fi
    local i
    if ((KAFKA_RESTARTED)); then
        # The broker's ports are new: nodes still running know only the old ones.
        for ((i = 1; i <= NODE_COUNT; i++)); do
            if node_running "$i"; then
                cn_say "$(node_name "$i"): restarting (the Kafka broker was restarted)"
                node_stop "$i"
            fi
        done
    fi
    for ((i = 1; i <= NODE_COUNT; i++)); do
        node_start "$i"
    done
    cn_say "waiting up to ${NODE_HEALTH_TIMEOUT}s for the nodes' /healthz"
    nodes_wait_healthy || return 1
}

# Stops everything in reverse order; every component is attempted even if one fails.
stack_down()
{
    local i rc=0
    for ((i = NODE_COUNT; i >= 1; i--)); do
        node_stop "$i" || rc=1
    done
    kafka_stop || rc=1
    redis_stop || rc=1
    pg_stop || rc=1
    return $rc
}

# One line per component: name, pid, port, state.
stack_status()
{
    local fmt='%-9s %-8s %-38s %s\n'
    # shellcheck disable=SC2059
    printf "$fmt" COMPONENT PID ADDRESS STATE
    local pid state
    pid="$(pg_pid)"
    if pg_running; then state=running; pg_healthy && state+=", accepting connections" || state+=", NOT ready"; else state=stopped; pid=-; fi
    # shellcheck disable=SC2059
    printf "$fmt" postgres "${pid:--}" "127.0.0.1:$PG_PORT" "$state"
    pid="$(redis_pid)"
    if redis_running; then state=running; redis_healthy && state+=", PONG" || state+=", NOT answering"; else state=stopped; pid=-; fi
    # shellcheck disable=SC2059
    printf "$fmt" redis "${pid:--}" "127.0.0.1:$REDIS_PORT" "$state"
    pid="$(kafka_pid)"
    if kafka_running; then state=running; kafka_healthy && state+=", 3 brokers accept" || state+=", a broker is NOT accepting (down?)"; else state=stopped; pid=-; fi
    # shellcheck disable=SC2059
    printf "$fmt" kafka "${pid:--}" "$(kafka_bootstrap || echo -)" "$state"
    local i code
    for ((i = 1; i <= NODE_COUNT; i++)); do
        pid="$(node_pid "$i")"
        if node_running "$i"; then
            code="$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$(node_url "$i")/healthz" 2>/dev/null)"
            case "$code" in
            200) state="running, healthy" ;;
            000) state="running, /healthz not answering" ;;
            *) state="running, UNHEALTHY (/healthz $code)" ;;
            esac
        else
            state=stopped
            pid=-
            [[ -x "$NODE_BIN" ]] || state="not built ($NODE_BIN)"
        fi
        # shellcheck disable=SC2059
        printf "$fmt" "$(node_name "$i")" "${pid:--}" "$(node_url "$i")" "$state"
    done
}

# True when any component of the stack still runs.
stack_anything_running()
{
    local i
    pg_running || redis_running || kafka_running && return 0
    for ((i = 1; i <= NODE_COUNT; i++)); do
        node_running "$i" && return 0
    done
    return 1
}

stack_summary()
{
    local nodes_note=""
    [[ -x "$NODE_BIN" ]] || nodes_note="   NOT STARTED: $NODE_BIN is not built"
    cat <<EOF

chat-node $STACK stack is up:
  web / REST / STOMP  $(for ((i = 1; i <= NODE_COUNT; i++)); do printf '%s  ' "$(node_url "$i")"; done)$nodes_note
                      (WebSocket: ws://127.0.0.1:${NODE_PORTS[0]}/ws, health: /healthz)
  metrics / health    $(for ((i = 1; i <= NODE_COUNT; i++)); do printf '%s  ' "$(node_admin_url "$i")"; done)
                      (admin listeners, loopback: /metrics, detailed /healthz)
  PostgreSQL          $PG_URL   (ops/dev psql)
  Redis               127.0.0.1:$REDIS_PORT   (ops/dev redis-cli)
  Kafka (dev broker)  $(kafka_bootstrap)   (ops/dev kafka down|up ID)
  admin sockets       $(for ((i = 1; i <= NODE_COUNT; i++)); do printf '%s  ' "$(node_admin_socket "$i")"; done)
  config              $CONFIG (from $CONFIG_TEMPLATE) + CHAT_* per node
  logs                $LOGS/{postgres,redis,kafka,node1,node2}.log   (ops/dev logs [name])
  pid files           $RUN/
Stop everything with: ops/dev down
EOF
}

# Processes of this stack that no pid file accounts for (a pid file deleted by hand, a
# crash of ops/dev between start and pid write): found by the stack's unique paths and
# ports in their command lines. Prints "PID COMMAND" lines.
stack_strays()
{
    local p cmd i
    local -A known=()
    for i in "$(pg_pid)" "$(redis_pid)" "$(kafka_pid)"; do [[ -n "$i" ]] && known[$i]=1; done
    for ((i = 1; i <= NODE_COUNT; i++)); do
        p="$(node_pid "$i")"
        [[ -n "$p" ]] && known[$p]=1
    done
    local -a marks=("--bootstrap-file $KAFKA_BOOTSTRAP_FILE" "-D $PG_DATA" "redis-server 127.0.0.1:$REDIS_PORT")
    for p in /proc/[0-9]*; do
        [[ -r $p/cmdline && -z "${known[${p#/proc/}]:-}" ]] || continue
        cmd="$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)" || continue
        [[ -n "$cmd" ]] || continue
        for i in "${marks[@]}"; do
            if [[ "$cmd" == *"$i"* ]]; then
                printf '%s %s\n' "${p#/proc/}" "$cmd"
                break
            fi
        done
        # A chat-node of this stack: its config file and one of this stack's ports.
        if [[ "$cmd" == *chat-node*"--config $CONFIG"* ]]; then
            local env_port
            env_port="$(tr '\0' '\n' <"$p/environ" 2>/dev/null | sed -n 's/^CHAT_HTTP_PORT=//p')"
            for i in "${NODE_PORTS[@]}"; do
                [[ "$env_port" == "$i" ]] && printf '%s %s\n' "${p#/proc/}" "$cmd" && break
            done
        fi
    done
}

# Stops strays (see stack_strays), one pid at a time.
stack_kill_strays()
{
    local pid cmd rc=0
    while read -r pid cmd; do
        [[ "$pid" == "$$" || "$pid" == "$BASHPID" ]] && continue
        cn_warn "stray process of the $STACK stack without a pid file: $pid $cmd"
        local sig=TERM
        [[ "$cmd" == *"-D $PG_DATA"* ]] && sig=INT # PostgreSQL's fast shutdown
        cn_stop_pid "stray $pid" "$pid" "${cmd%% *}" "$sig" "$STOP_GRACE" || rc=1
    done < <(stack_strays)
    return $rc
}
