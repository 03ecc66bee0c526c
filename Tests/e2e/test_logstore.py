"""End to end: the storage engine's flags and operator triggers on real agent processes."""
import os
import random
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from harness import SOS_BIN, Cluster, wait_for


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, agents=1, chunk_size="256KiB", segment_size="1MiB")
    c.agents[0].args += [
        "--compression", "lz4", "--compaction-threshold", "0.3", "--compaction-interval", "3600",
        "--scrub-interval", "0",
    ]
    c.brain.args += ["--garbage-delay", "0"]  # overwritten chunks are deleted at once, for compaction to find
    c.start()
    yield c
    c.stop()


WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho".split()


def segment_bytes(directory):
    return sum(p.stat().st_size for p in directory.glob("segment-*.sos"))


def test_sigusr1_compacts_overwritten_objects_and_nothing_is_lost(cluster):
    s3 = cluster.boto3()
    s3.create_bucket(Bucket="logs")
    bodies = {}
    for round_ in range(3):
        for i in range(8):
            # Text-like bodies (random words): lz4 stores them in about half their size.
            rng = random.Random(round_ * 100 + i)
            words = [rng.choice(WORDS) + str(rng.randrange(100)) for _ in range(60_000)]
            body = " ".join(words).encode()[:400_000]
            s3.put_object(Bucket="logs", Key=f"k{i}", Body=body)
            bodies[f"k{i}"] = body
    s3.delete_object(Bucket="logs", Key="k0")
    del bodies["k0"]
    agent = cluster.agents[0]
    directory = cluster.agent_dir(agent)
    wait_for(lambda: len(list(directory.glob("segment-*.hint"))) >= 1, what="a sealed segment's hint file")
    before = segment_bytes(directory)
    assert before < 3 * 8 * 400_000 * 0.7, "lz4 compressed the chunks"

    agent.proc.send_signal(signal.SIGUSR1)
    wait_for(lambda: "compaction finished" in agent.log(), what="compaction")
    assert segment_bytes(directory) < before
    for key, body in bodies.items():
        assert s3.get_object(Bucket="logs", Key=key)["Body"].read() == body

    cluster.restart()
    for key, body in bodies.items():
        assert s3.get_object(Bucket="logs", Key=key)["Body"].read() == body
    assert "hintsLoaded" in cluster.agents[0].log()


def test_sigusr2_scrub_reports_a_damaged_chunk_and_never_serves_it(cluster):
    s3 = cluster.boto3()
    s3.create_bucket(Bucket="scrubbed")
    good = os.urandom(100_000)
    s3.put_object(Bucket="scrubbed", Key="good", Body=good)
    s3.put_object(Bucket="scrubbed", Key="bad", Body=os.urandom(100_000))
    agent = cluster.agents[0]
    segment = sorted(cluster.agent_dir(agent).glob("segment-*.sos"))[-1]
    with open(segment, "r+b") as f:
        f.seek(segment.stat().st_size - 50_000)  # inside the second object's chunk
        f.write(b"\xff" * 8)
    agent.proc.send_signal(signal.SIGUSR2)
    wait_for(lambda: "scrub finished" in agent.log(), what="scrub")
    log = agent.log()
    assert "scrub found a corrupt record" in log and "will not be served" in log
    # A 100 KB body is read whole before the response starts, so the refusal is an S3 error.
    with pytest.raises(ClientError) as refused:
        s3.get_object(Bucket="scrubbed", Key="bad")["Body"].read()
    assert refused.value.response["Error"]["Code"] == "InternalError"
    assert s3.get_object(Bucket="scrubbed", Key="good")["Body"].read() == good


def test_brain_hints_compressed_content_types_past_lz4(cluster):
    """The agent compresses with lz4, but a chunk whose object says it is already compressed
    (image/jpeg here, though the bytes are text) is stored as is; the same text as text/plain shrinks."""
    s3 = cluster.boto3()
    s3.create_bucket(Bucket="hinted")
    directory = cluster.agent_dir(cluster.agents[0])
    text = (" ".join(WORDS) * 2000).encode()[:200_000]
    grown = {}
    for key, content_type in [("photo.jpg", "image/jpeg"), ("notes.txt", "text/plain")]:
        before = segment_bytes(directory)
        s3.put_object(Bucket="hinted", Key=key, Body=text, ContentType=content_type)
        grown[content_type] = segment_bytes(directory) - before
        assert s3.get_object(Bucket="hinted", Key=key)["Body"].read() == text
    assert grown["image/jpeg"] >= len(text), f"a hinted chunk was compressed: {grown}"
    assert grown["text/plain"] < len(text) / 4, f"text was not compressed: {grown}"


def test_commit_window_flags_batch_fsyncs_and_lose_nothing(tmp_path):
    c = Cluster(tmp_path, agents=1, chunk_size="256KiB", segment_size="1MiB")
    c.agents[0].args += ["--commit-window", "3000", "--commit-batch", "8"]
    c.start()
    try:
        s3 = c.boto3()
        s3.create_bucket(Bucket="windowed")
        bodies = {f"k{i}": os.urandom(1000 + i) for i in range(24)}
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda item: s3.put_object(Bucket="windowed", Key=item[0], Body=item[1]), bodies.items()))
        c.agents[0].stop(signal.SIGKILL)  # acknowledged means durable, window or not
        c.agents[0].start()
        wait_for(lambda: "registered with the brain" in c.agents[0].log(), what="agent back")
        for key, body in bodies.items():
            assert s3.get_object(Bucket="windowed", Key=key)["Body"].read() == body
    finally:
        c.stop()
    refused = subprocess.run([SOS_BIN, "storage-agent", "--commit-window", "200000", "--brain", "127.0.0.1:1",
                              "--directory", str(tmp_path / "x"), "--client-id", "x", "--cookie", "c"],
                             capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0 and "--commit-window must be between 0 and 100000" in refused.stderr
