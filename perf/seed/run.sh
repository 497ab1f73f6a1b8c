#!/usr/bin/env bash
# perf/seed/run.sh — seeds a freshly migrated, empty chat database (perf/seed/seed.sql).
#
#   perf/seed/run.sh DBURL [users=10000] [rooms=50000] [messages=1000000]
#
# Environment: SEED_DIRECT_PCT (share of direct rooms, default 60), SEED_RANDOM (setseed
# value in -1..1, default 0.42: the same seed gives the same data), SEED_PASSWORD_HASH
# (the argon2id string stored for every user; default a placeholder that never verifies).
# Prints each step's time and the totals; exits non-zero on any error (nothing is kept
# then: the data goes in one transaction).
set -euo pipefail

if (($# < 1)) || [[ "$1" == -h || "$1" == --help ]]; then
    sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    (($# >= 1)) && exit 0
    exit 2
fi
url="$1"
users="${2:-10000}"
rooms="${3:-50000}"
messages="${4:-1000000}"
for v in "$users" "$rooms" "$messages"; do
    [[ "$v" =~ ^[0-9]+$ ]] || {
        echo "seed: counts must be whole numbers, not '$v'" >&2
        exit 2
    }
done
if ((users < 40)); then
    echo "seed: at least 40 users (group rooms take up to 20 distinct members)" >&2
    exit 2
fi
if ((rooms < 1)); then
    echo "seed: at least one room" >&2
    exit 2
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
args=(-v users="$users" -v rooms="$rooms" -v messages="$messages"
    -v direct_pct="${SEED_DIRECT_PCT:-60}" -v seed="${SEED_RANDOM:-0.42}")
[[ -n "${SEED_PASSWORD_HASH:-}" ]] && args+=(-v password_hash="$SEED_PASSWORD_HASH")

t0=$(date +%s%N)
PGOPTIONS='-c client_min_messages=warning' psql "$url" -X -q -v ON_ERROR_STOP=1 "${args[@]}" -f "$here/seed.sql"
ms=$((($(date +%s%N) - t0) / 1000000))
printf 'seed: %s users, %s rooms, %s messages in %d.%03d s\n' "$users" "$rooms" "$messages" $((ms / 1000)) $((ms % 1000))
