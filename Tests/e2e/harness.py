"""Starts real `sos` processes on loopback with free ports and temporary directories.

Every end-to-end test drives these processes with real clients (aws-cli, boto3); nothing is mocked.
"""
import datetime
import hashlib
import hmac
import json
import os
import urllib.parse
import pathlib
import re
import signal
import socket
import subprocess
import time

import boto3
from botocore.config import Config

REPO = pathlib.Path(__file__).resolve().parents[2]
SOS_BIN = os.environ.get("SOS_BIN", str(REPO / ".build" / "debug" / "sos"))
COOKIE = "e2e-cookie"
# The root key every `sos` process of the tests runs with (conftest.py puts it in the environment,
# as SOS_ROOT_* for the servers and AWS_* for the clients); tests sign with it like real clients.
ROOT_ACCESS_KEY = "SOSE2EROOTKEY"
ROOT_SECRET_KEY = "e2e-root-secret-key-0123456789"


def sigv4_headers(method, path, host, query="", headers=None, payload_hash="UNSIGNED-PAYLOAD",
                  access_key=ROOT_ACCESS_KEY, secret_key=ROOT_SECRET_KEY, when=None, region="us-east-1"):
    """The headers that sign a request with SigV4 (Authorization, X-Amz-Date, x-amz-content-sha256),
    for tests that write raw HTTP. Written from the AWS specification, apart from the server's code.
    `path` and `query` are as they go on the wire (already percent-encoded)."""
    when = when or datetime.datetime.now(datetime.timezone.utc)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    headers = {k.lower(): str(v) for k, v in (headers or {}).items()}
    payload_hash = headers.get("x-amz-content-sha256", payload_hash)
    host = headers.pop("host", host)
    headers.update({"host": host, "x-amz-date": amz_date, "x-amz-content-sha256": payload_hash})
    names = sorted(headers)
    pairs = sorted((urllib.parse.quote(urllib.parse.unquote(k), safe="-_.~"), urllib.parse.quote(urllib.parse.unquote(v), safe="-_.~"))
                   for k, _, v in (p.partition("=") for p in query.split("&") if p))
    canonical = "\n".join([
        method, urllib.parse.quote(urllib.parse.unquote(path), safe="/-_.~"), "&".join(f"{k}={v}" for k, v in pairs),
        "".join(f"{n}:{' '.join(headers[n].split())}\n" for n in names), ";".join(names), payload_hash])
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = signing_key(secret_key, amz_date[:8], region)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out = {k: v for k, v in headers.items() if k != "host"}
    out["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={';'.join(names)}, "
                            f"Signature={signature}")
    return out


def aws_chunked_signed(body, piece, auth_headers, secret_key=ROOT_SECRET_KEY, trailer=None, region="us-east-1"):
    """An aws-chunked body whose chunks (and trailer, if any) are signed, continuing the seed
    signature of `auth_headers` (from sigv4_headers with a STREAMING-AWS4-HMAC-SHA256-* payload hash)."""
    amz_date = auth_headers["x-amz-date"]
    previous = auth_headers["Authorization"].rsplit("Signature=", 1)[1]
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    key = signing_key(secret_key, amz_date[:8], region)
    empty = hashlib.sha256(b"").hexdigest()

    def sign(kind, last_line):
        return hmac.new(key, "\n".join([kind, amz_date, scope, previous, *last_line]).encode(), hashlib.sha256).hexdigest()

    out = b""
    for data in [body[i:i + piece] for i in range(0, len(body), piece)] + [b""]:
        previous = sign("AWS4-HMAC-SHA256-PAYLOAD", [empty, hashlib.sha256(data).hexdigest()])
        out += b"%x;chunk-signature=%s\r\n" % (len(data), previous.encode()) + data + (b"\r\n" if data else b"")
    if trailer is not None:
        name, value = trailer
        out += f"{name}:{value}\r\n".encode()
        signature = sign("AWS4-HMAC-SHA256-TRAILER", [hashlib.sha256(f"{name}:{value}\n".encode()).hexdigest()])
        out += f"x-amz-trailer-signature:{signature}\r\n".encode()
    return out + b"\r\n"


def signing_key(secret_key, date, region="us-east-1"):
    key = ("AWS4" + secret_key).encode()
    for part in (date, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def signed_head(method, path, host="127.0.0.1", headers=None, payload_hash="UNSIGNED-PAYLOAD"):
    """A raw HTTP/1.1 request head signed with the root key: `path` may carry a query."""
    path_only, _, query = path.partition("?")
    fields = sigv4_headers(method, path_only, host, query=query, headers=headers, payload_hash=payload_hash)
    return f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def peak_rss_bytes(pid):
    """VmHWM: the most resident memory the process ever had."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def admin(cluster, *args):
    """`sos admin` against the cluster's brain; returns its output."""
    result = subprocess.run(
        [SOS_BIN, "admin", "--brain", f"127.0.0.1:{cluster.cluster_port}", "--cookie", COOKIE, *args],
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout


def status(cluster):
    return json.loads(admin(cluster, "status", "--json"))


class Process:
    def __init__(self, name, args, workdir, env=None):
        self.name, self.args, self.workdir = name, args, workdir
        self.env = env
        self.starts = 0
        self.proc = None
        self.log_path = None

    def start(self):
        self.starts += 1
        self.log_path = self.workdir / f"{self.name}-{self.starts}.log"
        env = dict(os.environ, **(self.env or {}))
        self.proc = subprocess.Popen(
            [SOS_BIN, *self.args], stdout=self.log_path.open("wb"), stderr=subprocess.STDOUT, env=env)

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def listening_port(self, server):
        """The port this start's `server` (console, metrics) bound: they listen on port 0, so no other process can take theirs."""
        pattern = re.compile(rf"port=(\d+) .*\b{server} listening")
        wait_for(lambda: pattern.search(self.log()), what=f"{self.name}'s {server} port")
        return int(pattern.search(self.log()).group(1))

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None


class Cluster:
    """A brain and N storage agents, each its own `sos` process."""

    def __init__(self, root, agents=2, chunk_size="1MiB", segment_size="4MiB"):
        self.root = pathlib.Path(root)
        self.s3_port, self.cluster_port = free_port(), free_port()
        self.brain = Process("brain", [
            "brain", "--s3-address", f"127.0.0.1:{self.s3_port}",
            "--cluster-address", f"127.0.0.1:{self.cluster_port}", "--console-address", "127.0.0.1:0",
            "--directory", str(self.root / "brain"), "--cookie", COOKIE, "--chunk-size", chunk_size,
        ], self.root)
        self.agents = [
            Process(f"agent-{i}", [
                "storage-agent", "--brain", f"127.0.0.1:{self.cluster_port}", "--client-id", f"agent-{i}",
                "--directory", str(self.root / f"agent-{i}"), "--segment-size", segment_size,
                "--metrics-address", "127.0.0.1:0",
            ], self.root, env={"SOS_COOKIE": COOKIE})
            for i in range(1, agents + 1)
        ]
        self.endpoint = f"http://127.0.0.1:{self.s3_port}"

    def start(self):
        self.brain.start()
        wait_for(lambda: port_open(self.s3_port), what="brain S3 port")
        for agent in self.agents:
            agent.start()
        for agent in self.agents:
            wait_for(lambda: "registered with the brain" in agent.log(), what=f"{agent.name} registration")
        return self

    def stop(self):
        for agent in self.agents:
            agent.stop()
        self.brain.stop()

    def restart(self):
        self.stop()
        self.start()

    @property
    def console_port(self):
        return self.brain.listening_port("console")

    def agent_dir(self, agent):
        return self.root / agent.name

    def boto3(self):
        return boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=ROOT_ACCESS_KEY, aws_secret_access_key=ROOT_SECRET_KEY,
            region_name="us-east-1", config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))

    def aws(self, *args, check=True):
        env = dict(os.environ, AWS_ACCESS_KEY_ID=ROOT_ACCESS_KEY, AWS_SECRET_ACCESS_KEY=ROOT_SECRET_KEY,
                   AWS_DEFAULT_REGION="us-east-1", AWS_MAX_ATTEMPTS="1")
        result = subprocess.run(["aws", "--endpoint-url", self.endpoint, *args],
                                capture_output=True, text=True, env=env, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed: {result.stderr}")
        return result
