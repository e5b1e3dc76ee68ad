"""Multipart transfers, many-object transfers, atomic downloads, forced bucket deletes and transfers through faults."""

from __future__ import annotations

import hashlib
import http.client
import logging
import math
import os
import random
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.retries.standard import ExponentialBackoff

import cloudorm
from cloudorm.errors import BatchError, NotFound
from cloudorm.testing import FaultProxy
from tests.conftest import FAKE_CREDS

MiB = 1024 * 1024
SMALL_PARTS = {"multipart_threshold": 5 * MiB, "multipart_chunksize": 5 * MiB}  # S3's smallest part size


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["local", "aws"])
def small_parts(request: pytest.FixtureRequest) -> cloudorm.Session:
    """Sessions whose transfers are multipart from 5 MiB, in 5 MiB parts."""
    if request.param == "local":
        return cloudorm.Session(**SMALL_PARTS)
    return cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=request.getfixturevalue("moto_url"),
                            **SMALL_PARTS)


@pytest.fixture
def bucket(small_parts: cloudorm.Session) -> Iterator[cloudorm.Bucket]:
    b = small_parts.Bucket(unique()).save()
    yield b
    b.delete(force=True, missing_ok=True)


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shrink botocore's standard-mode back-off sleeps 20x (retry decisions are unchanged)."""
    original = ExponentialBackoff.delay_amount

    def scaled(self: ExponentialBackoff, context: Any) -> float:
        return float(original(self, context)) / 20

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", scaled)


def test_multipart_upload_download_copy(bucket: cloudorm.Bucket, tmp_path: Path) -> None:
    s = bucket.session
    data = random.Random(1).randbytes(12 * MiB)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    blob = bucket.blob("big.bin")
    with s.count_requests() as c:
        blob.upload(src, metadata={"k": "v"})
    assert c["s3.CreateMultipartUpload"] == 1 and c["s3.UploadPart"] == 3 and c["s3.CompleteMultipartUpload"] == 1
    assert blob.size == len(data) and "-" in blob.etag  # a multipart ETag
    with s.count_requests() as c:
        out = blob.download_to(tmp_path / "out" / "big.bin")
    assert c["s3.GetObject"] == 3  # ranged GETs in parallel (size known, no HEAD)
    assert sha(out.read_bytes()) == sha(data)
    assert sha(blob.download()) == sha(data)
    with s.count_requests() as c:
        copy = blob.copy_to(bucket, "copy.bin")
    assert c["s3.UploadPartCopy"] == 3
    assert copy.size == len(data) and copy.metadata == {"k": "v"} and copy.content_type == blob.content_type
    renamed = copy.rename("renamed.bin")
    assert sha(renamed.download()) == sha(data) and not copy.exists()


def test_upload_from_stream_with_progress(bucket: cloudorm.Bucket, capsys: pytest.CaptureFixture[str]) -> None:
    import io

    data = os.urandom(6 * MiB)
    blob = bucket.blob("stream.bin").upload(io.BytesIO(data), progress=True)
    assert blob.size == len(data)
    assert "stream.bin" in capsys.readouterr().err  # the tqdm bar
    assert sha(blob.download()) == sha(data)


def test_failed_download_leaves_no_partial_file(bucket: cloudorm.Bucket, tmp_path: Path) -> None:
    target = tmp_path / "never.bin"
    with pytest.raises(NotFound):
        bucket.blob("missing").download_to(target)
    assert list(tmp_path.iterdir()) == []
    # an existing file is replaced only once the new content is complete
    target.write_bytes(b"old content")
    with pytest.raises(NotFound):
        bucket.blob("missing").download_to(target)
    assert target.read_bytes() == b"old content" and list(tmp_path.iterdir()) == [target]


def test_download_cut_by_dropped_connections_leaves_no_partial_file(moto_url: str, tmp_path: Path,
                                                                    fast_backoff: None) -> None:
    data = os.urandom(11 * MiB)
    with FaultProxy(moto_url) as proxy:
        s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url, max_attempts=2, **SMALL_PARTS)
        b = s.Bucket(unique()).save()
        blob = b.blob("big").upload(data)
        blob.refresh()
        proxy.configure(rate=1.0, kinds=("drop",))  # every ranged GET fails
        with pytest.raises(cloudorm.errors.CloudError):
            blob.download_to(tmp_path / "big")
        assert list(tmp_path.iterdir()) == []
        proxy.configure(rate=0.0)
        assert sha(blob.download_to(tmp_path / "big").read_bytes()) == sha(data)
        b.delete(force=True)


class CutBodies(ThreadingHTTPServer):
    """A proxy to a moto server that sends only the first half of the first ``cuts`` GET bodies, then drops the
    connection (what a network failure mid-download looks like); ``seen`` records each GET's range headers."""

    def __init__(self, upstream: str, cuts: int) -> None:
        self.upstream = urlsplit(upstream).netloc
        self.cuts = cuts
        self.seen: list[tuple[str | None, str | None]] = []
        super().__init__(("127.0.0.1", 0), _CutHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def before_forward(self, handler: BaseHTTPRequestHandler) -> None:
        """Called with each request just before it is forwarded upstream."""


class _CutHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: CutBodies

    def relay(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.before_forward(self)
        upstream = http.client.HTTPConnection(self.server.upstream, timeout=30)
        upstream.request(self.command, self.path, body or None, dict(self.headers))
        response = upstream.getresponse()
        data = response.read()
        cut = self.command == "GET" and "?" not in self.path and self.server.cuts > 0
        if self.command == "GET":
            self.server.seen.append((self.headers.get("Range"), self.headers.get("If-Match")))
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", response.headers.get("Content-Length") or str(len(data)))
        self.end_headers()
        if cut:
            self.server.cuts -= 1
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
        elif self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = relay

    def log_message(self, *args: Any) -> None:
        pass


def test_open_resumes_a_cut_connection_where_it_stopped(moto_url: str) -> None:
    data = random.Random(3).randbytes(3 * MiB)
    proxy = CutBodies(moto_url, cuts=0)
    try:
        s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url)
        b = s.Bucket(unique()).save()
        blob = b.blob("cut.bin").upload(data)
        proxy.cuts = 2  # the first GET and the first resumed GET lose their connection halfway
        with blob.open() as f:
            assert sha(f.read()) == sha(data)
        first, second, third = proxy.seen
        half = len(data) // 2
        assert first == (None, None)
        assert second[0] is not None and second[0].startswith("bytes=") and second[1] == f'"{blob.etag}"'
        resumed_at = int(second[0][6:-1])
        assert 0 < resumed_at <= half and int(third[0][6:-1]) > resumed_at  # type: ignore[index]
        proxy.cuts = 100  # more cuts than attempts: a mapped error, not a raw botocore one
        with pytest.raises(cloudorm.errors.CloudError), blob.open() as f:
            f.read()
        proxy.cuts = 0
        b.delete(force=True)
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_upload_many_and_download_many(bucket: cloudorm.Bucket, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    s = bucket.session
    files = {f"f{i:03}.txt": f"file {i}" for i in range(40)}
    with s.count_requests() as c:
        results = bucket.upload_many(files, concurrency=16, prefix="many/", progress=True)
    assert "upload to" in capsys.readouterr().err
    assert results.ok and len(results) == 40 and c["s3.PutObject"] == 40 and c.total == 40
    assert [r.key for r in results] == [f"many/{k}" for k in files]
    assert all(r.size == len(files[r.key[5:]]) for r in results)
    dest = tmp_path / "dest"
    with s.count_requests() as c:
        got = bucket.download_many(bucket.blobs(prefix="many/"), dest, concurrency=8)
    assert got.ok and c["s3.GetObject"] == 40 and c["s3.HeadObject"] == 0  # sizes came with the listing
    for k, v in files.items():
        assert (dest / "many" / k).read_text() == v
    with s.count_requests() as c:
        got = bucket.download_many(["many/f000.txt"], tmp_path / "by-key")
    # by key, the size is unknown: the one GET tells it (no HEAD first)
    assert got.ok and c.by_operation == {"s3.GetObject": 1}


def test_concurrency_stays_within_the_connection_pool(bucket: cloudorm.Bucket,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="urllib3"):
        bucket.upload_many({f"p{i:03}": b"x" for i in range(150)}, concurrency=128).raise_for_errors()
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]  # no connection churn


def test_upload_many_paths_and_directories(bucket: cloudorm.Bucket, tmp_path: Path) -> None:
    (tmp_path / "site" / "css").mkdir(parents=True)
    (tmp_path / "site" / "index.html").write_text("<h1>hi</h1>")
    (tmp_path / "site" / "css" / "a.css").write_text("p {}")
    bucket.upload_many(tmp_path / "site", prefix="www/").raise_for_errors()
    assert [b.key for b in bucket.blobs()] == ["www/css/a.css", "www/index.html"]
    assert bucket.blob("www/index.html").content_type == "text/html"
    assert bucket.blob("www/css/a.css").content_type == "text/css"
    bucket.upload_many([tmp_path / "site" / "index.html"]).raise_for_errors()
    assert bucket.blob("index.html").read_text() == "<h1>hi</h1>"


def test_upload_many_takes_nothing_outside_the_folder_unless_asked(bucket: cloudorm.Bucket, tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    # the rule cloudorm.trees gives upload_many(dir) and Lambda bundles alike
    site, outside = tmp_path / "site", tmp_path / "outside"
    (site / "css").mkdir(parents=True)
    outside.mkdir()
    (site / "index.html").write_text("<h1>hi</h1>")
    (site / "css" / "a.css").write_text("p {}")
    (outside / "id_rsa").write_text("PRIVATE")
    (site / "style").symlink_to(site / "css", target_is_directory=True)  # inside: followed
    (site / "home.html").symlink_to(site / "index.html")                # inside: followed
    (site / "css" / "up").symlink_to(site, target_is_directory=True)     # a cycle: walked once
    (site / "gone").symlink_to(site / "nowhere")                        # dangling: skipped with a warning
    (site / "key").symlink_to(outside / "id_rsa")                       # outside: refused
    with bucket.session.count_requests() as c, pytest.raises(cloudorm.errors.InvalidInput) as e:
        bucket.upload_many(site)
    assert e.value.field == "files" and "id_rsa" in e.value.reason and "follow_links=True" in e.value.reason
    assert c.total == 0
    (site / "key").unlink()
    (site / "secrets").symlink_to(outside, target_is_directory=True)
    with pytest.raises(cloudorm.errors.InvalidInput):
        bucket.upload_many(site)
    (site / "secrets").unlink()
    bucket.upload_many(site).raise_for_errors()
    assert [b.key for b in bucket.blobs()] == ["css/a.css", "home.html", "index.html", "style/a.css"]
    assert bucket.blob("style/a.css").read_text() == "p {}" and "gone" in caplog.text
    (site / "key").symlink_to(outside / "id_rsa")
    bucket.upload_many(site, prefix="all/", follow_links=True).raise_for_errors()
    assert bucket.blob("all/key").read_text() == "PRIVATE"


def test_rename_through_lost_responses_neither_fails_nor_overwrites(moto_url: str, fast_backoff: None) -> None:
    # drop_after: S3 did the request, the answer never came; botocore sends it again
    direct = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=moto_url)
    b = direct.Bucket(unique("lost")).save()
    try:
        for i in range(12):
            b.blob(f"old/{i}").upload(f"data {i}", metadata={"i": str(i)}, storage_class="STANDARD_IA",
                                      tags={"n": str(i)})
        b.blob("new/0").upload("already here")
        with FaultProxy(moto_url, rate=0.3, kinds=("drop_after",), seed=3) as proxy:
            s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url, max_attempts=8)
            through = s.Bucket(b.name)
            with pytest.raises(cloudorm.errors.AlreadyExists):
                through.blob("old/0").rename("new/0")
            for i in range(1, 12):
                moved = through.blob(f"old/{i}").rename(f"new/{i}")
                assert moved.key == f"new/{i}"
            assert proxy.stats["drop_after"] >= 5
        assert b.blob("new/0").read_text() == "already here" and b.blob("old/0").read_text() == "data 0"
        for i in range(1, 12):
            moved = b.blob(f"new/{i}")
            assert moved.read_text() == f"data {i}" and moved.metadata == {"i": str(i)}
            head = direct.storage.client.head_object(Bucket=b.name, Key=moved.key)  # type: ignore[attr-defined]
            assert head["StorageClass"] == "STANDARD_IA" and head["TagCount"] == 1
            assert not b.blob(f"old/{i}").exists()
    finally:
        b.delete(force=True)


class Racer(CutBodies):
    """A proxy to a moto server that runs ``race()`` (another writer) just before it forwards the first
    CompleteMultipartUpload: the moment between cloudorm's check that a copy's target is absent and its write."""

    def __init__(self, upstream: str, race: Any) -> None:
        self.race = race
        super().__init__(upstream, cuts=0)

    def before_forward(self, handler: BaseHTTPRequestHandler) -> None:
        if handler.command == "POST" and "uploadId=" in handler.path and self.race is not None:
            race, self.race = self.race, None
            race()


@pytest.mark.parametrize("writer", ["another object", "the same copy"])
def test_a_target_written_during_a_multipart_copy(moto_url: str, writer: str) -> None:
    # S3 refuses the write (If-None-Match: *, 412): AlreadyExists, unless the target is what the copy writes (as
    # when an earlier attempt of this very copy landed and its answer was lost)
    direct = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=moto_url, **SMALL_PARTS)
    client: Any = direct.storage.client  # type: ignore[attr-defined]
    b = direct.Bucket(unique("race")).save()
    b.blob("src.bin").upload(b"s" * (6 * MiB), metadata={"k": "v"}, content_type="application/x-demo")

    def race() -> None:
        if writer == "another object":
            client.put_object(Bucket=b.name, Key="dst.bin", Body=b"theirs")
        else:
            client.copy_object(Bucket=b.name, Key="dst.bin", CopySource={"Bucket": b.name, "Key": "src.bin"})

    proxy = Racer(moto_url, race)
    try:
        s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url, **SMALL_PARTS)
        if writer == "another object":
            with pytest.raises(cloudorm.errors.AlreadyExists):
                s.Bucket(b.name).blob("src.bin").copy_to(b.name, "dst.bin")
            assert b.blob("dst.bin").download() == b"theirs"  # never replaced
        else:
            copy = s.Bucket(b.name).blob("src.bin").copy_to(b.name, "dst.bin")
            assert copy.size == 6 * MiB and copy.metadata == {"k": "v"}
        assert proxy.race is None  # the other writer did come in between
    finally:
        proxy.shutdown()
        proxy.server_close()
        b.delete(force=True)


def test_one_failure_does_not_hide_the_others(bucket: cloudorm.Bucket, tmp_path: Path) -> None:
    bucket.upload_many({"a": b"a", "b": b"b"}).raise_for_errors()
    results = bucket.download_many(["a", "missing-1", "b", "missing-2"], tmp_path)
    assert [r.ok for r in results] == [True, False, True, False]
    assert (tmp_path / "a").read_bytes() == b"a" and (tmp_path / "b").read_bytes() == b"b"
    assert not (tmp_path / "missing-1").exists()
    assert isinstance(results[1].error, NotFound) and "missing-1" in str(results[1].error)
    assert [r.key for r in results.failed] == ["missing-1", "missing-2"]
    with pytest.raises(BatchError) as e:
        results.raise_for_errors()
    assert [r.key for r in e.value.unprocessed] == ["missing-1", "missing-2"]
    assert "2 of 4" in str(e.value)
    ghost = bucket.session.Bucket(unique("ghost"))
    failed = ghost.upload_many({"x": b"1", "y": b"2"})
    assert not failed.ok and all(isinstance(r.error, NotFound) for r in failed)


def test_folder_markers_download_as_directories(bucket: cloudorm.Bucket, tmp_path: Path) -> None:
    bucket.upload_many({"docs/": b"", "docs/a.txt": b"a", "docs/sub/": b"", "docs/sub/b.txt": b"b"}).raise_for_errors()
    with bucket.session.count_requests() as c:
        results = bucket.download_many(bucket.blobs(prefix="docs/"), tmp_path)
    assert results.ok and [r.key for r in results] == ["docs/", "docs/a.txt", "docs/sub/", "docs/sub/b.txt"]
    assert c["s3.GetObject"] == 2  # the markers need no request
    assert (tmp_path / "docs" / "sub").is_dir() and (tmp_path / "docs" / "sub" / "b.txt").read_bytes() == b"b"
    out = bucket.blob("docs/a.txt").download_to(f"{tmp_path / 'new-dir'}/")  # a trailing "/" names a directory
    assert out == tmp_path / "new-dir" / "a.txt" and out.read_bytes() == b"a"


def test_force_delete_reports_objects_it_could_not_delete(small_parts: cloudorm.Session) -> None:
    client: Any = small_parts.storage.client  # type: ignore[attr-defined]
    name = unique("locked")
    client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    b = small_parts.Bucket(name)
    b.upload_many({"free": b"1", "held": b"2"}).raise_for_errors()
    client.put_object_legal_hold(Bucket=name, Key="held", LegalHold={"Status": "ON"})
    with pytest.raises(BatchError) as e:
        b.delete(force=True)  # DeleteObjects answers 200 with an Errors list: not ignored
    assert [x["Key"] for x in e.value.unprocessed] == ["held"] and "held" in str(e.value)
    assert e.value.code == "AccessDenied" and e.value.request_id
    assert [x.key for x in b.blobs()] == ["held"] and b.exists()
    client.put_object_legal_hold(Bucket=name, Key="held", LegalHold={"Status": "OFF"})
    b.delete(force=True)
    assert not b.exists()


def test_force_delete_of_a_versioned_bucket_batches_1000_keys(small_parts: cloudorm.Session) -> None:
    s = small_parts
    client: Any = s.storage.client  # type: ignore[attr-defined]
    b = s.Bucket(unique("versioned")).save()
    client.put_bucket_versioning(Bucket=b.name, VersioningConfiguration={"Status": "Enabled"})
    keys = {f"k{i:04}": b"v1" for i in range(510)}
    b.upload_many(keys, concurrency=16).raise_for_errors()
    # a delete marker for each in one request: DeleteObjects without version ids on a versioned bucket
    client.delete_objects(Bucket=b.name, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True})
    n = 2 * len(keys)
    listed = client.list_object_versions(Bucket=b.name)
    assert listed["IsTruncated"] and len(listed["Versions"]) + len(listed["DeleteMarkers"]) == 1000 < n
    with s.count_requests() as c:
        b.delete(force=True)
    assert c["s3.DeleteObjects"] == math.ceil(n / 1000) == 2
    assert c["s3.DeleteBucket"] == 1 and not b.exists()


@pytest.mark.usefixtures("fast_backoff")
def test_transfers_survive_ten_percent_faults(moto_url: str, tmp_path: Path) -> None:
    rng = random.Random(5)
    payloads = {f"obj-{i:02}": rng.randbytes(rng.choice([10, 1000, 100_000])) for i in range(46)}
    for i in range(4):  # some multipart
        payloads[f"big-{i}"] = rng.randbytes(5 * MiB + rng.randrange(1, 200_000))
    with FaultProxy(moto_url, rate=0.1, kinds=("throttle", "error500", "drop", "drop_after"), seed=11) as proxy:
        s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url, max_attempts=10, **SMALL_PARTS)
        b = s.Bucket(unique("faulty")).save()
        try:
            for key, data in payloads.items():
                b.blob(key).upload(data)
            for key, data in payloads.items():
                assert sha(b.blob(key).download()) == sha(data), key
                if key.startswith("big"):  # parallel ranged GETs, and a stream read as it goes
                    assert sha(b.blob(key).download_to(tmp_path / key).read_bytes()) == sha(data), key
                    with b.blob(key).open() as f:
                        assert sha(f.read()) == sha(data), key
            b.upload_many({f"many/{k}": v for k, v in payloads.items() if k.startswith("obj")},
                          concurrency=8).raise_for_errors()
            assert {x.key: x.size for x in b.blobs(prefix="many/")} == {
                f"many/{k}": len(v) for k, v in payloads.items() if k.startswith("obj")}
        finally:
            proxy.configure(rate=0.0)
            b.delete(force=True)
        stats = proxy.stats
    assert stats["throttle"] + stats["error500"] + stats["drop"] + stats["drop_after"] > 10
