"""The kill loop's workload in a versioned bucket with Object Lock, and its verifier.

Each worker owns its keys. It PUTs new versions (the response names the version id), some under a
legal hold, DELETEs without a version id (a delete marker, named by the response too) and DELETEs a
version it knows by its id: for a held version that must be refused (403), always. The
ledger keeps, per key, every version id acknowledged and every version id whose deletion was
acknowledged, and the bodies of PUTs that were not acknowledged (their ids are unknown: such a version
may exist or not, wholly).

After recovery every version listed must be one the ledger allows, and:
  - LOST: an acknowledged version (or delete marker) whose deletion was never sent is not listed;
  - RESURRECTED: a version whose deletion was acknowledged is listed again;
  - LOCKED: a version under a legal hold was deleted (acknowledged, or gone after recovery);
  - WRONG: a version's bytes (GET by version id) are not exactly the bytes written under that id, or an
    unknown version's bytes are not those of an unacknowledged PUT to that key;
  - a key's GET without a version id disagrees with its latest listed version.
"""
import hashlib
import threading

from botocore.exceptions import BotoCoreError, ClientError

from crash_harness import Version, random_size, read_object, s3_client, short, status_of

KEYS_PER_WORKER = 8


class VersionLedger:
    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}  # key -> {version id: Version, or None for a delete marker}
        self.deleted = {}  # key -> {version id whose deletion was acknowledged}
        self.in_doubt = {}  # key -> {version id whose deletion was sent, not acknowledged}
        self.unacked_bodies = {}  # key -> [Version] of PUTs not acknowledged (id unknown)
        self.held = {}  # key -> {version id acknowledged with a legal hold}
        self.problems = []
        self.counts = {}

    def count(self, name):
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + 1

    def problem(self, text):
        with self.lock:
            self.problems.append(text)


class VersionedWorker(threading.Thread):
    def __init__(self, index, endpoint, bucket, ledger, stop, rng):
        super().__init__(name=f"versioned-worker-{index}", daemon=True)
        self.bucket, self.ledger, self.stop_event, self.rng = bucket, ledger, stop, rng
        self.s3 = s3_client(endpoint)
        self.keys = [f"v{index}/k{j}" for j in range(KEYS_PER_WORKER)]
        self.failure = None

    def run(self):
        try:
            while not self.stop_event.is_set():
                key = self.rng.choice(self.keys)
                roll = self.rng.random()
                if roll < 0.6:
                    self.put(key)
                elif roll < 0.75:
                    self.delete(key)
                else:
                    self.delete_version(key)
                self.stop_event.wait(self.rng.uniform(0, 0.08))
        except Exception as e:  # a bug in the workload itself must fail the test
            self.failure = e
            raise

    def unexpected(self, what, key, error):
        status = status_of(error)
        if status is not None and 400 <= status < 500:
            self.ledger.problem(f"{what} {key!r} got an unexpected {short(error)}")

    def put(self, key):
        # Small bodies: the point here is the versions' metadata, which the plain workload's sizes do not need.
        version = Version(min(random_size(self.rng), 64 * 1024), self.rng)
        hold = {"ObjectLockLegalHoldStatus": "ON"} if self.rng.random() < 0.2 else {}
        try:
            response = self.s3.put_object(Bucket=self.bucket, Key=key, Body=version.data(), **hold)
        except (ClientError, BotoCoreError, OSError) as e:
            self.unexpected("versioned put", key, e)
            with self.ledger.lock:
                self.ledger.unacked_bodies.setdefault(key, []).append(version)
            return self.ledger.count("versioned put unacked")
        with self.ledger.lock:
            self.ledger.acked.setdefault(key, {})[response["VersionId"]] = version
            if hold:
                self.ledger.held.setdefault(key, set()).add(response["VersionId"])
        self.ledger.count("versioned put acked")

    def delete(self, key):
        try:
            response = self.s3.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError, OSError) as e:
            # An unacknowledged delete marker may exist under an id the ledger never learns: the
            # verifier allows unknown markers.
            self.unexpected("versioned delete", key, e)
            return self.ledger.count("versioned delete unacked")
        if response.get("DeleteMarker") is not True:
            self.ledger.problem(f"delete of {key!r} in a versioned bucket made no delete marker: {response}")
        with self.ledger.lock:
            self.ledger.acked.setdefault(key, {})[response["VersionId"]] = None
        self.ledger.count("versioned delete acked")

    def delete_version(self, key):
        with self.ledger.lock:
            known = [v for v in self.ledger.acked.get(key, {})
                     if v not in self.ledger.deleted.get(key, set()) and v not in self.ledger.in_doubt.get(key, set())]
        if not known:
            return
        version_id = self.rng.choice(known)
        held = version_id in self.ledger.held.get(key, set())
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=key, VersionId=version_id)
        except (ClientError, BotoCoreError, OSError) as e:
            if held and status_of(e) == 403:
                return self.ledger.count("held version's deletion refused")
            if held:
                return self.ledger.count("held version's deletion unanswered")  # it must still be there
            self.unexpected("delete version of", key, e)
            with self.ledger.lock:
                self.ledger.in_doubt.setdefault(key, set()).add(version_id)
            return self.ledger.count("versioned delete-version unacked")
        if held:
            return self.ledger.problem(f"LOCKED: {key!r} version {version_id} under a legal hold was deleted")
        with self.ledger.lock:
            self.ledger.deleted.setdefault(key, set()).add(version_id)
        self.ledger.count("versioned delete-version acked")


def verify_versions(endpoint, ledger, bucket):
    """Failures found comparing the bucket's versions with the ledger; also returns {key: [(id, md5, size)]}."""
    s3 = s3_client(endpoint)
    failures, seen = [], {}
    listed = {}  # key -> [(version id, is marker, is latest)] newest first
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, PaginationConfig={"PageSize": 40}):
        entries = [(v, False) for v in page.get("Versions", [])] + [(m, True) for m in page.get("DeleteMarkers", [])]
        for entry, marker in entries:
            listed.setdefault(entry["Key"], []).append((entry["VersionId"], marker, entry["IsLatest"]))
    for key in sorted(set(ledger.acked) | set(listed)):
        acked = ledger.acked.get(key, {})
        deleted = ledger.deleted.get(key, set())
        doubtful = ledger.in_doubt.get(key, set())
        versions = listed.get(key, [])
        ids = {version_id for version_id, _, _ in versions}
        for version_id in ledger.held.get(key, set()) - ids:
            failures.append(f"LOCKED: {key!r} version {version_id} under a legal hold is gone")
        for version_id, body in acked.items():
            if version_id not in deleted and version_id not in doubtful and version_id not in ids:
                failures.append(f"LOST: {key!r} version {version_id} ({'marker' if body is None else body}) is not listed")
        latest = [v for v in versions if v[2]]
        if versions and len(latest) != 1:
            failures.append(f"{key!r} has {len(latest)} latest versions: {versions}")
        for version_id, marker, is_latest in versions:
            if version_id in deleted:
                failures.append(f"RESURRECTED: {key!r} version {version_id}, whose deletion was acknowledged")
                continue
            if marker:
                if version_id in acked and acked[version_id] is not None:
                    failures.append(f"{key!r} version {version_id} was written as an object, listed as a delete marker")
                continue
            try:
                data = s3.get_object(Bucket=bucket, Key=key, VersionId=version_id)["Body"].read()
            except (ClientError, BotoCoreError, OSError) as e:
                failures.append(f"UNREADABLE: {key!r} version {version_id}: {short(e)}")
                continue
            digest = hashlib.md5(data).hexdigest()
            seen.setdefault(key, []).append((version_id, digest, len(data)))
            if version_id in acked:
                expected = acked[version_id]
                if expected is None or expected.md5 != digest or expected.size != len(data):
                    failures.append(f"WRONG: {key!r} version {version_id} holds {len(data)} bytes md5 {digest}, "
                                    f"written as {expected}")
            elif not any(v.md5 == digest and v.size == len(data) for v in ledger.unacked_bodies.get(key, [])):
                failures.append(f"WRONG: {key!r} has an unknown version {version_id} of {len(data)} bytes md5 {digest} "
                                f"that no PUT sent")
        # GET without a version id reads the latest version, or 404 when that is a delete marker.
        status, data, complete, error = read_object(s3, bucket, key)
        if latest:
            version_id, marker, _ = latest[0]
            if marker and status != 404:
                failures.append(f"{key!r}: latest is delete marker {version_id} but GET answers {status}")
            if not marker and (status != 200 or (version_id, hashlib.md5(data).hexdigest(), len(data)) not in seen.get(key, [])):
                failures.append(f"{key!r}: GET answers {status} {error or ''}, not the latest version {version_id}")
        elif status != 404:
            failures.append(f"{key!r} has no versions but GET answers {status}")
    return failures, seen


def prune_versions(endpoint, ledger, bucket, keep=4):
    """Keeps a long run's verification bounded: between rounds (no cut pending, every process up), all
    but `keep` versions of each key are deleted, the latest always kept, legal holds released first.
    Each release and deletion is acknowledged into the ledger, so later rounds check that it stays
    done. Returns failures (a refused release or deletion is one)."""
    s3 = s3_client(endpoint)
    failures, listed = [], {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, PaginationConfig={"PageSize": 200}):
        entries = [(v, False) for v in page.get("Versions", [])] + [(m, True) for m in page.get("DeleteMarkers", [])]
        for entry, marker in entries:
            listed.setdefault(entry["Key"], []).append((entry["VersionId"], marker, entry["IsLatest"]))
    for key, versions in sorted(listed.items()):
        older = [(version_id, marker) for version_id, marker, is_latest in versions if not is_latest]
        for version_id, marker in older[: max(0, len(versions) - keep)]:
            try:
                if not marker and (version_id in ledger.held.get(key, set())
                                   or version_id not in ledger.acked.get(key, {})):
                    # An unknown version (an unacknowledged PUT that landed) may carry a hold too.
                    s3.put_object_legal_hold(Bucket=bucket, Key=key, VersionId=version_id,
                                             LegalHold={"Status": "OFF"})
                    ledger.held.get(key, set()).discard(version_id)
                s3.delete_object(Bucket=bucket, Key=key, VersionId=version_id)
            except (ClientError, BotoCoreError, OSError) as e:
                failures.append(f"pruning {key!r} version {version_id} failed: {short(e)}")
                continue
            ledger.deleted.setdefault(key, set()).add(version_id)
            ledger.count("versions pruned between rounds")
    return failures
