"""Lazy, paginated listings (``s.tables()``, users, buckets, blobs...): no request until iterated; pages come from
the one pagination engine, ``cloudorm.paging``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any, Generic, TypeVar

import attrs

from cloudorm.errors import InvalidInput
from cloudorm.paging import PageFetcher, Pager

T = TypeVar("T")


def check_count(name: str, n: Any) -> int:
    """Validate a positive item count such as ``limit`` or ``page_size``."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise InvalidInput(name, f"must be a positive int, not {n!r}")
    return n


def take_slice(whole: Iterable[T], limited: Callable[[int], Iterable[T]], s: slice, cap: int | None) -> list[T]:
    """``[a:b]`` of a lazy sequence already limited to ``cap`` items (None: no limit): validated, and asking
    ``limited(b)`` for only as many items as needed, never more than ``cap``."""
    start, stop = s.start or 0, s.stop
    if start < 0 or (stop is not None and stop < 0) or s.step not in (None, 1):
        raise InvalidInput("slice", "take [:n] or [a:b] with non-negative bounds")
    if cap is not None and (stop is None or stop > cap):
        stop = cap
    return list(islice(limited(stop) if stop else whole, start, stop))


R = TypeVar("R")


def listing(page: Callable[[Any, int | None], tuple[Iterable[R], Any]], make: Callable[[R], T]) -> Listing[T]:
    """The listing of ``make(record)`` for each record ``page(token, page_size) -> (records, next_token)`` returns:
    how every area's listings (``s.users()``, ``s.tables()`` ...) are built."""
    def fetch(token: Any, size: int | None) -> tuple[list[T], Any]:
        found, after = page(token, size)
        return [make(r) for r in found], after

    return Listing(fetch)


@attrs.frozen
class Listing(Generic[T]):
    """An immutable lazy listing; ``.limit(n)`` and ``.page_size(n)`` return new listings."""

    _fetch: PageFetcher[T]
    _limit: int | None = None
    _page_size: int | None = None

    def limit(self, n: int) -> Listing[T]:
        """At most ``n`` items."""
        return attrs.evolve(self, limit=check_count("limit", n))

    def page_size(self, n: int) -> Listing[T]:
        """Ask for ``n`` items per request."""
        return attrs.evolve(self, page_size=check_count("page_size", n))

    def pages(self) -> Iterator[list[T]]:
        """The items, one list per request (empty pages left out)."""
        for page in Pager(self._fetch, self._limit, self._page_size).pages():
            if page.items:
                yield page.items

    def __iter__(self) -> Iterator[T]:
        return Pager(self._fetch, self._limit, self._page_size).items()

    def first(self) -> T | None:
        """The first item, or None."""
        return next(iter(self.limit(1)), None)

    def __getitem__(self, s: slice) -> list[T]:
        if not isinstance(s, slice):
            raise InvalidInput("slice", "listings take [:n] or [a:b]")
        return take_slice(self, self.limit, s, self._limit)


__all__ = ["Listing", "PageFetcher", "check_count", "listing", "take_slice"]
