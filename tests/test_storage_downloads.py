"""``download_many`` and ``read_many`` of small objects: one GetObject each and no HEAD, the larger ones through
s3transfer's ranged GETs, every file written whole (a temporary file renamed) or not at all, a body cut short read
again from the same version, an object changed since its listing refused on its own key."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

import cloudorm
from cloudorm.errors import CloudError
from tests.conftest import FAKE_CREDS
from tests.test_storage_transfers import SMALL_PARTS, CutBodies, unique

MiB = 1024 * 1024


@pytest.fixture
def cut(moto_url: str) -> Iterator[CutBodies]:
    proxy = CutBodies(moto_url, cuts=0)
    yield proxy
    proxy.shutdown()
    proxy.server_close()


def files_below(folder: Path) -> list[str]:
    """Every file below ``folder``, relative, sorted (temporary files included)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_one_get_per_small_object_and_no_head(moto_url: str, tmp_path: Path) -> None:
    s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=moto_url)
    bucket = s.Bucket(unique()).save()
    data = {f"d/{i:02}.bin": os.urandom(i * 100) for i in range(12)}  # (an empty object too)
    bucket.upload_many(data).raise_for_errors()
    for keys in (list(data), list(bucket.blobs(prefix="d/"))):  # by key (size unknown), from a listing
        folder = tmp_path / unique("dl")
        with s.count_requests() as c:
            results = bucket.download_many(keys, folder, concurrency=4)
        assert results.ok and c.by_operation == {"s3.GetObject": len(data)}
        assert files_below(folder) == sorted(data) and all((folder / k).read_bytes() == v for k, v in data.items())
        with s.count_requests() as c:
            read = bucket.read_many(keys)
        assert [r.value for r in read] == list(data.values()) and c.by_operation == {"s3.GetObject": len(data)}
    bucket.delete(force=True)


def test_large_objects_go_to_ranged_gets_among_small_ones(moto_url: str, tmp_path: Path) -> None:
    s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=moto_url, **SMALL_PARTS)
    bucket = s.Bucket(unique()).save()
    rng = random.Random(7)
    data = {"a.txt": b"a", "big.bin": rng.randbytes(11 * MiB), "b.txt": b"bb", "edge.bin": rng.randbytes(5 * MiB)}
    bucket.upload_many(data).raise_for_errors()
    with s.count_requests() as c:  # by key: each GET finds the size; 11 MiB and 5 MiB are 3 and 1 ranged GETs
        results = bucket.download_many(list(data), tmp_path / "keys")
    assert results.ok and [r.key for r in results] == list(data)
    assert c.by_operation == {"s3.GetObject": 4 + 3 + 1}  # one GET each, then the large ones' parts; no HEAD
    assert all((tmp_path / "keys" / k).read_bytes() == v for k, v in data.items())
    assert files_below(tmp_path / "keys") == sorted(data)
    listed = list(bucket.blobs())
    with s.count_requests() as c:  # from a listing the sizes are known: the large ones go straight to ranges
        read = bucket.read_many(listed)
    assert {r.target: r.value for r in read} == data and c.by_operation == {"s3.GetObject": 2 + 3 + 1}
    bucket.delete(force=True)


def test_a_body_cut_short_is_read_again_from_the_same_version(cut: CutBodies, tmp_path: Path) -> None:
    s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=cut.url)
    bucket = s.Bucket(unique()).save()
    data = random.Random(1).randbytes(200_000)
    bucket.blob("cut.bin").upload(data)
    etag = bucket.blob("cut.bin").refresh().etag
    cut.seen.clear()
    cut.cuts = 1
    results = bucket.download_many(["cut.bin"], tmp_path)
    assert results.ok and (tmp_path / "cut.bin").read_bytes() == data and files_below(tmp_path) == ["cut.bin"]
    assert cut.seen == [(None, None), (None, f'"{etag}"')]  # the second GET asks for the version the first had
    cut.cuts = 100  # cut every time: that key's error, no file (nor a temporary one) left
    results = bucket.download_many(["cut.bin"], tmp_path / "never")
    assert not results.ok and isinstance(results[0].error, CloudError)
    assert files_below(tmp_path / "never") == []
    cut.cuts = 0
    bucket.delete(force=True)


def test_an_object_changed_since_its_listing_fails_alone_and_keeps_the_old_file(moto_url: str,
                                                                               tmp_path: Path) -> None:
    s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=moto_url)
    bucket = s.Bucket(unique()).save()
    bucket.upload_many({"a": b"one", "b": b"two"}).raise_for_errors()
    listed = list(bucket.blobs())
    (tmp_path / "a").write_bytes(b"the file before")
    bucket.blob("a").upload(b"changed")  # a new version: the listing's etag no longer matches
    results = bucket.download_many(listed, tmp_path)
    assert [r.ok for r in results] == [False, True]
    assert isinstance(results[0].error, CloudError) and results[0].error.status == 412
    assert (tmp_path / "a").read_bytes() == b"the file before" and (tmp_path / "b").read_bytes() == b"two"
    assert files_below(tmp_path) == ["a", "b"]
    assert bucket.download_many(["a"], tmp_path).ok and (tmp_path / "a").read_bytes() == b"changed"
    bucket.delete(force=True)
