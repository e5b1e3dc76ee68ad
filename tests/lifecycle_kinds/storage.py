"""Object storage kinds for the lifecycle suite: a bucket (change: its tags) and a blob in a bucket named after the
test's uid (change: its metadata and content type)."""

from __future__ import annotations

from typing import Any

from tests.lifecycle_kinds import Kind


def _blob_bucket(session: Any, uid: str) -> Any:
    return session.Bucket(f"lifecycle-blobs-{uid}")


def _blob(session: Any, uid: str) -> Any:
    blob = _blob_bucket(session, uid).save().blob("notes/a.txt")
    blob.data = b"hello"
    return blob


def _change_blob(blob: Any) -> None:
    blob.metadata["owner"] = "ann"
    blob.content_type = "text/markdown"


def _change_bucket(bucket: Any) -> None:
    bucket.tags["team"] = "storage"


KINDS = [
    Kind("bucket", make=lambda s, uid: s.Bucket(f"lifecycle-{uid}"), change=_change_bucket,
         twin=lambda b: b.session.Bucket(b.name),
         cleanup=lambda s, uid: s.Bucket(f"lifecycle-{uid}").delete(force=True, missing_ok=True)),
    Kind("blob", make=_blob, change=_change_blob, twin=lambda b: b.bucket.blob(b.key),
         cleanup=lambda s, uid: _blob_bucket(s, uid).delete(force=True, missing_ok=True)),
]
