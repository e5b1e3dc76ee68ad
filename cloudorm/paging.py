"""The one pagination engine: ``fetch(token, size) -> (items, next_token)`` turned into lazy pages.

Every paginated read in cloudorm goes through ``Pager``: listings (``s.tables()``, ``bucket.blobs()``...), QuerySets
and each segment of a parallel scan, and provider loops that follow a page token themselves. It asks for
``page_size`` items per request, lowered on the last one to what ``limit`` still needs, and stops as soon as the
limit is reached, so no request is sent that could not return a wanted item.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import attrs

T = TypeVar("T")

PageFetcher = Callable[[Any, "int | None"], "tuple[list[T], Any]"]
"""``fetch(token, page_size) -> (items, next_token)``: token None asks for the first page, ``page_size`` None for
the provider's default; ``next_token`` is None on the last page."""


@attrs.frozen
class Page(Generic[T]):
    """One request's items (cut to what the limit still wanted), and whether nothing is left after them."""

    items: list[T]
    last: bool


@attrs.define
class Pager(Generic[T]):
    """Follows ``fetch``'s tokens from ``token`` on, page by page; afterwards ``token`` is where the next page starts
    (None once the end was reached) and ``requests`` how many were sent.

    ``fixed_size``: always ask for ``page_size`` (when a filter may drop items, a smaller last request could cost a
    request per item). ``measure``: how much a page counts towards ``limit`` (default: its length); pages are then
    not cut, as for counts.
    """

    fetch: PageFetcher[T]
    limit: int | None = None
    page_size: int | None = None
    token: Any = None
    fixed_size: bool = False
    measure: Callable[[list[T]], int] | None = None
    requests: int = 0

    def pages(self) -> Iterator[Page[T]]:
        """Each request's page, empty ones included; stops after the last page or once ``limit`` is reached."""
        remaining = self.limit
        while True:
            size = self.page_size
            if remaining is not None and not self.fixed_size:
                size = min(size or remaining, remaining)
            items, self.token = self.fetch(self.token, size)
            self.requests += 1
            end = self.token is None
            if remaining is not None:
                counted = len(items) if self.measure is None else self.measure(items)
                if self.measure is None and counted > remaining:
                    items, end = items[:remaining], False
                remaining -= counted
                if remaining <= 0:
                    yield Page(items, end)
                    return
            yield Page(items, end)
            if end:
                return

    def items(self) -> Iterator[T]:
        """Every item of every page, lazily."""
        for page in self.pages():
            yield from page.items


def every(fetch: PageFetcher[T], page_size: int | None = None) -> Iterator[T]:
    """Every item ``fetch`` pages through, lazily (``page_size`` items per request)."""
    return Pager(fetch, page_size=page_size).items()


__all__ = ["Page", "PageFetcher", "Pager", "every"]
