"""Buckets and blobs on the local cloud and on the aws provider pointed at a moto server (no mocks)."""

from __future__ import annotations

import base64
import csv
import io
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest
import urllib3

import cloudorm
from cloudorm.errors import AlreadyExists, ConflictError, InvalidInput, NotFound
from tests.conftest import FAKE_CREDS, assert_refused_before_any_request


def unique(prefix: str = "b") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def bucket(session: cloudorm.Session) -> Iterator[cloudorm.Bucket]:
    """A fresh bucket, emptied and deleted afterwards."""
    b = session.Bucket(unique()).save()
    yield b
    b.delete(force=True, missing_ok=True)


def post_form(url: str, fields: dict[str, str], data: bytes, content_type: str = "text/plain") -> int:
    """POST a multipart/form-data upload the way a browser would (the file last); returns the HTTP status."""
    form: dict[str, Any] = dict(fields)
    form["file"] = ("upload", data, content_type)
    body, ctype = urllib3.encode_multipart_formdata(form)
    request = urllib.request.Request(url, data=body, headers={"Content-Type": ctype}, method="POST")
    try:
        with urllib.request.urlopen(request) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


# ----------------------------------------------------------------------------------------------- buckets


def test_bucket_in_another_region(session: cloudorm.Session) -> None:
    b = session.Bucket(unique(), region="eu-west-1").save()
    try:
        assert session.Bucket(b.name).refresh().region == "eu-west-1"
    finally:
        b.delete()


def test_bucket_owned_by_someone_else_is_already_exists(session: cloudorm.Session, moto_url: str) -> None:
    # moto answers a second CreateBucket outside us-east-1 with BucketAlreadyOwnedByYou: kept as success
    b = session.Bucket(unique(), region="eu-west-1").save()
    try:
        b.save()
        assert b.exists()
    finally:
        b.delete()
    assert AlreadyExists  # BucketAlreadyExists (another account's) maps to AlreadyExists


@pytest.mark.parametrize("name, reason", [
    ("ab", "3 to 63"),
    ("a" * 64, "3 to 63"),
    ("Upper", "lowercase"),
    ("under_score", "lowercase"),
    ("-start", "starts and ends"),
    ("end-", "starts and ends"),
    ("two..dots", "two dots"),
    ("dot.-hyphen", "dot next to a hyphen"),
    ("192.168.1.1", "IP address"),
    ("xn--bucket", "xn--"),
    ("my-bucket-s3alias", "-s3alias"),
    ("my-bucket--ol-s3", "--ol-s3"),
])
def test_bad_bucket_names(session: cloudorm.Session, name: str, reason: str) -> None:
    with session.count_requests() as c, pytest.raises(InvalidInput) as e:
        session.Bucket(name)
    assert e.value.field == "name" and reason in e.value.reason
    assert c.total == 0


# ----------------------------------------------------------------------------------------------- blobs


def test_upload_kinds_and_lazy_information(bucket: cloudorm.Bucket, tmp_path: Path) -> None:
    s = bucket.session
    path = tmp_path / "photo.png"
    path.write_bytes(b"\x89PNG....")
    sources: dict[str, Any] = {
        "bytes.bin": b"\x00\x01", "text.txt": "héllo", "data": "a str is data, never a path",
        "photo.png": path, "stream.json": io.BytesIO(b"{}"), "view": memoryview(b"mv"),
    }
    for key, src in sources.items():
        bucket.blob(key).upload(src)
    blob = bucket.blob("text.txt")
    with s.count_requests() as c:
        assert blob.size == len("héllo".encode())
        assert blob.content_type == "text/plain"
        assert blob.etag and '"' not in blob.etag
        assert isinstance(blob.last_modified, datetime)
    assert c.total == 1 and c["s3.HeadObject"] == 1  # one HEAD for every field
    assert bucket.blob("text.txt").read_text() == "héllo"
    assert bucket.blob("data").download() == b"a str is data, never a path"
    assert bucket.blob("data").content_type == "text/plain; charset=utf-8"
    assert bucket.blob("photo.png").content_type == "image/png"
    assert bucket.blob("photo.png").download() == b"\x89PNG...."
    assert bucket.blob("bytes.bin").content_type == "application/octet-stream"
    assert bucket.blob("stream.json").content_type == "application/json"
    assert bucket.blob("view").download() == b"mv"


def test_content_type_and_metadata(bucket: cloudorm.Bucket) -> None:
    blob = bucket.blob("page").upload("<p>hi</p>", content_type="text/html", metadata={"Owner": "ann"})
    assert blob.content_type == "text/html"
    assert blob.metadata == {"owner": "ann"}  # S3 lowercases metadata names


def test_listing_is_lazy_paged_and_costs_no_head(bucket: cloudorm.Bucket) -> None:
    s = bucket.session
    keys = [f"logs/2024/{i:02}.txt" for i in range(7)] + ["logs/2025/01.txt", "logs/top.txt", "readme.md"]
    bucket.upload_many({k: k for k in keys}).raise_for_errors()
    with s.count_requests() as c:
        listing = bucket.blobs(prefix="logs/").page_size(3)
    assert c.total == 0
    with s.count_requests() as c:
        found = list(listing)
        assert [b.key for b in found] == sorted(k for k in keys if k.startswith("logs/"))
        assert [b.size for b in found] == [len(b.key) for b in found]
        assert all(b.etag and b.last_modified for b in found)
    assert c["s3.ListObjectsV2"] == 3 and c.total == 3  # 9 keys, 3 per page, no HEAD
    with s.count_requests() as c:
        assert [b.key for b in bucket.blobs().limit(2)] == sorted(keys)[:2]
        first = bucket.blobs(prefix="logs/2025/").first()
        assert first is not None and first.key == "logs/2025/01.txt"
        assert [b.key for b in bucket.blobs()[1:3]] == sorted(keys)[1:3]
        assert bucket.blobs(prefix="nothing/").first() is None
    assert c.total == 4
    assert first.content_type == "text/plain"  # not in a listing: one HEAD


def test_delimiter_lists_folders(bucket: cloudorm.Bucket) -> None:
    keys = ["a.txt", "photos/1.jpg", "photos/2024/2.jpg", "photos/2025/3.jpg", "videos/4.mp4", "z.txt"]
    bucket.upload_many({k: b"x" for k in keys}).raise_for_errors()
    top = bucket.blobs(delimiter="/")
    assert [b.key for b in top] == ["a.txt", "z.txt"]
    assert list(top.prefixes()) == ["photos/", "videos/"]
    photos = bucket.blobs(prefix="photos/", delimiter="/")
    assert [b.key for b in photos] == ["photos/1.jpg"]
    assert list(photos.prefixes()) == ["photos/2024/", "photos/2025/"]
    assert list(photos.prefixes().limit(1)) == ["photos/2024/"]
    assert list(photos.page_size(1).prefixes()) == ["photos/2024/", "photos/2025/"]
    assert list(bucket.blobs().prefixes()) == []


def test_missing_things_are_not_found_with_names(session: cloudorm.Session, bucket: cloudorm.Bucket,
                                                 tmp_path: Path) -> None:
    blob = bucket.blob("no/such/key")
    assert not blob.exists()
    for attempt in (lambda: blob.size, blob.download, lambda: blob.read(2, 4), blob.open, blob.delete,
                    lambda: blob.rename("elsewhere"), lambda: blob.copy_to(bucket, "copy"),
                    lambda: blob.download_to(tmp_path / "f")):
        with pytest.raises(NotFound) as e:
            attempt()
        assert "'no/such/key'" in e.value.message and bucket.name in e.value.message
    blob.delete(missing_ok=True)
    assert list(tmp_path.iterdir()) == []
    ghost = session.Bucket(unique("ghost"))
    for attempt in (lambda: list(ghost.blobs()), ghost.refresh, lambda: ghost.blob("k").upload(b"x"),
                    lambda: ghost.blob("k").download()):
        with pytest.raises(NotFound) as e:
            attempt()
        assert ghost.name in e.value.message


def test_byte_ranges_are_half_open(bucket: cloudorm.Bucket) -> None:
    data = bytes(range(100))
    blob = bucket.blob("r").upload(data)
    cases = [(0, 10), (10, 20), (95, 100), (95, 1000), (0, None), (50, None), (5, 5), (100, None), (200, 300)]
    for start, end in cases:
        assert blob.read(start, end) == data[start:end], (start, end)
    assert blob.read(-3) == data[-3:]
    assert blob.read(-1000) == data
    assert blob.read() == data
    empty = bucket.blob("empty").upload(b"")
    assert empty.read(0, 10) == b"" and empty.read(-5) == b"" and empty.download() == b""
    with bucket.session.count_requests() as c:
        for bad in ((5, 2), (-1, 5), ("0", None), (0, 1.5)):
            with pytest.raises(InvalidInput):
                blob.read(*bad)  # type: ignore[arg-type]
    assert c.total == 0


def test_open_is_a_streaming_file(bucket: cloudorm.Bucket) -> None:
    data = bytes(range(256)) * 9000  # 2.2 MiB
    blob = bucket.blob("stream").upload(data)
    with bucket.session.count_requests() as c, blob.open() as f:
        assert isinstance(f, io.BufferedIOBase) and f.readable() and not f.seekable()
        assert f.read(10) == data[:10]
        chunks = list(f.chunks(1024 * 1024))
        assert b"".join(chunks) == data[10:] and [len(x) for x in chunks[:2]] == [1024 * 1024] * 2
        assert f.read() == b""
    assert f.closed and c["s3.GetObject"] == 1 and c.total == 1  # one GET, read as it goes
    with blob.open() as f:
        assert f.read(5) == data[:5]  # closing early is fine
    lines = bucket.blob("lines.csv").upload("id,name\n1,ann\n2,bob\n")
    with lines.open() as f:
        assert list(f) == [b"id,name\n", b"1,ann\n", b"2,bob\n"]  # like any binary file: by line
    with lines.open("r") as t:
        assert list(csv.DictReader(t)) == [{"id": "1", "name": "ann"}, {"id": "2", "name": "bob"}]
    with lines.open() as f, io.TextIOWrapper(f, encoding="utf-8") as t:
        assert t.readline() == "id,name\n"
    with pytest.raises(InvalidInput) as e:
        lines.open("w")  # type: ignore[call-overload]
    assert e.value.field == "mode"


def test_rename_copy_delete(session: cloudorm.Session, bucket: cloudorm.Bucket) -> None:
    blob = bucket.blob("old/name.txt").upload("x", metadata={"k": "v"}, content_type="text/x-custom")
    moved = blob.rename("new/name.txt")
    assert moved.key == "new/name.txt" and moved.read_text() == "x"
    assert moved.content_type == "text/x-custom" and moved.metadata == {"k": "v"}
    assert not blob.exists()
    other = session.Bucket(unique()).save()
    try:
        copy = moved.copy_to(other)
        assert copy.bucket is other and copy.key == "new/name.txt" and copy.read_text() == "x"
        copy2 = moved.copy_to(other.name, "renamed")
        assert copy2.metadata == {"k": "v"} and copy2.content_type == "text/x-custom"
        assert moved.exists()
        copy2.delete()
        assert not copy2.exists()
    finally:
        other.delete(force=True)


def test_rename_onto_its_own_key_keeps_the_object(bucket: cloudorm.Bucket) -> None:
    blob = bucket.blob("stay.txt").upload("still here")
    with bucket.session.count_requests() as c, pytest.raises(InvalidInput) as e:
        blob.rename("stay.txt")  # a copy onto itself then a delete would lose it
    assert e.value.field == "new_key" and c.total == 0
    assert blob.read_text() == "still here"


def test_copy_keeps_stored_headers(bucket: cloudorm.Bucket) -> None:
    client: Any = bucket.session.storage.client  # type: ignore[attr-defined]
    headers = {"CacheControl": "max-age=60", "ContentDisposition": 'attachment; filename="a.txt"',
               "ContentEncoding": "identity", "ContentLanguage": "en"}
    client.put_object(Bucket=bucket.name, Key="src.txt", Body=b"x", ContentType="text/plain", **headers)
    def stored(key: str) -> dict[str, Any]:
        head = client.head_object(Bucket=bucket.name, Key=key)
        return {k: head.get(k) for k in [*headers, "ContentType"]}

    expected = {**headers, "ContentType": "text/plain"}
    assert stored(bucket.blob("src.txt").copy_to(bucket, "copy.txt").key) == expected
    assert stored(bucket.blob("copy.txt").rename("moved.txt").key) == expected


def test_rename_and_copy_refuse_an_existing_target(session: cloudorm.Session, bucket: cloudorm.Bucket) -> None:
    source = bucket.blob("a.txt").upload("A")
    bucket.blob("b.txt").upload("B", metadata={"keep": "me"})
    with session.count_requests() as c:
        with pytest.raises(AlreadyExists) as e:
            source.rename("b.txt")
        assert "b.txt" in e.value.message and "overwrite=True" in e.value.message
        with pytest.raises(AlreadyExists):
            source.copy_to(bucket, "b.txt")
    assert set(c.by_operation) == {"s3.HeadObject"}  # nothing written, nothing deleted
    assert source.read_text() == "A"
    assert bucket.blob("b.txt").read_text() == "B" and bucket.blob("b.txt").metadata == {"keep": "me"}
    copied = source.copy_to(bucket, "b.txt", overwrite=True)
    assert copied.read_text() == "A" and copied.metadata == {}
    bucket.blob("b.txt").upload("B")
    moved = source.rename("b.txt", overwrite=True)
    assert moved.read_text() == "A" and not source.exists()
    with pytest.raises(InvalidInput) as e:
        moved.rename("c.txt", overwrite="yes")  # type: ignore[arg-type]
    assert e.value.field == "overwrite"


def write_before(session: cloudorm.Session, operation: str, bucket: str, key: str, data: bytes) -> None:
    """A second, plain boto3 client writes ``data`` at ``key`` just before ``session`` sends its first
    ``operation``: a real concurrent writer, made deterministic."""
    other = boto3.client("s3", endpoint_url=str(session.endpoint_url), region_name="us-east-1",
                         aws_access_key_id="testing", aws_secret_access_key="testing")
    written: list[bool] = []

    def writer(**_: Any) -> None:
        if not written:  # the first request only (a multipart copy sends one UploadPartCopy per part)
            written.append(True)
            other.put_object(Bucket=bucket, Key=key, Body=data)

    session.storage.client.meta.events.register_first(  # type: ignore[attr-defined]
        f"before-send.s3.{operation}", writer, unique_id=f"race-{uuid.uuid4().hex}")


@pytest.mark.parametrize(("size", "copy"), [(5, "CopyObject"), (9 * 1024 * 1024, "UploadPartCopy")],
                         ids=["small", "multipart"])  # the multipart threshold is 8 MiB
def test_rename_keeps_a_write_to_the_source_before_its_copy(session: cloudorm.Session, bucket: cloudorm.Bucket,
                                                             size: int, copy: str) -> None:
    source = bucket.blob("race.txt").upload(b"o" * size)
    write_before(session, copy, bucket.name, "race.txt", b"newer")
    with pytest.raises(ConflictError) as e:  # the copy is pinned to the ETag the HEAD saw: nothing changes
        source.rename("moved.txt")
    assert "changed while it was being copied" in e.value.message and e.value.code == "PreconditionFailed"
    assert source.download() == b"newer" and not bucket.blob("moved.txt").exists()


def test_rename_keeps_a_write_to_the_source_before_its_delete(session: cloudorm.Session,
                                                              bucket: cloudorm.Bucket) -> None:
    source = bucket.blob("race.txt").upload(b"old", metadata={"v": "1"})
    write_before(session, "DeleteObject", bucket.name, "race.txt", b"newer")
    with pytest.raises(ConflictError) as e:  # the delete carries If-Match: the newer object stays
        source.rename("moved.txt")
    assert "'moved.txt' holds the content the rename copied" in e.value.message and "nothing lost" in e.value.message
    assert bucket.blob("moved.txt").download() == b"old" and bucket.blob("moved.txt").metadata == {"v": "1"}
    assert source.download() == b"newer"


def test_rename_whose_source_is_already_gone_when_deleting_succeeds(session: cloudorm.Session,
                                                                    bucket: cloudorm.Bucket) -> None:
    # as after a lost answer: botocore re-sends the conditional DeleteObject, which finds no source (404)
    source = bucket.blob("gone.txt").upload(b"data")
    other = boto3.client("s3", endpoint_url=str(session.endpoint_url), region_name="us-east-1",
                         aws_access_key_id="testing", aws_secret_access_key="testing")

    def deleter(**_: Any) -> None:  # (a before-send hook returning something would be taken as the answer)
        other.delete_object(Bucket=bucket.name, Key="gone.txt")

    session.storage.client.meta.events.register_first(  # type: ignore[attr-defined]
        "before-send.s3.DeleteObject", deleter, unique_id=f"gone-{uuid.uuid4().hex}")
    assert source.rename("moved.txt").download() == b"data" and not source.exists()


def test_copy_to_a_bucket_of_another_endpoint_is_refused_before_any_request(moto_url: str) -> None:
    """copy_to goes through the source's session: given a Bucket of a session at another endpoint, it used to write
    a same-named bucket at the source's endpoint and return a Blob that says it is in the other one."""
    here = cloudorm.Session()  # the embedded local cloud
    there = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=moto_url)
    assert here.endpoint_url != moto_url
    source_bucket = here.Bucket(unique()).save()
    try:
        source = source_bucket.blob("a.txt").upload("A")
        with here.count_requests() as c, there.count_requests() as c2, pytest.raises(InvalidInput) as e:
            source.copy_to(there.Bucket(source_bucket.name))
        assert e.value.field == "bucket" and moto_url in e.value.message and c.total == c2.total == 0
        again = cloudorm.Session().Bucket(source_bucket.name)  # another session at the same place: copies as before
        assert source.copy_to(again, "b.txt").read_text() == "A"
    finally:
        source_bucket.delete(force=True)


EVERY_PROPERTY = {"ContentType": "text/csv", "CacheControl": "max-age=60", "ContentDisposition": "attachment",
                  "ContentEncoding": "identity", "ContentLanguage": "fr", "StorageClass": "STANDARD_IA",
                  "Expires": datetime(2031, 2, 3, 4, 5, 6, tzinfo=timezone.utc), "Metadata": {"owner": "ops"}}
TAGS = [{"Key": "project", "Value": "apollo"}, {"Key": "tier", "Value": "cold data"}]


def stored(bucket: cloudorm.Bucket, key: str) -> dict[str, Any]:
    """Every property of an object as S3 reports it (HeadObject and GetObjectTagging)."""
    client: Any = bucket.session.storage.client  # type: ignore[attr-defined]
    head = client.head_object(Bucket=bucket.name, Key=key)
    tags = client.get_object_tagging(Bucket=bucket.name, Key=key)["TagSet"]
    return {**{name: head.get(name) for name in EVERY_PROPERTY}, "Tags": sorted(tags, key=lambda t: t["Key"])}


@pytest.mark.parametrize("size", [10, 9 * 1024 * 1024], ids=["small", "multipart"])  # the threshold is 8 MiB
def test_copy_and_rename_keep_every_property(bucket: cloudorm.Bucket, size: int) -> None:
    client: Any = bucket.session.storage.client  # type: ignore[attr-defined]
    client.put_object(Bucket=bucket.name, Key="src.csv", Body=b"x" * size, Tagging="project=apollo&tier=cold%20data",
                      **EVERY_PROPERTY)
    expected = {**EVERY_PROPERTY, "Tags": TAGS}
    assert stored(bucket, "src.csv") == expected
    with bucket.session.count_requests() as c:
        copy = bucket.blob("src.csv").copy_to(bucket, "copy.csv")
    assert stored(bucket, copy.key) == expected
    assert (c["s3.CopyObject"] == 1) == (size < 8 * 1024 * 1024)
    assert stored(bucket, bucket.blob("copy.csv").rename("moved.csv").key) == expected
    assert not copy.exists() and bucket.blob("moved.csv").size == size


def test_upload_stores_headers_storage_class_and_tags(bucket: cloudorm.Bucket) -> None:
    blob = bucket.blob("report.csv").upload(
        b"a,b\n", content_type="text/csv", metadata={"owner": "ops"}, cache_control="max-age=60",
        content_disposition="attachment", content_encoding="identity", content_language="fr",
        expires=EVERY_PROPERTY["Expires"], storage_class="STANDARD_IA", tags={"project": "apollo", "tier": "cold data"})
    assert stored(bucket, blob.key) == {**EVERY_PROPERTY, "Tags": TAGS}
    again = bucket.blob("report.csv")
    with bucket.session.count_requests() as c:
        read = (again.storage_class, again.cache_control, again.content_disposition, again.content_encoding,
                again.content_language, again.expires)
    assert read == ("STANDARD_IA", "max-age=60", "attachment", "identity", "fr", EVERY_PROPERTY["Expires"])
    assert c.total == 1  # one HEAD
    plain = bucket.blob("plain").upload(b"x")
    assert (plain.storage_class, plain.cache_control, plain.expires) == ("STANDARD", None, None)


@pytest.mark.parametrize(("settings", "field"), [
    ({"content_type": "text/plain\r\nX-Injected: 1"}, "content_type"),
    ({"content_type": "text/plain\n"}, "content_type"),
    ({"cache_control": "max-age=1\r\nSet-Cookie: a=b"}, "cache_control"),
    ({"content_disposition": "inline\n"}, "content_disposition"),
    ({"content_encoding": ""}, "content_encoding"),
    ({"content_language": 5}, "content_language"),
    ({"expires": datetime(2031, 1, 1)}, "expires"),  # naive: which zone?
    ({"expires": "tomorrow"}, "expires"),
    ({"storage_class": "CHEAP"}, "storage_class"),
    ({"tags": {f"k{i}": "v" for i in range(11)}}, "tags"),
    ({"tags": {"k" * 129: "v"}}, "tags['" + "k" * 129 + "']"),
    ({"tags": {"k": "v" * 257}}, "tags['k']"),
    ({"tags": {"aws:owner": "me"}}, "tags['aws:owner']"),
    ({"tags": {"k": "a\nb"}}, "tags['k']"),
    ({"tags": ["k"]}, "tags"),
])
def test_upload_headers_are_checked_before_any_request(bucket: cloudorm.Bucket, settings: dict[str, Any],
                                                       field: str) -> None:
    with bucket.session.count_requests() as c, pytest.raises(InvalidInput) as e:
        bucket.blob("k").upload(b"x", **settings)
    assert e.value.field == field and c.total == 0


@pytest.mark.parametrize("key", ["..", ".", "a/..", "a/.", "up/../.."])
def test_download_to_a_folder_refuses_keys_that_are_not_file_names(bucket: cloudorm.Bucket, tmp_path: Path,
                                                                   key: str) -> None:
    target = tmp_path / "inside"
    target.mkdir()
    with bucket.session.count_requests() as c, pytest.raises(InvalidInput) as e:
        bucket.blob(key).download_to(target)
    assert e.value.field == "key" and repr(key) in e.value.reason and c.total == 0
    with pytest.raises(InvalidInput) as e:
        bucket.download_many([key], target)
    assert e.value.field == "keys" and repr(key) in e.value.reason
    assert list(tmp_path.rglob("*")) == [target]  # nothing written anywhere


def test_download_to_needs_a_path(bucket: cloudorm.Bucket) -> None:
    for bad in ("", None):
        with bucket.session.count_requests() as c, pytest.raises(InvalidInput) as e:
            bucket.blob("k").download_to(bad)  # type: ignore[arg-type]
        assert e.value.field == "path" and c.total == 0


@pytest.mark.parametrize("key", ["a//b", "../x", "a/../../x", "a\0b"])
def test_download_many_refuses_keys_that_are_not_paths_below_the_folder(bucket: cloudorm.Bucket, tmp_path: Path,
                                                                        key: str) -> None:
    with bucket.session.count_requests() as c, pytest.raises(InvalidInput) as e:
        bucket.download_many([key], tmp_path / "out")
    assert e.value.field == "keys" and repr(key) in e.value.reason and c.total == 0
    assert not (tmp_path / "out").exists() and not (tmp_path / "x").exists()


def test_unicode_and_odd_keys(bucket: cloudorm.Bucket) -> None:
    keys = ["ünïcødé/文件.txt", "with space & plus+.txt", "a%20b", "x" * 1024]
    for k in keys:
        bucket.blob(k).upload(k)
    assert sorted(b.key for b in bucket.blobs()) == sorted(keys)
    for k in keys:
        assert bucket.blob(k).read_text() == k
        assert urllib.request.urlopen(bucket.blob(k).url()).read() == k.encode()


def test_lone_surrogates_are_refused_before_any_request(session: cloudorm.Session, bucket: cloudorm.Bucket) -> None:
    attempts = [
        (lambda: bucket.blobs(prefix="logs/\udc80"), "prefix"),  # was a UnicodeEncodeError from the listing
        (lambda: bucket.blobs(prefix="logs/", delimiter="\udc80"), "delimiter"),
        (lambda: bucket.blob("a\udc80"), "key"),
        (lambda: bucket.blob("k").rename("b\udc80"), "new_key"),
        (lambda: session.Bucket("a\udc80bc"), "name"),
    ]
    assert_refused_before_any_request(session, attempts)


def test_bad_input_raises_before_any_request(session: cloudorm.Session, bucket: cloudorm.Bucket,
                                             tmp_path: Path) -> None:
    blob = bucket.blob("k")
    attempts = {
        "key": lambda: bucket.blob(""),
        "key ": lambda: bucket.blob("é" * 513),
        "key  ": lambda: bucket.blob(5),  # type: ignore[arg-type]
        "src": lambda: blob.upload(tmp_path / "missing.txt"),
        "src ": lambda: blob.upload(tmp_path),
        "src  ": lambda: blob.upload(12),
        "src   ": lambda: blob.upload(io.StringIO("text mode")),
        "metadata": lambda: blob.upload(b"x", metadata={"a": 1}),
        "metadata[' with space']": lambda: blob.upload(b"x", metadata={" with space": "x"}),
        "metadata['a'] ": lambda: blob.upload(b"x", metadata={"a": "é"}),
        "metadata['a']  ": lambda: blob.upload(b"x", metadata={"a": "line\nbreak"}),
        "metadata['A']": lambda: blob.upload(b"x", metadata={"a": "1", "A": "2"}),
        "metadata ": lambda: blob.upload(b"x", metadata={"big": "x" * 2046}),
        "path": lambda: bucket.blob("folder/").download_to(tmp_path),
        "mode": lambda: blob.open("wb"),  # type: ignore[call-overload]
        "content_type": lambda: blob.upload(b"x", content_type="nonsense"),
        "expires": lambda: blob.url(expires=0),
        "expires ": lambda: blob.url(expires=-5),
        "expires  ": lambda: blob.url(expires=7 * 24 * 3600 + 1),
        "expires   ": lambda: bucket.upload_url("k", expires=timedelta(days=8)),
        "max_size": lambda: bucket.upload_url("k", max_size=0),
        "concurrency": lambda: bucket.upload_many({"a": b"x"}, concurrency=0),
        "concurrency ": lambda: bucket.download_many(["a"], tmp_path, concurrency=True),
        "files": lambda: bucket.upload_many(["not/a/path.txt"]),  # type: ignore[list-item]
        "files ": lambda: bucket.upload_many({"a": tmp_path / "missing"}),
        "files  ": lambda: bucket.upload_many({"": b"x"}),
        "keys": lambda: bucket.download_many(["../escape"], tmp_path),
        "keys ": lambda: bucket.download_many("one-key", tmp_path),
        "new_key": lambda: blob.rename(""),
        "prefix": lambda: bucket.blobs(prefix=None),  # type: ignore[arg-type]
        "delimiter": lambda: bucket.blobs(delimiter=""),
        "limit": lambda: bucket.blobs().limit(0),
        "index": lambda: bucket.website(index="a/b.html"),
        "force": lambda: bucket.delete(force="no"),  # type: ignore[arg-type]  # (not taken for True: it empties)
        "region": lambda: session.Bucket("fine-name", region=""),
    }
    with session.count_requests() as c:
        for field, attempt in attempts.items():
            with pytest.raises(InvalidInput) as e:
                attempt()
            assert e.value.field is not None and e.value.field.startswith(field.strip()), (field, e.value)
    assert c.total == 0


def test_s3_error_codes_map_to_cloudorm_types() -> None:
    from botocore.exceptions import ClientError

    from cloudorm.errors import AccessDenied
    from cloudorm.providers.aws.errors import map_error

    for code, kind in [("OperationAborted", ConflictError), ("AuthorizationHeaderMalformed", AccessDenied),
                       ("BucketNotEmpty", ConflictError), ("NoSuchKey", NotFound), ("403", AccessDenied)]:
        raw = ClientError({"Error": {"Code": code, "Message": f"{code} happened"},
                           "ResponseMetadata": {"RequestId": "REQ123", "HTTPStatusCode": 409}}, "CreateBucket")
        err = map_error(raw, "aws")
        assert isinstance(err, kind) and err.request_id == "REQ123" and f"{code} happened" in err.message, code


# ----------------------------------------------------------------------------------------------- presigning


def test_presigned_get_is_fetchable(bucket: cloudorm.Bucket) -> None:
    blob = bucket.blob("public/report.csv").upload("a,b\n1,2\n")
    url = blob.url(expires=timedelta(minutes=5))
    assert url.startswith(bucket.session.storage.client.meta.endpoint_url)  # type: ignore[attr-defined]
    assert "X-Amz-Expires=300" in url and "X-Amz-Signature=" in url
    with urllib.request.urlopen(url) as r:
        assert r.read() == b"a,b\n1,2\n"
    # (moto does not check presigned signatures, so a tampered URL is not tested here)


def test_presigned_post_uploads(bucket: cloudorm.Bucket) -> None:
    post = bucket.upload_url("inbox/note.txt", expires=120, max_size=100, content_type="text/plain")
    assert isinstance(post, cloudorm.PresignedPost)
    assert post.fields["key"] == "inbox/note.txt" and post.fields["Content-Type"] == "text/plain"
    policy = json.loads(base64.b64decode(post.fields["policy"]))
    assert ["content-length-range", 0, 100] in policy["conditions"]
    assert {"Content-Type": "text/plain"} in policy["conditions"]
    assert post_form(post.url, post.fields, b"hello from a browser") in (200, 201, 204)
    blob = bucket.blob("inbox/note.txt")
    assert blob.read_text() == "hello from a browser" and blob.content_type == "text/plain"
    plain = bucket.upload_url("inbox/any.bin")
    assert "Content-Type" not in plain.fields
    assert post_form(plain.url, plain.fields, b"\x00" * 10, "application/octet-stream") in (200, 201, 204)
    assert bucket.blob("inbox/any.bin").size == 10


# ----------------------------------------------------------------------------------------------- websites


def test_website_on_aws_and_local(session: cloudorm.Session, bucket: cloudorm.Bucket) -> None:
    url = bucket.website(index="index.html", error="404.html")
    assert url == f"http://{bucket.name}.s3-website-us-east-1.amazonaws.com" == bucket.website_url
    config = session.storage.client.get_bucket_website(Bucket=bucket.name)  # type: ignore[attr-defined]
    assert config["IndexDocument"] == {"Suffix": "index.html"} and config["ErrorDocument"] == {"Key": "404.html"}
    assert session.storage.website_url("b-x", "eu-central-1") == "http://b-x.s3-website.eu-central-1.amazonaws.com"
    assert session.storage.website_url("b-x", "eu-west-1") == "http://b-x.s3-website-eu-west-1.amazonaws.com"
    assert session.storage.website_url("b-x", "cn-north-1").endswith(".s3-website.cn-north-1.amazonaws.com.cn")
