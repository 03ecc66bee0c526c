#!/usr/bin/env bash
# Issue 27's speed target as interleaved A/B pairs against `sos server` (release build), signed
# requests: A with `--metrics off --request-log off`, B with both on (the defaults: every request
# counted in the metrics and logged as one line to the server's log file); /metrics is scraped
# every second during B's runs, as a Prometheus would (more often than its usual 15 s):
#   4 KiB GET @32 and PUT @64: target B/A >= 0.95
# Rounds alternate A and B so that the machine's drift falls on both. Prints each round's figures and
# the median ratios. Not run by CI; see docs/benchmarks.md.
#
#   bench/observability-ab.sh [--seconds N] [--rounds N]     (defaults: 10 s, 3 rounds)
# Env: SOS_BIN (default .build/release/sos).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
AB_NAME=observability
# shellcheck source=bench/ab-lib.sh
source "$ROOT/bench/ab-lib.sh" "$@"

round() {  # MODE ROUND: one sos server, both figures of MODE (off or on)
    local mode=$1 n=$2 port console args=()
    port=$(free_port)
    console=$(free_port)
    [ "$mode" = off ] && args=(--metrics off --request-log off)
    rm -rf "$WORK/server"
    start_bg "server-$mode-$n" "$SOS" server --directory "$WORK/server" --s3-address "127.0.0.1:$port" \
        --console-address "127.0.0.1:$console" "${args[@]}"
    wait_until "sos server" 30 registered 2 "$WORK/server-$mode-$n.log" && wait_until "sos server" 10 listening "$port" ||
        { log_tail "server-$mode-$n"; return 1; }
    local scraper=
    if [ "$mode" = on ]; then
        (while sleep 1; do curl -s -o /dev/null "http://127.0.0.1:$console/metrics" || true; done) &
        scraper=$!
    fi
    bench "${mode}_get_$n" "http://127.0.0.1:$port" get 32 4KiB --duration "$SECONDS_EACH" --objects 1000 "${KEYS[@]}"
    bench "${mode}_put_$n" "http://127.0.0.1:$port" put 64 4KiB --duration "$SECONDS_EACH" "${KEYS[@]}"
    if [ -n "$scraper" ]; then kill "$scraper"; wait "$scraper" 2>/dev/null || true; fi
    [ "$mode" = on ] && note "round $n: $(grep -c 's3 request' "$WORK/server-$mode-$n.log") request lines logged"
    stop_all
}

for n in $(seq "$ROUNDS"); do
    if [ $((n % 2)) = 1 ]; then round off "$n"; round on "$n"; else round on "$n"; round off "$n"; fi
done
"${PY[@]}" ab-table "$FIG" "metrics and request log off (A)" "on (B)" \
    "4 KiB GET @32 ops/s|off_get|on_get|ops|0.95" "4 KiB PUT @64 ops/s|off_put|on_put|ops|0.95"
grep '^note' "$FIG" || true
