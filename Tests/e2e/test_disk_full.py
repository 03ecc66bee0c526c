"""Disk full (issue 7): an agent's data directory, then the brain's metadata directory, on a small
tmpfs that a filler file brings to the brink.

While full, writes must fail with a clear S3 error (503 ServiceUnavailable saying the storage is full),
never be acknowledged, and never disturb reads. Once the filler is gone, writes resume without a
restart (ENOSPC cuts the failed append back; only a failed fsync poisons a file, and tmpfs cannot
fail one). Every acknowledged object must then read back byte-exact, also after a restart, and no
refused write may show up.

Mounting needs root (CAP_SYS_ADMIN); without it these tests are skipped, loudly.
"""
import json
import os
import signal
import subprocess
import sys
import time
import warnings

import pytest
from botocore.exceptions import ClientError

from harness import COOKIE, SOS_BIN, Cluster, wait_for

BUCKET = "full"
MiB = 1 << 20


@pytest.fixture
def mount_tmpfs():
    """mount_tmpfs(path, size) mounts a fresh tmpfs; every mount is undone at teardown."""
    mounted = []

    def mount(path, size):
        path.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            denied = os.geteuid() != 0 or any(
                word in result.stderr.lower() for word in ("permission denied", "not permitted", "superuser"))
            assert denied, f"mount -t tmpfs failed for another reason than permissions: {result.stderr}"
            why = f"DISK-FULL TESTS SKIPPED: cannot mount a tmpfs (uid {os.geteuid()}): {result.stderr.strip()}"
            sys.__stderr__.write(f"\n*** {why} ***\n")
            warnings.warn(why)
            pytest.skip(why)
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], check=True)


@pytest.fixture
def cluster_holder():
    """Stops whatever cluster the test started before the tmpfs mounts are undone."""
    clusters = []
    yield clusters.append
    for cluster in clusters:
        cluster.stop()


def free_bytes(directory):
    stats = os.statvfs(directory)
    return stats.f_bavail * stats.f_frsize


def fill(directory, leave):
    """Takes all but `leave` bytes of the file system holding `directory` with a filler file."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        os.posix_fallocate(fd, 0, max(free_bytes(directory) - leave, 1))
    finally:
        os.close(fd)
    return filler


def body(index, size):
    """Distinct, incompressible-ish bytes per object, so a mixed-up read cannot pass."""
    return (index.to_bytes(8, "big") + os.urandom(size))[:size]


def assert_storage_full(error, what):
    response = error.response
    status = response["ResponseMetadata"]["HTTPStatusCode"]
    code, message = response["Error"].get("Code"), response["Error"].get("Message", "")
    assert status == 503 and code == "ServiceUnavailable", f"{what}: {status} {code} {message!r}"
    assert "full" in message.lower(), f"{what}: the message does not say the storage is full: {message!r}"


def until_refused(op, attempts, what):
    """Calls op(0), op(1), ... until one raises; returns (the acknowledged i's, the refused i, its error)."""
    for i in range(attempts):
        try:
            op(i)
        except ClientError as error:
            return list(range(i)), i, error
    raise AssertionError(f"{attempts} {what} were all acknowledged; the disk never filled")


def put_until_refused(s3, prefix, size, attempts):
    """PUTs new keys until one is refused; returns (acknowledged {key: bytes}, refused key, error)."""
    bodies = {f"{prefix}-{i:03d}": body(i, size) for i in range(attempts)}
    keys = list(bodies)
    acked, refused, error = until_refused(
        lambda i: s3.put_object(Bucket=BUCKET, Key=keys[i], Body=bodies[keys[i]]), attempts, f"PUTs of {size} bytes")
    return {keys[i]: bodies[keys[i]] for i in acked}, keys[refused], error


def verify(s3, acked, absent):
    """Every acknowledged object reads back byte-exact, the listing is exactly those, `absent` keys are not there."""
    for key, data in acked.items():
        got = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert got == data, f"{key}: {len(got)} bytes read back differ from the {len(data)} acknowledged"
    listed = {o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
              for o in page.get("Contents", [])}
    assert listed == set(acked), f"listed but not acknowledged: {sorted(listed - set(acked))}; " \
                                 f"acknowledged but not listed: {sorted(set(acked) - listed)}"
    for key in absent:
        with pytest.raises(ClientError) as missing:
            s3.head_object(Bucket=BUCKET, Key=key)
        assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404, f"{key} should not exist"


def test_a_full_agent_refuses_writes_clearly_serves_reads_and_recovers(tmp_path, mount_tmpfs, cluster_holder):
    # The harness keeps agent-1's segments in tmp_path/agent-1: that is what goes on the tmpfs.
    data_dir = mount_tmpfs(tmp_path / "agent-1", "48m")
    cluster = Cluster(tmp_path, agents=1, chunk_size="1MiB", segment_size="4MiB")
    cluster.brain.args += ["--garbage-delay", "0"]  # deleted objects' chunks go at once
    cluster_holder(cluster)
    cluster.start()
    s3 = cluster.boto3()
    s3.create_bucket(Bucket=BUCKET)
    # About 3.3 MiB: all of segment 1, so deleting these objects later frees that whole segment.
    early = {f"before-{i}": body(i, size) for i, size in enumerate([1, 300_000, MiB, 2 * MiB + 7])}
    for key, data in early.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    acked = dict(early)

    filler = fill(data_dir, leave=3 * MiB)
    more, refused, error = put_until_refused(s3, "while-full", MiB, attempts=10)
    acked |= more
    assert_storage_full(error, "PUT on a full agent")
    absent = [refused]
    segments = sorted(p.name for p in data_dir.glob("segment-*.sos"))

    def refuse(key, size):
        with pytest.raises(ClientError) as refusal:
            s3.put_object(Bucket=BUCKET, Key=key, Body=body(99, size))
        assert_storage_full(refusal.value, f"PUT {key} on a full agent")
        absent.append(key)

    # Still full: later attempts fail the same way, and do not start segment after empty segment.
    for i in range(5):
        refuse(f"while-full-again-{i}", MiB)
    assert sorted(p.name for p in data_dir.glob("segment-*.sos")) == segments, "refused PUTs started new segments"
    refuse("while-full-two-chunks", 2 * MiB)  # one chunk refused while the other is in flight
    print(f"\nfull agent: acknowledged {len(more)} PUTs of 1 MiB before the first refusal; segments {segments}")
    verify(s3, acked, absent)

    # A restart on the full disk: everything comes back, reads go on, writes are still refused.
    cluster.restart()
    s3 = cluster.boto3()
    verify(s3, acked, absent)
    refuse("after-full-restart", MiB)

    # Deleting objects frees space on the agent itself: their tombstones still fit, and
    # compaction (SIGUSR1) then drops the segment that only they occupied.
    for key in early:
        s3.delete_object(Bucket=BUCKET, Key=key)
        del acked[key]
        absent.append(key)
    low = free_bytes(data_dir)

    def reclaimed():
        cluster.agents[0].proc.send_signal(signal.SIGUSR1)
        time.sleep(0.2)
        return free_bytes(data_dir) > low + 2 * MiB

    wait_for(reclaimed, timeout=15, what="compaction to reclaim the deleted objects' segment")
    for i in range(2):  # the filler is still there
        key, data = f"after-compaction-{i}", body(50 + i, MiB)
        s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        acked[key] = data

    filler.unlink()
    # No restart: the next append goes where the refused one would have, and the agent is not stuck.
    for i in range(6):  # 6 MiB: crosses into a new 4 MiB segment
        key, data = f"after-{i}", body(100 + i, MiB)
        s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        acked[key] = data
    verify(s3, acked, absent)

    cluster.restart()
    s3 = cluster.boto3()
    verify(s3, acked, absent)
    log = "".join((tmp_path / f"agent-1-{n}.log").read_text() for n in range(1, cluster.agents[0].starts + 1))
    assert "corrupt" not in log.lower(), f"the agent found corruption after disk full:\n{log[-3000:]}"


def agent_chunks(cluster):
    """(chunks the only agent holds, chunks the brain's metadata references on it), per `sos admin status`."""
    result = subprocess.run(
        [SOS_BIN, "admin", "--brain", f"127.0.0.1:{cluster.cluster_port}", "--cookie", COOKIE, "status", "--json"],
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    agent = json.loads(result.stdout)["agents"][0]
    return agent["chunkCount"], agent["referencedChunks"]


def test_a_full_metadata_disk_refuses_mutations_clearly_serves_reads_and_recovers(
        tmp_path, mount_tmpfs, cluster_holder):
    # The brain keeps its WAL and snapshots in tmp_path/brain/metadata; the agent stays on the real disk.
    brain_dir = mount_tmpfs(tmp_path / "brain", "4m")
    cluster = Cluster(tmp_path, agents=1, chunk_size="1MiB", segment_size="4MiB")
    cluster.brain.args += ["--garbage-delay", "0"]  # so refused PUTs' chunks are seen to go
    # The WAL file's zero-filled room takes commits on a full disk until it runs out (the next file
    # then cannot be filled, and grows): kept small, so that the refusals come within the attempts.
    cluster.brain.args += ["--wal-preallocation", "16KiB"]
    cluster_holder(cluster)
    cluster.start()
    s3 = cluster.boto3()
    s3.create_bucket(Bucket=BUCKET)
    acked = {f"before-{i}": body(i, 20_000 + i) for i in range(5)}
    for key, data in acked.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=data)

    filler = fill(brain_dir, leave=0)
    # The WAL's last page may still hold a few records, and a smaller mutation may fit where a
    # larger one did not: each kind is tried until its first refusal.
    more, refused, error = put_until_refused(s3, "while-full", 10_000, attempts=400)
    acked |= more
    assert_storage_full(error, "PUT with a full metadata disk")
    absent = [refused]
    created, refused_bucket, error = until_refused(
        lambda i: s3.create_bucket(Bucket=f"bucket-{i}"), 100, "CreateBuckets")
    assert_storage_full(error, "CreateBucket with a full metadata disk")
    deletable = sorted(acked)
    deleted, refused_delete, error = until_refused(
        lambda i: s3.delete_object(Bucket=BUCKET, Key=deletable[i]), len(deletable), "DeleteObjects")
    assert_storage_full(error, "DeleteObject with a full metadata disk")
    for i in deleted:
        del acked[deletable[i]]
        absent.append(deletable[i])
    verify(s3, acked, absent)
    print(f"\nfull metadata disk: acknowledged {len(more)} PUTs, {len(created)} CreateBuckets, "
          f"{len(deleted)} DeleteObjects before the first refusal of each")

    def buckets():
        return {b["Name"] for b in s3.list_buckets()["Buckets"]}

    assert buckets() == {BUCKET} | {f"bucket-{i}" for i in created}

    # A restart on the full disk: the brain replays its WAL and serves reads; changes are still refused.
    cluster.restart()
    s3 = cluster.boto3()
    verify(s3, acked, absent)
    with pytest.raises(ClientError) as again:
        s3.put_object(Bucket=BUCKET, Key="after-full-restart", Body=body(7, 10_000))
    assert_storage_full(again.value, "PUT after a restart on a full metadata disk")
    absent.append("after-full-restart")

    filler.unlink()
    # ENOSPC does not poison the WAL (only a failed fsync would): writes resume without a restart.
    s3.create_bucket(Bucket=f"bucket-{refused_bucket}")
    created.append(refused_bucket)
    for i in range(3):
        key, data = f"after-{i}", body(100 + i, 30_000)
        s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        acked[key] = data
    s3.delete_object(Bucket=BUCKET, Key=deletable[refused_delete])
    del acked[deletable[refused_delete]]
    absent.append(deletable[refused_delete])
    verify(s3, acked, absent)

    cluster.restart()
    s3 = cluster.boto3()
    verify(s3, acked, absent)
    assert buckets() == {BUCKET} | {f"bucket-{i}" for i in created}
    # The chunks of refused PUTs were deleted: their WAL record was cut off, so nothing can refer to them.
    held = []

    def only_referenced():
        time.sleep(0.3)
        held[:] = agent_chunks(cluster)
        return held[0] == held[1]

    try:
        wait_for(only_referenced, timeout=10)
    except AssertionError:
        raise AssertionError(f"the agent holds {held[0]} chunks, the metadata references {held[1]}") from None
    log = "".join((tmp_path / f"brain-{n}.log").read_text() for n in range(1, cluster.brain.starts + 1))
    assert "corrupt" not in log.lower() and "torn tail" not in log.lower(), log[-3000:]
