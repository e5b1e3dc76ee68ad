"""What only one provider does: Wasabi's native MOVE rename and endpoints, Spaces' own key, buckets of other regions
(what every provider does is in test_provider_storage.py)."""

from __future__ import annotations

import logging
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

import cloudorm
from cloudorm.errors import AlreadyExists, ConflictError, InvalidInput, NotFound
from cloudorm.testing import WasabiEmulator
from tests.conftest import FAKE_CREDS
from tests.providers.conftest import SPACES_CREDS, WASABI_CREDS


@pytest.fixture
def wasabi(moto_url: str) -> Iterator[tuple[cloudorm.Session, WasabiEmulator]]:
    with WasabiEmulator(moto_url, WASABI_CREDS["aws_access_key_id"], WASABI_CREDS["aws_secret_access_key"]) as w:
        yield cloudorm.Session("wasabi", creds=WASABI_CREDS, endpoint_url=w.url), w


def _bucket(s: cloudorm.Session) -> cloudorm.Bucket:
    return s.Bucket(f"b-{uuid.uuid4().hex[:12]}").save()


def test_wasabi_endpoints_follow_the_region_with_no_region_list() -> None:
    s = cloudorm.Session("wasabi", creds={**WASABI_CREDS, "region": "ap-northeast-1"})
    clients = s._provider.clients  # type: ignore[attr-defined]
    assert clients.endpoint("s3") == "https://s3.ap-northeast-1.wasabisys.com"
    assert clients.endpoint("iam") == "https://iam.wasabisys.com"
    assert clients.config("iam").region_name == "us-east-1"  # Wasabi's IAM is signed for us-east-1
    assert clients.config("s3").request_checksum_calculation == "when_required"
    assert "wasabisys" not in repr(s)  # the repr shows only overrides


def test_wasabi_rename_is_one_signed_move(wasabi: tuple[cloudorm.Session, WasabiEmulator],
                                          caplog: pytest.LogCaptureFixture) -> None:
    s, emulator = wasabi
    bucket = _bucket(s)
    bucket.blob("reports/2024 q1.csv").upload(b"a,b\n1,2\n", metadata={"owner": "ops"})
    with caplog.at_level(logging.DEBUG), s.count_requests() as c:
        bucket.blob("reports/2024 q1.csv").rename("archive/q1.csv")
    assert c.by_operation == {"s3.MoveObject": 1}  # atomic: no copy, no delete
    (move,) = emulator.moves
    assert (move.bucket, move.key) == (bucket.name, "reports/2024 q1.csv")
    assert move.headers["Destination"] == "archive/q1.csv"
    assert move.headers["Overwrite"] == "false" and move.headers["X-Wasabi-Quiet"] == "true"  # never replaces
    assert move.headers["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={WASABI_CREDS['aws_access_key_id']}/")
    assert "destination;" in move.headers["Authorization"]  # the headers are signed
    moved = bucket.blob("archive/q1.csv")
    assert moved.download() == b"a,b\n1,2\n" and moved.metadata == {"owner": "ops"}
    assert not bucket.blob("reports/2024 q1.csv").exists()
    assert WASABI_CREDS["aws_secret_access_key"] not in caplog.text


def test_wasabi_rename_errors_are_mapped(wasabi: tuple[cloudorm.Session, WasabiEmulator]) -> None:
    s, _ = wasabi
    bucket = _bucket(s)
    with pytest.raises(NotFound) as e:
        bucket.blob("missing").rename("other")
    assert e.value.provider == "wasabi" and e.value.operation == "MoveObject" and e.value.request_id
    bad = cloudorm.Session("wasabi", creds={**WASABI_CREDS, "aws_secret_access_key": "wrong-secret"},
                           endpoint_url=s.endpoint_url)
    bucket.blob("k").upload(b"x")
    with pytest.raises(cloudorm.errors.AccessDenied, match="signature"):
        bad.Bucket(bucket.name).blob("k").rename("k2")
    assert bucket.blob("k").exists()


def test_wasabi_non_ascii_keys_are_renamed_by_copy(wasabi: tuple[cloudorm.Session, WasabiEmulator]) -> None:
    s, emulator = wasabi
    bucket = _bucket(s)
    bucket.blob("été.txt").upload(b"soleil")
    with s.count_requests() as c:
        bucket.blob("été.txt").rename("hiver/été.txt")
    assert c["s3.MoveObject"] == 0 and c["s3.CopyObject"] == 1 and not emulator.moves
    assert bucket.blob("hiver/été.txt").download() == b"soleil"


def test_wasabi_copies_keep_tags_though_head_reports_no_tag_count(
        wasabi: tuple[cloudorm.Session, WasabiEmulator]) -> None:
    s, _ = wasabi
    bucket = _bucket(s)
    bucket.blob("été.txt").upload(b"soleil", tags={"project": "apollo"})
    client: Any = s.storage.client  # type: ignore[attr-defined]
    assert "TagCount" not in client.head_object(Bucket=bucket.name, Key="été.txt")  # as Wasabi: no tag count
    with s.count_requests() as c:
        bucket.blob("été.txt").copy_to(bucket, "copie.txt")
        bucket.blob("été.txt").rename("hiver/été.txt")  # not printable ASCII: a copy and a delete
    assert c["s3.GetObjectTagging"] == 2  # read on every copy: the HEAD cannot tell
    for key in ("copie.txt", "hiver/été.txt"):
        assert client.get_object_tagging(Bucket=bucket.name, Key=key)["TagSet"] == [
            {"Key": "project", "Value": "apollo"}]
    assert not bucket.blob("été.txt").exists()


def test_wasabi_rename_refuses_an_existing_target(wasabi: tuple[cloudorm.Session, WasabiEmulator]) -> None:
    s, emulator = wasabi
    bucket = _bucket(s)
    for key, data in (("a", b"A"), ("b", b"B"), ("é", b"E")):
        bucket.blob(key).upload(data)
    with s.count_requests() as c:
        for target in ("b", "é"):  # a MOVE with Overwrite: false, and the copy for non-ASCII keys
            with pytest.raises(AlreadyExists) as e:
                bucket.blob("a").rename(target)
            assert e.value.provider == "wasabi"
    assert c["s3.MoveObject"] == 1 and c["s3.CopyObject"] == 0 and not emulator.moves
    assert [bucket.blob(k).download() for k in ("a", "b", "é")] == [b"A", b"B", b"E"]  # nothing changed
    bucket.blob("a").rename("b", overwrite=True)
    assert emulator.moves[-1].headers["Overwrite"] == "true"
    assert bucket.blob("b").download() == b"A" and not bucket.blob("a").exists()


def test_wasabi_rename_whose_answer_was_lost_is_not_sent_again(moto_url: str) -> None:
    # the MOVE is applied, then the connection closes: sent again it would find no source and say NotFound
    with WasabiEmulator(moto_url, WASABI_CREDS["aws_access_key_id"], WASABI_CREDS["aws_secret_access_key"],
                        drop_moves=2) as emulator:
        s = cloudorm.Session("wasabi", creds=WASABI_CREDS, endpoint_url=emulator.url)
        bucket = _bucket(s)
        bucket.blob("a").upload(b"A", metadata={"k": "v"})
        bucket.blob("c").upload(b"C")
        moved = bucket.blob("a").rename("b")
        assert len(emulator.moves) == 1 and emulator.stats["drop_after"] == 1
        assert moved.download() == b"A" and moved.metadata == {"k": "v"} and not bucket.blob("a").exists()
        bucket.blob("b").rename("c", overwrite=True)  # the same with an existing target replaced
        assert len(emulator.moves) == 2 and bucket.blob("c").download() == b"A" and not bucket.blob("b").exists()


def test_emulator_honours_overwrite_and_prefix(wasabi: tuple[cloudorm.Session, WasabiEmulator]) -> None:
    s, emulator = wasabi
    bucket = _bucket(s)
    for key in ("logs/a", "logs/b", "keep"):
        bucket.blob(key).upload(key.encode())
    s3 = s._provider.clients.client("s3")  # type: ignore[attr-defined]
    with pytest.raises(ClientError, match="ObjectAlreadyExists"):
        s3.move_object(Bucket=bucket.name, Key="logs/a", Destination="keep", Overwrite="false")
    assert bucket.blob("keep").download() == b"keep"
    status = s3.move_object(Bucket=bucket.name, Key="logs/", Destination="old-logs/", Prefix="true")["Status"].read()
    assert b"<NewKey>old-logs/a</NewKey>" in status and b"<NewKey>old-logs/b</NewKey>" in status
    assert sorted(b.key for b in bucket.blobs()) == ["keep", "old-logs/a", "old-logs/b"]
    assert emulator.moves[-1].renamed == (("logs/a", "old-logs/a"), ("logs/b", "old-logs/b"))


def test_digitalocean_spaces_needs_its_key_before_any_request() -> None:
    s = cloudorm.Session("digitalocean", creds={"access_token": "dop_v1_token"})
    with pytest.raises(InvalidInput) as e:
        s.Bucket("some-bucket").save()
    assert e.value.field == "spaces_key"
    real = cloudorm.Session("digitalocean", creds={**SPACES_CREDS, "region": "sfo3"})
    assert real._provider.spaces_endpoint == "https://sfo3.digitaloceanspaces.com"  # type: ignore[attr-defined]


def test_buckets_in_another_region_are_signed_for_theirs(moto_url: str) -> None:
    s = cloudorm.Session("aws", creds={**FAKE_CREDS, "region": "eu-west-1"}, endpoint_url=moto_url)
    name = f"b-{uuid.uuid4().hex[:12]}"
    # AWS refuses a CreateBucket signed for another region than the bucket's (IllegalLocationConstraint)
    home = s.Bucket(name, region="us-east-1").save()
    assert cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=moto_url).Bucket(name).refresh().region == "us-east-1"
    home.blob("k.txt").upload(b"data")
    url = home.blob("k.txt").url(expires=60)
    assert "%2Fus-east-1%2Fs3%2Faws4_request" in url  # S3 rejects a presigned URL signed for another region
    with urllib.request.urlopen(url) as r:
        assert r.read() == b"data"
    post = home.upload_url("form.txt")
    assert "/us-east-1/s3/aws4_request" in post.fields["x-amz-credential"]
    same = s.Bucket(f"b-{uuid.uuid4().hex[:12]}").save()  # the session's region
    assert "%2Feu-west-1%2Fs3%2F" in same.blob("k").url()
    home.delete(force=True)
    same.delete()


def test_wasabi_buckets_in_other_regions_use_that_regions_endpoint() -> None:
    s = cloudorm.Session("wasabi", creds=WASABI_CREDS)
    clients = s._provider.clients  # type: ignore[attr-defined]
    assert clients.endpoint("s3") == "https://s3.eu-central-2.wasabisys.com"
    assert clients.endpoint("s3", "us-west-1") == "https://s3.us-west-1.wasabisys.com"
    url = s.Bucket("far-away", region="us-west-1").blob("k").url()
    assert url.startswith("https://") and "s3.us-west-1.wasabisys.com" in url and "%2Fus-west-1%2F" in url



def test_wasabi_blob_save_checks_with_a_head_where_writes_are_not_conditional(
        wasabi: tuple[cloudorm.Session, WasabiEmulator]) -> None:
    s, _ = wasabi
    bucket = _bucket(s)
    blob = bucket.blob("a.txt")
    blob.data = "one"
    with s.count_requests() as c:
        blob.save()
    assert c.by_operation == {"s3.HeadObject": 1, "s3.PutObject": 1}  # the HEAD is the check: no If-None-Match
    with pytest.raises(AlreadyExists):
        bucket.blob("a.txt").save(exists_ok=False)
    bucket.blob("a.txt").upload("two")  # another writer
    blob.metadata = {"k": "v"}
    with pytest.raises(ConflictError):
        blob.save()
    assert bucket.blob("a.txt").read_text() == "two"
    bucket.delete(force=True)
