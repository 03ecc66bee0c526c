"""Power loss: the machine under a brain and three storage agents loses power, at random and at
aimed moments, while a concurrent workload runs; nothing acknowledged may be lost (power_loop.py
describes a round, powercut_fs.py the filesystem that drops what was not made durable).

Short mode (default): 7 cuts, one at each aimed moment and two at random. Long mode:
SOS_POWER_CUTS=200 (any number). SOS_POWER_SEED replays the random choices (timing still varies);
SOS_POWER_WORKERS sets the workload threads (4, plus one in a versioned bucket with Object Lock).

The harness is validated first, as a harness that never fails proves nothing: with fsync and
fdatasync made no-ops in the `sos` processes (LD_PRELOAD of nosync_shim.c), or only the fsyncs of
directories (new segment and WAL files, renames), the same loop must report lost acknowledged writes
within a few cuts.
"""
import os
import random

from power_loop import AIMS, PowerLoop, build_nosync_shim

CUTS = int(os.environ.get("SOS_POWER_CUTS", str(len(AIMS))))
SEED = int(os.environ.get("SOS_POWER_SEED", str(random.randrange(1 << 30))))
WORKERS = int(os.environ.get("SOS_POWER_WORKERS", "4"))
VALIDATION_CUTS = 4


def print_report(title, loop, report):
    print(f"\n{title} (seed {loop.seed}): {report.rounds} rounds")
    print("  cuts landed: " + ", ".join(f"{n} {aim}" for aim, n in sorted(report.landed.items())))
    print(f"  operations: {dict(sorted(loop.ledger.counts.items()))}")
    print(f"  versioned bucket: {dict(sorted(loop.version_ledger.counts.items()))}")
    if report.restart_seconds:
        print(f"  restart after a cut: median {sorted(report.restart_seconds)[len(report.restart_seconds) // 2]:.1f}s, "
              f"max {max(report.restart_seconds):.1f}s")
    print(f"  filesystem: {loop.fs_stats}")
    print(f"  problems: {len(report.problems)}" + "".join(f"\n    {p}" for p in report.problems[:10]))


def validation(tmp_path, mode):
    loop = PowerLoop(tmp_path, VALIDATION_CUTS, SEED, workers=WORKERS, stop_at_first_finding=True,
                     env={"LD_PRELOAD": build_nosync_shim(tmp_path), "SOS_NOSYNC": mode},
                     aims=["random (drop)", "segment roll-over", "WAL switch"])
    report = loop.run()
    print_report(f"validation, SOS_NOSYNC={mode}", loop, report)
    assert report.lost(), (f"with SOS_NOSYNC={mode} the loop found no lost write in {report.rounds} cuts "
                           f"(problems: {report.problems[:5]}): the harness cannot see a missing fsync")
    return report


def test_validation_without_any_fsync_the_loop_finds_lost_writes(tmp_path):
    validation(tmp_path, "all")


def test_validation_without_directory_fsyncs_the_loop_finds_lost_writes(tmp_path):
    validation(tmp_path, "dirs")


def test_power_cuts_lose_nothing_acknowledged(tmp_path):
    loop = PowerLoop(tmp_path, CUTS, SEED, workers=WORKERS)
    report = loop.run()
    print_report("power-cut loop", loop, report)
    assert not report.problems, f"{len(report.problems)} problems (SOS_POWER_SEED={SEED}):\n" + \
        "\n".join(report.problems[:40])
    assert report.rounds == CUTS
    assert loop.ledger.counts.get("put acked", 0) > 0 and loop.ledger.counts.get("delete acked", 0) > 0
    assert loop.version_ledger.counts.get("versioned put acked", 0) > 0
