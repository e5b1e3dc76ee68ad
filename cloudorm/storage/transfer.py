"""What a transfer moves (``Source``, jobs for many objects), its results, and progress bars.

Nothing here talks to a provider: entities build these, the storage service moves the bytes.
"""

from __future__ import annotations

import io
import mimetypes
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import attrs

from cloudorm.errors import InvalidInput
from cloudorm.results import Results

Progress = Callable[[int], None]
"""Called with a number of bytes (or objects) just transferred."""


@attrs.frozen
class Source:
    """What to upload: in-memory ``data``, a file at ``path``, or an open binary ``fileobj``; ``size`` if known."""

    data: bytes | None = None
    path: str | None = None
    fileobj: IO[bytes] | None = None
    size: int | None = None

    @classmethod
    def of(cls, src: Any, field: str = "src") -> Source:
        """Check and classify ``src``: bytes-like and str are data (str as UTF-8), a ``pathlib.Path`` (any
        ``os.PathLike``) is a file, an object with ``read`` is a binary file object."""
        if isinstance(src, (bytes, bytearray, memoryview)):
            data = bytes(src)
            return cls(data=data, size=len(data))
        if isinstance(src, str):
            data = src.encode("utf-8")
            return cls(data=data, size=len(data))
        if isinstance(src, os.PathLike):
            path = os.fspath(src)
            if isinstance(path, bytes):
                path = os.fsdecode(path)
            if not os.path.isfile(path):
                reason = "is a directory" if os.path.isdir(path) else "no such file"
                raise InvalidInput(field, f"{path}: {reason}")
            return cls(path=path, size=os.path.getsize(path))
        if hasattr(src, "read"):
            if isinstance(src, io.TextIOBase):
                raise InvalidInput(field, "a file object opened in text mode; open it with 'rb'")
            return cls(fileobj=src)
        raise InvalidInput(field, f"upload bytes, a str, a pathlib.Path or a binary file object, not "
                                  f"{type(src).__name__}")


def guess_content_type(key: str, src: Any) -> str:
    """The MIME type for ``key`` from its extension; else text for str data, else ``application/octet-stream``."""
    guessed, encoding = mimetypes.guess_type(key, strict=False)
    if guessed and not encoding:
        return guessed
    if isinstance(src, str):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


@attrs.frozen
class Properties:
    """What is stored with an object besides its bytes: its headers, user metadata, storage class and tags (checked
    by ``cloudorm.storage.names``; None: not set)."""

    content_type: str
    metadata: dict[str, str] = attrs.field(factory=dict)
    cache_control: str | None = None
    content_disposition: str | None = None
    content_encoding: str | None = None
    content_language: str | None = None
    expires: datetime | None = None
    storage_class: str | None = None
    tags: dict[str, str] = attrs.field(factory=dict)


@attrs.frozen
class UploadJob:
    """One object of ``upload_many``: where it goes, what it holds and what is stored with it."""

    key: str
    source: Source
    properties: Properties


@attrs.frozen
class DownloadJob:
    """One object of ``download_many`` or ``read_many``: its key, the file to write (``""``: read into memory), and
    its size and etag when known (from a listing: they save a HEAD, and the GET then asks for that very version with
    If-Match)."""

    key: str
    path: str = ""
    size: int | None = None
    etag: str | None = None


@attrs.frozen
class TransferResult:
    """The outcome for one object of ``upload_many``/``download_many``: ``ok``, or the ``error`` it met."""

    key: str
    path: str | None = None
    size: int | None = None
    error: BaseException | None = None

    @property
    def target(self) -> str:
        """The object's key."""
        return self.key

    @property
    def ok(self) -> bool:
        """True when this object was transferred."""
        return self.error is None


class TransferResults(Results[TransferResult]):
    """One ``TransferResult`` per object, in the order given; a failure never hides the others.
    ``.raise_for_errors()`` raises ``BatchError`` whose ``.unprocessed`` holds the failed results."""

    what = "transfers"


@contextmanager
def progress_bar(enabled: bool, total: int | None, desc: str, unit: str = "B") -> Iterator[Progress | None]:
    """A tqdm bar (on stderr) while the block runs, as a thread-safe callback taking increments; None when not
    ``enabled``."""
    if not enabled:
        yield None
        return
    from tqdm.auto import tqdm  # type: ignore[import-untyped]

    scale = unit == "B"
    lock = threading.Lock()  # transfer threads report at once; tqdm's counter is not atomic
    with tqdm(total=total, desc=desc, unit=unit, unit_scale=scale, unit_divisor=1024 if scale else 1000,
              leave=False) as bar:
        def update(n: int) -> None:
            with lock:
                bar.update(n)

        yield update


def local_path(root: Path, key: str, field: str = "keys", relative: str | None = None,
               resolved: dict[Path, Path] | None = None) -> Path:
    """Where the object ``key`` is written below ``root``: at ``relative`` (default: the key), each ``/``-separated
    part a folder or file name there (a leading ``/`` is ignored, a trailing one names a folder). ``InvalidInput``
    naming the key if a part cannot be a file name (empty, ``.``, ``..``, a NUL or this system's separator) or the
    path would lead outside ``root`` (through a link). ``resolved``: real paths already found for ``root`` and its
    folders (for many keys: each folder is resolved once)."""
    rel = (key if relative is None else relative).lstrip("/")
    rel = rel[:-1] if rel.endswith("/") else rel
    bad = {"", ".", ".."}
    for part in rel.split("/"):
        if part in bad or "\0" in part or os.sep in part or (os.altsep and os.altsep in part):
            raise InvalidInput(field, f"the key {key!r} cannot be a file name below {str(root)!r} ({part!r} is "
                                      "not a usable name): download it with download_to(file_path)")
    known = {} if resolved is None else resolved
    real_root = known.get(root) or known.setdefault(root, root.resolve())
    folder, _, name = rel.rpartition("/")
    parent = root / folder
    real_parent = known.get(parent) or known.setdefault(parent, (real_root / folder).resolve())
    target = real_parent / name
    if target.is_symlink():  # (only the last part is left to follow)
        target = target.resolve()
    if not str(target).startswith(os.path.join(real_root, "")):  # (strictly below it)
        raise InvalidInput(field, f"{key!r} would be written outside {str(root)!r}")
    return target
