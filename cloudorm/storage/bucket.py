"""The Bucket entity: lifecycle, listings of blobs and prefixes, presigned uploads, many-object transfers and
static websites (deletes, renames, existence checks and reads of many objects: ``cloudorm.storage.many``)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from cloudorm.checks import check_flag, check_utf8
from cloudorm.core import UNSET, Plan, Record, Resource, call, field, resource, run
from cloudorm.errors import InvalidInput
from cloudorm.listing import Listing, PageFetcher
from cloudorm.storage.blob import Blob
from cloudorm.storage.many import ManyObjects
from cloudorm.storage.names import (
    check_bucket_name,
    check_bucket_tags,
    check_concurrency,
    check_content_type,
    check_expires,
    check_key,
    check_size_range,
)
from cloudorm.storage.transfer import (
    Properties,
    Source,
    TransferResult,
    TransferResults,
    UploadJob,
    guess_content_type,
    local_path,
    progress_bar,
)
from cloudorm.trees import walk_tree

if TYPE_CHECKING:
    from cloudorm.providers.base import StorageService


@attrs.frozen
class BlobListing(Listing[Blob]):
    """``bucket.blobs(...)``: a lazy listing of Blobs (chain ``.limit()``, ``.page_size()``, slice, ``.first()``).
    With a delimiter, iteration gives the objects directly under the prefix and ``.prefixes()`` the "folders"."""

    _prefix_fetch: PageFetcher[str] = attrs.field(kw_only=True, alias="prefix_fetch")

    def prefixes(self) -> Listing[str]:
        """The common prefixes (S3's ``CommonPrefixes``, e.g. ``"photos/2024/"``), lazily, with this listing's
        limit and page size; a listing without a delimiter has none."""
        return Listing(self._prefix_fetch, self._limit, self._page_size)


@attrs.frozen
class PresignedPost:
    """A presigned upload form (``bucket.upload_url(...)``): POST ``fields`` plus the file (field ``file``, last)
    as ``multipart/form-data`` to ``url``."""

    url: str
    fields: dict[str, str] = attrs.field(repr=lambda f: "{" + ", ".join(map(repr, f)) + "}")
    """The form's fields; their values (the signed policy and its signature) stay out of the repr: together they let
    anyone upload until the form expires."""


def _optional_region(value: Any) -> str:
    if value is None:
        unset: str = UNSET  # the session's (or, once it exists, the bucket's own)
        return unset
    if not isinstance(value, str) or not value:
        raise InvalidInput("region", f"must be a region name, not {value!r}")
    return value


@resource
class Bucket(ManyObjects, Resource):
    """A bucket bound to a session: ``s.Bucket("photos").save()``; ``region`` defaults to the session's and cannot
    change once the bucket exists; ``tags`` are the bucket's tags (read with one request when first used)."""

    kind: ClassVar[str] = "bucket"
    regional: ClassVar[bool] = False  # a bucket name is the account's (the partition's), whatever the region

    name: str = field(check_bucket_name, fixed=True)
    region: str | None = field(_optional_region, default=None, fixed=True)
    """The bucket's region (None while unknown: a new bucket is made in the session's)."""
    tags: dict[str, str] = field(check_bucket_tags, factory=dict, kw_only=True)
    created: datetime | None = field(default=None, tracked=False, kw_only=True)
    """When the bucket was created, as a listing reported it (``None`` otherwise)."""

    @property
    def _storage(self) -> StorageService:
        return self.session.storage

    # ------------------------------------------------------------------------------------------- lifecycle

    def _co_lookup(self, key: str, lazy: bool = True) -> tuple[bool, Any]:
        """The tags of a bucket that exists are read with their own request, the first time they are used."""
        record = self._co_record
        if key == "tags" and lazy and record is not None and key not in record:
            record[key] = run(self.session, call("storage", "bucket_tags", self._co_ref()[0]))
        return super()._co_lookup(key, lazy)

    def _co_fetch(self) -> Plan[Record]:
        name = self._co_ref()[0]
        region = yield from call("storage", "bucket_region", name)
        return {"name": name, "region": region}

    def _co_create(self) -> Plan[Record]:
        region = self.region or self.session.region or "us-east-1"
        yield from call("storage", "create_bucket", self.name, region)
        tags = self.__dict__.get("tags", UNSET)
        if tags:  # (a failure here leaves the bucket made and the object new: save() again adopts it)
            yield from call("storage", "put_bucket_tags", self.name, tags)
        return {"name": self.name, "region": region, "tags": dict(tags or {})}

    def _co_update(self, changed: set[str]) -> Plan[Record | None]:
        if "tags" in changed:
            yield from call("storage", "put_bucket_tags", self.name, dict(self.tags))
        return None

    def _co_remove(self, *, force: bool = False, **options: Any) -> Plan[None]:
        if force:
            yield from call("storage", "empty_bucket", self._co_ref()[0])
        yield from call("storage", "delete_bucket", self._co_ref()[0])

    def delete(self, *, force: bool = False, missing_ok: bool = False) -> None:
        """Delete the bucket (``ConflictError`` if it holds objects); ``force=True`` first deletes every object,
        version and delete marker, 1,000 per request. ``NotFound`` if absent, unless ``missing_ok``."""
        run(self.session, self._co_delete(missing_ok, {"force": check_flag("force", force)}))

    # ------------------------------------------------------------------------------------------- objects

    def blob(self, key: str) -> Blob:
        """The object at ``key`` (no request: its information loads on first use)."""
        return Blob(self.session, self, key)

    def blobs(self, prefix: str = "", delimiter: str | None = None) -> BlobListing:
        """The objects whose keys start with ``prefix``, in key order, lazily and page by page (1,000 per request
        at most). With ``delimiter="/"`` only those directly under the prefix; ``.prefixes()`` lists the rest."""
        if not isinstance(prefix, str):
            raise InvalidInput("prefix", f"must be a str, not {prefix!r}")
        check_utf8("prefix", prefix)
        if delimiter is not None and (not isinstance(delimiter, str) or not delimiter):
            raise InvalidInput("delimiter", f"must be a non-empty str or None, not {delimiter!r}")
        if delimiter is not None:
            check_utf8("delimiter", delimiter)

        def fetch(token: Any, size: int | None) -> tuple[list[Blob], Any]:
            objects, _, after = self._storage.list_objects(self.name, prefix, delimiter, token, size)
            return [Blob._listed(self, o) for o in objects], after

        def fetch_prefixes(token: Any, size: int | None) -> tuple[list[str], Any]:
            _, prefixes, after = self._storage.list_objects(self.name, prefix, delimiter, token, size)
            return prefixes, after

        return BlobListing(fetch, prefix_fetch=fetch_prefixes)

    def upload_url(self, key: str, expires: int | timedelta = 60, max_size: int | None = None,
                   content_type: str | None = None, *, min_size: int | None = None) -> PresignedPost:
        """A presigned POST form for uploading ``key`` without credentials for ``expires`` seconds; ``min_size`` and
        ``max_size`` bound the file's size in bytes (S3's ``content-length-range``, 0 <= min_size <= max_size),
        ``content_type`` fixes its type. No request is sent."""
        key = check_key(key)
        seconds = check_expires(expires)
        fields: dict[str, str] = {}
        conditions: list[Any] = []
        size_range = check_size_range(min_size, max_size)
        if size_range is not None:
            conditions.append(["content-length-range", *size_range])
        if check_content_type(content_type):
            assert content_type is not None
            fields["Content-Type"] = content_type
            conditions.append({"Content-Type": content_type})
        url, form = self._storage.presign_post(self.name, key, seconds, fields, conditions, self.region)
        return PresignedPost(url, form)

    # ------------------------------------------------------------------------------------------- many objects

    def upload_many(self, files: Mapping[str, Any] | Iterable[os.PathLike[str]] | os.PathLike[str], *,
                    concurrency: int = 8, progress: bool = False, prefix: str = "",
                    follow_links: bool = False) -> TransferResults:
        """Upload many objects at once: a dict ``{key: src}`` (any ``src`` ``Blob.upload`` takes), paths (each
        under its file name) or a directory (every file under it, by relative path, walked by ``cloudorm.trees``'
        rule: a link leading out of it is refused unless ``follow_links=True``); keys get ``prefix``.
        Returns one ``TransferResult`` per object; ``.raise_for_errors()`` raises ``BatchError`` if any failed."""
        concurrency = check_concurrency(concurrency)
        if not isinstance(prefix, str):
            raise InvalidInput("prefix", f"must be a str, not {prefix!r}")
        if not isinstance(follow_links, bool):
            raise InvalidInput("follow_links", f"must be True or False, not {follow_links!r}")
        jobs = [UploadJob(key, source, Properties(guess_content_type(key, src)))
                for key, source, src in self._sources(files, prefix, follow_links)]
        seen: set[str] = set()
        for job in jobs:
            if job.key in seen:
                raise InvalidInput("files", f"two files would be uploaded to the same key {job.key!r}")
            seen.add(job.key)
        with progress_bar(progress, len(jobs), f"upload to {self.name}", unit="obj") as bar:
            errors = self._storage.upload_many(self.name, jobs, concurrency, (lambda: bar(1)) if bar else None)
        return TransferResults(TransferResult(j.key, j.source.path, j.source.size, e)
                               for j, e in zip(jobs, errors, strict=True))

    @staticmethod
    def _sources(files: Any, prefix: str, follow_links: bool) -> list[tuple[str, Source, Any]]:
        """(key, source, original) for each object of ``upload_many``'s argument, checked."""
        if isinstance(files, Mapping):
            for k in files:
                check_key(k, "files")
            return [(check_key(prefix + k, f"files[{k!r}]"), Source.of(v, f"files[{k!r}]"), v)
                    for k, v in files.items()]
        if isinstance(files, os.PathLike):
            directory = Path(files)
            if not directory.is_dir():
                raise InvalidInput("files", f"{directory}: not a directory (give a list of paths for files)")
            return [(check_key(prefix + rel, "files"), Source.of(p, "files"), p)
                    for rel, p in walk_tree(directory, follow_links=follow_links, field="files")]
        if isinstance(files, (str, bytes)) or not isinstance(files, Iterable):
            raise InvalidInput("files", "give a dict {key: data or path}, a list of pathlib.Path or a directory "
                                        f"as a pathlib.Path, not {type(files).__name__}")
        out = []
        for p in files:
            if not isinstance(p, os.PathLike):
                raise InvalidInput("files", f"{p!r} is not a path: wrap file names in pathlib.Path (a str is data)")
            path = Path(p)
            out.append((check_key(prefix + path.name, "files"), Source.of(path, "files"), path))
        return out

    def download_many(self, keys: Iterable[str | Blob], dest_dir: str | os.PathLike[str], *,
                      concurrency: int = 8, progress: bool = False) -> TransferResults:
        """Download objects (keys, or Blobs such as a ``blobs()`` listing, which know their size and save a HEAD
        each) into ``dest_dir``, each at its key's path below it. One ``TransferResult`` per object."""
        concurrency = check_concurrency(concurrency)
        if not isinstance(dest_dir, (str, os.PathLike)):
            raise InvalidInput("dest_dir", f"must be a str or a pathlib.Path, not {type(dest_dir).__name__}")
        root = Path(dest_dir)
        resolved: dict[Path, Path] = {}  # (each folder's real path found once)
        jobs = [attrs.evolve(j, path=str(local_path(root, j.key, resolved=resolved))) for j in self._targets(keys)[0]]
        # a key ending in "/" is a folder marker (the S3 console's "Create folder"): a directory, not a file
        folders = [j.key.endswith("/") for j in jobs]
        files = [j for j, folder in zip(jobs, folders, strict=True) if not folder]
        for job, folder in zip(jobs, folders, strict=True):
            (Path(job.path) if folder else Path(job.path).parent).mkdir(parents=True, exist_ok=True)
        with progress_bar(progress, len(files), f"download from {self.name}", unit="obj") as bar:
            errors = iter(self._storage.download_many(self.name, files, concurrency, (lambda: bar(1)) if bar else None))
        return TransferResults(TransferResult(j.key, j.path, j.size, None if folder else next(errors))
                               for j, folder in zip(jobs, folders, strict=True))

    # ------------------------------------------------------------------------------------------- websites

    def website(self, index: str = "index.html", error: str | None = "error.html") -> str:
        """Host a static website from this bucket (AWS S3 only: ``Unsupported`` elsewhere, before any request);
        returns its URL. The objects must be publicly readable for visitors to see them."""
        if not isinstance(index, str) or not index or "/" in index:
            raise InvalidInput("index", f"must be a file name without '/', such as 'index.html', not {index!r}")
        if error is not None:
            check_key(error, "error")
        self._storage.put_website(self.name, index, error)
        return self.website_url

    @property
    def website_url(self) -> str:
        """The bucket's static website URL, ``http://{name}.s3-website-{region}.amazonaws.com`` (or
        ``s3-website.{region}`` in newer regions); reads the region first if unknown."""
        if self.region is None:
            self._storage.website_url(self.name, self.session.region or "us-east-1")  # Unsupported, no request
            self.refresh()
        assert self.region is not None
        return self._storage.website_url(self.name, self.region)
