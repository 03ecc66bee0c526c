#!/usr/bin/env bash
# Issue 25's speed targets as interleaved rounds against `sos server` (release build):
#   A  --insecure-no-auth, unsigned requests (the load tool signs nothing);
#   A' --insecure-no-auth, the same signed requests as B (the server skips the check: what switching
#      authentication on costs the server alone, with the load tool doing the same work in both);
#   B  the same build checking SigV4 signatures.
#   4 KiB GET @32 and PUT @64 (signed with the payload hash, as aws-cli does over HTTP): target >= 0.9
#   1 GiB PUT @1 (A and B only), B with UNSIGNED-PAYLOAD (the signature check alone, as HTTPS clients
#   send) and B with the payload hash (the server hashes each 1 GiB body): target B/A >= 0.85
# Each round runs the modes in a rotated order so that the machine's drift falls on all. Prints each
# round's figures and the median ratios B/A and B/A'. Not run by CI; see docs/benchmarks.md.
#
#   bench/auth-ab.sh [--seconds N] [--rounds N] [--no-big]     (defaults: 10 s, 3 rounds)
# Env: SOS_BIN (default .build/release/sos).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
AB_NAME=auth
# shellcheck source=bench/ab-lib.sh
source "$ROOT/bench/ab-lib.sh" "$@"

round() {  # MODE ROUND: one sos server, every figure of MODE (insecure, insecure_signed or signed)
    local mode=$1 n=$2 port args=()
    port=$(free_port)
    [ "$mode" != signed ] && args=(--insecure-no-auth)
    rm -rf "$WORK/server"
    start_bg "server-$mode-$n" "$SOS" server --directory "$WORK/server" --s3-address "127.0.0.1:$port" --console-address 127.0.0.1:0 "${args[@]}"
    wait_until "sos server" 30 registered 2 "$WORK/server-$mode-$n.log" && wait_until "sos server" 10 listening "$port" ||
        { log_tail "server-$mode-$n"; return 1; }
    local endpoint="http://127.0.0.1:$port" keys=()
    [ "$mode" != insecure ] && keys=("${KEYS[@]}")
    bench "${mode}_get_$n" "$endpoint" get 32 4KiB --duration "$SECONDS_EACH" --objects 1000 "${keys[@]}"
    bench "${mode}_put_$n" "$endpoint" put 64 4KiB --duration "$SECONDS_EACH" "${keys[@]}"
    if [ "$BIG" = 1 ] && [ "$mode" != insecure_signed ]; then
        if [ "$mode" = signed ]; then
            bench "signed_unsigned_payload_put1g_$n" "$endpoint" put 1 1GiB --duration "$SECONDS_EACH" "${keys[@]}" --unsigned-payload
            bench "signed_put1g_$n" "$endpoint" put 1 1GiB --duration "$SECONDS_EACH" "${keys[@]}"
        else
            bench "insecure_put1g_$n" "$endpoint" put 1 1GiB --duration "$SECONDS_EACH"
        fi
    fi
    stop_all
}

MODES=(insecure signed insecure_signed)
for n in $(seq "$ROUNDS"); do
    for i in 0 1 2; do round "${MODES[$(((n + i) % 3))]}" "$n"; done
done
"${PY[@]}" ab-table "$FIG" "insecure (A)" "signed (B)" \
    "4 KiB GET @32 ops/s|insecure_get|signed_get|ops|0.9" "4 KiB PUT @64 ops/s|insecure_put|signed_put|ops|0.9" \
    "1 GiB PUT MB/s, UNSIGNED-PAYLOAD|insecure_put1g|signed_unsigned_payload_put1g|mbs|0.85" \
    "1 GiB PUT MB/s, payload hash|insecure_put1g|signed_put1g|mbs|0.85"
"${PY[@]}" ab-table "$FIG" "insecure, signed (A')" "signed (B)" \
    "4 KiB GET @32 ops/s|insecure_signed_get|signed_get|ops|0.9" "4 KiB PUT @64 ops/s|insecure_signed_put|signed_put|ops|0.9"
grep '^note' "$FIG" || true
