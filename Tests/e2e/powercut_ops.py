"""The FUSE operations of the power-cut file system, over its state model (powercut_state.py),
with what a test drives through the control socket: armed cuts, injected faults, counts.
powercut_fs.py explains the model; powercut_daemon.py mounts these operations.
"""
import collections
import contextlib
import errno
import logging
import os
import re
import stat
import threading
import time

from powercut_state import DIR, FILE, PowerCutState

PAGE = 4096
CUT_MODES = ("drop", "torn")
RENAME_NOREPLACE = 1
UTIME_NOW, UTIME_OMIT = (1 << 30) - 1, (1 << 30) - 2  # as mfusepy passes them: tv_sec 0, tv_nsec special
ARMABLE_OPS = ("write", "fsync", "fsyncdir", "create", "rename", "unlink", "mkdir", "truncate", "read")
log = logging.getLogger("powercut")


class Handle:
    def __init__(self, inode, fd, path):
        self.inode, self.fd, self.path = inode, fd, path


class PowerCutOps:
    """The mfusepy operations. Every operation holds one lock: correctness over speed."""
    use_ns = True  # mfusepy: times in integer nanoseconds

    def __init__(self, state_dir):
        self.state_dir = state_dir
        self._mutex = threading.Lock()  # not `lock`: mfusepy would take that for the POSIX lock operation
        self.handles, self.next_fh = {}, 1
        self.counts, self.bytes_written, self.bytes_read = collections.Counter(), 0, 0
        self.triggers, self.faults = [], []
        self.uid, self.gid = os.getuid(), os.getgid()
        self.state = PowerCutState(state_dir)

    def persist(self):
        """At exit: closes what is still open, then writes the next mount's state."""
        with self._mutex:
            for handle in self.handles.values():
                if handle.fd is not None:
                    os.close(handle.fd)
            self.handles.clear()
            self.state.persist()

    # -- the guard around every operation: dead after a cut, counts, armed cuts, faults --

    @contextlib.contextmanager
    def _op(self, kind, *paths, span=None, on_fault=None, dirty=0):
        paths = [p for p in paths if p]
        with self._mutex:
            if self.state.cut_info:
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

    # -- handles --

    def _target(self, path, fh):
        """The inode an operation is about: its handle's if it has one (an unlinked file has no path)."""
        handle = self.handles.get(fh) if fh is not None else None
        return handle.inode if handle else self.state.lookup(path)

    def _open_handle(self, ino, path):
        fd = self.state.open(ino)
        fh, self.next_fh = self.next_fh, self.next_fh + 1
        self.handles[fh] = Handle(ino, fd, path)
        return fh

    def _close_handle(self, fh):
        handle = self.handles.pop(fh, None)
        if handle:
            self.state.close(handle.inode, handle.fd)

    def _release(self, path, fh, kind):
        """A handle is forgotten even after a cut (the kernel sends the release of a killed process's
        files after it is gone, and an unmount before the last of them aborts the connection: the client
        waits for open_handles to reach 0); the operation still fails then, as every other does."""
        try:
            with self._op(kind, self._path(path, fh)):
                pass
        finally:
            with self._mutex:
                self._close_handle(fh)

    def _path(self, path, fh):
        handle = self.handles.get(fh)
        return path or (handle.path if handle else None)

    def _cut(self, mode, seed, trigger=None):
        fired = trigger and {k: trigger[k] for k in ("op", "path", "nth", "when")}
        self.state.cut(mode, seed, fired)

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
        already = self.state.cut_info is not None
        self._cut(mode, seed)
        return {"already": already, **self.state.cut_info}

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
        return {"cut": self.state.cut_info is not None, **(self.state.cut_info or {}), "armed": self.triggers, "faults": faults}

    def _cmd_stats(self):
        return {"ops": dict(self.counts), "bytes_written": self.bytes_written, "bytes_read": self.bytes_read,
                "fsyncs": self.counts["fsync"], "fsyncdirs": self.counts["fsyncdir"], "open_handles": len(self.handles)}

    # -- FUSE operations --

    def getattr(self, path, fh=None):
        with self._op("getattr", path):
            ino = self._target(path, fh)
            if ino.kind == DIR:
                subdirs = sum(1 for c in ino.entries.values() if self.state.inodes[c].kind == DIR)
                mode, nlink, size = stat.S_IFDIR | ino.mode, 2 + subdirs, PAGE
            else:
                mode, nlink, size = stat.S_IFREG | ino.mode, ino.links, ino.size
            return {"st_ino": ino.id, "st_mode": mode, "st_nlink": nlink, "st_size": size, "st_uid": self.uid,
                    "st_gid": self.gid, "st_atime": ino.mtime_ns, "st_mtime": ino.mtime_ns, "st_ctime": ino.ctime_ns,
                    "st_blksize": PAGE, "st_blocks": (size + 511) // 512}

    def access(self, path, amode):
        with self._op("access", path):
            self.state.lookup(path)
            return 0

    def statfs(self, path):
        with self._op("statfs", path):
            st = os.statvfs(self.state_dir)  # the storage agent sizes itself from this
            return {key: getattr(st, key) for key in ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail",
                                                      "f_files", "f_ffree", "f_favail", "f_flag", "f_namemax")}

    def opendir(self, path):
        with self._op("opendir", path):
            ino = self.state.lookup(path)
            if ino.kind != DIR:
                raise OSError(errno.ENOTDIR, path)
            return self._open_handle(ino, path)

    def readdir(self, path, fh):
        with self._op("readdir", self._path(path, fh)):
            ino = self._target(path, fh)
            # With use_ino an entry without st_ino has inode number 0, which readdir(3) skips.
            kinds = {DIR: stat.S_IFDIR, FILE: stat.S_IFREG}
            return [(name, {"st_ino": child_id, "st_mode": kinds[self.state.inodes[child_id].kind]}, 0)
                    for name, child_id in [(".", ino.id), ("..", ino.id), *ino.entries.items()]]

    def releasedir(self, path, fh):
        self._release(path, fh, "releasedir")
        return 0

    def fsyncdir(self, path, datasync, fh):
        with self._op("fsyncdir", self._path(path, fh)):
            self.state.sync_dir(self._target(path, fh))
            return 0

    def mkdir(self, path, mode):
        with self._op("mkdir", path):
            parent, name = self.state.parent(path)
            if name in parent.entries:
                raise OSError(errno.EEXIST, path)
            self.state.new_inode(DIR, mode, parent, name)
            return 0

    def rmdir(self, path):
        with self._op("rmdir", path):
            parent, name = self.state.parent(path)
            ino = self.state.lookup(path)
            if ino.kind != DIR:
                raise OSError(errno.ENOTDIR, path)
            if ino.entries:
                raise OSError(errno.ENOTEMPTY, path)
            self.state.remove_entry(parent, name)
            return 0

    def unlink(self, path):
        with self._op("unlink", path):
            parent, name = self.state.parent(path)
            if self.state.lookup(path).kind == DIR:
                raise OSError(errno.EISDIR, path)
            self.state.remove_entry(parent, name)
            return 0

    def rename(self, old, new, flags=0):
        with self._op("rename", old, new):
            if flags & ~RENAME_NOREPLACE:
                raise OSError(errno.EINVAL, "RENAME_EXCHANGE is not supported")
            src_parent, src_name = self.state.parent(old)
            ino = self.state.lookup(old)
            dst_parent, dst_name = self.state.parent(new)
            replaced_id = dst_parent.entries.get(dst_name)
            if replaced_id is not None and flags & RENAME_NOREPLACE:
                raise OSError(errno.EEXIST, new)
            if replaced_id == ino.id:
                return 0
            if replaced_id is not None:
                replaced = self.state.inodes[replaced_id]
                if replaced.kind != ino.kind:
                    raise OSError(errno.EISDIR if replaced.kind == DIR else errno.ENOTDIR, new)
                if replaced.entries:
                    raise OSError(errno.ENOTEMPTY, new)
                self.state.remove_entry(dst_parent, dst_name)
            del src_parent.entries[src_name]
            dst_parent.entries[dst_name] = ino.id
            src_parent.touch()
            dst_parent.touch()
            return 0

    def create(self, path, mode, flags):
        with self._op("create", path):
            parent, name = self.state.parent(path)
            if name not in parent.entries:
                return self._open_handle(self.state.new_inode(FILE, mode, parent, name), path)
            if flags & os.O_EXCL:
                raise OSError(errno.EEXIST, path)
            return self._open(path, flags)

    def open(self, path, flags):
        with self._op("open", path):
            return self._open(path, flags)

    def _open(self, path, flags):
        ino = self.state.lookup(path)
        if ino.kind == DIR:
            raise OSError(errno.EISDIR, path)
        if flags & os.O_TRUNC and ino.size:
            self.state.truncate(ino, 0)
        return self._open_handle(ino, path)

    def read(self, path, size, offset, fh):
        with self._op("read", self._path(path, fh), span=(offset, offset + size)):
            data = os.pread(self.handles[fh].fd, size, offset)
            self.bytes_read += len(data)
            return data

    def write(self, path, data, offset, fh):
        with self._op("write", self._path(path, fh), span=(offset, offset + len(data))):
            handle = self.handles[fh]
            written = self.state.write(handle.inode, handle.fd, data, offset)
            self.bytes_written += written
            return written

    def truncate(self, path, length, fh=None):
        with self._op("truncate", self._path(path, fh)):
            self.state.truncate(self._target(path, fh), length)
            return 0

    def fsync(self, path, datasync, fh):
        handle = self.handles.get(fh)
        # Linux after a writeback error: the pages count as clean though they never reached the disk.
        is_file = handle and handle.inode.kind == FILE
        forget = (lambda: handle.inode.dirty.clear()) if is_file else None
        dirty = sum(end - start for start, end in handle.inode.dirty) if is_file else 0
        with self._op("fsync", self._path(path, fh), on_fault=forget, dirty=dirty):
            ino = self._target(path, fh)
            self.state.sync_dir(ino) if ino.kind == DIR else self.state.sync_file(ino)
            return 0

    def flush(self, path, fh):
        with self._op("flush", self._path(path, fh)):
            return 0

    def release(self, path, fh):
        self._release(path, fh, "release")
        return 0

    def chmod(self, path, mode):
        with self._op("chmod", path):
            if path is not None:  # fchmod of an unlinked file: nothing that lasts
                ino = self.state.lookup(path)
                ino.mode, ino.ctime_ns = mode & 0o7777, time.time_ns()
            return 0

    def chown(self, path, uid, gid):
        with self._op("chown", path):
            return 0

    def utimens(self, path, times=None):
        with self._op("utimens", path):
            mtime = times[1] if times else UTIME_NOW
            if path is not None and mtime != UTIME_OMIT:
                self.state.lookup(path).mtime_ns = time.time_ns() if mtime == UTIME_NOW else mtime
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
