#!/usr/bin/env bash
# 4 KiB GET at 32 connections and 4 KiB PUT at 64 connections, driven by `sos bench`, against
# `sos server` and against nginx (the HTTP ceiling: a fixed 4 KiB body, 200 to every PUT after
# reading its body). Prints each figure and SOS/nginx ratios. Not run by CI.
#   bench/baseline.sh [SECONDS]        (default 10; needs nginx: apt-get install -y nginx-light)
# Build first: swift build -c release (SOS_BIN=.build/release/sos by default).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-10}
SOS=${SOS_BIN:-$PWD/.build/release/sos}
NGINX=${NGINX_BIN:-/usr/sbin/nginx}
WORK=$(mktemp -d)
chmod 755 "$WORK"  # nginx workers run as another user
SOS_PORT=19500 NGINX_PORT=19501
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    "$NGINX" -p "$WORK/nginx" -c nginx.conf -s stop 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/nginx/www" "$WORK/nginx/logs" "$WORK/nginx/tmp"
head -c 4096 /dev/urandom > "$WORK/nginx/www/body"
cat > "$WORK/nginx/nginx.conf" <<CONF
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_buffer_size 64k;
    client_body_temp_path $WORK/nginx/tmp;
    proxy_temp_path $WORK/nginx/tmp; fastcgi_temp_path $WORK/nginx/tmp; uwsgi_temp_path $WORK/nginx/tmp; scgi_temp_path $WORK/nginx/tmp;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $WORK/nginx/www;
        location / {
            if (\$request_method = PUT) { return 200; }
            if (\$request_method = DELETE) { return 204; }
            try_files /body =404;
        }
    }
}
CONF
"$NGINX" -p "$WORK/nginx" -c nginx.conf

"$SOS" server --directory "$WORK/sos" --s3-address 127.0.0.1:$SOS_PORT > "$WORK/sos.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -c "registered with the brain" "$WORK/sos.log" 2>/dev/null | grep -q 2 && break; sleep 0.1; done

run() {  # run NAME PORT WORKLOAD CONCURRENCY -> prints "ops_per_second p99_ms"
    "$SOS" bench "$3" --endpoint "http://127.0.0.1:$2" --size 4KiB --concurrency "$4" --duration "$SECONDS_EACH" \
        --quiet --json --objects 1000 $( [ "$1" = nginx ] && echo --no-cleanup ) > "$WORK/$1-$3.json"
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); t=r["total"]; assert t["errors"]==0, (sys.argv[1], r["first_error"]); print(t["ops_per_second"], t["latency_ms"]["p99"])' "$WORK/$1-$3.json"
}
out=$(run nginx $NGINX_PORT get 32); read -r nginx_get nginx_get_p99 <<< "$out"
out=$(run sos $SOS_PORT get 32); read -r sos_get sos_get_p99 <<< "$out"
out=$(run nginx $NGINX_PORT put 64); read -r nginx_put nginx_put_p99 <<< "$out"
out=$(run sos $SOS_PORT put 64); read -r sos_put sos_put_p99 <<< "$out"
python3 - "$nginx_get" "$sos_get" "$nginx_get_p99" "$sos_get_p99" "$nginx_put" "$sos_put" <<'PY'
import sys
ng, sg, ngp, sgp, np_, sp = map(float, sys.argv[1:])
print(f"{'figure':40} {'sos server':>12} {'nginx':>12} {'ratio':>7} target")
print(f"{'4 KiB GET ops/s, 32 connections':40} {sg:12.0f} {ng:12.0f} {sg/ng:7.3f} >= 0.4")
print(f"{'4 KiB GET p99 ms, 32 connections':40} {sgp:12.3f} {ngp:12.3f} {sgp/ngp:7.3f} <= 2")
print(f"{'4 KiB PUT ops/s, 64 connections':40} {sp:12.0f} {np_:12.0f} {sp/np_:7.3f} >= 0.25")
PY
