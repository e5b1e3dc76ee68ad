"""What a QuerySet asks for (a table or index, key conditions, filters, options) and the Query or Scan request
parameters that compiles to, validated against the table's schema before any request is sent."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

from cloudorm import errors as ce
from cloudorm.nosql.cursors import start_key
from cloudorm.nosql.expressions import Condition, all_of, lookup, parse_path, split_lookup
from cloudorm.nosql.item import Item
from cloudorm.nosql.schema import IndexKeys, KeyAttr, check_key_value
from cloudorm.providers.contract import Wire

if TYPE_CHECKING:
    from cloudorm.nosql.table import Table

RowT = TypeVar("RowT", bound=Item)

_KEY_OPS = {"eq", "lt", "lte", "gt", "gte", "between", "begins_with"}


def key_lookups(conditions: dict[str, Any]) -> tuple[tuple[str, str, Any], ...]:
    """A Query's key conditions given as lookups (``customer="A", placed__gte=5``) as ``(name, op, value)``, their
    operators and value shapes checked."""
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
    return tuple(key)


@attrs.frozen(eq=False, repr=False)
class QuerySpec(Generic[RowT]):
    """What a QuerySet asks for, compiled by ``_params`` to the Query/Scan parameters; ``QuerySet`` adds the
    chaining and the consuming."""

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
            query_key = self._key if self._kind == "query" else None
            params["ExclusiveStartKey"] = start_key(self._after, table, self._index, keys, query_key)
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
