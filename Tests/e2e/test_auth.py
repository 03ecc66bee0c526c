"""Authentication end to end: real `sos` processes, requests signed as real clients sign them
(boto3, aws-cli, curl with presigned URLs, and raw HTTP signed by the tests' own SigV4 code where
a test needs a body no library sends), and every authentication error provoked."""
import base64
import datetime
import os
import subprocess
import zlib

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import (ROOT_ACCESS_KEY, ROOT_SECRET_KEY, SOS_BIN, Cluster, aws_chunked_signed, free_port, port_open,
                     sigv4_headers, wait_for)

BUCKET = "auth"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("auth"), agents=1).start()
    s3 = c.boto3()
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="hello.txt", Body=b"hello")
    yield c
    c.stop()


def client(cluster, access_key=ROOT_ACCESS_KEY, secret_key=ROOT_SECRET_KEY, **config):
    return boto3.client(
        "s3", endpoint_url=cluster.endpoint, aws_access_key_id=access_key, aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}, **config))


def error(excinfo):
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def xml_code(body):
    text = body.decode(errors="replace") if isinstance(body, bytes) else body
    return text.split("<Code>")[1].split("</Code>")[0] if "<Code>" in text else None


def host(cluster):
    return f"127.0.0.1:{cluster.s3_port}"


def assert_hello_intact(cluster):
    assert cluster.boto3().get_object(Bucket=BUCKET, Key="hello.txt")["Body"].read() == b"hello"


def test_anonymous_requests_are_refused_and_change_nothing(cluster):
    url = f"{cluster.endpoint}/{BUCKET}/hello.txt"
    for method, data in [("GET", None), ("PUT", b"overwritten"), ("DELETE", None)]:
        response = requests.request(method, url, data=data, timeout=10)
        assert response.status_code == 403 and xml_code(response.content) == "AccessDenied", (method, response.text)
    response = requests.get(f"{cluster.endpoint}/", timeout=10)
    assert response.status_code == 403 and xml_code(response.content) == "AccessDenied"
    head = requests.head(url, timeout=10)
    assert head.status_code == 403 and head.content == b""
    assert_hello_intact(cluster)


def test_wrong_secret_and_unknown_key_are_refused(cluster):
    wrong = client(cluster, secret_key="not-the-root-secret")
    with pytest.raises(ClientError) as e:
        wrong.get_object(Bucket=BUCKET, Key="hello.txt")
    assert error(e) == ("SignatureDoesNotMatch", 403)
    with pytest.raises(ClientError) as e:
        wrong.put_object(Bucket=BUCKET, Key="hello.txt", Body=b"overwritten")
    assert error(e) == ("SignatureDoesNotMatch", 403)
    with pytest.raises(ClientError) as e:
        wrong.head_object(Bucket=BUCKET, Key="hello.txt")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as e:
        client(cluster, access_key="NOSUCHKEY", secret_key=ROOT_SECRET_KEY).list_buckets()
    assert error(e) == ("InvalidAccessKeyId", 403)
    # The message names no secret.
    assert ROOT_SECRET_KEY not in str(e.value) and ROOT_SECRET_KEY not in cluster.brain.log()
    assert_hello_intact(cluster)


def test_skewed_clock_is_refused(cluster):
    path = f"/{BUCKET}/hello.txt"
    now = datetime.datetime.now(datetime.timezone.utc)
    for minutes in (-20, 20):
        headers = sigv4_headers("GET", path, host(cluster), when=now + datetime.timedelta(minutes=minutes))
        response = requests.get(cluster.endpoint + path, headers=headers, timeout=10)
        assert response.status_code == 403 and xml_code(response.content) == "RequestTimeTooSkewed", response.text
    headers = sigv4_headers("GET", path, host(cluster), when=now - datetime.timedelta(minutes=10))
    response = requests.get(cluster.endpoint + path, headers=headers, timeout=10)
    assert response.status_code == 200 and response.content == b"hello"


def test_malformed_authorization_gets_its_error(cluster):
    url = f"{cluster.endpoint}/{BUCKET}/hello.txt"
    response = requests.get(url, headers={"Authorization": "AWS4-HMAC-SHA256 Credential=x", "x-amz-content-sha256": "UNSIGNED-PAYLOAD"},
                            timeout=10)
    assert response.status_code == 400 and xml_code(response.content) == "AuthorizationHeaderMalformed", response.text
    response = requests.get(url + "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=" + "0" * 64, timeout=10)
    assert response.status_code == 400 and xml_code(response.content) == "AuthorizationQueryParametersError"
    presigned = client(cluster, signature_version="s3v4").generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": "hello.txt"}, ExpiresIn=60)
    too_long = presigned.replace("X-Amz-Expires=60", "X-Amz-Expires=604801")
    response = requests.get(too_long, timeout=10)
    assert response.status_code == 400 and xml_code(response.content) == "AuthorizationQueryParametersError"
    headers = sigv4_headers("GET", f"/{BUCKET}/hello.txt", host(cluster))
    headers["x-amz-content-sha256"] = "neither-a-hash-nor-a-marker"
    response = requests.get(url, headers=headers, timeout=10)
    assert response.status_code == 400, response.text


def curl(*args):
    result = subprocess.run(["curl", "-s", "-o", "-", "-w", "\n%{http_code}", *args], capture_output=True, timeout=30)
    body, _, code = result.stdout.rpartition(b"\n")
    return int(code), body


def test_presigned_sigv4_get_and_put_with_curl(cluster, tmp_path):
    s3 = client(cluster, signature_version="s3v4")
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "hello.txt"}, ExpiresIn=300)
    assert "X-Amz-Signature=" in get_url
    assert curl(get_url) == (200, b"hello")
    upload = tmp_path / "upload.bin"
    upload.write_bytes(os.urandom(100_000))
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": "presigned.bin"}, ExpiresIn=300)
    assert curl("-T", str(upload), put_url)[0] == 200
    assert cluster.boto3().get_object(Bucket=BUCKET, Key="presigned.bin")["Body"].read() == upload.read_bytes()
    # Tampered: another key, or another expiry, than the one signed.
    code, body = curl(get_url.replace("hello.txt", "presigned.bin"))
    assert code == 403 and xml_code(body) == "SignatureDoesNotMatch"
    code, body = curl(get_url.replace("X-Amz-Expires=300", "X-Amz-Expires=301"))
    assert code == 403 and xml_code(body) == "SignatureDoesNotMatch"
    # Expired: a URL valid for one second stops working.
    short = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "hello.txt"}, ExpiresIn=1)
    wait_for(lambda: curl(short)[0] == 403, timeout=10, what="the one-second URL to expire")
    code, body = curl(short)
    assert xml_code(body) == "AccessDenied" and b"expired" in body


def test_presigned_sigv2_urls_from_aws_cli_and_boto3_defaults(cluster):
    """`aws s3 presign` and boto3's generate_presigned_url make SigV2 URLs for a custom endpoint."""
    url = cluster.aws("s3", "presign", f"s3://{BUCKET}/hello.txt", "--expires-in", "300").stdout.strip()
    assert "AWSAccessKeyId=" in url and "Signature=" in url, url
    assert curl(url) == (200, b"hello")
    code, body = curl(url.replace("hello.txt", "streamed.bin"))
    assert code == 403 and xml_code(body) == "SignatureDoesNotMatch"
    s3 = client(cluster)
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "hello.txt"}, ExpiresIn=300)
    assert "AWSAccessKeyId=" in get_url
    assert curl(get_url) == (200, b"hello")
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": "v2-put.txt"}, ExpiresIn=300)
    assert curl("-X", "PUT", "--data-binary", "sigv2 upload", "-H", "Content-Type:", put_url)[0] == 200
    assert cluster.boto3().get_object(Bucket=BUCKET, Key="v2-put.txt")["Body"].read() == b"sigv2 upload"
    short = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "hello.txt"}, ExpiresIn=1)
    wait_for(lambda: curl(short)[0] == 403, timeout=10, what="the one-second SigV2 URL to expire")
    assert b"expired" in curl(short)[1]


def test_sigv2_off_refuses_sigv2_naming_sigv4(tmp_path):
    c = Cluster(tmp_path, agents=1)
    c.brain.args += ["--sigv2", "off"]
    c.start()
    try:
        s3 = c.boto3()
        s3.create_bucket(Bucket="v4only")
        s3.put_object(Bucket="v4only", Key="k", Body=b"v")
        url = client(c).generate_presigned_url("get_object", Params={"Bucket": "v4only", "Key": "k"}, ExpiresIn=60)
        code, body = curl(url)
        assert code == 400 and xml_code(body) == "InvalidRequest" and b"AWS4-HMAC-SHA256" in body
        v4 = client(c, signature_version="s3v4").generate_presigned_url(
            "get_object", Params={"Bucket": "v4only", "Key": "k"}, ExpiresIn=60)
        assert curl(v4) == (200, b"v")
    finally:
        c.stop()


def test_s3cmd_with_sigv2_headers(cluster, tmp_path):
    config = tmp_path / "s3cfg"
    config.write_text(
        f"[default]\naccess_key = {ROOT_ACCESS_KEY}\nsecret_key = {ROOT_SECRET_KEY}\nhost_base = {host(cluster)}\n"
        f"host_bucket = {host(cluster)}\nuse_https = False\nsignature_v2 = True\n")

    def s3cmd(*args, check=True):
        result = subprocess.run(["s3cmd", "-c", str(config), *args], capture_output=True, text=True, timeout=120)
        assert not check or result.returncode == 0, result.stderr
        return result

    (tmp_path / "v2.txt").write_text("signed the old way\n")
    s3cmd("put", str(tmp_path / "v2.txt"), f"s3://{BUCKET}/s3cmd-v2.txt")
    assert "s3cmd-v2.txt" in s3cmd("ls", f"s3://{BUCKET}").stdout
    s3cmd("get", f"s3://{BUCKET}/s3cmd-v2.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_text() == "signed the old way\n"
    config.write_text(config.read_text().replace(ROOT_SECRET_KEY, "wrong-secret-key"))
    assert s3cmd("ls", f"s3://{BUCKET}", check=False).returncode != 0


def streaming_put(cluster, key, body, piece=65536, mode="STREAMING-AWS4-HMAC-SHA256-PAYLOAD", corrupt=None,
                  trailer=None, bad_trailer=False):
    path = f"/{BUCKET}/{key}"
    signed = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(body)),
              "x-amz-content-sha256": mode}
    if trailer:
        signed["x-amz-trailer"] = trailer[0]
    auth = sigv4_headers("PUT", path, host(cluster), headers=signed)
    wire = aws_chunked_signed(body, piece, auth, trailer=trailer)
    if corrupt is not None:
        wire = wire[:corrupt] + bytes([wire[corrupt] ^ 1]) + wire[corrupt + 1:]
    if bad_trailer:
        at = wire.index(b"x-amz-trailer-signature:") + len(b"x-amz-trailer-signature:")
        wire = wire[:at] + b"0" * 64 + wire[at + 64:]
    headers = {**auth, "Content-Length": str(len(wire))}
    return requests.put(cluster.endpoint + path, data=wire, headers=headers, timeout=30)


def test_streaming_signed_uploads_verify_every_chunk(cluster):
    body = os.urandom(200_000)
    response = streaming_put(cluster, "streamed.bin", body)
    assert response.status_code == 200, response.text
    s3 = cluster.boto3()
    assert s3.get_object(Bucket=BUCKET, Key="streamed.bin")["Body"].read() == body
    # A byte changed in the second chunk's data: refused, and the object stays as it was.
    response = streaming_put(cluster, "streamed.bin", os.urandom(200_000), corrupt=70_000)
    assert response.status_code == 403 and xml_code(response.content) == "SignatureDoesNotMatch", response.text
    assert s3.get_object(Bucket=BUCKET, Key="streamed.bin")["Body"].read() == body
    response = streaming_put(cluster, "never.bin", os.urandom(1000), corrupt=5)  # in the first chunk's signature
    assert response.status_code in (400, 403)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=BUCKET, Key="never.bin")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_streaming_signed_uploads_with_a_signed_trailer(cluster):
    body = os.urandom(150_000)
    crc = base64.b64encode((zlib.crc32(body) & 0xFFFFFFFF).to_bytes(4, "big")).decode()
    mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
    response = streaming_put(cluster, "trailed.bin", body, mode=mode, trailer=("x-amz-checksum-crc32", crc))
    assert response.status_code == 200, response.text
    got = cluster.boto3().get_object(Bucket=BUCKET, Key="trailed.bin", ChecksumMode="ENABLED")
    assert got["Body"].read() == body and got["ChecksumCRC32"] == crc
    response = streaming_put(cluster, "trailed-bad.bin", body, mode=mode, trailer=("x-amz-checksum-crc32", crc),
                             bad_trailer=True)
    assert response.status_code == 403 and xml_code(response.content) == "SignatureDoesNotMatch", response.text


def test_aws_cli_signs_and_works(cluster, tmp_path):
    """aws-cli signs every request (payload hash over HTTP): the whole cp/ls/rm round trip works."""
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(9 * 1024 * 1024))  # multipart
    cluster.aws("s3", "cp", str(big), f"s3://{BUCKET}/cli/big.bin")
    assert "cli/big.bin" in cluster.aws("s3", "ls", f"s3://{BUCKET}", "--recursive").stdout
    cluster.aws("s3", "cp", f"s3://{BUCKET}/cli/big.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == big.read_bytes()
    cluster.aws("s3", "rm", f"s3://{BUCKET}/cli/big.bin")
    env = dict(os.environ, AWS_SECRET_ACCESS_KEY="wrong-secret-key")
    result = subprocess.run(["aws", "--endpoint-url", cluster.endpoint, "s3", "ls"], capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.returncode != 0 and "SignatureDoesNotMatch" in result.stderr


# ---------------------------------------------------------------- root credentials

def server_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOS_ROOT_")}
    env.update(extra)
    return env


def start_server(data_dir, port, log, *args, env=None):
    process = subprocess.Popen([SOS_BIN, "server", "--directory", str(data_dir), "--s3-address", f"127.0.0.1:{port}", "--console-address", "127.0.0.1:0", *args],
                               stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env or server_env())
    return process


def stop(process):
    process.terminate()
    assert process.wait(timeout=15) == 0


def test_first_start_generates_root_credentials_once_and_later_starts_reuse_them(tmp_path):
    data_dir, port = tmp_path / "data", free_port()
    first = start_server(data_dir, port, tmp_path / "first.log")
    try:
        wait_for(lambda: port_open(port), what="sos server")
    finally:
        stop(first)
    output = (tmp_path / "first.log").read_text()
    access_key = output.split("access key: ")[1].split()[0]
    secret_key = output.split("secret key: ")[1].split()[0]
    path = data_dir / "root-credentials"
    assert str(path) in output
    assert path.stat().st_mode & 0o777 == 0o600
    assert output.count(secret_key) == 2  # the notice: the key, and the export line; never in a log line

    second = start_server(data_dir, port, tmp_path / "second.log")
    try:
        wait_for(lambda: port_open(port), what="sos server")
        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id=access_key,
                          aws_secret_access_key=secret_key, region_name="us-east-1",
                          config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))
        s3.create_bucket(Bucket="generated")
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["generated"]
    finally:
        stop(second)
    later = (tmp_path / "second.log").read_text()
    assert secret_key not in later and access_key in later

    # A credentials file others may read is refused, with what to do about it.
    path.chmod(0o644)
    refused = subprocess.run([SOS_BIN, "server", "--directory", str(data_dir), "--s3-address", f"127.0.0.1:{port}", "--console-address", "127.0.0.1:0"],
                             capture_output=True, text=True, timeout=30, env=server_env())
    assert refused.returncode != 0 and "chmod 600" in refused.stderr, refused.stderr
    assert secret_key not in refused.stdout + refused.stderr


def test_root_credentials_from_a_file_and_insecure_mode(tmp_path):
    credentials = tmp_path / "root.toml"
    credentials.write_text('access_key = "FILEROOTKEY"\nsecret_key = "file-root-secret-key"\n')
    credentials.chmod(0o600)
    port = free_port()
    server = start_server(tmp_path / "data", port, tmp_path / "file.log", "--root-credentials-file", str(credentials))
    try:
        wait_for(lambda: port_open(port), what="sos server")
        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id="FILEROOTKEY",
                          aws_secret_access_key="file-root-secret-key", region_name="us-east-1",
                          config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))
        s3.create_bucket(Bucket="from-file")
        assert requests.get(f"http://127.0.0.1:{port}/from-file", timeout=10).status_code == 403
    finally:
        stop(server)
    server = start_server(tmp_path / "data", port, tmp_path / "insecure.log", "--insecure-no-auth")
    try:
        wait_for(lambda: port_open(port), what="sos server")
        assert requests.put(f"http://127.0.0.1:{port}/from-file/anyone", data=b"x", timeout=10).status_code == 200
    finally:
        stop(server)
    assert "--insecure-no-auth" in (tmp_path / "insecure.log").read_text()
