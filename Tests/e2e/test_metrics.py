"""Operations: Prometheus metrics, health endpoints and the S3 request log, on real `sos` processes.

The brain serves /metrics, /health/live and /health/ready on its console address, each agent on its
metrics address (see docs/operations.md, whose metric table is checked against what is served)."""
import pathlib
import re
import subprocess
import urllib.error
import urllib.request

from harness import (COOKIE, ROOT_ACCESS_KEY, ROOT_SECRET_KEY, SOS_BIN, Cluster, free_port, port_open, wait_for)

REPO = pathlib.Path(__file__).resolve().parents[2]
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')


def get(port, path, token=None):
    """(status, body text) of GET http://127.0.0.1:PORT/PATH."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def scrape(port, token=None):
    """{(name, ((label, value), ...)): value} of a /metrics page, checked to be well-formed."""
    status, text = get(port, "/metrics", token)
    assert status == 200, text
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample line: {line!r}"
        name, labels, value = match.groups()
        pairs = tuple(sorted(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels or "")))
        samples[(name, pairs)] = float(value)
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def names(samples):
    return {name for name, _ in samples}


def family(name):
    """A histogram's samples are NAME_bucket, NAME_sum, NAME_count."""
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def documented_metrics():
    """The metric names docs/operations.md's tables list (first column, in backticks)."""
    text = (REPO / "docs" / "operations.md").read_text()
    return set(re.findall(r"^\| `(sos_[a-z0-9_]+)`", text, re.MULTILINE))


def test_requests_are_counted_by_operation_and_status(tmp_path):
    with_cluster = Cluster(tmp_path, agents=1)
    with_cluster.start()
    try:
        s3 = with_cluster.boto3()
        s3.create_bucket(Bucket="metrics")
        for i in range(3):
            s3.put_object(Bucket="metrics", Key=f"k{i}", Body=b"x" * 1000)
        assert s3.get_object(Bucket="metrics", Key="k0")["Body"].read() == b"x" * 1000
        try:
            s3.get_object(Bucket="metrics", Key="missing")
            raise AssertionError("a missing key was served")
        except s3.exceptions.NoSuchKey:
            pass
        # The request is counted once its response has been written: poll, do not hope.
        port = with_cluster.console_port
        wait_for(lambda: value(scrape(port), "sos_s3_requests_total", operation="GetObject", status="404") == 1,
                 what="the 404 GET counted")
        samples = scrape(port)
        assert value(samples, "sos_s3_requests_total", operation="PutObject", status="200") == 3
        assert value(samples, "sos_s3_requests_total", operation="CreateBucket", status="200") == 1
        assert value(samples, "sos_s3_requests_total", operation="GetObject", status="200") == 1
        assert value(samples, "sos_s3_request_duration_seconds_count", operation="PutObject") == 3
        assert value(samples, "sos_s3_request_duration_seconds_bucket", operation="PutObject", le="+Inf") == 3
        assert value(samples, "sos_s3_received_bytes_total") >= 3000
        assert value(samples, "sos_s3_sent_bytes_total") >= 1000
        assert ("sos_s3_open_connections", ()) in samples
        # Every PUT committed to the WAL, each commit a group commit of at least one append.
        assert value(samples, "sos_fsync_duration_seconds_count", file="wal") >= 4
        assert value(samples, "sos_group_commit_appends_count", file="wal") >= 1
        assert value(samples, "sos_agent_state", agent="agent-1", state="up") == 1
        assert value(samples, "sos_agent_state", agent="agent-1", state="down") == 0
        assert value(samples, "sos_agent_capacity_bytes", agent="agent-1") > 0
        assert value(samples, "sos_chunks_unavailable") == 0
        # The agent's own: its segment fsyncs and its store.
        agent = scrape(with_cluster.agents[0].listening_port("metrics"))
        assert value(agent, "sos_fsync_duration_seconds_count", file="segment") >= 3
        assert value(agent, "sos_store_chunks") >= 3
        assert value(agent, "sos_agent_registered") == 1
        assert value(agent, "sos_store_capacity_bytes") > value(agent, "sos_store_used_bytes") > 0
    finally:
        with_cluster.stop()


def test_documented_metrics_are_the_served_ones(tmp_path):
    """docs/operations.md lists every metric: each is served by the brain or an agent, none undocumented."""
    cluster = Cluster(tmp_path, agents=1)
    cluster.start()
    try:
        s3 = cluster.boto3()
        s3.create_bucket(Bucket="docs")
        s3.put_object(Bucket="docs", Key="k", Body=b"x")
        wait_for(lambda: value(scrape(cluster.console_port), "sos_s3_requests_total", operation="PutObject", status="200") == 1,
                 what="the PUT counted")
        served = {family(n) for n in names(scrape(cluster.console_port)) | names(scrape(cluster.agents[0].listening_port("metrics")))}
        served = {n for n in served if n.startswith("sos_")}
        documented = documented_metrics()
        assert len(documented) >= 30, "docs/operations.md lists too few metrics: is the table there?"
        assert served - documented == set(), "served but not documented"
        assert documented - served == set(), "documented but not served"
    finally:
        cluster.stop()


def test_health_ready_follows_the_agents_the_replication_needs(tmp_path):
    cluster = Cluster(tmp_path, agents=2)
    cluster.brain.args += ["--replication", "2"]
    cluster.brain.start()
    try:
        port = cluster.console_port
        wait_for(lambda: port_open(port), what="console port")
        assert get(port, "/health/live") == (200, "live\n")
        status, body = get(port, "/health/ready")
        assert status == 503 and "0 storage agent(s) up" in body and "needs 2" in body
        cluster.agents[0].start()
        wait_for(lambda: "1 storage agent(s) up" in get(port, "/health/ready")[1], what="one agent counted")
        assert get(port, "/health/ready")[0] == 503
        cluster.agents[1].start()
        wait_for(lambda: get(port, "/health/ready")[0] == 200, what="ready with both agents")
        # An agent's own readiness: registered with the brain.
        agent = cluster.agents[1]
        wait_for(lambda: get(agent.listening_port("metrics"), "/health/ready")[0] == 200, what="agent ready")
        cluster.agents[0].stop()
        wait_for(lambda: get(port, "/health/ready")[0] == 503, what="not ready once an agent is gone")
        assert get(port, "/health/live")[0] == 200
        # Without its brain an agent lives but is not ready.
        cluster.brain.stop()
        wait_for(lambda: get(agent.listening_port("metrics"), "/health/ready")[0] == 503, what="agent not ready without its brain")
        assert get(agent.listening_port("metrics"), "/health/live")[0] == 200
    finally:
        cluster.stop()


def test_metrics_token_and_metrics_off(tmp_path):
    cluster = Cluster(tmp_path, agents=1)
    cluster.brain.args += ["--metrics-token", "scrape-token-123"]
    cluster.agents[0].args += ["--metrics", "off"]
    cluster.start()
    try:
        port = cluster.console_port
        assert get(port, "/metrics")[0] == 401
        assert get(port, "/metrics", token="wrong")[0] == 401
        assert "sos_s3_open_connections" in get(port, "/metrics", token="scrape-token-123")[1]
        assert get(port, "/health/live")[0] == 200, "health needs no token"
        status, body = get(cluster.agents[0].listening_port("metrics"), "/metrics")
        assert status == 404 and "off" in body
        assert get(cluster.agents[0].listening_port("metrics"), "/health/ready")[0] == 200
        assert "scrape-token-123" not in cluster.brain.log()
    finally:
        cluster.stop()


def test_every_request_is_one_log_line_without_secrets(tmp_path):
    cluster = Cluster(tmp_path, agents=1)
    cluster.start()
    try:
        s3 = cluster.boto3()
        s3.create_bucket(Bucket="logged")
        put = s3.put_object(Bucket="logged", Key="dir/a b.txt", Body=b"hello")
        request_id = put["ResponseMetadata"]["RequestId"]
        s3.put_object(Bucket="logged", Key="evil\nforged line", Body=b"x")

        def line_of(rid):
            return next((line for line in cluster.brain.log().splitlines() if f"requestID={rid}" in line), None)

        wait_for(lambda: line_of(request_id) is not None, what="the PUT's log line")
        line = line_of(request_id)
        for field in ("operation=PutObject", "status=200", "bucket=\"logged\"", 'key="dir/a b.txt"',
                      f"accessKey={ROOT_ACCESS_KEY}", "bytesIn=", "bytesOut=0", "durationMs="):
            assert field in line, f"{field} not in {line}"
        wait_for(lambda: 'key="evil\\nforged line"' in cluster.brain.log(), what="the escaped key")
        log = cluster.brain.log()
        assert not any(l.startswith("forged line") for l in log.splitlines()), "a key forged a log line"
        assert ROOT_SECRET_KEY not in log and COOKIE not in log
    finally:
        cluster.stop()
    (tmp_path / "quiet").mkdir()
    quiet = Cluster(tmp_path / "quiet", agents=1)
    quiet.brain.args += ["--request-log", "off"]
    quiet.start()
    try:
        s3 = quiet.boto3()
        s3.create_bucket(Bucket="quiet")
        s3.put_object(Bucket="quiet", Key="k", Body=b"x")
        wait_for(lambda: value(scrape(quiet.console_port), "sos_s3_requests_total", operation="PutObject", status="200") == 1,
                 what="the PUT counted")
        assert "s3 request" not in quiet.brain.log()
    finally:
        quiet.stop()


def test_sos_server_serves_the_console_address(tmp_path):
    s3_port = free_port()
    log = tmp_path / "server.log"
    env = {"SOS_ROOT_ACCESS_KEY": ROOT_ACCESS_KEY, "SOS_ROOT_SECRET_KEY": ROOT_SECRET_KEY, "PATH": "/usr/bin:/bin"}
    server = subprocess.Popen(
        [SOS_BIN, "server", "--directory", str(tmp_path / "data"), "--s3-address", f"127.0.0.1:{s3_port}",
         "--console-address", "127.0.0.1:0"], stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)
    try:
        pattern = re.compile(r"port=(\d+) .*console listening")
        wait_for(lambda: pattern.search(log.read_text()), what="console port")
        console_port = int(pattern.search(log.read_text()).group(1))
        wait_for(lambda: get(console_port, "/health/ready")[0] == 200, what="both in-process agents up")
        samples = scrape(console_port)
        assert value(samples, "sos_agent_state", agent="agent-1", state="up") == 1
        assert value(samples, "sos_agent_state", agent="agent-2", state="up") == 1
    finally:
        server.terminate()
        server.wait(timeout=30)
