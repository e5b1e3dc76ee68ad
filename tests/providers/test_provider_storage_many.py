"""Operations on many objects, the same on every provider with object storage (aws and local on moto, wasabi on
WasabiEmulator with its native MOVE, DigitalOcean Spaces on moto, memory in this process): deletes, renames of keys
and of a prefix, existence checks and reads into memory, one result per key."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

import cloudorm
from cloudorm.errors import AlreadyExists, NotFound


@pytest.fixture
def bucket(storage: cloudorm.Session) -> Iterator[cloudorm.Bucket]:
    b = storage.Bucket(f"m-{uuid.uuid4().hex[:12]}").save()
    yield b
    b.delete(force=True, missing_ok=True)


def keys(bucket: cloudorm.Bucket) -> list[str]:
    return [b.key for b in bucket.blobs()]


def test_delete_many(bucket: cloudorm.Bucket) -> None:
    bucket.upload_many({f"d/{i}": f"{i}" for i in range(5)}).raise_for_errors()
    held = bucket.blob("d/0")
    results = bucket.delete_many([held, "d/1", "d/2", "never-there"])
    assert results.ok and [r.target for r in results] == ["d/0", "d/1", "d/2", "never-there"]
    assert keys(bucket) == ["d/3", "d/4"] and cloudorm.state(held) == "deleted"


def test_exists_many_and_read_many(bucket: cloudorm.Bucket) -> None:
    bucket.upload_many({"a.txt": "alpha", "b.bin": b"\x00\x01"}).raise_for_errors()
    found = bucket.exists_many(["a.txt", "nope", "b.bin"])
    assert [(r.target, r.value) for r in found] == [("a.txt", True), ("nope", False), ("b.bin", True)]
    read = bucket.read_many(["b.bin", "a.txt", "nope"])
    assert [r.value for r in read[:2]] == [b"\x00\x01", b"alpha"] and isinstance(read[2].error, NotFound)
    assert [r.value for r in bucket.read_many(list(bucket.blobs()), text=True, errors="replace")] == \
        ["alpha", "\x00\x01"]


def test_missing_bucket_is_not_found_on_every_key(storage: cloudorm.Session) -> None:
    gone = storage.Bucket(f"m-{uuid.uuid4().hex[:12]}")
    assert all(isinstance(r.error, NotFound) for r in gone.exists_many(["a", "b"]))
    assert all(isinstance(r.error, NotFound) for r in gone.read_many(["a"]))


def test_rename_many_and_prefix(bucket: cloudorm.Bucket) -> None:
    bucket.upload_many({"a": "A", "b": "B", "taken": "T", "old/x": "X", "old/sub/y": "Y", "old/z": "Z",
                        "new/z": "kept", "older": "O"}).raise_for_errors()
    moved = bucket.rename_many({"a": "a2", "b": "taken"})
    assert moved[0].ok and moved[0].value == bucket.blob("a2") and isinstance(moved[1].error, AlreadyExists)
    folder = bucket.rename_prefix("old/", "new/")
    assert [(r.target, r.ok) for r in folder] == [("old/sub/y", True), ("old/x", True), ("old/z", False)]
    assert isinstance(folder[2].error, AlreadyExists) and bucket.blob("new/z").read_text() == "kept"
    assert keys(bucket) == ["a2", "b", "new/sub/y", "new/x", "new/z", "old/z", "older", "taken"]
    assert bucket.blob("new/sub/y").read_text() == "Y"
    again = bucket.rename_prefix("old/", "new/", overwrite=True)
    assert again.ok and bucket.blob("new/z").read_text() == "Z" and "old/z" not in keys(bucket)
    assert bucket.rename_prefix("nothing/", "here/") == []
