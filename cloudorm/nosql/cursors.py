"""QuerySet cursors: opaque, URL-safe positions (an ExclusiveStartKey) to resume an iteration after, and where the
latest iteration got to."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from cloudorm import errors as ce
from cloudorm.nosql import codec
from cloudorm.nosql.schema import IndexKeys, check_key_value
from cloudorm.providers.contract import Wire

if TYPE_CHECKING:
    from cloudorm.nosql.table import Table



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


def start_key(cursor: str, table: Table[Any], index: str | None, keys: IndexKeys,
              query_key: Iterable[tuple[str, str, Any]] | None) -> Wire:
    """The ExclusiveStartKey of ``.after(cursor)``, checked to be a position in this table or index (and, for a query
    (``query_key``: its key lookups), under its hash key): a cursor of another table, index or query is
    ``InvalidInput``."""
    start = decode_cursor(cursor)
    where = f"index {index!r} of {table.name!r}" if index else f"table {table.name!r}"
    names = table.schema.all_key_names(index)
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
    if query_key is not None:
        held = next(v for n, op, v in query_key if n == keys.hash_key.name and op == "eq")
        held_stored = table._stored_key_value(held, "cursor", keys.hash_key)
        if not codec.same_stored(values[keys.hash_key.name], held_stored):
            raise ce.InvalidInput("cursor", f"was returned by a query of {keys.hash_key.name}="
                                            f"{values[keys.hash_key.name]!r}, not of {held!r}")
    return start


class Progress:
    """Where the last iteration of a QuerySet got to; behind ``QuerySet.cursor``."""

    __slots__ = ("exhausted", "last", "started")

    def __init__(self) -> None:
        self.started = False
        self.exhausted = False
        self.last: Wire | None = None
