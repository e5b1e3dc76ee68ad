"""Many objects at once on the local cloud and on the aws provider against a moto server: delete_many (DeleteObjects,
1,000 keys a request, the piece delete(force=True) uses), rename_many and rename_prefix (a copy verified before the
delete, never losing data when answers are lost), exists_many (HEADs in parallel) and read_many (s3transfer into
memory). Behaviour on every provider: tests/providers/test_provider_storage_many.py; Wasabi's MOVE:
tests/providers/test_wasabi_many.py."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from typing_extensions import assert_type

import cloudorm
from cloudorm import Statement
from cloudorm.errors import AccessDenied, AlreadyExists, CloudError, ConflictError, NotFound
from cloudorm.storage import BlobResults
from cloudorm.testing import FaultProxy, ServeProcess
from tests.conftest import FAKE_CREDS, assert_refused_before_any_request
from tests.test_lost_responses_deletes import LoseFirst
from tests.test_storage import unique

MiB = 1024 * 1024


@pytest.fixture
def bucket(session: cloudorm.Session) -> Iterator[cloudorm.Bucket]:
    b = session.Bucket(unique()).save()
    yield b
    b.delete(force=True, missing_ok=True)


def keys(bucket: cloudorm.Bucket) -> list[str]:
    return [b.key for b in bucket.blobs()]


def other_client(session: cloudorm.Session) -> Any:
    """A plain boto3 client of the same endpoint: another writer."""
    return boto3.client("s3", endpoint_url=str(session.storage.place()), region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


# ----------------------------------------------------------------------------------------------- checks


def test_bad_input_is_refused_before_any_request(session: cloudorm.Session, bucket: cloudorm.Bucket) -> None:
    other = session.Bucket(unique())
    assert_refused_before_any_request(session, [
        (lambda: bucket.delete_many("a"), "keys"),
        (lambda: bucket.delete_many(["a", "a"]), "keys"),
        (lambda: bucket.delete_many([other.blob("a")]), "keys"),
        (lambda: bucket.delete_many([""]), "keys"),
        (lambda: bucket.exists_many(["a"], concurrency=0), "concurrency"),
        (lambda: bucket.read_many(["a"], text=True, encoding="no-such-codec"), "encoding"),
        (lambda: bucket.read_many(["a"], errors="no-such-handler"), "errors"),
        (lambda: bucket.read_many(["a"], text="yes"), "text"),  # type: ignore[call-overload]
        (lambda: bucket.rename_many([("a", "b")]), "renames"),  # type: ignore[arg-type]
        (lambda: bucket.rename_many({"a": "a"}), "renames['a']"),
        (lambda: bucket.rename_many({"a": "c", "b": "c"}), "renames['b']"),
        (lambda: bucket.rename_many({"a": "b", "b": "c"}), "renames['a']"),  # a chain: order would matter
        (lambda: bucket.rename_many({"a": "b", "b": "a"}), "renames['a']"),  # a swap
        (lambda: bucket.rename_many({"a": ""}), "renames['a']"),
        (lambda: bucket.rename_many({"a": "b"}, overwrite=1), "overwrite"),  # type: ignore[arg-type]
        (lambda: bucket.rename_prefix("docs/", "docs/"), "new_prefix"),  # onto itself
        (lambda: bucket.rename_prefix("docs/", "docs/old/"), "new_prefix"),  # into itself
        (lambda: bucket.rename_prefix("", "x/"), "prefix"),  # every key
        (lambda: bucket.rename_prefix("docs/", ""), "new_prefix"),
        (lambda: bucket.rename_prefix("d\udc80/", "x/"), "prefix"),
    ])


def test_nothing_to_do_sends_nothing(session: cloudorm.Session, bucket: cloudorm.Bucket) -> None:
    with session.count_requests() as c:
        deleted = bucket.delete_many([])
        found = bucket.exists_many([])
        read = bucket.read_many([])
        text = bucket.read_many([], text=True)
        renamed = bucket.rename_many({})
    assert c.total == 0 and [len(r) for r in (deleted, found, read, text, renamed)] == [0] * 5
    assert_type(read, BlobResults[bytes])
    assert_type(text, BlobResults[str])
    assert_type(found, BlobResults[bool])
    assert_type(renamed, BlobResults[cloudorm.Blob])


# ----------------------------------------------------------------------------------------------- deletes


def test_delete_many_sends_1000_keys_a_request_and_reports_each(session: cloudorm.Session,
                                                                 bucket: cloudorm.Bucket) -> None:
    bucket.upload_many({f"k/{i:04d}": str(i) for i in range(0, 2100, 500)}).raise_for_errors()
    blob = bucket.blob("k/0500")
    # 5 objects, and 2,095 keys never written
    wanted: list[str | cloudorm.Blob] = [blob, *[f"k/{i:04d}" for i in range(2100) if i != 500]]
    with session.count_requests() as c:
        results = bucket.delete_many(wanted)
    assert c.by_operation == {"s3.DeleteObjects": 3}  # 1,000 + 1,000 + 100
    assert results.ok and len(results) == 2100 and [r.target for r in results[:2]] == ["k/0500", "k/0000"]
    assert keys(bucket) == [] and cloudorm.state(blob) == "deleted"


def test_delete_many_reports_a_key_it_could_not_delete(session: cloudorm.Session, bucket: cloudorm.Bucket) -> None:
    bucket.upload_many({"free": b"1", "held": b"2", "also-free": b"3"}).raise_for_errors()
    other_client(session).put_bucket_policy(Bucket=bucket.name, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
                                               "Resource": f"arn:aws:s3:::{bucket.name}/held"}]}))
    results = bucket.delete_many(["free", "held", "also-free"])  # DeleteObjects answers 200, one key refused
    assert [r.ok for r in results] == [True, False, True] and keys(bucket) == ["held"]
    error = results.by_target()["held"].error
    assert isinstance(error, CloudError) and error.code == "AccessDenied" and error.request_id
    other_client(session).delete_bucket_policy(Bucket=bucket.name)


def test_delete_many_whose_answer_is_lost_is_sent_again_harmlessly(moto_url: str) -> None:
    with LoseFirst(moto_url) as proxy:
        flaky = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url, max_attempts=5)
        bucket = flaky.Bucket(unique()).save()
        bucket.upload_many({f"k{i}": "x" for i in range(5)}).raise_for_errors()
        proxy.matches = lambda method, path, target, body: method == "POST" and "delete" in path
        with flaky.count_requests() as c:
            results = bucket.delete_many([f"k{i}" for i in range(5)])
        assert proxy.lost == 1 and c["s3.DeleteObjects"] == 2  # applied, answer lost, sent again: all deleted
        assert results.ok and keys(bucket) == []
        bucket.delete()


# ----------------------------------------------------------------------------------------------- renames


def test_rename_many_reports_each_key(session: cloudorm.Session, bucket: cloudorm.Bucket) -> None:
    bucket.upload_many({"a.txt": "A", "b.txt": "B", "c.txt": "C", "taken.txt": "T"}).raise_for_errors()
    bucket.blob("a.txt").upload("A", metadata={"owner": "ann"}, tags={"team": "x"})
    given = bucket.blob("c.txt")
    results = bucket.rename_many({"a.txt": "x/a.txt", "b.txt": "taken.txt", given: "x/c.txt", "gone": "x/g"})
    assert [r.target for r in results] == ["a.txt", "b.txt", "c.txt", "gone"]
    assert [r.ok for r in results] == [True, False, True, False]
    assert isinstance(results[1].error, AlreadyExists) and isinstance(results[3].error, NotFound)
    moved = results[0].value
    assert moved == bucket.blob("x/a.txt") and moved is not None and moved.metadata == {"owner": "ann"}
    assert keys(bucket) == ["b.txt", "taken.txt", "x/a.txt", "x/c.txt"] and cloudorm.state(given) == "deleted"
    assert bucket.blob("taken.txt").read_text() == "T"  # nothing replaced
    assert bucket.rename_many({"b.txt": "taken.txt"}, overwrite=True).ok
    assert bucket.blob("taken.txt").read_text() == "B" and keys(bucket) == ["taken.txt", "x/a.txt", "x/c.txt"]


def test_the_copy_is_verified_before_the_source_is_deleted(session: cloudorm.Session,
                                                           bucket: cloudorm.Bucket) -> None:
    bucket.blob("src.txt").upload("mine")
    bucket.blob("dst.txt").upload("old target")
    client, done = other_client(session), list[bool]()

    def write_target(**_: Any) -> None:  # another writer replaces the copy just after it was made
        if not done:
            done.append(True)
            client.put_object(Bucket=bucket.name, Key="dst.txt", Body=b"theirs")

    session.storage.client.meta.events.register(  # type: ignore[attr-defined]
        "after-call.s3.CopyObject", write_target, unique_id=f"race-{uuid.uuid4().hex}")
    (result,) = bucket.rename_many({"src.txt": "dst.txt"}, overwrite=True)
    assert isinstance(result.error, ConflictError) and "nothing lost" in result.error.message
    assert bucket.blob("src.txt").read_text() == "mine" and bucket.blob("dst.txt").read_text() == "theirs"


@pytest.mark.parametrize("lose", ["PUT", "DELETE"], ids=["copy", "delete"])
def test_a_rename_whose_answer_is_lost_is_settled(moto_url: str, lose: str) -> None:
    with LoseFirst(moto_url) as proxy:
        flaky = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url, max_attempts=5)
        bucket = flaky.Bucket(unique()).save()
        bucket.upload_many({"a": "A", "b": "B"}).raise_for_errors()
        proxy.matches = lambda method, path, target, body: method == lose  # the CopyObject, or the DeleteObject
        results = bucket.rename_many({"a": "x/a", "b": "x/b"}, concurrency=1)
        assert proxy.lost == 1 and results.ok and keys(bucket) == ["x/a", "x/b"]
        assert bucket.blob("x/a").read_text() == "A"
        bucket.delete(force=True)


def test_renames_under_lost_answers_never_lose_an_object(moto_url: str) -> None:
    base = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=moto_url)
    bucket = base.Bucket(unique()).save()
    data = {f"in/{i}": f"object {i}" for i in range(12)}
    bucket.upload_many(data).raise_for_errors()
    with FaultProxy(moto_url, rate=0.3, kinds=("drop_after",), seed=7) as proxy:
        flaky = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url, max_attempts=10)
        results = flaky.Bucket(bucket.name).rename_prefix("in/", "out/", concurrency=4)
        assert proxy.stats["drop_after"] > 0
    for r in results:  # both, or the new one: never neither
        new = "out/" + r.target[3:]
        assert bucket.blob(new).read_text() == data[r.target] or bucket.blob(r.target).read_text() == data[r.target]
        if r.ok:
            assert not bucket.blob(r.target).exists()
    assert len(results) == 12
    bucket.delete(force=True)


def test_rename_prefix_renames_a_folder(session: cloudorm.Session, bucket: cloudorm.Bucket) -> None:
    bucket.upload_many({"docs/a.txt": "A", "docs/sub/b.txt": "B", "docs/": "", "docsx.txt": "not in the folder",
                        "archive/docs/a.txt": "taken"}).raise_for_errors()
    results = bucket.rename_prefix("docs/", "archive/docs/")
    assert [(r.target, r.ok) for r in results] == [("docs/", True), ("docs/a.txt", False), ("docs/sub/b.txt", True)]
    assert isinstance(results[1].error, AlreadyExists) and results[2].value == bucket.blob("archive/docs/sub/b.txt")
    assert keys(bucket) == ["archive/docs/", "archive/docs/a.txt", "archive/docs/sub/b.txt", "docs/a.txt",
                            "docsx.txt"]
    assert bucket.rename_prefix("archive/", "docs/").ok  # out of a folder that holds the new name's start: fine
    assert keys(bucket) == ["docs/a.txt", "docs/docs/", "docs/docs/a.txt", "docs/docs/sub/b.txt", "docsx.txt"]
    too_long = bucket.rename_prefix("docsx", "y" * 1030)  # refused per key, with no request for it
    assert too_long[0].error is not None and too_long[0].error.field == "new_prefix"  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------------------------- reads


def test_exists_many(session: cloudorm.Session, bucket: cloudorm.Bucket) -> None:
    bucket.upload_many({"a": "1", "b": "2"}).raise_for_errors()
    with session.count_requests() as c:
        found = bucket.exists_many(["a", "missing", bucket.blob("b")], concurrency=3)
    assert [(r.target, r.value, r.error) for r in found] == [("a", True, None), ("missing", False, None),
                                                            ("b", True, None)]
    assert c.by_operation == {"s3.HeadObject": 3, "s3.HeadBucket": 1}  # a 404: is it the bucket? one look
    with session.count_requests() as c:
        assert bucket.exists_many(["a", "b"]).ok and c.by_operation == {"s3.HeadObject": 2}
    gone = session.Bucket(unique()).exists_many(["a", "b"])
    assert [type(r.error) for r in gone] == [NotFound, NotFound] and "does not exist" in str(gone[0].error)


def test_exists_many_reports_other_errors_on_their_key(moto_url: str) -> None:
    base = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=moto_url)
    bucket = base.Bucket(unique()).save()
    bucket.blob("a").upload("1")
    with FaultProxy(moto_url, rate=1.0, kinds=("error500",)) as proxy:
        failing = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url, max_attempts=1)
        found = failing.Bucket(bucket.name).exists_many(["a", "b"])
    assert [r.value for r in found] == [None, None]
    assert all(isinstance(r.error, CloudError) and r.error.status == 500 for r in found)
    bucket.delete(force=True)


def test_exists_many_reports_a_403_on_its_key() -> None:
    """A key the caller may not read is AccessDenied on its own result (moto with IAM authorization on)."""
    setup_creds = {"aws_access_key_id": "AKIASETUPKEY00000001", "aws_secret_access_key": "setup-secret",
                   "region": "us-east-1"}
    with ServeProcess(env={"INITIAL_NO_AUTH_ACTION_COUNT": "1000000"}) as server:
        setup = cloudorm.Session("aws", creds=setup_creds, endpoint_url=server.url)
        bucket = setup.Bucket(unique()).save()
        bucket.upload_many({"open/a": "1", "secret": "2"}).raise_for_errors()
        user = setup.User(f"reader-{uuid.uuid4().hex[:8]}").save()
        user.attach(setup.Policy(f"all-but-{uuid.uuid4().hex[:8]}", statements=[  # (moto's HEAD is no GetObject)
            Statement("Allow", ["s3:*"], ["*"]),
            Statement("Deny", ["s3:*"], [f"arn:aws:s3:::{bucket.name}/secret", f"arn:aws:s3:::{bucket.name}"])
        ]).save())
        reader = cloudorm.Session("aws", creds=user.create_access_key().creds(), endpoint_url=server.url)
        requests.post(f"{server.url}/moto-api/reset-auth", data=b"0", timeout=5).raise_for_status()
        with reader.count_requests() as c:
            found = reader.Bucket(bucket.name).exists_many(["open/a", "secret", "open/missing"])
        with pytest.raises(AccessDenied):
            reader.Bucket(bucket.name).refresh()  # (a HeadBucket)
    assert [r.value for r in found] == [True, None, False]  # the HeadBucket that would tell is denied: False stands
    assert c.by_operation == {"s3.HeadObject": 3, "s3.HeadBucket": 1}
    assert isinstance(found[1].error, AccessDenied) and found[1].error.status == 403


def test_read_many_into_memory(session: cloudorm.Session, bucket: cloudorm.Bucket) -> None:
    bucket.upload_many({"a.txt": "héllo", "b.bin": b"\xff\xfe", "c.txt": "see"}).raise_for_errors()
    got = bucket.read_many(["c.txt", "a.txt", "missing", "b.bin"], concurrency=4)
    assert [r.value for r in got] == [b"see", "héllo".encode(), None, b"\xff\xfe"]
    assert isinstance(got[2].error, NotFound) and got.failed == [got[2]]
    text = bucket.read_many(["a.txt", "b.bin"], text=True)
    assert text[0].value == "héllo" and isinstance(text[1].error, UnicodeDecodeError)
    assert bucket.read_many(["a.txt"], text=True, encoding="latin-1")[0].value == "héllo".encode().decode("latin-1")
    listed = list(bucket.blobs())
    with session.count_requests() as c:
        again = bucket.read_many(listed, progress=True)
    assert again.ok and c.by_operation == {"s3.GetObject": 3}  # a listing's sizes and etags save the HEADs


def test_read_many_of_large_objects_uses_ranged_gets(moto_url: str) -> None:
    s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=moto_url, multipart_threshold=5 * MiB,
                         multipart_chunksize=5 * MiB)
    bucket = s.Bucket(unique()).save()
    big = bytes(range(256)) * (11 * MiB // 256)
    bucket.blob("big.bin").upload(big)
    with s.count_requests() as c:
        (result,) = bucket.read_many(list(bucket.blobs()))
    assert result.value == big and c["s3.GetObject"] == 3  # download_many's engine: parts in parallel
    bucket.delete(force=True)
