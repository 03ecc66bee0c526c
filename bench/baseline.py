#!/usr/bin/env python3
"""Helpers for bench/baseline.sh (standard library only).

  baseline.py free-port                      a free TCP port on 127.0.0.1
  baseline.py listening PORT                 exit 0 when something listens on PORT (reads /proc/net/tcp*, no connection)
  baseline.py bench-json FILE KEY            `sos bench --json` output -> "KEY_ops N", "KEY_p99 MS", "KEY_mbs MB/s" lines
  baseline.py iperf-json FILE KEY            iperf3 -J output -> "KEY MB/s" (bytes received, 10^6 B/s)
  baseline.py disk DIR BYTES KEY             sequential 1 MiB writes of BYTES into DIR, then one fdatasync -> "KEY MB/s"
  baseline.py relay PORT TARGET_PORT         forwards every connection to PORT on to TARGET_PORT (both ways) until killed
  baseline.py rss-big ENDPOINT BYTES NAME=PID...
                                             one PUT then one GET of BYTES; "put_NAME MiB", "get_NAME MiB" (peak RSS)
  baseline.py report FIGURES OUTPUT          table on stdout, JSON array to OUTPUT
"""
import json
import os
import socket
import statistics
import sys
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def listening(port):
    want = f"{int(port):04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[1].rsplit(":", 1)[1] == want and fields[3] == "0A":  # 0A: LISTEN
                sys.exit(0)
    sys.exit(1)


def bench_json(path, key):
    try:
        report = json.load(open(path))
    except (OSError, ValueError) as error:
        sys.exit(f"{key}: no JSON from sos bench ({error})")
    total = report["total"]
    if total["errors"] or not total["ops"]:
        sys.exit(f"{key}: {total['errors']} errors, {total['ops']} operations; first error: {report['first_error']}")
    print(f"{key}_ops {total['ops_per_second']:.3f}")
    print(f"{key}_p99 {total['latency_ms']['p99']:.3f}")
    print(f"{key}_mbs {total['mb_per_second']:.3f}")


def iperf_json(path, key):
    report = json.load(open(path))
    if "error" in report:
        sys.exit(f"{key}: iperf3: {report['error']}")
    print(f"{key} {report['end']['sum_received']['bits_per_second'] / 8e6:.3f}")


def relay(port, target_port):
    """A userspace relay, the shape of a cluster GET's middle hop (agent -> brain -> client): every
    byte is received into this process and sent on, 1 MiB at a time."""
    server = socket.create_server(("127.0.0.1", int(port)))

    def pump(source, sink):
        buffer = bytearray(1 << 20)
        view = memoryview(buffer)
        try:
            while (n := source.recv_into(buffer)) > 0:
                sink.sendall(view[:n])
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    while True:
        client, _ = server.accept()
        upstream = socket.create_connection(("127.0.0.1", int(target_port)))
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()


def disk(directory, size, key):
    size, block = int(size), os.urandom(1 << 20)
    path = os.path.join(directory, "disk-write-test")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        start = time.perf_counter()
        written = 0
        while written < size:
            written += os.write(fd, block)
        os.fdatasync(fd)
        seconds = time.perf_counter() - start
    finally:
        os.close(fd)
        os.unlink(path)
    print(f"{key} {written / seconds / 1e6:.3f}")


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reset_hwm(pid):
    """Writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0+)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def rss_big(endpoint, size, names_pids):
    """PUT one object of SIZE bytes (one request, Content-Length framed, through a presigned URL made with
    SOS_ROOT_ACCESS_KEY/SOS_ROOT_SECRET_KEY), then GET it back; the peak RSS (VmHWM, reset before each phase)
    of each PID in each phase. `sos bench` cannot do this: its payload is one NIO ByteBuffer, which holds
    less than 4 GiB."""
    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    import http.client
    import urllib.parse
    size = int(size)
    pids = dict(a.split("=", 1) for a in names_pids)
    url = urllib.parse.urlsplit(endpoint)
    bucket, key = f"sos-baseline-{os.getpid()}", "big"
    block = os.urandom(1 << 20)

    credentials = Credentials(os.environ["SOS_ROOT_ACCESS_KEY"], os.environ["SOS_ROOT_SECRET_KEY"])

    def request(method, path, body_size=0):
        presigned = AWSRequest(method=method, url=endpoint + path)
        S3SigV4QueryAuth(credentials, "s3", "us-east-1", expires=3600).add_auth(presigned)
        signed = urllib.parse.urlsplit(presigned.url)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
        conn.putrequest(method, f"{signed.path}?{signed.query}")
        conn.putheader("Content-Length", str(body_size))
        conn.endheaders()
        sent = 0
        while sent < body_size:
            chunk = block[:min(len(block), body_size - sent)]
            conn.send(chunk)
            sent += len(chunk)
        response = conn.getresponse()
        received = 0
        while True:
            data = response.read(1 << 20)
            if not data:
                break
            received += len(data)
        conn.close()
        if response.status >= 300:
            sys.exit(f"rss-big: {method} {path}: HTTP {response.status}")
        return received

    samples = {}
    done = threading.Event()

    def sample():  # a fallback in case VmHWM cannot be reset
        while not done.is_set():
            for name, pid in pids.items():
                try:
                    samples[name] = max(samples.get(name, 0), status_kib(pid, "VmRSS"))
                except OSError:
                    pass
            time.sleep(0.01)

    def phase(label, run):
        nonlocal samples
        before = ", ".join(f"{name} {status_kib(pid, 'VmRSS') / 1024:.1f} MiB" for name, pid in pids.items())
        print(f"note RSS before the 5 GiB {label.upper()}: {before}")
        resettable = all(reset_hwm(pid) for pid in pids.values())
        samples = {}
        done.clear()
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = time.perf_counter()
        moved = run()
        if moved != size:
            sys.exit(f"rss-big: {label} moved {moved} bytes, expected {size}")
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
        for name, pid in pids.items():
            peak = max(samples.get(name, 0), status_kib(pid, "VmHWM") if resettable else 0)
            print(f"{label}_{name} {peak / 1024:.1f}")
        print(f"{label}_mbs {moved / seconds / 1e6:.3f}")
        if not resettable:
            print(f"note peak RSS during the {label}: VmRSS sampled every 10 ms (VmHWM could not be reset)")

    request("PUT", f"/{bucket}")
    try:
        phase("put", lambda: request("PUT", f"/{bucket}/{key}", size) or size)
        phase("get", lambda: request("GET", f"/{bucket}/{key}"))
    finally:
        request("DELETE", f"/{bucket}/{key}")
        request("DELETE", f"/{bucket}")


# --- the report -----------------------------------------------------------------------------------------------

def rows(fig):
    """(name, value key, unit, baseline key or value, target, better) for every figure."""
    parts = [fig.get(k) for k in ("tcp_mbs", "disk_mbs", "md5_mbs")]
    if all(p is not None for p in parts):
        fig["put1g_ceiling_mbs"] = min(parts)  # the slowest of the three bounds a durable 1 GiB PUT
    out = [
        # baselines on their own
        ("nginx 4 KiB GET ops/s @32", "nginx_get_ops", "ops/s", None, None, "higher"),
        ("nginx 4 KiB GET p99 ms @32", "nginx_get_p99", "ms", None, None, "lower"),
        ("nginx 4 KiB PUT ops/s @64", "nginx_put_ops", "ops/s", None, None, "higher"),
        ("nginx 1 GiB PUT MB/s, 1 stream (load tool ceiling)", "nginx_put1g_mbs", "MB/s", None, None, "higher"),
        ("nginx 1 GiB GET MB/s, 1 stream (load tool ceiling)", "nginx_get1g_mbs", "MB/s", None, None, "higher"),
        ("loopback TCP MB/s (iperf3, 1 stream)", "tcp_mbs", "MB/s", None, None, "higher"),
        ("loopback TCP MB/s through a relay (two hops)", "tcp_relay_mbs", "MB/s", None, None, "higher"),
        ("disk write + fdatasync MB/s (1 MiB blocks)", "disk_mbs", "MB/s", None, None, "higher"),
        ("MD5 MB/s, one core (openssl speed)", "md5_mbs", "MB/s", None, None, "higher"),
        ("moto 4 KiB GET ops/s @32", "moto_get_ops", "ops/s", None, None, "higher"),
        ("moto 4 KiB GET p99 ms @32", "moto_get_p99", "ms", None, None, "lower"),
        ("moto 4 KiB PUT ops/s @64", "moto_put_ops", "ops/s", None, None, "higher"),
        ("RGW 4 KiB GET ops/s @32", "rgw_get_ops", "ops/s", None, None, "higher"),
        ("RGW 4 KiB GET p99 ms @32", "rgw_get_p99", "ms", None, None, "lower"),
        ("RGW 4 KiB PUT ops/s @64", "rgw_put_ops", "ops/s", None, None, "higher"),
        ("RGW 1 GiB PUT MB/s, 1 stream", "rgw_put1g_mbs", "MB/s", None, None, "higher"),
    ]
    for sys_key, label, get_target, put_target in (("server", "sos server", 0.4, 0.25), ("cluster", "brain+2 agents", 0.25, 0.15)):
        out += [
            (f"{label} 4 KiB GET ops/s @32 / nginx", f"{sys_key}_get_ops", "ops/s", "nginx_get_ops", get_target, "higher"),
            (f"{label} 4 KiB GET p99 ms @32 / nginx", f"{sys_key}_get_p99", "ms", "nginx_get_p99", 2, "lower"),
            (f"{label} 4 KiB PUT ops/s @64 / nginx", f"{sys_key}_put_ops", "ops/s", "nginx_put_ops", put_target, "higher"),
            (f"{label} 4 KiB PUT ops/s @64 / RGW", f"{sys_key}_put_ops", "ops/s", "rgw_put_ops", 10, "higher"),
            (f"{label} 4 KiB GET ops/s @32 / moto", f"{sys_key}_get_ops", "ops/s", "moto_get_ops", None, "higher"),
            (f"{label} 4 KiB PUT ops/s @64 / moto", f"{sys_key}_put_ops", "ops/s", "moto_put_ops", None, "higher"),
            (f"{label} 1 GiB PUT MB/s / min(TCP, disk, MD5)", f"{sys_key}_put1g_mbs", "MB/s", "put1g_ceiling_mbs", 0.5, "higher"),
            (f"{label} 1 GiB PUT MB/s / RGW", f"{sys_key}_put1g_mbs", "MB/s", "rgw_put1g_mbs", 1, "higher"),
            (f"{label} 1 GiB GET MB/s / loopback TCP", f"{sys_key}_get1g_mbs", "MB/s", "tcp_mbs", 0.5, "higher"),
            (f"{label} 1 GiB GET MB/s / nginx (load tool ceiling)", f"{sys_key}_get1g_mbs", "MB/s", "nginx_get1g_mbs", None, "higher"),
            (f"{label} 1 GiB GET MB/s / TCP through a relay", f"{sys_key}_get1g_mbs", "MB/s", "tcp_relay_mbs", None, "higher"),
        ]
    for phase in ("put", "get"):
        for name in ("brain", "agent-1", "agent-2"):
            out.append((f"{name} peak RSS MiB, 5 GiB {phase.upper()}", f"rss_{phase}_{name}", "MiB", None, 256, "lower"))
    return out


# Baselines that stand for a ceiling of the machine or the load tool: SOS cannot truly pass them, so
# an SOS figure above one means the ceiling was measured low in that run (the shared cores were busy).
CEILINGS = {"nginx_get_ops", "nginx_put_ops", "nginx_get1g_mbs", "tcp_mbs", "tcp_relay_mbs", "put1g_ceiling_mbs"}


def report(figures_path, output):
    fig, notes = {}, []
    for line in open(figures_path):
        key, _, value = line.strip().partition(" ")
        if key == "note":
            notes.append(value)
        elif key:
            fig[key] = float(value)
    result = []
    for name, key, unit, base, target, better in rows(fig):
        value = fig.get(key)
        baseline = fig.get(base) if isinstance(base, str) else base
        ratio = value / baseline if value is not None and baseline else None
        compared = ratio if base is not None else value
        met = None
        if target is not None and compared is not None:
            met = compared >= target if better == "higher" else compared <= target
        above_ceiling = base in CEILINGS and ratio is not None and ratio > 1
        if above_ceiling:
            notes.append(f"{name}: SOS above a ceiling ({value:,.0f} > {baseline:,.0f}); the ceiling was measured low "
                         "in this run, so ratios against it overstate SOS")
        result.append({"name": name, "value": value, "unit": unit, "baseline": baseline, "ratio": ratio,
                       "target": target, "better": better, "met": met, "above_ceiling": above_ceiling})
    json.dump(result, open(output, "w"), indent=1)

    def num(x):
        if x is None:
            return "-"
        return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}" if abs(x) < 1 else f"{x:.1f}"
    for title, section in (("baselines, measured in the same run", [r for r in result if r["target"] is None and r["baseline"] is None]),
                           ("SOS against the baselines", [r for r in result if r["target"] is not None or r["baseline"] is not None])):
        print(f"{title:56} {'SOS value' if 'SOS' in title else 'value':>11} {'baseline':>11} {'ratio':>7}  {'target':12} met")
        for r in section:
            target = "-" if r["target"] is None else (">= " if r["better"] == "higher" else "<= ") + f"{r['target']:g}" + (
                "x" if "/" in r["name"] else f" {r['unit']}")
            met = {True: "yes", False: "NO", None: "-"}[r["met"]]
            value = "skipped" if r["value"] is None else num(r["value"])
            print(f"  {r['name']:54} {value:>11} {num(r['baseline']):>11} {num(r['ratio']):>7}  {target:12} {met}")
    for note in notes:
        print(f"note: {note}")
    print(f"saved: {output}")


def ab_table(figures_path, title_a, title_b, *specs):
    """The table of an interleaved A/B script (auth-ab.sh, tls-ab.sh): each spec is
    LABEL|A_PREFIX|B_PREFIX|METRIC|TARGET over figures named PREFIX_ROUND_METRIC; prints each round's
    figures, their B/A ratios and the median ratio."""
    figures = {}
    for line in open(figures_path):
        parts = line.split()
        if len(parts) == 2 and parts[0] != "note":
            figures[parts[0]] = float(parts[1])

    def series(prefix, metric):
        return [v for k, v in sorted(figures.items()) if k.startswith(prefix + "_") and k.endswith("_" + metric)
                and k[len(prefix) + 1:-len(metric) - 1].isdigit()]

    print(f"\n{'figure':33s} {title_a:22s} {title_b:22s} {'B/A per round':19s} median")
    for spec in specs:
        label, a, b, metric, target = spec.split("|")
        xs, ys = series(a, metric), series(b, metric)
        if not xs or not ys:
            continue
        ratios = [y / x for x, y in zip(xs, ys)]
        print(f"{label:33s} {' '.join(f'{x:8.0f}' for x in xs):22s} {' '.join(f'{y:8.0f}' for y in ys):22s} "
              f"{' '.join(f'{r:5.3f}' for r in ratios):19s} {statistics.median(ratios):.3f} (target >= {target})")


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "free-port":
        free_port()
    elif command == "listening":
        listening(*args)
    elif command == "bench-json":
        bench_json(*args)
    elif command == "iperf-json":
        iperf_json(*args)
    elif command == "disk":
        disk(*args)
    elif command == "relay":
        relay(*args)
    elif command == "rss-big":
        rss_big(args[0], args[1], args[2:])
    elif command == "report":
        report(*args)
    elif command == "ab-table":
        ab_table(*args)
    else:
        sys.exit(f"unknown command {command}")
