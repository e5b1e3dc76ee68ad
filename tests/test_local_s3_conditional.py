"""The local cloud's server refuses S3 conditional writes atomically, as S3 does: PutObject and CopyObject with
``If-None-Match: *`` on an existing key (or ``If-Match`` with another ETag) are answered 412 and change nothing,
racing conditional writers of one new key never both win, and cloudorm's ``copy_to``/``rename`` refuse a target
created between their HEAD and their copy. Plain boto3 and http.client over real HTTP."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

import cloudorm
from cloudorm.errors import AlreadyExists
from tests.test_local_server import raw

SIGNED_S3 = "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0"


def s3(url: str) -> Any:
    """A plain boto3 S3 client of ``url`` (no retries: a refused write is seen as sent)."""
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing",
                        config=Config(retries={"mode": "standard", "total_max_attempts": 1},
                                      max_pool_connections=32))


@pytest.fixture
def client(moto_url: str) -> Any:
    return s3(moto_url)


@pytest.fixture
def bucket(client: Any) -> Iterator[str]:
    """A fresh bucket holding ``existing`` ("old") and ``src`` ("new")."""
    name = f"cond-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    client.put_object(Bucket=name, Key="existing", Body=b"old", Metadata={"who": "first"})
    client.put_object(Bucket=name, Key="src", Body=b"new")
    yield name
    for obj in client.list_objects_v2(Bucket=name).get("Contents", []):
        client.delete_object(Bucket=name, Key=obj["Key"])
    client.delete_bucket(Bucket=name)


def put(client: Any, bucket: str, key: str, **conditions: str) -> None:
    client.put_object(Bucket=bucket, Key=key, Body=b"new", **conditions)


def copy(client: Any, bucket: str, key: str, **conditions: str) -> None:
    client.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": "src"}, **conditions)


def body(client: Any, bucket: str, key: str) -> bytes:
    data: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


WRITES = {"PutObject": put, "CopyObject": copy}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_if_none_match_refuses_an_existing_key(client: Any, bucket: str, write: Callable[..., None]) -> None:
    before = client.head_object(Bucket=bucket, Key="existing")
    with pytest.raises(ClientError) as e:
        write(client, bucket, "existing", IfNoneMatch="*")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert e.value.response["Error"] == {
        "Code": "PreconditionFailed", "Message": "At least one of the pre-conditions you specified did not hold",
        "Condition": "If-None-Match"}
    assert e.value.response["ResponseMetadata"]["RequestId"]
    after = client.head_object(Bucket=bucket, Key="existing")
    assert body(client, bucket, "existing") == b"old"
    assert (after["ETag"], after["Metadata"], after["LastModified"]) == \
        (before["ETag"], before["Metadata"], before["LastModified"])


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_if_none_match_writes_a_new_key(client: Any, bucket: str, write: Callable[..., None]) -> None:
    write(client, bucket, "fresh", IfNoneMatch="*")
    assert body(client, bucket, "fresh") == b"new"


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_if_match_writes_only_over_that_version(client: Any, bucket: str, write: Callable[..., None]) -> None:
    with pytest.raises(ClientError) as e:
        write(client, bucket, "existing", IfMatch='"0123456789abcdef0123456789abcdef"')
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert e.value.response["Error"]["Condition"] == "If-Match"
    with pytest.raises(ClientError) as e:
        write(client, bucket, "missing", IfMatch='"0123456789abcdef0123456789abcdef"')
    assert e.value.response["Error"]["Code"] == "NoSuchKey"
    assert body(client, bucket, "existing") == b"old"
    write(client, bucket, "existing", IfMatch=client.head_object(Bucket=bucket, Key="existing")["ETag"])
    assert body(client, bucket, "existing") == b"new"


def test_copies_pinned_to_another_source_version_are_refused(client: Any, bucket: str) -> None:
    stale = '"0123456789abcdef0123456789abcdef"'
    with pytest.raises(ClientError) as e:  # moto alone copies whatever the source holds
        copy(client, bucket, "target", CopySourceIfMatch=stale)
    assert e.value.response["Error"]["Code"] == "PreconditionFailed"
    assert "Contents" not in client.list_objects_v2(Bucket=bucket, Prefix="target")
    upload = client.create_multipart_upload(Bucket=bucket, Key="parts")["UploadId"]
    with pytest.raises(ClientError) as e:
        client.upload_part_copy(Bucket=bucket, Key="parts", UploadId=upload, PartNumber=1,
                                CopySource={"Bucket": bucket, "Key": "src"}, CopySourceIfMatch=stale)
    assert e.value.response["Error"]["Code"] == "PreconditionFailed"
    client.abort_multipart_upload(Bucket=bucket, Key="parts", UploadId=upload)
    etag = client.head_object(Bucket=bucket, Key="src")["ETag"]
    copy(client, bucket, "target", CopySourceIfMatch=etag)
    assert body(client, bucket, "target") == b"new"


def test_delete_if_match_deletes_only_that_version(client: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as e:
        client.delete_object(Bucket=bucket, Key="src", IfMatch='"0123456789abcdef0123456789abcdef"')
    assert e.value.response["Error"]["Code"] == "PreconditionFailed" and body(client, bucket, "src") == b"new"
    client.delete_object(Bucket=bucket, Key="src", IfMatch=client.head_object(Bucket=bucket, Key="src")["ETag"])
    assert "Contents" not in client.list_objects_v2(Bucket=bucket, Prefix="src")


def test_copy_with_virtual_hosted_address(moto_url: str, client: Any, bucket: str) -> None:
    port = moto_url.rsplit(":", 1)[1]
    for key, status in (("existing", 412), ("virtual", 200)):
        got, _, answer = raw(moto_url, "PUT", f"/{key}", host=f"{bucket}.localhost:{port}",
                             headers={"x-amz-copy-source": f"{bucket}/src", "If-None-Match": "*",
                                      "Authorization": SIGNED_S3})
        assert got == status, answer
    assert body(client, bucket, "existing") == b"old"
    assert body(client, bucket, "virtual") == b"new"


def test_copy_into_a_missing_bucket_is_no_such_bucket(client: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as e:
        client.copy_object(Bucket=f"nobucket-{uuid.uuid4().hex[:8]}", Key="k", IfNoneMatch="*",
                           CopySource={"Bucket": bucket, "Key": "src"})
    assert e.value.response["Error"]["Code"] == "NoSuchBucket"


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_racing_conditional_writers_of_one_new_key_exactly_one_wins(moto_url: str, bucket: str,
                                                                    write: Callable[..., None]) -> None:
    writers = 12
    clients = [s3(moto_url) for _ in range(writers)]
    start = threading.Barrier(writers)
    outcomes: list[str] = []

    def race(c: Any) -> None:
        start.wait()
        try:
            write(c, bucket, "contested", IfNoneMatch="*")
            outcomes.append("won")
        except ClientError as e:
            outcomes.append(e.response["Error"]["Code"])

    threads = [threading.Thread(target=race, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert sorted(outcomes) == ["PreconditionFailed"] * (writers - 1) + ["won"]


def write_before_copy(session: cloudorm.Session, bucket: str, key: str) -> None:
    """A second client writes ``key`` just before ``session`` sends its next CopyObject: after cloudorm's HEAD saw
    no target, before its copy reaches the server (a real concurrent writer, made deterministic)."""
    other = s3(str(session.endpoint_url))

    def writer(**_: Any) -> None:
        other.put_object(Bucket=bucket, Key=key, Body=b"theirs")

    session._provider.clients.client("s3").meta.events.register_first(  # type: ignore[attr-defined]
        "before-send.s3.CopyObject", writer, unique_id=f"race-{uuid.uuid4().hex}")


@pytest.mark.parametrize("operation", ["copy_to", "rename"])
def test_cloudorm_refuses_a_target_created_after_its_check(operation: str) -> None:
    session = cloudorm.Session()
    bucket = session.Bucket(f"cond-{uuid.uuid4().hex[:12]}").save()
    try:
        source = bucket.blob("a.txt").upload("mine")
        write_before_copy(session, bucket.name, "b.txt")
        with pytest.raises(AlreadyExists):
            source.copy_to(bucket, "b.txt") if operation == "copy_to" else source.rename("b.txt")
        assert bucket.blob("b.txt").read_text() == "theirs"  # the other writer's object is kept
        assert source.read_text() == "mine"  # and the source too
    finally:
        bucket.delete(force=True, missing_ok=True)
