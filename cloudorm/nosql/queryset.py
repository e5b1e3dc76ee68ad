"""QuerySets: immutable, lazy, chainable queries and scans.

Every method returns a new QuerySet; nothing is sent until the result is consumed. ``limit`` (items returned) and
``page_size`` (items per request) are separate: with a filter, a limit never costs a request per item.
"""

from __future__ import annotations

import base64
import json
import queue
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import attrs

from cloudorm import errors as ce
from cloudorm.listing import check_count, take_slice
from cloudorm.nosql import codec
from cloudorm.nosql.expressions import (
    Condition,
    all_of,
    lookup,
    lookups,
    parse_path,
    split_lookup,
)
from cloudorm.nosql.item import Item
from cloudorm.nosql.schema import IndexKeys, KeyAttr, check_key_value
from cloudorm.paging import Page, Pager

if TYPE_CHECKING:
    from cloudorm.nosql.table import Table

RowT = TypeVar("RowT", bound=Item)
Wire = dict[str, Any]

_KEY_OPS = {"eq", "lt", "lte", "gt", "gte", "between", "begins_with"}

MAX_SEGMENTS = 1_000_000
"""DynamoDB's limit on a parallel scan's TotalSegments."""
SCAN_WORKERS = 8
"""Threads a parallel scan runs on, however many segments it has (each scans one segment after another)."""


def _counted(responses: list[Wire]) -> int:
    """How many items a ``Select=COUNT`` page counted."""
    return sum(int(r.get("Count", 0)) for r in responses)


def encode_cursor(key: Wire) -> str:
    """An opaque, URL-safe cursor for an ExclusiveStartKey."""
    plain = {k: ({"B": base64.b64encode(v["B"]).decode()} if isinstance(v.get("B"), bytes) else v)
             for k, v in key.items()}
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Wire:
    """The ExclusiveStartKey a cursor stands for (``InvalidInput`` if it is not one of ours)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
        if not isinstance(key, dict) or not all(isinstance(v, dict) and len(v) == 1 for v in key.values()):
            raise ValueError
        return {k: ({"B": base64.b64decode(v["B"], validate=True)} if "B" in v else v) for k, v in key.items()}
    except (ValueError, TypeError):  # binascii.Error is a ValueError
        raise ce.InvalidInput("cursor", "is not a cursor returned by a QuerySet") from None


class _Progress:
    """Where the last iteration of a QuerySet got to; behind ``QuerySet.cursor``."""

    __slots__ = ("exhausted", "last", "started")

    def __init__(self) -> None:
        self.started = False
        self.exhausted = False
        self.last: Wire | None = None


@attrs.frozen(eq=False, repr=False)
class QuerySet(Generic[RowT]):
    """A lazy query or scan over a table. Chain ``filter``, ``index``, ``limit``, ``page_size``, ``reverse``,
    ``only``, ``consistent``, ``after``; consume by iterating, slicing, ``first``, ``count``, ``exists``,
    ``pages`` or ``delete``."""

    _table: Table[RowT]
    _kind: str
    _key: tuple[tuple[str, str, Any], ...] = ()
    _filters: tuple[Condition, ...] = ()
    _index: str | None = None
    _limit: int | None = None
    _page_size: int | None = None
    _reverse: bool = False
    _only: tuple[str, ...] | None = None
    _consistent: bool = False
    _after: str | None = None
    _segments: int | None = None
    _progress: _Progress = attrs.field(factory=_Progress)
    _skip_into: list[ce.RowError] | None = None

    @classmethod
    def for_query(cls, table: Table[RowT], conditions: dict[str, Any]) -> QuerySet[RowT]:
        """A Query on ``table``'s hash key (and a range-key condition) given as lookups."""
        key = []
        for k, v in conditions.items():
            name, op = split_lookup(k)
            if op not in _KEY_OPS:
                raise ce.InvalidInput(k, f"key conditions take = < <= > >= between begins_with, not __{op}; "
                                         "put other conditions in .filter()")
            lookup(name, op, v)  # validates the value's shape now
            key.append((name, op, v))
        if not key:
            raise ce.InvalidInput("query", "needs the hash key, e.g. table.query(customer='A')")
        return cls(table, "query", tuple(key))

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
        return attrs.evolve(self, progress=_Progress(), **changes)

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

    # ------------------------------------------------------------------------------------------- compiling

    def _keys(self) -> IndexKeys:
        return self._table.index_keys(self._index)

    def _params(self, select_count: bool = False) -> Wire:
        """The Query/Scan parameters, validated against the table's schema (before any item request)."""
        table = self._table
        table._check_values(*(lookup(name, op, value) for name, op, value in self._key), *self._filters)
        keys = self._keys()
        b = table._builder()
        params: Wire = {"TableName": table.name}
        if self._index:
            params["IndexName"] = self._index
        if self._kind == "query":
            params["KeyConditionExpression"] = self._key_condition(keys).compile(b)
            if self._reverse:
                params["ScanIndexForward"] = False
        if self._filters:
            key_names = set(keys.names) if self._kind == "query" else set()
            for cond in self._filters:
                for path in cond.attribute_paths():
                    if path and path[0] in key_names and len(path) == 1:
                        raise ce.InvalidInput(str(path[0]), "is a key attribute of this query: put its condition "
                                                            "in query(), not filter()")
            filter_expression = all_of(self._filters)
            assert filter_expression is not None
            params["FilterExpression"] = filter_expression.compile(b)
        if select_count:
            params["Select"] = "COUNT"
        elif self._only is not None:
            always = [*table.schema.all_key_names(self._index), *filter(None, [table._version_field()])]
            needed = [*self._only, *(n for n in always if n not in self._only)]
            params["ProjectionExpression"] = ", ".join(b.name(parse_path(n)) for n in needed)
        if self._consistent:
            if self._index and not keys.local:
                raise ce.InvalidInput("consistent", f"global secondary index {self._index!r} cannot be read "
                                                    "consistently")
            params["ConsistentRead"] = True
        if self._after is not None:
            params["ExclusiveStartKey"] = self._start_key(keys)
        params.update(b.params())
        return params

    def _check_key_value(self, attr: KeyAttr, op: str, value: Any) -> None:
        """A key condition's value must have the key's type (DynamoDB refuses it; the local cloud matches nothing),
        and ``begins_with`` works on string and binary keys only."""
        field = attr.name if op == "eq" else f"{attr.name}__{op}"
        if op == "begins_with" and attr.type == "N":
            raise ce.InvalidInput(field, f"key attribute {attr.name!r} is a number (N); begins_with takes a string "
                                         "or binary key")
        for v in value if op == "between" else (value,):
            stored = self._table._stored_key_value(v, field, attr)
            check_key_value(attr, stored, field)
            if op == "eq" and attr.type != "N" and not stored:
                raise ce.InvalidInput(field, "key attributes cannot be empty")

    def _start_key(self, keys: IndexKeys) -> Wire:
        """The ExclusiveStartKey of ``.after(cursor)``, checked to be a position in this table or index (and, for a
        query, under its hash key): a cursor of another table, index or query is ``InvalidInput``."""
        assert self._after is not None
        start = decode_cursor(self._after)
        table = self._table
        where = f"index {self._index!r} of {table.name!r}" if self._index else f"table {table.name!r}"
        names = table.schema.all_key_names(self._index)
        if set(start) != set(names):
            raise ce.InvalidInput("cursor", f"is not a position in {where}: it holds {sorted(start)}, a position "
                                            f"there holds {sorted(names)} (a cursor of another table or index?)")
        key_attrs = (table.schema.hash_key, table.schema.range_key, keys.hash_key, keys.range_key)
        attrs_by_name = {a.name: a for a in key_attrs if a is not None}
        try:
            values = codec.decode_item(start)
        except (ValueError, TypeError, KeyError, ArithmeticError, ce.InvalidInput):
            raise ce.InvalidInput("cursor", "is not a cursor returned by a QuerySet") from None
        for name in names:
            attr = attrs_by_name[name]
            if set(start[name]) != {attr.type}:
                raise ce.InvalidInput("cursor", f"holds {name!r} as {''.join(start[name])}, but {where} stores it "
                                                f"as {attr.type} (a cursor of another table or index?)")
            check_key_value(attr, values[name], "cursor")
        codec.encode_item(values)  # text that cannot be sent (a lone surrogate) is refused here
        if self._kind == "query":
            held = next(v for n, op, v in self._key if n == keys.hash_key.name and op == "eq")
            held_stored = table._stored_key_value(held, "cursor", keys.hash_key)
            if not codec.same_stored(values[keys.hash_key.name], held_stored):
                raise ce.InvalidInput("cursor", f"was returned by a query of {keys.hash_key.name}="
                                                f"{values[keys.hash_key.name]!r}, not of {held!r}")
        return start

    def _key_condition(self, keys: IndexKeys) -> Condition:
        where = f"index {self._index!r}" if self._index else f"table {self._table.name!r}"
        hash_name = keys.hash_key.name
        range_name = keys.range_key.name if keys.range_key else None
        conditions: list[Condition] = []
        seen_hash = False
        seen_range = False
        for name, op, value in self._key:
            if name == hash_name:
                if op != "eq":
                    raise ce.InvalidInput(f"{name}__{op}", "the hash key takes only equality")
                seen_hash = True
            elif name == range_name:
                if seen_range:
                    raise ce.InvalidInput(name, "takes one key condition; put others in .filter()")
                seen_range = True
            else:
                raise ce.InvalidInput(name, f"is not a key of {where} (keys: {', '.join(keys.names)}); "
                                            "use .filter() for other attributes")
            attr = keys.hash_key if name == hash_name else keys.range_key
            assert attr is not None
            self._check_key_value(attr, op, value)
            conditions.append(lookup(name, op, value))
        if not seen_hash:
            raise ce.InvalidInput(hash_name, f"a query on {where} needs its hash key {hash_name!r}")
        out = all_of(conditions)
        assert out is not None
        return out

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
            yield from self._parallel_scan()
            return
        progress = self._progress
        progress.started, progress.exhausted, progress.last = True, False, None
        for page in self._wire_pages():
            for wire in page.items:
                progress.last = wire
                yield wire
            if page.last:
                progress.exhausted = True

    def __iter__(self) -> Iterator[RowT]:
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
        row = self._row
        progress = self._progress
        progress.started, progress.exhausted, progress.last = True, False, None
        if self._skip_into is not None:
            yield from self._readable_pages()
            return
        for page in self._wire_pages():
            if page.items:
                progress.last = page.items[-1]
                yield [row(w) for w in page.items]
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

    def _parallel_scan(self) -> Iterator[Wire]:
        """Scan ``segments`` segments on at most ``SCAN_WORKERS`` threads, each taking the next segment when done
        with one; items arrive in no particular order."""
        assert self._segments is not None
        segments = self._segments
        base = self._params()
        workers = min(segments, SCAN_WORKERS)
        results: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=workers * 4)
        stop = threading.Event()
        pending = iter(range(segments))
        taking = threading.Lock()

        def scan_segments() -> None:
            try:
                while not stop.is_set():
                    with taking:
                        segment = next(pending, None)
                    if segment is None:
                        break
                    pager = self._pager({**base, "Segment": segment, "TotalSegments": segments})
                    pager.limit = None  # the limit is applied to the merged items below
                    for page in pager.pages():
                        if page.items:
                            results.put(("items", page.items))
                        if stop.is_set():
                            break
            except BaseException as e:
                results.put(("error", e))
            finally:
                results.put(("done", None))

        remaining = self._limit
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cloudorm-scan") as pool:
            for _ in range(workers):
                pool.submit(scan_segments)
            running = workers
            try:
                while running:
                    kind, value = results.get()
                    if kind == "done":
                        running -= 1
                    elif kind == "error":
                        raise value
                    else:
                        for wire in value:
                            yield wire
                            if remaining is not None:
                                remaining -= 1
                                if remaining == 0:
                                    return
            finally:
                stop.set()
                while running:  # drain so no worker blocks on a full queue
                    kind, _ = results.get()
                    if kind == "done":
                        running -= 1


__all__ = ["QuerySet", "decode_cursor", "encode_cursor"]
