#!/bin/sh
# Runs every libFuzzer target of a fuzz build for a bounded time each.
#
#   tests/fuzz/run.sh BUILD_DIR SECONDS
#
# BUILD_DIR is a tree configured with the `fuzz` preset (clang, ASan+UBSan, CN_FUZZ=ON),
# e.g. build/fuzz. Each target starts from its seed corpus in tests/fuzz/corpus/<target>/
# (read only: new inputs go to a scratch directory) and runs for SECONDS. Exits non-zero
# if any target crashes, leaks, times out or trips a sanitizer; the reproducer is kept
# under BUILD_DIR/fuzz-artifacts/.
set -eu
if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 2
fi
build=$1
secs=$2
here=$(cd "$(dirname "$0")" && pwd)
artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT INT TERM

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

failed=0
found=0
for target in stomp_parser json_requests event_codec jwt; do
    exe="$build/tests/fuzz/fuzz_$target"
    if [ ! -x "$exe" ]; then
        echo "missing $exe (configure with: cmake --preset fuzz)" >&2
        exit 2
    fi
    found=$((found + 1))
    mkdir -p "$scratch/$target"
    echo "== fuzz_$target for ${secs}s"
    if ! "$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
        -print_final_stats=1 -artifact_prefix="$artifacts/$target-" \
        "$scratch/$target" "$here/corpus/$target" >"$scratch/$target.log" 2>&1; then
        echo "FAIL fuzz_$target (see below; reproducer in $artifacts)" >&2
        tail -n 60 "$scratch/$target.log" >&2
        failed=1
    else
        grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|Done [0-9]+ runs" \
            "$scratch/$target.log" || true
        echo "ok   fuzz_$target"
    fi
done
exit $failed
