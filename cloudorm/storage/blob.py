"""The Blob entity: one object (key) in a bucket, its lazily loaded information, and every per-object operation."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import attrs

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


def answers(refresh: Callable[[], object]) -> bool:
    """Whether ``refresh()`` finds its entity (False on ``NotFound``): ``exists()`` of buckets and blobs."""
    try:
        refresh()
    except NotFound:
        return False
    return True


def _check_flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(name, f"must be True or False, not {value!r}")
    return value


def _check_offset(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(name, f"must be an int, not {value!r}")
    return value


@attrs.define(eq=False, repr=False)
class Blob:
    """An object in a bucket. ``size``, ``etag``, ``last_modified``, ``content_type``, ``metadata``, the other
    stored headers and ``storage_class`` are read with one HEAD request on first access (a blob from a listing knows
    its size, etag and date already)."""

    bucket: Bucket
    key: str = attrs.field(converter=check_key)
    _info: Mapping[str, Any] = attrs.field(factory=dict, kw_only=True, alias="info")

    def __repr__(self) -> str:
        return f"Blob({self.bucket.name!r}, {self.key!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Blob):
            return NotImplemented
        return (self.bucket.name, self.key) == (other.bucket.name, other.key)

    def __hash__(self) -> int:
        return hash((self.bucket.name, self.key))

    @property
    def _storage(self) -> StorageService:
        return self.bucket.session.storage

    def _field(self, name: str) -> Any:
        if name not in self._info:
            self.refresh()
        return self._info.get(name)

    # ------------------------------------------------------------------------------------------- information

    @property
    def size(self) -> int:
        """Size in bytes."""
        size: int = self._field("size")
        return size

    @property
    def etag(self) -> str:
        """The provider's entity tag, without quotes (an MD5 of the content for single-part uploads)."""
        etag: str = self._field("etag")
        return etag

    @property
    def last_modified(self) -> datetime:
        """When the object was last written (timezone-aware)."""
        when: datetime = self._field("last_modified")
        return when

    @property
    def content_type(self) -> str:
        """The MIME type it is served with."""
        ctype: str = self._field("content_type")
        return ctype

    @property
    def metadata(self) -> dict[str, str]:
        """User metadata (``x-amz-meta-*``), names lowercased."""
        return dict(self._field("metadata") or {})

    @property
    def storage_class(self) -> str:
        """The storage class (``"STANDARD"``, ``"STANDARD_IA"`` ...)."""
        return str(self._field("storage_class") or "STANDARD")

    @property
    def cache_control(self) -> str | None:
        """The stored ``Cache-Control`` header, if any."""
        return self._header("cache_control")

    @property
    def content_disposition(self) -> str | None:
        """The stored ``Content-Disposition`` header, if any."""
        return self._header("content_disposition")

    @property
    def content_encoding(self) -> str | None:
        """The stored ``Content-Encoding`` header, if any."""
        return self._header("content_encoding")

    @property
    def content_language(self) -> str | None:
        """The stored ``Content-Language`` header, if any."""
        return self._header("content_language")

    @property
    def expires(self) -> datetime | None:
        """The stored ``Expires`` date, if any (timezone-aware)."""
        when: datetime | None = self._field("expires")
        return when

    def _header(self, name: str) -> str | None:
        value = self._field(name)
        return None if value is None else str(value)

    def refresh(self) -> Blob:
        """Reload the information with one HEAD request (``NotFound`` if the object is absent)."""
        self._info = self._storage.head_object(self.bucket.name, self.key)
        return self

    def exists(self) -> bool:
        """Whether the object exists (one HEAD request)."""
        return answers(self.refresh)

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
            self._storage.upload(self.bucket.name, self.key, source, props, bar)
        self._info = {}
        return self

    def delete(self, *, missing_ok: bool = False) -> None:
        """Delete the object (``NotFound`` if absent, checked with a HEAD, unless ``missing_ok``)."""
        if not missing_ok:
            self.refresh()
        self._storage.delete_object(self.bucket.name, self.key)
        self._info = {}

    def rename(self, new_key: str, *, overwrite: bool = False) -> Blob:
        """Move the object to ``new_key`` in the same bucket, with every stored property, and return the Blob there
        (this one is then gone). ``AlreadyExists`` if ``new_key`` exists, changing nothing, unless ``overwrite``.
        One atomic request on Wasabi; elsewhere a copy then a delete, where a source written meanwhile is kept and
        is ``ConflictError`` (see docs/storage.md)."""
        new_key = check_key(new_key, "new_key")
        overwrite = _check_flag("overwrite", overwrite)
        if new_key == self.key:  # a copy onto itself then a delete would lose the object
            raise InvalidInput("new_key", f"{new_key!r} is the blob's own key")
        self._storage.rename(self.bucket.name, self.key, new_key, overwrite)
        moved = Blob(self.bucket, new_key)
        self._info = {}
        return moved

    def copy_to(self, bucket: Bucket | str, key: str | None = None, *, overwrite: bool = False) -> Blob:
        """Copy the object, with every stored property (headers, metadata, storage class, tags), to ``bucket`` (a
        Bucket or a name) under ``key`` (default: the same key); returns the copy. ``AlreadyExists`` if the target
        exists, changing nothing, unless ``overwrite``; ``InvalidInput`` for a bucket of a session at another
        provider or endpoint."""
        target = bucket if not isinstance(bucket, str) else self.bucket.session.Bucket(bucket)
        new_key = self.key if key is None else check_key(key)
        overwrite = _check_flag("overwrite", overwrite)
        if target.session is not self.bucket.session and target._storage.place() != self._storage.place():
            # the copy is sent through this blob's session: it would land in a bucket of that name over here
            raise InvalidInput("bucket", f"{target.name!r} is in another provider or endpoint "
                                         f"({target._storage.place()}, this blob's: {self._storage.place()}); "
                                         "copy_to copies within one: download and upload to copy between them")
        self._storage.copy(self.bucket.name, self.key, target.name, new_key, overwrite)
        return Blob(target, new_key)

    # ------------------------------------------------------------------------------------------- reading

    def download(self) -> bytes:
        """The object's bytes (one GET)."""
        return self._storage.download(self.bucket.name, self.key)

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
            return self._storage.download(self.bucket.name, self.key, start, None if end is None else end - 1)
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
        reader = BlobReader(self._storage.open(self.bucket.name, self.key))
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
        size, etag = self._info.get("size"), self._info.get("etag")
        with progress_bar(progress, size, self.key) as bar:
            self._storage.download_file(self.bucket.name, self.key, str(target), size, etag, bar)
        return target

    def url(self, expires: int | timedelta = 60) -> str:
        """A presigned URL anyone can GET the object with for ``expires`` seconds (1 s to 7 days; no request)."""
        return self._storage.presign_get(self.bucket.name, self.key, check_expires(expires), self.bucket.region)
