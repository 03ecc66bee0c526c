#!/usr/bin/env bash
# Issue 26's versioning speed target as interleaved A/B pairs against `sos server` (release build; a fresh one a round),
# signed requests: A into a bucket that never had versioning, B into a bucket with versioning enabled
# (every PUT a new version, the previous one kept):
#   4 KiB GET @32 and PUT @64: target B/A >= 0.9
# Rounds alternate A and B so that the machine's drift falls on both. Prints each round's figures and
# the median ratios. Not run by CI; see docs/benchmarks.md.
#
#   bench/versioning-ab.sh [--seconds N] [--rounds N]     (defaults: 10 s, 3 rounds)
# Env: SOS_BIN (default .build/release/sos).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
AB_NAME=versioning
# shellcheck source=bench/ab-lib.sh
source "$ROOT/bench/ab-lib.sh" "$@"

# The GET runs remove their 1000 objects (and, versioned, every version); the PUT runs keep theirs
# (some 50,000 a run), which the round's server directory takes away.
measure() {  # MODE ROUND ENDPOINT: GET and PUT figures in a bucket of MODE (plain or versioned)
    local mode=$1 n=$2 endpoint=$3 args=()
    [ "$mode" = versioned ] && args=(--versioned)
    bench "${mode}_get_$n" "$endpoint" get 32 4KiB --duration "$SECONDS_EACH" --objects 1000 "${KEYS[@]}" "${args[@]}"
    bench "${mode}_put_$n" "$endpoint" put 64 4KiB --duration "$SECONDS_EACH" "${KEYS[@]}" "${args[@]}" --no-cleanup
}

round() {  # ROUND: a fresh sos server, both modes, the order alternating between rounds
    local n=$1 port
    port=$(free_port)
    rm -rf "$WORK/server"
    start_bg "server-$n" "$SOS" server --directory "$WORK/server" --s3-address "127.0.0.1:$port" --console-address 127.0.0.1:0
    wait_until "sos server" 30 registered 2 "$WORK/server-$n.log" && wait_until "sos server" 10 listening "$port" ||
        { log_tail "server-$n"; return 1; }
    if [ $((n % 2)) = 1 ]; then
        measure plain "$n" "http://127.0.0.1:$port"; measure versioned "$n" "http://127.0.0.1:$port"
    else
        measure versioned "$n" "http://127.0.0.1:$port"; measure plain "$n" "http://127.0.0.1:$port"
    fi
    stop_all
}

for n in $(seq "$ROUNDS"); do round "$n"; done
"${PY[@]}" ab-table "$FIG" "unversioned (A)" "versioned (B)" \
    "4 KiB GET @32 ops/s|plain_get|versioned_get|ops|0.9" "4 KiB PUT @64 ops/s|plain_put|versioned_put|ops|0.9"
grep '^note' "$FIG" || true
