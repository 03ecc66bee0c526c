"""S3 compatibility with real clients: boto3 for every operation and error code, aws-cli for its
everyday workflows, s3cmd and rclone from Debian's packages. One brain and two agent processes."""
import base64
import datetime
import hashlib
import http.client
import os
import shutil
import subprocess
import zlib

import pytest
from botocore.exceptions import ClientError

from harness import ROOT_ACCESS_KEY, ROOT_SECRET_KEY, Cluster, sigv4_headers

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("compat"), chunk_size="1MiB").start()
    yield c
    c.stop()


@pytest.fixture(scope="module")
def s3(cluster):
    return cluster.boto3()


_bucket_counter = [0]


@pytest.fixture
def bucket(s3):
    _bucket_counter[0] += 1
    name = f"compat-{_bucket_counter[0]}"
    s3.create_bucket(Bucket=name)
    return name


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def status(excinfo):
    return excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


def raw_request(cluster, method, path, body=b"", headers=None):
    """A request signed with the root key (UNSIGNED-PAYLOAD), sent as written."""
    conn = http.client.HTTPConnection("127.0.0.1", cluster.s3_port, timeout=30)
    path_only, _, query = path.partition("?")
    signed = sigv4_headers(method, path_only, f"127.0.0.1:{cluster.s3_port}", query=query, headers=headers)
    host = {k: v for k, v in (headers or {}).items() if k.lower() == "host"}
    conn.request(method, path, body=body, headers={**signed, **host})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response, data


# ---------------------------------------------------------------- buckets and headers

def test_head_bucket_location_and_missing_bucket(s3, bucket):
    s3.head_bucket(Bucket=bucket)
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] is None
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket="no-such-bucket-here")
    assert status(e) == 404


def test_stored_headers_and_user_metadata_come_back(s3, bucket):
    s3.put_object(
        Bucket=bucket, Key="doc.html", Body=b"<p>hi</p>", ContentType="text/html", ContentEncoding="identity",
        ContentDisposition='attachment; filename="doc.html"', ContentLanguage="en", CacheControl="max-age=60",
        Expires=datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc), Metadata={"owner": "ada", "Mixed-Case": "v"})
    for response in [s3.head_object(Bucket=bucket, Key="doc.html"), s3.get_object(Bucket=bucket, Key="doc.html")]:
        assert response["ContentType"] == "text/html"
        assert response["ContentEncoding"] == "identity"
        assert response["ContentDisposition"] == 'attachment; filename="doc.html"'
        assert response["ContentLanguage"] == "en"
        assert response["CacheControl"] == "max-age=60"
        assert response["Expires"].year == 2030
        assert response["Metadata"] == {"owner": "ada", "mixed-case": "v"}
        assert response["AcceptRanges"] == "bytes"
        assert "x-amz-request-id" in response["ResponseMetadata"]["HTTPHeaders"]
    overridden = s3.get_object(Bucket=bucket, Key="doc.html", ResponseContentType="text/plain")
    assert overridden["ContentType"] == "text/plain"


def test_every_response_has_a_request_id_and_head_errors_have_no_body(cluster, bucket):
    response, body = raw_request(cluster, "HEAD", f"/{bucket}/missing")
    assert response.status == 404 and body == b""
    assert response.getheader("x-amz-request-id")
    response, body = raw_request(cluster, "GET", f"/{bucket}/missing")
    assert response.status == 404 and b"<Code>NoSuchKey</Code>" in body and b"<RequestId>" in body
    assert b"<Resource>" in body and b"<Message>" in body


def test_unimplemented_features_answer_501(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_website(Bucket=bucket)
    assert code(e) == "NotImplemented" and status(e) == 501
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="log-delivery-write")
    assert code(e) == "NotImplemented"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", GrantRead='uri="http://acs.amazonaws.com/groups/global/AllUsers"')
    assert code(e) == "NotImplemented"
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="private")


def test_bucket_names_and_key_lengths_are_checked(s3, bucket):
    for name in ["ab", "UPPER", "has_underscore", "-dash", "192.168.1.1", "a" * 64]:
        with pytest.raises(ClientError) as e:
            s3.create_bucket(Bucket=name)
        assert code(e) == "InvalidBucketName", name
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert code(e) == "KeyTooLongError"
    s3.put_object(Bucket=bucket, Key="k" * 1024, Body=b"x")


def test_awkward_keys_round_trip_through_listing(s3, bucket):
    keys = ["a b", "plus+sign", "100%", "ünï/cödé", "x//double", "/leading", "q?uery", "amp&er=sand", "tab\there"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    for key in keys:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(keys, key=lambda k: k.encode())


# ---------------------------------------------------------------- reads

def test_range_requests(s3, bucket):
    data = os.urandom(3 * MiB + 5)  # spans four 1 MiB chunks
    s3.put_object(Bucket=bucket, Key="r", Body=data)
    for header, expected in [("bytes=0-9", data[:10]), ("bytes=1048570-2097160", data[1048570:2097161]),
                             ("bytes=3145000-", data[3145000:]), ("bytes=-7", data[-7:]),
                             ("bytes=10-99999999", data[10:])]:
        got = s3.get_object(Bucket=bucket, Key="r", Range=header)
        assert got["Body"].read() == expected, header
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["ContentRange"].endswith(f"/{len(data)}")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", Range=f"bytes={len(data)}-")
    assert code(e) == "InvalidRange" and status(e) == 416
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=5-1")["Body"].read() == data


def test_conditional_reads(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"conditional")["ETag"]
    modified = s3.head_object(Bucket=bucket, Key="c")["LastModified"]
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"conditional"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"0000"')
    assert status(e) == 412
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert status(e) == 304
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="c", IfModifiedSince=modified)
    assert status(e) == 304
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince=modified - datetime.timedelta(seconds=10))
    assert status(e) == 412
    assert s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=modified - datetime.timedelta(seconds=10))


# ---------------------------------------------------------------- integrity

def test_content_md5_is_checked(s3, bucket):
    body = b"integrity"
    good = base64.b64encode(hashlib.md5(body).digest()).decode()
    s3.put_object(Bucket=bucket, Key="m", Body=body, ContentMD5=good)
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="bad", Body=body, ContentMD5=base64.b64encode(hashlib.md5(b"x").digest()).decode())
    assert code(e) == "BadDigest"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="bad", Body=body, ContentMD5="not-base64!")
    assert code(e) == "InvalidDigest"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="bad")
    assert status(e) == 404

def test_content_md5_of_a_many_chunk_body_is_checked(s3, bucket):
    # Chunks of a large body are hashed on tasks of their own, beside the upload: the digest of
    # the whole still decides, for a body whose every chunk is full and one whose last is not.
    for size in (4 * MiB, 4 * MiB + 777):
        body = os.urandom(size)
        good = base64.b64encode(hashlib.md5(body).digest()).decode()
        s3.put_object(Bucket=bucket, Key=f"big-md5-{size}", Body=body, ContentMD5=good)
        assert s3.get_object(Bucket=bucket, Key=f"big-md5-{size}")["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
        wrong = base64.b64encode(hashlib.md5(body[:-1] + b"x").digest()).decode()
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key=f"big-bad-{size}", Body=body, ContentMD5=wrong)
        assert code(e) == "BadDigest"
        with pytest.raises(ClientError) as e:
            s3.head_object(Bucket=bucket, Key=f"big-bad-{size}")
        assert status(e) == 404


@pytest.mark.parametrize("algorithm", ["CRC32", "SHA1", "SHA256"])
def test_checksums_are_validated_stored_and_returned(s3, bucket, algorithm):
    body = os.urandom(100_000)
    put = s3.put_object(Bucket=bucket, Key=algorithm, Body=body, ChecksumAlgorithm=algorithm)
    value = put["Checksum" + algorithm]
    got = s3.get_object(Bucket=bucket, Key=algorithm, ChecksumMode="ENABLED")
    assert got["Body"].read() == body
    assert got["Checksum" + algorithm] == value


def reflected_crc(data, poly, width):
    """Bitwise reflected CRC with all-ones init and final xor (CRC-32C, CRC-64/NVME)."""
    mask = (1 << width) - 1
    crc = mask
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
    return (crc ^ mask).to_bytes(width // 8, "big")


@pytest.mark.parametrize("name,poly,width", [("crc32c", 0x82F63B78, 32), ("crc64nvme", 0x9A6C9329AC4BC9B5, 64)])
def test_crc32c_and_crc64nvme_are_validated_stored_and_returned(cluster, bucket, name, poly, width):
    # botocore needs the optional awscrt for these two, so the request is made by hand.
    body = os.urandom(3000)
    value = base64.b64encode(reflected_crc(body, poly, width)).decode()
    response, data = raw_request(cluster, "PUT", f"/{bucket}/{name}", body, {f"x-amz-checksum-{name}": value})
    assert response.status == 200, data
    response, data = raw_request(cluster, "GET", f"/{bucket}/{name}", b"", {"x-amz-checksum-mode": "ENABLED"})
    assert data == body and response.getheader(f"x-amz-checksum-{name}") == value
    wrong = base64.b64encode(reflected_crc(b"other", poly, width)).decode()
    response, data = raw_request(cluster, "PUT", f"/{bucket}/{name}-bad", body, {f"x-amz-checksum-{name}": wrong})
    assert response.status == 400 and b"BadDigest" in data


def test_wrong_checksum_header_is_bad_digest(cluster, bucket):
    body = b"checksummed body"
    wrong = base64.b64encode((zlib.crc32(b"other") & 0xFFFFFFFF).to_bytes(4, "big")).decode()
    response, data = raw_request(cluster, "PUT", f"/{bucket}/crc", body, {"x-amz-checksum-crc32": wrong})
    assert response.status == 400 and b"BadDigest" in data
    right = base64.b64encode((zlib.crc32(body) & 0xFFFFFFFF).to_bytes(4, "big")).decode()
    response, _ = raw_request(cluster, "PUT", f"/{bucket}/crc", body, {"x-amz-checksum-crc32": right})
    assert response.status == 200
    response, data = raw_request(cluster, "PUT", f"/{bucket}/sha", body,
                                 {"x-amz-content-sha256": hashlib.sha256(b"other").hexdigest()})
    assert response.status == 400 and b"XAmzContentSHA256Mismatch" in data


def aws_chunked(body, piece, trailer=None):
    out = b""
    for i in range(0, len(body), piece):
        chunk = body[i:i + piece]
        out += b"%x" % len(chunk) + b"\r\n" + chunk + b"\r\n"
    out += b"0\r\n"
    if trailer:
        out += trailer + b"\r\n"
    return out + b"\r\n"


def test_aws_chunked_bodies_are_decoded_and_trailers_checked(cluster, s3, bucket):
    body = os.urandom(200_000)
    crc = base64.b64encode((zlib.crc32(body) & 0xFFFFFFFF).to_bytes(4, "big"))
    headers = {"Content-Encoding": "aws-chunked", "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
               "x-amz-decoded-content-length": str(len(body)), "x-amz-trailer": "x-amz-checksum-crc32"}
    wire = aws_chunked(body, 65536, b"x-amz-checksum-crc32:" + crc)
    response, data = raw_request(cluster, "PUT", f"/{bucket}/chunked", wire, headers)
    assert response.status == 200, data
    got = s3.get_object(Bucket=bucket, Key="chunked")
    assert got["Body"].read() == body and "ContentEncoding" not in got
    bad = aws_chunked(body, 65536, b"x-amz-checksum-crc32:" + base64.b64encode(b"\0\0\0\0"))
    response, data = raw_request(cluster, "PUT", f"/{bucket}/chunked-bad", bad, headers)
    assert response.status == 400 and b"BadDigest" in data


# ---------------------------------------------------------------- copy and delete

def test_copy_object_within_and_across_buckets(s3, bucket):
    other = bucket + "-dst"
    s3.create_bucket(Bucket=other)
    data = os.urandom(2 * MiB + 1)
    etag = s3.put_object(Bucket=bucket, Key="src", Body=data, ContentType="image/png", Metadata={"a": "1"})["ETag"]
    s3.copy_object(Bucket=bucket, Key="same-bucket", CopySource={"Bucket": bucket, "Key": "src"})
    copied = s3.get_object(Bucket=bucket, Key="same-bucket")
    assert copied["Body"].read() == data and copied["ContentType"] == "image/png" and copied["Metadata"] == {"a": "1"}
    s3.copy_object(Bucket=other, Key="replaced", CopySource=f"{bucket}/src", MetadataDirective="REPLACE",
                   ContentType="text/plain", Metadata={"b": "2"})
    replaced = s3.head_object(Bucket=other, Key="replaced")
    assert replaced["ContentType"] == "text/plain" and replaced["Metadata"] == {"b": "2"}
    assert replaced["ETag"] == etag
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=other, Key="x", CopySource=f"{bucket}/src", CopySourceIfMatch='"nope"')
    assert status(e) == 412
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="src", CopySource=f"{bucket}/src")
    assert code(e) == "InvalidRequest"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=other, Key="x", CopySource=f"{bucket}/missing")
    assert code(e) == "NoSuchKey"


def test_delete_objects_reports_each_key(s3, bucket):
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"d/{i}", Body=b"x")
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": f"d/{i}"} for i in range(3)] + [{"Key": "d/none"}]})
    assert sorted(d["Key"] for d in result["Deleted"]) == ["d/0", "d/1", "d/2", "d/none"]
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "d/3"}], "Quiet": True})
    assert "Deleted" not in quiet and "Errors" not in quiet
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["d/4"]


# ---------------------------------------------------------------- listings

def test_list_objects_v1_and_v2_paginate_with_delimiter(s3, bucket):
    keys = [f"p{i}/k{j}" for i in range(4) for j in range(3)] + ["top1", "top2"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    v1, v2 = [], []
    for page in s3.get_paginator("list_objects").paginate(Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 2}):
        v1 += [p["Prefix"] for p in page.get("CommonPrefixes", [])] + [o["Key"] for o in page.get("Contents", [])]
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 2}):
        v2 += [p["Prefix"] for p in page.get("CommonPrefixes", [])] + [o["Key"] for o in page.get("Contents", [])]
        assert page["KeyCount"] == len(page.get("CommonPrefixes", [])) + len(page.get("Contents", []))
    expected = ["p0/", "p1/", "p2/", "p3/", "top1", "top2"]
    assert sorted(v1) == expected and sorted(v2) == expected
    owner = s3.list_objects_v2(Bucket=bucket, FetchOwner=True, MaxKeys=1)
    assert owner["Contents"][0]["Owner"]["ID"] and owner["IsTruncated"]
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=bucket, ContinuationToken="garbage!")
    assert code(e) == "InvalidArgument"


def test_list_object_versions_shows_each_object_as_its_null_version(s3, bucket):
    for key in ["a", "b", "c"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"v")
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions] == [
        ("a", "null", True), ("b", "null", True), ("c", "null", True)]


# ---------------------------------------------------------------- multipart

def test_multipart_upload_lifecycle(s3, bucket):
    parts_data = [os.urandom(5 * MiB), os.urandom(5 * MiB + 3), os.urandom(1234)]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", ContentType="video/mp4", Metadata={"m": "1"})
    uid = upload["UploadId"]
    etags = [s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=i + 1, Body=d)["ETag"]
             for i, d in enumerate(parts_data)]
    listed = s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid)
    assert [(p["PartNumber"], p["Size"]) for p in listed["Parts"]] == [(1, 5 * MiB), (2, 5 * MiB + 3), (3, 1234)]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [uid]

    def complete(parts):
        return s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={"Parts": parts})

    with pytest.raises(ClientError) as e:
        complete([{"PartNumber": 2, "ETag": etags[1]}, {"PartNumber": 1, "ETag": etags[0]}])
    assert code(e) == "InvalidPartOrder"
    with pytest.raises(ClientError) as e:
        complete([{"PartNumber": 1, "ETag": '"ffffffffffffffffffffffffffffffff"'}])
    assert code(e) == "InvalidPart"
    with pytest.raises(ClientError) as e:
        complete([{"PartNumber": 3, "ETag": etags[2]}, {"PartNumber": 4, "ETag": etags[2]}])
    assert code(e) == "InvalidPart"
    # A subset of the parts, in order, completes; headers given at creation become the object's.
    complete([{"PartNumber": 1, "ETag": etags[0]}, {"PartNumber": 3, "ETag": etags[2]}])
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["Body"].read() == parts_data[0] + parts_data[2]
    assert got["ContentType"] == "video/mp4" and got["Metadata"] == {"m": "1"}
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    # Every part but the last must be at least 5 MiB.
    small = s3.create_multipart_upload(Bucket=bucket, Key="small")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="small", UploadId=small, PartNumber=1, Body=b"tiny")["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="small", UploadId=small, PartNumber=2, Body=b"tiny")["ETag"]
    with pytest.raises(ClientError) as err:
        s3.complete_multipart_upload(Bucket=bucket, Key="small", UploadId=small, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    assert code(err) == "EntityTooSmall"
    s3.abort_multipart_upload(Bucket=bucket, Key="small", UploadId=small)
    with pytest.raises(ClientError) as err:
        s3.list_parts(Bucket=bucket, Key="small", UploadId=small)
    assert code(err) == "NoSuchUpload"


def test_complete_multipart_upload_checksum_headers_describe_the_object_not_the_body(s3, bucket):
    """CompleteMultipartUpload's x-amz-checksum-* give the object's checksum, not the XML body's: a
    value that is not the body's CRC32 must not fail the request as BadDigest."""
    upload = s3.create_multipart_upload(Bucket=bucket, Key="checked", ChecksumAlgorithm="CRC32")
    part = s3.upload_part(Bucket=bucket, Key="checked", UploadId=upload["UploadId"], PartNumber=1, Body=b"only part",
                          ChecksumAlgorithm="CRC32")
    s3.complete_multipart_upload(
        Bucket=bucket, Key="checked", UploadId=upload["UploadId"], ChecksumCRC32=part["ChecksumCRC32"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"], "ChecksumCRC32": part["ChecksumCRC32"]}]})
    assert s3.get_object(Bucket=bucket, Key="checked")["Body"].read() == b"only part"


def test_multipart_object_etag_parts_and_part_reads(s3, bucket):
    parts_data = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(777)]
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm="CRC32")["UploadId"]
    parts = []
    for i, d in enumerate(parts_data):
        r = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=i + 1, Body=d, ChecksumAlgorithm="CRC32")
        parts.append({"PartNumber": i + 1, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={"Parts": parts})
    md5s = b"".join(hashlib.md5(d).digest() for d in parts_data)
    assert done["ETag"] == f'"{hashlib.md5(md5s).hexdigest()}-3"'
    assert done["ChecksumCRC32"].endswith("-3")
    whole = b"".join(parts_data)
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["Body"].read() == whole and got["ETag"] == done["ETag"]
    second = s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)
    assert second["Body"].read() == parts_data[1] and second["PartsCount"] == 3
    assert s3.head_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")["ChecksumCRC32"] == done["ChecksumCRC32"]


def test_a_repeated_complete_succeeds_again_and_a_different_one_does_not(s3, bucket):
    """A client retrying CompleteMultipartUpload after a lost answer gets the same success (as on S3)."""
    parts_data = [os.urandom(5 * MiB), os.urandom(1000)]
    uid = s3.create_multipart_upload(Bucket=bucket, Key="retried")["UploadId"]
    parts = [{"PartNumber": i + 1, "ETag": s3.upload_part(Bucket=bucket, Key="retried", UploadId=uid,
                                                           PartNumber=i + 1, Body=d)["ETag"]}
             for i, d in enumerate(parts_data)]
    done = s3.complete_multipart_upload(Bucket=bucket, Key="retried", UploadId=uid, MultipartUpload={"Parts": parts})
    again = s3.complete_multipart_upload(Bucket=bucket, Key="retried", UploadId=uid, MultipartUpload={"Parts": parts})
    assert again["ETag"] == done["ETag"]
    assert s3.get_object(Bucket=bucket, Key="retried")["Body"].read() == b"".join(parts_data)
    # Not the part list that made the object: the upload is gone, and so is any other answer.
    with pytest.raises(ClientError) as err:
        s3.complete_multipart_upload(Bucket=bucket, Key="retried", UploadId=uid, MultipartUpload={"Parts": parts[:1]})
    assert code(err) == "NoSuchUpload"
    # Once the key holds something else, the retry is no longer the truth either.
    s3.put_object(Bucket=bucket, Key="retried", Body=b"newer")
    with pytest.raises(ClientError) as err:
        s3.complete_multipart_upload(Bucket=bucket, Key="retried", UploadId=uid, MultipartUpload={"Parts": parts})
    assert code(err) == "NoSuchUpload"


def test_control_characters_and_an_empty_continuation_token(s3, bucket):
    # Keys with control characters are listed (percent-encoded with encoding-type=url, which boto3
    # asks for and decodes), also under an empty prefix; XML 1.0 could not carry them raw.
    names = ["ctl\x01key", "ctl\tkey", "ctl\x7fkey"]
    for name in names:
        s3.put_object(Bucket=bucket, Key=name, Body=b"c")
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="", EncodingType="url").get("Contents", [])]
    assert all(encoded in listed for encoded in ["ctl%01key", "ctl%09key", "ctl%7Fkey"]), listed  # asked for: not decoded
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="ctl").get("Contents", [])] == sorted(names)
    # An empty continuation token is refused, as S3 refuses it (not taken as "from the start").
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=bucket, ContinuationToken="")
    assert code(e) == "InvalidArgument" and status(e) == 400
    for name in names:
        s3.delete_object(Bucket=bucket, Key=name)


def test_get_object_attributes(s3, bucket):
    body = os.urandom(11 * MiB)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="attrs", ChecksumAlgorithm="CRC32")["UploadId"]
    parts = []
    for number, start in enumerate(range(0, len(body), 5 * MiB), start=1):
        part = s3.upload_part(Bucket=bucket, Key="attrs", UploadId=uid, PartNumber=number, Body=body[start:start + 5 * MiB],
                              ChecksumAlgorithm="CRC32")
        parts.append({"PartNumber": number, "ETag": part["ETag"], "ChecksumCRC32": part["ChecksumCRC32"]})
    done = s3.complete_multipart_upload(Bucket=bucket, Key="attrs", UploadId=uid, MultipartUpload={"Parts": parts})
    got = s3.get_object_attributes(Bucket=bucket, Key="attrs",
                                   ObjectAttributes=["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"])
    assert got["ETag"] == done["ETag"].strip('"') and got["ObjectSize"] == len(body) and got["StorageClass"] == "STANDARD"
    assert got["Checksum"]["ChecksumCRC32"] == done["ChecksumCRC32"] and got["Checksum"]["ChecksumType"] == "COMPOSITE"
    assert got["ObjectParts"]["TotalPartsCount"] == 3 and [p["Size"] for p in got["ObjectParts"]["Parts"]] == [5 * MiB, 5 * MiB, MiB]
    paged = s3.get_object_attributes(Bucket=bucket, Key="attrs", ObjectAttributes=["ObjectParts"], MaxParts=2)["ObjectParts"]
    assert paged["IsTruncated"] is True and paged["NextPartNumberMarker"] == 2 and len(paged["Parts"]) == 2
    only = s3.get_object_attributes(Bucket=bucket, Key="attrs", ObjectAttributes=["ObjectSize"])
    assert only["ObjectSize"] == len(body) and "ETag" not in only and "LastModified" in only
    with pytest.raises(ClientError) as e:
        s3.get_object_attributes(Bucket=bucket, Key="missing", ObjectAttributes=["ETag"])
    assert code(e) == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        s3.get_object_attributes(Bucket=bucket, Key="attrs", ObjectAttributes=["Colour"])
    assert code(e) == "InvalidArgument" and status(e) == 400


def test_full_object_checksums_of_multipart_uploads(s3, bucket):
    body = os.urandom(11 * MiB)
    whole = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    created = s3.create_multipart_upload(Bucket=bucket, Key="full", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
    assert created["ChecksumType"] == "FULL_OBJECT"
    parts = []
    for number, start in enumerate(range(0, len(body), 5 * MiB), start=1):
        part = s3.upload_part(Bucket=bucket, Key="full", UploadId=created["UploadId"], PartNumber=number,
                              Body=body[start:start + 5 * MiB], ChecksumAlgorithm="CRC32")
        parts.append({"PartNumber": number, "ETag": part["ETag"], "ChecksumCRC32": part["ChecksumCRC32"]})
    with pytest.raises(ClientError) as e:  # a whole-body CRC that is not the body's
        s3.complete_multipart_upload(Bucket=bucket, Key="full", UploadId=created["UploadId"], ChecksumCRC32="AAAAAA==",
                                     ChecksumType="FULL_OBJECT", MultipartUpload={"Parts": parts})
    assert code(e) == "BadDigest" and status(e) == 400
    done = s3.complete_multipart_upload(Bucket=bucket, Key="full", UploadId=created["UploadId"], ChecksumCRC32=whole,
                                        ChecksumType="FULL_OBJECT", MultipartUpload={"Parts": parts})
    assert done["ChecksumCRC32"] == whole and done["ChecksumType"] == "FULL_OBJECT"
    head = s3.head_object(Bucket=bucket, Key="full", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == whole and head["ChecksumType"] == "FULL_OBJECT"
    with pytest.raises(ClientError) as e:
        s3.create_multipart_upload(Bucket=bucket, Key="full", ChecksumAlgorithm="SHA256", ChecksumType="FULL_OBJECT")
    assert code(e) == "InvalidRequest"


def test_upload_part_copy_with_range(s3, bucket):
    source = os.urandom(6 * MiB)
    s3.put_object(Bucket=bucket, Key="source", Body=source)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    p1 = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=uid, PartNumber=1,
                             CopySource=f"{bucket}/source", CopySourceRange=f"bytes=0-{5 * MiB - 1}")
    p2 = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=uid, PartNumber=2,
                             CopySource=f"{bucket}/source", CopySourceRange=f"bytes={5 * MiB}-{6 * MiB - 1}")
    s3.complete_multipart_upload(Bucket=bucket, Key="assembled", UploadId=uid, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": p1["CopyPartResult"]["ETag"]}, {"PartNumber": 2, "ETag": p2["CopyPartResult"]["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="assembled")["Body"].read() == source
    # A range beyond the source: 400 InvalidRange; one not of the form bytes=first-last: 400 InvalidArgument.
    uid = s3.create_multipart_upload(Bucket=bucket, Key="badrange")["UploadId"]
    for bad, expected, message in [(f"bytes=0-{6 * MiB}", "InvalidRange", f"source object of size: {6 * MiB}"),
                                   ("bytes=10-5", "InvalidRange", "size"), ("bytes=-5", "InvalidArgument", "must be of the form"),
                                   ("0-5", "InvalidArgument", "must be of the form")]:
        with pytest.raises(ClientError) as e:
            s3.upload_part_copy(Bucket=bucket, Key="badrange", UploadId=uid, PartNumber=1, CopySource=f"{bucket}/source",
                                CopySourceRange=bad)
        assert code(e) == expected and status(e) == 400 and message in e.value.response["Error"]["Message"], bad


# ---------------------------------------------------------------- aws-cli workflows

def test_aws_cli_large_copy_sync_and_cleanup(cluster, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(200 * MiB))
    cluster.aws("s3", "mb", "s3://cli-bucket")
    cluster.aws("s3", "cp", "--only-show-errors", str(big), "s3://cli-bucket/big.bin")  # multipart upload
    assert "PartsCount" in cluster.aws("s3api", "head-object", "--bucket", "cli-bucket", "--key", "big.bin").stdout
    down = tmp_path / "down.bin"
    cluster.aws("s3", "cp", "--only-show-errors", "s3://cli-bucket/big.bin", str(down))  # parallel ranged GETs
    assert hashlib.md5(down.read_bytes()).digest() == hashlib.md5(big.read_bytes()).digest()
    big.unlink()
    down.unlink()

    src = tmp_path / "tree"
    for path in ["a/1.txt", "a/b/2.txt", "a/b/c/3 with space.txt", "top.txt", "ünï.txt"]:
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        (src / path).write_bytes(os.urandom(1000))
    cluster.aws("s3", "sync", "--only-show-errors", str(src), "s3://cli-bucket/tree")
    again = cluster.aws("s3", "sync", str(src), "s3://cli-bucket/tree")
    assert again.stdout.strip() == "", "a second sync must upload nothing"
    dst = tmp_path / "back"
    cluster.aws("s3", "sync", "--only-show-errors", "s3://cli-bucket/tree", str(dst))
    for path in src.rglob("*"):
        if path.is_file():
            assert (dst / path.relative_to(src)).read_bytes() == path.read_bytes()
    cluster.aws("s3", "rm", "--recursive", "--only-show-errors", "s3://cli-bucket/tree")
    assert cluster.aws("s3", "ls", "s3://cli-bucket/tree/", check=False).stdout.strip() == ""
    cluster.aws("s3", "cp", "--only-show-errors", str(src / "top.txt"), "s3://cli-bucket/left-over")
    cluster.aws("s3", "rb", "--force", "s3://cli-bucket")
    assert "cli-bucket" not in cluster.aws("s3", "ls").stdout


# ---------------------------------------------------------------- s3cmd and rclone

def test_s3cmd_put_get_ls_sync_delete_multipart(cluster, tmp_path):
    if shutil.which("s3cmd") is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "s3cmd"], check=True)
    config = tmp_path / "s3cfg"
    config.write_text(
        f"[default]\naccess_key = {ROOT_ACCESS_KEY}\nsecret_key = {ROOT_SECRET_KEY}\nhost_base = 127.0.0.1:{cluster.s3_port}\n"
        f"host_bucket = 127.0.0.1:{cluster.s3_port}\nuse_https = False\nsignature_v2 = False\n"
        "multipart_chunk_size_mb = 5\n")

    def s3cmd(*args):
        result = subprocess.run(["s3cmd", "-c", str(config), *args], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout

    s3cmd("mb", "s3://s3cmd-bucket")
    small, large = tmp_path / "small.txt", tmp_path / "large.bin"
    small.write_text("hello from s3cmd\n")
    large.write_bytes(os.urandom(12 * MiB))
    s3cmd("put", str(small), "s3://s3cmd-bucket/small.txt")
    s3cmd("put", str(large), "s3://s3cmd-bucket/large.bin")  # 5 MiB parts
    assert "small.txt" in s3cmd("ls", "s3://s3cmd-bucket") and "large.bin" in s3cmd("ls", "s3://s3cmd-bucket")
    s3cmd("get", "s3://s3cmd-bucket/large.bin", str(tmp_path / "large.out"))
    assert (tmp_path / "large.out").read_bytes() == large.read_bytes()
    tree = tmp_path / "tree"
    (tree / "x/y").mkdir(parents=True)
    (tree / "x/y/z.txt").write_text("deep")
    s3cmd("sync", str(tree) + "/", "s3://s3cmd-bucket/tree/")
    s3cmd("sync", "s3://s3cmd-bucket/tree/", str(tmp_path / "tree-back") + "/")
    assert (tmp_path / "tree-back/x/y/z.txt").read_text() == "deep"
    s3cmd("del", "--recursive", "--force", "s3://s3cmd-bucket")
    s3cmd("rb", "s3://s3cmd-bucket")


def test_rclone_copy_ls_sync_delete_multipart(cluster, tmp_path):
    if shutil.which("rclone") is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "rclone"], check=True)
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    env.update(RCLONE_CONFIG_SOS_TYPE="s3", RCLONE_CONFIG_SOS_PROVIDER="Other",
               RCLONE_CONFIG_SOS_ENDPOINT=cluster.endpoint, RCLONE_CONFIG_SOS_ACCESS_KEY_ID=ROOT_ACCESS_KEY,
               RCLONE_CONFIG_SOS_SECRET_ACCESS_KEY=ROOT_SECRET_KEY, RCLONE_CONFIG_SOS_REGION="us-east-1")

    def rclone(*args):
        result = subprocess.run(["rclone", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", *args],
                                capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout

    rclone("mkdir", "sos:rclone-bucket")
    tree = tmp_path / "tree"
    (tree / "nested/dir").mkdir(parents=True)
    (tree / "nested/dir/file.txt").write_text("rclone")
    (tree / "big.bin").write_bytes(os.urandom(11 * MiB))  # multipart with 5 MiB parts
    rclone("copy", str(tree), "sos:rclone-bucket/tree")
    listing = rclone("ls", "sos:rclone-bucket")
    assert "tree/nested/dir/file.txt" in listing and "tree/big.bin" in listing
    rclone("sync", "sos:rclone-bucket/tree", str(tmp_path / "back"))
    assert (tmp_path / "back/big.bin").read_bytes() == (tree / "big.bin").read_bytes()
    rclone("check", str(tree), "sos:rclone-bucket/tree")
    (tree / "nested/dir/file.txt").unlink()
    rclone("sync", str(tree), "sos:rclone-bucket/tree")
    assert "file.txt" not in rclone("ls", "sos:rclone-bucket")
    rclone("purge", "sos:rclone-bucket")


# ---------------------------------------------------------------- addressing

def test_virtual_hosted_style_addressing(tmp_path):
    c = Cluster(tmp_path)
    c.brain.args += ["--domain", "s3.sos.test"]
    c.start()
    try:
        host = f"vhost-bucket.s3.sos.test:{c.s3_port}"
        response, _ = raw_request(c, "PUT", "/", b"", {"Host": host})
        assert response.status == 200
        response, _ = raw_request(c, "PUT", "/dir/key.txt", b"virtual", {"Host": host})
        assert response.status == 200
        response, body = raw_request(c, "GET", "/vhost-bucket/dir/key.txt")
        assert response.status == 200 and body == b"virtual"
        response, body = raw_request(c, "GET", "/?list-type=2", b"", {"Host": host})
        assert b"<Key>dir/key.txt</Key>" in body
    finally:
        c.stop()


def test_list_buckets_pages_by_prefix_and_token(cluster, s3):
    names = [f"paged-{c}" for c in "abcde"]
    for name in names:
        s3.create_bucket(Bucket=name)
    first = s3.list_buckets(Prefix="paged-", MaxBuckets=2)
    assert [b["Name"] for b in first["Buckets"]] == names[:2] and first["Prefix"] == "paged-"
    second = s3.list_buckets(Prefix="paged-", MaxBuckets=2, ContinuationToken=first["ContinuationToken"])
    third = s3.list_buckets(Prefix="paged-", MaxBuckets=2, ContinuationToken=second["ContinuationToken"])
    assert [b["Name"] for b in second["Buckets"] + third["Buckets"]] == names[2:]
    assert "ContinuationToken" not in third
    pages = s3.get_paginator("list_buckets").paginate(Prefix="paged-", PaginationConfig={"PageSize": 3})
    assert [b["Name"] for page in pages for b in page["Buckets"]] == names
    assert "ContinuationToken" not in s3.list_buckets()  # every bucket fits one page
    with pytest.raises(ClientError) as e:
        s3.list_buckets(ContinuationToken="!!")
    assert code(e) == "InvalidArgument" and status(e) == 400
    for query in ("max-buckets=0", "max-buckets=10001", "max-buckets=x"):  # boto3 would refuse to send these
        response, body = raw_request(cluster, "GET", "/?" + query)
        assert response.status == 400 and b"<Code>InvalidArgument</Code>" in body


def test_a_plain_put_without_content_length_is_411(cluster, s3, bucket):
    """Transfer-Encoding: chunked with no Content-Length and no aws-chunked framing, as S3 refuses it."""
    conn = http.client.HTTPConnection("127.0.0.1", cluster.s3_port, timeout=30)
    signed = sigv4_headers("PUT", f"/{bucket}/streamed", f"127.0.0.1:{cluster.s3_port}")
    conn.putrequest("PUT", f"/{bucket}/streamed", skip_host=True, skip_accept_encoding=True)
    for name, value in {"Host": f"127.0.0.1:{cluster.s3_port}", **signed, "Transfer-Encoding": "chunked"}.items():
        conn.putheader(name, value)
    conn.endheaders()
    conn.send(b"5\r\nhello\r\n0\r\n\r\n")
    response = conn.getresponse()
    body = response.read()
    conn.close()
    assert response.status == 411 and b"<Code>MissingContentLength</Code>" in body
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="streamed")
    assert status(e) == 404


def test_non_ascii_metadata_and_repeated_headers(cluster, s3, bucket):
    """Non-ASCII user metadata comes back as an RFC 2047 encoded word, whether it was sent as raw
    UTF-8 or encoded; a header sent twice is stored with its values joined by ", "."""
    for key, sent in (("raw", "café".encode()), ("word", b"=?UTF-8?B?Y2Fmw6k=?=")):
        conn = http.client.HTTPConnection("127.0.0.1", cluster.s3_port, timeout=30)
        signed = sigv4_headers("PUT", f"/{bucket}/{key}", f"127.0.0.1:{cluster.s3_port}")
        conn.putrequest("PUT", f"/{bucket}/{key}", skip_host=True, skip_accept_encoding=True)
        for name, value in {"Host": f"127.0.0.1:{cluster.s3_port}", **signed, "Content-Length": "1"}.items():
            conn.putheader(name, value)
        conn.putheader("x-amz-meta-city", sent)
        conn.putheader("x-amz-meta-ascii", "plain")
        conn.putheader("Cache-Control", "no-cache")
        conn.putheader("Cache-Control", "no-store")
        conn.endheaders()
        conn.send(b"x")
        response = conn.getresponse()
        response.read()
        conn.close()
        assert response.status == 200, key
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["Metadata"] == {"city": "=?UTF-8?B?Y2Fmw6k=?=", "ascii": "plain"}, key
        assert head["CacheControl"] == "no-cache, no-store"


def test_a_part_uploaded_again_after_later_parts_is_the_one_completed(s3, bucket):
    upload = s3.create_multipart_upload(Bucket=bucket, Key="reupload")["UploadId"]
    first = s3.upload_part(Bucket=bucket, Key="reupload", UploadId=upload, PartNumber=1, Body=b"a" * (5 * MiB))["ETag"]
    second = s3.upload_part(Bucket=bucket, Key="reupload", UploadId=upload, PartNumber=2, Body=b"tail")["ETag"]
    again = s3.upload_part(Bucket=bucket, Key="reupload", UploadId=upload, PartNumber=1, Body=b"b" * (5 * MiB))["ETag"]
    assert again != first
    stale = {"Parts": [{"PartNumber": 1, "ETag": first}, {"PartNumber": 2, "ETag": second}]}
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="reupload", UploadId=upload, MultipartUpload=stale)
    assert code(e) == "InvalidPart"
    current = {"Parts": [{"PartNumber": 1, "ETag": again}, {"PartNumber": 2, "ETag": second}]}
    s3.complete_multipart_upload(Bucket=bucket, Key="reupload", UploadId=upload, MultipartUpload=current)
    assert s3.get_object(Bucket=bucket, Key="reupload")["Body"].read() == b"b" * (5 * MiB) + b"tail"
