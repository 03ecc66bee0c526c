"""The kill loop's killer: SIGKILLs processes of a running cluster and restarts them.

Most kills land at random moments. Others are aimed at the moments where recovery has the most to
undo, and each is classified by what was going on when it landed (the report counts them):

- compaction: SIGUSR1 to an agent, then SIGKILL as soon as the rewrite's `.tmp` output shows up
  (or after a second if nothing needs compacting);
- snapshot: SIGKILL the brain the moment it starts a new WAL generation, which is when it writes the
  snapshot of the previous one (a small `--snapshot-after` makes that every few seconds);
- repair: an agent stays down past `--repair-delay`, and once the brain logs a repaired chunk, the
  agent it copied to is killed too, in the middle of the repair pass (or, sometimes, the brain).
"""
import re
import signal
import threading
import time

from crash_harness import make_cluster
from harness import port_open, wait_for

REPLICATION = 2
REPAIR_DELAY = 3
# One block of kills; each block is shuffled, so a short run of 10 kills aims at every moment twice.
BLOCK = ("random", "random", "compaction", "snapshot", "repair")


def make_crash_cluster(root, orphan_grace=10):
    """Three agents, R=2, with every background job frequent enough for kills to land in it.

    The orphan grace must outlast the slowest upload of the run (its chunks are unreferenced until
    the upload commits); the test shortens it once the workload has stopped.
    """
    cluster = make_cluster(root, agents=3)
    cluster.brain.args += [
        "--replication", str(REPLICATION), "--snapshot-after", "16KiB", "--garbage-delay", "1",
        "--repair-interval", "1", "--repair-delay", str(REPAIR_DELAY),
        "--reconcile-interval", "2", "--orphan-grace", str(orphan_grace),
    ]
    for agent in cluster.agents:
        agent.args += ["--compaction-threshold", "0.2", "--compaction-interval", "5"]
    return cluster


def set_flag(process, flag, value):
    """Changes a flag for the process's next start."""
    process.args[process.args.index(flag) + 1] = str(value)


def poll(predicate, timeout, interval=0.002):
    """Like wait_for, but says whether the condition came instead of failing; short interval to aim kills."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def newest_wal_generation(metadata):
    return max((int(p.name[4:-4]) for p in metadata.glob("wal-*.log")), default=0)


class Killer(threading.Thread):
    """SIGKILLs processes, at random or aimed moments, restarts them and waits until they are back."""

    def __init__(self, cluster, kills, rng, stop, gap=(0.8, 3.5), down=(0.0, 1.5)):
        super().__init__(name="killer", daemon=True)
        self.cluster, self.kills, self.rng, self.stop_event = cluster, kills, rng, stop
        self.gap, self.down = gap, down
        self.schedule = [m for _ in range(0, kills, len(BLOCK)) for m in rng.sample(BLOCK, len(BLOCK))][:kills]
        self.done = 0
        self.by_kind = {"brain": 0, "agent": 0}
        self.moments = {}  # what was going on when a kill landed -> count
        self.failure = None
        self.unexpected_exits = []

    def processes(self):
        return [self.cluster.brain, *self.cluster.agents]

    def run(self):
        try:
            for moment in self.schedule:
                if self.stop_event.wait(self.rng.uniform(*self.gap)):
                    return
                self.check_alive()
                getattr(self, f"kill_{moment}")()
                self.done += 1
        except Exception as e:
            self.failure = e

    def landed(self, moment):
        self.moments[moment] = self.moments.get(moment, 0) + 1

    def kill(self, *victims):
        for victim in victims:
            victim.proc.send_signal(signal.SIGKILL)
        for victim in victims:
            victim.proc.wait()
            self.by_kind["brain" if victim is self.cluster.brain else "agent"] += 1

    def kill_random(self):
        brain = self.cluster.brain
        if self.rng.random() < 0.15:
            # The brain and an agent at once (a machine losing power, say).
            agent = self.rng.choice(self.cluster.agents)
            self.kill(brain, agent)
            self.landed("random: brain and agent together")
            time.sleep(self.rng.uniform(*self.down))
            agent.start()  # it retries until the brain is back; restart() below waits for it
            restart(self.cluster, brain, self.unexpected_exits)
            wait_for(lambda: "registered with the brain" in agent.log(), timeout=30,
                     what=f"{agent.name} registration after a double kill")
            return
        victim = self.rng.choice(self.processes())
        self.kill(victim)
        self.landed(f"random: {'brain' if victim is brain else 'agent'}")
        time.sleep(self.rng.uniform(*self.down))
        restart(self.cluster, victim, self.unexpected_exits)

    def kill_compaction(self):
        agent = self.rng.choice(self.cluster.agents)
        directory = self.cluster.agent_dir(agent)
        finished = agent.log().count("compaction finished")
        agent.proc.send_signal(signal.SIGUSR1)
        # The request is picked up within 200 ms; the rewrite of a 4 MiB segment takes tens of ms.
        poll(lambda: any(directory.glob("*.tmp")), timeout=1.0)
        time.sleep(self.rng.uniform(0, 0.01))
        self.kill(agent)
        if any(directory.glob("*.tmp")):
            self.landed("compaction: mid-rewrite (.tmp output on disk)")
        elif agent.log().count("compaction finished") == finished:
            self.landed("compaction: requested, pass not finished")
        else:
            self.landed("compaction: just after a pass")
        time.sleep(self.rng.uniform(*self.down))
        restart(self.cluster, agent, self.unexpected_exits)

    def kill_snapshot(self):
        brain = self.cluster.brain
        metadata = self.cluster.root / "brain" / "metadata"
        before = newest_wal_generation(metadata)
        poll(lambda: newest_wal_generation(metadata) > before, timeout=10)
        self.kill(brain)
        generation = newest_wal_generation(metadata)
        if generation == before:
            self.landed("snapshot: none started within 10 s")
        elif (metadata / f"snapshot-{generation:08d}.snap.tmp").exists():
            self.landed("snapshot: mid-write (.tmp on disk)")
        elif f"generation={generation} [Brain] wrote metadata snapshot" not in brain.log():
            self.landed("snapshot: new WAL generation, snapshot not written yet")
        else:
            self.landed("snapshot: just after it was written")
        time.sleep(self.rng.uniform(*self.down))
        restart(self.cluster, brain, self.unexpected_exits)

    def kill_repair(self):
        brain = self.cluster.brain
        first = self.rng.choice(self.cluster.agents)
        repaired = brain.log().count("repaired chunk")
        self.kill(first)
        if not poll(lambda: brain.log().count("repaired chunk") > repaired, timeout=REPAIR_DELAY + 15, interval=0.01):
            self.landed("repair: none started")
            restart(self.cluster, first, self.unexpected_exits)
            return
        if self.rng.random() < 0.3:
            # Copies written but not committed yet become orphans for reconcile.
            self.kill(brain)
            self.landed("repair: brain killed mid-pass")
            time.sleep(self.rng.uniform(*self.down))
            first.start()  # before the brain: its restart waits for every agent
            restart(self.cluster, brain, self.unexpected_exits)
            return
        targets = re.findall(r'replicas=\[([^\]]*)\] \[Brain\] repaired chunk', brain.log())
        name = re.findall(r'"([^"]+)"', targets[-1])[-1]  # repair lists the kept replicas, then the new ones
        target = next(a for a in self.cluster.agents if a.name == name)
        failed = brain.log().count("chunk repair failed")
        self.kill(target)
        time.sleep(self.rng.uniform(*self.down))
        if brain.log().count("chunk repair failed") > failed:
            self.landed("repair: copy target killed, a copy failed")
        else:
            self.landed("repair: copy target killed between copies")
        restart(self.cluster, first, self.unexpected_exits)
        restart(self.cluster, target, self.unexpected_exits)

    def check_alive(self):
        for process in self.processes():
            if process.proc.poll() is not None:
                note_exit(process, self.unexpected_exits)
                restart(self.cluster, process, self.unexpected_exits)


def note_exit(process, exits):
    exits.append(f"{process.name} exited by itself with status {process.proc.returncode} (not killed by the test); "
                 f"log {process.log_path} tail:\n{process.log()[-1500:]}")


def restart(cluster, process, exits=None, timeout=30):
    """Start a process again and wait until it serves: the brain its S3 port and all agents, an agent its registration.

    An agent that exits on its own while the brain restarts (it should reconnect) is noted in `exits`
    and started again, so that the run goes on and finds more.
    """
    process.start()
    if process is cluster.brain:
        def brain_up():
            if process.proc.poll() is not None:
                raise AssertionError(f"brain exited with {process.proc.returncode} on restart:\n{process.log()[-3000:]}")
            return port_open(cluster.s3_port)
        wait_for(brain_up, timeout=timeout, what="brain S3 port after restart")

        def agents_back():
            for agent in cluster.agents:
                if agent.proc.poll() is not None and exits is not None:
                    note_exit(agent, exits)
                    restart(cluster, agent, exits, timeout)
            return all(f"agent={a.name} " in process.log() for a in cluster.agents)
        wait_for(agents_back, timeout=timeout, what="agents re-registered with the restarted brain")
    else:
        def agent_up():
            if process.proc.poll() is not None:
                raise AssertionError(f"{process.name} exited with {process.proc.returncode} on restart:\n"
                                     f"{process.log()[-3000:]}")
            return "registered with the brain" in process.log()
        wait_for(agent_up, timeout=timeout, what=f"{process.name} registration after restart")


def ensure_all_up(cluster):
    for process in [cluster.brain, *cluster.agents]:
        if process.proc is None or process.proc.poll() is not None:
            restart(cluster, process)
