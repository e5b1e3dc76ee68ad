"""The in-memory provider: object storage held in dicts, in this process. It is the worked example of the provider
contract (docs/sessions-and-providers.md, "Adding a provider") and a fast backend for tests of storage code.

``Session("memory")`` has a store of its own; ``Session(MemoryProvider(store=...))`` shares one between sessions.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import attrs

from cloudorm.errors import AlreadyExists, ConflictError, InvalidInput, NotFound
from cloudorm.providers.contract import (
    BucketInfo,
    ObjectInfo,
    Options,
    Provider,
    Service,
    StorageCapabilities,
    StorageService,
)
from cloudorm.providers.contract.storage import keys_under

if TYPE_CHECKING:
    from cloudorm.storage.transfer import DownloadJob, Progress, Properties, Source, UploadJob

T = TypeVar("T")


@attrs.define
class StoredObject:
    """One object: its bytes, what is stored with them, its etag and when it was written."""

    data: bytes
    properties: Properties
    etag: str
    last_modified: datetime


@attrs.define
class StoredBucket:
    """One bucket: its region, when it was made, its objects by key and its tags."""

    region: str
    created: datetime
    objects: dict[str, StoredObject] = attrs.Factory(dict)
    tags: dict[str, str] = attrs.Factory(dict)


@attrs.define
class MemoryStore:
    """Every bucket of one in-memory account, and the lock each operation holds."""

    buckets: dict[str, StoredBucket] = attrs.Factory(dict)
    lock: threading.RLock = attrs.field(factory=threading.RLock, repr=False)


def _read(source: Source) -> bytes:
    if source.data is not None:
        return source.data
    if source.path is not None:
        with open(source.path, "rb") as f:
            return f.read()
    assert source.fileobj is not None
    return source.fileobj.read()


def _page(names: Sequence[str], start: str | None, limit: int | None) -> tuple[list[str], str | None]:
    """The sorted ``names`` after ``start``, at most ``limit`` of them, and the token of the next page."""
    rest = [n for n in sorted(names) if start is None or n > start]
    if limit is None or len(rest) <= limit:
        return rest, None
    return rest[:limit], rest[limit - 1]


class _Reader(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self._data, self._at = data, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._data[self._at:self._at + len(buffer)]
        buffer[:len(chunk)] = chunk
        self._at += len(chunk)
        return len(chunk)


class MemoryStorageService(StorageService):
    """``StorageService`` over a ``MemoryStore``: every operation of the contract but presigned URLs and websites
    (those raise ``Unsupported``); a rename is atomic."""

    capabilities = StorageCapabilities(native_rename=True)

    def __init__(self, store: MemoryStore, region: str) -> None:
        self.store = store
        self.region = region

    @contextmanager
    def _bucket(self, name: str) -> Iterator[StoredBucket]:
        with self.store.lock:
            bucket = self.store.buckets.get(name)
            if bucket is None:
                raise NotFound(f"bucket {name!r} does not exist", provider=self.provider_name)
            yield bucket

    def _object(self, bucket: StoredBucket, name: str, key: str) -> StoredObject:
        found = bucket.objects.get(key)
        if found is None:
            raise NotFound(f"object {key!r} does not exist in bucket {name!r}", provider=self.provider_name)
        return found

    def create_bucket(self, name: str, region: str) -> None:
        """Make a bucket (``AlreadyExists`` if there is one of that name)."""
        with self.store.lock:
            if name in self.store.buckets:
                raise AlreadyExists(f"bucket {name!r} exists", provider=self.provider_name,
                                    code="BucketAlreadyOwnedByYou")
            self.store.buckets[name] = StoredBucket(region, datetime.now(timezone.utc))

    def bucket_tags(self, name: str) -> dict[str, str]:
        """The bucket's tags."""
        with self._bucket(name) as bucket:
            return dict(bucket.tags)

    def put_bucket_tags(self, name: str, tags: dict[str, str]) -> None:
        """Replace the bucket's tags."""
        with self._bucket(name) as bucket:
            bucket.tags = dict(tags)

    def delete_bucket(self, name: str) -> None:
        """Delete an empty bucket (``ConflictError`` while it holds objects)."""
        with self._bucket(name) as bucket:
            if bucket.objects:
                raise ConflictError(f"bucket {name!r} is not empty", provider=self.provider_name)
            del self.store.buckets[name]

    def empty_bucket(self, name: str) -> int:
        """Delete every object; how many there were."""
        with self._bucket(name) as bucket:
            count = len(bucket.objects)
            bucket.objects.clear()
            return count

    def bucket_region(self, name: str) -> str:
        """The region the bucket was made in."""
        with self._bucket(name) as bucket:
            return bucket.region

    def list_buckets(self, start: str | None, limit: int | None) -> tuple[list[BucketInfo], str | None]:
        """Buckets by name, ``limit`` at a time."""
        with self.store.lock:
            names, after = _page(list(self.store.buckets), start, limit)
            found = [(n, self.store.buckets[n]) for n in names]
        return [{"name": n, "created": b.created, "region": b.region} for n, b in found], after

    def list_objects(self, bucket: str, prefix: str, delimiter: str | None, start: str | None,
                     limit: int | None) -> tuple[list[ObjectInfo], list[str], str | None]:
        """Objects under ``prefix`` by key, those past a ``delimiter`` folded into common prefixes."""
        with self._bucket(bucket) as b:
            entries: dict[str, StoredObject | None] = {}
            for key, obj in b.objects.items():
                if key.startswith(prefix):
                    cut = key.find(delimiter, len(prefix)) if delimiter else -1
                    entries.update({key[:cut + len(delimiter)]: None} if delimiter and cut >= 0 else {key: obj})
            names, after = _page(list(entries), start, limit)
            objects = [(n, entries[n]) for n in names]
        return ([{"key": n, "size": len(o.data), "etag": o.etag, "last_modified": o.last_modified}
                 for n, o in objects if o is not None], [n for n, o in objects if o is None], after)

    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        """An object's information with every stored header."""
        with self._bucket(bucket) as b:
            obj = self._object(b, bucket, key)
        p = obj.properties
        return {"key": key, "size": len(obj.data), "etag": obj.etag, "last_modified": obj.last_modified,
                "content_type": p.content_type, "metadata": dict(p.metadata), "cache_control": p.cache_control,
                "content_disposition": p.content_disposition, "content_encoding": p.content_encoding,
                "content_language": p.content_language, "expires": p.expires,
                "storage_class": p.storage_class or "STANDARD"}

    def upload(self, bucket: str, key: str, source: Source, properties: Properties,
               progress: Progress | None = None) -> None:
        """Store the bytes with their properties, replacing any object of that key."""
        data = _read(source)
        with self._bucket(bucket) as b:
            b.objects[key] = StoredObject(data, properties, hashlib.md5(data).hexdigest(),  # an etag, as S3's
                                          datetime.now(timezone.utc))
        if progress is not None:
            progress(len(data))

    def put(self, bucket: str, key: str, data: bytes, properties: Properties, *, if_none_match: bool = False,
            if_match: str | None = None) -> ObjectInfo:
        """Store the bytes if the key is absent (``if_none_match``) or still has the ETag ``if_match``, atomically."""
        with self._bucket(bucket) as b:
            self._check(b, bucket, key, if_none_match, if_match)
            etag = hashlib.md5(data).hexdigest()
            b.objects[key] = StoredObject(data, properties, etag, datetime.now(timezone.utc))
        return {"key": key, "size": len(data), "etag": etag}

    def replace(self, bucket: str, key: str, properties: Properties, etag: str) -> ObjectInfo:
        """New properties for an object that still has ``etag``, its bytes and tags kept."""
        with self._bucket(bucket) as b:
            self._check(b, bucket, key, False, etag)
            obj = b.objects[key]
            b.objects[key] = attrs.evolve(obj, properties=attrs.evolve(properties, tags=obj.properties.tags),
                                          last_modified=datetime.now(timezone.utc))
        return {"key": key, "etag": etag}

    def _check(self, b: StoredBucket, bucket: str, key: str, if_none_match: bool, if_match: str | None) -> None:
        found = b.objects.get(key)
        if if_none_match and found is not None:
            raise AlreadyExists(f"object {key!r} exists in bucket {bucket!r}", provider=self.provider_name)
        if if_match and (found is None or found.etag != if_match):
            raise ConflictError(f"object {key!r} in bucket {bucket!r} was written since it was read",
                                provider=self.provider_name)

    def download(self, bucket: str, key: str, start: int | None = None, end: int | None = None) -> bytes:
        """The bytes, or the inclusive range ``start``-``end`` (``start`` < 0: the last bytes)."""
        with self._bucket(bucket) as b:
            data = self._object(b, bucket, key).data
        if start is None:
            return data
        if start < 0:
            return data[start:]
        return data[start:None if end is None else end + 1]

    def open(self, bucket: str, key: str) -> io.RawIOBase:
        """A stream over the object's bytes as they are now."""
        return _Reader(self.download(bucket, key))

    def download_file(self, bucket: str, key: str, path: str, size: int | None = None, etag: str | None = None,
                      progress: Progress | None = None) -> None:
        """Write the bytes to a temporary file beside ``path``, then rename it to ``path``."""
        data = self.download(bucket, key)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".cloudorm-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        if progress is not None:
            progress(len(data))

    def place(self) -> str:
        """This store: copies stay within it."""
        return f"memory:{id(self.store):x}"

    def copy(self, bucket: str, key: str, to_bucket: str, to_key: str, overwrite: bool = False) -> None:
        """Copy an object with everything stored with it (``AlreadyExists`` for an existing target)."""
        with self._bucket(bucket) as b, self._bucket(to_bucket) as target:
            obj = self._object(b, bucket, key)
            if to_key in target.objects and not overwrite:
                raise AlreadyExists(f"object {to_key!r} exists in bucket {to_bucket!r} (overwrite=True replaces it)",
                                    provider=self.provider_name)
            target.objects[to_key] = attrs.evolve(obj, last_modified=datetime.now(timezone.utc))

    def rename(self, bucket: str, key: str, new_key: str, overwrite: bool = False) -> None:
        """Move an object to ``new_key`` atomically."""
        with self.store.lock:
            self.copy(bucket, key, bucket, new_key, overwrite)
            if new_key != key:
                del self.store.buckets[bucket].objects[key]

    def delete_object(self, bucket: str, key: str) -> None:
        """Delete an object (no error if absent)."""
        with self._bucket(bucket) as b:
            b.objects.pop(key, None)

    def delete_objects(self, bucket: str, keys: Sequence[str]) -> list[BaseException | None]:
        """Delete each key (one that is not there too); a missing bucket is each key's ``NotFound``."""
        return _each(keys, lambda key: self.delete_object(bucket, key), None)

    def exists_many(self, bucket: str, keys: Sequence[str], concurrency: int) -> list[bool | BaseException]:
        """Whether each key is there (a missing bucket: each key's ``NotFound``)."""
        try:
            with self._bucket(bucket) as b:
                return [key in b.objects for key in keys]
        except NotFound as e:
            return [e] * len(keys)

    def read_many(self, bucket: str, jobs: Sequence[DownloadJob], concurrency: int,
                  done: Callable[[], None] | None = None) -> list[bytes | BaseException]:
        """Each object's bytes in turn, or the error met."""
        return _each(jobs, lambda j: self.download(bucket, j.key), done)

    def rename_many(self, bucket: str, pairs: Sequence[tuple[str, str]], overwrite: bool,
                    concurrency: int) -> list[BaseException | None]:
        """Rename each pair in turn (each atomic)."""
        return _each(pairs, lambda pair: self.rename(bucket, pair[0], pair[1], overwrite), None)

    def rename_prefix(self, bucket: str, prefix: str, new_prefix: str, overwrite: bool,
                      concurrency: int) -> list[tuple[str, str, BaseException | None]]:
        """Rename every key under ``prefix`` in turn (each atomic)."""
        pairs = [(key, new_prefix + key[len(prefix):]) for key in keys_under(self, bucket, prefix)]
        return [(old, new, e) for (old, new), e in zip(pairs, self.rename_many(bucket, pairs, overwrite, concurrency),
                                                     strict=True)]

    def upload_many(self, bucket: str, jobs: Sequence[UploadJob], concurrency: int,
                    done: Callable[[], None] | None = None) -> list[BaseException | None]:
        """Upload each job in turn; one error (or None) per job."""
        return _each(jobs, lambda j: self.upload(bucket, j.key, j.source, j.properties), done)

    def download_many(self, bucket: str, jobs: Sequence[DownloadJob], concurrency: int,
                      done: Callable[[], None] | None = None) -> list[BaseException | None]:
        """Download each job to its file in turn; one error (or None) per job."""
        return _each(jobs, lambda j: self.download_file(bucket, j.key, j.path), done)


def _each(jobs: Sequence[Any], run: Callable[[Any], T], done: Callable[[], None] | None) -> list[T | BaseException]:
    """``run(job)`` for each job in turn: its value, or the error it raised (reported per job, as the contract
    says)."""
    out: list[T | BaseException] = []
    for job in jobs:
        try:
            out.append(run(job))
        except Exception as e:
            out.append(e)
        if done is not None:
            done()
    return out


class MemoryProvider(Provider):
    """Storage in this process's memory: no credentials, no endpoint, nothing sent over a network."""

    name: ClassVar[str] = "memory"
    areas: ClassVar[frozenset[str]] = frozenset({"storage"})

    def __init__(self, *, creds: Mapping[str, Any] | None = None, region: str | None = None,
                 endpoint_url: str | Mapping[str, str] | None = None, options: Options | None = None,
                 store: MemoryStore | None = None) -> None:
        super().__init__(options=options)
        if creds is not None or endpoint_url is not None:
            raise InvalidInput("creds" if creds is not None else "endpoint_url",
                               "the memory provider takes no credentials and no endpoint")
        self._region = region or "memory"
        self.store = store if store is not None else MemoryStore()

    @property
    def region(self) -> str:
        """The region new buckets get when none is named."""
        return self._region

    def account(self) -> str:
        """This store: sessions on one store share resources' identities."""
        return f"{id(self.store):x}"

    def describe(self) -> dict[str, str]:
        """The region, for the Session repr."""
        return {"region": self._region}

    def _make_service(self, area: str) -> Service:
        return MemoryStorageService(self.store, self._region)
