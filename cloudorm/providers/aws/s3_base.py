"""The S3 service's plumbing: its client, botocore/s3transfer errors mapped to ``cloudorm.errors``, the
transfer manager, and the conditions (``If-Match``/``If-None-Match``) s3transfer's writes carry."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import IO, Any, TypeVar

from botocore import exceptions as bx
from botocore import xform_name
from s3transfer.exceptions import RetriesExceededError, S3CopyFailedError
from s3transfer.futures import TransferFuture
from s3transfer.manager import TransferConfig, TransferManager

from cloudorm import errors as ce
from cloudorm.providers.aws.clients import ClientFactory
from cloudorm.providers.aws.errors import map_error
from cloudorm.providers.aws.s3_wire import CONDITIONAL
from cloudorm.providers.contract import StorageCapabilities, StorageService, Wire
from cloudorm.storage.transfer import Source

T = TypeVar("T")


class S3Base(StorageService):
    """What every part of the S3 service shares: the client, error mapping, one-request sends, s3transfer's
    manager, the conditions writes carry while in flight."""

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

    def _each(self, n: int, work: Callable[[int], T], concurrency: int) -> list[T | BaseException]:
        """``work(i)`` for i in 0..n-1, ``concurrency`` at once (at most the connection pool): its value or the
        (cloudorm) error it raised, in order. On Ctrl-C it returns at once, work not started is cancelled."""
        if n == 0:
            return []
        workers = min(concurrency, self.clients.options.max_pool_connections, n)
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cloudorm-s3")
        out: list[T | BaseException] = []
        interrupted = True
        try:
            futures = [pool.submit(work, i) for i in range(n)]
            for future in futures:
                try:
                    out.append(future.result())
                except Exception as e:  # reported on its target, never hiding the others
                    out.append(self._error(e, None))
            interrupted = False
        finally:
            pool.shutdown(wait=not interrupted, cancel_futures=True)
        return out

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
