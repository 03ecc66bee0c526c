#!/usr/bin/env bash
# Builds every libFuzzer target and runs each for SECONDS (default 10), starting from the
# committed seed corpus in Fuzz/Corpus/<target>. Prints executions and findings per target;
# exits non-zero if any target finds a crash (the input is kept in Fuzz/findings/<target>/).
set -euo pipefail
seconds="${1:-10}"
cd "$(dirname "$0")"
swift build -c release --sanitize=fuzzer 2>&1 | tail -n 3
bin="$(swift build -c release --sanitize=fuzzer --show-bin-path)"
targets=$(ls Sources)
status=0
printf '%-22s %12s %9s\n' target executions findings
for target in $targets; do
    work="$(mktemp -d)"
    mkdir -p "findings/$target"
    cp -r "Corpus/$target/." "$work/" 2>/dev/null || true
    log="$(mktemp)"
    set +e
    SWIFT_BACKTRACE=enable=no "$bin/$target" -max_total_time="$seconds" -print_final_stats=1 \
        -artifact_prefix="findings/$target/" -timeout=10 -rss_limit_mb=2048 "$work" >"$log" 2>&1
    rc=$?
    set -e
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    found=$(find "findings/$target" -type f | wc -l)
    printf '%-22s %12s %9s\n' "$target" "${runs:-?}" "$found"
    if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
        status=1
        tail -n 30 "$log"
    fi
    rm -rf "$work" "$log"
done
exit $status
