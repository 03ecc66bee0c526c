"""Bucket versioning as S3 documents it, driven by boto3 and aws-cli: Put/GetBucketVersioning; a new
version id for every write; GET, HEAD, copy and tagging by version id; delete markers and deleting by
version id; ListObjectVersions with paging and delimiters; the "null" version before versioning and
while it is suspended; multipart uploads and DeleteObjects in versioned buckets; BucketNotEmpty while
versions or markers remain; who may do what; everything kept across a restart."""
import collections
import json

import pytest
import requests
from botocore.exceptions import ClientError

from harness import Cluster, admin
from test_keys import client, refused


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("versioning"), agents=1).start()
    yield c
    c.stop()


def versioned(s3, bucket, status="Enabled"):
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": status})


def body(s3, bucket, key, **kwargs):
    return s3.get_object(Bucket=bucket, Key=key, **kwargs)["Body"].read()


def put(s3, bucket, key, data):
    return s3.put_object(Bucket=bucket, Key=key, Body=data)["VersionId"]


def is_real_id(version_id):
    return isinstance(version_id, str) and version_id not in ("", "null")


def failure(call):
    """The error response of a call that must fail."""
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response


def entries(listing, kind):
    return [(e["Key"], e["VersionId"], e["IsLatest"]) for e in listing.get(kind, [])]


def test_versioning_status_set_and_read(cluster):
    s3 = cluster.boto3()
    s3.create_bucket(Bucket="status")
    assert "Status" not in s3.get_bucket_versioning(Bucket="status")
    s3.put_bucket_versioning(Bucket="status", VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket="status")["Status"] == "Enabled"
    s3.put_bucket_versioning(Bucket="status", VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket="status")["Status"] == "Suspended"
    # botocore does not check the enum, so a bad status reaches the server, which must refuse it.
    bad = failure(lambda: s3.put_bucket_versioning(Bucket="status", VersioningConfiguration={"Status": "Sometimes"}))
    assert bad["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert s3.get_bucket_versioning(Bucket="status")["Status"] == "Suspended"
    refused(lambda: s3.get_bucket_versioning(Bucket="no-such-bucket"), "NoSuchBucket", 404)
    refused(lambda: s3.put_bucket_versioning(Bucket="no-such-bucket", VersioningConfiguration={"Status": "Enabled"}),
            "NoSuchBucket", 404)


def test_each_put_is_a_version_readable_by_id(cluster):
    s3 = cluster.boto3()
    versioned(s3, "vers")
    bodies = [b"one", b"second", b"third!!"]
    ids = [put(s3, "vers", "doc", data) for data in bodies]
    assert len(set(ids)) == 3 and all(is_real_id(i) for i in ids), ids
    latest = s3.get_object(Bucket="vers", Key="doc")
    assert latest["Body"].read() == bodies[-1] and latest["VersionId"] == ids[-1]
    for version_id, data in zip(ids, bodies):
        got = s3.get_object(Bucket="vers", Key="doc", VersionId=version_id)
        assert got["Body"].read() == data and got["VersionId"] == version_id
        head = s3.head_object(Bucket="vers", Key="doc", VersionId=version_id)
        assert head["ContentLength"] == len(data) and head["VersionId"] == version_id


def test_a_delete_marker_hides_the_key(cluster):
    s3 = cluster.boto3()
    versioned(s3, "markers")
    v1 = put(s3, "markers", "gone", b"still here")
    put(s3, "markers", "dir/a", b"a")
    put(s3, "markers", "dir2/b", b"b")
    deleted = s3.delete_object(Bucket="markers", Key="gone")
    assert deleted["DeleteMarker"] is True and is_real_id(deleted["VersionId"]) and deleted["VersionId"] != v1
    marker = deleted["VersionId"]
    refused(lambda: s3.get_object(Bucket="markers", Key="gone"), "NoSuchKey", 404)
    headers = failure(lambda: s3.get_object(Bucket="markers", Key="gone"))["ResponseMetadata"]["HTTPHeaders"]
    assert headers.get("x-amz-delete-marker") == "true", headers
    refused(lambda: s3.head_object(Bucket="markers", Key="gone"), "404", 404)
    refused(lambda: s3.get_object(Bucket="markers", Key="gone", VersionId=marker), "MethodNotAllowed", 405)
    refused(lambda: s3.head_object(Bucket="markers", Key="gone", VersionId=marker), "MethodNotAllowed", 405)
    assert body(s3, "markers", "gone", VersionId=v1) == b"still here"
    s3.delete_object(Bucket="markers", Key="dir/a")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="markers").get("Contents", [])]
    assert keys == ["dir2/b"]
    listed = s3.list_objects_v2(Bucket="markers", Delimiter="/")
    assert listed.get("CommonPrefixes") == [{"Prefix": "dir2/"}] and "Contents" not in listed


def test_removing_the_marker_brings_the_object_back(cluster):
    s3 = cluster.boto3()
    versioned(s3, "revive")
    v1 = put(s3, "revive", "back", b"old")
    marker = s3.delete_object(Bucket="revive", Key="back")["VersionId"]
    refused(lambda: s3.get_object(Bucket="revive", Key="back"), "NoSuchKey", 404)
    removed = s3.delete_object(Bucket="revive", Key="back", VersionId=marker)
    assert removed["DeleteMarker"] is True and removed["VersionId"] == marker
    got = s3.get_object(Bucket="revive", Key="back")
    assert got["Body"].read() == b"old" and got["VersionId"] == v1
    assert "DeleteMarkers" not in s3.list_object_versions(Bucket="revive")


def test_deleting_one_version_by_id(cluster):
    s3 = cluster.boto3()
    versioned(s3, "byid")
    a1, a2, a3 = (put(s3, "byid", "k", data) for data in (b"a1", b"a2", b"a3"))
    other = put(s3, "byid", "other", b"other")
    removed = s3.delete_object(Bucket="byid", Key="k", VersionId=a2)
    assert removed["VersionId"] == a2 and not removed.get("DeleteMarker")
    refused(lambda: s3.get_object(Bucket="byid", Key="k", VersionId=a2), "NoSuchVersion", 404)
    assert body(s3, "byid", "k") == b"a3" and body(s3, "byid", "k", VersionId=a1) == b"a1"
    s3.delete_object(Bucket="byid", Key="k", VersionId=a3)  # the current one: the previous takes its place
    got = s3.get_object(Bucket="byid", Key="k")
    assert got["Body"].read() == b"a1" and got["VersionId"] == a1
    assert "DeleteMarkers" not in s3.list_object_versions(Bucket="byid")
    # A well-formed id that this key never had: nothing to delete, and that is no error.
    gone = s3.delete_object(Bucket="byid", Key="k", VersionId=other)
    assert gone["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert body(s3, "byid", "other", VersionId=other) == b"other" and body(s3, "byid", "k") == b"a1"
    refused(lambda: s3.get_object(Bucket="byid", Key="k", VersionId="not-a-version"), "InvalidArgument", 400)
    refused(lambda: s3.get_object(Bucket="byid", Key="k", VersionId=other), "NoSuchVersion", 404)


def test_list_object_versions_order_paging_and_prefixes(cluster):
    s3 = cluster.boto3()
    versioned(s3, "listing")
    made = {}  # key -> version ids, newest first
    for key in ("b", "a", "c/x"):
        for i in range(3):
            made.setdefault(key, []).insert(0, put(s3, "listing", key, b"%s %d" % (key.encode(), i)))
    marker = s3.delete_object(Bucket="listing", Key="a")["VersionId"]
    full = s3.list_object_versions(Bucket="listing")
    assert not full["IsTruncated"]
    assert [(k, v) for k, v, _ in entries(full, "Versions")] == [(k, v) for k in sorted(made) for v in made[k]]
    assert entries(full, "DeleteMarkers") == [("a", marker, True)]
    latest = sorted((k, v) for k, v, is_latest in entries(full, "Versions") + entries(full, "DeleteMarkers")
                    if is_latest)
    assert latest == [("a", marker), ("b", made["b"][0]), ("c/x", made["c/x"][0])]
    only_b = s3.list_object_versions(Bucket="listing", Prefix="b")
    assert [v for _, v, _ in entries(only_b, "Versions")] == made["b"] and "DeleteMarkers" not in only_b

    pages, versions, markers, kwargs = 0, [], [], {}
    while True:
        page = s3.list_object_versions(Bucket="listing", MaxKeys=2, **kwargs)
        pages += 1
        assert len(page.get("Versions", [])) + len(page.get("DeleteMarkers", [])) <= 2
        versions += entries(page, "Versions")
        markers += entries(page, "DeleteMarkers")
        if not page["IsTruncated"]:
            break
        kwargs = {"KeyMarker": page["NextKeyMarker"]}
        if page.get("NextVersionIdMarker"):
            kwargs["VersionIdMarker"] = page["NextVersionIdMarker"]
        assert pages < 20, "paging does not end"
    assert pages >= 5  # ten entries, two a page
    assert versions == entries(full, "Versions") and markers == entries(full, "DeleteMarkers")

    split = s3.list_object_versions(Bucket="listing", Delimiter="/")
    assert split.get("CommonPrefixes") == [{"Prefix": "c/"}]
    assert {k for k, _, _ in entries(split, "Versions")} == {"a", "b"}
    refused(lambda: s3.list_object_versions(Bucket="listing", VersionIdMarker=made["a"][0]), "InvalidArgument", 400)


def test_the_null_version_before_and_while_suspended(cluster):
    s3 = cluster.boto3()
    s3.create_bucket(Bucket="nulls")
    s3.put_object(Bucket="nulls", Key="early", Body=b"before")
    s3.put_bucket_versioning(Bucket="nulls", VersioningConfiguration={"Status": "Enabled"})
    assert entries(s3.list_object_versions(Bucket="nulls"), "Versions") == [("early", "null", True)]
    assert body(s3, "nulls", "early", VersionId="null") == b"before"
    real = put(s3, "nulls", "early", b"after")
    assert is_real_id(real)
    assert body(s3, "nulls", "early", VersionId="null") == b"before"
    assert entries(s3.list_object_versions(Bucket="nulls"), "Versions") == [
        ("early", real, True), ("early", "null", False)]

    s3.put_bucket_versioning(Bucket="nulls", VersioningConfiguration={"Status": "Suspended"})
    for data in (b"suspended 1", b"suspended 2"):
        written = s3.put_object(Bucket="nulls", Key="early", Body=data)
        assert written.get("VersionId", "null") == "null"
    # Each write replaced the one null version; the real one is kept.
    assert entries(s3.list_object_versions(Bucket="nulls"), "Versions") == [
        ("early", "null", True), ("early", real, False)]
    assert body(s3, "nulls", "early") == b"suspended 2"
    assert body(s3, "nulls", "early", VersionId="null") == b"suspended 2"
    assert body(s3, "nulls", "early", VersionId=real) == b"after"

    deleted = s3.delete_object(Bucket="nulls", Key="early")
    assert deleted.get("VersionId", "null") == "null" and deleted.get("DeleteMarker") is True
    listing = s3.list_object_versions(Bucket="nulls")
    assert entries(listing, "DeleteMarkers") == [("early", "null", True)]
    assert entries(listing, "Versions") == [("early", real, False)]
    refused(lambda: s3.get_object(Bucket="nulls", Key="early"), "NoSuchKey", 404)
    assert body(s3, "nulls", "early", VersionId=real) == b"after"


def test_copies_from_an_old_version(cluster):
    s3 = cluster.boto3()
    versioned(s3, "copies")
    old = put(s3, "copies", "src", b"old bytes")
    new = put(s3, "copies", "src", b"new bytes")
    source = {"Bucket": "copies", "Key": "src", "VersionId": old}
    copied = s3.copy_object(Bucket="copies", Key="dst", CopySource=source)
    assert copied["CopySourceVersionId"] == old and is_real_id(copied["VersionId"])
    assert copied["VersionId"] not in (old, new)
    assert body(s3, "copies", "dst") == b"old bytes"
    # Copying an old version over its own key restores it as the newest.
    restored = s3.copy_object(Bucket="copies", Key="src", CopySource=source)["VersionId"]
    assert body(s3, "copies", "src") == b"old bytes"
    assert [v for _, v, _ in entries(s3.list_object_versions(Bucket="copies", Prefix="src"), "Versions")] == [
        restored, new, old]

    upload = s3.create_multipart_upload(Bucket="copies", Key="assembled")["UploadId"]
    part = s3.upload_part_copy(Bucket="copies", Key="assembled", UploadId=upload, PartNumber=1,
                               CopySource={"Bucket": "copies", "Key": "src", "VersionId": new})
    assert part["CopySourceVersionId"] == new
    s3.complete_multipart_upload(Bucket="copies", Key="assembled", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["CopyPartResult"]["ETag"]}]})
    assert body(s3, "copies", "assembled") == b"new bytes"

    marker = s3.delete_object(Bucket="copies", Key="src")["VersionId"]
    on_marker = {"Bucket": "copies", "Key": "src", "VersionId": marker}
    refused(lambda: s3.copy_object(Bucket="copies", Key="dst2", CopySource=on_marker), "InvalidRequest", 400)
    refused(lambda: s3.copy_object(Bucket="copies", Key="dst2", CopySource={"Bucket": "copies", "Key": "src"}),
            "NoSuchKey", 404)
    upload = s3.create_multipart_upload(Bucket="copies", Key="never")["UploadId"]
    refused(lambda: s3.upload_part_copy(Bucket="copies", Key="never", UploadId=upload, PartNumber=1,
                                        CopySource=on_marker), "InvalidRequest", 400)
    s3.abort_multipart_upload(Bucket="copies", Key="never", UploadId=upload)
    refused(lambda: s3.head_object(Bucket="copies", Key="dst2"), "404", 404)


def test_multipart_upload_adds_a_version(cluster):
    s3 = cluster.boto3()
    versioned(s3, "mpus")
    first = put(s3, "mpus", "big", b"first")
    upload = s3.create_multipart_upload(Bucket="mpus", Key="big")["UploadId"]
    etag = s3.upload_part(Bucket="mpus", Key="big", UploadId=upload, PartNumber=1, Body=b"from parts")["ETag"]
    done = s3.complete_multipart_upload(Bucket="mpus", Key="big", UploadId=upload,
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert is_real_id(done["VersionId"]) and done["VersionId"] != first
    assert body(s3, "mpus", "big") == b"from parts"
    assert body(s3, "mpus", "big", VersionId=done["VersionId"]) == b"from parts"
    assert body(s3, "mpus", "big", VersionId=first) == b"first"


def test_delete_objects_by_version_and_with_markers(cluster):
    s3 = cluster.boto3()
    versioned(s3, "batch")
    put(s3, "batch", "one", b"1")
    newer = put(s3, "batch", "one", b"1 newer")
    kept = put(s3, "batch", "two", b"2")
    result = s3.delete_objects(Bucket="batch", Delete={"Objects": [{"Key": "one", "VersionId": newer}, {"Key": "two"}]})
    assert not result.get("Errors")
    deleted = {d["Key"]: d for d in result["Deleted"]}
    assert deleted["one"]["VersionId"] == newer and not deleted["one"].get("DeleteMarker")
    assert deleted["two"]["DeleteMarker"] is True and is_real_id(deleted["two"]["DeleteMarkerVersionId"])
    assert body(s3, "batch", "one") == b"1"
    refused(lambda: s3.get_object(Bucket="batch", Key="one", VersionId=newer), "NoSuchVersion", 404)
    refused(lambda: s3.get_object(Bucket="batch", Key="two"), "NoSuchKey", 404)
    listing = s3.list_object_versions(Bucket="batch", Prefix="two")
    assert entries(listing, "DeleteMarkers") == [("two", deleted["two"]["DeleteMarkerVersionId"], True)]
    assert entries(listing, "Versions") == [("two", kept, False)]


def test_a_bucket_with_versions_or_markers_is_not_empty(cluster):
    s3 = cluster.boto3()
    versioned(s3, "leftovers")
    version = put(s3, "leftovers", "k", b"x")
    marker = s3.delete_object(Bucket="leftovers", Key="k")["VersionId"]
    assert "Contents" not in s3.list_objects_v2(Bucket="leftovers")
    refused(lambda: s3.delete_bucket(Bucket="leftovers"), "BucketNotEmpty", 409)
    s3.delete_object(Bucket="leftovers", Key="k", VersionId=version)  # only the marker is left
    refused(lambda: s3.delete_bucket(Bucket="leftovers"), "BucketNotEmpty", 409)
    s3.delete_object(Bucket="leftovers", Key="k", VersionId=marker)
    s3.delete_bucket(Bucket="leftovers")
    refused(lambda: s3.head_bucket(Bucket="leftovers"), "404", 404)


def test_tags_belong_to_one_version(cluster):
    s3 = cluster.boto3()
    versioned(s3, "tagged")
    old = put(s3, "tagged", "t", b"old")
    new = put(s3, "tagged", "t", b"new")
    tags = [{"Key": "state", "Value": "archived"}]
    tagged = s3.put_object_tagging(Bucket="tagged", Key="t", VersionId=old, Tagging={"TagSet": tags})
    assert tagged["VersionId"] == old
    read = s3.get_object_tagging(Bucket="tagged", Key="t", VersionId=old)
    assert read["TagSet"] == tags and read["VersionId"] == old
    assert s3.get_object_tagging(Bucket="tagged", Key="t")["TagSet"] == []
    assert s3.get_object_tagging(Bucket="tagged", Key="t", VersionId=new)["TagSet"] == []
    assert s3.get_object(Bucket="tagged", Key="t", VersionId=old)["TagCount"] == 1


def test_aws_cli_restores_an_old_version_and_syncs(cluster, tmp_path):
    bucket = "cli-versions"
    cluster.aws("s3", "mb", f"s3://{bucket}")
    cluster.aws("s3api", "put-bucket-versioning", "--bucket", bucket, "--versioning-configuration", "Status=Enabled")
    assert json.loads(cluster.aws("s3api", "get-bucket-versioning", "--bucket", bucket).stdout)["Status"] == "Enabled"

    def versions(prefix):
        listed = cluster.aws("s3api", "list-object-versions", "--bucket", bucket, "--prefix", prefix).stdout
        return json.loads(listed).get("Versions", [])

    note = tmp_path / "note.txt"
    for text in ("first draft\n", "second draft, longer\n"):
        note.write_text(text)
        cluster.aws("s3", "cp", "--only-show-errors", str(note), f"s3://{bucket}/note.txt")
    listed = versions("note.txt")
    assert [v["IsLatest"] for v in listed] == [True, False]
    old = listed[1]["VersionId"]
    cluster.aws("s3api", "copy-object", "--bucket", bucket, "--key", "note.txt",
                "--copy-source", f"{bucket}/note.txt?versionId={old}")
    assert cluster.aws("s3", "cp", f"s3://{bucket}/note.txt", "-").stdout == "first draft\n"
    assert len(versions("note.txt")) == 3

    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (tree / name).write_text(f"{name}\n")
    cluster.aws("s3", "sync", "--only-show-errors", str(tree), f"s3://{bucket}/tree")
    (tree / "b.txt").write_text("b.txt, changed and longer\n")
    cluster.aws("s3", "sync", "--only-show-errors", str(tree), f"s3://{bucket}/tree")
    counts = collections.Counter(v["Key"] for v in versions("tree/"))
    assert counts == {"tree/a.txt": 1, "tree/b.txt": 2, "tree/c.txt": 1}
    assert cluster.aws("s3", "cp", f"s3://{bucket}/tree/b.txt", "-").stdout == "b.txt, changed and longer\n"


def test_versioning_permissions(cluster):
    s3 = cluster.boto3()
    versioned(s3, "guarded")
    old = put(s3, "guarded", "k", b"old")
    put(s3, "guarded", "k", b"new")
    created = json.loads(admin(cluster, "key", "create", "--name", "version-reader", "--json"))
    reader = client(cluster, created["accessKeyID"], created["secretKey"])
    admin(cluster, "key", "allow", created["accessKeyID"], "--bucket", "guarded", "--read")
    refused(lambda: reader.put_bucket_versioning(Bucket="guarded", VersioningConfiguration={"Status": "Suspended"}),
            "AccessDenied", 403)
    assert s3.get_bucket_versioning(Bucket="guarded")["Status"] == "Enabled"
    assert body(reader, "guarded", "k", VersionId=old) == b"old"
    refused(lambda: reader.delete_object(Bucket="guarded", Key="k", VersionId=old), "AccessDenied", 403)
    assert body(s3, "guarded", "k", VersionId=old) == b"old"


def test_each_version_has_its_own_acl(cluster):
    s3 = cluster.boto3()
    versioned(s3, "acls")
    public = s3.put_object(Bucket="acls", Key="k", Body=b"public", ACL="public-read")["VersionId"]
    private = put(s3, "acls", "k", b"private")
    url = f"{cluster.endpoint}/acls/k"
    assert requests.get(url, params={"versionId": public}).content == b"public"
    assert requests.get(url, params={"versionId": private}).status_code == 403
    assert requests.get(url).status_code == 403  # the current version is private
    s3.put_object_acl(Bucket="acls", Key="k", VersionId=private, ACL="public-read")
    assert requests.get(url).content == b"private"
    s3.put_object_acl(Bucket="acls", Key="k", VersionId=public, ACL="private")
    assert requests.get(url, params={"versionId": public}).status_code == 403

    def group_grants(version_id):
        grants = s3.get_object_acl(Bucket="acls", Key="k", VersionId=version_id)["Grants"]
        return [g["Permission"] for g in grants if g["Grantee"].get("URI", "").endswith("/AllUsers")]
    assert group_grants(private) == ["READ"] and group_grants(public) == []


def test_versions_markers_and_status_survive_a_restart(cluster):
    s3 = cluster.boto3()
    versioned(s3, "durable")
    v1 = put(s3, "durable", "k", b"one")
    v2 = put(s3, "durable", "k", b"two")
    put(s3, "durable", "live", b"live")
    marker = s3.delete_object(Bucket="durable", Key="k")["VersionId"]
    versioned(s3, "paused", status="Suspended")
    before = s3.list_object_versions(Bucket="durable")
    cluster.restart()
    s3 = cluster.boto3()
    assert s3.get_bucket_versioning(Bucket="durable")["Status"] == "Enabled"
    assert s3.get_bucket_versioning(Bucket="paused")["Status"] == "Suspended"
    after = s3.list_object_versions(Bucket="durable")
    for kind in ("Versions", "DeleteMarkers"):
        assert entries(after, kind) == entries(before, kind)
    assert entries(after, "DeleteMarkers") == [("k", marker, True)]
    refused(lambda: s3.get_object(Bucket="durable", Key="k"), "NoSuchKey", 404)
    assert body(s3, "durable", "k", VersionId=v1) == b"one" and body(s3, "durable", "k", VersionId=v2) == b"two"
    # Ids made after the restart are new and sort as the newest.
    v3 = put(s3, "durable", "k", b"three")
    assert is_real_id(v3) and v3 not in (v1, v2, marker)
    assert [v for _, v, _ in entries(s3.list_object_versions(Bucket="durable", Prefix="k"), "Versions")] == [v3, v2, v1]
    assert body(s3, "durable", "k") == b"three"
