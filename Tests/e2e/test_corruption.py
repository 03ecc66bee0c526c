"""Torn writes and corruption, made by hand in the files of stopped processes (and once under a running agent).

Rules checked: startup succeeds (the brain refuses only for WAL damage that is not a torn tail, and
then says which file and offset, or when no snapshot can stand in for WAL files already removed, and
then names the damaged snapshots); objects whose records were not touched read back exact; nothing
ever serves wrong bytes (a GET may fail, or end early, but what arrives is a prefix of the object);
corruption is logged. A damaged hint file is rebuilt from its segment; a damaged newest snapshot gives
way to the previous one and the WAL after it.
"""
import os
import random
import re
import signal
import subprocess

import pytest

from crash_harness import (KiB, MiB, chunk_md5s, chunk_records_by_md5, make_cluster, read_object, read_records,
                           s3_client, segments)
from harness import SOS_BIN, free_port, port_open, wait_for

SEED = int(os.environ.get("SOS_CRASH_SEED", str(random.randrange(1 << 30))))
BUCKET = "torn"


@pytest.fixture
def rng():
    print(f"\nseed {SEED} (SOS_CRASH_SEED={SEED} replays it)")
    return random.Random(SEED)


@pytest.fixture
def one_agent(tmp_path):
    """A brain and one agent (so every chunk is in one directory), 1 MiB chunks, 4 MiB segments."""
    cluster = make_cluster(tmp_path, agents=1).start()
    yield cluster
    cluster.stop()


def upload(s3, rng, count, sizes, prefix="obj"):
    objects = {}
    for i in range(count):
        data = os.urandom(rng.choice(sizes))
        key = f"{prefix}/{i:03d}"
        s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        objects[key] = data
    return objects


def damaged_keys(objects, agent_dir, lost):
    """Keys with at least one chunk whose record is in `lost` (a predicate on records) or is missing."""
    records = chunk_records_by_md5(agent_dir)
    damaged = set()
    for key, data in objects.items():
        for digest in chunk_md5s(data):
            record = records.get(digest)
            if record is None or lost(record):
                damaged.add(key)
    return damaged


def check_reads(s3, objects, damaged, problems, context):
    """Undamaged keys must read back exact; damaged ones may fail but never deliver wrong bytes."""
    outcomes = {"exact": 0, "failed": 0, "cut short": 0}
    for key, data in objects.items():
        for attempt in range(5):
            status, got, complete, error = read_object(s3, BUCKET, key)
            if status == 200 and complete or key in damaged:
                break
        if status == 200 and complete:
            if got != data:
                problems.append(f"{context}: WRONG BYTES for {key!r}: {len(got)} bytes, expected {len(data)}")
            outcomes["exact"] += 1
        elif status == 200:
            if not data.startswith(got):
                problems.append(f"{context}: WRONG BYTES for {key!r}: the {len(got)} bytes received are not a prefix")
            outcomes["cut short"] += 1
            if key not in damaged:
                problems.append(f"{context}: undamaged {key!r} cut short: {error}")
        else:
            outcomes["failed"] += 1
            if key not in damaged:
                problems.append(f"{context}: undamaged {key!r} unreadable: status {status}, {error}")
    return outcomes


def test_truncated_newest_segment_keeps_whole_records_and_serves_no_wrong_bytes(one_agent, rng):
    cluster = one_agent
    agent, agent_dir = cluster.agents[0], cluster.agent_dir(cluster.agents[0])
    s3 = s3_client(cluster.endpoint, read_timeout=30)
    s3.create_bucket(Bucket=BUCKET)
    objects = upload(s3, rng, 30, [0, 1, 100, 4 * KiB, 300 * KiB, MiB, MiB + 1, 2 * MiB + 5, 3 * MiB])
    problems, damaged = [], set()
    for round_number in range(4):
        cluster.stop()
        newest = segments(agent_dir)[-1]
        records = read_records(newest)
        size = newest.stat().st_size
        assert records and records[-1].end == size, f"{newest.name} is not a clean run of records before the cut"
        # Round 0: inside the last record (a torn append). Round 1: inside some record's header.
        # Later rounds: anywhere in the file.
        if round_number == 0:
            cut = rng.randrange(records[-1].offset + 1, size)
        elif round_number == 1:
            victim = rng.choice(records)
            cut = victim.offset + rng.randrange(1, 24)
        else:
            cut = rng.randrange(0, size)
        with newest.open("r+b") as f:
            f.truncate(cut)
        torn = any(r.offset < cut < r.end for r in records)
        damaged |= damaged_keys(objects, agent_dir, lambda r: r.path == newest and r.end > cut)
        print(f"round {round_number}: cut {newest.name} at {cut} of {size}; {len(damaged)} keys damaged so far")
        cluster.start()  # waits for the agent's registration: startup succeeded
        if torn:
            assert "truncated torn tail" in agent.log(), agent.log()
            assert newest.stat().st_size == max(r.end for r in records if r.end <= cut) if any(
                r.end <= cut for r in records) else newest.stat().st_size == 0
        outcomes = check_reads(s3, objects, damaged, problems, f"round {round_number}")
        print(f"  reads: {outcomes}")
        # Writing goes on after the cut, and what is written now survives the next round's restart
        # unless that round cuts it off.
        objects.update(upload(s3, rng, 4, [10, 50 * KiB, MiB + 7], prefix=f"after-{round_number}"))
    assert not problems, "\n".join(problems)


def test_flipped_bytes_in_a_sealed_segment_are_reported_and_never_served(one_agent, rng):
    cluster = one_agent
    agent, agent_dir = cluster.agents[0], cluster.agent_dir(cluster.agents[0])
    s3 = s3_client(cluster.endpoint, read_timeout=30)
    s3.create_bucket(Bucket=BUCKET)
    objects = upload(s3, rng, 24, [1, 4 * KiB, 200 * KiB, MiB, MiB + 3, 2 * MiB + 9])
    cluster.stop()
    sealed = segments(agent_dir)[:-1]
    assert sealed, "no sealed segment: write more"
    target = max(sealed, key=lambda p: len(read_records(p)))
    records = read_records(target)
    size = target.stat().st_size
    flips = sorted(rng.sample(range(size), 4))
    hit = [r for r in records if any(r.offset <= o < r.end for o in flips)]
    damaged = damaged_keys(objects, agent_dir, lambda r: any(r.path == h.path and r.offset == h.offset for h in hit))
    with target.open("r+b") as f:
        for offset in flips:
            f.seek(offset)
            byte = f.read(1)[0]
            f.seek(offset)
            f.write(bytes([byte ^ rng.randrange(1, 256)]))
    print(f"flipped bytes at {flips} of {target.name} ({size} bytes): {len(hit)} records hit, "
          f"{len(damaged)} objects damaged")
    cluster.start()
    problems = []
    outcomes = check_reads(s3, objects, damaged, problems, "after flips")
    print(f"reads: {outcomes}")
    assert not problems, "\n".join(problems)
    # Sealed segments start from their hint files, so the damage is found when a read (or scrub)
    # verifies the record: by now every object has been read, damaged ones included.
    assert "corrupt" in agent.log().lower(), f"the agent did not report the corruption:\n{agent.log()}"


def test_corrupted_record_under_a_running_agent_is_refused_not_served(one_agent, rng):
    cluster = one_agent
    agent, agent_dir = cluster.agents[0], cluster.agent_dir(cluster.agents[0])
    s3 = s3_client(cluster.endpoint, read_timeout=30)
    s3.create_bucket(Bucket=BUCKET)
    objects = upload(s3, rng, 8, [3 * MiB + 11])
    records = chunk_records_by_md5(agent_dir)
    key = rng.choice(sorted(objects))
    data = objects[key]
    record = records[chunk_md5s(data)[1]]  # the second chunk: the response headers are out by then
    offset = rng.randrange(record.payload_offset, record.end)
    with record.path.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ 0x5A]))
        f.flush()
        os.fsync(f.fileno())
    status, got, complete, error = read_object(s3, BUCKET, key)
    print(f"GET after flipping byte {offset} of {record.path.name}: status {status}, {len(got)} bytes, {error}")
    assert not (status == 200 and complete), "a chunk that fails its checksum was served as a whole object"
    assert data.startswith(got), "bytes received are not a prefix of the object"
    wait_for(lambda: "corrupt" in agent.log().lower(), timeout=10, what="the agent logging the corrupt chunk")
    for other in sorted(objects):
        if other != key:
            got = s3.get_object(Bucket=BUCKET, Key=other)["Body"].read()
            assert got == objects[other], other


def test_a_corrupt_small_object_gets_an_s3_error_not_a_response_cut_short(one_agent, rng):
    """Bodies up to 256 KiB are read whole before the response starts (GetObjectHandler), so a
    record that fails its checksum is answered with an S3 error; larger ones can only be cut short."""
    cluster = one_agent
    agent, agent_dir = cluster.agents[0], cluster.agent_dir(cluster.agents[0])
    s3 = s3_client(cluster.endpoint, read_timeout=30)
    s3.create_bucket(Bucket=BUCKET)
    objects = upload(s3, rng, 6, [1, 4 * KiB, 256 * KiB])
    records = chunk_records_by_md5(agent_dir)
    key = rng.choice(sorted(objects))
    data = objects[key]
    record = records[chunk_md5s(data)[0]]
    offset = rng.randrange(record.payload_offset, record.end)
    with record.path.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ 0x5A]))
        f.flush()
        os.fsync(f.fileno())
    for attempt in range(2):  # the first read finds the damage, the second the agent's mark
        status, got, complete, error = read_object(s3, BUCKET, key)
        print(f"GET {key!r} ({len(data)} bytes) after flipping byte {offset}: status {status}, {error}")
        assert status == 500 and error == "500 InternalError", f"attempt {attempt}: status {status}, {error}"
    wait_for(lambda: "corrupt" in agent.log().lower(), timeout=10, what="the agent logging the corrupt chunk")
    for other in sorted(objects):
        if other != key:
            assert s3.get_object(Bucket=BUCKET, Key=other)["Body"].read() == objects[other], other


WAL_FILE_BYTES = 16 * MiB


def _wal(cluster):
    return cluster.root / "brain" / "metadata" / "wal-00000001.log"


def test_torn_wal_tail_is_cut_and_earlier_objects_survive(one_agent, rng):
    cluster = one_agent
    s3 = s3_client(cluster.endpoint, read_timeout=30)
    s3.create_bucket(Bucket=BUCKET)
    keys = []
    objects = {}
    for i in range(8):
        key, data = f"wal/{i}", os.urandom(rng.choice([0, 10, 5000, MiB + 1]))
        s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        keys.append(key)
        objects[key] = data
    for round_number in range(3):
        cluster.stop()
        wal = _wal(cluster)
        records = read_records(wal)
        last = records[-1]
        # The file is zero-filled ahead of its records (the brain's default WAL preallocation).
        assert wal.stat().st_size == WAL_FILE_BYTES
        assert wal.read_bytes()[last.end:] == bytes(WAL_FILE_BYTES - last.end)
        # Round 0 inside the header, then anywhere inside the record. A record torn by a crash has
        # zeros where its last bytes were due; round 2 also drops the zeros after it, as a file
        # written without them would end.
        cut = last.offset + (rng.randrange(1, 24) if round_number == 0 else rng.randrange(1, last.end - last.offset))
        # Zeros written over bytes that are zero already tear nothing: the cut takes the last non-zero byte.
        contents = wal.read_bytes()
        cut = min(cut, max(i for i in range(last.offset, last.end) if contents[i]))
        with wal.open("r+b") as f:
            f.seek(cut)
            f.write(bytes(last.end - cut))
            if round_number == 2:
                f.truncate(cut)
        print(f"round {round_number}: WAL torn at {cut} inside the last record {last.offset}..{last.end}")
        cluster.start()
        assert "truncating torn tail of the metadata log" in cluster.brain.log(), cluster.brain.log()
        assert [(r.offset, r.end) for r in read_records(wal)] == [(r.offset, r.end) for r in records[:-1]]
        assert wal.stat().st_size == WAL_FILE_BYTES, "zero-filled again after the cut"
        lost = keys.pop()  # the last mutation was the PUT of the last key
        del objects[lost]
        with pytest.raises(Exception) as e:
            s3.head_object(Bucket=BUCKET, Key=lost)
        assert "404" in str(e.value), str(e.value)
        for key, data in objects.items():
            assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == data, key
        listed = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
        assert listed == sorted(objects)
    # The log goes on after the cut.
    s3.put_object(Bucket=BUCKET, Key="wal/after", Body=b"after the cut")
    cluster.restart()
    assert s3.get_object(Bucket=BUCKET, Key="wal/after")["Body"].read() == b"after the cut"
    for key, data in objects.items():
        assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == data, key


def test_corrupt_early_wal_record_makes_the_brain_refuse_with_file_and_offset(one_agent, rng):
    cluster = one_agent
    s3 = s3_client(cluster.endpoint, read_timeout=30)
    s3.create_bucket(Bucket=BUCKET)
    for i in range(6):
        s3.put_object(Bucket=BUCKET, Key=f"early/{i}", Body=os.urandom(100 + i))
    cluster.stop()
    wal = _wal(cluster)
    records = read_records(wal)
    victim = records[rng.randrange(0, 3)]  # one of the first three records; valid records follow it
    offset = rng.randrange(victim.offset, victim.end)
    with wal.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ rng.randrange(1, 256)]))
    print(f"flipped byte {offset} in WAL record {victim.offset}..{victim.end}")
    brain = cluster.brain
    brain.start()
    try:
        status = brain.proc.wait(timeout=30)
    except Exception:
        brain.stop()
        raise AssertionError(f"the brain did not refuse to start on a corrupt WAL:\n{brain.log()}")
    output = brain.log()
    print(output[-800:])
    assert status != 0, output
    assert str(wal) in output, f"the output does not name the file:\n{output}"
    assert f"offset {victim.offset}" in output, f"the output does not name offset {victim.offset}:\n{output}"


def flip_bytes(path, rng, count):
    """XOR `count` distinct random bytes of a file with random non-zero values; returns the offsets."""
    data = bytearray(path.read_bytes())
    offsets = sorted(rng.sample(range(len(data)), min(count, len(data))))
    for offset in offsets:
        data[offset] ^= rng.randrange(1, 256)
    path.write_bytes(bytes(data))
    return offsets


def test_flipped_bytes_in_a_hint_file_make_the_agent_rebuild_it_from_its_segment(one_agent, rng):
    cluster = one_agent
    agent, agent_dir = cluster.agents[0], cluster.agent_dir(cluster.agents[0])
    s3 = s3_client(cluster.endpoint, read_timeout=30)
    s3.create_bucket(Bucket=BUCKET)
    objects = upload(s3, rng, 24, [0, 1, 4 * KiB, 200 * KiB, MiB, MiB + 3, 2 * MiB + 9])
    sealed = segments(agent_dir)[:-1]
    assert sealed, "no sealed segment: write more"
    # Hints are written in the background after sealing.
    wait_for(lambda: all(p.with_suffix(".hint").exists() for p in sealed), what="hints of the sealed segments")
    cluster.stop()
    target = rng.choice(sealed).with_suffix(".hint")
    original = target.read_bytes()
    flips = flip_bytes(target, rng, rng.randint(1, 4))
    print(f"flipped bytes at {flips} of {target.name} ({len(original)} bytes)")
    cluster.start()
    assert re.search(r"hintsRebuilt=1\b", agent.log()), f"the agent did not say it rebuilt the hint:\n{agent.log()}"
    # A hint is a pure function of its segment's bytes, so the rebuilt one is the original.
    assert target.read_bytes() == original, f"{target.name} was not rebuilt to its original bytes"
    problems = []
    outcomes = check_reads(s3, objects, set(), problems, "after hint damage")
    print(f"reads: {outcomes}")
    assert not problems, "\n".join(problems)
    assert "corrupt" not in agent.log().lower(), "a damaged hint is not damaged data"


def snapshots(metadata):
    return sorted(metadata.glob("snapshot-*.snap"))


def test_a_damaged_newest_snapshot_falls_back_to_the_previous_one_and_both_damaged_refuse(tmp_path, rng):
    cluster = make_cluster(tmp_path, agents=1)
    # A tiny WAL limit: a few dozen PUTs start a new generation and write a snapshot.
    cluster.brain.args += ["--snapshot-after", "8KiB"]
    cluster.start()
    try:
        s3 = s3_client(cluster.endpoint, read_timeout=30)
        s3.create_bucket(Bucket=BUCKET)
        metadata = tmp_path / "brain" / "metadata"
        objects = {}

        def put(key):
            objects[key] = os.urandom(rng.choice([0, 10, 3000, 70 * KiB]))
            s3.put_object(Bucket=BUCKET, Key=key, Body=objects[key])

        while len(snapshots(metadata)) < 2:
            put(f"snap/{len(objects):04d}")
            assert len(objects) < 2000, "no second snapshot was written"
        # Changes after the newest snapshot, which only the WAL holds.
        for key in rng.sample(sorted(objects), 3):
            s3.delete_object(Bucket=BUCKET, Key=key)
            del objects[key]
        put(rng.choice(sorted(objects)))
        put("after/last")
        cluster.stop()
        older, newest = snapshots(metadata)[-2:]
        assert not (metadata / "wal-00000001.log").exists(), "two snapshots, yet the first WAL file is still there"
        flips = flip_bytes(newest, rng, rng.randint(1, 4))
        print(f"{len(objects)} objects; flipped bytes at {flips} of {newest.name}; falling back to {older.name}")
        cluster.start()
        log = cluster.brain.log()
        assert "skipping unusable snapshot" in log and str(newest) in log, log
        assert f"path={older} [Brain] loaded metadata snapshot" in log, log
        problems = []
        print(f"reads: {check_reads(s3, objects, set(), problems, 'after the fallback')}")
        assert not problems, "\n".join(problems)
        listed = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
                  for o in page.get("Contents", [])]
        assert listed == sorted(objects)

        # With the older snapshot damaged too nothing covers the removed first WAL file.
        cluster.stop()
        flip_bytes(older, rng, 1)
        brain = cluster.brain
        brain.start()
        try:
            status = brain.proc.wait(timeout=30)
        except Exception:
            brain.stop()
            raise AssertionError(f"the brain started without a usable snapshot:\n{brain.log()}")
        output = brain.log()
        print(output[-600:])
        assert status != 0, output
        refusal = output.strip().splitlines()[-1]
        assert str(newest) in refusal and str(older) in refusal, f"the refusal does not name the snapshots:\n{output}"
    finally:
        cluster.stop()


def test_sos_server_reads_past_a_corrupt_in_process_replica_and_reports_it(tmp_path, rng):
    """`sos server` calls its agents in-process: a corrupt replica must still fail over to the
    other one, and scrub findings must still reach the brain (as heartbeat-borne reports do)."""
    port, data_dir, log_path = free_port(), tmp_path / "data", tmp_path / "server.log"
    server = subprocess.Popen(
        [SOS_BIN, "server", "--directory", str(data_dir), "--s3-address", f"127.0.0.1:{port}", "--replication", "2", "--console-address", "127.0.0.1:0"],
        stdout=subprocess.DEVNULL, stderr=log_path.open("ab"))
    try:
        wait_for(lambda: port_open(port), what="sos server")
        wait_for(lambda: log_path.read_text().count("peer=in-process") >= 2, what="both agents")
        s3 = s3_client(f"http://127.0.0.1:{port}")
        s3.create_bucket(Bucket=BUCKET)
        objects = upload(s3, rng, 6, [MiB + 5])
        records = chunk_records_by_md5(data_dir / "agent-1")
        assert len(records) == len(objects), "every chunk has a replica on agent-1 at R=2"
        for record in records.values():
            with record.path.open("r+b") as f:
                offset = rng.randrange(record.payload_offset, record.end)
                f.seek(offset)
                byte = f.read(1)[0]
                f.seek(offset)
                f.write(bytes([byte ^ 0x5A]))
        for key, data in sorted(objects.items()):
            assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == data, key
        server.send_signal(signal.SIGUSR2)  # scrub now: every damaged record is found, read or not
        wait_for(lambda: "agent reports corrupt chunks" in log_path.read_text(), timeout=20,
                 what="the brain hearing of the corrupt replicas")
        assert "agent=agent-1" in next(line for line in log_path.read_text().splitlines()
                                       if "agent reports corrupt chunks" in line)
    finally:
        server.terminate()
        assert server.wait(timeout=15) == 0
