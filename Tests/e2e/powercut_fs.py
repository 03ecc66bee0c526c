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
unit a disk writes whole or not at all; a 4 KiB page of the page cache is eight of them). After a cut every
operation fails with EIO. Cuts can also be armed to fire on the nth operation of a kind on a path
matching a regex (for an fsync, optionally only one with `min_dirty` to `max_dirty` unsynced bytes), before
or after that operation. Faults make matching operations fail with an
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
"""
import bisect
import collections
import contextlib
import errno
import json
import logging
import os
import pathlib
import random
import re
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time

FILE, DIR = "file", "dir"
ROOT_ID = 1
PAGE = 4096
SECTOR = 512  # what a torn cut keeps or drops
CUT_MODES = ("drop", "torn")
RENAME_NOREPLACE = 1
UTIME_NOW, UTIME_OMIT = (1 << 30) - 1, (1 << 30) - 2  # as mfusepy passes them: tv_sec 0, tv_nsec special
ARMABLE_OPS = ("write", "fsync", "fsyncdir", "create", "rename", "unlink", "mkdir", "truncate", "read")
log = logging.getLogger("powercut")


# ---- control protocol: the only place that knows how requests travel --------------------------

@contextlib.contextmanager
def _socket_path(state_dir):
    """AF_UNIX paths are limited to 107 bytes; a longer one is reached through /proc/self/fd."""
    path = os.path.join(state_dir, "control.sock")
    if len(os.fsencode(path)) < 100:
        yield path
        return
    fd = os.open(state_dir, os.O_PATH)
    try:
        yield f"/proc/self/fd/{fd}/control.sock"
    finally:
        os.close(fd)


def send_request(state_dir, cmd, timeout=10, **args):
    """One request to the daemon of state_dir; returns the answer, raises RuntimeError on an error."""
    with _socket_path(str(state_dir)) as path, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
        answer = sock.makefile("rb").readline()
    if not answer:
        raise RuntimeError(f"power-cut daemon closed the connection on {cmd!r}")
    reply = json.loads(answer)
    if not reply.pop("ok"):
        raise RuntimeError(f"power-cut daemon refused {cmd!r}: {reply['error']}")
    return reply


class ControlServer:
    """Answers requests on STATE_DIR/control.sock with fs.control(request), one thread per client."""

    def __init__(self, fs, state_dir):
        self.fs, self.state_dir = fs, state_dir
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)

    def start(self):
        with _socket_path(self.state_dir) as path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            self.sock.bind(path)
        self.sock.listen()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # stop() closed the socket
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        with conn, conn.makefile("rb") as lines:
            for line in lines:
                try:
                    reply = self.fs.control(dict(json.loads(line)))
                except (ValueError, TypeError) as error:
                    reply = {"ok": False, "error": f"not a JSON object: {error}"}
                with contextlib.suppress(OSError):  # the client went away
                    conn.sendall(json.dumps(reply).encode() + b"\n")

    def stop(self):
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        with contextlib.suppress(OSError), _socket_path(self.state_dir) as path:
            os.unlink(path)


# ---- the file system ----------------------------------------------------------------------------

def add_range(ranges, start, end):
    """Merges [start, end) into ranges, a sorted list of disjoint [start, end] pairs."""
    if end <= start:
        return
    if not ranges or start > ranges[-1][1]:  # the common case: appending
        ranges.append([start, end])
        return
    i = bisect.bisect_left(ranges, [start, start])
    if i > 0 and ranges[i - 1][1] >= start:
        i -= 1
    j = i
    while j < len(ranges) and ranges[j][0] <= end:
        start, end = min(start, ranges[j][0]), max(end, ranges[j][1])
        j += 1
    ranges[i:j] = [[start, end]]


def copy_range(src_fd, dst_fd, offset, count):
    """Copies [offset, offset + count) between the same offsets of two files, in the kernel if it can."""
    while count > 0:
        try:
            copied = os.copy_file_range(src_fd, dst_fd, min(count, 1 << 30), offset, offset)
        except OSError as error:
            if error.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                raise
            data = os.pread(src_fd, min(count, 1 << 20), offset)  # a file system without copy_file_range
            copied = os.pwrite(dst_fd, data, offset) if data else 0
        if copied == 0:
            return  # the source ends here
        offset, count = offset + copied, count - copied


class Inode:
    def __init__(self, ino_id, kind, mode, mtime_ns=None, ctime_ns=None):
        now = time.time_ns()
        self.id, self.kind, self.mode = ino_id, kind, mode & 0o7777
        self.mtime_ns, self.ctime_ns = mtime_ns or now, ctime_ns or now
        self.entries = {} if kind == DIR else None  # the live directory: name -> id
        self.size = 0  # the live size of a file
        self.dirty = []  # byte ranges written or truncated since the last fsync
        self.durable_is_live = False  # present at mount and unchanged since: live/<id> is also durable
        self.has_live = kind == FILE  # live/<id> exists
        self.links = 0  # live entries naming it (no hard links: 0 or 1)
        self.opens = 0  # open handles

    def touch(self):
        self.mtime_ns = self.ctime_ns = time.time_ns()


class Handle:
    def __init__(self, inode, fd, path):
        self.inode, self.fd, self.path = inode, fd, path


class PowerCutOps:
    """The mfusepy operations. Every operation holds one lock: correctness over speed."""
    use_ns = True  # mfusepy: times in integer nanoseconds

    def __init__(self, state_dir):
        self.state_dir = state_dir
        self.live_dir, self.durable_dir = os.path.join(state_dir, "live"), os.path.join(state_dir, "durable")
        self._mutex = threading.Lock()  # not `lock`: mfusepy would take that for the POSIX lock operation
        self.inodes = {}
        self.durable_dirs = {}  # dir id -> durable entries
        self.durable_refs = collections.Counter()  # id -> durable entries naming it
        self.handles, self.next_fh = {}, 1
        self.counts, self.bytes_written, self.bytes_read = collections.Counter(), 0, 0
        self.triggers, self.faults = [], []
        self.cut_info = None  # once the power is cut: how
        self.uid, self.gid = os.getuid(), os.getgid()
        self._load()

    # -- state on disk --

    def _live(self, ino_id):
        return os.path.join(self.live_dir, str(ino_id))

    def _durable(self, ino_id):
        return os.path.join(self.durable_dir, str(ino_id))

    def _load(self):
        os.makedirs(self.live_dir, exist_ok=True)
        shutil.rmtree(self.durable_dir, ignore_errors=True)  # durable copies never outlive a mount
        os.makedirs(self.durable_dir)
        tree_path = os.path.join(self.state_dir, "tree.json")
        if os.path.exists(tree_path):
            with open(tree_path) as f:
                tree = json.load(f)
        else:
            tree = {"next_id": ROOT_ID + 1, "inodes": [{"id": ROOT_ID, "kind": DIR, "mode": 0o755}]}
        for record in tree["inodes"]:
            ino = Inode(record["id"], record["kind"], record["mode"], record.get("mtime_ns"), record.get("ctime_ns"))
            if ino.kind == DIR:
                ino.entries = dict(record.get("entries", {}))
            else:
                with open(self._live(ino.id), "ab") as f:  # creates a missing one as empty
                    ino.size = f.seek(0, os.SEEK_END)
                ino.durable_is_live = True
            self.inodes[ino.id] = ino
        for ino in [i for i in self.inodes.values() if i.kind == DIR]:
            self.durable_dirs[ino.id] = dict(ino.entries)
            for child_id in ino.entries.values():
                self.inodes[child_id].links += 1
                self.durable_refs[child_id] += 1
        self.next_id = max(tree["next_id"], max(self.inodes) + 1)

    def persist(self):
        """At exit: the durable state after a cut, else the live one, becomes the next mount's."""
        with self._mutex:
            for handle in self.handles.values():
                if handle.fd is not None:
                    os.close(handle.fd)
            self.handles.clear()
            if self.cut_info:
                records = self._reachable(lambda d: self.durable_dirs.get(d.id, {}))
                for record in records:
                    if record["kind"] == FILE:
                        self._make_durable_content_live(self.inodes[record["id"]])
            else:
                records = self._reachable(lambda d: d.entries)
            keep = {str(r["id"]) for r in records if r["kind"] == FILE}
            for name in set(os.listdir(self.live_dir)) - keep:
                os.unlink(self._live(name))
            shutil.rmtree(self.durable_dir)
            write_atomically(os.path.join(self.state_dir, "tree.json"),
                             json.dumps({"next_id": self.next_id, "inodes": records}))
            log.info("state written: %d inodes (%s)", len(records), "durable, after the cut" if self.cut_info else "live")

    def _make_durable_content_live(self, ino):
        if os.path.exists(self._durable(ino.id)):
            os.replace(self._durable(ino.id), self._live(ino.id))
        elif not ino.durable_is_live:
            open(self._live(ino.id), "wb").close()  # never synced: empty

    def _reachable(self, entries_of):
        """tree.json records of the inodes reachable from the root through entries_of(dir)."""
        seen, order, records = {ROOT_ID}, [ROOT_ID], []
        for ino_id in order:  # grows while we walk: breadth first
            ino = self.inodes[ino_id]
            record = {"id": ino.id, "kind": ino.kind, "mode": ino.mode, "mtime_ns": ino.mtime_ns, "ctime_ns": ino.ctime_ns}
            if ino.kind == DIR:
                record["entries"] = {}
                for name, child_id in sorted(entries_of(ino).items()):
                    # Durable dicts snapshotted at different times may name a directory twice: keep the first.
                    if child_id not in seen and child_id in self.inodes:
                        seen.add(child_id)
                        order.append(child_id)
                        record["entries"][name] = child_id
            records.append(record)
        return records

    # -- the guard around every operation: dead after a cut, counts, armed cuts, faults --

    @contextlib.contextmanager
    def _op(self, kind, *paths, span=None, on_fault=None, dirty=0):
        paths = [p for p in paths if p]
        with self._mutex:
            if self.cut_info:
                raise OSError(errno.EIO, "the power is cut")
            self.counts[kind] += 1
            trigger = self._matching_trigger(kind, paths, dirty)
            if trigger and trigger["when"] == "before":
                self._cut(trigger["mode"], trigger["seed"], trigger)
                raise OSError(errno.EIO, "the power is cut")
            try:
                self._inject_fault(kind, paths, span, on_fault)
                yield
            except OSError:
                raise
            except Exception:
                log.exception("internal error in %s %s", kind, paths)  # an ERROR record: exit status 3
                raise OSError(errno.EIO, "internal error")
            finally:
                if trigger:
                    self._cut(trigger["mode"], trigger["seed"], trigger)

    def _matching_trigger(self, kind, paths, dirty):
        """`dirty`: for an fsync, the bytes it would make durable (a trigger's `min_dirty`, `max_dirty`)."""
        for trigger in self.triggers:
            if trigger["op"] == kind and trigger["min_dirty"] <= dirty <= trigger["max_dirty"] \
                    and any(re.search(trigger["path"], p) for p in paths):
                trigger["seen"] += 1
                if trigger["seen"] == trigger["nth"]:
                    return trigger
        return None

    def _inject_fault(self, kind, paths, span, on_fault):
        for fault in self.faults:
            if fault["op"] != kind or not any(re.search(fault["path"], p) for p in paths):
                continue
            lo, hi = fault["start"] or 0, fault["end"] if fault["end"] is not None else float("inf")
            if span and not (span[0] < hi and lo < span[1]):
                continue
            fault["fired"] += 1
            if fault["count"] is not None:
                fault["count"] -= 1
                if fault["count"] == 0:
                    self.faults.remove(fault)
            if on_fault:
                on_fault()
            log.info("fault: %s %s -> %s", kind, paths, errno.errorcode[fault["errno"]])
            raise OSError(fault["errno"], "injected fault")

    # -- the tree --

    def _lookup(self, path):
        ino = self.inodes[ROOT_ID]
        for name in filter(None, path.split("/")):
            if ino.kind != DIR:
                raise OSError(errno.ENOTDIR, path)
            if name not in ino.entries:
                raise OSError(errno.ENOENT, path)
            ino = self.inodes[ino.entries[name]]
        return ino

    def _parent(self, path):
        head, _, name = path.rstrip("/").rpartition("/")
        parent = self._lookup(head)
        if parent.kind != DIR:
            raise OSError(errno.ENOTDIR, path)
        return parent, name

    def _target(self, path, fh):
        """The inode an operation is about: its handle's if it has one (an unlinked file has no path)."""
        handle = self.handles.get(fh) if fh is not None else None
        return handle.inode if handle else self._lookup(path)

    def _new_inode(self, kind, mode, parent, name):
        ino = Inode(self.next_id, kind, mode)
        self.next_id += 1
        if kind == FILE:
            open(self._live(ino.id), "wb").close()
        self.inodes[ino.id] = ino
        parent.entries[name] = ino.id
        ino.links = 1
        parent.touch()
        return ino

    def _remove_entry(self, parent, name):
        ino = self.inodes[parent.entries.pop(name)]
        ino.links -= 1
        parent.touch()
        self._release_if_unreachable(ino)

    def _release_if_unreachable(self, ino):
        """No live name and no handle: drop the live bytes; no durable name either: forget the inode."""
        if ino.id == ROOT_ID or ino.links or ino.opens:
            return
        if ino.has_live:
            if ino.durable_is_live and self.durable_refs[ino.id]:
                os.replace(self._live(ino.id), self._durable(ino.id))  # a cut may still bring it back
            else:
                os.unlink(self._live(ino.id))
            ino.has_live, ino.durable_is_live, ino.dirty = False, False, []
        if not self.durable_refs[ino.id]:
            del self.inodes[ino.id], self.durable_refs[ino.id]
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._durable(ino.id))
            for child_id in self.durable_dirs.pop(ino.id, {}).values():
                self._drop_durable_ref(child_id)

    def _drop_durable_ref(self, ino_id):
        self.durable_refs[ino_id] -= 1
        if ino_id in self.inodes:
            self._release_if_unreachable(self.inodes[ino_id])

    def _before_change(self, ino):
        if ino.durable_is_live:  # the durable bytes must not change with the live ones
            shutil.copyfile(self._live(ino.id), self._durable(ino.id))
            ino.durable_is_live = False

    def _truncate(self, ino, length):
        if ino.kind == DIR:
            raise OSError(errno.EISDIR, "a directory")
        self._before_change(ino)
        os.truncate(self._live(ino.id), length)
        add_range(ino.dirty, min(ino.size, length), max(ino.size, length))
        ino.size = length
        ino.touch()

    def _sync_file(self, ino):
        if not ino.dirty:
            return
        src = os.open(self._live(ino.id), os.O_RDONLY)
        dst = os.open(self._durable(ino.id), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            for start, end in ino.dirty:
                copy_range(src, dst, start, min(end, ino.size) - start)
            os.ftruncate(dst, ino.size)
        finally:
            os.close(src)
            os.close(dst)
        ino.dirty = []

    def _sync_dir(self, ino):
        old, self.durable_dirs[ino.id] = self.durable_dirs.get(ino.id, {}), dict(ino.entries)
        for child_id in ino.entries.values():  # count the new references before dropping the old ones
            self.durable_refs[child_id] += 1
        for child_id in old.values():
            self._drop_durable_ref(child_id)

    def _open_handle(self, ino, path):
        fd = os.open(self._live(ino.id), os.O_RDWR) if ino.kind == FILE else None
        fh, self.next_fh = self.next_fh, self.next_fh + 1
        self.handles[fh] = Handle(ino, fd, path)
        ino.opens += 1
        return fh

    def _close_handle(self, fh):
        handle = self.handles.pop(fh, None)
        if handle:
            if handle.fd is not None:
                os.close(handle.fd)
            handle.inode.opens -= 1
            self._release_if_unreachable(handle.inode)

    def _path(self, path, fh):
        handle = self.handles.get(fh)
        return path or (handle.path if handle else None)

    # -- cuts --

    def _cut(self, mode, seed, trigger=None):
        if self.cut_info:
            return
        if mode == "torn":
            self._tear(random.Random(seed))
        fired = trigger and {k: trigger[k] for k in ("op", "path", "nth", "when")}
        self.cut_info = {"mode": mode, "seed": seed, "trigger": fired}
        log.warning("POWER CUT (%s, seed %s)%s", mode, seed, f" fired by {fired}" if fired else "")

    def _tear(self, rng):
        """A random half of each file's unsynced sectors reach the disk, and a random size."""
        for ino in sorted(self.inodes.values(), key=lambda i: i.id):
            if ino.kind != FILE or not ino.dirty or not ino.has_live:
                continue
            src = os.open(self._live(ino.id), os.O_RDONLY)
            dst = os.open(self._durable(ino.id), os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                durable_size = os.fstat(dst).st_size
                for start, end in ino.dirty:
                    for sector in range(start // SECTOR, (end + SECTOR - 1) // SECTOR):
                        lo, hi = max(start, sector * SECTOR), min(end, (sector + 1) * SECTOR, ino.size)
                        if rng.random() < 0.5 and hi > lo:
                            copy_range(src, dst, lo, hi - lo)
                sizes = sorted((durable_size, ino.size))
                os.ftruncate(dst, rng.randint(*sizes))
            finally:
                os.close(src)
                os.close(dst)

    # -- control requests (the daemon side of the protocol) --

    def control(self, request):
        commands = {"ping": lambda: {}, "cut": self._cmd_cut, "arm": self._cmd_arm, "fault": self._cmd_fault,
                    "clear_faults": self._cmd_clear_faults, "status": self._cmd_status, "stats": self._cmd_stats}
        args = dict(request)
        command = commands.get(args.pop("cmd", None))
        if command is None:
            return {"ok": False, "error": f"unknown command in {request}; known: {sorted(commands)}"}
        try:
            with self._mutex:
                return {"ok": True, **command(**args)}
        except Exception as error:  # bad arguments: the client hears why
            return {"ok": False, "error": f"{type(error).__name__}: {error}"}

    def _cmd_cut(self, mode="drop", seed=0):
        if mode not in CUT_MODES:
            raise ValueError(f"mode must be one of {CUT_MODES}")
        already = self.cut_info is not None
        self._cut(mode, seed)
        return {"already": already, **self.cut_info}

    def _cmd_arm(self, op, path, nth=1, when="after", mode="drop", seed=0, min_dirty=0, max_dirty=1 << 62):
        if op not in ARMABLE_OPS or when not in ("before", "after") or mode not in CUT_MODES or nth < 1:
            raise ValueError(f"op in {ARMABLE_OPS}, when in before/after, mode in {CUT_MODES}, nth >= 1")
        re.compile(path)
        self.triggers.append({"op": op, "path": path, "nth": nth, "when": when, "mode": mode, "seed": seed,
                              "min_dirty": min_dirty, "max_dirty": max_dirty, "seen": 0})
        return {}

    def _cmd_fault(self, op, path, errno_name, count=None, start=None, end=None):
        code = getattr(errno, errno_name, None)
        if not isinstance(code, int):
            raise ValueError(f"unknown errno {errno_name!r}")
        re.compile(path)
        self.faults.append({"op": op, "path": path, "errno": code, "count": count, "start": start, "end": end, "fired": 0})
        return {}

    def _cmd_clear_faults(self):
        self.faults = []
        return {}

    def _cmd_status(self):
        faults = [{**f, "errno": errno.errorcode[f["errno"]]} for f in self.faults]
        return {"cut": self.cut_info is not None, **(self.cut_info or {}), "armed": self.triggers, "faults": faults}

    def _cmd_stats(self):
        return {"ops": dict(self.counts), "bytes_written": self.bytes_written, "bytes_read": self.bytes_read,
                "fsyncs": self.counts["fsync"], "fsyncdirs": self.counts["fsyncdir"], "open_handles": len(self.handles)}

    # -- FUSE operations --

    def getattr(self, path, fh=None):
        with self._op("getattr", path):
            ino = self._target(path, fh)
            if ino.kind == DIR:
                subdirs = sum(1 for c in ino.entries.values() if self.inodes[c].kind == DIR)
                mode, nlink, size = stat.S_IFDIR | ino.mode, 2 + subdirs, PAGE
            else:
                mode, nlink, size = stat.S_IFREG | ino.mode, ino.links, ino.size
            return {"st_ino": ino.id, "st_mode": mode, "st_nlink": nlink, "st_size": size, "st_uid": self.uid,
                    "st_gid": self.gid, "st_atime": ino.mtime_ns, "st_mtime": ino.mtime_ns, "st_ctime": ino.ctime_ns,
                    "st_blksize": PAGE, "st_blocks": (size + 511) // 512}

    def access(self, path, amode):
        with self._op("access", path):
            self._lookup(path)
            return 0

    def statfs(self, path):
        with self._op("statfs", path):
            st = os.statvfs(self.state_dir)  # the storage agent sizes itself from this
            return {key: getattr(st, key) for key in ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail",
                                                      "f_files", "f_ffree", "f_favail", "f_flag", "f_namemax")}

    def opendir(self, path):
        with self._op("opendir", path):
            ino = self._lookup(path)
            if ino.kind != DIR:
                raise OSError(errno.ENOTDIR, path)
            return self._open_handle(ino, path)

    def readdir(self, path, fh):
        with self._op("readdir", self._path(path, fh)):
            ino = self._target(path, fh)
            # With use_ino an entry without st_ino has inode number 0, which readdir(3) skips.
            kinds = {DIR: stat.S_IFDIR, FILE: stat.S_IFREG}
            return [(name, {"st_ino": child_id, "st_mode": kinds[self.inodes[child_id].kind]}, 0)
                    for name, child_id in [(".", ino.id), ("..", ino.id), *ino.entries.items()]]

    def releasedir(self, path, fh):
        with self._op("releasedir", self._path(path, fh)):
            self._close_handle(fh)
            return 0

    def fsyncdir(self, path, datasync, fh):
        with self._op("fsyncdir", self._path(path, fh)):
            self._sync_dir(self._target(path, fh))
            return 0

    def mkdir(self, path, mode):
        with self._op("mkdir", path):
            parent, name = self._parent(path)
            if name in parent.entries:
                raise OSError(errno.EEXIST, path)
            self._new_inode(DIR, mode, parent, name)
            return 0

    def rmdir(self, path):
        with self._op("rmdir", path):
            parent, name = self._parent(path)
            ino = self._lookup(path)
            if ino.kind != DIR:
                raise OSError(errno.ENOTDIR, path)
            if ino.entries:
                raise OSError(errno.ENOTEMPTY, path)
            self._remove_entry(parent, name)
            return 0

    def unlink(self, path):
        with self._op("unlink", path):
            parent, name = self._parent(path)
            if self._lookup(path).kind == DIR:
                raise OSError(errno.EISDIR, path)
            self._remove_entry(parent, name)
            return 0

    def rename(self, old, new, flags=0):
        with self._op("rename", old, new):
            if flags & ~RENAME_NOREPLACE:
                raise OSError(errno.EINVAL, "RENAME_EXCHANGE is not supported")
            src_parent, src_name = self._parent(old)
            ino = self._lookup(old)
            dst_parent, dst_name = self._parent(new)
            replaced_id = dst_parent.entries.get(dst_name)
            if replaced_id is not None and flags & RENAME_NOREPLACE:
                raise OSError(errno.EEXIST, new)
            if replaced_id == ino.id:
                return 0
            if replaced_id is not None:
                replaced = self.inodes[replaced_id]
                if replaced.kind != ino.kind:
                    raise OSError(errno.EISDIR if replaced.kind == DIR else errno.ENOTDIR, new)
                if replaced.entries:
                    raise OSError(errno.ENOTEMPTY, new)
                self._remove_entry(dst_parent, dst_name)
            del src_parent.entries[src_name]
            dst_parent.entries[dst_name] = ino.id
            src_parent.touch()
            dst_parent.touch()
            return 0

    def create(self, path, mode, flags):
        with self._op("create", path):
            parent, name = self._parent(path)
            if name not in parent.entries:
                return self._open_handle(self._new_inode(FILE, mode, parent, name), path)
            if flags & os.O_EXCL:
                raise OSError(errno.EEXIST, path)
            return self._open(path, flags)

    def open(self, path, flags):
        with self._op("open", path):
            return self._open(path, flags)

    def _open(self, path, flags):
        ino = self._lookup(path)
        if ino.kind == DIR:
            raise OSError(errno.EISDIR, path)
        if flags & os.O_TRUNC and ino.size:
            self._truncate(ino, 0)
        return self._open_handle(ino, path)

    def read(self, path, size, offset, fh):
        with self._op("read", self._path(path, fh), span=(offset, offset + size)):
            data = os.pread(self.handles[fh].fd, size, offset)
            self.bytes_read += len(data)
            return data

    def write(self, path, data, offset, fh):
        with self._op("write", self._path(path, fh), span=(offset, offset + len(data))):
            handle = self.handles[fh]
            self._before_change(handle.inode)
            written = os.pwrite(handle.fd, data, offset)
            add_range(handle.inode.dirty, offset, offset + written)
            handle.inode.size = max(handle.inode.size, offset + written)
            handle.inode.touch()
            self.bytes_written += written
            return written

    def truncate(self, path, length, fh=None):
        with self._op("truncate", self._path(path, fh)):
            self._truncate(self._target(path, fh), length)
            return 0

    def fsync(self, path, datasync, fh):
        handle = self.handles.get(fh)
        # Linux after a writeback error: the pages count as clean though they never reached the disk.
        is_file = handle and handle.inode.kind == FILE
        forget = (lambda: handle.inode.dirty.clear()) if is_file else None
        dirty = sum(end - start for start, end in handle.inode.dirty) if is_file else 0
        with self._op("fsync", self._path(path, fh), on_fault=forget, dirty=dirty):
            ino = self._target(path, fh)
            self._sync_dir(ino) if ino.kind == DIR else self._sync_file(ino)
            return 0

    def flush(self, path, fh):
        with self._op("flush", self._path(path, fh)):
            return 0

    def release(self, path, fh):
        with self._op("release", self._path(path, fh)):
            self._close_handle(fh)
            return 0

    def chmod(self, path, mode):
        with self._op("chmod", path):
            if path is not None:  # fchmod of an unlinked file: nothing that lasts
                ino = self._lookup(path)
                ino.mode, ino.ctime_ns = mode & 0o7777, time.time_ns()
            return 0

    def chown(self, path, uid, gid):
        with self._op("chown", path):
            return 0

    def utimens(self, path, times=None):
        with self._op("utimens", path):
            mtime = times[1] if times else UTIME_NOW
            if path is not None and mtime != UTIME_OMIT:
                self._lookup(path).mtime_ns = time.time_ns() if mtime == UTIME_NOW else mtime
            return 0

    def link(self, target, source):
        with self._op("link", target):
            raise OSError(errno.EPERM, "no hard links")

    def symlink(self, target, source):
        with self._op("symlink", target):
            raise OSError(errno.EPERM, "no symbolic links")

    def fallocate(self, path, mode, offset, size, fh):
        with self._op("fallocate", self._path(path, fh)):
            raise OSError(errno.EOPNOTSUPP, "no fallocate")


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(os.path.dirname(path), os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# ---- the daemon ---------------------------------------------------------------------------------

def fuse_problem():
    """Why FUSE cannot work here, or None."""
    if not os.path.exists("/dev/fuse"):
        return "the power-cut tests need FUSE: /dev/fuse is missing (docker: --device /dev/fuse --cap-add SYS_ADMIN)"
    if not shutil.which("fusermount3"):
        return "the power-cut tests need FUSE: fusermount3 is not on PATH (apt-get install fuse3)"
    try:
        import mfusepy  # noqa: F401
    except ImportError:
        return "the power-cut tests need the Python FUSE binding: pip install mfusepy"
    except (OSError, AttributeError) as error:  # mfusepy loads libfuse3 when imported
        return f"the power-cut tests need libfuse3 (apt-get install fuse3): {error}"
    return None


class _ErrorCounter(logging.Handler):
    """Counts ERROR records (ours and mfusepy's unexpected exceptions): the exit status tells them."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record):
        self.count += 1


def serve(state_dir, mountpoint):
    problem = fuse_problem()
    if problem:
        print(f"powercut_fs: {problem}", file=sys.stderr)
        return 2
    import mfusepy

    class FUSE(mfusepy.FUSE):
        """mfusepy drops rename's flags and truncate's file handle under libfuse3: pass them on."""

        def rename_fuse_3(self, old, new, flags):
            return self.operations.rename(old.decode(), new.decode(), flags)

        def truncate_fuse_3(self, path, length, fip):
            return self.operations.truncate(path and path.decode(), length, fip.contents.fh if fip else None)

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    errors = _ErrorCounter()
    logging.getLogger().addHandler(errors)
    state_dir, mountpoint = os.path.abspath(state_dir), os.path.abspath(mountpoint)
    fs = PowerCutOps(state_dir)
    control = ControlServer(fs, state_dir)
    control.start()
    log.info("mounting %s (state %s, %d inodes)", mountpoint, state_dir, len(fs.inodes))
    try:
        # hard_remove: an unlinked open file is really unlinked (no .fuse_hidden* renames), its
        # operations arrive without a path. No writeback cache, no direct_io: every write and fsync
        # reaches us, reads may come from the page cache.
        FUSE(fs, mountpoint, foreground=True, nothreads=False, fsname="powercut", hard_remove=True, use_ino=True)
    finally:
        control.stop()
        fs.persist()
    log.info("unmounted; %d errors", errors.count)
    return 3 if errors.count else 0


# ---- the client -----------------------------------------------------------------------------------

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
            return not self.status()["cut"] and self.stats()["open_handles"] > 0
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
    if len(sys.argv) != 4 or sys.argv[1] != "serve":
        sys.exit(f"usage: {sys.argv[0]} serve STATE_DIR MOUNTPOINT")
    sys.exit(serve(sys.argv[2], sys.argv[3]))
