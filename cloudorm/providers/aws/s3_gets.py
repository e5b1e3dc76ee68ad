"""Many small objects read with one GetObject each (no HEAD, none of s3transfer's futures and queues): the engine
of ``download_many`` and ``read_many`` below the multipart threshold. An object found to be larger is handed to
s3transfer with its size and ETag, which then reads it in parallel ranges of that very version."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Sequence

import attrs
from botocore import exceptions as bx

from cloudorm.providers.aws.s3_base import S3Base
from cloudorm.providers.aws.s3_stream import STREAM_ERRORS
from cloudorm.providers.contract import Wire
from cloudorm.storage.transfer import DownloadJob

Large = tuple[int, str | None]
"""What a GET found about an object at or above the multipart threshold: its size and ETag (its body is not read)."""


def write_whole(path: str, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` (``path.<random>``, as s3transfer names it), then rename it
    to ``path``: a file there is replaced only by complete content, and a failure leaves no partial file."""
    temporary = f"{path}.{secrets.token_hex(4)}"
    try:
        with open(temporary, "xb") as f:
            f.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


class S3Gets(S3Base):
    """One GetObject per small object, ``concurrency`` at once, on the session's client."""

    def _get_whole(self, bucket: str, key: str, etag: str | None, threshold: int) -> bytes | Large:
        """The object's bytes from one GetObject (``If-Match`` its ETag when known: the version listed), or its size
        and ETag when it has ``threshold`` bytes or more (the body is left unread). A body cut short is asked for
        again, pinned to the ETag the first answer gave; botocore checks the length (and a checksum the answer
        carries, where the session validates them)."""
        params: Wire = {"Bucket": bucket, "Key": key}
        if etag is not None:
            params["IfMatch"] = f'"{etag}"'
        attempts = self.clients.options.max_attempts
        for attempt in range(1, attempts + 1):
            response = self._call("GetObject", bucket, key, **params)
            body = response["Body"]
            try:
                size = int(response.get("ContentLength") or 0)
                if size >= threshold:
                    return size, response.get("ETag")
                data: bytes = body.read()
                return data
            except STREAM_ERRORS as e:
                if attempt == attempts:
                    raise self._error(e, "GetObject", bucket, key) from None
                if response.get("ETag"):
                    params["IfMatch"] = response["ETag"]  # the same version again, or 412
            except (bx.BotoCoreError, OSError) as e:
                raise self._error(e, "GetObject", bucket, key) from None
            finally:
                body.close()
        raise AssertionError("unreachable")  # pragma: no cover

    def _get_many(self, bucket: str, jobs: Sequence[DownloadJob], concurrency: int, done: Callable[[], None] | None,
                  keep: Callable[[int, bytes], None],
                  managed: Callable[[Sequence[DownloadJob]], list[BaseException | None]]) -> list[BaseException | None]:
        """Every job read with one GetObject, ``concurrency`` at once, its bytes given to ``keep(i, data)``; jobs at
        or above the multipart threshold (known from their size, or from the GET's answer) go to ``managed`` with
        their size and ETag. One error (or None) per job, in order; ``done`` is called as each ends."""
        threshold = self.clients.options.multipart_threshold
        out: list[BaseException | None] = [None] * len(jobs)
        large = {i: job for i, job in enumerate(jobs) if job.size is not None and job.size >= threshold}
        small = [i for i in range(len(jobs)) if i not in large]

        def one(n: int) -> Large | None:
            i = small[n]
            try:
                got = self._get_whole(bucket, jobs[i].key, jobs[i].etag, threshold)
                if not isinstance(got, bytes):
                    return got
                keep(i, got)
            except Exception as e:
                if done is not None:
                    done()
                raise self._error(e, "GetObject", bucket, jobs[i].key) from None
            if done is not None:
                done()
            return None

        for i, found in zip(small, self._each(len(small), one, concurrency), strict=True):
            if isinstance(found, BaseException):
                out[i] = found
            elif found is not None:
                size, etag = found
                large[i] = attrs.evolve(jobs[i], size=size, etag=etag.strip('"') if etag else None)
        order = sorted(large)
        for i, error in zip(order, managed([large[i] for i in order]) if order else [], strict=True):
            out[i] = error
        return out
