"""Starts real `sos` processes on loopback with free ports and temporary directories.

Every end-to-end test drives these processes with real clients (aws-cli, boto3); nothing is mocked.
"""
import json
import os
import pathlib
import signal
import socket
import subprocess
import time

import boto3
from botocore.config import Config

REPO = pathlib.Path(__file__).resolve().parents[2]
SOS_BIN = os.environ.get("SOS_BIN", str(REPO / ".build" / "debug" / "sos"))
COOKIE = "e2e-cookie"


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
            "--cluster-address", f"127.0.0.1:{self.cluster_port}",
            "--directory", str(self.root / "brain"), "--cookie", COOKIE, "--chunk-size", chunk_size,
        ], self.root)
        self.agents = [
            Process(f"agent-{i}", [
                "storage-agent", "--brain", f"127.0.0.1:{self.cluster_port}", "--client-id", f"agent-{i}",
                "--directory", str(self.root / f"agent-{i}"), "--segment-size", segment_size,
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

    def agent_dir(self, agent):
        return self.root / agent.name

    def boto3(self):
        return boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id="test", aws_secret_access_key="test",
            region_name="us-east-1", config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))

    def aws(self, *args, check=True):
        env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                   AWS_DEFAULT_REGION="us-east-1", AWS_MAX_ATTEMPTS="1")
        result = subprocess.run(["aws", "--endpoint-url", self.endpoint, *args],
                                capture_output=True, text=True, env=env, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed: {result.stderr}")
        return result
