"""S3 transfers through s3transfer's ``TransferManager``: one upload or download to a path, and many of
either (to files, or into memory) on one manager; many downloads of small objects take one GetObject each
(``s3_gets``), the larger ones s3transfer's ranged GETs."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

from s3transfer.futures import TransferFuture
from s3transfer.manager import TransferManager

from cloudorm.providers.aws.s3_gets import S3Gets, write_whole
from cloudorm.providers.aws.s3_stream import Known
from cloudorm.providers.aws.s3_wire import upload_args
from cloudorm.storage.transfer import DownloadJob, Progress, Properties, Source, UploadJob


class S3Transfers(S3Gets):
    """Managed uploads and downloads of the S3 service (multipart/ranged above the session's threshold)."""

    def upload(self, bucket: str, key: str, source: Source, properties: Properties,
               progress: Progress | None = None) -> None:
        """Upload through s3transfer: one PutObject, or a multipart upload above the threshold."""
        with self._manager() as manager:
            future = manager.upload(self._readable(source), bucket, key, extra_args=upload_args(properties),
                                    subscribers=[Known(source.size, progress=progress)])
            self._wait(future, "PutObject", bucket, key)

    def download_file(self, bucket: str, key: str, path: str, size: int | None = None, etag: str | None = None,
                      progress: Progress | None = None) -> None:
        """s3transfer's download to a path: a temporary file in the same directory, renamed when complete and
        removed on failure; ranged GETs in parallel above the threshold."""
        with self._manager() as manager:
            future = manager.download(bucket, key, path, subscribers=[Known(size, etag, progress=progress)])
            self._wait(future, "GetObject", bucket, key)

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
        """Every download to its file, ``concurrency`` at once: below the multipart threshold one GetObject each (no
        HEAD; a known etag pins the version listed), written to a temporary file beside the target and renamed when
        complete; larger objects through one TransferManager (ranged GETs of the version found, in parallel)."""
        def keep(i: int, data: bytes) -> None:
            write_whole(jobs[i].path, data)

        return self._get_many(bucket, jobs, concurrency, done, keep,
                              lambda large: self._managed_downloads(bucket, large, concurrency, done))

    def _managed_downloads(self, bucket: str, jobs: Sequence[DownloadJob], concurrency: int,
                           done: Callable[[], None] | None = None) -> list[BaseException | None]:
        """Every download on one TransferManager; a known size and etag save the HEAD s3transfer would send."""
        def submit(manager: TransferManager, i: int) -> TransferFuture:
            job = jobs[i]
            return manager.download(bucket, job.key, job.path, subscribers=[Known(job.size, job.etag, done=done)])

        return self._many(concurrency, submit, len(jobs), "GetObject", bucket, [j.key for j in jobs])

    def read_many(self, bucket: str, jobs: Sequence[DownloadJob], concurrency: int,
                  done: Callable[[], None] | None = None) -> list[bytes | BaseException]:
        """Every object into memory (``download_many``'s engine: one GetObject each below the multipart threshold,
        ranged GETs in parallel above it; a known etag pins the version listed); the bytes or the error."""
        got: dict[int, bytes] = {}

        def keep(i: int, data: bytes) -> None:
            got[i] = data

        def managed(large: Sequence[DownloadJob]) -> list[BaseException | None]:
            read = self._managed_reads(bucket, large, concurrency, done)
            index = {job.key: i for i, job in enumerate(jobs)}
            for job, data in zip(large, read, strict=True):
                if not isinstance(data, BaseException):
                    got[index[job.key]] = data
            return [data if isinstance(data, BaseException) else None for data in read]

        errors = self._get_many(bucket, jobs, concurrency, done, keep, managed)
        return [got[i] if error is None else error for i, error in enumerate(errors)]

    def _managed_reads(self, bucket: str, jobs: Sequence[DownloadJob], concurrency: int,
                       done: Callable[[], None] | None = None) -> list[bytes | BaseException]:
        """Every download into a buffer on one TransferManager (a known size and etag save a HEAD and pin the
        version); the bytes or the error."""
        buffers = [io.BytesIO() for _ in jobs]

        def submit(manager: TransferManager, i: int) -> TransferFuture:
            job = jobs[i]
            return manager.download(bucket, job.key, buffers[i], subscribers=[Known(job.size, job.etag, done=done)])

        errors = self._many(concurrency, submit, len(jobs), "GetObject", bucket, [j.key for j in jobs])
        return [buffer.getvalue() if error is None else error for buffer, error in zip(buffers, errors, strict=True)]
