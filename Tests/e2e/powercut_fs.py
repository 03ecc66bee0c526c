"""A FUSE file system that can lose power, for crash tests (in the spirit of etcd's LazyFS).

Run `python3 powercut_fs.py serve STATE_DIR MOUNTPOINT`, or use the `PowerCutFS` client class below,
which starts that daemon, mounts it and talks to it. The processes under test keep their data
directories inside the mount; a test then cuts the power and remounts to see what survived.

The model
---------
The daemon keeps its own inode table in memory (ids from a counter, never reused). A file's current
bytes live in a real file, STATE_DIR/live/<id>; a directory's current entries in a dict name -> id.
That is the *live* state: what every read, readdir and stat sees.

Next to it, the *durable* state: what a disk would still hold after losing power.
  - A file's durable bytes are STATE_DIR/durable/<id> (absent: empty). fsync or fdatasync copies
    the byte ranges written or truncated since the last fsync from live to durable (only those,
    so an fsync after a small append to a big file stays cheap).
  - A directory's durable entries are a dict, snapshotted from the live one by fsync on the
    directory only. Creating, renaming and unlinking touch live dicts alone, so: a new file that was
    fsynced but whose directory was not is gone after a cut; a rename without fsync of the
    directories is undone; an unlinked file comes back (with its durable bytes); a directory whose
    entry is durable but which itself was never fsynced comes back empty.
  - chmod is durable at once. No hard links, no symbolic links.
Files present at mount are durable as they are: their live file doubles as the durable one until
their first change, which copies it to durable/<id> first (so a mount copies nothing).

A *cut* ("drop" mode) freezes the durable state; "torn" mode first lets a random half of each
file's not-yet-synced 512-byte sectors reach the disk, and gives the file a random size between its
durable and live sizes, as a disk that wrote some sectors of a write-back would (a sector is the
unit a disk writes whole or not at all; a 4 KiB page of the page cache is eight of them). After a
cut every operation fails with EIO. Cuts can also be armed to fire on the nth operation of a kind
on a path matching a regex (for an fsync, optionally only one with `min_dirty` to `max_dirty`
unsynced bytes), before or after that operation. Faults make matching operations fail with an
errno; a failed fsync also forgets the file's unsynced ranges, as Linux does after a writeback
error, so a store that simply retries fsync loses data (and a test can tell).

Unmounting ends the daemon, which writes the next state to STATE_DIR (tree.json plus live/<id>):
the durable state after a cut, the live state after a clean unmount. The next `serve` loads it.
(Durable directories snapshotted at different times may both name an inode that moved between
them; the next state keeps the first name met, walking breadth first in name order.)

Not supported: hard and symbolic links (EPERM), xattrs, fallocate (EOPNOTSUPP), RENAME_EXCHANGE
(EINVAL). flock and fcntl locks are left to the kernel, which keeps them locally: enough for a lock
file. Exit status: 0, or 3 if any operation hit an internal error (logged in the log file).

Use from a test:
    fs = PowerCutFS(tmp / "pcfs", tmp / "data").mount()
    ...start the processes with their directories under tmp/data, run a workload...
    fs.cut()  # or beforehand fs.arm("fsync", "/wal-", nth=3), fs.fault("fsync", "seg", "EIO", count=1)
    ...kill the processes (SIGKILL)...
    fs.unmount(); fs.mount()  # shows only what was durable; fs.status(), fs.stats() tell what happened

Control: a Unix socket STATE_DIR/control.sock, one JSON request per line, one JSON answer per line,
e.g. {"cmd": "cut", "mode": "torn", "seed": 1} -> {"ok": true, ...} or {"ok": false, "error": ...}.
Commands: ping, cut, arm, fault, clear_faults, status, stats (the PowerCutFS methods' arguments).

The code: this file is the client (PowerCutFS, mount checks); powercut_daemon.py is `serve`, the
mount; powercut_ops.py the FUSE operations, armed cuts, faults and control commands; powercut_state.py
the model above (live and durable inodes, sync, cuts, tree.json); powercut_control.py the socket protocol.
"""
import os
import pathlib
import subprocess
import sys
import time

from powercut_control import send_request
from powercut_daemon import fuse_problem, main


def users_of(mountpoint):
    """The processes with a file, directory or working directory under `mountpoint`: pid -> command."""
    target, users = os.path.realpath(mountpoint), {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            links = [os.readlink(f"/proc/{pid}/cwd")] + [os.readlink(f"/proc/{pid}/fd/{fd}")
                                                         for fd in os.listdir(f"/proc/{pid}/fd")]
            if any(link == target or link.startswith(target + "/") for link in links):
                users[int(pid)] = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()[:200]
        except OSError:
            continue
    return users


def log_line(log_path, text):
    with open(log_path, "a") as log_file:
        log_file.write(f"---- {time.strftime('%H:%M:%S')} {text}\n")


def is_mounted(path):
    """From /proc/mounts, so that a mount whose daemon died (ENOTCONN) still counts as mounted."""
    target = os.path.realpath(path)
    with open("/proc/mounts") as mounts:
        for line in mounts:
            point = line.split()[1].replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")
            if point == target:
                return True
    return False


class PowerCutFS:
    """Starts, drives and stops a power-cut daemon. Between cut() and unmount() the caller kills the
    processes using the mount (a busy mount cannot be unmounted)."""

    def __init__(self, state_dir, mountpoint, log_path=None):
        self.state_dir, self.mountpoint = pathlib.Path(state_dir), pathlib.Path(mountpoint)
        self.log_path = pathlib.Path(log_path) if log_path else self.state_dir / "powercut.log"
        self.proc = None

    def mount(self, timeout=20):
        problem = fuse_problem()
        if problem:
            raise RuntimeError(problem)
        assert self.proc is None and not is_mounted(self.mountpoint), f"{self.mountpoint} is already mounted"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log_file:
            log_file.write(f"---- mount {time.strftime('%H:%M:%S')}\n".encode())
            log_file.flush()
            self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "serve", str(self.state_dir),
                                          str(self.mountpoint)], stdout=log_file, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._abort(f"power-cut daemon exited with {self.proc.returncode} while mounting")
            if is_mounted(self.mountpoint) and self._answers():
                return self
            time.sleep(0.02)
        self._abort(f"power-cut daemon did not mount within {timeout}s")

    def _abort(self, why):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc = None
        if is_mounted(self.mountpoint):
            subprocess.run(["fusermount3", "-u", "-z", str(self.mountpoint)], capture_output=True)
        raise RuntimeError(f"{why}:\n{self.log_tail()}")

    def _answers(self):
        try:
            self.request("ping")
            return True
        except (OSError, RuntimeError):
            return False

    def unmount(self, timeout=20):
        """Unmounts and waits for the daemon to write the next state; raises if it failed. Idempotent."""
        if self.proc is None:
            return
        deadline = time.monotonic() + timeout
        give_up = time.monotonic() + min(5.0, timeout / 2)
        # Files of processes just killed are released in the background: unmounting before that
        # aborts the connection, and the daemon ends in error.
        while time.monotonic() < give_up and self._handles_open():
            time.sleep(0.02)
        while is_mounted(self.mountpoint):
            result = subprocess.run(["fusermount3", "-u", str(self.mountpoint)], capture_output=True, text=True)
            if result.returncode == 0:
                break
            if time.monotonic() > give_up:  # still busy: detach it, the daemon ends once it is free
                log_line(self.log_path, f"unmount failed ({result.stderr.strip()}); users of the mount: "
                                        f"{users_of(self.mountpoint)}; detaching it")
                subprocess.run(["fusermount3", "-u", "-z", str(self.mountpoint)], capture_output=True)
                break
            time.sleep(0.1)
        proc, self.proc = self.proc, None
        try:
            code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"power-cut daemon still running after unmount (mount busy?); killed:\n{self.log_tail()}")
        if code != 0:
            raise RuntimeError(f"power-cut daemon exited with status {code}:\n{self.log_tail()}")

    close = unmount

    def _handles_open(self):
        try:
            return self.stats()["open_handles"] > 0
        except (OSError, RuntimeError):  # no daemon to ask
            return False

    def __enter__(self):
        return self if self.proc else self.mount()

    def __exit__(self, *exc):
        self.close()

    def log_tail(self, lines=40):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def request(self, cmd, **args):
        return send_request(self.state_dir, cmd, **args)

    def cut(self, mode="drop", seed=0):
        return self.request("cut", mode=mode, seed=seed)

    def arm(self, op, path_regex, nth=1, when="after", mode="drop", seed=0, min_dirty=0, max_dirty=1 << 62):
        """Cuts at the nth `op` on a path matching `path_regex` (for an fsync: one that would make
        from `min_dirty` to `max_dirty` bytes durable)."""
        return self.request("arm", op=op, path=path_regex, nth=nth, when=when, mode=mode, seed=seed,
                            min_dirty=min_dirty, max_dirty=max_dirty)

    def fault(self, op, path_regex, errno_name, count=None, start=None, end=None):
        return self.request("fault", op=op, path=path_regex, errno_name=errno_name, count=count, start=start, end=end)

    def clear_faults(self):
        return self.request("clear_faults")

    def status(self):
        return self.request("status")

    def stats(self):
        return self.request("stats")


if __name__ == "__main__":
    main(sys.argv)
