#!/usr/bin/env bash
# Issue 8's baseline in one run: SOS (`sos server`, and a brain with two storage-agent processes)
# against nginx (the HTTP ceiling), moto and Ceph RGW, every S3/HTTP figure driven by `sos bench`
# (release build), plus the machine's ceilings: loopback TCP (iperf3), disk write + fdatasync, and
# single-core MD5. Prints a table (figure, SOS value, baseline, ratio, target) and saves it as JSON.
# Not run by CI. See docs/benchmarks.md.
#
#   bench/baseline.sh [--seconds N] [--quick] [--big] [--no-rgw] [--output FILE] [--dir DIR]
#
#   --seconds N   seconds per figure (default 10; env BENCH_SECONDS; a bare number also works)
#   --quick       3 s per figure, no RGW and no 1 GiB figures (to check the script)
#   --big         also the peak RSS of brain and agents during a 5 GiB PUT and its GET (env BENCH_BIG=1;
#                 off by default: about a minute more, and 5 GiB of disk for a while)
#   --no-rgw      skip Ceph RGW (it is skipped, with the reason, whenever it cannot start)
#   --output FILE JSON output (default bench/results/baseline-<UTC date and time>.json)
#   --dir DIR     where the work directory (SOS data, the disk test file) is made (default $TMPDIR or /tmp)
# Env: SOS_BIN (default .build/release/sos), NGINX_BIN (/usr/sbin/nginx),
#      RGW_SCRIPT (../shared/peers/radosgw.sh next to the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=(python3 "$ROOT/bench/baseline.py")
SOS=${SOS_BIN:-$ROOT/.build/release/sos}
NGINX=${NGINX_BIN:-/usr/sbin/nginx}
RGW_SH=${RGW_SCRIPT:-$ROOT/../shared/peers/radosgw.sh}
SECONDS_EACH=${BENCH_SECONDS:-} QUICK=0 BIG=${BENCH_BIG:-0} RGW=1 OUTPUT="" PARENT=${TMPDIR:-/tmp}

usage() { sed -n '8,19s/^# \{0,1\}//p' "$0"; }
die() { echo "baseline.sh: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
    case $1 in
        --seconds) SECONDS_EACH=${2:?--seconds needs a value}; shift 2 ;;
        --quick) QUICK=1; shift ;;
        --big) BIG=1; shift ;;
        --no-rgw) RGW=0; shift ;;
        --output | -o) OUTPUT=${2:?--output needs a file}; shift 2 ;;
        --dir) PARENT=${2:?--dir needs a directory}; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        [0-9]*) SECONDS_EACH=$1; shift ;;
        *) usage >&2; die "unknown option $1" ;;
    esac
done
[ "$QUICK" = 1 ] && { SECONDS_EACH=${SECONDS_EACH:-3}; RGW=0; }
SECONDS_EACH=${SECONDS_EACH:-10}
case $SECONDS_EACH in '' | *[!0-9]*) die "--seconds must be a whole number" ;; esac
OUTPUT=${OUTPUT:-$ROOT/bench/results/baseline-$(date -u +%Y%m%d-%H%M%S).json}
mkdir -p "$(dirname "$OUTPUT")"

# Tools, checked before anything starts.
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is missing: $2"; }
need python3 "install Python 3"
[ -x "$SOS" ] || die "no sos binary at $SOS: swift build -c release, or set SOS_BIN"
[ -x "$NGINX" ] || die "no nginx at $NGINX: apt-get install -y nginx-light, or set NGINX_BIN"
need iperf3 "apt-get install -y iperf3"
need openssl "apt-get install -y openssl"
if command -v moto_server >/dev/null 2>&1; then MOTO=(moto_server)
elif python3 -c 'import moto.server' 2>/dev/null; then MOTO=(python3 -m moto.server)
else die "moto is missing: pip install 'moto[server]'"; fi

unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN  # every run passes its own keys
# SOS's root key for this run: the servers take it from the environment, sos bench signs with it.
export SOS_ROOT_ACCESS_KEY="BASELINE$RANDOM$RANDOM" SOS_ROOT_SECRET_KEY="baseline-secret-$RANDOM$RANDOM$RANDOM"
SOS_KEYS=(--access-key "$SOS_ROOT_ACCESS_KEY" --secret-key "$SOS_ROOT_SECRET_KEY" --unsigned-payload)
WORK=$(mktemp -d "$PARENT/sos-baseline.XXXXXX")
chmod 755 "$WORK"  # nginx workers run as another user
FIG=$WORK/figures
touch "$FIG"
CPU_AT_START=$(head -n 1 /proc/stat)  # for the steal note at the end
# shellcheck source=bench/baseline-lib.sh
source "$ROOT/bench/baseline-lib.sh"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- machine ceilings -------------------------------------------------------------------------------------------
log "loopback TCP: iperf3, one stream, $SECONDS_EACH s"
port=$(free_port)
start_bg iperf3 iperf3 -s -1 -B 127.0.0.1 -p "$port"
if wait_until "iperf3 server" 10 listening "$port" &&
    iperf3 -c 127.0.0.1 -p "$port" -t "$SECONDS_EACH" -J > "$WORK/iperf3.json" 2>&1 &&
    "${PY[@]}" iperf-json "$WORK/iperf3.json" tcp_mbs >> "$FIG" 2> "$WORK/iperf3.err"
then tail -n 1 "$FIG" >&2; else note "iperf3 failed: $(cat "$WORK/iperf3.err" 2>/dev/null)"; fi
stop_all

log "loopback TCP through a userspace relay (two hops, the path of a cluster GET's bytes): iperf3, $SECONDS_EACH s"
port=$(free_port) relay_port=$(free_port)
start_bg iperf3 iperf3 -s -1 -B 127.0.0.1 -p "$port"
start_bg relay "${PY[@]}" relay "$relay_port" "$port"
if wait_until "iperf3 server" 10 listening "$port" && wait_until "relay" 10 listening "$relay_port" &&
    iperf3 -c 127.0.0.1 -p "$relay_port" -t "$SECONDS_EACH" -J > "$WORK/iperf3-relay.json" 2>&1 &&
    "${PY[@]}" iperf-json "$WORK/iperf3-relay.json" tcp_relay_mbs >> "$FIG" 2> "$WORK/iperf3-relay.err"
then tail -n 1 "$FIG" >&2; else note "iperf3 through the relay failed: $(cat "$WORK/iperf3-relay.err" 2>/dev/null)"; fi
stop_all

disk_bytes=$(( QUICK == 1 ? 256 << 20 : 1 << 30 ))
log "disk: $((disk_bytes >> 20)) MiB in 1 MiB writes + fdatasync in $WORK ($(df -P "$WORK" | awk 'NR==2{print $1}'))"
if "${PY[@]}" disk "$WORK" "$disk_bytes" disk_mbs >> "$FIG"; then tail -n 1 "$FIG" >&2; else note "disk write test failed"; fi

log "MD5: openssl speed -evp md5, 1 MiB blocks, one core, $SECONDS_EACH s"
md5=$(openssl speed -evp md5 -bytes 1048576 -seconds "$SECONDS_EACH" -mr 2>/dev/null | awk -F: '/^\+F:/{printf "%.3f", $4/1e6}')
if [ -n "$md5" ]; then echo "md5_mbs $md5" | tee -a "$FIG" >&2; else note "openssl speed gave no MD5 figure"; fi

# --- nginx: a fixed 4 KiB body for every GET, 200 for every PUT once its body is read ---------------------------
port=$(free_port)
mkdir -p "$WORK/nginx/www" "$WORK/nginx/logs" "$WORK/nginx/tmp"
head -c 4096 /dev/urandom > "$WORK/nginx/www/body"
sed -e "s|@WORK@|$WORK|g" -e "s|@PORT@|$port|g" -e "s|@TLS@||" -e "s|@CERTIFICATES@||" "$ROOT/bench/nginx.conf.in" \
    > "$WORK/nginx/nginx.conf"
"$NGINX" -p "$WORK/nginx" -c nginx.conf
if wait_until "nginx" 10 listening "$port"; then
    small_objects nginx "http://127.0.0.1:$port" --no-cleanup
    if [ "$QUICK" = 0 ]; then
        # the most a 1 GiB PUT, and a 1 GiB GET, can reach with this load tool on this machine
        bench nginx_put1g "http://127.0.0.1:$port" put 1 1GiB --duration "$SECONDS_EACH" --no-cleanup
        head -c 1073741824 /dev/urandom > "$WORK/nginx/www/body.1g"
        mv "$WORK/nginx/www/body.1g" "$WORK/nginx/www/body"  # every GET now answers 1 GiB
        cat "$WORK/nginx/www/body" > /dev/null  # served from the page cache, as SOS's repeated GET is
        bench nginx_get1g "http://127.0.0.1:$port" get 1 1GiB --duration "$SECONDS_EACH" --objects 1 --no-cleanup
        rm -f "$WORK/nginx/www/body"
    fi
fi
stop_all

# --- sos server: brain and two agents in one process --------------------------------------------------------------
port=$(free_port)
start_bg sos-server "$SOS" server --directory "$WORK/server" --s3-address "127.0.0.1:$port" --console-address 127.0.0.1:0
if wait_until "sos server's agents" 30 registered 2 "$WORK/sos-server.log" && wait_until "sos server" 10 listening "$port"; then
    small_objects server "http://127.0.0.1:$port" "${SOS_KEYS[@]}"
    big_object server "http://127.0.0.1:$port" "${SOS_KEYS[@]}"
else
    log_tail sos-server
fi
stop_all

# --- brain + two storage-agent processes --------------------------------------------------------------------------
export SOS_COOKIE="baseline-$RANDOM$RANDOM$RANDOM"
if start_cluster cluster; then
    small_objects cluster "$CLUSTER_ENDPOINT" "${SOS_KEYS[@]}"
    big_object cluster "$CLUSTER_ENDPOINT" "${SOS_KEYS[@]}"
fi
stop_all
# A fresh cluster for the 5 GiB RSS figures, so that what the runs above left in memory does not count.
if [ "$BIG" = 1 ]; then
    if start_cluster cluster-big; then
        log "peak RSS of brain and agents during one 5 GiB PUT, then its GET (python client: sos bench holds < 4 GiB)"
        if "${PY[@]}" rss-big "$CLUSTER_ENDPOINT" $((5 << 30)) brain="$BRAIN_PID" agent-1="${AGENT_PIDS[0]}" agent-2="${AGENT_PIDS[1]}" \
            > "$WORK/rss.fig" 2> "$WORK/rss.err"
        then
            sed -e '/^note /!s/^/rss_/' "$WORK/rss.fig" | tee -a "$FIG" >&2
        else
            note "5 GiB PUT/GET failed: $(tail -n 2 "$WORK/rss.err" | tr '\n' ' ')"
        fi
    fi
    stop_all
    rm -rf "$WORK/cluster-big"
else
    note "peak RSS during 5 GiB PUT/GET not measured (off by default; --big or BENCH_BIG=1)"
fi

# --- moto (Python, in memory; requests must be signed, any key works) ----------------------------------------------
port=$(free_port)
start_bg moto "${MOTO[@]}" -H 127.0.0.1 -p "$port"
if wait_until "moto_server" 30 listening "$port"; then
    small_objects moto "http://127.0.0.1:$port" --access-key testing --secret-key testing --unsigned-payload
fi
stop_all

# --- Ceph RGW: one mon, mgr, bluestore OSD and radosgw on loopback, by ../shared/peers/radosgw.sh -----------------
if [ "$RGW" = 0 ]; then
    if [ "$QUICK" = 1 ]; then note "RGW and 1 GiB figures skipped (--quick)"; else note "RGW skipped (--no-rgw)"; fi
elif [ ! -f "$RGW_SH" ]; then
    note "RGW skipped: no $RGW_SH (set RGW_SCRIPT)"
else
    port=$(free_port)
    RGW_DIR=$WORK/rgw
    log "RGW: $RGW_SH up (a few minutes the first time: it installs Ceph with apt-get)"
    if bash "$RGW_SH" up "$RGW_DIR" "$port" > "$WORK/rgw-up.log" 2>&1; then
        keys=(--access-key "${SOS_PEER_ACCESS_KEY:-sosadmin}" --secret-key "${SOS_PEER_SECRET_KEY:-sosadmin-secret}" --unsigned-payload)
        small_objects rgw "http://127.0.0.1:$port" "${keys[@]}"
        bench rgw_put1g "http://127.0.0.1:$port" put 1 1GiB --duration "$SECONDS_EACH" "${keys[@]}"
    else
        note "RGW could not start, RGW figures skipped: $(grep -v '^debconf' "$WORK/rgw-up.log" | tail -n 3 | tr '\n' ' ')"
    fi
    bash "$RGW_SH" down "$RGW_DIR" >/dev/null 2>&1 || note "radosgw.sh down failed"
    rm -rf "$RGW_DIR"
fi

# On a shared VM the hypervisor's steal lowers every figure, SOS's (many thread hand-offs) more than nginx's.
steal=$(printf '%s\n%s\n' "$CPU_AT_START" "$(head -n 1 /proc/stat)" |
    awk '{t = 0; for (i = 2; i <= 9; i++) t += $i; total[NR] = t; st[NR] = $9}
         END {if (total[2] > total[1]) printf "%.1f", 100 * (st[2] - st[1]) / (total[2] - total[1])}')
[ -n "$steal" ] && note "CPU steal during the run (time the hypervisor gave to others): $steal% of the cores' time"

echo
echo "baseline: $SECONDS_EACH s per figure$( [ "$QUICK" = 1 ] && echo ", --quick"), $(nproc) cores, $(date -u +%FT%TZ), $SOS"
"${PY[@]}" report "$FIG" "$OUTPUT"
