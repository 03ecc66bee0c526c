"""Kill loop: a brain and three agents as real processes, a concurrent boto3 workload, SIGKILL at random
and at aimed moments.

Short mode (default): about 10 kills. Long mode: SOS_CRASH_KILLS=200 (any number), with a report at
the end. SOS_CRASH_SEED fixes the random choices (workload and killer) to replay a run (timing still
varies); SOS_CRASH_WORKERS sets the number of workload threads (6); SOS_CRASH_KEEP=1 keeps the agents'
segment files of a failed run (otherwise deleted).

A second, versioned bucket with Object Lock takes a smaller workload of its own (crash_versions.py):
new versions (some under a legal hold), delete markers and deletions of given versions; after recovery
no acknowledged version or marker is lost, none whose deletion was acknowledged comes back, no held
version is ever deleted, and every version reads back byte-exact.

Checks after every process is back up: every acknowledged PUT / multipart upload reads back
byte-exact, every acknowledged DELETE stays deleted, unacknowledged operations are all-or-nothing (a
key holds exactly one version ever written to it, never a partial or mixed body), listings agree with
reads, and the same holds again after a clean restart of the whole cluster. Reads during the run must
never return wrong bytes (a short body is tolerated only if it is a prefix of a permitted version).

The cluster replicates every chunk twice (R=2) and runs compaction, metadata snapshots, repair and
reconcile often, and the killer aims some kills at those moments (crash_killer.py); the report counts
where the kills landed. After verification the uploads the workload left unfinished are aborted, repair
and reconcile must leave every agent holding exactly the replicas the metadata references, and after
compaction the agents' files must take at most 1.5x the live bytes times R.
"""
import os
import random
import shutil
import signal
import threading
import time

from crash_harness import Ledger, Worker, s3_client, segment_bytes, verify
from crash_versions import VersionedWorker, VersionLedger, verify_versions
from crash_killer import REPLICATION, Killer, ensure_all_up, make_crash_cluster, poll, set_flag
from harness import status, wait_for

KILLS = int(os.environ.get("SOS_CRASH_KILLS", "10"))
SEED = int(os.environ.get("SOS_CRASH_SEED", str(random.randrange(1 << 30))))
WORKERS = int(os.environ.get("SOS_CRASH_WORKERS", "6"))
BUCKET = "crash"
VERSIONED_BUCKET = "crash-versioned"
VERSIONED_WORKERS = 2
DISK_RATIO_MAX = 1.5


def agent_disk_bytes(cluster):
    """Every file in the agents' directories: segments, hints, anything left over."""
    return sum(p.stat().st_size for agent in cluster.agents for p in cluster.agent_dir(agent).iterdir() if p.is_file())


def reclaim(cluster):
    """Aborts the uploads the workload left unfinished, waits until every agent holds exactly the replicas
    the metadata references (repair and reconcile done), then compacts until nothing more goes.

    Returns what there was to reclaim, and the segment bytes after each compaction round.
    """
    s3 = s3_client(cluster.endpoint)
    aborted = 0
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=BUCKET):
        for upload in page.get("Uploads", []):
            s3.abort_multipart_upload(Bucket=BUCKET, Key=upload["Key"], UploadId=upload["UploadId"])
            aborted += 1

    def heard():  # an agent's chunk count arrives with its first heartbeat, 2 s after it connects
        return all(a["chunkCount"] > 0 or a["referencedChunks"] == 0 for a in status(cluster)["agents"])
    wait_for(heard, timeout=20, what="a heartbeat from every agent")
    agents = status(cluster)["agents"]
    before = (f"{aborted} unfinished uploads aborted, agents hold {sum(a['chunkCount'] for a in agents)} replicas "
              f"for {sum(a['referencedChunks'] for a in agents)} referenced, segment bytes {segment_bytes(cluster)}")

    last = {}

    def only_referenced_replicas():
        last["status"] = report = status(cluster)
        return report["underReplicatedChunks"] == 0 and all(
            a["state"] == "up" and a["chunkCount"] == a["referencedChunks"] for a in report["agents"])
    assert poll(only_referenced_replicas, timeout=90, interval=0.5), \
        f"repair and reconcile did not leave exactly the referenced replicas; last status {last['status']}"
    sizes = []
    while len(sizes) < 2 or sizes[-1] != sizes[-2]:
        assert len(sizes) < 8, f"compaction does not settle: segment bytes {sizes}"
        finished = [a.log().count("compaction finished") for a in cluster.agents]
        for agent in cluster.agents:
            agent.proc.send_signal(signal.SIGUSR1)
        wait_for(lambda: all(a.log().count("compaction finished") > n for a, n in zip(cluster.agents, finished)),
                 timeout=60, what="a compaction pass on every agent")
        sizes.append(segment_bytes(cluster))
    return before, sizes


def test_kill_loop_loses_nothing_acknowledged(tmp_path):
    print(f"\nkill loop: {KILLS} kills, {WORKERS} workers, seed {SEED} (SOS_CRASH_SEED={SEED} replays the choices)")
    started = time.monotonic()
    cluster = make_crash_cluster(tmp_path).start()
    stop = threading.Event()
    ledger = Ledger()
    workers = []
    killer = None
    passed = False
    try:
        s3 = s3_client(cluster.endpoint)
        s3.create_bucket(Bucket=BUCKET)
        s3.create_bucket(Bucket=VERSIONED_BUCKET, ObjectLockEnabledForBucket=True)
        rng = random.Random(SEED)
        workers = [Worker(i, cluster.endpoint, BUCKET, ledger, stop, rng.randrange(1 << 30)) for i in range(WORKERS)]
        version_ledger = VersionLedger()
        workers += [VersionedWorker(i, cluster.endpoint, VERSIONED_BUCKET, version_ledger, stop,
                                    random.Random(rng.randrange(1 << 30))) for i in range(VERSIONED_WORKERS)]
        for worker in workers:
            worker.start()
        killer = Killer(cluster, KILLS, random.Random(rng.randrange(1 << 30)), stop)
        killer.start()
        # The killer ends the run; a generous bound catches a wedged restart.
        killer.join(timeout=60 + KILLS * 20)
        assert not killer.is_alive(), "the killer did not finish: a restart is stuck"
        time.sleep(1.0)  # let the workload run a little with everything up
        stop.set()
        for worker in workers:
            worker.join(timeout=180)
            assert not worker.is_alive(), f"{worker.name} is stuck in a request"
        if killer.failure:
            raise killer.failure
        for worker in workers:
            if worker.failure:
                raise worker.failure
        killer.check_alive()  # notes (and restarts) any process that died on its own
        ensure_all_up(cluster)
        run_seconds = time.monotonic() - started

        first = verify(cluster, ledger, BUCKET)
        first_versions, first_seen = verify_versions(cluster.endpoint, version_ledger, VERSIONED_BUCKET)
        # A clean restart of everything: what was visible must have been durable. No upload is in
        # flight any more, so orphans need no long grace from now on.
        set_flag(cluster.brain, "--orphan-grace", 3)
        cluster.restart()
        second = verify(cluster, ledger, BUCKET)
        second_versions, second_seen = verify_versions(cluster.endpoint, version_ledger, VERSIONED_BUCKET)
        if not first_versions and not second_versions and first_seen != second_seen:
            second_versions.append("the versioned bucket's versions changed across a clean restart")
        # Kills during snapshot writing leave .tmp files; the brain's start must have removed them.
        leftovers = sorted(p.name for p in (tmp_path / "brain" / "metadata").glob("*.tmp"))
        if leftovers:
            second.failures.append(f"unfinished files left in the brain's metadata directory: {leftovers}")
        if not first.failures and not second.failures and first.present != second.present:
            changed = sorted(k for k in set(first.present) | set(second.present)
                             if first.present.get(k) != second.present.get(k))
            second.failures.append(f"state changed across a clean restart for {changed[:20]}")

        reclaim_started = time.monotonic()
        try:
            before, sizes = reclaim(cluster)
            reclaim_failures = []
        except AssertionError as e:  # still report what the run found
            before, sizes, reclaim_failures = "failed", [segment_bytes(cluster)], [f"reclaim: {e}"]
        # Repair, reconcile and compaction have run over the versions too: every one still reads back.
        reclaimed_versions, reclaimed_seen = verify_versions(cluster.endpoint, version_ledger, VERSIONED_BUCKET)
        if not reclaimed_versions and reclaimed_seen != second_seen:
            reclaimed_versions.append("the versioned bucket's versions changed while reclaiming")
        disk = agent_disk_bytes(cluster)
        versioned_bytes = sum(size for versions in second_seen.values() for _, _, size in versions)
        replicated = REPLICATION * (second.live_bytes + versioned_bytes)
        ratio = disk / max(replicated, 1)
        record_bytes = sum(a["usedBytes"] for a in status(cluster)["agents"])
        acked = {k: v for k, v in sorted(ledger.counts.items())}
        print(f"kill loop report (seed {SEED}):")
        print(f"  kill rounds: {killer.done}; processes killed: {killer.by_kind}")
        print("  kills landed: " + ", ".join(f"{n} {moment}" for moment, n in sorted(killer.moments.items())))
        print(f"  operations: {acked}")
        print(f"  versioned bucket: {dict(sorted(version_ledger.counts.items()))}, "
              f"{sum(len(v) for v in second_seen.values())} versions verified")
        print(f"  keys verified: {len(set(ledger.history))}, present {len(second.present)}, "
              f"live bytes {second.live_bytes} + {versioned_bytes} in versions (x R={REPLICATION}: {replicated})")
        print(f"  reclaim: at the start {before}; then segment bytes per compaction round {sizes}; "
              f"{time.monotonic() - reclaim_started:.1f}s")
        print(f"  agents' files {disk} bytes = {ratio:.3f}x live bytes x R (at most {DISK_RATIO_MAX}); segments "
              f"{sizes[-1]}, of which the chunk records in the agents' indexes {record_bytes}")
        print(f"  run {run_seconds:.1f}s, total {time.monotonic() - started:.1f}s")
        # Data problems first (they matter most), then processes that exited on their own.
        problems = ledger.problems + first.failures + [f"after clean restart: {f}" for f in second.failures] + \
            version_ledger.problems + first_versions + [f"after clean restart: {f}" for f in second_versions] + \
            [f"after reclaiming: {f}" for f in reclaimed_versions] + \
            killer.unexpected_exits + reclaim_failures
        print(f"  problems: {len(ledger.problems) + len(version_ledger.problems)} during the run, "
              f"{len(first.failures) + len(first_versions)} + {len(second.failures) + len(second_versions)} in verification, {len(killer.unexpected_exits)} processes exited on their own, "
              f"{len(reclaim_failures)} in reclaiming")
        assert not problems, f"{len(problems)} problems (seed {SEED}):\n" + "\n".join(problems[:40])
        assert ratio <= DISK_RATIO_MAX, \
            f"agents use {disk} bytes for {second.live_bytes} + {versioned_bytes} live bytes x R={REPLICATION}"
        assert killer.done == KILLS
        assert ledger.counts.get("put acked", 0) > 0 and ledger.counts.get("delete acked", 0) > 0
        assert version_ledger.counts.get("versioned put acked", 0) > 0
        assert version_ledger.counts.get("versioned delete-version acked", 0) > 0
        passed = True
    finally:
        stop.set()
        cluster.stop()
    # Free the segments unless the run failed and SOS_CRASH_KEEP=1 asks to keep them. Logs and the
    # brain's metadata stay in the test's directory.
    if passed or os.environ.get("SOS_CRASH_KEEP") != "1":
        for agent in cluster.agents:
            shutil.rmtree(cluster.agent_dir(agent), ignore_errors=True)
