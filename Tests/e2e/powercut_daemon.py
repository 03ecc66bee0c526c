"""The power-cut daemon: `serve` mounts the FUSE operations (powercut_ops.py) and answers the
control socket (powercut_control.py) until unmounted, then writes the next state. powercut_fs.py
explains the model and holds the client that starts this, as `powercut_fs.py serve STATE_DIR MOUNTPOINT`.
"""
import logging
import os
import shutil
import sys

from powercut_control import ControlServer
from powercut_ops import PowerCutOps

log = logging.getLogger("powercut")


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
    log.info("mounting %s (state %s, %d inodes)", mountpoint, state_dir, len(fs.state.inodes))
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


def main(argv):
    if len(argv) != 4 or argv[1] != "serve":
        sys.exit(f"usage: {argv[0]} serve STATE_DIR MOUNTPOINT")
    sys.exit(serve(argv[2], argv[3]))


if __name__ == "__main__":
    main(sys.argv)
