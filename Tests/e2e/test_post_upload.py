"""Browser-based POST uploads (`POST /bucket`, multipart/form-data): forms built by the test as a
browser sends them (curl -F, requests), signed with boto3's generate_presigned_post (SigV4) or by
hand (SigV2, and policies boto3 would not write); each policy condition and error provoked, and
nothing stored by a refused form."""
import base64
import datetime
import hashlib
import hmac
import json
import os
import socket
import subprocess
import xml.etree.ElementTree as ET

import boto3
import pytest
import requests
from botocore.config import Config

from harness import ROOT_ACCESS_KEY, ROOT_SECRET_KEY, Cluster, admin, signing_key
from test_keys import client


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("post"), agents=1).start()
    s3 = c.boto3()
    s3.create_bucket(Bucket="forms")
    yield c
    c.stop()


def sigv4(cluster):
    """boto3 signs forms with SigV2 by default for a custom endpoint (as it does URLs); this one with SigV4."""
    return boto3.client(
        "s3", endpoint_url=cluster.endpoint, aws_access_key_id=ROOT_ACCESS_KEY, aws_secret_access_key=ROOT_SECRET_KEY,
        region_name="us-east-1", config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))


def keys_in(cluster, bucket):
    return sorted(o["Key"] for o in cluster.boto3().list_objects_v2(Bucket=bucket).get("Contents", []))


def post(cluster, bucket, fields, content, filename="upload.bin", content_type="application/octet-stream"):
    """A form as a browser sends it: the fields in order, the file last."""
    files = [(name, (None, value)) for name, value in fields.items()]
    files.append(("file", (filename, content, content_type)))
    return requests.post(f"{cluster.endpoint}/{bucket}", files=files, allow_redirects=False, timeout=60)


def error_code(response):
    return ET.fromstring(response.content).find("Code").text


def v4_fields(policy, access_key=ROOT_ACCESS_KEY, secret_key=ROOT_SECRET_KEY, now=None):
    """The fields of a form signed with SigV4 by hand: policy conditions boto3 would not write."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    date = now.strftime("%Y%m%d")
    fields = {"x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-credential": f"{access_key}/{date}/us-east-1/s3/aws4_request",
              "x-amz-date": now.strftime("%Y%m%dT%H%M%SZ")}
    policy = dict(policy)
    policy["conditions"] = policy["conditions"] + [{name: value} for name, value in fields.items()]
    encoded = base64.b64encode(json.dumps(policy).encode()).decode()
    fields["policy"] = encoded
    fields["x-amz-signature"] = hmac.new(signing_key(secret_key, date), encoded.encode(), hashlib.sha256).hexdigest()
    return fields


def expiring(seconds):
    return (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")


def test_boto3_presigned_post_uploads_with_curl_and_keeps_the_fields(cluster, tmp_path):
    s3 = cluster.boto3()
    presigned = sigv4(cluster).generate_presigned_post(
        "forms", "uploads/${filename}",
        Fields={"success_action_status": "201", "Content-Type": "text/plain", "x-amz-meta-origin": "form"},
        Conditions=[{"success_action_status": "201"}, ["starts-with", "$Content-Type", "text/"],
                    {"x-amz-meta-origin": "form"}, ["content-length-range", 1, 10 << 20]],
        ExpiresIn=600)
    note = tmp_path / "notes.txt"
    note.write_bytes(b"posted from a form\n")
    form = []
    for name, value in presigned["fields"].items():
        form += ["-F", f"{name}={value}"]
    result = subprocess.run(
        ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", *form, "-F", f"file=@{note};type=text/plain",
         presigned["url"]], capture_output=True, timeout=60)
    body, status = result.stdout.rsplit(b"\n", 1)
    assert status == b"201", result
    answer = ET.fromstring(body)
    assert answer.tag == "PostResponse"
    assert answer.find("Bucket").text == "forms"
    assert answer.find("Key").text == "uploads/notes.txt"
    assert answer.find("ETag").text == '"%s"' % hashlib.md5(note.read_bytes()).hexdigest()
    got = s3.get_object(Bucket="forms", Key="uploads/notes.txt")
    assert got["Body"].read() == note.read_bytes()
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"origin": "form"}
    assert "x-amz-signature" in presigned["fields"]


def test_a_form_tags_its_object(cluster):
    tagging = "<Tagging><TagSet><Tag><Key>source</Key><Value>web form</Value></Tag></TagSet></Tagging>"
    presigned = sigv4(cluster).generate_presigned_post(
        "forms", "tagged.txt", Fields={"tagging": tagging}, Conditions=[{"tagging": tagging}], ExpiresIn=600)
    answer = post(cluster, "forms", presigned["fields"], b"tagged by its form")
    assert answer.status_code == 204, answer.text
    tags = cluster.boto3().get_object_tagging(Bucket="forms", Key="tagged.txt")["TagSet"]
    assert tags == [{"Key": "source", "Value": "web form"}]
    bad = "<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>"  # a tag without a value
    presigned = sigv4(cluster).generate_presigned_post(
        "forms", "untagged.txt", Fields={"tagging": bad}, Conditions=[{"tagging": bad}], ExpiresIn=600)
    refused = post(cluster, "forms", presigned["fields"], b"x")
    assert refused.status_code == 400 and error_code(refused) == "MalformedXML"
    assert "untagged.txt" not in keys_in(cluster, "forms")


def test_a_large_file_streams_through_and_boundary_like_bytes_stay_data(cluster):
    s3 = cluster.boto3()
    presigned = s3.generate_presigned_post("forms", "big.bin", ExpiresIn=600)
    # Bigger than a chunk (1 MiB here), with what looks like a delimiter inside the data.
    content = os.urandom(3 << 20) + b"\r\n--" + os.urandom(1000) + b"\r\n--notTheBoundary\r\n" + os.urandom(5000)
    response = post(cluster, "forms", presigned["fields"], content)
    assert response.status_code == 204, response.text
    assert response.headers["ETag"] == '"%s"' % hashlib.md5(content).hexdigest()
    assert response.headers["Location"].endswith("/forms/big.bin")
    assert s3.get_object(Bucket="forms", Key="big.bin")["Body"].read() == content


def test_success_action_redirect_sends_the_browser_on(cluster):
    s3 = cluster.boto3()
    target = "https://app.example/done?from=upload"
    presigned = s3.generate_presigned_post(
        "forms", "redirected.txt", Fields={"success_action_redirect": target},
        Conditions=[{"success_action_redirect": target}], ExpiresIn=600)
    response = post(cluster, "forms", presigned["fields"], b"hello")
    assert response.status_code == 303, response.text
    etag = '"%s"' % hashlib.md5(b"hello").hexdigest()
    assert response.headers["Location"] == (
        target + "&bucket=forms&key=redirected.txt&etag=" + requests.utils.quote(etag, safe=""))
    assert s3.get_object(Bucket="forms", Key="redirected.txt")["Body"].read() == b"hello"


def test_a_form_its_policy_does_not_allow_is_refused_and_stores_nothing(cluster):
    s3 = cluster.boto3()
    before = keys_in(cluster, "forms")
    presigned = sigv4(cluster).generate_presigned_post(
        "forms", "limited.txt", Fields={"Content-Type": "text/plain"},
        Conditions=[["starts-with", "$Content-Type", "text/"], ["content-length-range", 10, 100]], ExpiresIn=600)
    fields = presigned["fields"]
    # A field value the policy does not allow.
    refused = post(cluster, "forms", dict(fields, **{"Content-Type": "image/png"}), b"0123456789AB")
    assert (refused.status_code, error_code(refused)) == (403, "AccessDenied")
    assert b"Policy Condition failed" in refused.content
    # A field the policy does not name.
    extra = post(cluster, "forms", dict(fields, **{"x-amz-meta-sneaky": "1"}), b"0123456789AB")
    assert (extra.status_code, error_code(extra)) == (403, "AccessDenied")
    assert b"x-amz-meta-sneaky" in extra.content
    # Another key than the policy's.
    other = post(cluster, "forms", dict(fields, key="elsewhere.txt"), b"0123456789AB")
    assert (other.status_code, error_code(other)) == (403, "AccessDenied")
    # Sizes outside content-length-range.
    large = post(cluster, "forms", fields, b"x" * 101)
    assert (large.status_code, error_code(large)) == (400, "EntityTooLarge")
    small = post(cluster, "forms", fields, b"x" * 9)
    assert (small.status_code, error_code(small)) == (400, "EntityTooSmall")
    # A signature that is not the policy's, and a policy changed after signing.
    tampered = dict(fields, **{"x-amz-signature": "0" * 64})
    forged = post(cluster, "forms", tampered, b"0123456789AB")
    assert (forged.status_code, error_code(forged)) == (403, "SignatureDoesNotMatch")
    document = json.loads(base64.b64decode(fields["policy"]))
    document["conditions"] = [c for c in document["conditions"] if not (isinstance(c, list) and c[0] == "content-length-range")]
    widened = dict(fields, policy=base64.b64encode(json.dumps(document).encode()).decode())
    loosened = post(cluster, "forms", widened, b"x" * 1000)
    assert (loosened.status_code, error_code(loosened)) == (403, "SignatureDoesNotMatch")
    assert keys_in(cluster, "forms") == before
    # Within the policy, it is stored.
    assert post(cluster, "forms", fields, b"0123456789AB").status_code == 204
    assert s3.get_object(Bucket="forms", Key="limited.txt")["Body"].read() == b"0123456789AB"


def test_expired_policy_and_unknown_key_are_refused(cluster):
    policy = {"expiration": expiring(-60), "conditions": [{"bucket": "forms"}, {"key": "late.txt"}]}
    late = post(cluster, "forms", dict(v4_fields(policy), key="late.txt"), b"late")
    assert (late.status_code, error_code(late)) == (403, "AccessDenied")
    assert b"Policy expired" in late.content
    policy["expiration"] = expiring(600)
    unknown = post(cluster, "forms", dict(v4_fields(policy, access_key="NOSUCHKEY"), key="late.txt"), b"late")
    assert (unknown.status_code, error_code(unknown)) == (403, "InvalidAccessKeyId")
    assert "late.txt" not in keys_in(cluster, "forms")
    assert post(cluster, "forms", dict(v4_fields(policy), key="late.txt"), b"late").status_code == 204


def test_sigv2_form_is_accepted(cluster):
    # As boto3 signs a form by default here.
    default = cluster.boto3().generate_presigned_post("forms", "v2/boto3.txt", ExpiresIn=600)["fields"]
    assert "signature" in default and "AWSAccessKeyId" in default
    assert post(cluster, "forms", default, b"boto3 v2").status_code == 204
    policy = base64.b64encode(json.dumps({
        "expiration": expiring(600),
        "conditions": [{"bucket": "forms"}, ["starts-with", "$key", "v2/"], {"acl": "public-read"}]}).encode()).decode()
    signature = base64.b64encode(hmac.new(ROOT_SECRET_KEY.encode(), policy.encode(), hashlib.sha1).digest()).decode()
    fields = {"key": "v2/${filename}", "acl": "public-read", "AWSAccessKeyId": ROOT_ACCESS_KEY, "policy": policy,
              "signature": signature}
    response = post(cluster, "forms", fields, b"signed the old way", filename="old.txt")
    assert response.status_code == 204, response.text
    # The form's canned ACL holds: anyone may read it.
    assert requests.get(f"{cluster.endpoint}/forms/v2/old.txt", timeout=10).content == b"signed the old way"
    wrong = post(cluster, "forms", dict(fields, signature=base64.b64encode(b"x" * 20).decode()), b"nope", filename="no.txt")
    assert (wrong.status_code, error_code(wrong)) == (403, "SignatureDoesNotMatch")


def test_anonymous_forms_need_a_bucket_that_allows_them_and_keys_their_permissions(cluster):
    s3 = cluster.boto3()
    anonymous = post(cluster, "forms", {"key": "anon.txt"}, b"who")
    assert (anonymous.status_code, error_code(anonymous)) == (403, "AccessDenied")
    s3.create_bucket(Bucket="dropbox", ACL="public-read-write")
    assert post(cluster, "dropbox", {"key": "anon.txt"}, b"who").status_code == 204
    assert s3.get_object(Bucket="dropbox", Key="anon.txt")["Body"].read() == b"who"
    # A key allowed to write one bucket signs forms for that bucket only.
    created = json.loads(admin(cluster, "key", "create", "--name", "uploader", "--json"))
    admin(cluster, "key", "allow", created["accessKeyID"], "--bucket", "dropbox", "--write")
    uploader = client(cluster, created["accessKeyID"], created["secretKey"])
    mine = uploader.generate_presigned_post("dropbox", "mine.txt", ExpiresIn=600)
    assert post(cluster, "dropbox", mine["fields"], b"mine").status_code == 204
    theirs = uploader.generate_presigned_post("forms", "theirs.txt", ExpiresIn=600)
    refused = post(cluster, "forms", theirs["fields"], b"theirs")
    assert (refused.status_code, error_code(refused)) == (403, "AccessDenied")
    assert "theirs.txt" not in keys_in(cluster, "forms")


def test_malformed_forms_get_s3_errors(cluster):
    s3 = cluster.boto3()
    fields = s3.generate_presigned_post("forms", "malformed.txt", ExpiresIn=600)["fields"]
    not_a_form = requests.post(f"{cluster.endpoint}/forms", data=b"key=x", timeout=10,
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (not_a_form.status_code, error_code(not_a_form)) == (412, "PreconditionFailed")
    no_file = requests.post(f"{cluster.endpoint}/forms", files=[(n, (None, v)) for n, v in fields.items()], timeout=10)
    assert (no_file.status_code, error_code(no_file)) == (400, "IncorrectNumberOfFilesInPostRequest")
    no_key = post(cluster, "forms", {name: value for name, value in fields.items() if name != "key"}, b"k")
    assert (no_key.status_code, error_code(no_key)) == (400, "InvalidArgument")
    huge = post(cluster, "forms", dict(fields, **{"x-ignore-padding": "p" * (70 << 10)}), b"k")
    assert (huge.status_code, error_code(huge)) == (400, "MaxPostPreDataLengthExceededError")
    garbage = requests.post(f"{cluster.endpoint}/forms", data=b"--xyz\r\nno headers end",
                            headers={"Content-Type": "multipart/form-data; boundary=xyz"}, timeout=10)
    assert garbage.status_code == 400
    assert "malformed.txt" not in keys_in(cluster, "forms")


def test_a_body_that_ends_inside_the_file_stores_nothing(cluster):
    """A truncated upload (the body ends before the file's closing delimiter) is refused whole."""
    s3 = cluster.boto3()
    fields = s3.generate_presigned_post("forms", "truncated.bin", ExpiresIn=600)["fields"]
    boundary = "trunc8"
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{n}"\r\n\r\n{v}\r\n'.encode() for n, v in fields.items())
    body += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="t.bin"\r\n\r\n'.encode()
    body += b"partial file bytes" * 100
    port = int(cluster.endpoint.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        head = (f"POST /forms HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nTransfer-Encoding: chunked\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n")
        sock.sendall(head.encode() + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
        answer = b""
        while b"</Error>" not in answer:
            piece = sock.recv(65536)
            if not piece:
                break
            answer += piece
    assert answer.startswith(b"HTTP/1.1 400"), answer
    assert b"<Code>MalformedPOSTRequest</Code>" in answer
    assert "truncated.bin" not in keys_in(cluster, "forms")
