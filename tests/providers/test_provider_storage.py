"""One storage conformance suite, run by every provider with object storage: aws and local on moto, wasabi on
WasabiEmulator, DigitalOcean Spaces on moto, memory in this process. It speaks the ``StorageService`` contract
(plus one round trip through the entities), so what differs between providers is only what their capabilities say."""

from __future__ import annotations

import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import cloudorm
from cloudorm.errors import AlreadyExists, ConflictError, NotFound, Unsupported
from cloudorm.providers.contract import StorageService
from cloudorm.storage.transfer import DownloadJob, Properties, Source, UploadJob

Bucket = tuple[cloudorm.Session, StorageService, str]


def unique(prefix: str = "c") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def put(svc: StorageService, bucket: str, key: str, data: bytes, **properties: Any) -> None:
    svc.upload(bucket, key, Source.of(data), Properties(**{"content_type": "text/plain", **properties}))


@pytest.fixture
def bucket(storage: cloudorm.Session) -> Iterator[Bucket]:
    """A fresh bucket of the provider, emptied and deleted afterwards."""
    svc, name = storage.storage, unique()
    svc.create_bucket(name, str(storage.region))
    yield storage, svc, name
    svc.empty_bucket(name)
    svc.delete_bucket(name)


def test_buckets(storage: cloudorm.Session) -> None:
    svc, name = storage.storage, unique()
    with pytest.raises(NotFound):
        svc.bucket_region(name)
    svc.create_bucket(name, str(storage.region))
    with pytest.raises(AlreadyExists) as exists:  # (Bucket.save() adopts it; save(exists_ok=False) says so)
        svc.create_bucket(name, str(storage.region))
    assert exists.value.code == "BucketAlreadyOwnedByYou"
    assert svc.bucket_tags(name) == {}
    svc.put_bucket_tags(name, {"team": "a"})
    assert svc.bucket_tags(name) == {"team": "a"}
    svc.put_bucket_tags(name, {})
    assert svc.bucket_tags(name) == {}
    assert svc.bucket_region(name) == storage.region
    found, token, pages = [], None, 0
    while pages < 50:
        page, token = svc.list_buckets(token, 100)
        found += [b["name"] for b in page]
        pages += 1
        if token is None:
            break
    assert name in found
    put(svc, name, "k", b"v")
    with pytest.raises(ConflictError):
        svc.delete_bucket(name)
    assert svc.empty_bucket(name) == 1
    svc.delete_bucket(name)
    with pytest.raises(NotFound) as e:
        svc.delete_bucket(name)
    assert name in str(e.value) and e.value.provider == storage.provider


def test_objects_and_what_is_stored_with_them(bucket: Bucket, tmp_path: Path) -> None:
    _, svc, name = bucket
    put(svc, name, "docs/a.txt", b"0123456789", metadata={"owner": "ann"}, cache_control="no-cache")
    head = svc.head_object(name, "docs/a.txt")
    assert (head["key"], head["size"], head["content_type"], head["metadata"], head["cache_control"],
            head["storage_class"]) == ("docs/a.txt", 10, "text/plain", {"owner": "ann"}, "no-cache", "STANDARD")
    assert head["etag"] and '"' not in head["etag"] and isinstance(head["last_modified"], datetime)
    assert head["content_encoding"] is None and head["expires"] is None
    assert svc.download(name, "docs/a.txt") == b"0123456789"
    assert svc.download(name, "docs/a.txt", 2, 4) == b"234" and svc.download(name, "docs/a.txt", -3) == b"789"
    with svc.open(name, "docs/a.txt") as stream:
        assert stream.read() == b"0123456789"
    svc.download_file(name, "docs/a.txt", str(tmp_path / "a.txt"))
    assert (tmp_path / "a.txt").read_bytes() == b"0123456789" and len(list(tmp_path.iterdir())) == 1
    with pytest.raises(NotFound) as e:
        svc.head_object(name, "no/such/key")
    assert "no/such/key" in str(e.value)
    svc.delete_object(name, "docs/a.txt")
    svc.delete_object(name, "docs/a.txt")  # no error when absent
    with pytest.raises(NotFound):
        svc.download(name, "docs/a.txt")


def test_listing_pages_and_folds_prefixes(bucket: Bucket) -> None:
    _, svc, name = bucket
    keys = ["a.txt", "photos/1.jpg", "photos/2024/2.jpg", "videos/4.mp4", "z.txt"]
    assert svc.upload_many(name, [UploadJob(k, Source.of(k), Properties("text/plain")) for k in keys], 4) == \
        [None] * len(keys)
    objects, prefixes, token = svc.list_objects(name, "", "/", None, None)
    assert ([o["key"] for o in objects], prefixes, token) == (["a.txt", "z.txt"], ["photos/", "videos/"], None)
    assert [o["size"] for o in objects] == [5, 5] and all(o["etag"] for o in objects)
    seen, token = [], None
    for _ in range(len(keys) + 1):
        page, _, token = svc.list_objects(name, "", None, token, 2)
        assert len(page) <= 2
        seen += [o["key"] for o in page]
        if token is None:
            break
    assert seen == keys
    assert [o["key"] for o in svc.list_objects(name, "photos/", "/", None, None)[0]] == ["photos/1.jpg"]


def test_copy_and_rename_refuse_an_existing_target_and_keep_properties(bucket: Bucket, tmp_path: Path) -> None:
    s, svc, name = bucket
    put(svc, name, "a.txt", b"A", metadata={"k": "v"}, cache_control="no-cache")
    put(svc, name, "b.txt", b"B")
    for move in (lambda o: svc.copy(name, "a.txt", name, "b.txt", o), lambda o: svc.rename(name, "a.txt", "b.txt", o)):
        with pytest.raises(AlreadyExists) as e:
            move(False)
        assert e.value.provider == s.provider and svc.download(name, "b.txt") == b"B"
    svc.copy(name, "a.txt", name, "c.txt")
    svc.rename(name, "a.txt", "b.txt", True)
    for key in ("b.txt", "c.txt"):
        head = svc.head_object(name, key)
        assert svc.download(name, key) == b"A" and (head["metadata"], head["cache_control"]) == ({"k": "v"},
                                                                                              "no-cache")
    with pytest.raises(NotFound):
        svc.head_object(name, "a.txt")
    errors = svc.download_many(name, [DownloadJob("b.txt", str(tmp_path / "b")), DownloadJob("gone", str(
        tmp_path / "gone"))], 2)
    assert errors[0] is None and isinstance(errors[1], NotFound) and (tmp_path / "b").read_bytes() == b"A"


def test_what_a_provider_lacks_is_unsupported_before_any_request(bucket: Bucket) -> None:
    s, svc, name = bucket
    put(svc, name, "k", b"data")
    if svc.implements("presign_get"):
        with urllib.request.urlopen(svc.presign_get(name, "k", 60)) as r:
            assert r.read() == b"data"
    lacking: list[Callable[[], object]] = []
    if not svc.capabilities.website_hosting:
        lacking += [lambda: s.Bucket(name).website(), lambda: s.Bucket(name).website_url]
    if not svc.implements("presign_get"):
        lacking += [lambda: s.Bucket(name).blob("k").url()]
    with s.count_requests() as c:
        for attempt in lacking:
            with pytest.raises(Unsupported) as e:
                attempt()
            assert e.value.provider == s.provider
    assert c.total == 0


def test_conditional_put_and_replace(bucket: Bucket) -> None:
    _, svc, name = bucket
    text = Properties("text/plain", {"a": "1"})
    written = svc.put(name, "k", b"one", text, if_none_match=True)
    assert written["size"] == 3 and svc.download(name, "k") == b"one"
    with pytest.raises(AlreadyExists):
        svc.put(name, "k", b"two", text, if_none_match=True)
    etag = svc.head_object(name, "k")["etag"]
    svc.replace(name, "k", Properties("text/markdown", {"b": "2"}, cache_control="no-cache"), etag)
    head = svc.head_object(name, "k")
    assert (head["content_type"], head["metadata"], head["cache_control"]) == ("text/markdown", {"b": "2"}, "no-cache")
    assert svc.download(name, "k") == b"one"
    svc.put(name, "k", b"three", text, if_match=head["etag"])
    for stale in (lambda: svc.put(name, "k", b"four", text, if_match=etag + "0"),
                  lambda: svc.replace(name, "k", text, etag + "0")):
        with pytest.raises(ConflictError):
            stale()
    assert svc.download(name, "k") == b"three"


def test_buckets_and_blobs_through_the_entities(storage: cloudorm.Session) -> None:
    name = unique()
    b = storage.Bucket(name)
    assert not b.exists()
    assert b.save() is b and b.exists() and b.region == storage.region
    b.save()
    assert name in [x.name for x in storage.buckets()]
    assert storage.buckets().limit(1).first() is not None
    assert storage.Bucket(name).refresh().region == storage.region
    blob = b.blob("hello.txt")
    blob.upload("hello", metadata={"k": "v"})
    assert blob.read_text() == "hello" and blob.content_type == "text/plain" and blob.metadata == {"k": "v"}
    assert [x.key for x in b.blobs()] == ["hello.txt"]
    with pytest.raises(ConflictError):
        b.delete()
    b.delete(force=True)
    assert not b.exists()
    with pytest.raises(NotFound) as e:
        b.delete()
    assert name in str(e.value)
    b.delete(missing_ok=True)
    b.delete(force=True, missing_ok=True)


def test_iam_users_through_the_entities(iam: cloudorm.Session) -> None:
    name = unique("conf")
    user = iam.User(name).save()
    assert iam.User(name).exists()
    user.delete()
    assert not user.exists()
    with pytest.raises(NotFound):
        user.delete()
