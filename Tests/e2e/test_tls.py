"""TLS end to end: S3 over HTTPS and the cluster port over TLS, with a CA made by the test, driven by
boto3, aws-cli, s3cmd, rclone and curl (which send aws-chunked bodies with trailing checksums over
HTTPS), agents and `sos admin` verifying the brain's certificate, and a certificate replaced on SIGHUP."""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import json
import urllib.request

import boto3
import pytest
from botocore.config import Config

from harness import COOKIE, ROOT_ACCESS_KEY, ROOT_SECRET_KEY, SOS_BIN, Cluster, wait_for

MiB = 1 << 20


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(directory):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key",
            "-out", "ca.pem", "-days", "2", "-subj", "/CN=SOS test CA", cwd=directory)
    return directory / "ca.pem"


def make_certificate(directory, name, common_name="127.0.0.1"):
    """A server certificate for 127.0.0.1 and localhost signed by the test CA; returns (cert, key)."""
    (directory / f"{name}.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", "-subj", f"/CN={common_name}", cwd=directory)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=directory)
    (directory / f"{name}.key").chmod(0o600)
    return directory / f"{name}.pem", directory / f"{name}.key"


def peer_certificate(port, ca):
    context = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return tls.getpeercert()


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("tls")
    pki = root / "pki"
    pki.mkdir()
    ca = make_ca(pki)
    cert, key = make_certificate(pki, "brain")
    (root / "cluster").mkdir()
    c = Cluster(root / "cluster", agents=2)
    c.brain.args += ["--tls-certificate", str(cert), "--tls-key", str(key),
                     "--cluster-tls-certificate", str(cert), "--cluster-tls-key", str(key)]
    for agent in c.agents:
        agent.args += ["--tls-ca", str(ca)]
    c.endpoint = f"https://127.0.0.1:{c.s3_port}"
    c.start()
    c.ca, c.pki, c.cert, c.key = ca, pki, cert, key
    yield c
    c.stop()


def https_client(cluster):
    return boto3.client(
        "s3", endpoint_url=cluster.endpoint, aws_access_key_id=ROOT_ACCESS_KEY, aws_secret_access_key=ROOT_SECRET_KEY,
        region_name="us-east-1", verify=str(cluster.ca),
        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))


def test_boto3_over_https_sends_aws_chunked_bodies_with_trailing_checksums(tls_cluster):
    s3 = https_client(tls_cluster)
    s3.create_bucket(Bucket="secure")
    small, large = os.urandom(100_000), os.urandom(12 * MiB)
    s3.put_object(Bucket="secure", Key="small", Body=small)
    s3.upload_fileobj(__import__("io").BytesIO(large), "secure", "large")  # multipart, 8 MiB parts
    got = s3.get_object(Bucket="secure", Key="small", ChecksumMode="ENABLED")
    # The CRC32 came in the aws-chunked trailer (botocore's default over HTTPS) and was checked.
    assert got["Body"].read() == small and got.get("ChecksumCRC32")
    assert s3.get_object(Bucket="secure", Key="large")["Body"].read() == large
    # Plain HTTP on the HTTPS port gets nothing useful.
    with pytest.raises(Exception):
        boto3.client("s3", endpoint_url=f"http://127.0.0.1:{tls_cluster.s3_port}", aws_access_key_id=ROOT_ACCESS_KEY,
                     aws_secret_access_key=ROOT_SECRET_KEY, region_name="us-east-1",
                     config=Config(retries={"max_attempts": 1}, connect_timeout=3, read_timeout=3)).list_buckets()


def test_aws_cli_s3cmd_rclone_and_curl_over_https(tls_cluster, tmp_path):
    c = tls_cluster
    s3 = https_client(c)
    s3.create_bucket(Bucket="tools")
    body = tmp_path / "body.bin"
    body.write_bytes(os.urandom(9 * MiB))
    cli = c.aws("--ca-bundle", str(c.ca), "s3", "cp", str(body), "s3://tools/cli.bin")
    assert cli.returncode == 0
    c.aws("--ca-bundle", str(c.ca), "s3", "cp", "s3://tools/cli.bin", str(tmp_path / "cli.out"))
    assert (tmp_path / "cli.out").read_bytes() == body.read_bytes()

    if shutil.which("s3cmd") is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "s3cmd"], check=True)
    config = tmp_path / "s3cfg"
    config.write_text(
        f"[default]\naccess_key = {ROOT_ACCESS_KEY}\nsecret_key = {ROOT_SECRET_KEY}\nhost_base = 127.0.0.1:{c.s3_port}\n"
        f"host_bucket = 127.0.0.1:{c.s3_port}\nuse_https = True\nca_certs_file = {c.ca}\ncheck_ssl_certificate = True\n")
    result = subprocess.run(["s3cmd", "-c", str(config), "put", str(body), "s3://tools/s3cmd.bin"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert s3.head_object(Bucket="tools", Key="s3cmd.bin")["ContentLength"] == 9 * MiB

    if shutil.which("rclone") is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "rclone"], check=True)
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    env.update(RCLONE_CONFIG_SOS_TYPE="s3", RCLONE_CONFIG_SOS_PROVIDER="Other", RCLONE_CONFIG_SOS_ENDPOINT=c.endpoint,
               RCLONE_CONFIG_SOS_ACCESS_KEY_ID=ROOT_ACCESS_KEY, RCLONE_CONFIG_SOS_SECRET_ACCESS_KEY=ROOT_SECRET_KEY,
               RCLONE_CONFIG_SOS_REGION="us-east-1")
    result = subprocess.run(["rclone", "--ca-cert", str(c.ca), "copyto", str(body), "sos:tools/rclone.bin"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    result = subprocess.run(["rclone", "--ca-cert", str(c.ca), "cat", "sos:tools/rclone.bin"],
                            capture_output=True, env=env, timeout=120)
    assert result.returncode == 0 and result.stdout == body.read_bytes()

    url = s3.generate_presigned_url("get_object", Params={"Bucket": "tools", "Key": "cli.bin"}, ExpiresIn=300)
    fetched = subprocess.run(["curl", "-s", "-f", "--cacert", str(c.ca), url], capture_output=True, timeout=60)
    assert fetched.returncode == 0 and fetched.stdout == body.read_bytes()
    unverified = subprocess.run(["curl", "-s", "-f", "--cacert", "/dev/null", url], capture_output=True, timeout=60)
    assert unverified.returncode != 0


def admin_over(cluster, *args):
    return subprocess.run(
        [SOS_BIN, "admin", "--brain", f"127.0.0.1:{cluster.cluster_port}", "--cookie", COOKIE, *args, "status"],
        capture_output=True, text=True, timeout=30)


def test_the_cluster_port_speaks_tls_and_agents_and_admin_verify_it(tls_cluster, tmp_path):
    c = tls_cluster
    ok = admin_over(c, "--tls-ca", str(c.ca))
    assert ok.returncode == 0 and "agent-1" in ok.stdout and "up" in ok.stdout, ok.stderr
    assert admin_over(c).returncode != 0  # no TLS: the brain does not answer in clear
    other_ca = make_ca(tmp_path)
    assert admin_over(c, "--tls-ca", str(other_ca)).returncode != 0  # a brain this CA did not sign
    # An agent that does not trust the brain's certificate never registers; one that does, does.
    doubting = subprocess.Popen(
        [SOS_BIN, "storage-agent", "--brain", f"127.0.0.1:{c.cluster_port}", "--client-id", "doubter",
         "--directory", str(tmp_path / "doubter"), "--tls-ca", str(other_ca)],
        stdout=(tmp_path / "doubter.log").open("wb"), stderr=subprocess.STDOUT, env=dict(os.environ, SOS_COOKIE=COOKIE))
    try:
        wait_for(lambda: (tmp_path / "doubter.log").read_text().count("brain") >= 1, what="the doubting agent to try")
        assert "registered with the brain" not in (tmp_path / "doubter.log").read_text()
        assert "doubter" not in admin_over(c, "--tls-ca", str(c.ca)).stdout
    finally:
        doubting.terminate()
        doubting.wait(timeout=15)


def test_sighup_replaces_the_certificate_without_dropping_the_store(tls_cluster):
    c = tls_cluster
    s3 = https_client(c)
    s3.create_bucket(Bucket="renewed")
    s3.put_object(Bucket="renewed", Key="k", Body=b"kept")
    before = peer_certificate(c.s3_port, c.ca)
    renewed_cert, renewed_key = make_certificate(c.pki, "renewed", common_name="renewed.sos.test")
    shutil.copyfile(renewed_cert, c.cert)
    shutil.copyfile(renewed_key, c.key)
    c.brain.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: peer_certificate(c.s3_port, c.ca)["subject"] != before["subject"], what="the renewed certificate")
    assert dict(x[0] for x in peer_certificate(c.s3_port, c.ca)["subject"])["commonName"] == "renewed.sos.test"
    assert s3.get_object(Bucket="renewed", Key="k")["Body"].read() == b"kept"
    assert c.brain.proc.poll() is None
    ok = admin_over(c, "--tls-ca", str(c.ca))
    assert ok.returncode == 0 and "agent-2" in ok.stdout


def test_the_console_speaks_tls_when_the_s3_port_does(tls_cluster):
    """The console address serves over HTTPS with the S3 certificate; its session cookie is Secure and
    its share links point at the S3 port over https."""
    port = tls_cluster.console_port
    assert peer_certificate(port, tls_cluster.ca)["subject"]
    context = ssl.create_default_context(cafile=str(tls_cluster.ca))
    base = f"https://127.0.0.1:{port}"
    with urllib.request.urlopen(f"{base}/health/live", context=context, timeout=10) as response:
        assert response.status == 200
    sign_in = urllib.request.Request(
        f"{base}/api/session", method="POST", headers={"X-SOS-Console": "1"},
        data=json.dumps({"accessKey": ROOT_ACCESS_KEY, "secretKey": ROOT_SECRET_KEY}).encode())
    with urllib.request.urlopen(sign_in, context=context, timeout=10) as response:
        cookie = response.headers["Set-Cookie"]
    assert "; Secure" in cookie and "HttpOnly" in cookie
    https_client(tls_cluster).create_bucket(Bucket="console-tls")
    https_client(tls_cluster).put_object(Bucket="console-tls", Key="k", Body=b"over tls")
    presign = urllib.request.Request(
        f"{base}/api/presign", method="POST", headers={"X-SOS-Console": "1", "Cookie": cookie.split(";")[0]},
        data=json.dumps({"bucket": "console-tls", "key": "k", "expiresSeconds": 60}).encode())
    with urllib.request.urlopen(presign, context=context, timeout=10) as response:
        url = json.loads(response.read())["url"]
    assert url.startswith(f"https://127.0.0.1:{tls_cluster.s3_port}/console-tls/k?")
    with urllib.request.urlopen(url, context=context, timeout=10) as response:
        assert response.read() == b"over tls"
