"""Failing disks: a segment region that answers EIO, an fsync that fails (EIO, ENOSPC), and an agent
started again on an empty directory under its old id. Faults come from the power-cut filesystem
(powercut_fs.py) the processes keep their directories on; docs/durability.md lists what must hold.
"""
import os
import random
import shutil

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from crash_harness import MiB, chunk_md5s, chunk_records_by_md5, make_cluster, s3_client
from harness import status, wait_for
from power_loop import make_power_cluster, restart_wait
from powercut_fs import PowerCutFS

BUCKET = "disks"


@pytest.fixture
def machine(tmp_path):
    """A brain and three agents (R = 2) on the power-cut filesystem, repair and reconcile every second."""
    fs = PowerCutFS(tmp_path / "disk", tmp_path / "machine").mount()
    logs = tmp_path / "logs"
    logs.mkdir()
    cluster = make_power_cluster(tmp_path / "machine" / "sos", logs)
    cluster.brain.args += ["--repair-interval", "1", "--reconcile-interval", "1"]
    cluster.start()
    s3_client(cluster.endpoint).create_bucket(Bucket=BUCKET)
    yield fs, cluster
    for process in [cluster.brain, *cluster.agents]:
        if process.proc and process.proc.poll() is None:
            process.proc.kill()
            process.proc.wait()
    fs.close()


def body(size, seed):
    """Bytes that differ from chunk to chunk (chunk_records_by_md5 finds each one on its own)."""
    return random.Random(seed).randbytes(size)


def get(s3, key):
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def drop_page_cache():
    """So that reads reach the filesystem (and its faults) instead of the kernel's cache."""
    with open("/proc/sys/vm/drop_caches", "w") as control:
        control.write("1\n")


def test_eio_reading_a_segment_region_falls_back_to_a_replica_and_repair_recreates_it(machine):
    fs, cluster = machine
    s3 = s3_client(cluster.endpoint)
    data = body(3 * MiB + 5, "eio")
    s3.put_object(Bucket=BUCKET, Key="object", Body=data)
    first = chunk_md5s(data)[0]
    holders = [a for a in cluster.agents if first in chunk_records_by_md5(cluster.agent_dir(a))]
    assert len(holders) == 2
    # The brain reads the replica it lists first; make that one fail: try each holder in turn.
    for holder in holders:
        record = chunk_records_by_md5(cluster.agent_dir(holder))[first]
        # A restart empties the agent's own caches (its start reads the newest segment: the fault
        # comes after it); the kernel's goes with drop_caches.
        holder.stop()
        holder.start()
        restart_wait(cluster)
        fs.fault("read", f"/{holder.name}/{record.path.name}$", "EIO", start=record.payload_offset, end=record.end)
        drop_page_cache()
        assert get(s3, "object") == data, "a read that met EIO on one replica must serve the other's bytes"
        if fs.status()["faults"][0]["fired"] > 0:
            break
        fs.clear_faults()
    assert "replica failed; reading another" in cluster.brain.log(), "no read went to the replica that answers EIO"
    wait_for(lambda: "repaired chunk" in cluster.brain.log(), timeout=30, what="repair of the unreadable replica")
    wait_for(lambda: status(cluster)["underReplicatedChunks"] == 0, timeout=30, what="every chunk at R again")
    fs.clear_faults()
    assert get(s3, "object") == data


@pytest.mark.parametrize("who,error", [("agent", "EIO"), ("agent", "ENOSPC"), ("brain", "EIO")])
def test_after_a_failed_fsync_nothing_is_acknowledged_and_a_power_cut_loses_nothing_acknowledged(machine, who, error):
    fs, cluster = machine
    s3 = s3_client(cluster.endpoint)
    path = r"/agent-1/segment-\d+\.sos$" if who == "agent" else r"/brain/metadata/wal-\d+\.log$"
    acknowledged, failed_after = {}, 0
    for n in range(12):
        key = f"before-{n}"
        s3.put_object(Bucket=BUCKET, Key=key, Body=body(70_000, key))
        acknowledged[key] = body(70_000, key)
    # One fsync fails; like Linux after a writeback error, the filesystem forgets the unsynced
    # bytes, so a store that tried again would acknowledge writes that a power cut then loses.
    fs.fault("fsync", path, error, count=1)
    for n in range(40):
        key = f"after-{n}"
        try:
            s3.put_object(Bucket=BUCKET, Key=key, Body=body(70_000, key))
            acknowledged[key] = body(70_000, key)
        except (ClientError, BotoCoreError) as e:
            failed_after += 1
            status_code = getattr(e, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
            assert status_code is None or status_code >= 500, f"a failed fsync answered {status_code}"
    assert fs.status()["faults"] == [], "the fault never fired (a fault is gone once it has fired its count)"
    # The brain logs why (for an agent: the reason the agent gave for each refused chunk).
    assert "refusing further writes" in cluster.brain.log(), f"no sign that the {who} stopped writing"
    if who == "brain":
        assert failed_after == 40, "the brain acknowledged commits after its WAL failed an fsync"
    else:
        assert failed_after > 0, "no PUT placed on the agent whose fsync failed was refused"
        # The agent says so itself, once, however many writes it refuses.
        victim = next(a for a in cluster.agents if a.name == "agent-1")
        assert victim.log().count("the segment store failed to sync") == 1, victim.log()[-3000:]

    fs.cut()
    for p in [cluster.brain, *cluster.agents]:
        p.proc.kill()
        p.proc.wait()
    fs.unmount()
    fs.mount()
    cluster.brain.start()
    for agent in cluster.agents:
        agent.start()
    restart_wait(cluster)
    s3 = s3_client(cluster.endpoint)
    lost = [k for k, v in acknowledged.items() if get_or_none(s3, k) != v]
    assert not lost, f"acknowledged before or after the failed fsync and lost at the power cut: {lost}"


def get_or_none(s3, key):
    try:
        return get(s3, key)
    except ClientError:
        return None


def test_an_agent_started_on_an_empty_directory_under_its_old_id_is_not_trusted(tmp_path):
    cluster = make_cluster(tmp_path, agents=3)
    cluster.brain.args += ["--replication", "2", "--repair-interval", "1", "--reconcile-interval", "1",
                           "--repair-delay", "2"]
    cluster.start()
    try:
        s3 = s3_client(cluster.endpoint)
        s3.create_bucket(Bucket=BUCKET)
        objects = {f"o{n}": body(1_500_000 + n, f"o{n}") for n in range(8)}
        for key, data in objects.items():
            s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        victim = cluster.agents[0]
        held_before = next(a for a in status(cluster)["agents"] if a["id"] == victim.name)["referencedChunks"]
        assert held_before > 0
        victim.stop()
        shutil.rmtree(cluster.agent_dir(victim))  # a new disk, the same agent id
        os.makedirs(cluster.agent_dir(victim))
        victim.start()
        wait_for(lambda: "registered with the brain" in victim.log(), what="the emptied agent's registration")

        def settled():
            report = status(cluster)
            mine = next(a for a in report["agents"] if a["id"] == victim.name)
            return report["underReplicatedChunks"] == 0 and mine["referencedChunks"] == mine["chunkCount"]
        # No read has touched the lost replicas: the brain must find out from the agent's listing.
        wait_for(settled, timeout=60, what="the metadata to stop placing the lost replicas on the emptied agent")
        assert "does not hold replicas placed on it" in cluster.brain.log()
        victim.stop()  # every object reads back whole from the agents that kept their disks
        for key, data in objects.items():
            assert get(s3, key) == data
    finally:
        cluster.stop()
