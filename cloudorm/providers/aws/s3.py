"""Object storage on S3 and S3-compatible services (AWS, the local cloud, Wasabi, DigitalOcean Spaces).

Single requests go through the session's botocore client; transfers of whole objects go through s3transfer's
``TransferManager`` on that same client (managed multipart above the session's ``multipart_threshold``, temporary
file and rename for downloads to a path). Every botocore and s3transfer exception is mapped to ``cloudorm.errors``.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any

from botocore import exceptions as bx
from botocore import xform_name
from s3transfer.exceptions import RetriesExceededError, S3CopyFailedError
from s3transfer.futures import TransferFuture
from s3transfer.manager import TransferConfig, TransferManager

from cloudorm import errors as ce
from cloudorm.providers.aws.clients import ClientFactory
from cloudorm.providers.aws.errors import map_error
from cloudorm.providers.aws.s3_stream import STREAM_ERRORS, Known, Stream
from cloudorm.providers.aws.s3_wire import (
    CONDITIONAL,
    DASH_WEBSITE_REGIONS,
    DELETE_BATCH,
    REPLACED,
    copy_args,
    object_info,
    same_object,
    shows,
    upload_args,
    wrote,
)
from cloudorm.providers.aws.s3_wire import _dns_suffix as _dns_suffix  # (re-exported: API Gateway reads it)
from cloudorm.providers.aws.settle import send_settled
from cloudorm.providers.contract import BucketInfo, ObjectInfo, StorageCapabilities, StorageService, Wire
from cloudorm.storage.transfer import DownloadJob, Progress, Properties, Source, UploadJob


class S3StorageService(StorageService):
    """``StorageService`` over a session's S3 client. Subclasses may override ``rename`` (Wasabi's native MOVE)."""

    def __init__(self, clients: ClientFactory, provider: str, secrets: tuple[str, ...] = (), *,
                 capabilities: StorageCapabilities | None = None) -> None:
        self.clients = clients
        """The session's ClientFactory (``clients.client("s3")`` is the botocore client)."""
        self.provider = provider
        """The provider's name, for errors."""
        self.secrets = secrets
        """Values never shown in error messages."""
        self.capabilities = capabilities or StorageCapabilities()
        """What this endpoint's S3 does beyond the core (the provider says: AWS S3 does all of it)."""
        self._conditions: dict[tuple[str, str], list[Wire]] = {}  # conditional writes in flight, per target
        self._conditions_lock = threading.Lock()
        if self.capabilities.conditional_writes:
            clients.hook("before-parameter-build", "s3", CONDITIONAL, self._add_condition)
        # sent again after they applied, they find no bucket (NotFound) or an owned one (AlreadyExists)
        clients.no_resend("s3", ("DeleteBucket", "CreateBucket"))

    # ------------------------------------------------------------------------------------------------ plumbing

    @property
    def client(self) -> Any:
        """The botocore S3 client."""
        return self.clients.client("s3")

    def _error(self, e: Exception, operation: str | None, bucket: str | None = None,
               key: str | None = None) -> Exception:
        """The cloudorm error for a botocore/s3transfer exception, naming the bucket and key when not found."""
        if isinstance(e, RetriesExceededError) and isinstance(e.last_exception, Exception):
            e = e.last_exception
        if isinstance(e, S3CopyFailedError) and isinstance(e.__context__, bx.ClientError):
            e = e.__context__  # s3transfer's wrapping of an UploadPartCopy's 412: S3's own error, request id and all
        err = map_error(e, self.provider, operation, self.secrets)
        if isinstance(err, ce.NotFound) and bucket is not None:
            if err.code == "NoSuchBucket" or key is None:
                what = f"bucket {bucket!r} does not exist"
            elif err.code == "NoSuchKey":
                what = f"no object {key!r} in bucket {bucket!r}"
            else:  # a HEAD's bare 404 does not say which one is missing
                what = f"no object {key!r} in bucket {bucket!r} (or no such bucket)"
            return ce.NotFound(what, **err.provider_details())
        if isinstance(err, ce.CloudError) and err.operation is None:
            err.operation = operation
        return err

    def _call(self, operation: str, bucket: str | None = None, key: str | None = None, /, *,
              region: str | None = None, **params: Any) -> Any:
        """Send one S3 operation (named as botocore's method, e.g. ``head_object``), signed for ``region`` when
        given (the session's otherwise)."""
        client = self.clients.client("s3", region) if region else self.client
        method = getattr(client, xform_name(operation))
        try:
            return method(**params)
        except (bx.ClientError, bx.BotoCoreError) as e:
            raise self._error(e, operation, bucket, key) from None

    def _config(self, concurrency: int | None = None) -> TransferConfig:
        """s3transfer's settings: the session's multipart sizes; ``concurrency`` requests in flight, at most the
        client's connection pool (more would only open and discard connections)."""
        options = self.clients.options
        extra = {"max_request_concurrency": min(concurrency, options.max_pool_connections)} if concurrency else {}
        return TransferConfig(multipart_threshold=options.multipart_threshold,
                              multipart_chunksize=options.multipart_chunksize, **extra)

    @contextmanager
    def _manager(self, concurrency: int | None = None) -> Iterator[TransferManager]:
        with TransferManager(self.client, self._config(concurrency)) as manager:
            yield manager

    def _wait(self, future: TransferFuture, operation: str, bucket: str, key: str) -> None:
        try:
            future.result()
        except Exception as e:
            raise self._error(e, operation, bucket, key) from None

    def _add_condition(self, params: Wire, **_: Any) -> None:
        """botocore hook: a write of a target registered with ``_only_if`` carries its condition (``If-None-Match:
        *`` for a copy with ``overwrite=False`` or a new blob, ``If-Match: <etag>`` for a blob's new content)."""
        with self._conditions_lock:
            found = self._conditions.get((params.get("Bucket"), params.get("Key")))  # type: ignore[arg-type]
            if found:
                params.update(found[-1])

    @contextmanager
    def _only_if(self, bucket: str, key: str, condition: Wire) -> Iterator[None]:
        """While the block runs, writes of ``bucket``/``key`` carry ``condition`` (none if it is empty)."""
        if not condition:
            yield
            return
        target = (bucket, key)
        with self._conditions_lock:
            self._conditions.setdefault(target, []).append(condition)
        try:
            yield
        finally:
            with self._conditions_lock:
                self._conditions[target].remove(condition)
                if not self._conditions[target]:
                    del self._conditions[target]

    @staticmethod
    def _readable(source: Source) -> str | IO[bytes]:
        if source.path is not None:
            return source.path
        if source.fileobj is not None:
            return source.fileobj
        return io.BytesIO(source.data or b"")

    # ------------------------------------------------------------------------------------------------ buckets

    def create_bucket(self, name: str, region: str) -> None:
        """CreateBucket in ``region`` (us-east-1 takes no location constraint); ``AlreadyExists`` when the bucket
        exists (``code``: ``BucketAlreadyOwnedByYou``, or ``BucketAlreadyExists`` for another account's). In
        us-east-1, where S3 answers a second CreateBucket of its owner with 200, a HEAD first tells. Never re-sent
        blindly: after a lost answer a HEAD settles it (the bucket there means created)."""
        if region == "us-east-1" and self._bucket_exists(name):
            raise ce.AlreadyExists(f"bucket {name!r} exists", provider=self.provider, operation="CreateBucket",
                                   code="BucketAlreadyOwnedByYou")
        params: Wire = {"Bucket": name}
        if region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": region}
        client = self.clients.client("s3", region)  # AWS wants it signed for there
        try:
            send_settled(lambda: client.create_bucket(**params), lambda: self._bucket_exists(name) or None,
                         attempts=self.clients.options.max_attempts)
        except (bx.ClientError, bx.BotoCoreError) as e:
            raise self._error(e, "CreateBucket", name, None) from None

    def _bucket_exists(self, name: str) -> bool:
        """HeadBucket: True when the bucket exists (this account's or, answered 403, another's)."""
        try:
            self.client.head_bucket(Bucket=name)
        except bx.ClientError as e:
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status in (404, 403):
                return status == 403
            raise self._error(e, "HeadBucket", name, None) from None
        except bx.BotoCoreError as e:
            raise self._error(e, "HeadBucket", name, None) from None
        return True

    def bucket_tags(self, name: str) -> dict[str, str]:
        """GetBucketTagging: the bucket's tags (none: an empty dict)."""
        try:
            r = self._call("GetBucketTagging", name, None, Bucket=name)
        except ce.CloudError as e:
            if e.code != "NoSuchTagSet":
                raise
            return {}
        return {t["Key"]: t["Value"] for t in r.get("TagSet", [])}

    def put_bucket_tags(self, name: str, tags: dict[str, str]) -> None:
        """PutBucketTagging (DeleteBucketTagging for none): the bucket's tags become ``tags``; both set a state, so
        a re-send after a lost answer does the same."""
        if tags:
            self._call("PutBucketTagging", name, None, Bucket=name,
                       Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]})
        else:
            self._call("DeleteBucketTagging", name, None, Bucket=name)

    def delete_bucket(self, name: str) -> None:
        """DeleteBucket (``ConflictError`` if it still holds objects). After a lost answer a HeadBucket settles it:
        gone means done (no false ``NotFound``), still there means it is sent again."""

        def gone() -> bool | None:
            try:
                self.client.head_bucket(Bucket=name)
            except bx.ClientError as e:
                if e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                    return True
                raise
            return None

        try:
            send_settled(lambda: self.client.delete_bucket(Bucket=name), gone,
                         attempts=self.clients.options.max_attempts)
        except (bx.ClientError, bx.BotoCoreError) as e:
            raise self._error(e, "DeleteBucket", name, None) from None

    def empty_bucket(self, name: str) -> int:
        """Delete every object version and delete marker: list the first page (up to 1,000), delete it with one
        DeleteObjects, again until nothing is left (listing from the start each time, so no marker ever points
        at a deleted key)."""
        deleted = 0
        while True:
            page = self._call("ListObjectVersions", name, None, Bucket=name, MaxKeys=DELETE_BATCH)
            batch = [{"Key": v["Key"], "VersionId": v["VersionId"]} if v.get("VersionId") else {"Key": v["Key"]}
                     for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]]
            if not batch:
                return deleted
            for start in range(0, len(batch), DELETE_BATCH):
                chunk = batch[start:start + DELETE_BATCH]
                r = self._call("DeleteObjects", name, None, Bucket=name, Delete={"Objects": chunk, "Quiet": True})
                failed = r.get("Errors") or []
                if failed:
                    first = failed[0]
                    raise ce.BatchError(f"{len(failed)} objects of bucket {name!r} could not be deleted; first: "
                                        f"{first.get('Key')}: {first.get('Code')} {first.get('Message')}", failed,
                                        provider=self.provider, operation="DeleteObjects", code=first.get("Code"),
                                        request_id=r["ResponseMetadata"].get("RequestId"))
                deleted += len(chunk)

    def bucket_region(self, name: str) -> str:
        """HeadBucket; the ``x-amz-bucket-region`` it answers with (the client's region if none)."""
        r = self._call("HeadBucket", name, None, Bucket=name)
        region = r.get("BucketRegion") or r["ResponseMetadata"].get("HTTPHeaders", {}).get("x-amz-bucket-region")
        return str(region or self.client.meta.region_name)

    def list_buckets(self, start: str | None, limit: int | None) -> tuple[list[BucketInfo], str | None]:
        """One ListBuckets page (endpoints that do not paginate return everything at once)."""
        params: Wire = {}
        if start:
            params["ContinuationToken"] = start
        if limit:
            params["MaxBuckets"] = min(limit, 10000)
        r = self._call("ListBuckets", **params)
        out: list[BucketInfo] = [{"name": b["Name"], "created": b.get("CreationDate"),
                                  "region": b.get("BucketRegion")} for b in r.get("Buckets", [])]
        return out, r.get("ContinuationToken") or None

    def list_objects(self, bucket: str, prefix: str, delimiter: str | None, start: str | None,
                     limit: int | None) -> tuple[list[ObjectInfo], list[str], str | None]:
        """One ListObjectsV2 page: objects, common prefixes and the continuation token."""
        params: Wire = {"Bucket": bucket, "Prefix": prefix}
        if delimiter:
            params["Delimiter"] = delimiter
        if start:
            params["ContinuationToken"] = start
        if limit:
            params["MaxKeys"] = min(limit, 1000)
        r = self._call("ListObjectsV2", bucket, None, **params)
        objects = [object_info(o["Key"], o) for o in r.get("Contents", [])]
        prefixes = [p["Prefix"] for p in r.get("CommonPrefixes", [])]
        token = r.get("NextContinuationToken") if r.get("IsTruncated") else None
        return objects, prefixes, token

    # ------------------------------------------------------------------------------------------------ objects

    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        """HeadObject: size, etag, last_modified, content_type, metadata, the other stored headers, storage_class."""
        return object_info(key, self._call("HeadObject", bucket, key, Bucket=bucket, Key=key), head=True)

    def upload(self, bucket: str, key: str, source: Source, properties: Properties,
               progress: Progress | None = None) -> None:
        """Upload through s3transfer: one PutObject, or a multipart upload above the threshold."""
        with self._manager() as manager:
            future = manager.upload(self._readable(source), bucket, key, extra_args=upload_args(properties),
                                    subscribers=[Known(source.size, progress=progress)])
            self._wait(future, "PutObject", bucket, key)

    def put(self, bucket: str, key: str, data: bytes, properties: Properties, *, if_none_match: bool = False,
            if_match: str | None = None) -> ObjectInfo:
        """Store ``data`` with ``properties`` (through s3transfer: multipart above the threshold), only if the key
        does not exist (``if_none_match``: else ``AlreadyExists``) or still holds the ETag ``if_match`` (else
        ``ConflictError``). Where conditional writes are not honoured a HEAD checks first (a write in between is
        then not seen). A refused write whose key shows this very write (an earlier attempt's, its answer lost) is a
        success. Returns what is known of the object written (its size; its ETag unless written in parts)."""
        condition: Wire = {"IfNoneMatch": "*"} if if_none_match else {"IfMatch": f'"{if_match}"'} if if_match else {}
        if condition and not self.capabilities.conditional_writes:
            self._check_condition(bucket, key, self._head(bucket, key), if_none_match, if_match)
            condition = {}
        try:
            if len(data) <= self.clients.options.multipart_threshold:  # one PutObject, whose answer has the ETag
                r = self._call("PutObject", bucket, key, Bucket=bucket, Key=key, Body=data,
                               **upload_args(properties), **condition)
                written: ObjectInfo = {"key": key, "size": len(data), "etag": str(r["ETag"]).strip('"')}
                return written
            if condition:  # (the local cloud checks no If-Match on CompleteMultipartUpload: a HEAD checks too)
                self._check_condition(bucket, key, self._head(bucket, key), if_none_match, if_match)
            with self._only_if(bucket, key, condition):
                self.upload(bucket, key, Source(data=data, size=len(data)), properties)
        except ce.ConflictError as e:
            if e.code != "PreconditionFailed":
                raise
            found = self._head(bucket, key)
            if found is not None and wrote(found, data, properties):
                return object_info(key, found, head=True)  # an earlier attempt's write, its answer lost
            self._check_condition(bucket, key, found, if_none_match, if_match, e)
            raise
        return {"key": key, "size": len(data)}  # (an ETag of parts is read when needed)

    def _check_condition(self, bucket: str, key: str, head: Wire | None, if_none_match: bool, if_match: str | None,
                         refused: ce.CloudError | None = None) -> None:
        """Raise ``AlreadyExists`` / ``ConflictError`` when ``head`` (the key's HeadObject, None if absent) fails
        a write's condition."""
        details = refused.provider_details() if refused is not None else {"provider": self.provider,
                                                                           "operation": "PutObject"}
        if if_none_match and head is not None:
            raise ce.AlreadyExists(f"object {key!r} exists in bucket {bucket!r}", **details)
        if if_match and (head is None or str(head.get("ETag", "")).strip('"') != if_match):
            now = "is gone" if head is None else "was written"
            raise ce.ConflictError(f"object {key!r} in bucket {bucket!r} {now} since it was read: nothing written "
                                   "(refresh() and save again)", **details)

    def replace(self, bucket: str, key: str, properties: Properties, etag: str) -> ObjectInfo:
        """Give an existing object new ``properties`` (headers, metadata, storage class), keeping its content, tags,
        encryption and website redirect: a managed copy onto itself with ``MetadataDirective=REPLACE``, pinned to
        ``etag`` (``x-amz-copy-source-if-match``): an object written since it was read is ``ConflictError``,
        nothing changed. A copy refused on a re-send after a lost answer is a success when the object shows the new
        properties."""
        head = self._call("HeadObject", bucket, key, Bucket=bucket, Key=key)
        self._check_condition(bucket, key, head, False, etag)
        tags = self._call("GetObjectTagging", bucket, key, Bucket=bucket, Key=key)["TagSet"] \
            if head.get("TagCount") or not self.capabilities.tag_count else []
        args = {k: v for k, v in copy_args(head, tags).items() if k not in REPLACED}
        args.update({k: v for k, v in upload_args(properties).items() if k != "Tagging"},
                    Metadata=dict(properties.metadata), CopySourceIfMatch=head["ETag"])
        try:
            with self._manager() as manager:
                future = manager.copy({"Bucket": bucket, "Key": key}, bucket, key, extra_args=args,
                                      subscribers=[Known(int(head["ContentLength"]), etag)])
                self._wait(future, "CopyObject", bucket, key)
        except ce.ConflictError as e:
            if e.code != "PreconditionFailed":
                raise
            found = self._head(bucket, key)
            if found is None or not shows(found, head["ContentLength"], properties):
                raise ce.ConflictError(f"object {key!r} in bucket {bucket!r} was written since it was read: "
                                       "nothing changed (refresh() and save again)", **e.provider_details()) from None
        return {"key": key}

    def download(self, bucket: str, key: str, start: int | None = None, end: int | None = None) -> bytes:
        """GetObject (of a byte range when asked), read whole; a body cut short is fetched again."""
        params: Wire = {"Bucket": bucket, "Key": key}
        if start is not None:
            params["Range"] = f"bytes={start}" if start < 0 else f"bytes={start}-{'' if end is None else end}"
        last: Exception | None = None
        for _ in range(self.clients.options.max_attempts):
            body = self._call("GetObject", bucket, key, **params)["Body"]
            try:
                data: bytes = body.read()
                return data
            except STREAM_ERRORS as e:
                last = e
            finally:
                body.close()
        assert last is not None
        raise self._error(last, "GetObject", bucket, key)

    def open(self, bucket: str, key: str) -> io.RawIOBase:
        """GetObject, its body as a raw stream that resumes a lost connection where it stopped."""
        def get(position: int, etag: str | None) -> Wire:
            params: Wire = {"Bucket": bucket, "Key": key}
            if position:
                params["Range"] = f"bytes={position}-"
            if etag:
                params["IfMatch"] = etag
            response: Wire = self._call("GetObject", bucket, key, **params)
            return response

        return Stream(get, lambda e: self._error(e, "GetObject", bucket, key), self.clients.options.max_attempts)

    def download_file(self, bucket: str, key: str, path: str, size: int | None = None, etag: str | None = None,
                      progress: Progress | None = None) -> None:
        """s3transfer's download to a path: a temporary file in the same directory, renamed when complete and
        removed on failure; ranged GETs in parallel above the threshold."""
        with self._manager() as manager:
            future = manager.download(bucket, key, path, subscribers=[Known(size, etag, progress=progress)])
            self._wait(future, "GetObject", bucket, key)

    def _head(self, bucket: str, key: str) -> Wire | None:
        """HeadObject's answer, or None when there is no such object."""
        try:
            head: Wire = self._call("HeadObject", bucket, key, Bucket=bucket, Key=key)
        except ce.NotFound:
            return None
        return head

    def place(self) -> str:
        """The S3 endpoint this service talks to (without a trailing ``/``), or the provider's name for botocore's
        own endpoints."""
        return (self.clients.endpoint("s3") or self.provider).rstrip("/")

    def copy(self, bucket: str, key: str, to_bucket: str, to_key: str, overwrite: bool = False) -> None:
        """s3transfer's managed copy (UploadPartCopy above the threshold, so objects over 5 GB copy too) with
        ``copy_args``: every stored property kept at every size. Unless ``overwrite``, an existing target is
        ``AlreadyExists`` (a HEAD first; on S3 the write also carries ``If-None-Match: *``, so a target made in
        between is refused too; elsewhere that race is open). A refused write whose target shows a copy of the
        source (an earlier attempt's, its answer lost) is a success."""
        self._copy(bucket, key, to_bucket, to_key, overwrite)

    def _copy(self, bucket: str, key: str, to_bucket: str, to_key: str, overwrite: bool) -> Wire:
        """``copy``, every write pinned to the source the HEAD saw (``x-amz-copy-source-if-match``): a source
        replaced in between is ``ConflictError``, nothing written. Returns that HEAD."""
        head: Wire = self._call("HeadObject", bucket, key, Bucket=bucket, Key=key)
        tags = self._call("GetObjectTagging", bucket, key, Bucket=bucket, Key=key)["TagSet"] \
            if head.get("TagCount") or not self.capabilities.tag_count else []
        args = copy_args(head, tags)
        if head.get("ETag"):
            args["CopySourceIfMatch"] = head["ETag"]  # s3transfer sends it with CopyObject and every UploadPartCopy
        exists = ce.AlreadyExists(f"object {to_key!r} exists in bucket {to_bucket!r} (overwrite=True replaces it)",
                                  provider=self.provider, operation="CopyObject")
        if not overwrite and self._head(to_bucket, to_key) is not None:
            raise exists
        info = object_info(key, head)
        try:
            with self._manager() as manager, self._only_if(to_bucket, to_key, {} if overwrite
                                                           else {"IfNoneMatch": "*"}):
                future = manager.copy({"Bucket": bucket, "Key": key}, to_bucket, to_key, extra_args=args,
                                      subscribers=[Known(info["size"], info.get("etag"))])
                self._wait(future, "CopyObject", to_bucket, to_key)
        except ce.ConflictError as e:
            if e.code != "PreconditionFailed":
                raise
            target = None if overwrite else self._head(to_bucket, to_key)
            if target is not None and same_object(head, target):
                return head  # an earlier attempt's copy, its answer lost
            source = self._head(bucket, key)
            if source is None or source.get("ETag") != head.get("ETag"):
                raise ce.ConflictError(f"object {key!r} in bucket {bucket!r} changed while it was being copied: "
                                       "nothing was copied", **e.provider_details()) from None
            if overwrite:
                raise
            exists.request_id = e.request_id
            raise exists from None
        return head

    def rename(self, bucket: str, key: str, new_key: str, overwrite: bool = False) -> None:
        """A managed copy pinned to the source's ETag, then a delete of the source (S3 has no rename), conditional
        on that ETag where the provider honours it: a source written in between is kept (``ConflictError``).
        Subclasses override it with a native rename."""
        head = self._copy(bucket, key, bucket, new_key, overwrite)
        if not self.capabilities.conditional_deletes or not head.get("ETag"):
            self.delete_object(bucket, key)
            return
        try:  # botocore re-sends it after a lost answer: the source is then gone, a 404
            self._call("DeleteObject", bucket, key, Bucket=bucket, Key=key, IfMatch=head["ETag"])
        except ce.NotFound:
            return  # gone already: this rename's earlier attempt (its answer lost), or another writer's delete
        except ce.ConflictError as e:
            if e.code != "PreconditionFailed":
                raise
            raise ce.ConflictError(
                f"object {key!r} in bucket {bucket!r} was written while it was being renamed: {new_key!r} holds the "
                f"content the rename copied, {key!r} the newer content (both kept: nothing lost)",
                **e.provider_details()) from None

    def delete_object(self, bucket: str, key: str) -> None:
        """DeleteObject (S3 answers the same whether or not the key existed)."""
        self._call("DeleteObject", bucket, key, Bucket=bucket, Key=key)

    # ------------------------------------------------------------------------------------------------ presigning

    def presign_get(self, bucket: str, key: str, expires: int, region: str | None = None) -> str:
        """A presigned GetObject URL, signed for the bucket's region (S3 refuses a URL signed for another)."""
        try:
            client = self.clients.client("s3", region)
            url: str = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                                     ExpiresIn=expires)
        except bx.BotoCoreError as e:
            raise self._error(e, "GetObject", bucket, key) from None
        return url

    def presign_post(self, bucket: str, key: str, expires: int, fields: dict[str, str],
                     conditions: list[Any], region: str | None = None) -> tuple[str, dict[str, str]]:
        """A presigned POST policy for the bucket's region: its URL and form fields."""
        try:
            post = self.clients.client("s3", region).generate_presigned_post(
                bucket, key, Fields=fields, Conditions=conditions, ExpiresIn=expires)
        except bx.BotoCoreError as e:
            raise self._error(e, "PostObject", bucket, key) from None
        return str(post["url"]), dict(post["fields"])

    # ------------------------------------------------------------------------------------------------ many objects

    def _many(self, concurrency: int, submit: Callable[[TransferManager, int], TransferFuture], n: int,
              operation: str, bucket: str, keys: Sequence[str]) -> list[BaseException | None]:
        """Run ``n`` transfers on one TransferManager; one error (or None) per transfer, in order."""
        out: list[BaseException | None] = [None] * n
        with self._manager(concurrency) as manager:
            futures: list[TransferFuture | None] = []
            for i in range(n):
                try:
                    futures.append(submit(manager, i))
                except Exception as e:  # refused before being queued (e.g. a bad argument)
                    out[i] = self._error(e, operation, bucket, keys[i])
                    futures.append(None)
            for i, future in enumerate(futures):
                if future is None:
                    continue
                try:
                    future.result()
                except Exception as e:
                    out[i] = self._error(e, operation, bucket, keys[i])
        return out

    def upload_many(self, bucket: str, jobs: Sequence[UploadJob], concurrency: int,
                    done: Callable[[], None] | None = None) -> list[BaseException | None]:
        """Every upload on one TransferManager with ``concurrency`` requests in flight."""
        def submit(manager: TransferManager, i: int) -> TransferFuture:
            job = jobs[i]
            return manager.upload(self._readable(job.source), bucket, job.key, extra_args=upload_args(job.properties),
                                  subscribers=[Known(job.source.size, done=done)])

        return self._many(concurrency, submit, len(jobs), "PutObject", bucket, [j.key for j in jobs])

    def download_many(self, bucket: str, jobs: Sequence[DownloadJob], concurrency: int,
                      done: Callable[[], None] | None = None) -> list[BaseException | None]:
        """Every download on one TransferManager; a known size and etag save the HEAD s3transfer would send."""
        def submit(manager: TransferManager, i: int) -> TransferFuture:
            job = jobs[i]
            return manager.download(bucket, job.key, job.path, subscribers=[Known(job.size, job.etag, done=done)])

        return self._many(concurrency, submit, len(jobs), "GetObject", bucket, [j.key for j in jobs])

    # ------------------------------------------------------------------------------------------------ websites

    def website_url(self, bucket: str, region: str) -> str:
        """``http://{bucket}.s3-website-{region}.amazonaws.com`` (or ``s3-website.{region}`` in newer regions)."""
        if not self.capabilities.website_hosting:
            raise ce.Unsupported(self.provider, "static website hosting")
        sep = "-" if region in DASH_WEBSITE_REGIONS else "."
        return f"http://{bucket}.s3-website{sep}{region}.{_dns_suffix(region)}"

    def put_website(self, bucket: str, index: str, error: str | None) -> None:
        """PutBucketWebsite with an index document and, optionally, an error document."""
        self.website_url(bucket, "us-east-1")  # Unsupported before any request
        config: Wire = {"IndexDocument": {"Suffix": index}}
        if error:
            config["ErrorDocument"] = {"Key": error}
        self._call("PutBucketWebsite", bucket, None, Bucket=bucket, WebsiteConfiguration=config)
