"""The control protocol of the power-cut file system (powercut_fs.py explains the model): the only
place that knows how requests travel. A Unix socket STATE_DIR/control.sock, one JSON request per
line, one JSON answer per line. `send_request` is the client side, `ControlServer` the daemon's.
"""
import contextlib
import json
import os
import socket
import threading


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


def send_request(state_dir, cmd, timeout=60, **args):
    """One request to the daemon of state_dir; returns the answer, raises RuntimeError on an error.
    The daemon answers under the same lock as the file operations, which a busy mount holds for long
    stretches (an agent starting on thousands of segments): a long run once waited more than 10 s."""
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
