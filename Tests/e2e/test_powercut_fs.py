"""The power-cut file system itself (powercut_fs.py), driven with plain file operations through the
mount; no `sos` process. Each test gets its own state directory and mount point, and its teardown
unmounts and fails if the daemon did not exit cleanly (status 0: no crash, no internal error).

These tests need FUSE (/dev/fuse, fusermount3, mfusepy); without it they fail and say what is missing.
"""
import contextlib
import errno
import os
import random
import time

import pytest

from harness import wait_for
from powercut_fs import PowerCutFS

PAGE, SECTOR, MiB = 4096, 512, 1 << 20


@pytest.fixture
def pcfs(tmp_path):
    fs = PowerCutFS(tmp_path / "state", tmp_path / "mnt")
    fs.mount()
    yield fs
    fs.close()


def put(path, data, sync=True, dir_sync=False):
    """Writes a whole file (created or truncated), fsyncs it, and its directory too if asked."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    if dir_sync:
        fsync_dir(os.path.dirname(path))


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def get(path):
    with open(path, "rb") as f:
        return f.read()


def power_cycle(fs, mode="drop", seed=0):
    fs.cut(mode, seed)
    fs.unmount()
    fs.mount()


def test_synced_data_survives_a_cut_unsynced_data_does_not(pcfs):
    mnt = str(pcfs.mountpoint)
    put(f"{mnt}/kept", b"synced", dir_sync=True)
    with open(f"{mnt}/kept", "ab") as f:
        f.write(b" and more, never synced")
    put(f"{mnt}/empty", b"", dir_sync=True)  # its entry is durable, its bytes never were
    with open(f"{mnt}/empty", "wb") as f:
        f.write(b"lost")
    assert get(f"{mnt}/kept") == b"synced and more, never synced"
    power_cycle(pcfs)
    assert get(f"{mnt}/kept") == b"synced"
    assert get(f"{mnt}/empty") == b""


def test_a_new_file_needs_its_directory_fsynced(pcfs):
    mnt = str(pcfs.mountpoint)
    os.mkdir(f"{mnt}/d")
    fsync_dir(mnt)
    put(f"{mnt}/d/both", b"file and directory")
    fsync_dir(f"{mnt}/d")
    put(f"{mnt}/d/file-only", b"synced file, directory not")
    fsync_dir(mnt)  # the parent of d: not what holds the entry
    power_cycle(pcfs)
    assert sorted(os.listdir(f"{mnt}/d")) == ["both"]
    assert get(f"{mnt}/d/both") == b"file and directory"


def test_a_directory_never_fsynced_comes_back_empty(pcfs):
    mnt = str(pcfs.mountpoint)
    os.makedirs(f"{mnt}/a/b")
    fsync_dir(mnt)
    put(f"{mnt}/a/b/f", b"x", dir_sync=True)  # b's entries are durable, a's never were
    power_cycle(pcfs)
    assert os.listdir(mnt) == ["a"]
    assert os.listdir(f"{mnt}/a") == []


@pytest.mark.parametrize("dir_sync", [False, True])
def test_a_rename_over_a_file_needs_the_directory_fsynced(pcfs, dir_sync):
    mnt = str(pcfs.mountpoint)
    put(f"{mnt}/snap", b"old", dir_sync=True)
    put(f"{mnt}/snap.tmp", b"new")
    os.rename(f"{mnt}/snap.tmp", f"{mnt}/snap")
    if dir_sync:
        fsync_dir(mnt)
    assert sorted(os.listdir(mnt)) == ["snap"] and get(f"{mnt}/snap") == b"new"
    power_cycle(pcfs)
    assert sorted(os.listdir(mnt)) == ["snap"]
    assert get(f"{mnt}/snap") == (b"new" if dir_sync else b"old")


@pytest.mark.parametrize("dir_sync", [False, True])
def test_an_unlink_needs_the_directory_fsynced(pcfs, dir_sync):
    mnt = str(pcfs.mountpoint)
    put(f"{mnt}/victim", b"durable bytes", dir_sync=True)
    os.unlink(f"{mnt}/victim")
    if dir_sync:
        fsync_dir(mnt)
    power_cycle(pcfs)
    assert os.listdir(mnt) == ([] if dir_sync else ["victim"])
    if not dir_sync:
        assert get(f"{mnt}/victim") == b"durable bytes"


def test_a_clean_unmount_keeps_everything_and_files_present_at_mount_are_durable(pcfs):
    mnt = str(pcfs.mountpoint)
    os.mkdir(f"{mnt}/d")
    put(f"{mnt}/d/untouched", b"u" * 10000, sync=False)
    put(f"{mnt}/d/changed", b"c" * 10000, sync=False)
    put(f"{mnt}/d/removed", b"r", sync=False)
    os.chmod(f"{mnt}/d/untouched", 0o600)
    pcfs.unmount()
    pcfs.mount()
    assert sorted(os.listdir(f"{mnt}/d")) == ["changed", "removed", "untouched"]
    assert get(f"{mnt}/d/untouched") == b"u" * 10000
    assert os.stat(f"{mnt}/d/untouched").st_mode & 0o777 == 0o600
    with open(f"{mnt}/d/changed", "r+b") as f:
        f.seek(5000)
        f.write(b"X" * 8000)
    os.truncate(f"{mnt}/d/untouched", 0)
    put(f"{mnt}/d/untouched", b"u" * 10000, sync=False)  # changed and changed back
    os.unlink(f"{mnt}/d/removed")
    power_cycle(pcfs)
    assert sorted(os.listdir(f"{mnt}/d")) == ["changed", "removed", "untouched"]
    assert get(f"{mnt}/d/untouched") == b"u" * 10000
    assert get(f"{mnt}/d/changed") == b"c" * 10000
    assert get(f"{mnt}/d/removed") == b"r"
    state = pcfs.state_dir
    assert sorted(os.listdir(state / "live")) == sorted(str(os.stat(f"{mnt}/d/{n}").st_ino) for n in os.listdir(f"{mnt}/d"))


def test_a_torn_cut_keeps_some_of_the_unsynced_sectors(pcfs):
    mnt = str(pcfs.mountpoint)
    put(f"{mnt}/seg", bytes(64 * SECTOR), dir_sync=True)
    fd = os.open(f"{mnt}/seg", os.O_WRONLY)
    os.write(fd, b"\xab" * (64 * SECTOR))
    os.close(fd)
    power_cycle(pcfs, mode="torn", seed=7)
    data = get(f"{mnt}/seg")
    assert len(data) == 64 * SECTOR
    sectors = [data[i:i + SECTOR] for i in range(0, len(data), SECTOR)]
    assert all(p in (bytes(SECTOR), b"\xab" * SECTOR) for p in sectors)
    written = sum(p == b"\xab" * SECTOR for p in sectors)
    assert 0 < written < 64, written


def test_a_torn_cut_is_reproducible_with_its_seed(tmp_path):
    outcomes = []
    for run in range(2):
        fs = PowerCutFS(tmp_path / f"state{run}", tmp_path / f"mnt{run}")
        with fs:
            put(f"{fs.mountpoint}/f", b"", dir_sync=True)
            with open(f"{fs.mountpoint}/f", "wb") as f:
                f.write(b"\x01" * (32 * PAGE))
            fs.cut("torn", seed=42)
        with fs.mount():
            outcomes.append(get(f"{fs.mountpoint}/f"))
    assert outcomes[0] == outcomes[1]


def test_an_armed_cut_before_a_rename(pcfs):
    mnt = str(pcfs.mountpoint)
    pcfs.arm("rename", "snap", when="before")
    put(f"{mnt}/snap.tmp", b"new", dir_sync=True)
    with pytest.raises(OSError) as raised:
        os.rename(f"{mnt}/snap.tmp", f"{mnt}/snap")
    assert raised.value.errno == errno.EIO
    with pytest.raises(OSError) as raised:
        os.listdir(mnt)
    assert raised.value.errno == errno.EIO
    status = pcfs.status()
    assert status["cut"] and status["mode"] == "drop"
    assert status["trigger"] == {"op": "rename", "path": "snap", "nth": 1, "when": "before"}
    pcfs.unmount()
    pcfs.mount()
    assert os.listdir(mnt) == ["snap.tmp"]


def test_an_armed_cut_after_the_nth_fsync(pcfs):
    mnt = str(pcfs.mountpoint)
    pcfs.arm("fsync", "/wal-", nth=2, when="after")
    put(f"{mnt}/other", b"", dir_sync=True)
    put(f"{mnt}/wal-1", b"", dir_sync=True)  # fsync 1
    fd = os.open(f"{mnt}/wal-1", os.O_WRONLY)
    try:
        os.write(fd, b"record")
        os.fsync(fd)  # fsync 2: performed, then the cut; it still succeeds
        with pytest.raises(OSError) as raised:
            os.write(fd, b"too late")
        assert raised.value.errno == errno.EIO
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
    assert pcfs.status()["trigger"]["nth"] == 2
    pcfs.unmount()
    pcfs.mount()
    assert get(f"{mnt}/wal-1") == b"record"


def test_a_read_fault_covers_only_its_byte_range(pcfs):
    mnt = str(pcfs.mountpoint)
    put(f"{mnt}/f", bytes(range(256)) * (3 * PAGE // 256))
    pcfs.fault("read", "/f$", "EIO", start=PAGE, end=2 * PAGE)
    fd = os.open(f"{mnt}/f", os.O_RDONLY)  # a fresh open drops the page cache
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)  # no read-ahead into the faulty range
        assert os.pread(fd, PAGE, 0) == bytes(range(256)) * (PAGE // 256)
        assert os.pread(fd, PAGE, 2 * PAGE) == bytes(range(256)) * (PAGE // 256)
        with pytest.raises(OSError) as raised:
            os.pread(fd, PAGE, PAGE)
        assert raised.value.errno == errno.EIO
    finally:
        os.close(fd)
    pcfs.clear_faults()
    assert get(f"{mnt}/f") == bytes(range(256)) * (3 * PAGE // 256)


def test_a_failed_fsync_forgets_the_data_like_linux(pcfs):
    mnt = str(pcfs.mountpoint)
    put(f"{mnt}/wal", b"durable;", dir_sync=True)
    pcfs.fault("fsync", "/wal$", "ENOSPC", count=1)
    fd = os.open(f"{mnt}/wal", os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, b"lost;")
        with pytest.raises(OSError) as raised:
            os.fsync(fd)
        assert raised.value.errno == errno.ENOSPC
        os.fsync(fd)  # succeeds: the pages count as clean, though they never reached the disk
        os.write(fd, b"kept")
        os.fsync(fd)
    finally:
        os.close(fd)
    assert get(f"{mnt}/wal") == b"durable;lost;kept"
    assert pcfs.status()["faults"] == []
    assert pcfs.stats()["fsyncs"] >= 4
    power_cycle(pcfs)
    assert get(f"{mnt}/wal") == b"durable;\0\0\0\0\0kept"


def test_a_write_fault_fails_count_times(pcfs):
    mnt = str(pcfs.mountpoint)
    pcfs.fault("write", "/full", "ENOSPC", count=2)
    fd = os.open(f"{mnt}/full", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for _ in range(2):
            with pytest.raises(OSError) as raised:
                os.write(fd, b"x")
            assert raised.value.errno == errno.ENOSPC
        assert os.write(fd, b"y") == 1
    finally:
        os.close(fd)
    assert get(f"{mnt}/full") == b"y"


def test_an_unlinked_open_file_keeps_working(pcfs):
    mnt = str(pcfs.mountpoint)
    fd = os.open(f"{mnt}/tmp", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.unlink(f"{mnt}/tmp")
        os.write(fd, b"still here")
        os.ftruncate(fd, 5)
        os.fsync(fd)
        assert os.fstat(fd).st_size == 5 and os.pread(fd, 100, 0) == b"still"
    finally:
        os.close(fd)
    assert os.listdir(mnt) == []
    # Its bytes go with its last handle; the kernel sends that release after close() returns.
    wait_for(lambda: os.listdir(pcfs.state_dir / "live") == [], timeout=10, what="the unlinked file's bytes dropped")


def test_statfs_reports_the_backing_file_system(pcfs):
    mounted, backing = os.statvfs(pcfs.mountpoint), os.statvfs(pcfs.state_dir)
    assert mounted.f_blocks == backing.f_blocks and mounted.f_bsize == backing.f_bsize
    assert abs(mounted.f_bavail - backing.f_bavail) < backing.f_blocks // 100 + 1000


def test_errors_are_those_of_a_file_system(pcfs):
    mnt = str(pcfs.mountpoint)
    os.mkdir(f"{mnt}/d")
    put(f"{mnt}/d/f", b"x", sync=False)
    for call, code in [(lambda: os.rmdir(f"{mnt}/d"), errno.ENOTEMPTY), (lambda: os.mkdir(f"{mnt}/d"), errno.EEXIST),
                       (lambda: os.unlink(f"{mnt}/d"), errno.EISDIR), (lambda: os.open(f"{mnt}/nope", os.O_RDONLY), errno.ENOENT),
                       (lambda: os.link(f"{mnt}/d/f", f"{mnt}/g"), errno.EPERM),
                       (lambda: os.symlink("d/f", f"{mnt}/s"), errno.EPERM),
                       (lambda: os.open(f"{mnt}/d/f", os.O_CREAT | os.O_EXCL | os.O_WRONLY), errno.EEXIST)]:
        with pytest.raises(OSError) as raised:
            call()
        assert raised.value.errno == code
    os.rename(f"{mnt}/d", f"{mnt}/e")
    assert os.listdir(f"{mnt}/e") == ["f"]


def test_throughput_of_segment_sized_writes(pcfs):
    """64 MiB in 1 MiB writes with an fsync every 4 MiB, as a storage agent writes segments."""
    block = os.urandom(MiB)
    started = time.monotonic()
    fd = os.open(f"{pcfs.mountpoint}/segment", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for i in range(64):
            os.write(fd, block)
            if i % 4 == 3:
                os.fsync(fd)
    finally:
        os.close(fd)
    elapsed = time.monotonic() - started
    stats = pcfs.stats()
    print(f"\npower-cut fs: {64 / elapsed:.0f} MiB/s, {stats['ops']['write']} write requests for 64 MiB")
    assert stats["bytes_written"] == 64 * MiB and stats["fsyncs"] == 16
    assert stats["ops"]["write"] <= 64 * MiB // (128 * 1024), "writes arrive in pieces smaller than 128 KiB"
    assert 64 / elapsed > 20, f"{64 / elapsed:.1f} MiB/s"


class Model:
    """What the mount must show after a cut, computed the obvious way: whole copies, no ranges."""

    def __init__(self):
        self.nodes = {0: {"kind": "dir", "live": {}, "durable": {}}}
        self.next_id = 1

    def lookup(self, path):
        node_id = 0
        for name in filter(None, path.split("/")):
            node_id = self.nodes[node_id]["live"][name]
        return self.nodes[node_id]

    def new(self, path, kind):
        parent, name = path.rsplit("/", 1)
        self.nodes[self.next_id] = {"kind": kind, "live": {} if kind == "dir" else b"", "durable": {} if kind == "dir" else b""}
        self.lookup(parent)["live"][name] = self.next_id
        self.next_id += 1

    def tree(self, which):
        """{path: bytes or "dir"} reachable from the root through the `which` entries, breadth first,
        each inode under the first name met (sorted names), as the daemon writes it."""
        out, seen, order = {}, {0}, [(0, "")]
        for node_id, prefix in order:
            for name, child_id in sorted(self.nodes[node_id][which].items()):
                if child_id not in seen:
                    seen.add(child_id)
                    child = self.nodes[child_id]
                    out[f"{prefix}/{name}"] = "dir" if child["kind"] == "dir" else bytes(child[which])
                    if child["kind"] == "dir":
                        order.append((child_id, f"{prefix}/{name}"))
        return out


def mounted_tree(mnt):
    out = {}
    for root, dirs, files in os.walk(mnt):
        rel = root[len(mnt):]
        out.update({f"{rel}/{d}": "dir" for d in dirs})
        out.update({f"{rel}/{f}": get(f"{root}/{f}") for f in files})
    return out


def random_step(rng, mnt, model):
    """One random operation on the mount and on the model alike."""
    live = model.tree("live")
    dirs = [""] + [p for p, v in live.items() if v == "dir"]
    files = [p for p, v in live.items() if v != "dir"]
    choice = rng.choice(["write", "write", "fsync", "fsync", "fsyncdir", "rename", "unlink", "truncate", "mkdir"])
    if choice == "write" or not files:
        path = rng.choice(files + [f"{rng.choice(dirs)}/f{rng.randrange(4)}"])
        if path not in live:
            model.new(path, "file")
        node, offset, data = model.lookup(path), rng.randrange(3 * PAGE), os.urandom(rng.randrange(1, 2 * PAGE))
        node["live"] = node["live"].ljust(offset, b"\0")[:offset] + data + node["live"][offset + len(data):]
        fd = os.open(mnt + path, os.O_WRONLY | os.O_CREAT, 0o644)
        os.pwrite(fd, data, offset)
        os.close(fd)
    elif choice == "fsync":
        path = rng.choice(files)
        model.lookup(path)["durable"] = model.lookup(path)["live"]
        fd = os.open(mnt + path, os.O_RDONLY)
        os.fdatasync(fd) if rng.random() < 0.5 else os.fsync(fd)
        os.close(fd)
    elif choice == "fsyncdir":
        path = rng.choice(dirs)
        model.lookup(path)["durable"] = dict(model.lookup(path)["live"])
        fsync_dir(mnt + path)
    elif choice == "rename":
        old, new = rng.choice(files), f"{rng.choice(dirs)}/f{rng.randrange(4)}"
        if live.get(new, b"") != "dir" and old != new:
            src_parent, src_name = old.rsplit("/", 1)
            dst_parent, dst_name = new.rsplit("/", 1)
            model.lookup(dst_parent)["live"][dst_name] = model.lookup(src_parent)["live"].pop(src_name)
            os.rename(mnt + old, mnt + new)
    elif choice == "unlink":
        path = rng.choice(files)
        parent, name = path.rsplit("/", 1)
        del model.lookup(parent)["live"][name]
        os.unlink(mnt + path)
    elif choice == "truncate":
        path, size = rng.choice(files), rng.randrange(4 * PAGE)
        model.lookup(path)["live"] = model.lookup(path)["live"].ljust(size, b"\0")[:size]
        os.truncate(mnt + path, size)
    elif len(dirs) < 4:
        path = f"{rng.choice(dirs)}/d{len(dirs)}"
        model.new(path, "dir")
        os.mkdir(mnt + path)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_operations_match_a_simple_model(pcfs, seed):
    """Random writes, truncates, renames, unlinks, mkdirs and fsyncs; after each cut (or clean
    unmount) the mount shows exactly what a whole-copy model of the same rules predicts."""
    rng, model, mnt = random.Random(seed), Model(), str(pcfs.mountpoint)
    for round_ in range(6):
        for _ in range(40):
            random_step(rng, mnt, model)
        assert mounted_tree(mnt) == model.tree("live")
        clean = round_ % 3 == 2
        expected = model.tree("live" if clean else "durable")
        if not clean:
            pcfs.cut()
        pcfs.unmount()
        pcfs.mount()
        assert mounted_tree(mnt) == expected, f"round {round_}"
        model = Model()  # everything mounted is durable: rebuild the model from what is there
        for path, value in sorted(expected.items(), key=lambda item: item[0].count("/")):
            model.new(path, "dir" if value == "dir" else "file")
            if value != "dir":
                model.lookup(path)["live"] = model.lookup(path)["durable"] = value
        for node in model.nodes.values():
            if node["kind"] == "dir":
                node["durable"] = dict(node["live"])
