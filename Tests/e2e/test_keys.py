"""Access keys kept in the brain's metadata, managed with `sos admin key`, and what each may do:
real processes, keys made by the admin tool, requests signed by boto3 with those keys."""
import json
import os
import subprocess

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import COOKIE, SOS_BIN, Cluster, admin


def client(cluster, access_key, secret_key):
    return boto3.client(
        "s3", endpoint_url=cluster.endpoint, aws_access_key_id=access_key, aws_secret_access_key=secret_key,
        region_name="us-east-1", config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))


def refused(call, code="AccessDenied", status=403):
    with pytest.raises(ClientError) as e:
        call()
    response = e.value.response
    got = (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"])
    # A HEAD error has no body: its code is the status.
    assert got in ((code, status), (str(status), status)), got


def admin_fails(cluster, *args):
    result = subprocess.run(
        [SOS_BIN, "admin", "--brain", f"127.0.0.1:{cluster.cluster_port}", "--cookie", COOKIE, *args],
        capture_output=True, text=True, timeout=30)
    assert result.returncode != 0, result.stdout
    return result.stderr


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, agents=1).start()
    root = c.boto3()
    for bucket in ("mine", "theirs"):
        root.create_bucket(Bucket=bucket)
    root.put_object(Bucket="theirs", Key="secret.txt", Body=b"theirs only")
    yield c
    c.stop()


def test_a_key_limited_to_one_bucket_cannot_touch_another(cluster):
    created = json.loads(admin(cluster, "key", "create", "--name", "app", "--json"))
    access_key, secret_key = created["accessKeyID"], created["secretKey"]
    app = client(cluster, access_key, secret_key)
    # A new key may do nothing, and sees no bucket.
    refused(lambda: app.list_objects_v2(Bucket="mine"))
    assert app.list_buckets()["Buckets"] == []

    admin(cluster, "key", "allow", access_key, "--bucket", "mine", "--read", "--write")
    app.put_object(Bucket="mine", Key="a.txt", Body=b"app data")
    assert app.get_object(Bucket="mine", Key="a.txt")["Body"].read() == b"app data"
    assert [o["Key"] for o in app.list_objects_v2(Bucket="mine")["Contents"]] == ["a.txt"]
    assert [b["Name"] for b in app.list_buckets()["Buckets"]] == ["mine"]
    app.copy_object(Bucket="mine", Key="b.txt", CopySource={"Bucket": "mine", "Key": "a.txt"})
    app.delete_object(Bucket="mine", Key="b.txt")

    # The other bucket: no read, list, write, delete, copy out of it, nor seeing it.
    refused(lambda: app.get_object(Bucket="theirs", Key="secret.txt"))
    refused(lambda: app.head_object(Bucket="theirs", Key="secret.txt"))
    refused(lambda: app.list_objects_v2(Bucket="theirs"))
    refused(lambda: app.head_bucket(Bucket="theirs"))
    refused(lambda: app.put_object(Bucket="theirs", Key="planted.txt", Body=b"x"))
    refused(lambda: app.delete_object(Bucket="theirs", Key="secret.txt"))
    refused(lambda: app.delete_objects(Bucket="theirs", Delete={"Objects": [{"Key": "secret.txt"}]}))
    refused(lambda: app.copy_object(Bucket="mine", Key="stolen.txt", CopySource={"Bucket": "theirs", "Key": "secret.txt"}))
    refused(lambda: app.create_multipart_upload(Bucket="theirs", Key="big"))
    refused(lambda: app.delete_bucket(Bucket="theirs"))
    refused(lambda: app.delete_bucket(Bucket="mine"))  # no owner permission
    root = cluster.boto3()
    assert root.get_object(Bucket="theirs", Key="secret.txt")["Body"].read() == b"theirs only"
    assert [o["Key"] for o in root.list_objects_v2(Bucket="theirs")["Contents"]] == ["secret.txt"]
    refused(lambda: root.head_object(Bucket="mine", Key="stolen.txt"), "404", 404)

    # Taking write away leaves read.
    admin(cluster, "key", "deny", access_key, "--bucket", "mine", "--write")
    refused(lambda: app.put_object(Bucket="mine", Key="c.txt", Body=b"x"))
    assert app.get_object(Bucket="mine", Key="a.txt")["Body"].read() == b"app data"
    info = json.loads(admin(cluster, "key", "info", access_key, "--json"))
    assert info["buckets"] == [{"bucket": "mine", "permissions": ["read"]}] and "secretKey" not in info

    # Listings never show a secret.
    listing = admin(cluster, "key", "list") + admin(cluster, "key", "list", "--json")
    assert access_key in listing and secret_key not in listing
    assert secret_key not in cluster.brain.log()

    # A deleted key is unknown from then on.
    admin(cluster, "key", "delete", access_key)
    refused(lambda: app.get_object(Bucket="mine", Key="a.txt"), "InvalidAccessKeyId")


def test_a_key_allowed_to_create_buckets_owns_them(cluster):
    created = json.loads(admin(cluster, "key", "create", "--name", "creator", "--json"))
    app = client(cluster, created["accessKeyID"], created["secretKey"])
    refused(lambda: app.create_bucket(Bucket="app-bucket"))
    admin(cluster, "key", "allow", created["accessKeyID"], "--create-bucket")
    app.create_bucket(Bucket="app-bucket")
    app.put_object(Bucket="app-bucket", Key="k", Body=b"v")
    assert [b["Name"] for b in app.list_buckets()["Buckets"]] == ["app-bucket"]
    info = json.loads(admin(cluster, "key", "info", created["accessKeyID"], "--json"))
    assert info["createBucket"] and info["buckets"] == [{"bucket": "app-bucket", "permissions": ["read", "write", "owner"]}]
    refused(lambda: app.create_bucket(Bucket="theirs"), "BucketAlreadyExists", 409)
    refused(lambda: app.create_bucket(Bucket="app-bucket"), "BucketAlreadyOwnedByYou", 409)
    app.delete_object(Bucket="app-bucket", Key="k")
    app.delete_bucket(Bucket="app-bucket")
    # A bucket made again under that name does not come back with the old owner's permissions.
    cluster.boto3().create_bucket(Bucket="app-bucket")
    refused(lambda: app.list_objects_v2(Bucket="app-bucket"))


def test_imported_keys_work_and_keys_survive_a_restart(cluster):
    env = dict(os.environ, SOS_IMPORT_SECRET_KEY="imported-secret-from-minio")
    result = subprocess.run(
        [SOS_BIN, "admin", "--brain", f"127.0.0.1:{cluster.cluster_port}", "--cookie", COOKIE, "key", "import",
         "--name", "from-minio", "--access-key", "MINIOKEY123"], capture_output=True, text=True, env=env, timeout=30)
    assert result.returncode == 0, result.stderr
    admin(cluster, "key", "allow", "MINIOKEY123", "--bucket", "theirs", "--read")
    imported = client(cluster, "MINIOKEY123", "imported-secret-from-minio")
    assert imported.get_object(Bucket="theirs", Key="secret.txt")["Body"].read() == b"theirs only"
    refused(lambda: client(cluster, "MINIOKEY123", "wrong-secret-key").list_buckets(), "SignatureDoesNotMatch")
    cluster.restart()
    imported = client(cluster, "MINIOKEY123", "imported-secret-from-minio")
    assert imported.get_object(Bucket="theirs", Key="secret.txt")["Body"].read() == b"theirs only"
    refused(lambda: imported.put_object(Bucket="theirs", Key="x", Body=b"x"))


def test_admin_key_errors_are_clear(cluster):
    assert "no access key NOPE" in admin_fails(cluster, "key", "info", "NOPE")
    created = json.loads(admin(cluster, "key", "create", "--name", "e", "--json"))
    assert "no bucket nowhere" in admin_fails(cluster, "key", "allow", created["accessKeyID"], "--bucket", "nowhere", "--read")
    assert "--read" in admin_fails(cluster, "key", "allow", created["accessKeyID"], "--bucket", "mine")
    assert "exists already" in admin_fails(cluster, "key", "import", "--name", "dup", "--access-key", created["accessKeyID"],
                                           "--secret-key", "some-secret-key")
    assert "secret key" in admin_fails(cluster, "key", "import", "--name", "short", "--access-key", "SHORTKEY",
                                       "--secret-key", "short")
    from harness import ROOT_ACCESS_KEY
    assert "root" in admin_fails(cluster, "key", "import", "--name", "r", "--access-key", ROOT_ACCESS_KEY,
                                 "--secret-key", "some-secret-key")
