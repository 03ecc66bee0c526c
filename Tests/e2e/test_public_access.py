"""Public access through canned ACLs: what anonymous requests (curl, unsigned) and other keys may do
with public-read, public-read-write and authenticated-read buckets and objects, and the ACL operations
as boto3 and aws-cli send them."""
import json
import subprocess

import pytest
import requests
from botocore.exceptions import ClientError

from harness import Cluster, admin
from test_keys import client, refused


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("public"), agents=1).start()
    yield c
    c.stop()


def anonymous(cluster, method, path, data=None):
    return requests.request(method, cluster.endpoint + path, data=data, timeout=10)


def test_public_read_object_is_fetched_anonymously_and_private_ones_are_not(cluster):
    s3 = cluster.boto3()
    s3.create_bucket(Bucket="site")
    s3.put_object(Bucket="site", Key="index.html", Body=b"<h1>hi</h1>", ACL="public-read", ContentType="text/html")
    s3.put_object(Bucket="site", Key="draft.html", Body=b"draft")
    got = anonymous(cluster, "GET", "/site/index.html")
    assert got.status_code == 200 and got.content == b"<h1>hi</h1>" and got.headers["Content-Type"] == "text/html"
    assert "x-amz-acl" not in got.headers
    curl = subprocess.run(["curl", "-s", "-f", f"{cluster.endpoint}/site/index.html"], capture_output=True, timeout=30)
    assert curl.returncode == 0 and curl.stdout == b"<h1>hi</h1>"
    head = anonymous(cluster, "HEAD", "/site/index.html")
    assert head.status_code == 200 and head.headers["Content-Length"] == "11"
    assert anonymous(cluster, "GET", "/site/draft.html").status_code == 403
    # The bucket itself is private: no anonymous listing, and no anonymous writes.
    assert anonymous(cluster, "GET", "/site").status_code == 403
    assert anonymous(cluster, "PUT", "/site/index.html", data=b"defaced").status_code == 403
    assert anonymous(cluster, "DELETE", "/site/index.html").status_code == 403
    assert anonymous(cluster, "GET", "/site/index.html").content == b"<h1>hi</h1>"
    acl = s3.get_object_acl(Bucket="site", Key="index.html")
    assert {(g["Grantee"].get("URI"), g["Permission"]) for g in acl["Grants"]} == {
        (None, "FULL_CONTROL"), ("http://acs.amazonaws.com/groups/global/AllUsers", "READ")}
    # Making it private again takes anonymous access away; a copy does not inherit the ACL.
    s3.copy_object(Bucket="site", Key="copy.html", CopySource={"Bucket": "site", "Key": "index.html"})
    assert anonymous(cluster, "GET", "/site/copy.html").status_code == 403
    s3.put_object_acl(Bucket="site", Key="index.html", ACL="private")
    assert anonymous(cluster, "GET", "/site/index.html").status_code == 403


def test_bucket_acls_open_listing_and_writing(cluster):
    s3 = cluster.boto3()
    s3.create_bucket(Bucket="listed", ACL="public-read")
    s3.put_object(Bucket="listed", Key="a.txt", Body=b"a")
    listing = anonymous(cluster, "GET", "/listed?list-type=2")
    assert listing.status_code == 200 and b"<Key>a.txt</Key>" in listing.content
    # Listing is not reading: the object is private.
    assert anonymous(cluster, "GET", "/listed/a.txt").status_code == 403
    assert anonymous(cluster, "PUT", "/listed/b.txt", data=b"b").status_code == 403
    assert s3.get_bucket_acl(Bucket="listed")["Grants"][1]["Permission"] == "READ"

    s3.put_bucket_acl(Bucket="listed", ACL="public-read-write")
    assert anonymous(cluster, "PUT", "/listed/dropbox.txt", data=b"dropped").status_code == 200
    assert s3.get_object(Bucket="listed", Key="dropbox.txt")["Body"].read() == b"dropped"
    assert anonymous(cluster, "DELETE", "/listed/dropbox.txt").status_code == 204
    s3.put_bucket_acl(Bucket="listed", ACL="private")
    assert anonymous(cluster, "GET", "/listed?list-type=2").status_code == 403
    with pytest.raises(ClientError) as e:
        s3.put_bucket_acl(Bucket="listed", ACL="log-delivery-write")
    assert e.value.response["Error"]["Code"] == "NotImplemented"


def test_authenticated_read_is_for_any_key_and_acls_survive_a_restart(tmp_path):
    c = Cluster(tmp_path, agents=1).start()
    try:
        s3 = c.boto3()
        s3.create_bucket(Bucket="team", ACL="authenticated-read")
        s3.put_object(Bucket="team", Key="notes.txt", Body=b"notes", ACL="authenticated-read")
        created = json.loads(admin(c, "key", "create", "--name", "reader", "--json"))
        reader = client(c, created["accessKeyID"], created["secretKey"])
        assert reader.get_object(Bucket="team", Key="notes.txt")["Body"].read() == b"notes"
        assert [o["Key"] for o in reader.list_objects_v2(Bucket="team")["Contents"]] == ["notes.txt"]
        refused(lambda: reader.put_object(Bucket="team", Key="x", Body=b"x"))
        refused(lambda: reader.put_object_acl(Bucket="team", Key="notes.txt", ACL="public-read"))
        assert anonymous(c, "GET", "/team/notes.txt").status_code == 403
        # aws-cli's put-object-acl, and an AccessControlPolicy body that amounts to a canned ACL.
        c.aws("s3api", "put-object-acl", "--bucket", "team", "--key", "notes.txt", "--acl", "public-read")
        assert anonymous(c, "GET", "/team/notes.txt").status_code == 200
        policy = s3.get_bucket_acl(Bucket="team")
        s3.put_bucket_acl(Bucket="team", AccessControlPolicy={"Grants": policy["Grants"][:1], "Owner": policy["Owner"]})
        assert s3.get_bucket_acl(Bucket="team")["Grants"] == policy["Grants"][:1]
        s3.put_bucket_acl(Bucket="team", ACL="public-read")
        c.restart()
        assert anonymous(c, "GET", "/team/notes.txt").content == b"notes"
        assert anonymous(c, "GET", "/team?list-type=2").status_code == 200
    finally:
        c.stop()
