"""``Blob.save()`` and ``Bucket.save()`` on the local cloud and on aws at a moto server: pending content and headers
written, a header change as a copy onto itself pinned to the ETag read, adoption and ``exists_ok=False``, identity
equality, and what a lost answer does to each new write (FaultProxy ``drop_after``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

import cloudorm
from cloudorm.errors import AlreadyExists, ConflictError, InvalidInput
from tests.conftest import FAKE_CREDS
from tests.test_lost_responses_deletes import LoseFirst
from tests.test_storage import stored


@pytest.fixture
def bucket(session: cloudorm.Session) -> Iterator[cloudorm.Bucket]:
    b = session.Bucket(f"save-{uuid.uuid4().hex[:12]}").save()
    yield b
    b.delete(force=True, missing_ok=True)


def test_save_writes_pending_content_and_headers_then_only_what_changed(bucket: cloudorm.Bucket) -> None:
    blob = bucket.blob("notes/a.txt")
    blob.data = "hello"
    blob.metadata = {"owner": "ann"}
    blob.cache_control = "no-cache"
    assert cloudorm.changes(blob) == {"key", "data", "metadata", "cache_control"}
    with bucket.session.count_requests() as c:
        assert blob.save() is blob
    assert c.by_operation == {"s3.PutObject": 1} and cloudorm.state(blob) == "saved"  # If-None-Match: *
    assert blob.content_type == "text/plain" and blob.size == 5 and blob.etag and c.total == 1  # nothing read
    fresh = bucket.blob("notes/a.txt")
    assert (fresh.read_text(), fresh.metadata, fresh.cache_control) == ("hello", {"owner": "ann"}, "no-cache")

    blob.metadata["owner"] = "bob"
    blob.content_type = "text/markdown"
    with bucket.session.count_requests() as c:
        blob.save()
    assert c["s3.CopyObject"] == 1 and "s3.PutObject" not in c.by_operation  # headers only: a copy onto itself
    assert stored(bucket, "notes/a.txt") | {"Tags": []} == {
        "ContentType": "text/markdown", "CacheControl": "no-cache", "ContentDisposition": None,
        "ContentEncoding": None, "ContentLanguage": None, "StorageClass": None, "Expires": None,
        "Metadata": {"owner": "bob"}, "Tags": []}
    blob.data = b"v2"
    blob.save()
    assert bucket.blob("notes/a.txt").read_text() == "v2" and bucket.blob("notes/a.txt").metadata == {"owner": "bob"}


def test_a_header_change_keeps_content_tags_and_the_rest(bucket: cloudorm.Bucket) -> None:
    bucket.blob("t.csv").upload("a,b\n", tags={"project": "apollo"}, content_disposition="inline",
                                storage_class="STANDARD_IA")
    blob = bucket.blob("t.csv")
    blob.metadata["owner"] = "ops"  # the first read loads the blob (one HEAD): it is then saved, and changed
    assert cloudorm.state(blob) == "changed"
    blob.save()
    after = stored(bucket, "t.csv")
    assert after["Metadata"] == {"owner": "ops"} and after["ContentDisposition"] == "inline"
    assert after["StorageClass"] == "STANDARD_IA" and after["Tags"] == [{"Key": "project", "Value": "apollo"}]
    assert bucket.blob("t.csv").read_text() == "a,b\n"


@pytest.mark.parametrize("size", [4, 9 * 1024 * 1024], ids=["small", "multipart"])  # the threshold is 8 MiB
def test_a_write_since_the_blob_was_read_is_not_lost(bucket: cloudorm.Bucket, size: int) -> None:
    mine = bucket.blob("c.txt").upload("v1").refresh()
    bucket.blob("c.txt").upload("theirs", metadata={"by": "them"})  # another writer, after mine was read
    mine.metadata = {"by": "me"}
    with pytest.raises(ConflictError):
        mine.save()
    mine.data = b"m" * size
    with pytest.raises(ConflictError):
        mine.save()
    theirs = bucket.blob("c.txt")
    assert (theirs.read_text(), theirs.metadata) == ("theirs", {"by": "them"})
    assert mine.refresh().save() is mine and mine.read_text() == "theirs"  # refresh(): local changes dropped


def test_a_new_blob_whose_key_exists_is_adopted_unless_exists_ok_is_false(bucket: cloudorm.Bucket) -> None:
    bucket.blob("k.txt").upload("old", metadata={"a": "1"}, cache_control="max-age=5")
    with pytest.raises(AlreadyExists):
        bucket.blob("k.txt").save(exists_ok=False)
    twin = bucket.blob("k.txt")
    twin.data = "new"
    with pytest.raises(AlreadyExists):
        twin.save(exists_ok=False)
    assert bucket.blob("k.txt").read_text() == "old"
    headers = bucket.blob("k.txt")
    headers.metadata = {"b": "2"}
    headers.save()  # adopted: what was given is written, the rest kept
    assert stored(bucket, "k.txt")["CacheControl"] == "max-age=5" and headers.read_text() == "old"
    twin.save()  # pending content replaces the old, the stored headers stay
    fresh = bucket.blob("k.txt")
    assert (fresh.read_text(), fresh.metadata, fresh.cache_control) == ("new", {"b": "2"}, "max-age=5")


def test_bad_blob_values_are_refused_before_any_request(bucket: cloudorm.Bucket) -> None:
    blob = bucket.blob("x.txt")
    with bucket.session.count_requests() as c:
        for name, value in [("data", 3), ("content_type", "text"), ("cache_control", "a\nb"), ("expires", 5),
                            ("storage_class", "FAST"), ("metadata", {"a b": "c"})]:
            with pytest.raises(InvalidInput):
                setattr(blob, name, value)
        blob.metadata = {}
        blob.metadata["bad name"] = "edited in place"
        with pytest.raises(InvalidInput):
            blob.save()
    assert c.total == 0


def test_bucket_adoption_region_and_tags(session: cloudorm.Session, bucket: cloudorm.Bucket) -> None:
    with pytest.raises(AlreadyExists):
        session.Bucket(bucket.name).save(exists_ok=False)
    twin = session.Bucket(bucket.name).save()
    assert cloudorm.state(twin) == "saved" and twin.region == "us-east-1"
    with pytest.raises(InvalidInput, match="region"):
        session.Bucket(bucket.name, region="eu-west-1").save()
    bucket.tags["team"] = "storage"
    bucket.save()
    assert session.Bucket(bucket.name).refresh().tags == {"team": "storage"}
    eu = session.Bucket(f"save-eu-{uuid.uuid4().hex[:10]}", region="eu-west-1").save()
    try:
        with pytest.raises(AlreadyExists):
            session.Bucket(eu.name, region="eu-west-1").save(exists_ok=False)
    finally:
        eu.delete()


def test_a_listed_bucket_is_saved_and_completes_lazily(session: cloudorm.Session, bucket: cloudorm.Bucket) -> None:
    listed = next(b for b in session.buckets() if b.name == bucket.name)
    assert cloudorm.state(listed) == "saved" and listed == bucket and listed.created is not None
    assert listed.region == "us-east-1" and listed.tags == {} and listed.created is not None  # loaded, kept
    with session.count_requests() as c:
        listed.save()
    assert c.total == 0


def test_equality_by_identity(session: cloudorm.Session, bucket: cloudorm.Bucket) -> None:
    assert bucket == session.Bucket(bucket.name, region="eu-west-1")  # the same bucket: values do not matter
    blob = bucket.blob("a")
    blob.metadata = {"x": "y"}
    assert blob == session.Bucket(bucket.name).blob("a") and len({blob, bucket.blob("a")}) == 1
    assert blob != bucket.blob("b") and bucket.blob("a") != session.Bucket(bucket.name + "x").blob("a")
    other = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url="http://127.0.0.1:1")
    assert bucket != other.Bucket(bucket.name) and blob != other.Bucket(bucket.name).blob("a")


# ----------------------------------------------------------------------------------------------- lost answers


@pytest.fixture
def proxy(moto_url: str) -> Iterator[LoseFirst]:
    with LoseFirst(moto_url) as p:
        yield p


@pytest.fixture
def flaky(proxy: LoseFirst) -> cloudorm.Session:
    return cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url, max_attempts=5)


def _lose(proxy: LoseFirst, method: str, path: str, header: str = "") -> None:
    proxy.lost = 0
    proxy.matches = lambda m, p, target, body: m == method and p.split("?")[0].rstrip("/").endswith(path)


@pytest.mark.parametrize("exists_ok", [True, False])
def test_lost_answers_to_saves_are_settled(proxy: LoseFirst, flaky: cloudorm.Session, exists_ok: bool) -> None:
    name = f"lost-save-{uuid.uuid4().hex[:10]}"
    _lose(proxy, "PUT", name)
    bucket = flaky.Bucket(name).save(exists_ok=exists_ok)  # a re-sent CreateBucket finds it: created
    assert proxy.lost == 1 and cloudorm.state(bucket) == "saved"
    try:
        blob = bucket.blob("a.txt")
        blob.data = "hello"
        _lose(proxy, "PUT", f"{name}/a.txt")
        blob.save(exists_ok=exists_ok)  # the re-send's If-None-Match fails on this very write: created
        assert proxy.lost == 1 and blob.read_text() == "hello"
        blob.data = "again"
        _lose(proxy, "PUT", f"{name}/a.txt")
        blob.save()  # If-Match the ETag read: fails on the re-send, the object shows this write
        assert proxy.lost == 1 and blob.read_text() == "again"
        blob.metadata = {"m": "1"}
        _lose(proxy, "PUT", f"{name}/a.txt")
        blob.save()  # the copy onto itself, re-sent
        assert proxy.lost == 1 and bucket.blob("a.txt").metadata == {"m": "1"}
    finally:
        proxy.matches = lambda *a: False
        bucket.delete(force=True)

