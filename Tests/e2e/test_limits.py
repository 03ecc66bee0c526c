"""Long mode (SOS_E2E_LONG=1): the size limits of a single PUT, with memory bounded by
configuration rather than object size. Off by default: it moves 10 GiB through the store."""
import hashlib
import http.client
import os

import pytest

from harness import Cluster, peak_rss_bytes, sigv4_headers

LONG = os.environ.get("SOS_E2E_LONG") == "1"
GiB = 1 << 30


class PatternBody:
    """A file-like body of `size` pseudo-random bytes, made on the fly, hashed as it is read."""

    def __init__(self, size):
        self.remaining = size
        self.md5 = hashlib.md5()
        self.block = os.urandom(1 << 20)
        self.counter = 0

    def read(self, n=-1):
        n = min(self.remaining if n < 0 else n, self.remaining, 1 << 20)
        if n == 0:
            return b""
        self.counter += 1
        piece = (self.counter.to_bytes(8, "big") + self.block)[:n]
        self.remaining -= n
        self.md5.update(piece)
        return piece


@pytest.mark.skipif(not LONG, reason="long mode: set SOS_E2E_LONG=1 (5 GiB PUT and GET)")
def test_5_gib_single_put_and_get_stay_within_256_mib_rss(tmp_path):
    size = 5 * GiB
    c = Cluster(tmp_path, chunk_size="4MiB", segment_size="1GiB").start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", c.s3_port, timeout=600)
        host = f"127.0.0.1:{c.s3_port}"
        conn.request("PUT", "/limits", body=b"", headers=sigv4_headers("PUT", "/limits", host))
        conn.getresponse().read()
        body = PatternBody(size)
        conn.request("PUT", "/limits/five", body=body,
                     headers={"Content-Length": str(size), **sigv4_headers("PUT", "/limits/five", host)})
        response = conn.getresponse()
        etag = response.getheader("ETag")
        response.read()
        assert response.status == 200 and etag == f'"{body.md5.hexdigest()}"'
        conn.request("GET", "/limits/five", headers=sigv4_headers("GET", "/limits/five", host))
        response = conn.getresponse()
        md5, received = hashlib.md5(), 0
        while piece := response.read(1 << 20):
            md5.update(piece)
            received += len(piece)
        assert received == size and f'"{md5.hexdigest()}"' == etag
        for process in [c.brain, *c.agents]:
            rss = peak_rss_bytes(process.proc.pid)
            print(f"{process.name} peak RSS {rss / 2**20:.1f} MiB")
            assert rss < 256 * 1024 * 1024
    finally:
        c.stop()
