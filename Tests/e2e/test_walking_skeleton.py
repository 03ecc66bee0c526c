"""End to end: a brain and two storage agents as real processes, driven by aws-cli and boto3."""
import hashlib
import json
import os
import subprocess

import pytest
from botocore.exceptions import ClientError

from harness import COOKIE, ROOT_ACCESS_KEY, ROOT_SECRET_KEY, SOS_BIN, Cluster, free_port, peak_rss_bytes, port_open, wait_for


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path).start()
    yield c
    c.stop()


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def segment_bytes(directory):
    return sum(p.stat().st_size for p in directory.glob("segment-*.sos"))


def test_every_operation_survives_a_restart_of_every_process(cluster, tmp_path):
    s3 = cluster.boto3()
    # Buckets, through aws-cli.
    cluster.aws("s3", "mb", "s3://alpha")
    cluster.aws("s3", "mb", "s3://beta")
    assert "alpha" in cluster.aws("s3", "ls").stdout
    again = cluster.aws("s3", "mb", "s3://alpha", check=False)
    assert again.returncode != 0 and "BucketAlreadyOwnedByYou" in again.stderr
    bad = cluster.aws("s3api", "create-bucket", "--bucket", "Bad_Name", check=False)
    assert bad.returncode != 0 and "InvalidBucketName" in bad.stderr

    # Objects of assorted sizes and awkward keys, through aws-cli and boto3.
    files = {}
    for name, size in [("empty", 0), ("small", 1), ("page", 4096), ("multi-chunk", 3 * 1024 * 1024 + 17)]:
        data = os.urandom(size)
        path = tmp_path / name
        path.write_bytes(data)
        files[f"docs/{name}"] = data
        cluster.aws("s3", "cp", str(path), f"s3://alpha/docs/{name}")
    big = os.urandom(20 * 1024 * 1024 + 3)  # 21 chunks of 1 MiB: lands on both agents
    s3.put_object(Bucket="alpha", Key="big/blob.bin", Body=big)
    files["big/blob.bin"] = big
    for key in ["odd keys/with space", "odd keys/plus+sign", "odd keys/ünïcödé", "odd keys/a%b&c<d>"]:
        body = key.encode() * 3
        put = s3.put_object(Bucket="alpha", Key=key, Body=body, ContentType="text/plain")
        assert put["ETag"] == '"' + hashlib.md5(body).hexdigest() + '"'
        files[key] = body

    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="missing-bucket", Key="k", Body=b"x")
    assert error_code(e) == "NoSuchBucket"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="alpha", Key="no/such/key")
    assert error_code(e) == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket="alpha", Key="no/such/key")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    def check_everything():
        for key, data in files.items():
            got = s3.get_object(Bucket="alpha", Key=key)
            assert got["Body"].read() == data, key
            assert got["ETag"] == '"' + hashlib.md5(data).hexdigest() + '"'
            head = s3.head_object(Bucket="alpha", Key=key)
            assert head["ContentLength"] == len(data)
        listed = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="alpha", PaginationConfig={"PageSize": 3}):
            listed += [(o["Key"], o["Size"]) for o in page.get("Contents", [])]
        expected = sorted(((k, len(v)) for k, v in files.items()), key=lambda kv: kv[0].encode())
        assert listed == expected
        cli = json.loads(cluster.aws("s3api", "list-objects-v2", "--bucket", "alpha", "--delimiter", "/").stdout)
        assert [p["Prefix"] for p in cli["CommonPrefixes"]] == ["big/", "docs/", "odd keys/"]
        assert "Contents" not in cli
        under = json.loads(cluster.aws("s3api", "list-objects-v2", "--bucket", "alpha", "--prefix", "docs/",
                                       "--start-after", "docs/empty").stdout)
        assert [o["Key"] for o in under["Contents"]] == ["docs/multi-chunk", "docs/page", "docs/small"]
        assert sorted(b["Name"] for b in s3.list_buckets()["Buckets"]) == ["alpha", "beta"]

    check_everything()
    # The data is spread: both agents hold chunks.
    for agent in cluster.agents:
        assert segment_bytes(cluster.agent_dir(agent)) > 1024 * 1024, agent.name

    cluster.restart()
    check_everything()

    # Deletes, and the bucket rules around them; then another restart.
    cluster.aws("s3", "rm", "s3://alpha/docs/page")
    s3.delete_object(Bucket="alpha", Key="odd keys/plus+sign")
    s3.delete_object(Bucket="alpha", Key="never/existed")  # S3 answers 204 for a missing key
    del files["docs/page"], files["odd keys/plus+sign"]
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket="alpha")
    assert error_code(e) == "BucketNotEmpty"
    cluster.aws("s3", "rb", "s3://beta")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket="beta")
    assert error_code(e) == "NoSuchBucket"

    cluster.restart()
    s3 = cluster.boto3()
    for key, data in files.items():
        assert s3.get_object(Bucket="alpha", Key=key)["Body"].read() == data
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["alpha"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="alpha", Key="docs/page")
    assert error_code(e) == "NoSuchKey"

    cluster.aws("s3", "rm", "--recursive", "s3://alpha")
    cluster.aws("s3", "rb", "s3://alpha")
    assert s3.list_buckets()["Buckets"] == []


def test_50_mib_object_round_trips_within_memory_bounds(cluster, tmp_path):
    data = os.urandom(50 * 1024 * 1024)
    src, dst = tmp_path / "in.bin", tmp_path / "out.bin"
    src.write_bytes(data)
    cluster.aws("s3", "mb", "s3://large")
    put = json.loads(cluster.aws("s3api", "put-object", "--bucket", "large", "--key", "fifty", "--body", str(src)).stdout)
    assert put["ETag"] == '"' + hashlib.md5(data).hexdigest() + '"'
    cluster.aws("s3api", "get-object", "--bucket", "large", "--key", "fifty", str(dst))
    assert dst.read_bytes() == data
    limit = 150 * 1024 * 1024
    for process in [cluster.brain, *cluster.agents]:
        rss = peak_rss_bytes(process.proc.pid)
        print(f"{process.name} peak RSS {rss / 2**20:.1f} MiB")
        assert rss < limit, f"{process.name} peaked at {rss} bytes"


def test_agent_with_wrong_cookie_is_refused_and_says_why(cluster, tmp_path):
    result = subprocess.run(
        [SOS_BIN, "storage-agent", "--brain", f"127.0.0.1:{cluster.cluster_port}", "--client-id", "intruder",
         "--directory", str(tmp_path / "intruder"), "--cookie", "not-" + COOKIE],
        capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "wrong cookie" in result.stderr
    wait_for(lambda: "refused agent: wrong cookie" in cluster.brain.log(), what="brain log of the refusal")
    registrations = [line for line in cluster.brain.log().splitlines() if "agent registered" in line]
    assert registrations and not any("intruder" in line for line in registrations)


def test_writes_without_agents_fail_fast_with_503(tmp_path):
    c = Cluster(tmp_path, agents=0).start()
    try:
        s3 = c.boto3()
        s3.create_bucket(Bucket="lonely")
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket="lonely", Key="k", Body=b"data")
        assert error_code(e) == "ServiceUnavailable"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert s3.list_objects_v2(Bucket="lonely")["KeyCount"] == 0
    finally:
        c.stop()


def test_sos_server_runs_the_whole_store_in_one_process(tmp_path):
    port = free_port()
    data_dir = tmp_path / "data"
    args = [SOS_BIN, "server", "--directory", str(data_dir), "--s3-address", f"127.0.0.1:{port}", "--console-address", "127.0.0.1:0"]
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ROOT_ACCESS_KEY, AWS_SECRET_ACCESS_KEY=ROOT_SECRET_KEY, AWS_DEFAULT_REGION="us-east-1")

    def aws(*a):
        return subprocess.run(["aws", "--endpoint-url", f"http://127.0.0.1:{port}", *a],
                              capture_output=True, text=True, env=env, timeout=60)

    for round_number in range(2):
        server = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=(tmp_path / "server.log").open("ab"))
        try:
            wait_for(lambda: port_open(port), what="sos server")
            # The brain calls its agents in-process; each is registered like a dialing agent.
            wait_for(lambda: (tmp_path / "server.log").read_text().count("peer=in-process") >= 2 * (round_number + 1),
                     what="both agents")
            if round_number == 0:
                (tmp_path / "hello.txt").write_text("hello, sos\n")
                assert aws("s3", "mb", "s3://one").returncode == 0
                assert aws("s3", "cp", str(tmp_path / "hello.txt"), "s3://one/hello.txt").returncode == 0
            got = aws("s3", "cp", "s3://one/hello.txt", "-")
            assert got.returncode == 0 and got.stdout == "hello, sos\n"
        finally:
            server.terminate()
            assert server.wait(timeout=15) == 0
    assert (data_dir / "cookie").stat().st_mode & 0o077 == 0


def test_a_second_process_on_a_data_directory_is_refused_and_nothing_is_lost(cluster, tmp_path):
    """Two brains on one WAL, or two agents on one segment, would interleave records: the LOCK file refuses
    the second process (naming the first), and the first goes on serving what it stored."""
    s3 = cluster.boto3()
    s3.create_bucket(Bucket="locked")
    s3.put_object(Bucket="locked", Key="k", Body=b"before")

    def refused(args, holder):
        result = subprocess.run([SOS_BIN, *args], capture_output=True, text=True, timeout=30,
                                env=dict(os.environ, SOS_COOKIE=COOKIE))
        assert result.returncode != 0, result.stdout + result.stderr
        assert f"is in use by process {holder.proc.pid}" in result.stderr, result.stderr

    refused(["brain", "--s3-address", f"127.0.0.1:{free_port()}", "--cluster-address", f"127.0.0.1:{free_port()}",
             "--directory", str(cluster.root / "brain"), "--cookie", COOKIE], cluster.brain)
    refused(["storage-agent", "--brain", f"127.0.0.1:{cluster.cluster_port}", "--client-id", "agent-9",
             "--directory", str(cluster.agent_dir(cluster.agents[0]))], cluster.agents[0])
    refused(["admin", "repair-wal", "--directory", str(cluster.root / "brain")], cluster.brain)
    assert s3.get_object(Bucket="locked", Key="k")["Body"].read() == b"before"
    s3.put_object(Bucket="locked", Key="k2", Body=b"after")
    # Stopping releases the lock: the same directories start again, with everything in them.
    cluster.restart()
    s3 = cluster.boto3()
    assert s3.get_object(Bucket="locked", Key="k")["Body"].read() == b"before"
    assert s3.get_object(Bucket="locked", Key="k2")["Body"].read() == b"after"
