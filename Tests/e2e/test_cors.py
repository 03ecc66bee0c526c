"""CORS as S3 documents it: Put/Get/DeleteBucketCors with boto3, a browser's preflight OPTIONS
answered from the bucket's rules (origins with wildcards, methods, allowed and exposed headers, max
age; 403 when no rule allows it), and Access-Control-* headers on the actual responses."""
import pytest
import requests

from harness import Cluster
from test_keys import refused

BUCKET = "site"
RULES = {"CORSRules": [
    {"ID": "app", "AllowedOrigins": ["https://app.example.com", "https://*.example.org"], "AllowedMethods": ["GET", "PUT"],
     "AllowedHeaders": ["content-type", "x-amz-*"], "ExposeHeaders": ["ETag", "x-amz-version-id"], "MaxAgeSeconds": 600},
    {"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "HEAD"]},
]}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("cors"), agents=1).start()
    s3 = c.boto3()
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="index.html", Body=b"<p>hi</p>", ACL="public-read")
    yield c
    c.stop()


def preflight(cluster, origin, method, headers=None, key="index.html"):
    sent = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        sent["Access-Control-Request-Headers"] = headers
    return requests.options(f"{cluster.endpoint}/{BUCKET}/{key}", headers=sent, timeout=10)


def test_cors_configuration_is_set_read_and_deleted(cluster):
    s3 = cluster.boto3()
    refused(lambda: s3.get_bucket_cors(Bucket=BUCKET), "NoSuchCORSConfiguration", 404)
    assert preflight(cluster, "https://app.example.com", "GET").status_code == 403  # no configuration
    s3.put_bucket_cors(Bucket=BUCKET, CORSConfiguration=RULES)
    rules = s3.get_bucket_cors(Bucket=BUCKET)["CORSRules"]
    assert rules[0]["AllowedOrigins"] == RULES["CORSRules"][0]["AllowedOrigins"] and rules[0]["MaxAgeSeconds"] == 600
    assert rules[1]["AllowedMethods"] == ["GET", "HEAD"]
    bad = {"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]}
    refused(lambda: s3.put_bucket_cors(Bucket=BUCKET, CORSConfiguration=bad), "InvalidRequest", 400)
    refused(lambda: s3.put_bucket_cors(Bucket="no-such-bucket", CORSConfiguration=RULES), "NoSuchBucket", 404)
    assert s3.get_bucket_cors(Bucket=BUCKET)["CORSRules"][1]["AllowedMethods"] == ["GET", "HEAD"]  # unchanged


def test_preflight_is_answered_from_the_first_matching_rule(cluster):
    cluster.boto3().put_bucket_cors(Bucket=BUCKET, CORSConfiguration=RULES)
    allowed = preflight(cluster, "https://app.example.com", "PUT", "Content-Type, X-Amz-Meta-Owner")
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert allowed.headers["Access-Control-Allow-Methods"] == "GET, PUT"
    assert allowed.headers["Access-Control-Allow-Headers"] == "content-type, x-amz-meta-owner"
    assert allowed.headers["Access-Control-Max-Age"] == "600"
    assert allowed.headers["Access-Control-Expose-Headers"] == "ETag, x-amz-version-id"
    assert allowed.headers["Access-Control-Allow-Credentials"] == "true"
    # A wildcard origin; the catch-all rule for GET from anywhere answers "*".
    assert preflight(cluster, "https://docs.example.org", "PUT").status_code == 200
    anywhere = preflight(cluster, "https://elsewhere.test", "GET")
    assert anywhere.status_code == 200 and anywhere.headers["Access-Control-Allow-Origin"] == "*"
    # No rule allows PUT from elsewhere, a DELETE, or a header outside the list.
    for origin, method, headers in [("https://elsewhere.test", "PUT", None), ("https://app.example.com", "DELETE", None),
                                    ("https://app.example.com", "PUT", "Authorization-Extra")]:
        denied = preflight(cluster, origin, method, headers)
        assert denied.status_code == 403 and "<Code>AccessForbidden</Code>" in denied.text, (origin, method)
        assert "Access-Control-Allow-Origin" not in denied.headers
    missing = requests.options(f"{cluster.endpoint}/{BUCKET}/index.html", timeout=10)
    assert missing.status_code == 400


def test_actual_responses_carry_the_cors_headers(cluster):
    cluster.boto3().put_bucket_cors(Bucket=BUCKET, CORSConfiguration=RULES)
    got = requests.get(f"{cluster.endpoint}/{BUCKET}/index.html", headers={"Origin": "https://app.example.com"}, timeout=10)
    assert got.status_code == 200 and got.content == b"<p>hi</p>"
    assert got.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert got.headers["Access-Control-Expose-Headers"] == "ETag, x-amz-version-id"
    plain = requests.get(f"{cluster.endpoint}/{BUCKET}/index.html", timeout=10)
    assert "Access-Control-Allow-Origin" not in plain.headers
    # An error a page may read gets them too; an origin no rule allows gets none.
    missing = requests.get(f"{cluster.endpoint}/{BUCKET}/missing", headers={"Origin": "https://elsewhere.test"}, timeout=10)
    assert missing.status_code == 403 and missing.headers["Access-Control-Allow-Origin"] == "*"
    put = requests.put(f"{cluster.endpoint}/{BUCKET}/x", data=b"x", headers={"Origin": "https://elsewhere.test"}, timeout=10)
    assert put.status_code == 403 and "Access-Control-Allow-Origin" not in put.headers


def test_cors_survives_a_restart_and_delete_removes_it(cluster):
    s3 = cluster.boto3()
    s3.put_bucket_cors(Bucket=BUCKET, CORSConfiguration=RULES)
    cluster.restart()
    s3 = cluster.boto3()
    assert len(s3.get_bucket_cors(Bucket=BUCKET)["CORSRules"]) == 2
    assert preflight(cluster, "https://app.example.com", "PUT").status_code == 200
    assert s3.delete_bucket_cors(Bucket=BUCKET)["ResponseMetadata"]["HTTPStatusCode"] == 204
    refused(lambda: s3.get_bucket_cors(Bucket=BUCKET), "NoSuchCORSConfiguration", 404)
    assert preflight(cluster, "https://app.example.com", "GET").status_code == 403
