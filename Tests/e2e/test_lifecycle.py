"""Bucket lifecycle as S3 documents it, with a lifecycle "day" of 2 seconds (`--lifecycle-day-seconds`):
Put/Get/DeleteBucketLifecycleConfiguration with boto3, and the brain's background pass expiring
current objects (filtered by prefix, tag and size), noncurrent versions (keeping the newest ones),
lone delete markers, and aborting old multipart uploads; `x-amz-expiration` on PUT, HEAD and GET;
Object Lock still protecting what it locks."""
import datetime
import re
import time

import pytest
import requests

from harness import Cluster
from test_keys import refused

DAY_SECONDS = 2


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("lifecycle"), agents=1)
    c.brain.args += ["--lifecycle-day-seconds", str(DAY_SECONDS)]
    c.start()
    yield c
    c.stop()


def rule(rule_id, filter_, **actions):
    return {"ID": rule_id, "Status": "Enabled", "Filter": filter_, **actions}


def keys(s3, bucket):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def until(condition, what, timeout=8 * DAY_SECONDS):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def test_configuration_is_set_read_checked_and_deleted(cluster):
    s3 = cluster.boto3()
    s3.create_bucket(Bucket="rules")
    refused(lambda: s3.get_bucket_lifecycle_configuration(Bucket="rules"), "NoSuchLifecycleConfiguration", 404)
    config = {"Rules": [rule("tmp", {"Prefix": "tmp/"}, Expiration={"Days": 30}),
                        rule("uploads", {"Prefix": ""}, AbortIncompleteMultipartUpload={"DaysAfterInitiation": 7})]}
    s3.put_bucket_lifecycle_configuration(Bucket="rules", LifecycleConfiguration=config)
    got = s3.get_bucket_lifecycle_configuration(Bucket="rules")["Rules"]
    assert [r["ID"] for r in got] == ["tmp", "uploads"] and got[0]["Expiration"] == {"Days": 30}
    assert got[0]["Filter"] == {"Prefix": "tmp/"}
    for bad in [{"Rules": [rule("x", {"Prefix": ""}, Expiration={"Days": 0})]},
                {"Rules": [rule("x", {"Prefix": ""})]},
                {"Rules": [rule("x", {"Prefix": ""}, Expiration={"Days": 1}), rule("x", {"Prefix": "a"}, Expiration={"Days": 1})]}]:
        refused(lambda: s3.put_bucket_lifecycle_configuration(Bucket="rules", LifecycleConfiguration=bad), "InvalidArgument", 400)
    assert len(s3.get_bucket_lifecycle_configuration(Bucket="rules")["Rules"]) == 2  # unchanged
    assert s3.delete_bucket_lifecycle(Bucket="rules")["ResponseMetadata"]["HTTPStatusCode"] == 204
    refused(lambda: s3.get_bucket_lifecycle_configuration(Bucket="rules"), "NoSuchLifecycleConfiguration", 404)


def test_the_background_pass_expires_aborts_and_keeps_what_it_should(cluster):
    s3 = cluster.boto3()
    # Current objects by prefix, tag and size; a disabled rule does nothing.
    s3.create_bucket(Bucket="expiring")
    s3.put_bucket_lifecycle_configuration(Bucket="expiring", LifecycleConfiguration={"Rules": [
        rule("tmp", {"Prefix": "tmp/"}, Expiration={"Days": 1}),
        rule("tagged", {"And": {"Prefix": "t/", "Tags": [{"Key": "state", "Value": "done"}], "ObjectSizeGreaterThan": 10}},
             Expiration={"Days": 1}),
        {"ID": "off", "Status": "Disabled", "Filter": {"Prefix": "keep/"}, "Expiration": {"Days": 1}},
        rule("uploads", {"Prefix": "mpu/"}, AbortIncompleteMultipartUpload={"DaysAfterInitiation": 1}),
    ]})
    put = s3.put_object(Bucket="expiring", Key="tmp/a", Body=b"temporary")
    assert 'rule-id="tmp"' in put["ResponseMetadata"]["HTTPHeaders"]["x-amz-expiration"]
    assert 'rule-id="tmp"' in s3.head_object(Bucket="expiring", Key="tmp/a")["Expiration"]
    copied = s3.copy_object(Bucket="expiring", Key="tmp/copy", CopySource={"Bucket": "expiring", "Key": "tmp/a"})
    assert 'rule-id="tmp"' in copied["Expiration"]
    form = s3.generate_presigned_post("expiring", "tmp/posted", ExpiresIn=600)
    posted = requests.post(form["url"], data=form["fields"], files={"file": ("f", b"posted")}, timeout=30)
    assert posted.status_code == 204 and 'rule-id="tmp"' in posted.headers["x-amz-expiration"], posted.text
    s3.put_object(Bucket="expiring", Key="t/match", Body=b"x" * 20, Tagging="state=done")
    s3.put_object(Bucket="expiring", Key="t/small", Body=b"x" * 5, Tagging="state=done")
    s3.put_object(Bucket="expiring", Key="t/untagged", Body=b"x" * 20)
    s3.put_object(Bucket="expiring", Key="keep/b", Body=b"kept")
    assert "Expiration" not in s3.head_object(Bucket="expiring", Key="keep/b")
    upload = s3.create_multipart_upload(Bucket="expiring", Key="mpu/big")["UploadId"]

    # Noncurrent versions (the newest noncurrent one kept) and lone delete markers.
    s3.create_bucket(Bucket="history")
    s3.put_bucket_versioning(Bucket="history", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_lifecycle_configuration(Bucket="history", LifecycleConfiguration={"Rules": [
        rule("old", {"Prefix": ""}, NoncurrentVersionExpiration={"NoncurrentDays": 1, "NewerNoncurrentVersions": 1}),
        rule("markers", {"Prefix": ""}, Expiration={"ExpiredObjectDeleteMarker": True}),
    ]})
    versions = [s3.put_object(Bucket="history", Key="doc", Body=f"v{i}".encode())["VersionId"] for i in range(3)]
    gone = s3.put_object(Bucket="history", Key="gone", Body=b"g")["VersionId"]
    marker = s3.delete_object(Bucket="history", Key="gone")["VersionId"]
    s3.delete_object(Bucket="history", Key="gone", VersionId=gone)  # the marker is now the key's only version

    # Object Lock keeps a locked noncurrent version however old.
    s3.create_bucket(Bucket="locked-history", ObjectLockEnabledForBucket=True)
    s3.put_bucket_lifecycle_configuration(Bucket="locked-history", LifecycleConfiguration={"Rules": [
        rule("old", {"Prefix": ""}, NoncurrentVersionExpiration={"NoncurrentDays": 1})]})
    locked = s3.put_object(Bucket="locked-history", Key="k", Body=b"locked", ObjectLockMode="COMPLIANCE",
                           ObjectLockRetainUntilDate=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1))
    s3.put_object(Bucket="locked-history", Key="k", Body=b"newer")

    until(lambda: keys(s3, "expiring") == ["keep/b", "t/small", "t/untagged"], "current objects to expire")
    until(lambda: not s3.list_multipart_uploads(Bucket="expiring").get("Uploads"), "the upload to be aborted")
    refused(lambda: s3.list_parts(Bucket="expiring", Key="mpu/big", UploadId=upload), "NoSuchUpload", 404)

    def history():
        listing = s3.list_object_versions(Bucket="history")
        return ([v["VersionId"] for v in listing.get("Versions", []) if v["Key"] == "doc"],
                [m["VersionId"] for m in listing.get("DeleteMarkers", [])])
    until(lambda: history() == ([versions[2], versions[1]], []), "the oldest noncurrent version and the lone marker to go")
    assert marker not in history()[1]
    assert s3.get_object(Bucket="history", Key="doc")["Body"].read() == b"v2"
    # A pass tried to expire the locked version and was refused; the version is still there.
    until(lambda: re.search(r"refused=[1-9].*lifecycle pass|lifecycle pass.*refused=[1-9]", cluster.brain.log()),
          "a lifecycle pass refused by Object Lock")
    assert s3.get_object(Bucket="locked-history", Key="k", VersionId=locked["VersionId"])["Body"].read() == b"locked"


def test_expiration_in_a_versioned_bucket_leaves_a_delete_marker_and_survives_a_restart(cluster):
    s3 = cluster.boto3()
    s3.create_bucket(Bucket="versioned-expiry")
    s3.put_bucket_versioning(Bucket="versioned-expiry", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_lifecycle_configuration(Bucket="versioned-expiry", LifecycleConfiguration={"Rules": [
        rule("all", {"Prefix": ""}, Expiration={"Days": 1})]})
    cluster.restart()
    s3 = cluster.boto3()
    assert s3.get_bucket_lifecycle_configuration(Bucket="versioned-expiry")["Rules"][0]["ID"] == "all"
    version = s3.put_object(Bucket="versioned-expiry", Key="k", Body=b"data")["VersionId"]
    until(lambda: "DeleteMarkers" in s3.list_object_versions(Bucket="versioned-expiry"), "a delete marker")
    refused(lambda: s3.get_object(Bucket="versioned-expiry", Key="k"), "NoSuchKey", 404)
    assert s3.get_object(Bucket="versioned-expiry", Key="k", VersionId=version)["Body"].read() == b"data"
