"""Batched writes and reads: 25 writes / 100 keys per request, unprocessed work retried with capped exponential
backoff and jitter until a deadline, and whatever is still left reported in a ``BatchError`` — never dropped."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

from cloudorm import errors as ce
from cloudorm.checks import check_seconds
from cloudorm.nosql import codec
from cloudorm.nosql.item import Item
from cloudorm.providers.contract import Wire
from cloudorm.results import Result, Results
from cloudorm.waiting import backoff

if TYPE_CHECKING:
    from cloudorm.nosql.table import Table

RowT = TypeVar("RowT", bound=Item)

log = logging.getLogger(__name__)

WRITE_BATCH = 25
GET_BATCH = 100
_RETRYABLE = (ce.Throttled, ce.Timeout)


@attrs.frozen
class WriteRequest:
    """One buffered write: ``action`` is ``"put"`` or ``"delete"``; ``item`` is what the caller gave."""

    action: str
    item: Any
    wire: Wire = attrs.field(repr=False)
    on_written: Callable[[], None] = attrs.field(default=lambda: None, repr=False)


class BatchResults(Results[Result[Any]]):
    """What a batch could not do: one ``Result`` per write request or key, with why; ``raise_for_errors()`` raises
    ``BatchError`` whose ``unprocessed`` holds exactly those writes or keys."""

    what = "writes or keys"

    @classmethod
    def left(cls, message: str, targets: Iterable[Any], cause: ce.CloudError | None) -> ce.BatchError:
        """The ``BatchError`` for ``targets`` left undone: ``message``, and ``cause``'s provider details."""
        reason = ce.CloudError(message, **(cause.provider_details() if cause else {}))
        return cls(Result(t, error=reason) for t in targets)._error(reason=reason)

    def _error(self, failed: list[Result[Any]] | None = None, *, reason: ce.CloudError | None = None) -> ce.BatchError:
        failed = self.failed if failed is None else failed
        if reason is None:
            first = failed[0].error
            reason = first if isinstance(first, ce.CloudError) else ce.CloudError(self._summary(failed))
        return ce.BatchError(reason.message, [r.target for r in failed], **reason.provider_details())


def _retryable(e: ce.CloudError) -> bool:
    return isinstance(e, _RETRYABLE) or (e.status or 0) >= 500 or (
        type(e) is ce.CloudError and e.code is None)  # connection problems carry no provider code


class BatchWriter(Generic[RowT]):
    """Buffers puts and deletes for one table and sends them 25 per BatchWriteItem; a key written twice keeps
    the last write. Use as a context manager: leaving it flushes everything or raises ``BatchError``."""

    def __init__(self, table: Table[RowT], *, deadline: float = 60.0) -> None:
        self._table = table
        self._deadline = check_seconds("deadline", deadline, zero=True)
        self._buffer: dict[tuple[Any, ...], WriteRequest] = {}
        self._attempt = 0
        self._progress_at = time.monotonic()
        self.requests_sent = 0
        self.written = 0

    def put(self, item: Mapping[str, Any] | RowT) -> None:
        """Buffer a put of a whole item (validated now, sent when 25 are buffered or on exit)."""
        # the same item a PutItem would write (a batch cannot send its conditions, but versions keep counting)
        _, req = self._table._put_request(item)
        self._add(WriteRequest("put", item, {"PutRequest": {"Item": req.params["Item"]}}, req.on_success))

    def delete(self, key: Mapping[str, Any] | RowT | None = None, /, **key_values: Any) -> None:
        """Buffer a delete of the item with this key."""
        values = self._table._key_from(key, key_values)

        def deleted() -> None:
            if isinstance(key, Item):
                key._co_deleted = True

        self._add(WriteRequest("delete", key if key is not None else values,
                               {"DeleteRequest": {"Key": codec.encode_item(values)}}, deleted))

    def _add(self, request: WriteRequest) -> None:
        key = write_key(request.wire, self._table)
        self._buffer.pop(key, None)  # the last write to a key wins, in its new position
        self._buffer[key] = request
        if len(self._buffer) >= WRITE_BATCH:
            self._drain(full_only=True)

    def _send(self, batch: dict[tuple[Any, ...], WriteRequest]) -> dict[tuple[Any, ...], WriteRequest]:
        """One BatchWriteItem; returns the writes the provider left unprocessed."""
        name = self._table.name
        self.requests_sent += 1
        unprocessed = self._table._nosql.batch_write({name: [r.wire for r in batch.values()]})
        left = {write_key(w, self._table) for w in unprocessed.get(name, [])}
        for key, r in batch.items():
            if key not in left:
                self._written(r)
        return {k: r for k, r in batch.items() if k in left}

    def _drain(self, *, full_only: bool) -> None:
        """Send buffered writes 25 at a time (only full batches if ``full_only``), backing off while the
        provider leaves writes unprocessed or throttles, until no progress has been made for the deadline."""
        self._progress_at = time.monotonic()
        while self._buffer and (not full_only or len(self._buffer) >= WRITE_BATCH):
            batch = {k: self._buffer.pop(k) for k in list(self._buffer)[:WRITE_BATCH]}
            try:
                left = self._send(batch)
            except ce.CloudError as e:
                self._restore(batch)
                if not _retryable(e) or time.monotonic() - self._progress_at > self._deadline:
                    raise self._error(f"batch write to {self._table.name!r} failed: {e.message}", e) from e
                self._pause()
                continue
            except BaseException:  # interrupted (KeyboardInterrupt, ...): nothing taken out may be lost
                self._restore(batch)
                raise
            if len(left) < len(batch):
                self._progress_at = time.monotonic()
                self._attempt = 0
            if left:
                self._restore(left)
                if time.monotonic() - self._progress_at > self._deadline:
                    raise self._error(f"{len(self._buffer)} writes to {self._table.name!r} were still "
                                      f"unprocessed after {self._deadline:g} s without progress", None)
                self._pause()

    def _pause(self) -> None:
        delay = backoff(self._attempt)
        log.debug("batch write to %s: %d writes waiting, retry %d in %.2f s", self._table.name, len(self._buffer),
                  self._attempt + 1, delay)
        time.sleep(delay)
        self._attempt += 1

    def _restore(self, batch: Mapping[tuple[Any, ...], WriteRequest]) -> None:
        """Put unsent writes back at the front of the buffer, unless a newer write to the same key is there."""
        merged = {k: r for k, r in batch.items() if k not in self._buffer}
        merged.update(self._buffer)
        self._buffer = merged

    def _written(self, r: WriteRequest) -> None:
        self.written += 1
        r.on_written()

    def _error(self, message: str, cause: ce.CloudError | None) -> ce.BatchError:
        unprocessed = list(self._buffer.values())
        self._buffer.clear()
        return BatchResults.left(message, unprocessed, cause)

    def flush(self) -> None:
        """Send everything buffered now, retrying unprocessed writes until the deadline."""
        self._drain(full_only=False)

    def __enter__(self) -> BatchWriter[RowT]:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.flush()


def check_targets(field: str, values: Any) -> None:
    """``InvalidInput`` naming ``field`` unless ``values`` is a collection of keys or items (not None, a single
    key dict, an item, or a string)."""
    if values is None or isinstance(values, (str, bytes, Mapping, Item)) or not isinstance(values, Iterable):
        raise ce.InvalidInput(field, f"expected a list of keys or items, got {type(values).__name__} {values!r}")


def write_key(write_request: Wire, table: Table[Any]) -> tuple[Any, ...]:
    """A hashable identity of a WriteRequest's key, the same for raw and encoded forms."""
    if "PutRequest" in write_request:
        item = write_request["PutRequest"]["Item"]
    else:
        item = write_request["DeleteRequest"]["Key"]
    return codec.key_identity(item, table.schema.key_names)


def batch_get(table: Table[RowT], keys: Iterable[Mapping[str, Any] | Item], *, consistent: bool,
              deadline: float) -> list[RowT]:
    """Read many items by key, 100 per BatchGetItem, retrying unprocessed keys; results in the order asked."""
    check_targets("keys", keys)
    deadline = check_seconds("deadline", deadline, zero=True)
    wanted: dict[tuple[Any, ...], Wire] = {}
    for k in keys:
        values = table._key_from(k, {})
        wire = codec.encode_item(values)
        wanted.setdefault(codec.key_identity(wire, table.schema.key_names), wire)
    found: dict[tuple[Any, ...], Wire] = {}
    pending = list(wanted.values())
    attempt = 0
    progress_at = time.monotonic()
    while pending:
        chunk, pending = pending[:GET_BATCH], pending[GET_BATCH:]
        spec: Wire = {"Keys": chunk}
        if consistent:
            spec["ConsistentRead"] = True
        try:
            responses, unprocessed = table._nosql.batch_get({table.name: spec})
        except ce.CloudError as e:
            if not _retryable(e) or time.monotonic() - progress_at > deadline:
                raise BatchResults.left(f"batch get from {table.name!r} failed: {e.message}",
                                        [codec.decode_item(k) for k in chunk + pending], e) from e
            pending = chunk + pending
            time.sleep(backoff(attempt))
            attempt += 1
            continue
        for wire in responses.get(table.name, []):
            found[codec.key_identity(wire, table.schema.key_names)] = wire
        left = unprocessed.get(table.name, {}).get("Keys", [])
        if len(left) < len(chunk):
            progress_at = time.monotonic()
        if left:
            if time.monotonic() - progress_at > deadline:
                raise BatchResults.left(f"{len(left) + len(pending)} keys of {table.name!r} were still unprocessed "
                                        f"after {deadline:g} s without progress",
                                        [codec.decode_item(k) for k in left + pending], None)
            pending = left + pending
            time.sleep(backoff(attempt))
            attempt += 1
        else:
            attempt = 0
    return [table._row(found[k]) for k in wanted if k in found]
