# shellcheck shell=bash disable=SC2034
# The Debian packages the dev stack and the test command need: the one list to extend.
# `ops/dev up` installs CN_PACKAGES_BUILD + CN_PACKAGES_RUN; `ops/dev test` also installs
# CN_PACKAGES_TEST. Only missing packages are installed (checked with dpkg-query).

# Compilers, build tools and the C libraries chat-node links.
CN_PACKAGES_BUILD=(
    build-essential cmake pkg-config clang libclang-rt-14-dev clang-format
    libwebsockets-dev librdkafka-dev libhiredis-dev libpq-dev libmsgpack-dev
    libjwt-dev libjemalloc-dev libjansson-dev libsodium-dev libinih-dev uuid-dev
    libevent-dev libuv1-dev libunistring-dev
    # TLS on the public port (src/io/tls_certs.c calls OpenSSL itself)
    libssl-dev
    # password.lst, the common passwords sign-up refuses (embedded at build time)
    john-data
)

# The services of the stack and the tools ops/dev drives them with.
CN_PACKAGES_RUN=(
    postgresql redis-server curl procps iproute2 python3
    # lws loads its libuv event loop as a plugin at run time (http_server.c).
    libwebsockets-evlib-uv
    # display names: NFC, character categories, case folding (src/proto/display_name.c)
    libunistring2
)

# Extra tools for the test command. Node 20 and npm come from the machine's nodesource
# package (not Debian's older nodejs); chromium is what the web client's browser test
# (tests/e2e/web) drives, headless; prometheus brings promtool (tests of /metrics).
CN_PACKAGES_TEST=(
    kcat chromium
    python3-msgpack python3-pytest python3-requests python3-websocket python3-yaml
    wrk nginx prometheus
    # certificates of the test stack's PostgreSQL and of the TLS tests
    openssl
)

# cn_missing_packages PKG... — prints the packages that are not installed.
cn_missing_packages()
{
    local p status
    for p in "$@"; do
        status="$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)"
        [[ "$status" == installed ]] || printf '%s\n' "$p"
    done
}

# cn_ensure_packages PKG... — installs the missing ones non-interactively.
cn_ensure_packages()
{
    local missing
    mapfile -t missing < <(cn_missing_packages "$@")
    ((${#missing[@]} == 0)) && return 0
    cn_say "installing missing packages: ${missing[*]}"
    local sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null || cn_die "packages missing (${missing[*]}) and no root/sudo to install them"
        sudo=(sudo -n)
    fi
    export DEBIAN_FRONTEND=noninteractive
    # Refresh the package lists only when they have never been fetched or the install fails.
    if ! compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null; then
        "${sudo[@]}" apt-get update -q </dev/null || cn_die "apt-get update failed"
    fi
    if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null; then
        "${sudo[@]}" apt-get update -q </dev/null || cn_die "apt-get update failed"
        "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null ||
            cn_die "apt-get install ${missing[*]} failed"
    fi
}
