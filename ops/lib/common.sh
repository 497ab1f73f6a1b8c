# shellcheck shell=bash
# Small helpers shared by ops/dev: messages, pid files, ports and deadlines.

cn_say() { printf '\033[1m[dev]\033[0m %s\n' "$*"; }
cn_warn() { printf '\033[1;33m[dev] warning:\033[0m %s\n' "$*" >&2; }
cn_die()
{
    printf '\033[1;31m[dev] error:\033[0m %s\n' "$*" >&2
    exit 1
}
if [[ ! -t 1 ]]; then
    cn_say() { printf '[dev] %s\n' "$*"; }
    cn_warn() { printf '[dev] warning: %s\n' "$*" >&2; }
    cn_die()
    {
        printf '[dev] error: %s\n' "$*" >&2
        exit 1
    }
fi

# cn_pid_from FILE — prints the pid stored in FILE (first line), or nothing.
cn_pid_from()
{
    local f="$1" pid=""
    [[ -r "$f" ]] && read -r pid <"$f" 2>/dev/null
    [[ "$pid" =~ ^[0-9]+$ ]] && printf '%s' "$pid"
    return 0
}

# cn_pid_alive PID EXE_SUBSTRING — true when PID runs and its command line contains
# EXE_SUBSTRING (guards against a recycled pid after a reboot or crash).
cn_pid_alive()
{
    local pid="$1" want="$2" cmd
    [[ -n "$pid" ]] || return 1
    # A zombie (exited, not yet reaped) has an empty command line: not alive. So has a
    # process in the middle of an exec (env -> setsid -> chat-node at start-up, which once
    # made a starting node look dead): an empty one is read again before it counts.
    for _ in 1 2 3 4 5; do
        kill -0 "$pid" 2>/dev/null || return 1
        [[ -r /proc/$pid/cmdline ]] || return 1
        cmd="$(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null)"
        [[ -n "$cmd" ]] && break
        sleep 0.05
    done
    [[ -n "$cmd" && "$cmd" == *"$want"* ]]
}

# cn_port_busy PORT — true when something accepts TCP connections on 127.0.0.1:PORT
# or holds a listening socket on the port (any address).
cn_port_busy()
{
    local port="$1"
    if command -v ss >/dev/null; then
        [[ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]] && return 0
    fi
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

# cn_port_owner PORT — best-effort description of who listens on PORT.
cn_port_owner()
{
    local port="$1" line
    command -v ss >/dev/null || return 0
    line="$(ss -Hltnp "sport = :$port" 2>/dev/null | head -1)"
    [[ "$line" =~ users:\(\(\"([^\"]+)\",pid=([0-9]+) ]] &&
        printf '%s (pid %s)' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
    return 0
}

# cn_require_port_free PORT WHAT — exits with a clear message when PORT is taken.
cn_require_port_free()
{
    local port="$1" what="$2" owner
    if cn_port_busy "$port"; then
        owner="$(cn_port_owner "$port")"
        cn_die "port $port (wanted by $what) is already in use${owner:+ by $owner}; stop that process, or move this stack's ports with the CN_DEV_*_PORT / CN_TEST_STACK_*_PORT variables (ops/lib/stack.sh)"
    fi
}

# cn_wait_for SECONDS DESCRIPTION COMMAND... — polls COMMAND every 0.2 s until it
# succeeds; returns 1 after SECONDS.
cn_wait_for()
{
    local secs="$1" what="$2"
    shift 2
    local deadline=$((SECONDS + secs))
    while ! "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            cn_warn "timed out after ${secs}s waiting for $what"
            return 1
        fi
        sleep 0.2
    done
}

# cn_stop_pid NAME PID EXE_SUBSTRING [SIGNAL] [GRACE_SECONDS] — sends SIGNAL (default
# TERM), waits up to GRACE_SECONDS (default 15) for the process to go, then SIGKILLs it
# (and its process group when it leads one). Returns 0 when it is gone.
cn_stop_pid()
{
    local name="$1" pid="$2" want="$3" sig="${4:-TERM}" grace="${5:-15}"
    cn_pid_alive "$pid" "$want" || return 0
    kill -s "$sig" "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + grace))
    while cn_pid_alive "$pid" "$want"; do
        if ((SECONDS >= deadline)); then
            cn_warn "$name (pid $pid) still running after ${grace}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
            break
        fi
        sleep 0.1
    done
    ! cn_pid_alive "$pid" "$want"
}
