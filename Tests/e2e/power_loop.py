"""The power-cut loop (test_power_loss.py): a brain and storage agents whose directories are on the
power-cut filesystem (powercut_fs.py), a concurrent workload with a ledger (crash_harness.py,
crash_versions.py), and cuts of the whole machine's power at random and at aimed moments.

One round: start every process on what the filesystem holds, run the workload, cut (everything not
made durable is dropped, all at once for every process, as when a machine loses power), SIGKILL the
processes (they get EIO from the dead filesystem meanwhile), unmount and mount again, restart
everything and verify the ledger: every acknowledged write present and exact, nothing whose deletion
was acknowledged back, no wrong bytes, no process refusing to start.

Aimed cuts arm a trigger in the filesystem that cuts when the store does the named operation:
  - group commit: a WAL fdatasync of several records (1 to 64 KiB: not the zero-filling of a new
    file), torn (the disk keeps a random half of the sync's sectors), while small PUTs from many
    threads make group commits, so that the brain's recovery meets zeros between records
    (docs/formats.md, section 4);
  - segment roll-over: just after an agent creates a new segment file (before its directory fsync);
  - compaction: just after an agent renames a rewritten segment into place;
  - snapshot: the fdatasync of a snapshot being written;
  - WAL switch: the rename of the prepared next WAL file.
"""
import os
import random
import signal
import subprocess
import threading
import time

from crash_harness import Ledger, Worker, make_cluster, s3_client, verify
from crash_killer import poll
from crash_versions import VersionedWorker, VersionLedger, prune_versions, verify_versions
from harness import port_open, wait_for
from powercut_fs import PowerCutFS

BUCKET = "power"
VERSIONED_BUCKET = "power-versioned"
REPLICATION = 2

# name -> trigger (None: a cut at a random moment, in that mode)
AIMS = {
    "random (drop)": None,
    "random (torn)": None,
    "group commit (torn WAL sync)": dict(op="fsync", path=r"/brain/metadata/wal-\d+\.log$", when="before", mode="torn",
                                         nth=(1, 3), dirty=(1024, 64 << 10)),
    "segment roll-over": dict(op="create", path=r"/agent-\d+/segment-\d+\.sos$", when="after", nth=(1, 3)),
    "compaction rename": dict(op="rename", path=r"/agent-\d+/segment-\d+\.sos\.tmp$", when="after", nth=(1, 1)),
    "snapshot writing": dict(op="fsync", path=r"/snapshot-\d+\.snap\.tmp$", when="before", mode="torn", nth=(1, 2)),
    "WAL switch": dict(op="rename", path=r"/wal-next\.tmp$", when="after", nth=(1, 2)),
}


class Report:
    def __init__(self):
        self.rounds = 0
        self.landed = {}  # aim -> count of cuts that landed there
        self.problems = []  # lost, resurrected, wrong bytes, refused starts, workload surprises
        self.restart_seconds = []

    def count(self, aim):
        self.landed[aim] = self.landed.get(aim, 0) + 1

    def lost(self):
        return [p for p in self.problems if p.startswith(("LOST", "RESURRECTED", "WRONG", "UNREADABLE"))
                or "refused to start" in p]


def make_power_cluster(root, logs, agents=3, env=None):
    """Agents with small segments and eager compaction, a brain with frequent snapshots and WAL
    switches: every aimed moment comes within seconds. Logs stay off the power-cut filesystem."""
    cluster = make_cluster(root, agents=agents)
    cluster.brain.args += ["--replication", str(REPLICATION), "--snapshot-after", "64KiB", "--orphan-grace", "30",
                           "--garbage-delay", "1"]
    for agent in cluster.agents:
        agent.args[agent.args.index("--segment-size") + 1] = "2MiB"
        agent.args += ["--compaction-threshold", "0.2", "--compaction-interval", "2"]
    for process in [cluster.brain, *cluster.agents]:
        process.workdir = logs
        process.env = dict(process.env or {}, **(env or {}))
    return cluster


class PowerLoop:
    """Runs `cuts` rounds over one ledger; `report` says what happened. Nothing here asserts:
    the validation runs expect the report to find lost writes."""

    def __init__(self, tmp, cuts, seed, workers=4, env=None, aims=None, stop_at_first_finding=False):
        self.tmp, self.cuts, self.seed, self.workers = tmp, cuts, seed, workers
        self.stop_at_first_finding = stop_at_first_finding
        self.rng = random.Random(seed)
        self.fs = PowerCutFS(tmp / "disk", tmp / "machine")
        self.logs = tmp / "logs"
        self.logs.mkdir()
        self.env = env
        names = list(aims or AIMS)
        self.schedule = [n for _ in range(0, cuts, len(names)) for n in self.rng.sample(names, len(names))][:cuts]
        self.ledger, self.version_ledger = Ledger(), VersionLedger()
        self.report = Report()
        self.cluster = None
        self.fs_stats = {}  # the filesystem's operation counts, summed over mounts

    def run(self):
        self.fs.mount()
        try:
            self.cluster = make_power_cluster(self.tmp / "machine" / "sos", self.logs, env=self.env)
            self.install()
            for aim in self.schedule:
                self.round(aim)
                if self.report.problems and self.stop_at_first_finding:
                    break
        except BaseException:
            self.kill_all()
            try:
                self.fs.close()
            except RuntimeError as e:  # the first failure is the one to report
                print(f"unmounting after the failure also failed: {e}")
            raise
        self.kill_all()
        self.fs.close()
        return self.report

    def install(self):
        """The store as installed: started, its buckets made, stopped cleanly and the filesystem
        unmounted cleanly (all of it durable), then started again for the rounds."""
        self.cluster.start()
        s3 = s3_client(self.cluster.endpoint)
        s3.create_bucket(Bucket=BUCKET)
        s3.create_bucket(Bucket=VERSIONED_BUCKET, ObjectLockEnabledForBucket=True)
        self.cluster.stop()
        self.remount()
        if not self.start_all():
            raise AssertionError(f"the store did not start again after a clean shutdown: {self.report.problems}")

    def round(self, aim):
        began = time.monotonic()
        stop = threading.Event()
        workers = [Worker(i, self.cluster.endpoint, BUCKET, self.ledger, stop, self.rng.randrange(1 << 30))
                   for i in range(self.workers)]
        workers.append(VersionedWorker(0, self.cluster.endpoint, VERSIONED_BUCKET, self.version_ledger, stop,
                                       random.Random(self.rng.randrange(1 << 30))))
        if aim.startswith("group commit"):  # many small writes at once: group commits of several records
            workers += [Worker(100 + i, self.cluster.endpoint, BUCKET, self.ledger, stop, self.rng.randrange(1 << 30),
                               sizes=lambda rng: rng.randint(0, 64), mix=(0.8, 1.0, 1.0)) for i in range(12)]
        for worker in workers:
            worker.start()
        self.cut(aim)
        self.kill_all()
        stop.set()
        for worker in workers:
            worker.join(timeout=120)
            if worker.is_alive():
                self.report.problems.append(f"{worker.name} is stuck in a request after the cut")
            elif worker.failure:
                raise worker.failure
        self.remount()
        self.report.rounds += 1
        if self.start_all():
            self.verify()
        # Progress, for long runs (pytest -s shows it as it comes).
        print(f"round {self.report.rounds}: {aim}, {time.monotonic() - began:.0f} s; "
              f"problems so far: {len(self.report.problems)}", flush=True)

    def remount(self):
        stats = self.fs.stats()
        for name in ("bytes_written", "bytes_read", "fsyncs", "fsyncdirs"):
            self.fs_stats[name] = self.fs_stats.get(name, 0) + stats[name]
        self.fs.unmount()
        self.fs.mount()

    def cut(self, aim):
        trigger = AIMS.get(aim)
        if trigger is None:
            time.sleep(self.rng.uniform(1.0, 4.0))
            self.fs.cut(mode="torn" if "torn" in aim else "drop", seed=self.rng.randrange(1 << 30))
            self.report.count(aim)
            return
        low, high = trigger["nth"]
        self.fs.arm(trigger["op"], trigger["path"], nth=self.rng.randint(low, high), when=trigger["when"],
                    mode=trigger.get("mode", "drop"), seed=self.rng.randrange(1 << 30),
                    min_dirty=trigger.get("dirty", (0, 0))[0], max_dirty=trigger.get("dirty", (0, 1 << 62))[1])
        compacting = aim.startswith("compaction")

        def fired():
            if compacting:  # ask for a pass now and then; with deletes and overwrites there is garbage
                for agent in self.cluster.agents:
                    if agent.proc.poll() is None:
                        agent.proc.send_signal(signal.SIGUSR1)
            return self.fs.status()["cut"]
        if poll(fired, timeout=30, interval=0.5 if compacting else 0.05):
            self.report.count(aim)
        else:
            self.fs.cut(mode="drop", seed=0)
            self.report.count(f"{aim}: did not come within 30 s, cut at random")

    def kill_all(self):
        if self.cluster is None:
            return
        for process in [self.cluster.brain, *self.cluster.agents]:
            if process.proc is not None and process.proc.poll() is None:
                process.proc.send_signal(signal.SIGKILL)
        for process in [self.cluster.brain, *self.cluster.agents]:
            if process.proc is not None:
                process.proc.wait()

    def start_all(self):
        """Starts the brain, then the agents, on what survived; a process that exits is a refused start."""
        started = time.monotonic()
        try:
            self.cluster.brain.start()
            for agent in self.cluster.agents:
                agent.start()
            restart_wait(self.cluster)
        except AssertionError as e:
            self.report.problems.append(f"round {self.report.rounds}: a process refused to start: {e}")
            return False
        self.report.restart_seconds.append(time.monotonic() - started)
        return True

    def verify(self):
        # A validation run only needs to know that something was lost: no retries of failed reads.
        result = verify(self.cluster, self.ledger, BUCKET, retries=1 if self.stop_at_first_finding else 20)
        versions = []
        if not (result.failures and self.stop_at_first_finding):
            versions, _ = verify_versions(self.cluster.endpoint, self.version_ledger, VERSIONED_BUCKET)
            if not versions:  # a bounded number of versions keeps long runs' rounds equally short
                versions = prune_versions(self.cluster.endpoint, self.version_ledger, VERSIONED_BUCKET)
        self.report.problems += [f"{f} (round {self.report.rounds})" for f in result.failures + versions]
        self.report.problems += self.ledger.problems + self.version_ledger.problems
        self.ledger.problems.clear()
        self.version_ledger.problems.clear()


def restart_wait(cluster, timeout=60):
    """Waits until the brain serves and every agent registered with it."""
    def up():
        for process in [cluster.brain, *cluster.agents]:
            if process.proc.poll() is not None:
                raise AssertionError(f"{process.name} exited with {process.proc.returncode}:\n{process.log()[-2000:]}")
        return port_open(cluster.s3_port) and all("registered with the brain" in a.log() for a in cluster.agents)
    wait_for(up, timeout=timeout, what="every process back after the cut")


def build_nosync_shim(tmp):
    """Compiles nosync_shim.c (fsync and fdatasync made no-ops) for LD_PRELOAD."""
    source = os.path.join(os.path.dirname(__file__), "nosync_shim.c")
    library = str(tmp / "nosync.so")
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", library, source, "-ldl"], check=True)
    return library
