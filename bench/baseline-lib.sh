# Helpers for bench/baseline.sh, which sources this file once WORK, FIG, PY, SOS, NGINX, RGW_SH,
# SECONDS_EACH and QUICK are set. Processes go into `pids`; `cleanup` (the EXIT trap) stops them all,
# takes RGW down and removes WORK.
pids=() RGW_DIR=""

stop_pid() {  # TERM, then KILL after 10 s; reaps it
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
stop_all() {
    local pid
    for pid in "${pids[@]}"; do stop_pid "$pid"; done
    pids=()
    if [ -f "$WORK/nginx/nginx.pid" ]; then "$NGINX" -p "$WORK/nginx" -c nginx.conf -s stop 2>/dev/null || true; fi
}
cleanup() {
    set +e
    stop_all
    if [ -n "$RGW_DIR" ]; then bash "$RGW_SH" down "$RGW_DIR" >/dev/null 2>&1; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { echo "== $*" >&2; }
note() { echo "note $*" >> "$FIG"; echo "!! $*" >&2; }
free_port() { "${PY[@]}" free-port; }
start_bg() {  # NAME COMMAND...: runs COMMAND in the background, output in $WORK/NAME.log; sets LAST_PID
    local name=$1; shift
    "$@" > "$WORK/$name.log" 2>&1 &
    LAST_PID=$!
    pids+=("$LAST_PID")
}
wait_until() {  # WHAT TIMEOUT COMMAND...: false (with a note) if COMMAND is still false after TIMEOUT seconds
    local what=$1 end=$((SECONDS + $2)); shift 2
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $end ] || { note "timed out waiting for $what"; return 1; }
        sleep 0.1
    done
}
listening() { "${PY[@]}" listening "$1"; }
log_tail() {  # NAME...: the last lines of each WORK/NAME.log, to see why a start failed before WORK is removed
    local name
    for name in "$@"; do echo "-- last lines of $name.log:" >&2; tail -n 20 "$WORK/$name.log" >&2 || true; done
}
start_cluster() {  # NAME: a brain and two storage-agent processes on WORK/NAME; sets CLUSTER_ENDPOINT, BRAIN_PID, AGENT_PIDS
    local name=$1 port cluster_port i
    port=$(free_port) cluster_port=$(free_port)
    start_bg "$name-brain" "$SOS" brain --s3-address "127.0.0.1:$port" --cluster-address "127.0.0.1:$cluster_port" \
        --directory "$WORK/$name/brain"
    BRAIN_PID=$LAST_PID AGENT_PIDS=() CLUSTER_ENDPOINT="http://127.0.0.1:$port"
    wait_until "$name: brain" 20 listening "$cluster_port" || { log_tail "$name-brain"; return 1; }
    for i in 1 2; do
        start_bg "$name-agent-$i" "$SOS" storage-agent --brain "127.0.0.1:$cluster_port" --client-id "agent-$i" \
            --directory "$WORK/$name/agent-$i"
        AGENT_PIDS+=("$LAST_PID")
    done
    wait_until "$name: agents" 30 registered 2 "$WORK/$name-agent-1.log" "$WORK/$name-agent-2.log" &&
        wait_until "$name: brain S3 port" 10 listening "$port" ||
        { log_tail "$name-brain" "$name-agent-1" "$name-agent-2"; return 1; }
}
registered() {  # COUNT LOG...: COUNT agent registrations in the logs together (agents dialing, or `sos server`'s in-process ones)
    local count=$1; shift
    [ "$(cat "$@" | grep -cE "registered with the brain|peer=in-process")" -ge "$count" ]
}

# bench KEY ENDPOINT WORKLOAD CONCURRENCY SIZE [sos bench options]: records KEY_ops, KEY_p99, KEY_mbs
bench() {
    local key=$1 endpoint=$2 workload=$3 concurrency=$4 size=$5; shift 5
    log "$key: sos bench $workload, $size, $concurrency connections, $endpoint"
    if "$SOS" bench "$workload" --endpoint "$endpoint" --size "$size" --concurrency "$concurrency" --quiet --json "$@" \
        > "$WORK/$key.json" 2> "$WORK/$key.err" && "${PY[@]}" bench-json "$WORK/$key.json" "$key" > "$WORK/$key.fig" 2>> "$WORK/$key.err"
    then
        cat "$WORK/$key.fig" >> "$FIG"
        sed 's/^/   /' "$WORK/$key.fig" >&2
    else
        note "$key failed: $(tail -n 2 "$WORK/$key.err" | tr '\n' ' ')"
    fi
}
small_objects() {  # PREFIX ENDPOINT [options]: 4 KiB GET at 32 connections, 4 KiB PUT at 64
    local prefix=$1 endpoint=$2; shift 2
    bench "${prefix}_get" "$endpoint" get 32 4KiB --duration "$SECONDS_EACH" --objects 1000 "$@"
    bench "${prefix}_put" "$endpoint" put 64 4KiB --duration "$SECONDS_EACH" "$@"
}
big_object() {  # PREFIX ENDPOINT [options]: one 1 GiB object at a time, PUT then GET
    local prefix=$1 endpoint=$2; shift 2
    [ "$QUICK" = 1 ] && return 0
    bench "${prefix}_put1g" "$endpoint" put 1 1GiB --duration "$SECONDS_EACH" "$@"
    bench "${prefix}_get1g" "$endpoint" get 1 1GiB --duration "$SECONDS_EACH" --objects 1 "$@"
}
