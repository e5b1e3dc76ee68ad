"""The storage contract: S3-style buckets and objects, and the records they are described by."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict

import attrs

from cloudorm.providers.contract.service import Capabilities, Service

if TYPE_CHECKING:
    from cloudorm.storage.transfer import DownloadJob, Progress, Properties, Source, UploadJob


class _Named(TypedDict):
    name: str


class BucketInfo(_Named, total=False):
    """A bucket as a listing shows it."""

    created: datetime | None
    region: str | None


class _Keyed(TypedDict):
    key: str


class ObjectInfo(_Keyed, total=False):
    """An object as a listing (``key``, ``size``, ``etag`` without quotes, ``last_modified``) or a HEAD (also the
    stored headers, None when not stored, ``metadata`` and ``storage_class``) shows it."""

    size: int
    etag: str
    last_modified: datetime
    content_type: str | None
    metadata: dict[str, str]
    cache_control: str | None
    content_disposition: str | None
    content_encoding: str | None
    content_language: str | None
    expires: datetime | None
    storage_class: str


@attrs.frozen
class StorageCapabilities(Capabilities):
    """What a storage service does beyond the core; each flag changes how an operation is carried out, never
    whether the entity API offers it."""

    native_rename: bool = False
    """``rename`` is one atomic request (Wasabi's MOVE), not a copy and a delete."""
    conditional_writes: bool = False
    """A copy's target is written with ``If-None-Match: *`` when it must not exist."""
    conditional_deletes: bool = False
    """DeleteObject honours ``If-Match``: a rename deletes only the version it copied."""
    tag_count: bool = False
    """A HEAD reports how many tags an object has, so a copy reads tags only when there are some."""
    website_hosting: bool = False
    """Buckets can host static websites."""


class StorageService(Service):
    """S3-style buckets and objects, described by ``BucketInfo`` and ``ObjectInfo``; a missing bucket or key is
    ``NotFound``."""

    area: ClassVar[str] = "storage"
    core: ClassVar[frozenset[str]] = frozenset({
        "bucket_region", "create_bucket", "delete_bucket", "delete_object", "download", "empty_bucket",
        "head_object", "list_buckets", "list_objects", "upload"})

    capabilities: StorageCapabilities = StorageCapabilities()
    """What this storage does beyond the core."""

    def create_bucket(self, name: str, region: str) -> None:
        """Create a bucket in ``region``; ``AlreadyExists`` if it exists (``code`` ``BucketAlreadyOwnedByYou`` when
        this account owns it)."""
        raise self._unsupported("create_bucket")

    def bucket_tags(self, name: str) -> dict[str, str]:
        """A bucket's tags (none: an empty dict)."""
        raise self._unsupported("bucket_tags")

    def put_bucket_tags(self, name: str, tags: dict[str, str]) -> None:
        """Make ``tags`` the bucket's tags (an empty dict removes them)."""
        raise self._unsupported("put_bucket_tags")

    def delete_bucket(self, name: str) -> None:
        """Delete an empty bucket."""
        raise self._unsupported("delete_bucket")

    def empty_bucket(self, name: str) -> int:
        """Delete every object, version and delete marker, 1,000 per request; returns how many were deleted."""
        raise self._unsupported("empty_bucket")

    def bucket_region(self, name: str) -> str:
        """The region a bucket lives in (one HEAD request; ``NotFound`` if absent)."""
        raise self._unsupported("bucket_region")

    def list_buckets(self, start: str | None, limit: int | None) -> tuple[list[BucketInfo], str | None]:
        """One page of buckets (``name``, ``created``, maybe ``region``) and the token of the next page."""
        raise self._unsupported("list_buckets")

    def list_objects(self, bucket: str, prefix: str, delimiter: str | None, start: str | None,
                     limit: int | None) -> tuple[list[ObjectInfo], list[str], str | None]:
        """One page of objects, the common prefixes it holds, and the token of the next page."""
        raise self._unsupported("list_objects")

    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        """An object's information (one HEAD request)."""
        raise self._unsupported("head_object")

    def upload(self, bucket: str, key: str, source: Source, properties: Properties,
               progress: Progress | None = None) -> None:
        """Store an object with its ``properties`` (headers, metadata, storage class, tags); managed multipart
        above the session's ``multipart_threshold``."""
        raise self._unsupported("upload")

    def put(self, bucket: str, key: str, data: bytes, properties: Properties, *, if_none_match: bool = False,
            if_match: str | None = None) -> ObjectInfo:
        """Store ``data`` with ``properties`` only if the key is absent (``if_none_match``, else ``AlreadyExists``)
        or still has the ETag ``if_match`` (else ``ConflictError``); returns ``key``, ``size`` and, when known,
        ``etag`` (``Blob.save()``)."""
        raise self._unsupported("put")

    def replace(self, bucket: str, key: str, properties: Properties, etag: str) -> ObjectInfo:
        """Give an object new ``properties`` keeping its content and tags, only if it still has ``etag`` (else
        ``ConflictError``); returns what is known of it (``Blob.save()`` of changed headers)."""
        raise self._unsupported("replace")

    def download(self, bucket: str, key: str, start: int | None = None, end: int | None = None) -> bytes:
        """An object's bytes, or the inclusive byte range ``start``-``end`` (``start`` < 0: the last bytes)."""
        raise self._unsupported("download")

    def open(self, bucket: str, key: str) -> io.RawIOBase:
        """A raw stream reading an object's bytes (resuming a lost connection where it stopped)."""
        raise self._unsupported("open")

    def download_file(self, bucket: str, key: str, path: str, size: int | None = None, etag: str | None = None,
                      progress: Progress | None = None) -> None:
        """Write an object to ``path`` through a temporary file renamed when complete (a known ``size`` and
        ``etag`` save a HEAD)."""
        raise self._unsupported("download_file")

    def place(self) -> str:
        """Where this service's buckets are (its storage endpoint, or the provider's name for its own): a copy
        stays within one place."""
        raise self._unsupported("place")

    def copy(self, bucket: str, key: str, to_bucket: str, to_key: str, overwrite: bool = False) -> None:
        """Copy an object with every stored property (multipart above the threshold); ``AlreadyExists`` if the
        target exists, unless ``overwrite``."""
        raise self._unsupported("copy")

    def rename(self, bucket: str, key: str, new_key: str, overwrite: bool = False) -> None:
        """Rename an object within its bucket, keeping every stored property; ``AlreadyExists`` if ``new_key``
        exists, unless ``overwrite``; ``ConflictError`` if the source was written meanwhile (that write is kept)."""
        raise self._unsupported("rename")

    def delete_object(self, bucket: str, key: str) -> None:
        """Delete an object (no error if absent)."""
        raise self._unsupported("delete_object")

    def presign_get(self, bucket: str, key: str, expires: int, region: str | None = None) -> str:
        """A URL anyone can GET the object with for ``expires`` seconds, signed for the bucket's ``region``
        (default: the session's)."""
        raise self._unsupported("presign_get")

    def presign_post(self, bucket: str, key: str, expires: int, fields: dict[str, str],
                     conditions: list[Any], region: str | None = None) -> tuple[str, dict[str, str]]:
        """A browser-style upload form for the bucket in ``region``: the URL and the form fields to send."""
        raise self._unsupported("presign_post")

    def upload_many(self, bucket: str, jobs: Sequence[UploadJob], concurrency: int,
                    done: Callable[[], None] | None = None) -> list[BaseException | None]:
        """Upload many objects concurrently; one error (or None) per job, in order."""
        raise self._unsupported("upload_many")

    def download_many(self, bucket: str, jobs: Sequence[DownloadJob], concurrency: int,
                      done: Callable[[], None] | None = None) -> list[BaseException | None]:
        """Download many objects to files concurrently; one error (or None) per job, in order."""
        raise self._unsupported("download_many")

    def delete_objects(self, bucket: str, keys: Sequence[str]) -> list[BaseException | None]:
        """Delete many objects, 1,000 per request (a key that is not there is deleted too, as S3 answers); one
        error (or None) per key, in order."""
        raise self._unsupported("delete_objects")

    def exists_many(self, bucket: str, keys: Sequence[str], concurrency: int) -> list[bool | BaseException]:
        """Whether each object exists (HEADs, ``concurrency`` at once): True, False, or the error its HEAD met (a
        missing bucket is ``NotFound``), in order."""
        raise self._unsupported("exists_many")

    def read_many(self, bucket: str, jobs: Sequence[DownloadJob], concurrency: int,
                  done: Callable[[], None] | None = None) -> list[bytes | BaseException]:
        """Read many objects into memory concurrently (the engine of ``download_many``); their bytes or the error
        met, per job, in order."""
        raise self._unsupported("read_many")

    def rename_many(self, bucket: str, pairs: Sequence[tuple[str, str]], overwrite: bool,
                    concurrency: int) -> list[BaseException | None]:
        """``rename`` each (key, new key) pair, ``concurrency`` at once; one error (or None) per pair, in order."""
        raise self._unsupported("rename_many")

    def rename_prefix(self, bucket: str, prefix: str, new_prefix: str, overwrite: bool,
                      concurrency: int) -> list[tuple[str, str, BaseException | None]]:
        """Rename every object whose key starts with ``prefix`` to ``new_prefix`` + the rest of its key: (key, new
        key, error or None) per object found, in key order."""
        raise self._unsupported("rename_prefix")

    def website_url(self, bucket: str, region: str) -> str:
        """The static website URL of a bucket (``Unsupported`` without website hosting; no request)."""
        raise self._unsupported("website_url")

    def put_website(self, bucket: str, index: str, error: str | None) -> None:
        """Turn static website hosting on."""
        raise self._unsupported("put_website")


def keys_under(storage: StorageService, bucket: str, prefix: str) -> list[str]:
    """Every key of ``bucket`` that starts with ``prefix``, in key order (``list_objects`` page after page)."""
    keys: list[str] = []
    token: str | None = None
    while True:
        objects, _, token = storage.list_objects(bucket, prefix, None, token, None)
        keys += [o["key"] for o in objects]
        if token is None:
            return keys
