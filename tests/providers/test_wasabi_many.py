"""Wasabi's folder rename: ``bucket.rename_prefix`` is one MOVE with ``X-Wasabi-Prefix: true`` (WasabiEmulator does
it the way Wasabi documents: each key under the prefix on its own, an error row for a key whose target exists),
never sent blindly again after a lost answer; ``rename_many`` is one MOVE per key."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

import cloudorm
from cloudorm.errors import AlreadyExists
from cloudorm.testing import WasabiEmulator
from tests.providers.conftest import WASABI_CREDS


def emulator(moto_url: str, **options: int) -> WasabiEmulator:
    return WasabiEmulator(moto_url, WASABI_CREDS["aws_access_key_id"], WASABI_CREDS["aws_secret_access_key"],
                          **options)


@pytest.fixture
def wasabi(moto_url: str) -> Iterator[tuple[cloudorm.Session, WasabiEmulator]]:
    with emulator(moto_url) as w:
        yield cloudorm.Session("wasabi", creds=WASABI_CREDS, endpoint_url=w.url), w


def folder(s: cloudorm.Session) -> cloudorm.Bucket:
    bucket = s.Bucket(f"w-{uuid.uuid4().hex[:12]}").save()
    bucket.upload_many({"old/a": "A", "old/sub/b": "B", "old/c": "C", "new/c": "kept", "olden": "O"}).raise_for_errors()
    bucket.blob("old/a").upload("A", metadata={"owner": "ann"}, tags={"t": "1"})
    return bucket


def test_rename_prefix_is_one_move_with_a_result_per_key(wasabi: tuple[cloudorm.Session, WasabiEmulator]) -> None:
    s, w = wasabi
    bucket = folder(s)
    with s.count_requests() as c:
        results = bucket.rename_prefix("old/", "new/")
    assert c.by_operation == {"s3.ListObjectsV2": 1, "s3.MoveObject": 1}  # no copy, no delete
    (move,) = w.moves
    assert (move.key, move.headers["Destination"], move.headers["X-Wasabi-Prefix"], move.headers["Overwrite"],
            move.headers["X-Wasabi-Quiet"]) == ("old/", "new/", "true", "false", "false")
    assert [(r.target, r.ok) for r in results] == [("old/a", True), ("old/c", False), ("old/sub/b", True)]
    assert isinstance(results[1].error, AlreadyExists) and "new/c" in results[1].error.message
    assert results[0].value == bucket.blob("new/a") and bucket.blob("new/a").metadata == {"owner": "ann"}
    assert sorted(b.key for b in bucket.blobs()) == ["new/a", "new/c", "new/sub/b", "old/c", "olden"]
    assert bucket.blob("new/c").read_text() == "kept"
    assert bucket.rename_prefix("old/", "new/", overwrite=True).ok and bucket.blob("new/c").read_text() == "C"
    bucket.delete(force=True)


def test_emulator_answers_a_prefix_move_per_key(wasabi: tuple[cloudorm.Session, WasabiEmulator]) -> None:
    s, _ = wasabi
    bucket = folder(s)
    s3 = s._provider.clients.client("s3")  # type: ignore[attr-defined]
    quiet = s3.move_object(Bucket=bucket.name, Key="old/", Destination="new/", Prefix="true", Quiet="true")
    status = quiet["Status"].read()
    assert b"<Renamed>" not in status and b"<Error><Key>old/c</Key>" in status
    assert b"<Code>ObjectAlreadyExists</Code>" in status  # the others moved, this one stayed
    with pytest.raises(ClientError, match="ObjectAlreadyExists"):  # one key: the whole MOVE is refused
        s3.move_object(Bucket=bucket.name, Key="old/c", Destination="new/c", Overwrite="false")
    bucket.delete(force=True)


def test_lost_prefix_move_is_settled_not_sent_blindly(moto_url: str) -> None:
    with emulator(moto_url, drop_moves=1) as w:  # the first MOVE is applied, then its connection closed
        s = cloudorm.Session("wasabi", creds=WASABI_CREDS, endpoint_url=w.url)
        bucket = folder(s)
        bucket.blob("new/c").delete()
        results = bucket.rename_prefix("old/", "new/")
        assert len(w.moves) == 1 and w.stats["drop_after"] == 1  # the listings told: it moved
        assert results.ok and [r.target for r in results] == ["old/a", "old/c", "old/sub/b"]
        assert sorted(b.key for b in bucket.blobs()) == ["new/a", "new/c", "new/sub/b", "olden"]
        bucket.delete(force=True)


def test_lost_prefix_move_that_left_keys_is_sent_again_for_them(moto_url: str) -> None:
    with emulator(moto_url, drop_moves=1) as w:
        s = cloudorm.Session("wasabi", creds=WASABI_CREDS, endpoint_url=w.url)
        bucket = folder(s)  # "new/c" exists: the lost MOVE leaves "old/c" where it was
        results = bucket.rename_prefix("old/", "new/")
        assert len(w.moves) == 2 and w.moves[1].renamed == ()  # sent again for what was left: refused again
        assert [(r.target, r.ok) for r in results] == [("old/a", True), ("old/c", False), ("old/sub/b", True)]
        assert isinstance(results[1].error, AlreadyExists)
        bucket.delete(force=True)


def test_rename_many_is_a_move_per_key_and_non_ascii_prefixes_are_copied(
        wasabi: tuple[cloudorm.Session, WasabiEmulator]) -> None:
    s, w = wasabi
    bucket = folder(s)
    with s.count_requests() as c:
        assert bucket.rename_many({"old/a": "x/a", "olden": "x/o"}, concurrency=2).ok
    assert c.by_operation == {"s3.MoveObject": 2}
    assert bucket.rename_prefix("old/", "neu/é/").ok  # no header can carry it: copies and deletes
    assert len(w.moves) == 2 and bucket.blob("neu/é/sub/b").read_text() == "B"
    bucket.delete(force=True)
