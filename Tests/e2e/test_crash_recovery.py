"""Kill loop: a brain and three agents as real processes, a concurrent boto3 workload, SIGKILL at random.

Short mode (default): about 10 kills. Long mode: SOS_CRASH_KILLS=200 (any number), with a report at
the end. SOS_CRASH_SEED fixes the random choices (workload and killer) to replay a run (timing still
varies); SOS_CRASH_WORKERS sets the number of workload threads (6); SOS_CRASH_KEEP=1 keeps the agents'
segment files of a failed run (otherwise deleted: without compaction they grow by ~30 MB/s).

Checks after every process is back up: every acknowledged PUT / multipart upload reads back
byte-exact, every acknowledged DELETE stays deleted, unacknowledged operations are all-or-nothing (a
key holds exactly one version ever written to it, never a partial or mixed body), listings agree with
reads, and the same holds again after a clean restart of the whole cluster. Reads during the run must
never return wrong bytes (a short body is tolerated only if it is a prefix of a permitted version).
"""
import os
import random
import shutil
import threading
import time

from crash_harness import Ledger, Killer, Worker, ensure_all_up, make_cluster, s3_client, segment_bytes, verify

KILLS = int(os.environ.get("SOS_CRASH_KILLS", "10"))
SEED = int(os.environ.get("SOS_CRASH_SEED", str(random.randrange(1 << 30))))
WORKERS = int(os.environ.get("SOS_CRASH_WORKERS", "6"))
BUCKET = "crash"


def test_kill_loop_loses_nothing_acknowledged(tmp_path):
    print(f"\nkill loop: {KILLS} kills, {WORKERS} workers, seed {SEED} (SOS_CRASH_SEED={SEED} replays the choices)")
    started = time.monotonic()
    cluster = make_cluster(tmp_path).start()
    stop = threading.Event()
    ledger = Ledger()
    workers = []
    killer = None
    passed = False
    try:
        s3_client(cluster.endpoint).create_bucket(Bucket=BUCKET)
        rng = random.Random(SEED)
        workers = [Worker(i, cluster.endpoint, BUCKET, ledger, stop, rng.randrange(1 << 30)) for i in range(WORKERS)]
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
        # A clean restart of everything: what was visible must have been durable.
        cluster.restart()
        second = verify(cluster, ledger, BUCKET)
        if not first.failures and not second.failures and first.present != second.present:
            changed = sorted(k for k in set(first.present) | set(second.present)
                             if first.present.get(k) != second.present.get(k))
            second.failures.append(f"state changed across a clean restart for {changed[:20]}")

        disk = segment_bytes(cluster)
        ratio = disk / max(first.live_bytes, 1)
        # NOT asserted: issue 7 wants agents' disk use within 1.5x of live bytes after reconcile and
        # compaction, but SOS has neither yet (overwritten/deleted chunks, tombstones and orphans of
        # killed PUTs stay on disk forever). Measured and printed so the gap is visible.
        acked = {k: v for k, v in sorted(ledger.counts.items())}
        print(f"kill loop report (seed {SEED}):")
        print(f"  kill rounds: {killer.done}; processes killed: {killer.by_kind}")
        print(f"  operations: {acked}")
        print(f"  keys verified: {len(set(ledger.history))}, present {len(first.present)}, "
              f"live bytes {first.live_bytes}")
        print(f"  agent segment bytes {disk} = {ratio:.2f}x live bytes (not asserted: no reconcile/compaction yet)")
        print(f"  run {run_seconds:.1f}s, total {time.monotonic() - started:.1f}s")
        # Data problems first (they matter most), then processes that exited on their own.
        problems = ledger.problems + first.failures + [f"after clean restart: {f}" for f in second.failures] + \
            killer.unexpected_exits
        print(f"  problems: {len(ledger.problems)} during the run, {len(first.failures)} + {len(second.failures)} "
              f"in verification, {len(killer.unexpected_exits)} processes exited on their own")
        assert not problems, f"{len(problems)} problems (seed {SEED}):\n" + "\n".join(problems[:40])
        assert killer.done == KILLS
        assert ledger.counts.get("put acked", 0) > 0 and ledger.counts.get("delete acked", 0) > 0
        passed = True
    finally:
        stop.set()
        cluster.stop()
    # Segments are never compacted (tens of GiB in a long run): free them unless the run failed and
    # SOS_CRASH_KEEP=1 asks to keep them. Logs and the brain's WAL stay in the test's directory.
    if passed or os.environ.get("SOS_CRASH_KEEP") != "1":
        for agent in cluster.agents:
            shutil.rmtree(cluster.agent_dir(agent), ignore_errors=True)
