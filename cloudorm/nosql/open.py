"""``s.Table(...)``: ``Table``'s own constructor (a table by name and keys, or the table of a typed model), with one
signature that mypy reads through the session's ``bind``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from cloudorm.core import SessionLike
from cloudorm.nosql.item import Item
from cloudorm.nosql.schema import Billing, Index
from cloudorm.nosql.table import Table

if TYPE_CHECKING:
    from typing_extensions import TypeVar

    RowT = TypeVar("RowT", bound=Item, default=Item)
    """A table's row type: ``Item`` unless a typed model is given (a default, so that binding keeps it)."""


def open_table(session: SessionLike, name: str | type[RowT], hash_key: Any = None, range_key: Any = None, *,
               indexes: Iterable[Index] | None = None, billing: Billing | None = None,
               ttl: str | bool | None = None, model: type[RowT] | None = None) -> Table[RowT]:
    """A table: ``s.Table("orders", hash_key=("customer", "S"), range_key=("placed", "N"))``, an existing
    one by name, ``s.Table(Order)`` for a typed model, or ``s.Table("orders-2025", model=Order)`` for a
    model stored in a table of another name."""
    table: Table[RowT] = Table(session, name, hash_key, range_key,  # type: ignore[call-overload,misc]
                               indexes=indexes, billing=billing, ttl=ttl, model=model)
    return table
