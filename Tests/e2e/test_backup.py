"""`sos admin backup --to DIR`: a consistent copy of the brain's metadata that a brain starts from
with exactly the metadata of the moment of the backup (docs/operations.md, "Backup and restore")."""
import json
import os
import re
import shutil
import subprocess

from harness import COOKIE, ROOT_ACCESS_KEY, ROOT_SECRET_KEY, SOS_BIN, Cluster, admin, free_port, port_open, wait_for
from test_keys import admin_fails, client, refused


def test_a_brain_restored_from_a_backup_has_exactly_the_metadata_of_its_moment(tmp_path):
    cluster = Cluster(tmp_path, agents=2)
    # Nothing deleted after the backup may lose its bytes on the agents before the restore.
    cluster.brain.args += ["--garbage-delay", "3600", "--replication", "2"]
    cluster.start()
    backup = tmp_path / "backup"
    try:
        s3 = cluster.boto3()
        s3.create_bucket(Bucket="kept")
        before = {f"k{i}": os.urandom(300_000 + i) for i in range(4)}
        for key, body in before.items():
            s3.put_object(Bucket="kept", Key=key, Body=body)
        s3.put_bucket_versioning(Bucket="kept", VersioningConfiguration={"Status": "Enabled"})
        v1 = s3.put_object(Bucket="kept", Key="versioned", Body=b"one")["VersionId"]
        v2 = s3.put_object(Bucket="kept", Key="versioned", Body=b"two")["VersionId"]
        key = json.loads(admin(cluster, "key", "create", "--name", "before", "--json"))
        admin(cluster, "key", "allow", key["accessKeyID"], "--bucket", "kept", "--read")

        out = admin(cluster, "backup", "--to", str(backup))
        assert str(backup) in out
        assert oct((backup / "metadata").stat().st_mode & 0o777) == "0o700"
        # A second backup into the same directory would mix two: refused, the first left as it was.
        files = sorted(os.listdir(backup / "metadata"))
        assert "not empty" in admin_fails(cluster, "backup", "--to", str(backup))
        assert sorted(os.listdir(backup / "metadata")) == files

        # After the backup: a new bucket, a new object, a deletion, an overwrite, a new key.
        s3.create_bucket(Bucket="later")
        s3.put_object(Bucket="kept", Key="after", Body=b"after the backup")
        s3.delete_object(Bucket="kept", Key="k0")
        s3.put_object(Bucket="kept", Key="k1", Body=b"overwritten after the backup")
        s3.put_object(Bucket="kept", Key="versioned", Body=b"three")
        later_key = json.loads(admin(cluster, "key", "create", "--name", "after", "--json"))
    finally:
        cluster.stop()

    # Restore: the brain starts on the backup; the agents keep their data.
    restored = Cluster(tmp_path, agents=2)
    restored.brain.args[restored.brain.args.index("--directory") + 1] = str(backup)
    restored.brain.args += ["--replication", "2"]
    restored.brain.name = "restored-brain"
    restored.start()
    try:
        s3 = restored.boto3()
        assert sorted(b["Name"] for b in s3.list_buckets()["Buckets"]) == ["kept"]
        listed = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="kept").get("Contents", []))
        assert listed == sorted([*before, "versioned"])
        for key_name, body in before.items():
            assert s3.get_object(Bucket="kept", Key=key_name)["Body"].read() == body, key_name
        versions = s3.list_object_versions(Bucket="kept", Prefix="versioned")["Versions"]
        assert sorted(v["VersionId"] for v in versions) == sorted([v1, v2])
        assert s3.get_object(Bucket="kept", Key="versioned")["Body"].read() == b"two"
        assert s3.get_bucket_versioning(Bucket="kept")["Status"] == "Enabled"
        reader = client(restored, key["accessKeyID"], key["secretKey"])
        assert reader.get_object(Bucket="kept", Key="k2")["Body"].read() == before["k2"]
        refused(lambda: client(restored, later_key["accessKeyID"], later_key["secretKey"]).list_buckets(),
                code="InvalidAccessKeyId")
        # The restored brain goes on: it writes, and its writes survive a restart.
        s3.put_object(Bucket="kept", Key="new", Body=b"written after the restore")
        restored.restart()
        assert restored.boto3().get_object(Bucket="kept", Key="new")["Body"].read() == b"written after the restore"
    finally:
        restored.stop()


def test_sos_server_starts_from_a_backup_as_its_brain_directory(tmp_path):
    data, s3_port = tmp_path / "data", free_port()
    env = dict(os.environ, SOS_ROOT_ACCESS_KEY=ROOT_ACCESS_KEY, SOS_ROOT_SECRET_KEY=ROOT_SECRET_KEY)

    def start(directory, log):
        process = subprocess.Popen(
            [SOS_BIN, "server", "--directory", str(directory), "--s3-address", f"127.0.0.1:{s3_port}",
             "--console-address", "127.0.0.1:0"],
            stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)
        wait_for(lambda: port_open(s3_port), what="sos server")
        return process

    log = tmp_path / "server.log"
    server = start(data, log)
    try:
        wait_for(lambda: "cluster port listening" in log.read_text(), what="cluster port")
        cluster_port = re.search(r"address=127.0.0.1:(\d+) .*cluster port listening", log.read_text()).group(1)
        cookie = (data / "cookie").read_text().strip()
        endpoint = type("Endpoint", (), {"endpoint": f"http://127.0.0.1:{s3_port}"})
        s3 = client(endpoint, ROOT_ACCESS_KEY, ROOT_SECRET_KEY)
        s3.create_bucket(Bucket="photos")
        s3.put_object(Bucket="photos", Key="cat.jpg", Body=b"meow" * 1000)
        result = subprocess.run(
            [SOS_BIN, "admin", "--brain", f"127.0.0.1:{cluster_port}", "--cookie", cookie, "backup", "--to",
             str(tmp_path / "backup")], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        s3.put_object(Bucket="photos", Key="dog.jpg", Body=b"woof")
    finally:
        server.terminate()
        server.wait(timeout=30)
    shutil.move(str(data / "brain"), str(tmp_path / "brain-before-restore"))
    shutil.copytree(str(tmp_path / "backup"), str(data / "brain"))
    server = start(data, tmp_path / "restored.log")
    try:
        s3 = client(endpoint, ROOT_ACCESS_KEY, ROOT_SECRET_KEY)
        assert [o["Key"] for o in s3.list_objects_v2(Bucket="photos")["Contents"]] == ["cat.jpg"]
        assert s3.get_object(Bucket="photos", Key="cat.jpg")["Body"].read() == b"meow" * 1000
    finally:
        server.terminate()
        server.wait(timeout=30)
