"""Bucket policies end to end: PutBucketPolicy with boto3 and aws-cli, anonymous GET of one prefix
only, an explicit Deny that wins over a key's permissions, aws:SourceIp, aws:SecureTransport,
MalformedPolicy, GetBucketPolicyStatus, and policies across a restart."""
import json

import pytest
import requests
from botocore.exceptions import ClientError

from harness import Cluster, admin
from test_keys import client, refused


def anonymous(cluster, method, path, data=None):
    return requests.request(method, cluster.endpoint + path, data=data, timeout=10)


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, agents=1).start()
    s3 = c.boto3()
    s3.create_bucket(Bucket="site")
    for key in ("public/index.html", "private/notes.txt"):
        s3.put_object(Bucket="site", Key=key, Body=key.encode())
    yield c
    c.stop()


def test_anonymous_get_on_a_prefix_only(cluster):
    s3 = cluster.boto3()
    assert anonymous(cluster, "GET", "/site/public/index.html").status_code == 403
    s3.put_bucket_policy(Bucket="site", Policy=policy(
        {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::site/public/*"}))
    got = anonymous(cluster, "GET", "/site/public/index.html")
    assert got.status_code == 200 and got.content == b"public/index.html"
    assert anonymous(cluster, "GET", "/site/private/notes.txt").status_code == 403
    assert anonymous(cluster, "GET", "/site?list-type=2").status_code == 403
    assert anonymous(cluster, "PUT", "/site/public/new.html", data=b"x").status_code == 403
    assert s3.get_bucket_policy_status(Bucket="site")["PolicyStatus"]["IsPublic"] is True
    assert json.loads(s3.get_bucket_policy(Bucket="site")["Policy"])["Statement"][0]["Sid"] == "PublicRead"
    s3.delete_bucket_policy(Bucket="site")
    assert anonymous(cluster, "GET", "/site/public/index.html").status_code == 403
    with pytest.raises(ClientError) as e:
        s3.get_bucket_policy(Bucket="site")
    assert e.value.response["Error"]["Code"] == "NoSuchBucketPolicy"


def test_an_explicit_deny_wins_over_a_keys_permissions_and_policies_persist(cluster):
    created = json.loads(admin(cluster, "key", "create", "--name", "worker", "--json"))
    key_id = created["accessKeyID"]
    admin(cluster, "key", "allow", key_id, "--bucket", "site", "--read", "--write")
    worker = client(cluster, key_id, created["secretKey"])
    assert worker.get_object(Bucket="site", Key="private/notes.txt")["Body"].read() == b"private/notes.txt"
    cluster.aws("s3api", "put-bucket-policy", "--bucket", "site", "--policy", policy(
        {"Effect": "Deny", "Principal": {"AWS": [f"arn:aws:iam::000000000000:user/{key_id}"]},
         "Action": ["s3:GetObject", "s3:DeleteObject"], "Resource": "arn:aws:s3:::site/private/*"},
        {"Effect": "Allow", "Principal": {"AWS": key_id}, "Action": "s3:PutBucketAcl", "Resource": "arn:aws:s3:::site"}))
    refused(lambda: worker.get_object(Bucket="site", Key="private/notes.txt"))
    refused(lambda: worker.delete_object(Bucket="site", Key="private/notes.txt"))
    # DeleteObjects names its keys in the body: the Deny holds for each of them.
    result = worker.delete_objects(Bucket="site", Delete={"Objects": [{"Key": "private/notes.txt"}, {"Key": "public/gone.txt"}]})
    assert [e["Key"] for e in result.get("Errors", [])] == ["private/notes.txt"]
    assert result["Errors"][0]["Code"] == "AccessDenied"
    assert [d["Key"] for d in result["Deleted"]] == ["public/gone.txt"]
    assert worker.get_object(Bucket="site", Key="public/index.html")["Body"].read() == b"public/index.html"
    worker.put_bucket_acl(Bucket="site", ACL="private")  # allowed by the policy, not by its permissions
    # The root key is not bound by bucket policies.
    assert cluster.boto3().get_object(Bucket="site", Key="private/notes.txt")["Body"].read() == b"private/notes.txt"
    cluster.restart()
    worker = client(cluster, key_id, created["secretKey"])
    refused(lambda: worker.get_object(Bucket="site", Key="private/notes.txt"))


def test_source_ip_and_secure_transport_conditions(cluster):
    s3 = cluster.boto3()
    s3.put_bucket_policy(Bucket="site", Policy=policy(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::site/*",
         "Condition": {"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}}))
    assert anonymous(cluster, "GET", "/site/public/index.html").status_code == 403  # we come from 127.0.0.1
    s3.put_bucket_policy(Bucket="site", Policy=policy(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::site/*",
         "Condition": {"IpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]}}}))
    assert anonymous(cluster, "GET", "/site/public/index.html").status_code == 200
    assert s3.get_bucket_policy_status(Bucket="site")["PolicyStatus"]["IsPublic"] is False
    # Deny everything not over TLS: this port is plain HTTP, so anonymous reads stop.
    s3.put_bucket_policy(Bucket="site", Policy=policy(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::site/*"},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": ["arn:aws:s3:::site", "arn:aws:s3:::site/*"],
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}}))
    assert anonymous(cluster, "GET", "/site/public/index.html").status_code == 403


def test_malformed_policies_are_refused_and_change_nothing(cluster):
    s3 = cluster.boto3()
    good = policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::site/public/*"})
    s3.put_bucket_policy(Bucket="site", Policy=good)
    for bad in ["{not json", policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                     "Resource": "arn:aws:s3:::another-bucket/*"}),
                policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::site/*",
                        "Condition": {"StringEquals": {"aws:UserAgent": "curl"}}})]:
        with pytest.raises(ClientError) as e:
            s3.put_bucket_policy(Bucket="site", Policy=bad)
        assert e.value.response["Error"]["Code"] == "MalformedPolicy"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert s3.get_bucket_policy(Bucket="site")["Policy"] == good
