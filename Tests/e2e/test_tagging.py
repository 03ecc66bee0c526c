"""Object and bucket tagging as S3 documents it, driven by boto3 and aws-cli: Put/Get/DeleteObjectTagging,
`x-amz-tagging` on PutObject, CreateMultipartUpload and CopyObject (with the tagging directive),
`x-amz-tagging-count` on GET/HEAD, Put/Get/DeleteBucketTagging; S3's limits and errors; who may do
what; tags kept across a restart."""
import json

import pytest

from harness import Cluster, admin
from test_keys import client, refused

BUCKET = "tags"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("tags"), agents=1).start()
    c.boto3().create_bucket(Bucket=BUCKET)
    yield c
    c.stop()


def tags_of(s3, key):
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]}


def test_object_tags_set_read_replaced_and_removed(cluster):
    s3 = cluster.boto3()
    s3.put_object(Bucket=BUCKET, Key="doc", Body=b"x")
    assert s3.get_object_tagging(Bucket=BUCKET, Key="doc")["TagSet"] == []
    assert "TagCount" not in s3.get_object(Bucket=BUCKET, Key="doc")
    s3.put_object_tagging(Bucket=BUCKET, Key="doc", Tagging={"TagSet": [
        {"Key": "project", "Value": "blue sky"}, {"Key": "owner", "Value": "ünïcode & co=1"}]})
    assert tags_of(s3, "doc") == {"project": "blue sky", "owner": "ünïcode & co=1"}
    assert s3.get_object(Bucket=BUCKET, Key="doc")["TagCount"] == 2
    head = s3.head_object(Bucket=BUCKET, Key="doc")
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"] == "2"
    assert "x-amz-tagging" not in head["ResponseMetadata"]["HTTPHeaders"]
    s3.put_object_tagging(Bucket=BUCKET, Key="doc", Tagging={"TagSet": [{"Key": "only", "Value": ""}]})
    assert tags_of(s3, "doc") == {"only": ""}
    assert s3.delete_object_tagging(Bucket=BUCKET, Key="doc")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert tags_of(s3, "doc") == {}
    assert s3.get_object(Bucket=BUCKET, Key="doc")["Body"].read() == b"x"  # the data never changed
    refused(lambda: s3.get_object_tagging(Bucket=BUCKET, Key="missing"), "NoSuchKey", 404)
    refused(lambda: s3.put_object_tagging(Bucket=BUCKET, Key="missing", Tagging={"TagSet": []}), "NoSuchKey", 404)


def test_tags_given_with_the_object(cluster):
    s3 = cluster.boto3()
    s3.put_object(Bucket=BUCKET, Key="tagged", Body=b"data", Tagging="a=1&b=two%20words")
    assert tags_of(s3, "tagged") == {"a": "1", "b": "two words"}
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="mpu", Tagging="stage=raw")["UploadId"]
    etag = s3.upload_part(Bucket=BUCKET, Key="mpu", UploadId=upload, PartNumber=1, Body=b"p")["ETag"]
    s3.complete_multipart_upload(Bucket=BUCKET, Key="mpu", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert tags_of(s3, "mpu") == {"stage": "raw"}
    # CopyObject keeps the source's tags by default, or takes the request's with REPLACE.
    s3.copy_object(Bucket=BUCKET, Key="copied", CopySource={"Bucket": BUCKET, "Key": "tagged"})
    assert tags_of(s3, "copied") == {"a": "1", "b": "two words"}
    s3.copy_object(Bucket=BUCKET, Key="retagged", CopySource={"Bucket": BUCKET, "Key": "tagged"},
                   TaggingDirective="REPLACE", Tagging="c=3")
    assert tags_of(s3, "retagged") == {"c": "3"}
    # aws-cli's s3api takes the same query text.
    cluster.aws("s3api", "put-object", "--bucket", BUCKET, "--key", "cli", "--tagging", "team=ops")
    result = json.loads(cluster.aws("s3api", "get-object-tagging", "--bucket", BUCKET, "--key", "cli").stdout)
    assert result["TagSet"] == [{"Key": "team", "Value": "ops"}]


def test_limits_and_errors(cluster):
    s3 = cluster.boto3()
    s3.put_object(Bucket=BUCKET, Key="limits", Body=b"x", Tagging="keep=me")
    eleven = [{"Key": f"k{i}", "Value": "v"} for i in range(11)]
    cases = [
        eleven,
        [{"Key": "k" * 129, "Value": "v"}],
        [{"Key": "k", "Value": "v" * 257}],
        [{"Key": "dup", "Value": "1"}, {"Key": "dup", "Value": "2"}],
        [{"Key": "aws:reserved", "Value": "v"}],
    ]
    for tag_set in cases:
        refused(lambda: s3.put_object_tagging(Bucket=BUCKET, Key="limits", Tagging={"TagSet": tag_set}), "InvalidTag", 400)
    s3.put_object_tagging(Bucket=BUCKET, Key="limits", Tagging={"TagSet": eleven[:10]})  # ten is the limit
    s3.put_object_tagging(Bucket=BUCKET, Key="limits", Tagging={"TagSet": [{"Key": "k" * 128, "Value": "v" * 256}]})
    refused(lambda: s3.put_object(Bucket=BUCKET, Key="bad-header", Body=b"x", Tagging="a=1&a=2"), "InvalidTag", 400)
    refused(lambda: s3.put_object(Bucket=BUCKET, Key="bad-header", Body=b"x", Tagging="a=%zz"), "InvalidArgument", 400)
    refused(lambda: s3.head_object(Bucket=BUCKET, Key="bad-header"), "404", 404)
    refused(lambda: s3.copy_object(Bucket=BUCKET, Key="bad-copy", CopySource={"Bucket": BUCKET, "Key": "limits"},
                                   TaggingDirective="SOMETIMES"), "InvalidArgument", 400)


def test_bucket_tags(cluster):
    s3 = cluster.boto3()
    s3.create_bucket(Bucket="tagged-bucket")
    refused(lambda: s3.get_bucket_tagging(Bucket="tagged-bucket"), "NoSuchTagSet", 404)
    s3.put_bucket_tagging(Bucket="tagged-bucket", Tagging={"TagSet": [{"Key": "cost-center", "Value": "42"}]})
    assert s3.get_bucket_tagging(Bucket="tagged-bucket")["TagSet"] == [{"Key": "cost-center", "Value": "42"}]
    fifty_one = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    refused(lambda: s3.put_bucket_tagging(Bucket="tagged-bucket", Tagging={"TagSet": fifty_one}), "InvalidTag", 400)
    s3.put_bucket_tagging(Bucket="tagged-bucket", Tagging={"TagSet": fifty_one[:50]})
    assert len(s3.get_bucket_tagging(Bucket="tagged-bucket")["TagSet"]) == 50
    s3.delete_bucket_tagging(Bucket="tagged-bucket")
    refused(lambda: s3.get_bucket_tagging(Bucket="tagged-bucket"), "NoSuchTagSet", 404)
    refused(lambda: s3.get_bucket_tagging(Bucket="no-such-bucket"), "NoSuchBucket", 404)


def test_tagging_permissions(cluster):
    s3 = cluster.boto3()
    s3.put_object(Bucket=BUCKET, Key="guarded", Body=b"x", Tagging="a=1")
    created = json.loads(admin(cluster, "key", "create", "--name", "tag-reader", "--json"))
    reader = client(cluster, created["accessKeyID"], created["secretKey"])
    refused(lambda: reader.get_object_tagging(Bucket=BUCKET, Key="guarded"), "AccessDenied", 403)
    admin(cluster, "key", "allow", created["accessKeyID"], "--bucket", BUCKET, "--read")
    assert reader.get_object_tagging(Bucket=BUCKET, Key="guarded")["TagSet"] == [{"Key": "a", "Value": "1"}]
    refused(lambda: reader.put_object_tagging(Bucket=BUCKET, Key="guarded", Tagging={"TagSet": []}), "AccessDenied", 403)
    refused(lambda: reader.delete_object_tagging(Bucket=BUCKET, Key="guarded"), "AccessDenied", 403)
    refused(lambda: reader.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": []}), "AccessDenied", 403)
    refused(lambda: reader.get_bucket_tagging(Bucket=BUCKET), "AccessDenied", 403)
    assert tags_of(s3, "guarded") == {"a": "1"}


def test_tags_survive_a_restart(cluster):
    s3 = cluster.boto3()
    s3.put_object(Bucket=BUCKET, Key="durable", Body=b"x", Tagging="k=v")
    s3.create_bucket(Bucket="durable-bucket")
    s3.put_bucket_tagging(Bucket="durable-bucket", Tagging={"TagSet": [{"Key": "env", "Value": "prod"}]})
    cluster.restart()
    s3 = cluster.boto3()
    assert tags_of(s3, "durable") == {"k": "v"}
    assert s3.get_bucket_tagging(Bucket="durable-bucket")["TagSet"] == [{"Key": "env", "Value": "prod"}]
