"""`sos bench` against a real `sos server`: the smoke CI runs (no figure is asserted)."""
import json
import os
import subprocess

import boto3
from botocore.config import Config

from harness import ROOT_ACCESS_KEY, ROOT_SECRET_KEY, SOS_BIN, free_port, port_open, wait_for


def bench(endpoint, *args, env=None):
    result = subprocess.run([SOS_BIN, "bench", *args, "--endpoint", endpoint, "--json"],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["total"]["ops"] > 0 and report["total"]["errors"] == 0, report
    assert report["first_error"] is None
    for field in ("ops_per_second", "mb_per_second", "latency_ms"):
        assert field in report["total"]
    assert set(report["total"]["latency_ms"]) == {"mean", "p50", "p90", "p99", "p99_9", "max"}
    return report


def test_bench_put_and_get_against_sos_server(tmp_path):
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = (tmp_path / "server.log").open("ab")
    server = subprocess.Popen([SOS_BIN, "server", "--directory", str(tmp_path / "data"), "--s3-address", f"127.0.0.1:{port}", "--console-address", "127.0.0.1:0"],
                              stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_for(lambda: port_open(port), what="sos server")
        wait_for(lambda: (tmp_path / "server.log").read_text().count("peer=in-process") >= 2, what="both agents")
        put = bench(endpoint, "put", "--duration", "5", "--concurrency", "8", "--size", "4KiB")
        assert put["workload"] == "put" and put["total"]["bytes"] == put["total"]["ops"] * 4096
        get = bench(endpoint, "get", "--duration", "5", "--concurrency", "8", "--size", "1KiB..8KiB", "--objects", "200")
        assert [op["operation"] for op in get["operations"]] == ["get"]
        # Signed requests, a fixed operation count, the mixed and multipart workloads.
        signed = dict(os.environ, AWS_ACCESS_KEY_ID=ROOT_ACCESS_KEY, AWS_SECRET_ACCESS_KEY=ROOT_SECRET_KEY)
        bench(endpoint, "mixed", "--operations", "200", "--objects", "50", "--concurrency", "4", env=signed)
        multipart = bench(endpoint, "multipart", "--operations", "2", "--size", "11MiB", "--part-size", "5MiB")
        assert multipart["total"]["ops"] == 2
        # Every run removed its bucket and objects.
        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ROOT_ACCESS_KEY, aws_secret_access_key=ROOT_SECRET_KEY,
                          region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
        assert s3.list_buckets()["Buckets"] == []
    finally:
        server.terminate()
        assert server.wait(timeout=15) == 0


def test_bench_refuses_single_bodies_of_4_gib_or_more_with_a_clear_message():
    # Refused before any connection: no server needed.
    result = subprocess.run([SOS_BIN, "bench", "put", "--endpoint", "http://127.0.0.1:9", "--size", "5GiB"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "--size must be under 4GiB" in result.stderr, result.stderr


def test_baseline_report_flags_a_figure_above_its_ceiling(tmp_path):
    """A ceiling (loopback TCP, nginx, the slowest of TCP, disk and MD5) measured below SOS's own figure makes its ratios overstate SOS:
    the report says so, in its notes and in the JSON, and leaves figures under their ceilings alone."""
    figures = tmp_path / "figures"
    figures.write_text("tcp_mbs 1000\nnginx_get1g_mbs 2000\nserver_get1g_mbs 1500\ncluster_get1g_mbs 800\n"
                       "nginx_get_ops 30000\nserver_get_ops 20000\n"
                       "disk_mbs 400\nmd5_mbs 700\nserver_put1g_mbs 450\ncluster_put1g_mbs 390\n")
    output = tmp_path / "report.json"
    script = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "baseline.py")
    result = subprocess.run(["python3", script, "report", str(figures), str(output)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    flagged = {row["name"] for row in json.loads(output.read_text()) if row["above_ceiling"]}
    assert flagged == {"sos server 1 GiB GET MB/s / loopback TCP", "sos server 1 GiB PUT MB/s / min(TCP, disk, MD5)"}
    notes = [line for line in result.stdout.splitlines() if line.startswith("note:")]
    assert len(notes) == 2, notes
    assert any("sos server 1 GiB GET MB/s / loopback TCP" in n and "1,500 > 1,000" in n for n in notes), notes
    assert any("sos server 1 GiB PUT MB/s / min(TCP, disk, MD5)" in n and "450 > 400" in n for n in notes), notes
