"""``s.Table(...)``: a table by name and keys, or the table of a typed model (its keys and indexes declared on the
model), made with one signature that mypy reads through the session's ``bind``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from cloudorm.core import SessionLike
from cloudorm.errors import InvalidInput
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
    if isinstance(name, type):
        name, model = None, name  # type: ignore[assignment]
    if model is None:
        return Table(session, name, hash_key, range_key, indexes=indexes, billing=billing,  # type: ignore[arg-type]
                     ttl=ttl)
    info = getattr(model, "__cloudorm_model__", None)
    if info is None:
        raise InvalidInput("model", f"{getattr(model, '__name__', model)} is not a typed model: decorate it "
                                    "with @cloudorm.model(table=...)")
    if hash_key is not None or range_key is not None or indexes is not None:
        raise InvalidInput("hash_key", "a model's keys and indexes are declared on the model")
    schema = info.schema
    return Table(session, name or info.table, schema.hash_key, schema.range_key,  # type: ignore[arg-type]
                 indexes=schema.indexes if info.declares_indexes else None, billing=billing, ttl=ttl, model=model)
