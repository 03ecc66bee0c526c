"""The console's HTTP interface without a browser (docs/console.md): sessions and their cookie, the
header that keeps other sites from acting with a session, a key's console rights equal to its S3 rights,
share links, and the root-only cluster and key requests. test_console.py drives the page itself."""
import json
import subprocess
import urllib.error
import urllib.request

import pytest

from harness import ROOT_ACCESS_KEY, ROOT_SECRET_KEY, Cluster, admin


class Browser:
    """A cookie jar and the console's base URL: what a browser keeps between requests."""

    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        self.cookie = None

    def call(self, method, path, body=None, console_header=True, raw=None, headers=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if console_header:
            request.add_header("X-SOS-Console", "1")
        if self.cookie:
            request.add_header("Cookie", self.cookie)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, head, payload = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, head, payload = error.code, error.headers, error.read()
        set_cookie = head.get("Set-Cookie")
        if set_cookie:
            self.cookie = set_cookie.split(";")[0]
        return status, head, payload

    def sign_in(self, access_key, secret_key):
        return self.call("POST", "/api/session", {"accessKey": access_key, "secretKey": secret_key})


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, agents=1).start()
    yield c
    c.stop()


def test_sessions_are_cookies_that_never_carry_the_secret(cluster):
    browser = Browser(cluster.console_port)
    assert browser.call("GET", "/api/session")[0] == 401
    status, _, body = browser.sign_in(ROOT_ACCESS_KEY, "wrong-secret")
    assert status == 401 and json.loads(body)["error"] == "wrong access key or secret"
    status, _, body = browser.sign_in("NOSUCHKEY", "whatever-secret")
    assert status == 401 and json.loads(body)["error"] == "wrong access key or secret"
    assert browser.cookie is None
    status, head, body = browser.sign_in(ROOT_ACCESS_KEY, ROOT_SECRET_KEY)
    assert status == 200 and json.loads(body) == {"accessKey": ROOT_ACCESS_KEY, "isRoot": True, "expiresInSeconds": 43200}
    cookie = head["Set-Cookie"]
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"):
        assert attribute in cookie
    token = browser.cookie.split("=", 1)[1]
    assert len(token) == 64 and ROOT_SECRET_KEY not in cookie
    status, _, body = browser.call("GET", "/api/session")
    assert status == 200 and json.loads(body)["isRoot"] is True
    # The page and its assets, with the headers that keep it from being framed or sniffed.
    status, head, page = browser.call("GET", "/")
    assert status == 200 and b'id="signin"' in page and "frame-ancestors 'none'" in head["Content-Security-Policy"]
    assert head["X-Content-Type-Options"] == "nosniff"
    for asset in ("console.css", "core.js", "objects.js", "admin.js"):
        assert browser.call("GET", f"/assets/{asset}")[0] == 200
    # Signing out ends the session for good, even for a copy of the cookie.
    stolen = browser.cookie
    assert browser.call("DELETE", "/api/session")[0] == 204
    browser.cookie = stolen
    assert browser.call("GET", "/api/session")[0] == 401
    assert ROOT_SECRET_KEY not in cluster.brain.log()


def test_changes_need_the_console_header(cluster):
    browser = Browser(cluster.console_port)
    browser.sign_in(ROOT_ACCESS_KEY, ROOT_SECRET_KEY)
    # What a form on another site could send: the cookie, but not the header.
    status, _, body = browser.call("PUT", "/s3/forged", console_header=False)
    assert status == 403 and b"X-SOS-Console" in body
    assert browser.call("POST", "/api/keys", {"action": "create", "name": "x"}, console_header=False)[0] == 403
    assert browser.call("PUT", "/s3/made-here")[0] == 200
    buckets = {b["Name"] for b in cluster.boto3().list_buckets()["Buckets"]}
    assert buckets == {"made-here"}


def test_a_key_may_do_in_the_console_exactly_what_it_may_do_over_s3(cluster):
    s3 = cluster.boto3()
    for bucket in ("mine", "theirs"):
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"in " + bucket.encode())
    key = json.loads(admin(cluster, "key", "create", "--name", "reader", "--json"))
    admin(cluster, "key", "allow", key["accessKeyID"], "--bucket", "mine", "--read")
    browser = Browser(cluster.console_port)
    status, _, body = browser.sign_in(key["accessKeyID"], key["secretKey"])
    assert status == 200 and json.loads(body)["isRoot"] is False
    status, _, body = browser.call("GET", "/api/buckets")
    assert status == 200
    listed = json.loads(body)["buckets"]
    assert [b["name"] for b in listed] == ["mine"]
    assert listed[0]["objects"] == 1 and listed[0]["bytes"] == len(b"in mine") and listed[0]["versioning"] == ""
    assert browser.call("GET", "/s3/mine/doc.txt")[2] == b"in mine"
    status, head, _ = browser.call("GET", "/s3/mine/doc.txt")
    assert head["Content-Disposition"] == "attachment" and "sandbox" in head["Content-Security-Policy"]
    assert browser.call("GET", "/s3/theirs/doc.txt")[0] == 403
    assert browser.call("PUT", "/s3/mine/new.txt", raw=b"no write")[0] == 403
    assert browser.call("DELETE", "/s3/mine/doc.txt")[0] == 403
    # Root-only requests.
    assert browser.call("GET", "/api/cluster")[0] == 403
    assert browser.call("POST", "/api/keys", {"action": "list"})[0] == 403
    # Deleting the key ends its sessions at once.
    admin(cluster, "key", "delete", key["accessKeyID"])
    assert browser.call("GET", "/api/buckets")[0] == 401
    assert browser.call("GET", "/s3/mine/doc.txt")[0] == 401


def test_share_links_cluster_and_keys(cluster):
    s3 = cluster.boto3()
    s3.create_bucket(Bucket="shared")
    s3.put_object(Bucket="shared", Key="dir/a file.txt", Body=b"share me")
    browser = Browser(cluster.console_port)
    browser.sign_in(ROOT_ACCESS_KEY, ROOT_SECRET_KEY)
    status, _, body = browser.call("POST", "/api/presign", {"bucket": "shared", "key": "dir/a file.txt", "expiresSeconds": 600})
    assert status == 200
    url = json.loads(body)["url"]
    assert url.startswith(f"http://127.0.0.1:{cluster.s3_port}/shared/dir/a%20file.txt?") and "X-Amz-Signature=" in url
    fetched = subprocess.run(["curl", "-sS", "--fail", url], capture_output=True, timeout=30)
    assert fetched.returncode == 0 and fetched.stdout == b"share me"
    tampered = subprocess.run(["curl", "-sS", "--fail", url.replace("a%20file", "b%20file")], capture_output=True, timeout=30)
    assert tampered.returncode != 0
    assert browser.call("POST", "/api/presign", {"bucket": "shared", "key": "k", "expiresSeconds": 604801})[0] == 400
    assert browser.call("POST", "/api/presign", raw=b"not json")[0] == 400
    # The cluster as `sos admin status` has it.
    status, _, body = browser.call("GET", "/api/cluster")
    assert status == 200 and [a["id"] for a in json.loads(body)["agents"]] == ["agent-1"]
    assert browser.call("POST", "/api/cluster/drain", {"agent": "no-such-agent"})[0] == 404
    # Keys as `sos admin key` has them: the secret only in create's answer.
    status, _, body = browser.call("POST", "/api/keys", {"action": "create", "name": "from-console"})
    created = json.loads(body)["keys"][0]
    assert status == 200 and created["secretKey"]
    status, _, body = browser.call(
        "POST", "/api/keys", {"action": "allow", "accessKeyID": created["accessKeyID"], "bucket": "shared", "read": True})
    assert status == 200
    listed = json.loads(browser.call("POST", "/api/keys", {"action": "list"})[2])["keys"]
    mine = next(k for k in listed if k["accessKeyID"] == created["accessKeyID"])
    assert mine["buckets"] == [{"bucket": "shared", "permissions": ["read"]}] and mine.get("secretKey") is None
    assert browser.call("POST", "/api/keys", {"action": "delete", "accessKeyID": "NOPE-NOT-A-KEY"})[0] == 404
