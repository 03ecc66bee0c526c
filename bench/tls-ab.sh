#!/usr/bin/env bash
# Issue 25's TLS targets as interleaved A/B pairs: A is nginx serving a file over TLS (the HTTPS
# ceiling on this machine), B is `sos server` (release build) with --tls-certificate, signed requests;
# both use the same certificate (EC P-256, made by this script) and `sos bench` as the client:
#   4 KiB GET @32 ops/s: target B/A >= 0.5
#   1 GiB GET @1 MB/s:   target B/A >= 0.5
# Rounds alternate which goes first so that the machine's drift falls on both. Prints each round's
# figures and the median ratios. Not run by CI; see docs/benchmarks.md.
#
#   bench/tls-ab.sh [--seconds N] [--rounds N] [--no-big]     (defaults: 10 s, 3 rounds)
# Env: SOS_BIN (default .build/release/sos), NGINX_BIN (/usr/sbin/nginx).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
AB_NAME=tls
# shellcheck source=bench/ab-lib.sh
source "$ROOT/bench/ab-lib.sh" "$@"
NGINX=${NGINX_BIN:-/usr/sbin/nginx}
[ -x "$NGINX" ] || { echo "no nginx at $NGINX: apt-get install -y nginx-light, or set NGINX_BIN" >&2; exit 1; }
command -v openssl >/dev/null || { echo "openssl is missing: apt-get install -y openssl" >&2; exit 1; }
KEYS+=(--unsigned-payload)
chmod 755 "$WORK"  # nginx workers run as another user

# A CA and a certificate for 127.0.0.1 signed by it; sos bench trusts the CA (--tls-ca).
TLS=$WORK/tls
mkdir -p "$TLS"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=bench CA" \
    -keyout "$TLS/ca.key" -out "$TLS/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$TLS/server.key" -out "$TLS/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > "$TLS/san.ext"
openssl x509 -req -in "$TLS/server.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca.key" -CAcreateserial -days 2 \
    -extfile "$TLS/san.ext" -out "$TLS/server.pem" 2>/dev/null
chmod 600 "$TLS/server.key"

nginx_port=$(free_port)
mkdir -p "$WORK/nginx/www" "$WORK/nginx/logs" "$WORK/nginx/tmp"
cp "$TLS/server.pem" "$TLS/server.key" "$WORK/nginx/"
head -c 4096 /dev/urandom > "$WORK/nginx/www/body.4k"
[ "$BIG" = 1 ] && head -c 1073741824 /dev/urandom > "$WORK/nginx/www/body.1g"
sed -e "s|@WORK@|$WORK|g" -e "s|@PORT@|$nginx_port|g" -e "s|@TLS@| ssl|" \
    -e "s|@CERTIFICATES@|ssl_certificate $WORK/nginx/server.pem; ssl_certificate_key $WORK/nginx/server.key;|" \
    "$ROOT/bench/nginx.conf.in" > "$WORK/nginx/nginx.conf"

nginx_round() {  # ROUND: nginx over TLS, its `body` the 4 KiB file, then the 1 GiB one
    local n=$1 endpoint="https://127.0.0.1:$nginx_port"
    ln -sf body.4k "$WORK/nginx/www/body"
    "$NGINX" -p "$WORK/nginx" -c nginx.conf
    wait_until "nginx" 10 listening "$nginx_port" || return 1
    bench "nginx_get_$n" "$endpoint" get 32 4KiB --duration "$SECONDS_EACH" --objects 1000 --tls-ca "$TLS/ca.pem" --no-cleanup
    if [ "$BIG" = 1 ]; then
        ln -sf body.1g "$WORK/nginx/www/body"
        cat "$WORK/nginx/www/body.1g" > /dev/null  # from the page cache, as SOS's repeated GET is
        bench "nginx_get1g_$n" "$endpoint" get 1 1GiB --duration "$SECONDS_EACH" --objects 1 --tls-ca "$TLS/ca.pem" --no-cleanup
    fi
    stop_all
}

sos_round() {  # ROUND: a fresh sos server over TLS, signed requests
    local n=$1 port
    port=$(free_port)
    rm -rf "$WORK/server"
    start_bg "server-$n" "$SOS" server --directory "$WORK/server" --s3-address "127.0.0.1:$port" --console-address 127.0.0.1:0 \
        --tls-certificate "$TLS/server.pem" --tls-key "$TLS/server.key"
    wait_until "sos server" 30 registered 2 "$WORK/server-$n.log" && wait_until "sos server" 10 listening "$port" ||
        { log_tail "server-$n"; return 1; }
    local endpoint="https://127.0.0.1:$port"
    bench "sos_get_$n" "$endpoint" get 32 4KiB --duration "$SECONDS_EACH" --objects 1000 --tls-ca "$TLS/ca.pem" "${KEYS[@]}"
    if [ "$BIG" = 1 ]; then
        bench "sos_get1g_$n" "$endpoint" get 1 1GiB --duration "$SECONDS_EACH" --objects 1 --tls-ca "$TLS/ca.pem" "${KEYS[@]}"
    fi
    stop_all
}

for n in $(seq "$ROUNDS"); do
    if [ $((n % 2)) = 1 ]; then nginx_round "$n"; sos_round "$n"; else sos_round "$n"; nginx_round "$n"; fi
done
"${PY[@]}" ab-table "$FIG" "nginx over TLS (A)" "sos over TLS (B)" \
    "4 KiB GET @32 ops/s|nginx_get|sos_get|ops|0.5" "1 GiB GET @1 MB/s|nginx_get1g|sos_get1g|mbs|0.5"
grep '^note' "$FIG" || true
