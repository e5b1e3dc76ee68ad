"""The Blob entity: one object (key) in a bucket, its lazily loaded information, and every per-object operation."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, overload

import attrs

from cloudorm.core import UNSET, Plan, Record, Resource, call, field, resource, run, stored
from cloudorm.core.fields import specs
from cloudorm.errors import InvalidInput, NotFound
from cloudorm.storage.names import (
    check_content_type,
    check_expires,
    check_expires_at,
    check_header,
    check_key,
    check_metadata,
    check_storage_class,
    check_tags,
)
from cloudorm.storage.transfer import Properties, Source, guess_content_type, local_path, progress_bar

if TYPE_CHECKING:
    from datetime import timedelta

    from cloudorm.providers.base import StorageService
    from cloudorm.storage.bucket import Bucket

CHUNK = 1024 * 1024
"""Bytes per piece of ``BlobReader.chunks()``."""

BUFFER = 256 * 1024
"""Bytes a ``BlobReader`` reads ahead from the connection."""


class BlobReader(io.BufferedReader):
    """A streaming reader of one object (``blob.open()``): a buffered binary file (``read(n)``, ``readline()``,
    ``for line in f``, ``io.TextIOWrapper(f)``), with ``chunks(size)`` for fixed-size pieces."""

    def __init__(self, raw: io.RawIOBase, chunk_size: int = CHUNK) -> None:
        super().__init__(raw, buffer_size=BUFFER)
        self.chunk_size = chunk_size

    def chunks(self, size: int | None = None) -> Iterator[bytes]:
        """The remaining bytes in pieces of ``size`` (default ``chunk_size``; the last may be shorter)."""
        while chunk := self.read(size or self.chunk_size):
            yield chunk


def _check_flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(name, f"must be True or False, not {value!r}")
    return value


def _check_offset(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(name, f"must be an int, not {value!r}")
    return value


def _header(name: str) -> Callable[[Any], str | None]:
    return lambda value: check_header(name, value)


def _storage_class(value: Any) -> str:
    return check_storage_class(value) or "STANDARD"


def _data(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise InvalidInput("data", f"must be bytes or a str (its UTF-8 text), not {type(value).__name__}: "
                               "upload() takes files and streams")


HEADERS = ("cache_control", "content_disposition", "content_encoding", "content_language", "expires")
"""The standard headers stored with an object besides its content type (``Properties``' order)."""

FOUND = ("size", "etag", "last_modified")
"""What the service decides about an object: read from it, never sent."""


@resource
class Blob(Resource):
    """An object in a bucket. What the service decides (``size``, ``etag``, ``last_modified``) is read-only; what
    you may set (``content_type``, ``metadata``, ``cache_control``, ``content_disposition``, ``content_encoding``,
    ``content_language``, ``expires``, ``storage_class``) and pending content (``data``) are written by ``save()``.
    All of it loads with one HEAD request on first read (a blob from a listing knows its size, etag and date)."""

    kind: ClassVar[str] = "blob"
    identity: ClassVar[tuple[str, ...]] = ("bucket_name", "key")
    regional: ClassVar[bool] = False

    bucket: Bucket = attrs.field(repr=False)
    key: str = field(check_key, fixed=True)
    content_type: str | None = field(check_content_type, default=None)
    """The MIME type it is served with (a new blob's is guessed from its key when not set)."""
    metadata: dict[str, str] = field(check_metadata, factory=dict)
    """User metadata (``x-amz-meta-*``); S3 lowercases the names."""
    cache_control: str | None = field(_header("cache_control"), default=None)
    content_disposition: str | None = field(_header("content_disposition"), default=None)
    content_encoding: str | None = field(_header("content_encoding"), default=None)
    content_language: str | None = field(_header("content_language"), default=None)
    expires: datetime | None = field(check_expires_at, default=None)
    """The stored ``Expires`` date (timezone-aware), if any."""
    storage_class: str = field(_storage_class, default="STANDARD")
    """The storage class (``"STANDARD"``, ``"STANDARD_IA"`` ...)."""
    size: int = stored()
    """Size in bytes."""
    etag: str = stored()
    """The provider's entity tag, without quotes (an MD5 of the content for single-part uploads)."""
    last_modified: datetime = stored()
    """When the object was last written (timezone-aware)."""
    _pending: bytes | None = attrs.field(default=None, init=False)
    _probed: bool = attrs.field(default=False, init=False)

    @property
    def bucket_name(self) -> str:
        """The name of the blob's bucket (with ``key``, what names the blob)."""
        return self.bucket.name

    @property
    def _storage(self) -> StorageService:
        return self.session.storage

    @classmethod
    def _listed(cls, bucket: Bucket, record: Record) -> Blob:
        """A blob a listing found, knowing what its entry says (the rest loads with one HEAD on first read)."""
        blob = cls(bucket.session, bucket, record["key"])
        blob._co_take(record, partial=True)
        return blob

    # ------------------------------------------------------------------------------------------- record

    def _co_lookup(self, key: str, lazy: bool = True) -> tuple[bool, Any]:
        """A blob never read loads its information on first use (one HEAD; absent: a field reads its default and
        ``size``, ``etag`` and ``last_modified`` are ``NotFound``)."""
        if self._co_record is None and not self._co_deleted and not self._probed and lazy:
            self._probed = True
            with contextlib.suppress(NotFound):
                self._co_take(run(self.session, self._co_fetch()), keep_local=True)
        if self._co_record is None and key in FOUND:
            raise NotFound(f"no object {self.key!r} in bucket {self.bucket_name!r}")
        if self._co_record is not None and key in FOUND and key not in self._co_record and lazy:
            self._co_take(run(self.session, self._co_fetch()), keep_local=True)  # what a write did not tell
        return super()._co_lookup(key, lazy)

    def _co_take(self, record: Record, *, partial: bool = False, keep_local: bool = False) -> None:
        super()._co_take(record, partial=partial, keep_local=keep_local)
        if not keep_local:  # (refresh(): local changes are dropped, pending content too)
            self._pending = None

    def _co_changes(self) -> set[str]:
        return super()._co_changes() | ({"data"} if self._pending is not None else set())

    def _co_stored(self, changed: set[str], answer: Record | None) -> None:
        """After a write what the service decided and did not answer (the date, an ETag of parts) is unknown until
        read again (one HEAD, on first use)."""
        super()._co_stored(changed, answer)
        record = self._co_record or {}
        for key in FOUND:
            if answer is None or key not in answer:
                record.pop(key, None)

    def _properties(self) -> Properties:
        """What a write stores with the content (the content type guessed from the key if none is set)."""
        storage = self._co_current("storage_class")
        headers = {name: self._co_current(name) for name in HEADERS}
        return Properties(self._co_current("content_type") or guess_content_type(self.key, self._pending or b""),
                          dict(self._co_current("metadata")), storage_class=None if storage == "STANDARD" else storage,
                          **headers)

    def _written(self, properties: Properties, size: int, answer: Record) -> dict[str, Any]:
        """The record after a write of ``properties`` (and ``size`` bytes of content)."""
        return {"key": self.key, "size": size, "content_type": properties.content_type,
                "metadata": {k.lower(): v for k, v in properties.metadata.items()},
                **{name: getattr(properties, name) for name in HEADERS},
                "storage_class": properties.storage_class or "STANDARD", **answer}

    # ------------------------------------------------------------------------------------------- hooks

    def _co_check(self) -> None:
        held = self.__dict__.get("metadata", UNSET)
        if held is not UNSET:  # maybe edited in place: checked again
            check_metadata(held)

    def _co_fetch(self) -> Plan[Record]:
        record: Record = yield from call("storage", "head_object", self.bucket_name, self.key)
        return record

    def _co_create(self) -> Plan[Record]:
        data, properties = self._pending or b"", self._properties()
        answer = yield from call("storage", "put", self.bucket_name, self.key, data, properties, if_none_match=True)
        self._pending = None
        return self._written(properties, len(data), answer)

    def _co_update(self, changed: set[str]) -> Plan[Record | None]:
        properties, etag = self._properties(), self.etag  # (the one a write answered, else read now)
        if self._pending is None:
            answer = yield from call("storage", "replace", self.bucket_name, self.key, properties, etag)
            return self._written(properties, self.size, answer)
        data = self._pending
        answer = yield from call("storage", "put", self.bucket_name, self.key, data, properties, if_match=etag)
        self._pending = None
        return self._written(properties, len(data), answer)

    def _co_remove(self, *, check: bool = True, **options: Any) -> Plan[None]:
        if check:
            yield from self._co_fetch()
        yield from call("storage", "delete_object", self.bucket_name, self.key)

    def _known(self, key: str) -> Any:
        """What the blob's record says of ``key`` (None when it does not say: nothing is loaded)."""
        return (self._co_record or {}).get(key)

    # ------------------------------------------------------------------------------------------- content

    @property
    def data(self) -> bytes:
        """The content: what was set and not saved yet, else the object's bytes (one GET). Set it (bytes, or a str
        as its UTF-8 text) and ``save()`` writes it."""
        return self._pending if self._pending is not None else self.download()

    @data.setter
    def data(self, value: bytes | str) -> None:
        self._pending = _data(value)

    # ------------------------------------------------------------------------------------------- writing

    def upload(self, src: Any, content_type: str | None = None, metadata: dict[str, str] | None = None,
               progress: bool = False, *, cache_control: str | None = None, content_disposition: str | None = None,
               content_encoding: str | None = None, content_language: str | None = None,
               expires: datetime | None = None, storage_class: str | None = None,
               tags: dict[str, str] | None = None) -> Blob:
        """Store ``src``: ``bytes``, a ``str`` (its UTF-8 text, never a file name), a ``pathlib.Path`` (any
        ``os.PathLike``: that file) or a binary file object. Multipart above the session's
        ``multipart_threshold``; the content type is guessed from the key unless given. The other headers,
        ``storage_class`` (``"STANDARD_IA"`` ...) and ``tags`` (at most 10) are stored with it; every value is
        checked before any request."""
        ctype = check_content_type(content_type)
        meta, tag_set = check_metadata(metadata), check_tags(tags)
        cache, disposition, encoding, language = (check_header(name, value) for name, value in (
            ("cache_control", cache_control), ("content_disposition", content_disposition),
            ("content_encoding", content_encoding), ("content_language", content_language)))
        expires_at, storage = check_expires_at(expires), check_storage_class(storage_class)
        source = Source.of(src)
        props = Properties(ctype or guess_content_type(self.key, src), meta, cache, disposition, encoding, language,
                           expires_at, storage, tag_set)
        with progress_bar(progress, source.size, self.key) as bar:
            self._storage.upload(self.bucket_name, self.key, source, props, bar)
        self._co_take({"key": self.key}, partial=True)  # what upload stored loads on first read
        for name in [spec.name for spec in specs(type(self))]:
            self._co_drop(name)
        self._pending = None
        return self

    def delete(self, *, missing_ok: bool = False) -> None:
        """Delete the object (``NotFound`` if absent, checked with a HEAD, unless ``missing_ok``); ``save()``
        then recreates it with the headers and metadata it had and no content."""
        run(self.session, self._co_delete(missing_ok, {"check": not missing_ok}))

    def rename(self, new_key: str, *, overwrite: bool = False) -> Blob:
        """Move the object to ``new_key`` in the same bucket, with every stored property, and return the Blob there
        (this one is then gone). ``AlreadyExists`` if ``new_key`` exists, changing nothing, unless ``overwrite``.
        One atomic request on Wasabi; elsewhere a copy then a delete, where a source written meanwhile is kept and
        is ``ConflictError`` (see docs/storage.md)."""
        new_key = check_key(new_key, "new_key")
        overwrite = _check_flag("overwrite", overwrite)
        if new_key == self.key:  # a copy onto itself then a delete would lose the object
            raise InvalidInput("new_key", f"{new_key!r} is the blob's own key")
        self._storage.rename(self.bucket_name, self.key, new_key, overwrite)
        self._co_forget({"key": self.key})
        return self.bucket.blob(new_key)

    def copy_to(self, bucket: Bucket | str, key: str | None = None, *, overwrite: bool = False) -> Blob:
        """Copy the object, with every stored property (headers, metadata, storage class, tags), to ``bucket`` (a
        Bucket or a name) under ``key`` (default: the same key); returns the copy. ``AlreadyExists`` if the target
        exists, changing nothing, unless ``overwrite``; ``InvalidInput`` for a bucket of a session at another
        provider or endpoint."""
        target = bucket if not isinstance(bucket, str) else type(self.bucket)(self.session, bucket)
        new_key = self.key if key is None else check_key(key)
        overwrite = _check_flag("overwrite", overwrite)
        if target.session is not self.session and target._storage.place() != self._storage.place():
            # the copy is sent through this blob's session: it would land in a bucket of that name over here
            raise InvalidInput("bucket", f"{target.name!r} is in another provider or endpoint "
                                         f"({target._storage.place()}, this blob's: {self._storage.place()}); "
                                         "copy_to copies within one: download and upload to copy between them")
        self._storage.copy(self.bucket_name, self.key, target.name, new_key, overwrite)
        return target.blob(new_key)

    # ------------------------------------------------------------------------------------------- reading

    def download(self) -> bytes:
        """The object's bytes (one GET)."""
        return self._storage.download(self.bucket_name, self.key)

    def read_text(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        """The object's bytes decoded as text."""
        return self.download().decode(encoding, errors)

    def read(self, start: int = 0, end: int | None = None) -> bytes:
        """Bytes ``start`` to ``end`` (excluded), like ``data[start:end]``; ``read(-n)``: the last ``n`` bytes.
        Past the end it gives what there is (maybe ``b""``), as slicing does."""
        start = _check_offset("start", start)
        if end is not None:
            end = _check_offset("end", end)
            if start < 0 or end < start:
                raise InvalidInput("end", f"a range needs 0 <= start <= end, got start={start}, end={end}")
            if end == start:
                return b""
        elif start == 0:
            return self.download()
        try:
            return self._storage.download(self.bucket_name, self.key, start, None if end is None else end - 1)
        except InvalidInput as e:
            if e.code != "InvalidRange":
                raise
            return b""

    @overload
    def open(self, mode: Literal["rb"] = "rb") -> BlobReader: ...

    @overload
    def open(self, mode: Literal["r"], encoding: str = "utf-8", errors: str = "strict",
             newline: str | None = None) -> io.TextIOWrapper: ...

    def open(self, mode: str = "rb", encoding: str = "utf-8", errors: str = "strict",
             newline: str | None = None) -> BlobReader | io.TextIOWrapper:
        """A streaming reader, one GET read as you go: binary (``"rb"``, a ``BlobReader``) or text (``"r"``).
        ``with blob.open() as f: for line in f: ...``; a connection lost midway is resumed where it stopped."""
        if mode not in ("rb", "r"):
            raise InvalidInput("mode", f"blobs open for reading, 'rb' (binary) or 'r' (text), not {mode!r}")
        reader = BlobReader(self._storage.open(self.bucket_name, self.key))
        if mode == "rb":
            return reader
        return io.TextIOWrapper(reader, encoding=encoding, errors=errors, newline=newline)

    def download_to(self, path: str | os.PathLike[str], progress: bool = False) -> Path:
        """Write the object to ``path`` (into it, under the key's last part, if it is a directory) and return the
        file's path. It is written to a temporary file in the same directory, renamed when complete: a failed
        download leaves no partial file."""
        if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
            raise InvalidInput("path", f"must be a file or folder path (a str or a pathlib.Path), not {path!r}")
        target = Path(path)
        if target.is_dir() or os.fspath(path).endswith(("/", os.sep)):
            name = self.key.rsplit("/", 1)[-1]
            if not name:
                raise InvalidInput("path", f"the key {self.key!r} ends with '/': give the file's path")
            local_path(target, self.key, "key", name)  # a name such as ".." would leave the folder
            target = target / name
        target.parent.mkdir(parents=True, exist_ok=True)
        size, etag = self._known("size"), self._known("etag")
        with progress_bar(progress, size, self.key) as bar:
            self._storage.download_file(self.bucket_name, self.key, str(target), size, etag, bar)
        return target

    def url(self, expires: int | timedelta = 60) -> str:
        """A presigned URL anyone can GET the object with for ``expires`` seconds (1 s to 7 days; no request)."""
        return self._storage.presign_get(self.bucket_name, self.key, check_expires(expires), self.bucket.region)
