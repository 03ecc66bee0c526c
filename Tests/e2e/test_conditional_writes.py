"""Conditional writes as S3 documents them, driven by boto3 and aws-cli: `If-None-Match: *` and
`If-Match` on PutObject, CopyObject's destination and CompleteMultipartUpload; `If-Match`, size and
last-modified-time conditions on DeleteObject and in DeleteObjects; racing writers of which exactly
one wins; the conditions' WAL records replayed after a restart."""
import concurrent.futures
import datetime

import pytest
from botocore.exceptions import ClientError

from harness import Cluster
from test_keys import refused

BUCKET = "cond"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("cond"), agents=1).start()
    c.boto3().create_bucket(Bucket=BUCKET)
    yield c
    c.stop()


def body(s3, key):
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def test_if_none_match_creates_once(cluster):
    s3 = cluster.boto3()
    s3.put_object(Bucket=BUCKET, Key="once", Body=b"first", IfNoneMatch="*")
    refused(lambda: s3.put_object(Bucket=BUCKET, Key="once", Body=b"second", IfNoneMatch="*"), "PreconditionFailed", 412)
    assert body(s3, "once") == b"first"
    # aws-cli passes the header the same way.
    result = cluster.aws("s3api", "put-object", "--bucket", BUCKET, "--key", "once", "--if-none-match", "*", check=False)
    assert result.returncode != 0 and "PreconditionFailed" in result.stderr
    assert body(s3, "once") == b"first"


def test_if_match_replaces_only_the_version_read(cluster):
    s3 = cluster.boto3()
    etag = s3.put_object(Bucket=BUCKET, Key="cas", Body=b"v1")["ETag"]
    new = s3.put_object(Bucket=BUCKET, Key="cas", Body=b"v2", IfMatch=etag)["ETag"]
    refused(lambda: s3.put_object(Bucket=BUCKET, Key="cas", Body=b"v3", IfMatch=etag), "PreconditionFailed", 412)
    assert body(s3, "cas") == b"v2"
    s3.put_object(Bucket=BUCKET, Key="cas", Body=b"v4", IfMatch=new.strip('"'))  # quotes are optional
    assert body(s3, "cas") == b"v4"
    refused(lambda: s3.put_object(Bucket=BUCKET, Key="no-such", Body=b"x", IfMatch=etag), "NoSuchKey", 404)
    refused(lambda: s3.head_object(Bucket=BUCKET, Key="no-such"), "404", 404)


def test_unsupported_condition_values(cluster):
    s3 = cluster.boto3()
    refused(lambda: s3.put_object(Bucket=BUCKET, Key="odd", Body=b"x", IfNoneMatch='"abc"'), "NotImplemented", 501)
    refused(lambda: s3.put_object(Bucket=BUCKET, Key="odd", Body=b"x", IfNoneMatch="*", IfMatch="*"), "NotImplemented", 501)
    refused(lambda: s3.head_object(Bucket=BUCKET, Key="odd"), "404", 404)


def race(calls):
    """Runs the calls at once; returns how many succeeded and the error codes of the others."""
    with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
    wins, codes = 0, []
    for future in futures:
        try:
            future.result()
            wins += 1
        except ClientError as e:
            codes.append(e.response["Error"]["Code"])
    return wins, codes


def test_racing_creators_exactly_one_wins(cluster):
    clients = [cluster.boto3() for _ in range(8)]
    for round_ in range(5):
        key = f"race-{round_}"
        calls = [lambda s3=s3, i=i: s3.put_object(Bucket=BUCKET, Key=key, Body=b"writer %d" % i, IfNoneMatch="*")
                 for i, s3 in enumerate(clients)]
        wins, codes = race(calls)
        assert wins == 1 and codes == ["PreconditionFailed"] * 7, (wins, codes)
        assert body(clients[0], key).startswith(b"writer ")


def test_racing_compare_and_swap_exactly_one_wins(cluster):
    clients = [cluster.boto3() for _ in range(8)]
    etag = clients[0].put_object(Bucket=BUCKET, Key="counter", Body=b"0")["ETag"]
    calls = [lambda s3=s3, i=i: s3.put_object(Bucket=BUCKET, Key="counter", Body=b"%d" % (i + 1), IfMatch=etag)
             for i, s3 in enumerate(clients)]
    wins, codes = race(calls)
    assert wins == 1 and codes == ["PreconditionFailed"] * 7, (wins, codes)
    assert body(clients[0], "counter") != b"0"


def test_copy_destination_conditions(cluster):
    s3 = cluster.boto3()
    s3.put_object(Bucket=BUCKET, Key="copy-src", Body=b"source")
    s3.put_object(Bucket=BUCKET, Key="copy-dst", Body=b"taken")
    source = {"Bucket": BUCKET, "Key": "copy-src"}
    refused(lambda: s3.copy_object(Bucket=BUCKET, Key="copy-dst", CopySource=source, IfNoneMatch="*"), "PreconditionFailed", 412)
    assert body(s3, "copy-dst") == b"taken"
    s3.copy_object(Bucket=BUCKET, Key="copy-new", CopySource=source, IfNoneMatch="*")
    assert body(s3, "copy-new") == b"source"
    etag = s3.head_object(Bucket=BUCKET, Key="copy-dst")["ETag"]
    s3.copy_object(Bucket=BUCKET, Key="copy-dst", CopySource=source, IfMatch=etag)
    assert body(s3, "copy-dst") == b"source"


def test_complete_multipart_upload_conditions(cluster):
    s3 = cluster.boto3()
    s3.put_object(Bucket=BUCKET, Key="mpu", Body=b"existing")
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="mpu")["UploadId"]
    part = s3.upload_part(Bucket=BUCKET, Key="mpu", UploadId=upload, PartNumber=1, Body=b"p" * 1024)["ETag"]
    parts = {"Parts": [{"PartNumber": 1, "ETag": part}]}
    refused(lambda: s3.complete_multipart_upload(Bucket=BUCKET, Key="mpu", UploadId=upload, MultipartUpload=parts,
                                                 IfNoneMatch="*"), "PreconditionFailed", 412)
    refused(lambda: s3.complete_multipart_upload(Bucket=BUCKET, Key="mpu", UploadId=upload, MultipartUpload=parts,
                                                 IfMatch='"0123"'), "PreconditionFailed", 412)
    # The refused completion left the object and the upload as they were.
    assert body(s3, "mpu") == b"existing"
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=BUCKET, Key="mpu", UploadId=upload)["Parts"]] == [1]
    etag = s3.head_object(Bucket=BUCKET, Key="mpu")["ETag"]
    s3.complete_multipart_upload(Bucket=BUCKET, Key="mpu", UploadId=upload, MultipartUpload=parts, IfMatch=etag)
    assert body(s3, "mpu") == b"p" * 1024


def test_delete_conditions(cluster):
    s3 = cluster.boto3()
    s3.put_object(Bucket=BUCKET, Key="del", Body=b"12345")
    head = s3.head_object(Bucket=BUCKET, Key="del")
    refused(lambda: s3.delete_object(Bucket=BUCKET, Key="del", IfMatch='"0123"'), "PreconditionFailed", 412)
    refused(lambda: s3.delete_object(Bucket=BUCKET, Key="del", IfMatchSize=4), "PreconditionFailed", 412)
    earlier = head["LastModified"] - datetime.timedelta(seconds=5)
    refused(lambda: s3.delete_object(Bucket=BUCKET, Key="del", IfMatchLastModifiedTime=earlier), "PreconditionFailed", 412)
    assert body(s3, "del") == b"12345"
    s3.delete_object(Bucket=BUCKET, Key="del", IfMatch=head["ETag"], IfMatchSize=5,
                     IfMatchLastModifiedTime=head["LastModified"])
    refused(lambda: s3.head_object(Bucket=BUCKET, Key="del"), "404", 404)
    # Deleting nothing succeeds whatever it expected, as on S3.
    assert s3.delete_object(Bucket=BUCKET, Key="del", IfMatch=head["ETag"])["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_delete_objects_with_conditions(cluster):
    s3 = cluster.boto3()
    etags = {key: s3.put_object(Bucket=BUCKET, Key=key, Body=key.encode())["ETag"] for key in ("d1", "d2", "d3")}
    result = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [
        {"Key": "d1", "ETag": '"0123"'},
        {"Key": "d2", "ETag": etags["d2"]},
        {"Key": "d3", "Size": 99},
    ]})
    assert [d["Key"] for d in result.get("Deleted", [])] == ["d2"]
    assert sorted((e["Key"], e["Code"]) for e in result["Errors"]) == [("d1", "PreconditionFailed"), ("d3", "PreconditionFailed")]
    assert body(s3, "d1") == b"d1" and body(s3, "d3") == b"d3"


def test_conditions_survive_a_restart(cluster):
    s3 = cluster.boto3()
    s3.put_object(Bucket=BUCKET, Key="replayed", Body=b"kept", IfNoneMatch="*")
    refused(lambda: s3.put_object(Bucket=BUCKET, Key="replayed", Body=b"lost", IfNoneMatch="*"), "PreconditionFailed", 412)
    s3.put_object(Bucket=BUCKET, Key="swapped", Body=b"old")
    etag = s3.head_object(Bucket=BUCKET, Key="swapped")["ETag"]
    s3.put_object(Bucket=BUCKET, Key="swapped", Body=b"new", IfMatch=etag)
    cluster.restart()
    s3 = cluster.boto3()
    assert body(s3, "replayed") == b"kept"
    assert body(s3, "swapped") == b"new"
    refused(lambda: s3.put_object(Bucket=BUCKET, Key="replayed", Body=b"again", IfNoneMatch="*"), "PreconditionFailed", 412)
