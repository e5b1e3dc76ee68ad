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
from pathlib import Path
from typing import IO, Any

import attrs

from cloudorm.errors import BatchError, InvalidInput

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
class UploadJob:
    """One object of ``upload_many``: where it goes and what it holds."""

    key: str
    source: Source
    content_type: str
    metadata: dict[str, str] = attrs.field(factory=dict)


@attrs.frozen
class DownloadJob:
    """One object of ``download_many``: its key, the file to write, and its size and etag when known (from a
    listing: they save a HEAD, and the GET then asks for that very version with If-Match)."""

    key: str
    path: str
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
    def ok(self) -> bool:
        """True when this object was transferred."""
        return self.error is None


class TransferResults(list[TransferResult]):
    """One ``TransferResult`` per object, in the order given; a failure never hides the others."""

    @property
    def ok(self) -> bool:
        """True when every object was transferred."""
        return all(r.ok for r in self)

    @property
    def failed(self) -> list[TransferResult]:
        """The results that carry an error."""
        return [r for r in self if not r.ok]

    def raise_for_errors(self) -> TransferResults:
        """Raise ``BatchError`` (``.unprocessed`` = the failed results) if any object failed; else return self."""
        failed = self.failed
        if failed:
            first = failed[0].error
            raise BatchError(f"{len(failed)} of {len(self)} transfers failed; first: {failed[0].key}: {first}",
                             failed)
        return self


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


def tree(directory: Path) -> list[tuple[str, Path]]:
    """Every file under ``directory``, as (relative key with ``/`` separators, path), sorted."""
    return sorted((p.relative_to(directory).as_posix(), p) for p in directory.rglob("*") if p.is_file())


def download_path(dest_dir: Path, key: str) -> Path:
    """Where ``download_many`` writes ``key`` under ``dest_dir``; ``InvalidInput`` if it would land outside it."""
    root = dest_dir.resolve()
    target = (root / key.lstrip("/")).resolve()
    if target == root or root not in target.parents:
        raise InvalidInput("keys", f"{key!r} would be written outside {str(dest_dir)!r}")
    return target
