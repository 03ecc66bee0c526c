"""Crash-recovery harness: a concurrent boto3 workload with a ledger, and a verifier (the SIGKILL loop is
in crash_killer.py).

The ledger records every operation the workload sent, whether the server acknowledged it, and
enough to regenerate the exact bytes of every version ever written (a 16-byte unique id followed by
a slice of a shared random pool), so that the verifier can tell "the right bytes", "an older or
newer version that may legitimately be there" and "wrong bytes" apart.

Each worker thread owns its keys, so the operations on one key form a sequence. For a key, the
states the store may legitimately be in after the run are: the effect of the last acknowledged
operation (absent if none was acknowledged), or the effect of any operation sent after it that was
not acknowledged (5xx, connection cut, process killed: it may or may not have happened, but wholly).
"""
import hashlib
import os
import random
import threading
import time

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

from harness import ROOT_ACCESS_KEY, ROOT_SECRET_KEY, Cluster

KiB, MiB = 1 << 10, 1 << 20
ABSENT = "absent"
PART_BYTES = 5 * MiB
_POOL = None
_POOL_LOCK = threading.Lock()


def pool():
    """21 MiB of random bytes shared by every body (bodies are distinct by their 16-byte prefix)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = os.urandom(21 * MiB)
        return _POOL


class Version:
    """One body ever sent for a key; regenerates its bytes on demand."""

    def __init__(self, size, rng):
        self.size = size
        self.uid = rng.randbytes(16)
        if size <= 16:
            self.offset = 0
        else:
            self.offset = rng.randrange(0, len(pool()) - (size - 16) + 1)
        data = self.data()
        self.md5 = hashlib.md5(data).hexdigest()

    def data(self):
        if self.size <= 16:
            return self.uid[: self.size]
        return self.uid + pool()[self.offset: self.offset + self.size - 16]

    def __repr__(self):
        return f"Version(size={self.size}, md5={self.md5})"


class Op:
    def __init__(self, kind, key, version=None):
        self.kind, self.key, self.version = kind, key, version  # version None for delete
        self.acked = False
        self.error = None
        self.t0 = time.monotonic()
        self.t1 = None

    @property
    def effect(self):
        return ABSENT if self.version is None else self.version

    def __repr__(self):
        state = "acked" if self.acked else f"unacked({self.error})"
        return f"{self.kind} {self.version!r} {state} t={self.t0:.2f}..{self.t1 or 0:.2f}"


def describe_state(state):
    return "ABSENT" if state is ABSENT else f"{state.size} bytes md5={state.md5}"


class Ledger:
    def __init__(self):
        self.lock = threading.Lock()
        self.history = {}  # key -> [Op]
        self.tainted = set()  # keys with an operation that timed out (may complete at any later time)
        self.problems = []  # what must never happen: wrong bytes, hangs, unexpected 4xx, wrong ETags
        self.counts = {}

    def count(self, name, n=1):
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + n

    def begin(self, kind, key, version=None):
        op = Op(kind, key, version)
        with self.lock:
            self.history.setdefault(key, []).append(op)
        return op

    def finish(self, op, acked, error=None):
        op.t1 = time.monotonic()
        op.acked, op.error = acked, error
        self.count(f"{op.kind} {'acked' if acked else 'unacked'}")

    def problem(self, text):
        with self.lock:
            self.problems.append(text)

    def allowed(self, key):
        """States the key may be in now: the last acknowledged effect, or any later unacknowledged one."""
        ops = self.history.get(key, [])
        last = max((i for i, op in enumerate(ops) if op.acked), default=-1)
        states = [ABSENT if last < 0 else ops[last].effect]
        states += [op.effect for op in ops[last + 1:] if not op.acked]
        if key in self.tainted:
            states += [op.effect for op in ops] + [ABSENT]
        return states


def matches(data, states):
    """'exact' if data equals a permitted version, 'prefix' if it is a proper prefix of one, else None."""
    digest = hashlib.md5(data).hexdigest()
    for state in states:
        if state is not ABSENT and state.size == len(data) and state.md5 == digest:
            return "exact"
    for state in states:
        if state is not ABSENT and len(data) < state.size and state.data()[: len(data)] == data:
            return "prefix"
    return None


def s3_client(endpoint, read_timeout=60):
    session = boto3.session.Session()
    return session.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=ROOT_ACCESS_KEY, aws_secret_access_key=ROOT_SECRET_KEY,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}, connect_timeout=5,
                      read_timeout=read_timeout, max_pool_connections=4))


def status_of(error):
    if isinstance(error, ClientError):
        return error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return None


def short(error):
    if isinstance(error, ClientError):
        return f"{status_of(error)} {error.response.get('Error', {}).get('Code')}"
    return type(error).__name__


def read_object(s3, bucket, key):
    """GET a key. Returns (status, body bytes received, complete?, error text)."""
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as e:
        return status_of(e), b"", False, short(e)
    except (BotoCoreError, OSError) as e:
        return None, b"", False, short(e)
    expected = response["ContentLength"]
    received = bytearray()
    try:
        for piece in response["Body"].iter_chunks(256 * KiB):
            received += piece
    except (BotoCoreError, OSError, ValueError) as e:
        return 200, bytes(received), False, f"body cut after {len(received)} of {expected}: {short(e)}"
    finally:
        response["Body"].close()
    if len(received) != expected:
        return 200, bytes(received), False, f"body {len(received)} bytes, Content-Length {expected}"
    return 200, bytes(received), True, None


def random_size(rng):
    """Mostly small (to keep runs fast), sometimes spanning chunks and segments, rarely up to 20 MiB."""
    roll = rng.random()
    if roll < 0.08:
        return 0
    if roll < 0.62:
        return rng.randint(1, 16 * KiB)
    if roll < 0.92:
        return rng.randint(16 * KiB, 1 * MiB + 1)
    if roll < 0.98:
        return rng.randint(1 * MiB, 4 * MiB)
    if roll < 0.995:
        return rng.randint(4 * MiB, 10 * MiB)
    return rng.randint(10 * MiB, 20 * MiB)


class Worker(threading.Thread):
    """Runs random operations on its own keys until told to stop; every outcome goes to the ledger."""

    KEYS_PER_WORKER = 24

    def __init__(self, index, endpoint, bucket, ledger, stop, seed, sizes=None, mix=(0.50, 0.65, 0.665)):
        """`sizes(rng)` picks a PUT's size (random_size); `mix`: where PUT, DELETE and multipart end in [0, 1)."""
        super().__init__(name=f"worker-{index}", daemon=True)
        self.index, self.bucket, self.ledger, self.stop_event = index, bucket, ledger, stop
        self.sizes, self.mix = sizes or random_size, mix
        self.rng = random.Random(seed)
        self.s3 = s3_client(endpoint)
        # Awkward characters in a few keys, to exercise URL handling across restarts too.
        self.keys = [f"w{index}/k{j:02d}" + ("/é ü+%" if j % 6 == 5 else "") for j in range(self.KEYS_PER_WORKER)]
        self.failure = None

    def run(self):
        try:
            while not self.stop_event.is_set():
                key = self.rng.choice([k for k in self.keys if k not in self.ledger.tainted] or self.keys)
                roll = self.rng.random()
                if roll < self.mix[0]:
                    self.put(key)
                elif roll < self.mix[1]:
                    self.delete(key)
                elif roll < self.mix[2]:
                    self.multipart(key)
                else:
                    self.get(key)
                self.stop_event.wait(self.rng.uniform(0, 0.08))  # bounds disk growth in long runs
        except Exception as e:  # a bug in the workload itself must fail the test, not vanish
            self.failure = e
            raise

    def handle_error(self, op, error):
        status = status_of(error)
        if isinstance(error, (ReadTimeoutError,)) or (isinstance(error, ConnectTimeoutError)):
            self.ledger.tainted.add(op.key)
            self.ledger.problem(f"{op.kind} {op.key!r} timed out (server hung?): {error}")
        elif status is not None and 400 <= status < 500:
            self.ledger.problem(f"{op.kind} {op.key!r} got an unexpected {short(error)}")
        self.ledger.finish(op, False, short(error))

    def put(self, key):
        version = Version(self.sizes(self.rng), self.rng)
        op = self.ledger.begin("put", key, version)
        try:
            response = self.s3.put_object(Bucket=self.bucket, Key=key, Body=version.data())
        except (ClientError, BotoCoreError, OSError) as e:
            return self.handle_error(op, e)
        if response["ETag"] != f'"{version.md5}"':
            self.ledger.problem(f"put {key!r}: ETag {response['ETag']} for a body with MD5 {version.md5}")
        self.ledger.finish(op, True)

    def delete(self, key):
        op = self.ledger.begin("delete", key)
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError, OSError) as e:
            return self.handle_error(op, e)
        self.ledger.finish(op, True)

    def multipart(self, key):
        size = self.rng.randint(PART_BYTES + 1, PART_BYTES + 3 * MiB) if self.rng.random() < 0.8 \
            else self.rng.randint(PART_BYTES + 1, 2 * PART_BYTES + MiB)
        version = Version(size, self.rng)
        data = version.data()
        try:
            upload_id = self.s3.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]
        except (ClientError, BotoCoreError, OSError) as e:
            if status_of(e) is not None and 400 <= status_of(e) < 500:
                self.ledger.problem(f"create_multipart_upload {key!r}: unexpected {short(e)}")
            self.ledger.count("multipart create failed")
            return
        parts = []
        try:
            for number, start in enumerate(range(0, size, PART_BYTES), start=1):
                part = self.s3.upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number,
                                           Body=data[start:start + PART_BYTES])
                parts.append({"ETag": part["ETag"], "PartNumber": number})
        except (ClientError, BotoCoreError, OSError) as e:
            if status_of(e) is not None and 400 <= status_of(e) < 500:
                self.ledger.problem(f"upload_part {key!r}: unexpected {short(e)}")
            self.ledger.count("multipart part failed")
            try:
                self.s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            except (ClientError, BotoCoreError, OSError):
                pass
            return
        op = self.ledger.begin("multipart", key, version)
        try:
            self.s3.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                              MultipartUpload={"Parts": parts})
        except (ClientError, BotoCoreError, OSError) as e:
            return self.handle_error(op, e)
        self.ledger.finish(op, True)

    def get(self, key):
        """A read during the run: whatever arrives must be (a prefix of) a version the key may hold."""
        states = self.ledger.allowed(key)
        status, data, complete, error = read_object(self.s3, self.bucket, key)
        self.ledger.count(f"get {status if status else 'error'}")
        if status == 404:
            if ABSENT not in states:
                self.ledger.problem(f"get {key!r} during the run: 404 but the key must hold one of "
                                    f"{[describe_state(s) for s in states]}")
        elif status == 200:
            kind = matches(data, states)
            if kind is None or (complete and kind != "exact"):
                self.ledger.problem(f"get {key!r} during the run: WRONG BYTES ({len(data)} bytes, md5 "
                                    f"{hashlib.md5(data).hexdigest()}, complete={complete}); permitted: "
                                    f"{[describe_state(s) for s in states]}")
            elif not complete:
                self.ledger.count("get cut short")


class Verification:
    def __init__(self):
        self.present = {}  # key -> (size, md5)
        self.failures = []
        self.live_bytes = 0


def verify(cluster, ledger, bucket, retries=20):
    """Read every key the ledger knows (and every listed key); check against the ledger and the listing."""
    s3 = s3_client(cluster.endpoint)
    result = Verification()
    listed = {}
    previous = None
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 50}):
        for entry in page.get("Contents", []):
            key = entry["Key"]
            if previous is not None and key.encode() <= previous.encode():
                result.failures.append(f"listing out of order or duplicated: {previous!r} then {key!r}")
            previous = key
            listed[key] = (entry["Size"], entry["ETag"])
    for key in sorted(set(ledger.history) | set(listed)):
        states = ledger.allowed(key)
        for attempt in range(retries):
            status, data, complete, error = read_object(s3, bucket, key)
            if status in (200, 404) and (complete or status == 404):
                break
            time.sleep(0.25)
        allowed_text = [describe_state(s) for s in states]
        history = ledger.history.get(key, [])
        if status == 404:
            if ABSENT not in states:
                result.failures.append(f"LOST: {key!r} is absent but must be one of {allowed_text}; history {history}")
            if key in listed:
                result.failures.append(f"{key!r} is listed {listed[key]} but GET answers 404")
            continue
        if status != 200 or not complete:
            kind = matches(data, states) if data else "nothing"
            result.failures.append(f"UNREADABLE: {key!r} after recovery: status {status}, {error}, bytes received "
                                   f"{len(data)} ({kind}); must be one of {allowed_text}; history {history}")
            if kind is None:
                result.failures.append(f"WRONG BYTES from {key!r} (not a prefix of any version)")
            continue
        if matches(data, states) != "exact":
            result.failures.append(f"WRONG: {key!r} holds {len(data)} bytes md5 {hashlib.md5(data).hexdigest()}, "
                                   f"permitted {allowed_text}; history {history}")
            continue
        digest = hashlib.md5(data).hexdigest()
        result.present[key] = (len(data), digest)
        result.live_bytes += len(data)
        if key not in listed:
            result.failures.append(f"{key!r} reads back ({len(data)} bytes) but is missing from the listing")
        elif listed[key][0] != len(data):
            result.failures.append(f"{key!r}: listing says {listed[key][0]} bytes, GET returned {len(data)}")
    return result


def segment_bytes(cluster):
    return sum(p.stat().st_size for agent in cluster.agents for p in cluster.agent_dir(agent).glob("segment-*.sos"))


def make_cluster(root, agents=3):
    return Cluster(root, agents=agents, chunk_size="1MiB", segment_size="4MiB")


# ---------------------------------------------------------------- on-disk records (docs/formats.md)

RECORD_HEADER = 24


class DiskRecord:
    def __init__(self, path, offset, kind, key, payload_offset, payload_length):
        self.path, self.offset, self.kind, self.key = path, offset, kind, key
        self.payload_offset, self.payload_length = payload_offset, payload_length
        self.end = payload_offset + payload_length

    def __repr__(self):
        return f"record(type {self.kind} at {self.offset}..{self.end} of {self.path.name})"


def read_records(path):
    """The records of an undamaged segment or WAL file, in order (stops at the first invalid header)."""
    data = path.read_bytes()
    records, offset = [], 0
    while offset + RECORD_HEADER <= len(data) and data[offset:offset + 4] == b"SOSR":
        kind, key_length = data[offset + 13], data[offset + 15]
        payload_length = int.from_bytes(data[offset + 16:offset + 20], "little")
        payload_offset = offset + RECORD_HEADER + key_length
        if payload_offset + payload_length > len(data):
            break
        records.append(DiskRecord(path, offset, kind, data[offset + RECORD_HEADER:payload_offset],
                                  payload_offset, payload_length))
        offset = payload_offset + payload_length
    return records


def segment_number(path):
    return int(path.name[len("segment-"):-len(".sos")])


def segments(directory):
    return sorted(directory.glob("segment-*.sos"), key=segment_number)


def chunk_records_by_md5(directory):
    """MD5 of each chunk record's payload -> the record, over every segment of an agent directory."""
    found = {}
    for path in segments(directory):
        data = path.read_bytes()
        for record in read_records(path):
            if record.kind == 1:
                found[hashlib.md5(data[record.payload_offset:record.end]).hexdigest()] = record
    return found


def chunk_md5s(data, chunk_bytes=MiB):
    return [hashlib.md5(data[i:i + chunk_bytes]).hexdigest() for i in range(0, len(data), chunk_bytes)]
