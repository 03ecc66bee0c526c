"""Client faults against a real brain and two agents: dropped uploads, slow clients, many connections,
oversized requests. Raw sockets where a well-behaved client library would not misbehave on purpose.
"""
import hashlib
import os
import select
import signal
import socket
import struct
import threading
import time

import pytest

from crash_harness import KiB, MiB, read_object, s3_client, segment_bytes
from harness import Cluster, signed_head, status, wait_for

BUCKET = "faults"


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, agents=2, chunk_size="1MiB", segment_size="4MiB").start()
    s3_client(c.endpoint).create_bucket(Bucket=BUCKET)
    yield c
    c.stop()


def connect(cluster, timeout=10):
    return socket.create_connection(("127.0.0.1", cluster.s3_port), timeout=timeout)


def read_response(sock):
    """Reads one HTTP response (Content-Length bodies). Returns (status, headers dict, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            raise ConnectionError(f"connection closed before a full response head ({data[:200]!r})")
        data += piece
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        piece = sock.recv(65536)
        if not piece:
            break
        body += piece
    return status, headers, body


def request(cluster, method, path, headers=(), body=b"", timeout=10):
    with connect(cluster, timeout) as sock:
        head = signed_head(method, path, headers={"Content-Length": len(body), **dict(headers)}) + "\r\n"
        sock.sendall(head.encode() + body)
        return read_response(sock)


def assert_still_serving(cluster):
    assert cluster.brain.proc.poll() is None, f"the brain died:\n{cluster.brain.log()[-3000:]}"
    s3 = s3_client(cluster.endpoint, read_timeout=10)
    body = os.urandom(3 * MiB + 5)
    s3.put_object(Bucket=BUCKET, Key="alive-check", Body=body)
    assert s3.get_object(Bucket=BUCKET, Key="alive-check")["Body"].read() == body


@pytest.fixture
def reclaiming_cluster(tmp_path):
    """Garbage deleted at once, reconcile every second with a 2 s grace, compaction on demand."""
    c = Cluster(tmp_path, agents=2, chunk_size="1MiB", segment_size="4MiB")
    c.brain.args += ["--garbage-delay", "0", "--reconcile-interval", "1", "--orphan-grace", "2"]
    for agent in c.agents:
        agent.args += ["--compaction-threshold", "0.05", "--compaction-interval", "3600"]
    c.start()
    s3_client(c.endpoint).create_bucket(Bucket=BUCKET)
    yield c
    c.stop()


@pytest.mark.parametrize("how", ["close", "reset"])
def test_client_disconnecting_mid_upload_leaves_no_object_and_no_space(reclaiming_cluster, how):
    cluster = reclaiming_cluster
    for i in range(3):
        key = f"dropped-{how}-{i}"
        sock = connect(cluster)
        sock.sendall((signed_head("PUT", f"/{BUCKET}/{key}", headers={"Content-Length": 8 * MiB}) + "\r\n").encode())
        sock.sendall(os.urandom(2 * MiB + 123))  # more than two 1 MiB chunks: some reach an agent
        time.sleep(0.3)
        if how == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    time.sleep(1.0)
    s3 = s3_client(cluster.endpoint, read_timeout=10)
    for i in range(3):
        status_code, _, _, error = read_object(s3, BUCKET, f"dropped-{how}-{i}")
        assert status_code == 404, f"dropped upload {i}: {status_code} {error}"
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0
    assert_still_serving(cluster)
    stored = segment_bytes(cluster)

    # After reconcile no agent holds a chunk the metadata does not reference (the dropped uploads'
    # chunks were deleted or reclaimed as orphans), and compaction gives their space back.
    def only_referenced():
        agents = status(cluster)["agents"]
        return all(a["chunkCount"] == a["referencedChunks"] for a in agents)

    wait_for(only_referenced, timeout=30, what="agents holding only referenced chunks")
    for agent in cluster.agents:
        agent.proc.send_signal(signal.SIGUSR1)
    wait_for(lambda: all("compaction finished" in a.log() for a in cluster.agents), what="compaction")
    reclaimed = segment_bytes(cluster)
    print(f"\nagent segment bytes: {stored} after 3 dropped uploads and a 3 MiB check, {reclaimed} after reclaim")
    assert reclaimed < stored, "compaction gave no space back"


@pytest.fixture
def impatient_cluster(tmp_path):
    """A cluster whose brain allows a client 3 s for a request head and 1 KiB/s of body per 3 s window."""
    c = Cluster(tmp_path, agents=2, chunk_size="1MiB", segment_size="4MiB")
    c.brain.args += ["--client-timeout", "3"]
    c.start()
    s3_client(c.endpoint).create_bucket(Bucket=BUCKET)
    yield c
    c.stop()


def drip(cluster, at_once, slowly, state, name, stop):
    """Sends `at_once`, then `slowly` a byte a second until the server answers or closes; records
    the outcome, the bytes dripped and the seconds it took in state[name]."""
    sock = connect(cluster, timeout=30)
    sock.sendall(at_once)
    started, sent = time.monotonic(), 0
    try:
        for byte in slowly:
            if stop.is_set():
                break
            sock.sendall(bytes([byte]))
            sent += 1
            readable, _, _ = select.select([sock], [], [], 1.0)
            if readable:
                status, _, body = read_response(sock)
                code = body.decode(errors="replace").split("<Code>")[-1].split("</Code>")[0]
                state[name] = (f"answered {status} {code}", sent, time.monotonic() - started)
                return
        state[name] = ("still open", sent, time.monotonic() - started)
    except (OSError, ConnectionError) as e:
        state[name] = (f"closed ({e})", sent, time.monotonic() - started)
    finally:
        sock.close()


def test_slow_clients_are_timed_out_and_do_not_hold_up_others(impatient_cluster):
    """One client sends a body a byte a second, another its request head a byte a second (slowloris).
    Other clients must be served promptly meanwhile, and the slow ones answered 400 RequestTimeout
    and disconnected (here after 3 s of head, or a 3 s body window under 1 KiB/s)."""
    cluster = impatient_cluster
    stop, state = threading.Event(), {}
    put_head = (signed_head("PUT", f"/{BUCKET}/slow", headers={"Content-Length": 1000}) + "\r\n").encode()
    get_head = f"GET /{BUCKET}/alive-check HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: {'y' * 100}".encode()
    slow_body = threading.Thread(target=drip, args=(cluster, put_head, b"x" * 1000, state, "body", stop), daemon=True)
    slow_head = threading.Thread(target=drip, args=(cluster, b"", get_head, state, "head", stop), daemon=True)
    for t in (slow_body, slow_head):
        t.start()
    time.sleep(1.0)
    s3 = s3_client(cluster.endpoint, read_timeout=10)
    latencies = []
    try:
        for i in range(40):
            body = os.urandom(1 + (i * 37 * KiB) % (2 * MiB))
            started = time.monotonic()
            s3.put_object(Bucket=BUCKET, Key=f"fast/{i}", Body=body)
            assert s3.get_object(Bucket=BUCKET, Key=f"fast/{i}")["Body"].read() == body
            latencies.append(time.monotonic() - started)
        for t in (slow_body, slow_head):
            t.join(timeout=15)
    finally:
        stop.set()
    worst = max(latencies)
    print(f"\nfast clients: 40 PUT+GET pairs, worst {worst:.2f}s; slow clients: {state}")
    assert worst < 3.0, f"a fast client waited {worst:.2f}s while slow clients were connected"
    for name in ("head", "body"):
        outcome, sent, seconds = state.get(name, ("no outcome", 0, 0))
        assert outcome == "answered 400 RequestTimeout", f"slow {name} client: {outcome} after {sent} bytes"
        assert 2.5 <= seconds <= 10, f"slow {name} client timed out after {seconds:.1f}s (limit 3 s)"
    status, _, _, _ = read_object(s3, BUCKET, "slow")
    assert status == 404, "a never-finished slow upload must not become an object"
    assert_still_serving(cluster)


def test_500_concurrent_connections_are_served(cluster):
    s3 = s3_client(cluster.endpoint)
    body = b"small object " * 10
    s3.put_object(Bucket=BUCKET, Key="small", Body=body)
    count = 500
    barrier = threading.Barrier(count, timeout=60)
    results = [None] * count

    def client(i):
        try:
            sock = connect(cluster, timeout=60)
        except OSError as e:
            results[i] = f"connect: {e}"
            barrier.abort()
            return
        try:
            barrier.wait()  # all 500 connections are open at once before any request is sent
            sock.sendall((signed_head("GET", f"/{BUCKET}/small") + "\r\n").encode())
            status, _, got = read_response(sock)
            results[i] = "ok" if status == 200 and got == body else f"status {status}, {len(got)} bytes"
        except Exception as e:
            results[i] = f"{type(e).__name__}: {e}"
        finally:
            sock.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    elapsed = time.monotonic() - started
    failures = [r for r in results if r != "ok"]
    print(f"\n{count} concurrent connections: {count - len(failures)} served in {elapsed:.1f}s")
    assert not failures, f"{len(failures)} of {count} failed, e.g. {failures[:5]}"
    assert_still_serving(cluster)


def answer_status(cluster, raw_head, body_size=0, body_piece=None):
    """Sends a request (the body in pieces, tolerating an early answer) and returns the status or why none came."""
    sock = connect(cluster, timeout=30)
    try:
        try:
            sock.sendall(raw_head)
            sent = 0
            while sent < body_size:
                piece = body_piece[: body_size - sent]
                sock.sendall(piece)
                sent += len(piece)
        except OSError:
            pass  # the server may answer and close before reading everything
        try:
            return read_response(sock)[0]
        except (OSError, ConnectionError) as e:
            return f"no response ({type(e).__name__}: {e})"
    finally:
        sock.close()


def test_oversized_header_gets_4xx(cluster):
    big = "h" * (100 * KiB)
    status = answer_status(cluster, f"GET /{BUCKET}/x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {big}\r\n\r\n".encode())
    print(f"\n100 KiB header value: {status}")
    assert isinstance(status, int) and 400 <= status < 500, f"100 KiB header: {status}"
    assert_still_serving(cluster)


def test_2_kib_key_gets_4xx(cluster):
    key = "k" * 2048
    s3 = s3_client(cluster.endpoint)
    with pytest.raises(Exception) as e:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"data")
    status = getattr(e.value, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
    print(f"\n2 KiB key PUT: {status} {getattr(e.value, 'response', {}).get('Error')}")
    assert status is not None and 400 <= status < 500, str(e.value)
    get_status = answer_status(cluster, (signed_head("GET", f"/{BUCKET}/{key}") + "\r\n").encode())
    assert isinstance(get_status, int) and 400 <= get_status < 500, f"GET of a 2 KiB key: {get_status}"
    assert_still_serving(cluster)


def test_10_mib_delete_objects_body_gets_4xx(cluster):
    entry = b"<Object><Key>" + b"k" * 100 + b"</Key></Object>"
    body = b"<Delete>" + entry * ((10 * MiB) // len(entry)) + b"</Delete>"
    md5 = __import__("base64").b64encode(hashlib.md5(body).digest()).decode()
    head = (signed_head("POST", f"/{BUCKET}?delete", headers={
        "Content-Length": len(body), "Content-Type": "application/xml", "Content-MD5": md5}) + "\r\n").encode()
    sock = connect(cluster, timeout=30)
    try:
        try:
            sock.sendall(head + body)
        except OSError:
            pass
        try:
            status = read_response(sock)[0]
        except (OSError, ConnectionError) as e:
            status = f"no response ({type(e).__name__}: {e})"
    finally:
        sock.close()
    print(f"\n10 MiB DeleteObjects body: {status}")
    assert isinstance(status, int) and 400 <= status < 500, f"10 MiB DeleteObjects body: {status}"
    assert_still_serving(cluster)
