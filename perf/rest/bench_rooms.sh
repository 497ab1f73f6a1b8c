#!/usr/bin/env bash
# perf/rest/bench_rooms.sh — GET /api/rooms under wrk: cache warm, cache cold, and nginx
# serving the same JSON as a static file (the HTTP ceiling of this machine).
#
#   ./ops/dev up && perf/rest/bench_rooms.sh
#
# Needs a running dev stack (ops/dev up) and a Release build (build/release/bin/chat-node).
# Steps, all on loopback:
#   1. starts two chat-nodes of build/release with the dev stack's config (var/chat-node.ini),
#      so both run the binary just built: "warm" (Redis cache-aside, the default) and "cold"
#      (CHAT_CACHE_ROOMS_ENABLED=false: every GET /api/rooms runs the one SQL statement;
#      CHAT_AUTH_PASSWORD_HASH_COST=min so the set-up is quick), and nginx with a generated
#      config under a temp dir (never the system service);
#   2. creates or reuses BENCH_USERS bench users with 10 rooms each (3 messages per room)
#      through the cold node's REST API (perf/rest/setup_rooms.py) and logs them in;
#   3. checks that the warm node, the cold node and nginx answer the same body;
#   4. for nginx, the warm node and the cold node:
#      a wrk warm-up of BENCH_WARMUP s, then a measured run of BENCH_DURATION s, each request
#      with the next user's token (perf/rest/rooms.lua), recording the CPU each party used;
#   5. stops what it started, prints one JSON line and appends it to perf/results/rest_rooms.jsonl.
# With BENCH_PROFILE=1 it then runs warm and cold once more under `perf record -e cpu-clock -g`
# (not counted in the figures) and prints the top of `perf report --no-children`.
#
# Environment (defaults): BENCH_USERS (1000), BENCH_CONNECTIONS (200), BENCH_THREADS (2, wrk
# threads; wrk shares the cores with the servers), BENCH_DURATION (20), BENCH_WARMUP (5),
# BENCH_WARM_PORT (8090), BENCH_WARM_EXISTING (0; 1: use the node already listening on
# BENCH_WARM_PORT, e.g. the dev stack's node1 on 8081), BENCH_COLD_PORT (8091), BENCH_NGINX_PORT
# (8092), BENCH_NGINX_WORKERS (auto), BENCH_TARGETS ("nginx warm cold"), BENCH_RESULTS
# (perf/results/rest_rooms.jsonl; "-" appends nowhere), BENCH_NODE_BIN (build/release/bin/chat-node:
# another binary for an A/B run), BENCH_NOTE (free text kept in the
# result), BENCH_NODE_ENV (extra VAR=VALUE words for both nodes the script starts, for what-if
# runs, e.g. "CHAT_HTTP_IO_THREADS=2"; kept in the result), BENCH_PROFILE (0), BENCH_KEEP (0:
# keep the temp dir).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
HERE="$ROOT/perf/rest"

if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,35p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
fi

USERS="${BENCH_USERS:-1000}"
CONNS="${BENCH_CONNECTIONS:-200}"
THREADS="${BENCH_THREADS:-2}"
DURATION="${BENCH_DURATION:-20}"
WARMUP="${BENCH_WARMUP:-5}"
WARM_PORT="${BENCH_WARM_PORT:-8090}"
WARM_EXISTING="${BENCH_WARM_EXISTING:-0}"
COLD_PORT="${BENCH_COLD_PORT:-8091}"
NGINX_PORT="${BENCH_NGINX_PORT:-8092}"
NGINX_WORKERS="${BENCH_NGINX_WORKERS:-auto}"
TARGETS="${BENCH_TARGETS:-nginx warm cold}"
RESULTS="${BENCH_RESULTS:-$ROOT/perf/results/rest_rooms.jsonl}"
PROFILE="${BENCH_PROFILE:-0}"
KEEP="${BENCH_KEEP:-0}"
read -r -a NODE_ENV <<<"${BENCH_NODE_ENV:-}"
for w in "${NODE_ENV[@]}"; do
    [[ "$w" =~ ^[A-Z_][A-Z0-9_]*= ]] || die "BENCH_NODE_ENV: '$w' is not VAR=VALUE"
done
NODE_BIN="${BENCH_NODE_BIN:-$ROOT/build/release/bin/chat-node}"
CONFIG="$ROOT/var/chat-node.ini"
HOST=127.0.0.1

say() { printf '[bench] %s\n' "$*" >&2; }
die() {
    printf '[bench] error: %s\n' "$*" >&2
    exit 1
}

for v in USERS CONNS THREADS DURATION WARMUP WARM_PORT COLD_PORT NGINX_PORT; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
done
for tool in wrk nginx psql redis-cli python3 curl ss; do
    command -v "$tool" >/dev/null || die "$tool not found (packages: ops/lib/packages.sh CN_PACKAGES_TEST)"
done
[[ -x "$NODE_BIN" ]] || die "no Release build: cmake --preset release && cmake --build build/release -j2"
[[ -f "$CONFIG" ]] || die "no $CONFIG: start the dev stack first (ops/dev up)"

ini() { # ini SECTION KEY: a value of var/chat-node.ini
    awk -F'=' -v s="[$1]" -v k="$2" '
        /^[ \t]*\[/ { gsub(/[ \t]/, ""); in_s = ($0 == s); next }
        in_s { key = $1; gsub(/[ \t]/, "", key); if (key == k) { v = substr($0, index($0, "=") + 1);
               gsub(/^[ \t]+|[ \t]+$/, "", v); print v; exit } }' "$CONFIG"
}
PG_URL="$(ini postgres url)"
REDIS_PORT="$(ini redis port)"
[[ -n "$PG_URL" && -n "$REDIS_PORT" ]] || die "cannot read postgres.url / redis.port from $CONFIG"
# A Redis with a password (the test profile's): redis-cli in setup_rooms.py reads it here.
REDIS_PW_FILE="$(ini redis password_file)"
if [[ -n "$REDIS_PW_FILE" ]]; then REDISCLI_AUTH="$(<"$REDIS_PW_FILE")" && export REDISCLI_AUTH; fi
WARM_URL="http://$HOST:$WARM_PORT"
COLD_URL="http://$HOST:$COLD_PORT"
NGINX_URL="http://$HOST:$NGINX_PORT"

pid_on() { ss -ltnpH "sport = :$1" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2; }
if [[ "$WARM_EXISTING" == 1 ]]; then
    curl -sf -m 3 "$WARM_URL/healthz" >/dev/null || die "warm node $WARM_URL is not healthy: ops/dev up"
    WARM_PID="$(pid_on "$WARM_PORT")"
    [[ -n "$WARM_PID" ]] || die "cannot find the pid listening on $WARM_PORT"
else
    [[ -z "$(ss -ltnH "sport = :$WARM_PORT")" ]] || die "port $WARM_PORT is taken (set BENCH_WARM_PORT)"
fi
REDIS_PID="$(pid_on "$REDIS_PORT")"
PG_PORT="$(sed -E 's|.*:([0-9]+)/.*|\1|' <<<"$PG_URL")"
PG_PID="$(pid_on "$PG_PORT")"
[[ -n "$REDIS_PID" && -n "$PG_PID" ]] || die "cannot find the Redis/PostgreSQL pids (ports $REDIS_PORT/$PG_PORT)"
for p in "$COLD_PORT" "$NGINX_PORT"; do
    [[ -z "$(ss -ltnH "sport = :$p")" ]] || die "port $p is taken (set BENCH_COLD_PORT / BENCH_NGINX_PORT)"
done

TMP="$(mktemp -d "${TMPDIR:-/tmp}/cn-bench-rooms.XXXXXX")"
COLD_PID=""
OWN_WARM_PID=""
NGINX_PID=""
CHILD=""       # the step running now (wrk, set-up), so a signal stops it at once
PROFILE_WRK="" # wrk under load during BENCH_PROFILE
stop_pid() { # stop_pid PID NAME: TERM, wait up to 10 s, then KILL
    local pid="$1" i
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    say "$2 (pid $pid) did not stop in 10 s: KILL"
    kill -KILL "$pid" 2>/dev/null || true
}
# run_child CMD...: runs CMD as a child and waits for it, so that INT/TERM reach the trap at once
# (bash runs traps only between foreground commands); the trap then stops the child.
run_child() {
    local rc=0
    "$@" &
    CHILD=$!
    wait "$CHILD" || rc=$?
    CHILD=""
    return "$rc"
}
cleanup() {
    local rc=$?
    stop_pid "$CHILD" "$(ps -o comm= -p "$CHILD" 2>/dev/null || echo child)"
    stop_pid "$PROFILE_WRK" wrk
    stop_pid "$NGINX_PID" nginx
    stop_pid "$COLD_PID" "cold node"
    stop_pid "$OWN_WARM_PID" "warm node"
    if ((rc != 0)); then
        say "failed; logs kept in $TMP"
    elif [[ "$KEEP" == 1 || "$PROFILE" == 1 ]]; then
        say "temp dir kept: $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_http() { # wait_http URL SECONDS
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        curl -sf -m 1 -o /dev/null "$1" && return 0
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------- nodes
if [[ "$WARM_EXISTING" != 1 ]]; then
    say "starting the warm node on $WARM_URL (cache.rooms_enabled=true, the default)"
    env "${NODE_ENV[@]}" CHAT_HTTP_HOST=$HOST CHAT_HTTP_PORT="$WARM_PORT" CHAT_NODE_ID=bench-warm \
        CHAT_ADMIN_SOCKET="$TMP/warm.admin.sock" CHAT_ADMIN_HTTP_PORT="$((WARM_PORT + 100))" \
        CHAT_CACHE_ROOMS_ENABLED=true \
        "$NODE_BIN" --config "$CONFIG" >"$TMP/warm.log" 2>&1 &
    OWN_WARM_PID=$!
    WARM_PID=$OWN_WARM_PID
fi
say "starting the cold node on $COLD_URL (cache.rooms_enabled=false)"
env "${NODE_ENV[@]}" CHAT_HTTP_HOST=$HOST CHAT_HTTP_PORT="$COLD_PORT" CHAT_NODE_ID=bench-cold \
    CHAT_ADMIN_SOCKET="$TMP/cold.admin.sock" CHAT_ADMIN_HTTP_PORT="$((COLD_PORT + 100))" \
    CHAT_CACHE_ROOMS_ENABLED=false \
    CHAT_AUTH_PASSWORD_HASH_COST=min \
    "$NODE_BIN" --config "$CONFIG" >"$TMP/cold.log" 2>&1 &
COLD_PID=$!
wait_http "$COLD_URL/healthz" 60 || die "cold node not healthy in 60 s; see $TMP/cold.log"
wait_http "$WARM_URL/healthz" 60 || die "warm node not healthy in 60 s; see $TMP/warm.log"

# ---------------------------------------------------------------- users, rooms, tokens
say "set-up: $USERS users with 10 rooms each (through $COLD_URL)"
run_child timeout 900 python3 "$HERE/setup_rooms.py" --node "$COLD_URL" --pg-url "$PG_URL" \
    --redis-port "$REDIS_PORT" --users "$USERS" --out "$TMP" || die "set-up failed"
TOKEN0="$(head -1 "$TMP/tokens")"

# ---------------------------------------------------------------- the same body three ways
mkdir -p "$TMP/nginx/html/api" "$TMP/nginx/tmp"
get() { curl -sf -m 5 -H "Authorization: Bearer $TOKEN0" -o "$2" "$1/api/rooms"; }
get "$COLD_URL" "$TMP/body.cold" || die "cold node: GET /api/rooms failed"
get "$WARM_URL" "$TMP/body.warm1" || die "warm node: GET /api/rooms failed" # miss: fills
get "$WARM_URL" "$TMP/body.warm2" || die "warm node: GET /api/rooms failed" # hit
if ! cmp -s "$TMP/body.cold" "$TMP/body.warm1" || ! cmp -s "$TMP/body.cold" "$TMP/body.warm2"; then
    die "warm and cold bodies differ ($TMP/body.*)"
fi
python3 - "$TMP/body.cold" <<'EOF' || die "the room list is not 10 rooms with a last message each"
import json, sys
rooms = json.load(open(sys.argv[1]))
assert len(rooms) == 10 and all(r["lastMessage"] for r in rooms), rooms
EOF
cp "$TMP/body.cold" "$TMP/nginx/html/api/rooms"
BODY_BYTES="$(stat -c %s "$TMP/body.cold")"

# ---------------------------------------------------------------- nginx
cat >"$TMP/nginx/nginx.conf" <<EOF
# generated by perf/rest/bench_rooms.sh: the same JSON as a static file
worker_processes $NGINX_WORKERS;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/tmp/body;
    proxy_temp_path $TMP/nginx/tmp/proxy;
    fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
    uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
    scgi_temp_path $TMP/nginx/tmp/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    open_file_cache max=16 inactive=60s;
    server {
        listen $HOST:$NGINX_PORT;
        root $TMP/nginx/html;
        location = /api/rooms { default_type application/json; }
        location / { return 404; }
    }
}
EOF
# nginx's workers run as nobody when started as root: they must read the file.
chmod 755 "$TMP" "$TMP/nginx" "$TMP/nginx/html" "$TMP/nginx/html/api"
chmod 644 "$TMP/nginx/html/api/rooms"
say "starting nginx on $NGINX_URL ($NGINX_WORKERS workers)"
nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" &
NGINX_PID=$!
wait_http "$NGINX_URL/api/rooms" 10 || die "nginx did not answer; see $TMP/nginx/error.log"
curl -sf -m 5 -o "$TMP/body.nginx" "$NGINX_URL/api/rooms"
cmp -s "$TMP/body.cold" "$TMP/body.nginx" || die "nginx serves another body"

# ---------------------------------------------------------------- runs
admin_url() { # admin_url URL: the node's admin listener (/metrics), its HTTP port + 100 (ops/dev)
    local port="${1##*:}"
    printf 'http://%s:%s' "$HOST" "$((port + 100))"
}
metrics() { # metrics URL: the counters that tell what the node did
    curl -sf -m 5 "$(admin_url "$1")/metrics" | awk '
        /^chat_http_requests_total\{/                { r += $2 }
        /^chat_pg_queries_total /                    { q = $2 }
        /^chat_cache_lookups_total\{result="hit"\}/  { h = $2 }
        /^chat_cache_lookups_total\{result="miss"\}/ { m = $2 }
        /^chat_http_requests_total\{.*status="5xx"/  { e += $2 }
        END { printf "{\"http_requests\":%d,\"pg_queries\":%d,\"cache_hits\":%d,\"cache_misses\":%d,\"http_5xx\":%d}\n", r, q, h, m, e }'
}
wrk_cmd() { # wrk_cmd URL SECONDS: sets WRK, the wrk command line
    WRK=(env BENCH_TOKENS="$TMP/tokens" wrk -t"$THREADS" -c"$CONNS" -d"$2"s --timeout 5s
        -s "$HERE/rooms.lua" "$1/api/rooms")
}
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
for t in $TARGETS; do
    case "$t" in
    nginx) url="$NGINX_URL" cpu=(--cpu-children "server=$NGINX_PID") ;;
    warm) url="$WARM_URL" cpu=(--cpu "server=$WARM_PID" --cpu "redis=$REDIS_PID" --cpu-children "postgres=$PG_PID") ;;
    cold) url="$COLD_URL" cpu=(--cpu "server=$COLD_PID" --cpu "redis=$REDIS_PID" --cpu-children "postgres=$PG_PID") ;;
    *) die "unknown target '$t' (nginx warm cold)" ;;
    esac
    say "$t: warm-up ${WARMUP}s, then ${DURATION}s measured (wrk -t$THREADS -c$CONNS)"
    if ((WARMUP > 0)); then
        wrk_cmd "$url" "$WARMUP"
        run_child "${WRK[@]}" >"$TMP/wrk.$t.warmup.txt" 2>&1 || die "wrk warm-up failed ($TMP/wrk.$t.warmup.txt)"
    fi
    [[ "$t" == nginx ]] || metrics "$url" >"$TMP/metrics.$t.before"
    wrk_cmd "$url" "$DURATION"
    run_child python3 "$HERE/run_wrk.py" "${cpu[@]}" -- "${WRK[@]}" >"$TMP/run.$t.json" ||
        die "wrk run failed"
    if [[ "$t" == nginx ]]; then
        echo '{}' >"$TMP/metrics.$t.before"
        echo '{}' >"$TMP/metrics.$t.after"
    else
        metrics "$url" >"$TMP/metrics.$t.after"
    fi
    say "$t: $(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); l=r["latency_us"]; print("%.0f req/s, p50 %.2f ms, p99 %.2f ms, errors %d, cores %s, others %s" % (r["rps"], l["p50"]/1e3, l["p99"]/1e3, sum(r["errors"].values()), r["cpu_cores"], r["others_top"]))' "$TMP/run.$t.json")"
done
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- result line
WARM_EXE="$(readlink "/proc/$WARM_PID/exe" || true)"
WARM_KIND=own
[[ "$WARM_EXISTING" == 1 ]] && WARM_KIND=existing
BIN_MTIME="$(date -u -r "$NODE_BIN" +%Y-%m-%dT%H:%M:%SZ)"
RESULT="$(
    python3 - "$TMP" "$TARGETS" <<EOF
import json, os, subprocess, sys, time
tmp, targets = sys.argv[1], sys.argv[2].split()
def load(p):
    try:
        return json.load(open(p))
    except FileNotFoundError:
        return None
cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
git = lambda *a: subprocess.run(["git", *a], capture_output=True, text=True).stdout.strip()
r = {
    "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "bench": "rest_rooms",
    "commit": git("rev-parse", "--short", "HEAD"),
    "src_dirty": bool(git("status", "--porcelain", "--", "src")),
    "binary_mtime": "$BIN_MTIME",
    "machine": {"cpus": os.cpu_count(), "cpu": cpu_model, "kernel": os.uname().release,
                "loadavg_before": "$LOAD_BEFORE", "loadavg_after": "$LOAD_AFTER"},
    "setup": {"users": $USERS, "rooms_per_user": 10, "messages_per_room": 3,
              "body_bytes": $BODY_BYTES, "wrk_threads": $THREADS, "connections": $CONNS,
              "duration_s": $DURATION, "warmup_s": $WARMUP, "wrk_timeout_s": 5,
              "node_io_threads": "$(ini http io_threads)", "node_workers": "$(ini runtime workers)",
              "pg_pool_size": "$(ini postgres pool_size)", "node_env": os.environ.get("BENCH_NODE_ENV", ""), "nginx_workers": "$NGINX_WORKERS",
              "warm_node": "$WARM_URL ($WARM_KIND node, pid $WARM_PID, $WARM_EXE)", "cold_node": "$COLD_URL"},
    "command": "perf/rest/bench_rooms.sh",
    "note": os.environ.get("BENCH_NOTE", ""),
}
for t in targets:
    run = load(os.path.join(tmp, "run.%s.json" % t))
    if run is None:
        continue
    lat = run["latency_us"]
    e = run["errors"]
    out = {"rps": round(run["rps"]), "p50_ms": round(lat["p50"] / 1e3, 3), "p90_ms": round(lat["p90"] / 1e3, 3),
           "p99_ms": round(lat["p99"] / 1e3, 3), "p999_ms": round(lat["p999"] / 1e3, 3),
           "max_ms": round(lat["max"] / 1e3, 3), "requests": run["requests"], "errors": e,
           "valid": sum(e.values()) == 0, "cpu_cores": run["cpu_cores"],
           "others_top": run.get("others_top", [])}
    b, a = load(os.path.join(tmp, "metrics.%s.before" % t)), load(os.path.join(tmp, "metrics.%s.after" % t))
    if b and a:
        out["node_counters"] = {k: a[k] - b[k] for k in a}
    r[t] = out
if "nginx" in r:
    for t in ("warm", "cold"):
        if t in r:
            r[t]["ratio_to_nginx"] = round(r[t]["rps"] / r["nginx"]["rps"], 3)
r["targets"] = {"warm_rps": 20000, "warm_p99_ms": 10, "cold_rps": 5000}
met = {}
if "warm" in r:
    met["warm_rps"] = r["warm"]["rps"] >= 20000
    met["warm_p99"] = r["warm"]["p99_ms"] <= 10
if "cold" in r:
    met["cold_rps"] = r["cold"]["rps"] >= 5000
r["met"] = met
print(json.dumps(r, separators=(",", ":")))
EOF
)"
echo "$RESULT"
if [[ "$RESULTS" != - ]]; then
    mkdir -p "$(dirname "$RESULTS")"
    echo "$RESULT" >>"$RESULTS"
    say "appended to ${RESULTS#"$ROOT"/}"
fi

# ---------------------------------------------------------------- optional profile
if [[ "$PROFILE" == 1 ]]; then
    command -v perf >/dev/null || die "BENCH_PROFILE=1 needs perf (linux-perf)"
    for t in $TARGETS; do
        case "$t" in
        warm) url="$WARM_URL" pid="$WARM_PID" ;;
        cold) url="$COLD_URL" pid="$COLD_PID" ;;
        *) continue ;;
        esac
        say "$t: profiling ${DURATION}s under load (not counted)"
        wrk_cmd "$url" "$((DURATION + 2))"
        "${WRK[@]}" >"$TMP/wrk.$t.profile.txt" 2>&1 &
        PROFILE_WRK=$!
        sleep 1
        run_child perf record -q -e cpu-clock -g -p "$pid" -o "$TMP/perf.$t.data" -- sleep "$DURATION" 2>/dev/null
        wait "$PROFILE_WRK" || true
        PROFILE_WRK=""
        perf report -i "$TMP/perf.$t.data" --no-children --stdio --percent-limit 1 -g none 2>/dev/null |
            grep -v '^$' >"$TMP/perf.$t.txt" || true
        say "$t: top of perf report --no-children ($TMP/perf.$t.txt)"
        grep -v '^#' "$TMP/perf.$t.txt" | head -30 >&2
    done
fi
