"""QuerySets: immutable, lazy, chainable queries and scans.

Every method returns a new QuerySet; nothing is sent until the result is consumed. ``limit`` (items returned) and
``page_size`` (items per request) are separate: with a filter, a limit never costs a request per item.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice, repeat
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

import attrs

from cloudorm import errors as ce
from cloudorm.gcpause import paused
from cloudorm.listing import check_count, take_slice
from cloudorm.nosql import codec
from cloudorm.nosql.cursors import Progress, decode_cursor, encode_cursor
from cloudorm.nosql.expressions import Condition, all_of, lookups, parse_path
from cloudorm.nosql.item import Item
from cloudorm.nosql.parallel_scan import MAX_SEGMENTS, SCAN_WORKERS, parallel_scan
from cloudorm.nosql.query_spec import QuerySpec, key_lookups
from cloudorm.paging import Page, Pager
from cloudorm.providers.contract import Wire

if TYPE_CHECKING:
    from cloudorm.nosql.table import Table

RowT = TypeVar("RowT", bound=Item)


def _counted(responses: list[Wire]) -> int:
    """How many items a ``Select=COUNT`` page counted."""
    return sum(int(r.get("Count", 0)) for r in responses)


@attrs.frozen(eq=False, repr=False)
class QuerySet(QuerySpec[RowT]):
    """A lazy query or scan over a table. Chain ``filter``, ``index``, ``limit``, ``page_size``, ``reverse``,
    ``only``, ``consistent``, ``after``; consume by iterating, slicing, ``first``, ``count``, ``exists``,
    ``pages`` or ``delete``."""

    _progress: Progress = attrs.field(factory=Progress)
    _skip_into: list[ce.RowError] | None = None

    @classmethod
    def for_query(cls, table: Table[RowT], conditions: dict[str, Any]) -> QuerySet[RowT]:
        """A Query on ``table``'s hash key (and a range-key condition) given as lookups."""
        return cls(table, "query", key_lookups(conditions))

    @classmethod
    def for_scan(cls, table: Table[RowT], segments: int | None) -> QuerySet[RowT]:
        """A Scan of ``table``, in ``segments`` segments (1 to 1,000,000) run on at most ``SCAN_WORKERS`` threads
        if given."""
        if segments is not None and check_count("segments", segments) > MAX_SEGMENTS:
            raise ce.InvalidInput("segments", f"DynamoDB scans at most {MAX_SEGMENTS:,} segments, not {segments:,}")
        return cls(table, "scan", segments=segments)

    def __repr__(self) -> str:
        parts = [f"{self._table.name!r}"]
        if self._key:
            parts.append(", ".join(f"{n}__{op}={v!r}" if op != "eq" else f"{n}={v!r}" for n, op, v in self._key))
        for name in ("index", "limit", "page_size", "reverse", "only", "consistent", "segments"):
            value = getattr(self, f"_{name}")
            if value:
                parts.append(f"{name}={value!r}")
        if self._filters:
            parts.append(f"filters={len(self._filters)}")
        return f"QuerySet({self._kind}: {', '.join(parts)})"

    def _copy(self, **changes: Any) -> QuerySet[RowT]:
        return attrs.evolve(self, progress=Progress(), **changes)

    # ------------------------------------------------------------------------------------------- chaining

    def filter(self, *conditions: Condition, **lookup_values: Any) -> QuerySet[RowT]:
        """Keep items matching every condition: ``Attr("a.b") > 3`` objects and lookups like ``total__gt=2``."""
        new = tuple(conditions) + tuple(lookups(lookup_values))
        all_of(new)  # type-checks the condition objects now
        return self._copy(filters=self._filters + new)

    def index(self, name: str) -> QuerySet[RowT]:
        """Query or scan a secondary index instead of the table."""
        if not isinstance(name, str) or not name:
            raise ce.InvalidInput("index", f"must be an index name, not {name!r}")
        return self._copy(index=name)

    def limit(self, n: int) -> QuerySet[RowT]:
        """Return at most ``n`` items."""
        return self._copy(limit=check_count("limit", n))

    def page_size(self, n: int) -> QuerySet[RowT]:
        """Ask for at most ``n`` items per request."""
        return self._copy(page_size=check_count("page_size", n))

    def reverse(self) -> QuerySet[RowT]:
        """Descending range-key order (queries only)."""
        if self._kind != "query":
            raise ce.InvalidInput("reverse", "only queries have an order; scans do not")
        return self._copy(reverse=not self._reverse)

    def only(self, *names: str) -> QuerySet[RowT]:
        """Fetch only these attributes (paths like ``a.b`` allowed); key attributes always come along."""
        if not names:
            raise ce.InvalidInput("only", "name at least one attribute")
        for n in names:
            parse_path(n)
        return self._copy(only=tuple(dict.fromkeys(names)))

    def skip_unreadable(self, into: list[ce.RowError]) -> QuerySet[RowT]:
        """Leave out stored rows that do not fit the typed model instead of failing, appending each one's
        ``RowError`` (table, key, attribute, the stored row) to ``into``; skipped rows do not count towards
        ``limit``."""
        if not isinstance(into, list):
            raise ce.InvalidInput("skip_unreadable", f"give a list to collect the skipped rows' errors in, not "
                                                     f"{type(into).__name__}")
        return self._copy(skip_into=into)

    def consistent(self) -> QuerySet[RowT]:
        """Strongly consistent reads (not available on global secondary indexes)."""
        return self._copy(consistent=True)

    def after(self, cursor: str | None) -> QuerySet[RowT]:
        """Resume right after the item a previous ``.cursor`` pointed at (``None`` starts at the beginning)."""
        if cursor is not None:
            decode_cursor(cursor)
        if cursor is not None and self._segments:
            raise ce.InvalidInput("after", "a parallel scan (segments=) cannot resume from a cursor")
        return self._copy(after=cursor)

    def _row(self, wire: Wire) -> RowT:
        return self._table._row(wire, self._only)

    def _send(self, params: Wire) -> Wire:
        nosql = self._table._nosql
        return nosql.query(params) if self._kind == "query" else nosql.scan(params)

    # ------------------------------------------------------------------------------------------- consuming

    def _pager(self, params: Wire, *, counting: bool = False) -> Pager[Wire]:
        """The pages of this Query/Scan (``counting``: one response per page, counted by its ``Count``). ``Limit``
        is the page size, lowered to what the limit still needs when no filter can drop items (a filter never turns
        a limit into a request per item)."""
        def fetch(start: Wire | None, size: int | None) -> tuple[list[Wire], Wire | None]:
            request = dict(params)
            if start is not None:
                request["ExclusiveStartKey"] = start
            if size:
                request["Limit"] = size
            response = self._send(request)
            return ([response] if counting else response.get("Items", [])), response.get("LastEvaluatedKey")

        return Pager(fetch, self._limit, self._page_size, fixed_size=bool(self._filters),
                     measure=_counted if counting else None)

    def _wire_pages(self) -> Iterator[Page[Wire]]:
        """Raw pages of items, each with whether it is the last one; honours limit and page_size."""
        return self._pager(self._params()).pages()

    def _iter_wire(self) -> Iterator[Wire]:
        if self._segments:
            base, segments = self._params(), self._segments
            yield from parallel_scan(segments, self._limit,
                                     lambda n: self._pager({**base, "Segment": n, "TotalSegments": segments}))
            return
        for wire, _ in self._tracked(build=False):
            yield wire

    def _tracked(self, *, build: bool) -> Iterator[tuple[Wire, RowT | None]]:
        """Each item as (wire, its row if ``build``, else None), recording progress for ``cursor()``; a page's
        rows are built together, with the garbage collector paused."""
        progress = self._progress
        progress.started, progress.exhausted, progress.last = True, False, None
        for page in self._wire_pages():
            rows: Iterable[RowT | None] = self._built(page.items) if build else repeat(None)
            for wire, built in zip(page.items, rows, strict=False):  # repeat(None) is endless
                progress.last = wire
                yield wire, built
            if page.last:
                progress.exhausted = True

    def _built(self, wires: list[Wire]) -> list[RowT]:
        """The rows of one page, built with the garbage collector paused (they hold no cycles)."""
        row = self._row
        with paused():
            return [row(w) for w in wires]

    def __iter__(self) -> Iterator[RowT]:
        if self._skip_into is None and not self._segments:
            for _, built in self._tracked(build=True):
                yield cast(RowT, built)
            return
        if self._skip_into is None:
            row = self._row
            for wire in self._iter_wire():
                yield row(wire)
            return
        remaining = self._limit
        for _, built in self._readable(self._unlimited()._iter_wire()):
            yield built
            if remaining is not None:
                remaining -= 1
                if remaining == 0:
                    return

    def _unlimited(self) -> QuerySet[RowT]:
        """This query without its limit (skipped rows must not count towards it), sharing its progress."""
        return attrs.evolve(self, limit=None, page_size=self._page_size or self._limit, progress=self._progress)

    def _readable(self, wires: Iterable[Wire]) -> Iterator[tuple[Wire, RowT]]:
        """(wire, row) for the items that fit the model; the errors of the others go to ``skip_unreadable``'s
        list."""
        row = self._row
        into = self._skip_into
        assert into is not None
        for wire in wires:
            try:
                built = row(wire)
            except ce.RowError as e:
                into.append(e)
                continue
            yield wire, built

    def pages(self) -> Iterator[list[RowT]]:
        """The items one list per request (empty pages, which filters can cause, are skipped)."""
        if self._segments:
            raise ce.InvalidInput("pages", "a parallel scan (segments=) yields items, not pages")
        progress = self._progress
        progress.started, progress.exhausted, progress.last = True, False, None
        if self._skip_into is not None:
            yield from self._readable_pages()
            return
        for page in self._wire_pages():
            if page.items:
                progress.last = page.items[-1]
                yield self._built(page.items)
            if page.last:
                progress.exhausted = True

    def _readable_pages(self) -> Iterator[list[RowT]]:
        """``pages()`` leaving out the rows that do not fit the model."""
        progress = self._progress
        remaining = self._limit
        for page in self._unlimited()._wire_pages():
            items, last_page = page.items, page.last
            pairs = list(self._readable(items))
            full = remaining is None or len(pairs) < remaining
            if not full:
                pairs = pairs[:remaining]
            if items:
                progress.last = items[-1] if full else pairs[-1][0]
            if pairs:
                yield [built for _, built in pairs]
            if last_page and (full or len(pairs) == len(items)):
                progress.exhausted = True
            if remaining is not None:
                remaining -= len(pairs)
                if remaining <= 0:
                    return

    @property
    def cursor(self) -> str | None:
        """Resumes right after the last item the latest iteration returned (``None`` when nothing is left)."""
        progress = self._progress
        if self._segments:
            raise ce.InvalidInput("cursor", "a parallel scan (segments=) has no cursor")
        if not progress.started:
            raise ce.InvalidInput("cursor", "the QuerySet has not been iterated yet")
        if progress.exhausted:
            return None
        if progress.last is None:
            return self._after
        names = self._table.schema.all_key_names(self._index)
        return encode_cursor({n: progress.last[n] for n in names if n in progress.last})

    def first(self) -> RowT | None:
        """The first item, or None (one request when there is no filter)."""
        return next(iter(self.limit(1)), None)

    def exists(self) -> bool:
        """Whether any item matches."""
        return self.first() is not None

    def count(self) -> int:
        """How many items match, counted by the provider (Select=COUNT) over every page."""
        pages = self._pager(self._params(select_count=True), counting=True).pages()
        total = sum(_counted(page.items) for page in pages)
        return min(total, self._limit) if self._limit is not None else total

    def delete(self) -> int:
        """Delete every matching item with batched writes (25 per request); returns how many."""
        table = self._table
        names = table.schema.key_names
        count = 0
        with table.batch_write() as batch:
            for wire in self.only(*names)._iter_wire():  # keys only: no rows are built
                batch.delete(codec.decode_item({n: wire[n] for n in names}))
                count += 1
        return count

    @overload
    def __getitem__(self, i: int) -> RowT: ...

    @overload
    def __getitem__(self, i: slice) -> list[RowT]: ...

    def __getitem__(self, i: int | slice) -> RowT | list[RowT]:
        if isinstance(i, slice):
            return take_slice(self, self.limit, i, self._limit)
        if not isinstance(i, int) or i < 0:
            raise ce.InvalidInput("index", "QuerySets take a non-negative int index")
        found = [] if self._limit is not None and i >= self._limit else list(islice(self.limit(i + 1), i, i + 1))
        if not found:
            raise IndexError(i)
        return found[0]


__all__ = ["MAX_SEGMENTS", "SCAN_WORKERS", "QuerySet", "decode_cursor", "encode_cursor"]
