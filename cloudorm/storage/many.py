"""Operations on many objects of a bucket at once: deletes, renames (of keys, or of a prefix: a "folder"), existence
checks and reads into memory; one result per key, in the one results type (``cloudorm.results``)."""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from cloudorm.checks import check_flag, check_utf8
from cloudorm.errors import InvalidInput
from cloudorm.results import Result, Results
from cloudorm.storage.blob import Blob
from cloudorm.storage.names import check_concurrency, check_key
from cloudorm.storage.transfer import DownloadJob, progress_bar

if TYPE_CHECKING:
    from cloudorm.core import SessionLike

V = TypeVar("V")


class BlobResults(Results[Result[V]]):
    """One ``Result`` per key, in the order given (``target``: the key; ``value``: what the operation gives for it,
    or ``error``); a failure never hides the others. ``.raise_for_errors()`` raises ``BatchError`` whose
    ``.unprocessed`` holds the failed results."""

    what = "objects"


class ManyObjects:
    """``delete_many``, ``rename_many``, ``rename_prefix``, ``exists_many`` and ``read_many`` of a ``Bucket``."""

    name: str
    session: SessionLike

    if TYPE_CHECKING:
        def blob(self, key: str) -> Blob:
            """The object at ``key`` (``Bucket.blob``)."""

    def _targets(self, keys: Iterable[str | Blob] | Any, field: str = "keys") -> tuple[list[DownloadJob],
                                                                                       dict[str, Blob]]:
        """The objects ``keys`` names (keys, or Blobs of this bucket, which may know their size and etag) as jobs,
        and the Blobs given by key; ``InvalidInput`` for a bad key, a Blob of another bucket or a key given twice."""
        if isinstance(keys, (str, bytes)) or not isinstance(keys, Iterable):
            raise InvalidInput(field, f"give a list of keys or Blobs, not {type(keys).__name__}")
        jobs: list[DownloadJob] = []
        blobs: dict[str, Blob] = {}
        seen: set[str] = set()
        for k in keys:
            if isinstance(k, Blob):
                if k.bucket.name != self.name:
                    raise InvalidInput(field, f"{k!r} is not in bucket {self.name!r}")
                job = DownloadJob(k.key, size=k._known("size"), etag=k._known("etag"))
                blobs[k.key] = k
            else:
                job = DownloadJob(check_key(k, field))
            if job.key in seen:
                raise InvalidInput(field, f"the key {job.key!r} is given twice")
            seen.add(job.key)
            jobs.append(job)
        return jobs, blobs

    def delete_many(self, keys: Iterable[str | Blob]) -> BlobResults[None]:
        """Delete many objects with DeleteObjects, 1,000 keys per request (the requests ``delete(force=True)``
        empties a bucket with). One result per key: ``ok``, or the error the service reported for that key. A key
        that is not there counts as deleted (S3 answers so), which makes a re-send after a lost answer harmless."""
        jobs, blobs = self._targets(keys)
        errors = self.session.storage.delete_objects(self.name, [j.key for j in jobs])
        for job, error in zip(jobs, errors, strict=True):
            if error is None and job.key in blobs:
                blobs[job.key]._co_forget({"key": job.key})
        return BlobResults(Result(j.key, error=e) for j, e in zip(jobs, errors, strict=True))

    def exists_many(self, keys: Iterable[str | Blob], *, concurrency: int = 8) -> BlobResults[bool]:
        """Whether each object exists: one HEAD per key, ``concurrency`` at once. A result's ``value`` is True or
        False (not found); any other answer (403 ...) is its ``error``, as is ``NotFound`` for a missing bucket."""
        concurrency = check_concurrency(concurrency)
        jobs, _ = self._targets(keys)
        found = self.session.storage.exists_many(self.name, [j.key for j in jobs], concurrency)
        return BlobResults(Result(j.key, error=f) if isinstance(f, BaseException) else Result(j.key, f)
                           for j, f in zip(jobs, found, strict=True))

    @overload
    def read_many(self, keys: Iterable[str | Blob], *, text: Literal[False] = False, encoding: str = "utf-8",
                  errors: str = "strict", concurrency: int = 8, progress: bool = False) -> BlobResults[bytes]: ...

    @overload
    def read_many(self, keys: Iterable[str | Blob], *, text: Literal[True], encoding: str = "utf-8",
                  errors: str = "strict", concurrency: int = 8, progress: bool = False) -> BlobResults[str]: ...

    def read_many(self, keys: Iterable[str | Blob], *, text: bool = False, encoding: str = "utf-8",
                  errors: str = "strict", concurrency: int = 8,
                  progress: bool = False) -> BlobResults[bytes] | BlobResults[str]:
        """Read many objects into memory at once (``download_many``'s engine, without files): one result per key
        whose ``value`` is the bytes, or with ``text=True`` the text decoded with ``encoding`` and ``errors``;
        ``NotFound`` on a missing key. Blobs from a listing pin each GET to the version listed."""
        text = check_flag("text", text)
        concurrency = check_concurrency(concurrency)
        for field, value in (("encoding", encoding), ("errors", errors)):
            if not isinstance(value, str) or not value:
                raise InvalidInput(field, f"must be a codec name (str), not {value!r}")
        for field, lookup in (("encoding", codecs.lookup), ("errors", codecs.lookup_error)):
            try:
                lookup(encoding if field == "encoding" else errors)
            except LookupError as e:
                raise InvalidInput(field, str(e)) from None
        jobs, _ = self._targets(keys)
        with progress_bar(progress, len(jobs), f"read from {self.name}", unit="obj") as bar:
            got = self.session.storage.read_many(self.name, jobs, concurrency, (lambda: bar(1)) if bar else None)
        if not text:
            return BlobResults[bytes](Result(j.key, error=g) if isinstance(g, BaseException) else Result(j.key, g)
                                      for j, g in zip(jobs, got, strict=True))
        out = BlobResults[str]()
        for job, data in zip(jobs, got, strict=True):
            if isinstance(data, BaseException):
                out.append(Result(job.key, error=data))
                continue
            try:
                out.append(Result(job.key, data.decode(encoding, errors)))
            except UnicodeDecodeError as e:
                out.append(Result(job.key, error=e))
        return out

    def rename_many(self, renames: Mapping[str | Blob, str], *, overwrite: bool = False,
                    concurrency: int = 8) -> BlobResults[Blob]:
        """Rename many objects, ``{key: new_key}``, ``concurrency`` at once, each as ``Blob.rename`` does (Wasabi's
        atomic MOVE; elsewhere a copy verified before the source is deleted, so a failure midway leaves both or the
        new one, never neither). One result per key, whose ``value`` is the Blob at its new key; ``AlreadyExists``
        on a key whose new key exists, unless ``overwrite``. A key that is also a new key (chains, swaps) and two
        keys renamed to one are refused before any request."""
        if not isinstance(renames, Mapping):
            raise InvalidInput("renames", f"give a dict {{key: new_key}}, not {type(renames).__name__}")
        overwrite = check_flag("overwrite", overwrite)
        concurrency = check_concurrency(concurrency)
        jobs, blobs = self._targets(list(renames), "renames")
        pairs = [(job.key, check_key(new, f"renames[{job.key!r}]"))
                 for job, new in zip(jobs, renames.values(), strict=True)]
        sources, targets = {old for old, _ in pairs}, set[str]()
        for old, new in pairs:
            if new == old:
                raise InvalidInput(f"renames[{old!r}]", "is the key's own name")
            if new in targets:
                raise InvalidInput(f"renames[{old!r}]", f"two keys would be renamed to {new!r}")
            if new in sources:
                raise InvalidInput(f"renames[{old!r}]", f"{new!r} is renamed too: renames that depend on their "
                                                        "order (chains, swaps) are not done at once")
            targets.add(new)
        errors = self.session.storage.rename_many(self.name, pairs, overwrite, concurrency)
        return self._renamed([(old, new, e) for (old, new), e in zip(pairs, errors, strict=True)], blobs)

    def rename_prefix(self, prefix: str, new_prefix: str, *, overwrite: bool = False,
                      concurrency: int = 8) -> BlobResults[Blob]:
        """Rename a "folder": every object whose key starts with ``prefix`` gets ``new_prefix`` in its place
        (``rename_prefix("old/", "new/")``: ``old/a/b.txt`` becomes ``new/a/b.txt``). One atomic MOVE on Wasabi;
        elsewhere the keys are listed, then renamed as ``rename_many`` does. One result per object found (its old
        key, the Blob at the new key); ``AlreadyExists`` on those whose new key exists, unless ``overwrite``.
        Renaming a prefix onto itself or into itself (``"a/"`` to ``"a/b/"``) is refused before any request."""
        for field, value in (("prefix", prefix), ("new_prefix", new_prefix)):
            if not isinstance(value, str) or not value:
                raise InvalidInput(field, f"must be a non-empty str (a key's beginning, such as 'photos/'), not "
                                          f"{value!r}")
            check_utf8(field, value)
        if new_prefix == prefix:
            raise InvalidInput("new_prefix", f"{new_prefix!r} is the prefix itself: nothing would change")
        if new_prefix.startswith(prefix):
            raise InvalidInput("new_prefix", f"{new_prefix!r} is inside {prefix!r}: the renamed keys would start with "
                                             "the prefix again (move it elsewhere first)")
        overwrite = check_flag("overwrite", overwrite)
        concurrency = check_concurrency(concurrency)
        return self._renamed(self.session.storage.rename_prefix(self.name, prefix, new_prefix, overwrite,
                                                                concurrency), {})

    def _renamed(self, outcomes: list[tuple[str, str, BaseException | None]],
                 blobs: dict[str, Blob]) -> BlobResults[Blob]:
        """The results of renames (key, new key, error): the Blob at the new key for each that was renamed (a Blob
        given for its key is then deleted, as after ``Blob.rename``)."""
        out = BlobResults[Blob]()
        for old, new, error in outcomes:
            if error is not None:
                out.append(Result(old, error=error))
                continue
            if old in blobs:
                blobs[old]._co_forget({"key": old})
            out.append(Result(old, self.blob(new)))
        return out
