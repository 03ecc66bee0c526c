"""The S3 data features through aws-cli (`aws s3api`), as operators script them: Object Lock,
retention and legal holds, CORS, lifecycle, tagging by version, GetObjectAttributes, and the errors
aws-cli shows for what is refused."""
import datetime
import json

import pytest

from harness import Cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("cli"), agents=1).start()
    yield c
    c.stop()


def api(cluster, *args):
    """`aws s3api ARGS` as JSON (empty when the command prints nothing)."""
    out = cluster.aws("s3api", *args, "--output", "json").stdout
    return json.loads(out) if out.strip() else {}


def refused(cluster, code, *args):
    result = cluster.aws("s3api", *args, check=False)
    assert result.returncode != 0 and f"({code})" in result.stderr, result.stderr


def test_object_lock_retention_and_legal_hold(cluster, tmp_path):
    api(cluster, "create-bucket", "--bucket", "cli-vault", "--object-lock-enabled-for-bucket")
    config = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}}
    api(cluster, "put-object-lock-configuration", "--bucket", "cli-vault", "--object-lock-configuration", json.dumps(config))
    assert api(cluster, "get-object-lock-configuration", "--bucket", "cli-vault")["ObjectLockConfiguration"] == config
    body = tmp_path / "doc.txt"
    body.write_text("locked\n")
    version = api(cluster, "put-object", "--bucket", "cli-vault", "--key", "doc", "--body", str(body))["VersionId"]
    assert api(cluster, "get-object-retention", "--bucket", "cli-vault", "--key", "doc")["Retention"]["Mode"] == "GOVERNANCE"
    refused(cluster, "AccessDenied", "delete-object", "--bucket", "cli-vault", "--key", "doc", "--version-id", version)
    api(cluster, "put-object-legal-hold", "--bucket", "cli-vault", "--key", "doc", "--legal-hold", "Status=ON")
    assert api(cluster, "get-object-legal-hold", "--bucket", "cli-vault", "--key", "doc")["LegalHold"]["Status"] == "ON"
    refused(cluster, "AccessDenied", "delete-object", "--bucket", "cli-vault", "--key", "doc", "--version-id", version,
            "--bypass-governance-retention")
    api(cluster, "put-object-legal-hold", "--bucket", "cli-vault", "--key", "doc", "--legal-hold", "Status=OFF")
    api(cluster, "delete-object", "--bucket", "cli-vault", "--key", "doc", "--version-id", version, "--bypass-governance-retention")
    assert "Versions" not in api(cluster, "list-object-versions", "--bucket", "cli-vault")
    until = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    refused(cluster, "InvalidArgument", "put-object", "--bucket", "cli-vault", "--key", "x", "--body", str(body),
            "--object-lock-mode", "COMPLIANCE")  # a mode without a date
    api(cluster, "put-object", "--bucket", "cli-vault", "--key", "kept", "--body", str(body),
        "--object-lock-mode", "COMPLIANCE", "--object-lock-retain-until-date", until)
    assert api(cluster, "head-object", "--bucket", "cli-vault", "--key", "kept")["ObjectLockMode"] == "COMPLIANCE"


def test_cors_lifecycle_tagging_and_attributes(cluster, tmp_path):
    api(cluster, "create-bucket", "--bucket", "cli-site")
    cors = {"CORSRules": [{"AllowedOrigins": ["https://example.com"], "AllowedMethods": ["GET"], "MaxAgeSeconds": 60}]}
    api(cluster, "put-bucket-cors", "--bucket", "cli-site", "--cors-configuration", json.dumps(cors))
    assert api(cluster, "get-bucket-cors", "--bucket", "cli-site")["CORSRules"][0]["AllowedOrigins"] == ["https://example.com"]
    api(cluster, "delete-bucket-cors", "--bucket", "cli-site")
    refused(cluster, "NoSuchCORSConfiguration", "get-bucket-cors", "--bucket", "cli-site")

    lifecycle = {"Rules": [{"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 7}}]}
    api(cluster, "put-bucket-lifecycle-configuration", "--bucket", "cli-site", "--lifecycle-configuration", json.dumps(lifecycle))
    assert api(cluster, "get-bucket-lifecycle-configuration", "--bucket", "cli-site")["Rules"][0]["ID"] == "tmp"
    body = tmp_path / "page.html"
    body.write_text("<p>hi</p>")
    put = api(cluster, "put-object", "--bucket", "cli-site", "--key", "tmp/page.html", "--body", str(body))
    assert 'rule-id="tmp"' in put["Expiration"]
    api(cluster, "delete-bucket-lifecycle", "--bucket", "cli-site")
    refused(cluster, "NoSuchLifecycleConfiguration", "get-bucket-lifecycle-configuration", "--bucket", "cli-site")

    api(cluster, "put-bucket-versioning", "--bucket", "cli-site", "--versioning-configuration", "Status=Enabled")
    old = api(cluster, "put-object", "--bucket", "cli-site", "--key", "page", "--body", str(body))["VersionId"]
    api(cluster, "put-object", "--bucket", "cli-site", "--key", "page", "--body", str(body))
    api(cluster, "put-object-tagging", "--bucket", "cli-site", "--key", "page", "--version-id", old,
        "--tagging", "TagSet=[{Key=state,Value=old}]")
    assert api(cluster, "get-object-tagging", "--bucket", "cli-site", "--key", "page", "--version-id", old)["TagSet"] == [
        {"Key": "state", "Value": "old"}]
    assert api(cluster, "get-object-tagging", "--bucket", "cli-site", "--key", "page")["TagSet"] == []
    attributes = api(cluster, "get-object-attributes", "--bucket", "cli-site", "--key", "page", "--version-id", old,
                     "--object-attributes", "ETag", "ObjectSize", "StorageClass")
    assert attributes["ObjectSize"] == len("<p>hi</p>") and attributes["StorageClass"] == "STANDARD"
    assert attributes["VersionId"] == old
