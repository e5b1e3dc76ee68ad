"""s3transfer and streaming adapters: a subscriber telling s3transfer what is known (size, etag) and reporting
progress, and an object's body as a raw stream that resumes a lost connection."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from botocore import exceptions as bx
from s3transfer.futures import TransferFuture
from s3transfer.subscribers import BaseSubscriber

from cloudorm.providers.contract import Wire
from cloudorm.storage.transfer import Progress

STREAM_ERRORS = (bx.IncompleteReadError, bx.ResponseStreamingError, bx.ReadTimeoutError)
"""Errors while reading a response body: the GET is sent again."""


class Known(BaseSubscriber):
    """Tells s3transfer what is already known (size, etag), which saves it a HEAD request, and reports progress."""

    def __init__(self, size: int | None = None, etag: str | None = None, progress: Progress | None = None,
                 done: Callable[[], None] | None = None) -> None:
        self._size, self._etag, self._progress, self._done = size, etag, progress, done

    def on_queued(self, future: TransferFuture, **kwargs: Any) -> None:
        if self._size is not None:
            future.meta.provide_transfer_size(self._size)
        if self._etag is not None:
            future.meta.provide_object_etag(f'"{self._etag}"')

    def on_progress(self, future: TransferFuture, bytes_transferred: int, **kwargs: Any) -> None:
        if self._progress is not None:
            self._progress(bytes_transferred)

    def on_done(self, future: TransferFuture, **kwargs: Any) -> None:
        if self._done is not None:
            self._done()


class Stream(io.RawIOBase):
    """An object's body as a raw binary stream: a connection lost midway is resumed with a ranged GET of the same
    version (If-Match) from where it stopped; errors are cloudorm errors."""

    def __init__(self, get: Callable[[int, str | None], Wire], fail: Callable[[Exception], Exception],
                 attempts: int) -> None:
        self._get, self._fail, self._attempts = get, fail, attempts
        self._position = 0
        response = get(0, None)
        self._etag: str | None = response.get("ETag")
        self._body = response["Body"]

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        for attempt in range(1, self._attempts + 1):
            try:
                data = self._body.read(len(buffer))
                break
            except STREAM_ERRORS as e:
                self._body.close()
                if attempt == self._attempts:
                    raise self._fail(e) from None
                self._body = self._get(self._position, self._etag)["Body"]
            except (bx.BotoCoreError, OSError) as e:
                raise self._fail(e) from None
        n = len(data)
        buffer[:n] = data
        self._position += n
        return n

    def readall(self) -> bytes:
        parts = []
        while part := self.read(1024 * 1024):
            parts.append(part)
        return b"".join(parts)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()
