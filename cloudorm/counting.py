"""Counting the requests a session sends, per operation: for tests, benchmarks and cost awareness."""

from __future__ import annotations

import threading
from collections import Counter
from types import TracebackType


class RequestCounter:
    """Counts the HTTP requests (retries included) sent while it is active; use as a context manager."""

    def __init__(self, hub: RequestHub) -> None:
        self._hub = hub
        self.by_operation: Counter[str] = Counter()

    @property
    def total(self) -> int:
        """All requests counted so far."""
        return sum(self.by_operation.values())

    def __getitem__(self, operation: str) -> int:
        return self.by_operation[operation]

    def __enter__(self) -> RequestCounter:
        self._hub.add(self)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._hub.remove(self)

    def __repr__(self) -> str:
        return f"RequestCounter(total={self.total}, by_operation={dict(self.by_operation)})"


class RequestHub:
    """Where a provider's SDK clients report each request they send; active counters receive it."""

    def __init__(self) -> None:
        self._counters: tuple[RequestCounter, ...] = ()
        self._lock = threading.Lock()

    def add(self, counter: RequestCounter) -> None:
        """Start feeding ``counter``."""
        with self._lock:
            self._counters = (*self._counters, counter)

    def remove(self, counter: RequestCounter) -> None:
        """Stop feeding ``counter``."""
        with self._lock:
            self._counters = tuple(c for c in self._counters if c is not counter)

    def record(self, operation: str) -> None:
        """One request for ``operation`` (e.g. ``"dynamodb.Query"``) was sent."""
        counters = self._counters
        if counters:
            with self._lock:
                for c in counters:
                    c.by_operation[operation] += 1
