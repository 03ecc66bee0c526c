"""S3 Object Lock as S3 documents it, driven by boto3 and rclone: buckets created with Object Lock,
Put/GetObjectLockConfiguration with a default retention, Put/GetObjectRetention (GOVERNANCE,
COMPLIANCE), Put/GetObjectLegalHold, `x-amz-bypass-governance-retention`; a locked version cannot be
deleted by anyone, root included, until its date, and that holds across a restart."""
import datetime
import json
import os
import subprocess

import pytest

from harness import ROOT_ACCESS_KEY, ROOT_SECRET_KEY, Cluster, admin
from test_keys import client, refused


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("lock"), agents=1).start()
    yield c
    c.stop()


def later(**delta):
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(**delta)


def locked_bucket(s3, name):
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)


def test_a_bucket_created_with_object_lock_is_versioned_for_good(cluster):
    s3 = cluster.boto3()
    locked_bucket(s3, "vault")
    assert s3.get_bucket_versioning(Bucket="vault")["Status"] == "Enabled"
    assert s3.get_object_lock_configuration(Bucket="vault")["ObjectLockConfiguration"] == {"ObjectLockEnabled": "Enabled"}
    refused(lambda: s3.put_bucket_versioning(Bucket="vault", VersioningConfiguration={"Status": "Suspended"}),
            "InvalidBucketState", 409)
    s3.create_bucket(Bucket="plain")
    refused(lambda: s3.get_object_lock_configuration(Bucket="plain"), "ObjectLockConfigurationNotFoundError", 404)
    config = {"ObjectLockEnabled": "Enabled"}
    refused(lambda: s3.put_object_lock_configuration(Bucket="plain", ObjectLockConfiguration=config),
            "InvalidBucketState", 409)
    refused(lambda: s3.put_object(Bucket="plain", Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                                  ObjectLockRetainUntilDate=later(days=1)), "InvalidRequest", 400)
    # An existing bucket with versioning Enabled may take Object Lock.
    s3.put_bucket_versioning(Bucket="plain", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object_lock_configuration(Bucket="plain", ObjectLockConfiguration=config)
    assert s3.get_object_lock_configuration(Bucket="plain")["ObjectLockConfiguration"]["ObjectLockEnabled"] == "Enabled"


def test_compliance_retention_refuses_every_deletion_until_its_date(cluster):
    s3 = cluster.boto3()
    locked_bucket(s3, "compliance")
    until = later(days=1)
    put = s3.put_object(Bucket="compliance", Key="ledger", Body=b"entry", ObjectLockMode="COMPLIANCE",
                        ObjectLockRetainUntilDate=until)
    version = put["VersionId"]
    head = s3.head_object(Bucket="compliance", Key="ledger")
    assert head["ObjectLockMode"] == "COMPLIANCE" and head["ObjectLockRetainUntilDate"] == until
    retention = s3.get_object_retention(Bucket="compliance", Key="ledger", VersionId=version)["Retention"]
    assert retention == {"Mode": "COMPLIANCE", "RetainUntilDate": until}
    # Root cannot delete it, not even with the bypass; shortening or weakening is refused too.
    refused(lambda: s3.delete_object(Bucket="compliance", Key="ledger", VersionId=version), "AccessDenied", 403)
    refused(lambda: s3.delete_object(Bucket="compliance", Key="ledger", VersionId=version, BypassGovernanceRetention=True),
            "AccessDenied", 403)
    refused(lambda: s3.put_object_retention(Bucket="compliance", Key="ledger", VersionId=version,
                                            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": later(hours=1)}),
            "AccessDenied", 403)
    refused(lambda: s3.put_object_retention(Bucket="compliance", Key="ledger", VersionId=version, BypassGovernanceRetention=True,
                                            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until}), "AccessDenied", 403)
    deleted = s3.delete_objects(Bucket="compliance", Delete={"Objects": [{"Key": "ledger", "VersionId": version}]})
    assert [e["Code"] for e in deleted["Errors"]] == ["AccessDenied"]
    # Extending is allowed; a delete without a version id only adds a delete marker.
    s3.put_object_retention(Bucket="compliance", Key="ledger", VersionId=version,
                            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": later(days=2)})
    marker = s3.delete_object(Bucket="compliance", Key="ledger")
    assert marker["DeleteMarker"] is True
    assert s3.get_object(Bucket="compliance", Key="ledger", VersionId=version)["Body"].read() == b"entry"


def test_governance_retention_yields_only_to_the_bypass(cluster):
    s3 = cluster.boto3()
    locked_bucket(s3, "governed")
    version = s3.put_object(Bucket="governed", Key="doc", Body=b"draft", ObjectLockMode="GOVERNANCE",
                            ObjectLockRetainUntilDate=later(days=1))["VersionId"]
    refused(lambda: s3.delete_object(Bucket="governed", Key="doc", VersionId=version), "AccessDenied", 403)
    refused(lambda: s3.put_object_retention(Bucket="governed", Key="doc", VersionId=version, Retention={}),
            "AccessDenied", 403)
    # A key with write permission but not owner may not bypass.
    created = json.loads(admin(cluster, "key", "create", "--name", "writer", "--json"))
    writer = client(cluster, created["accessKeyID"], created["secretKey"])
    admin(cluster, "key", "allow", created["accessKeyID"], "--bucket", "governed", "--read", "--write")
    refused(lambda: writer.delete_object(Bucket="governed", Key="doc", VersionId=version, BypassGovernanceRetention=True),
            "AccessDenied", 403)
    s3.put_object_retention(Bucket="governed", Key="doc", VersionId=version, BypassGovernanceRetention=True,
                            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": later(hours=1)})
    assert s3.delete_object(Bucket="governed", Key="doc", VersionId=version,
                            BypassGovernanceRetention=True)["ResponseMetadata"]["HTTPStatusCode"] == 204
    refused(lambda: s3.get_object(Bucket="governed", Key="doc", VersionId=version), "NoSuchVersion", 404)


def test_a_legal_hold_stops_deletion_until_it_is_lifted(cluster):
    s3 = cluster.boto3()
    locked_bucket(s3, "held")
    version = s3.put_object(Bucket="held", Key="evidence", Body=b"exhibit A", ObjectLockLegalHoldStatus="ON")["VersionId"]
    assert s3.get_object_legal_hold(Bucket="held", Key="evidence")["LegalHold"] == {"Status": "ON"}
    assert s3.head_object(Bucket="held", Key="evidence")["ObjectLockLegalHoldStatus"] == "ON"
    refused(lambda: s3.delete_object(Bucket="held", Key="evidence", VersionId=version, BypassGovernanceRetention=True),
            "AccessDenied", 403)
    s3.put_object_legal_hold(Bucket="held", Key="evidence", VersionId=version, LegalHold={"Status": "OFF"})
    assert s3.get_object_legal_hold(Bucket="held", Key="evidence")["LegalHold"] == {"Status": "OFF"}
    s3.delete_object(Bucket="held", Key="evidence", VersionId=version)
    refused(lambda: s3.get_object_retention(Bucket="plain-missing", Key="x"), "NoSuchBucket", 404)


def test_default_retention_applies_to_new_versions(cluster):
    s3 = cluster.boto3()
    locked_bucket(s3, "defaults")
    s3.put_object_lock_configuration(Bucket="defaults", ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 2}}})
    rule = s3.get_object_lock_configuration(Bucket="defaults")["ObjectLockConfiguration"]["Rule"]
    assert rule == {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 2}}
    before = later()
    version = s3.put_object(Bucket="defaults", Key="k", Body=b"v")["VersionId"]
    retention = s3.get_object_retention(Bucket="defaults", Key="k", VersionId=version)["Retention"]
    assert retention["Mode"] == "GOVERNANCE"
    assert before + datetime.timedelta(days=2) <= retention["RetainUntilDate"] <= later(days=2, seconds=5)
    # Multipart uploads and copies get it too; an explicit retention wins over the default.
    upload = s3.create_multipart_upload(Bucket="defaults", Key="mpu")["UploadId"]
    etag = s3.upload_part(Bucket="defaults", Key="mpu", UploadId=upload, PartNumber=1, Body=b"p")["ETag"]
    s3.complete_multipart_upload(Bucket="defaults", Key="mpu", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert s3.get_object_retention(Bucket="defaults", Key="mpu")["Retention"]["Mode"] == "GOVERNANCE"
    s3.copy_object(Bucket="defaults", Key="copy", CopySource={"Bucket": "defaults", "Key": "k"},
                   ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=later(days=3))
    assert s3.get_object_retention(Bucket="defaults", Key="copy")["Retention"]["Mode"] == "COMPLIANCE"
    bad = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1, "Years": 1}}}
    refused(lambda: s3.put_object_lock_configuration(Bucket="defaults", ObjectLockConfiguration=bad), "InvalidArgument", 400)
    refused(lambda: s3.put_object(Bucket="defaults", Key="past", Body=b"x", ObjectLockMode="GOVERNANCE",
                                  ObjectLockRetainUntilDate=later(days=-1)), "InvalidArgument", 400)


def test_rclone_backs_up_into_a_locked_bucket_and_cannot_delete_it(cluster, tmp_path):
    s3 = cluster.boto3()
    locked_bucket(s3, "backups")
    s3.put_object_lock_configuration(Bucket="backups", ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}}})
    source = tmp_path / "source"
    source.mkdir()
    for i in range(3):
        (source / f"file-{i}.txt").write_bytes(f"backup {i}\n".encode() * 100)
    # rclone refuses AWS_CA_BUNDLE with a plain-HTTP endpoint.
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    env.update(RCLONE_CONFIG_SOS_TYPE="s3", RCLONE_CONFIG_SOS_PROVIDER="Other",
               RCLONE_CONFIG_SOS_ENDPOINT=cluster.endpoint, RCLONE_CONFIG_SOS_ACCESS_KEY_ID=ROOT_ACCESS_KEY,
               RCLONE_CONFIG_SOS_SECRET_ACCESS_KEY=ROOT_SECRET_KEY, RCLONE_CONFIG_SOS_REGION="us-east-1")

    def rclone(*args):
        return subprocess.run(["rclone", *args], capture_output=True, text=True, env=env, timeout=120)
    copied = rclone("copy", str(source), "sos:backups/snap")
    assert copied.returncode == 0, copied.stderr
    before = s3.list_object_versions(Bucket="backups")["Versions"]
    assert len(before) == 3
    # Deleting the versions themselves (rclone --s3-versions lists and deletes each by id) is refused.
    result = rclone("delete", "--s3-versions", "sos:backups/snap")
    assert result.returncode != 0 and "AccessDenied" in result.stderr, result.stderr
    after = s3.list_object_versions(Bucket="backups")
    assert sorted(v["VersionId"] for v in after["Versions"]) == sorted(v["VersionId"] for v in before)
    for version in before:
        got = s3.get_object(Bucket="backups", Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
        assert got == (source / version["Key"].split("/")[-1]).read_bytes()


def test_locks_hold_across_a_restart(cluster):
    s3 = cluster.boto3()
    locked_bucket(s3, "durable-lock")
    compliant = s3.put_object(Bucket="durable-lock", Key="c", Body=b"c", ObjectLockMode="COMPLIANCE",
                              ObjectLockRetainUntilDate=later(days=1))["VersionId"]
    held = s3.put_object(Bucket="durable-lock", Key="h", Body=b"h", ObjectLockLegalHoldStatus="ON")["VersionId"]
    cluster.restart()
    s3 = cluster.boto3()
    assert s3.get_object_lock_configuration(Bucket="durable-lock")["ObjectLockConfiguration"]["ObjectLockEnabled"] == "Enabled"
    refused(lambda: s3.delete_object(Bucket="durable-lock", Key="c", VersionId=compliant), "AccessDenied", 403)
    refused(lambda: s3.delete_object(Bucket="durable-lock", Key="h", VersionId=held), "AccessDenied", 403)
    refused(lambda: s3.put_bucket_versioning(Bucket="durable-lock", VersioningConfiguration={"Status": "Suspended"}),
            "InvalidBucketState", 409)
    assert s3.get_object(Bucket="durable-lock", Key="c", VersionId=compliant)["Body"].read() == b"c"
