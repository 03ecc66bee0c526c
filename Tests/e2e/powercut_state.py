"""The state model of the power-cut file system: live and durable inodes, unsynced byte ranges,
fsync, cuts (drop and torn), and the tree.json that carries a state from one mount to the next.
powercut_fs.py explains the model; powercut_ops.py turns FUSE operations into calls on it.
"""
import bisect
import collections
import contextlib
import errno
import json
import logging
import os
import random
import shutil
import time

FILE, DIR = "file", "dir"
ROOT_ID = 1
SECTOR = 512  # what a torn cut keeps or drops
log = logging.getLogger("powercut")


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


class PowerCutState:
    """The inodes of one mount, live and durable, in STATE_DIR. Not thread safe: the caller locks."""

    def __init__(self, state_dir):
        self.state_dir = state_dir
        self.live_dir, self.durable_dir = os.path.join(state_dir, "live"), os.path.join(state_dir, "durable")
        self.inodes = {}
        self.durable_dirs = {}  # dir id -> durable entries
        self.durable_refs = collections.Counter()  # id -> durable entries naming it
        self.cut_info = None  # once the power is cut: how
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
        """At exit, all files closed: the durable state after a cut, else the live one, becomes the next mount's."""
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

    # -- the tree --

    def lookup(self, path):
        ino = self.inodes[ROOT_ID]
        for name in filter(None, path.split("/")):
            if ino.kind != DIR:
                raise OSError(errno.ENOTDIR, path)
            if name not in ino.entries:
                raise OSError(errno.ENOENT, path)
            ino = self.inodes[ino.entries[name]]
        return ino

    def parent(self, path):
        head, _, name = path.rstrip("/").rpartition("/")
        parent = self.lookup(head)
        if parent.kind != DIR:
            raise OSError(errno.ENOTDIR, path)
        return parent, name

    def new_inode(self, kind, mode, parent, name):
        ino = Inode(self.next_id, kind, mode)
        self.next_id += 1
        if kind == FILE:
            open(self._live(ino.id), "wb").close()
        self.inodes[ino.id] = ino
        parent.entries[name] = ino.id
        ino.links = 1
        parent.touch()
        return ino

    def remove_entry(self, parent, name):
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

    # -- a file's bytes, through a descriptor of its live file --

    def open(self, ino):
        """A read-write descriptor of a file's live bytes (None for a directory); counts as a handle."""
        fd = os.open(self._live(ino.id), os.O_RDWR) if ino.kind == FILE else None
        ino.opens += 1
        return fd

    def close(self, ino, fd):
        if fd is not None:
            os.close(fd)
        ino.opens -= 1
        self._release_if_unreachable(ino)

    def write(self, ino, fd, data, offset):
        self._before_change(ino)
        written = os.pwrite(fd, data, offset)
        add_range(ino.dirty, offset, offset + written)
        ino.size = max(ino.size, offset + written)
        ino.touch()
        return written

    def _before_change(self, ino):
        if ino.durable_is_live:  # the durable bytes must not change with the live ones
            shutil.copyfile(self._live(ino.id), self._durable(ino.id))
            ino.durable_is_live = False

    def truncate(self, ino, length):
        if ino.kind == DIR:
            raise OSError(errno.EISDIR, "a directory")
        self._before_change(ino)
        os.truncate(self._live(ino.id), length)
        add_range(ino.dirty, min(ino.size, length), max(ino.size, length))
        ino.size = length
        ino.touch()

    # -- making it durable --

    def sync_file(self, ino):
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

    def sync_dir(self, ino):
        old, self.durable_dirs[ino.id] = self.durable_dirs.get(ino.id, {}), dict(ino.entries)
        for child_id in ino.entries.values():  # count the new references before dropping the old ones
            self.durable_refs[child_id] += 1
        for child_id in old.values():
            self._drop_durable_ref(child_id)

    # -- cuts --

    def cut(self, mode, seed, fired=None):
        """Freezes the durable state ("torn": after tearing the unsynced sectors); `fired`: what armed it."""
        if self.cut_info:
            return
        if mode == "torn":
            self._tear(random.Random(seed))
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
