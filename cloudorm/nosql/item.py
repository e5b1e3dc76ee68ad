"""Items: schemaless dict-like rows, and typed models (attrs classes) declared with ``@cloudorm.model``.

An item remembers what it last read or wrote (its snapshot: the wire form it wrote, or what it read as ``Held``
values), so ``save()`` on a loaded item sends an UpdateItem with only the attributes that changed, and nothing at
all when nothing did. A typed row also keeps
the stored attributes its model does not declare (``undeclared(row)``) and writes them back on ``put()``.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import typing
from collections.abc import ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

import attrs

from cloudorm.checks import check_flag
from cloudorm.errors import InvalidInput
from cloudorm.nosql import codec
from cloudorm.nosql.converter import converter
from cloudorm.nosql.expressions import Action, Condition
from cloudorm.nosql.held import CONTAINERS, Held, copy_containers
from cloudorm.nosql.schema import TableSchema

if TYPE_CHECKING:
    from typing_extensions import Self

    from cloudorm.nosql.table import Table

@attrs.frozen
class ModelInfo:
    """What ``@cloudorm.model`` learned about a typed model: its table, keys, version field and indexes."""

    table: str
    schema: TableSchema
    version: str | None
    fields: tuple[str, ...]
    declares_indexes: bool = False
    """Whether ``indexes=`` was given: only then does saving the table add and drop indexes to match."""
    checks: dict[str, tuple[tuple[type, ...], bool]] = attrs.field(factory=dict)
    """Scalar fields' accepted Python types and whether None is allowed, checked before every write."""
    types: dict[str, Any] = attrs.field(factory=dict)
    """Every field's declared type, by name."""
    datetimes: frozenset[str] = frozenset()
    """The fields declared ``datetime`` (or ``datetime | None``): stored as epoch seconds in a TTL attribute."""


@attrs.define(slots=False, init=False, eq=False, repr=False)
class Item:
    """A row of a table. Schemaless items are dict-like (``item["x"]``); subclass with ``@cloudorm.model`` for
    typed rows. Items compare by value (equal attributes, same type) and hash by their scalar values."""

    __cloudorm_model__: ClassVar[ModelInfo | None] = None
    if TYPE_CHECKING:  # bookkeeping kept in the instance's __dict__, not attrs fields (typed models declare theirs)
        _co_table: Table[Any] | None
        _co_snapshot: codec.WireItem | Held | None  # what the table holds: as written, or as read
        _co_deleted: bool
        _co_stale: bool  # changed by atomic actions whose result was not read back (in a transaction)
        _co_projection: tuple[str, ...] | None  # the .only() paths it was read with, if any
        _co_extra: Mapping[str, Any]  # typed rows: stored attributes the model does not declare
        _co_base: dict[str, Any] | None  # typed rows: the declared fields' stored forms when last read/written
        _co_defaults: dict[str, Any] | None  # typed rows read: stored forms of the fields the row lacked
    _co_table = _co_snapshot = _co_projection = _co_base = _co_defaults = None
    _co_deleted = _co_stale = False
    _co_extra = MappingProxyType({})

    _data: dict[str, Any] = attrs.field(factory=dict)

    def __init__(self, data: Mapping[str, Any] | None = None, /, **attributes: Any) -> None:
        self.__attrs_init__({**(data or {}), **attributes})

    # -------------------------------------------------------------------------------------- values (overridden)

    def _co_values(self) -> dict[str, Any]:
        """The attributes to store, as plain Python values."""
        return self._data

    def _co_load(self, values: dict[str, Any]) -> None:
        """Replace the attributes with values read from the table."""
        self._data = values

    # -------------------------------------------------------------------------------------- dict-like access

    def __getitem__(self, name: str) -> Any:
        value = self._data[name]
        if type(value) in CONTAINERS:
            self._co_keep((name,), copy=True)
        return value

    def __setitem__(self, name: str, value: Any) -> None:
        self._co_keep((name,), copy=False)
        self._data[name] = value

    def __delitem__(self, name: str) -> None:
        self._co_keep((name,), copy=False)
        del self._data[name]

    def _co_keep(self, names: Iterable[str], *, copy: bool) -> None:
        """Before a read item replaces or deletes attributes (``copy=False``), or hands out lists, maps or sets the
        caller may change in place (``copy=True``), its ``Held`` records their stored values."""
        held = self._co_snapshot
        if type(held) is Held:
            for name in names:
                held.keep(name, copy=copy)

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def keys(self) -> KeysView[str]:
        """Attribute names."""
        return self._data.keys()

    def get(self, name: str, default: Any = None) -> Any:
        """The attribute's value, or ``default``."""
        value = self._data.get(name, default)
        if type(value) in CONTAINERS and name in self._data:
            self._co_keep((name,), copy=True)
        return value

    def items(self) -> ItemsView[str, Any]:
        """(name, value) pairs."""
        self._co_keep([k for k, v in self._data.items() if type(v) in CONTAINERS], copy=True)
        return self._co_values().items()

    def values(self) -> ValuesView[Any]:
        """Attribute values."""
        self._co_keep([k for k, v in self._data.items() if type(v) in CONTAINERS], copy=True)
        return self._co_values().values()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return bool(self._co_values() == other._co_values())

    def __hash__(self) -> int:
        """From the scalar values (equal items hash alike); do not change an item while it is in a set."""
        return hash((type(self), frozenset((k, v) for k, v in self._co_values().items() if isinstance(v, _SCALARS))))

    def __repr__(self) -> str:
        return f"Item({self._data!r})"

    # -------------------------------------------------------------------------------------- lifecycle

    def _co_bound(self) -> Table[Any]:
        table = self._co_table
        if table is None:
            raise InvalidInput("item", "is not bound to a table: create it with table.Item(...) or write it "
                                       "with table.put(item)")
        return table

    def save(self, *, exists_ok: bool = True, if_not_exists: bool = False,
             condition: Condition | None = None) -> Self:
        """Write the item and return it. New: one UpdateItem setting its attributes, creating the item or adopting
        a stored one with its key (attributes it lacks are kept, and then held); ``exists_ok=False`` or
        ``if_not_exists``: a conditional PutItem, ``AlreadyExists`` if stored. Loaded: only what changed."""
        fresh = self._co_snapshot is None or self._co_deleted
        check_flag("exists_ok", exists_ok)
        self._co_bound().save_item(self, if_not_exists=if_not_exists or (fresh and not exists_ok), condition=condition)
        return self

    def delete(self, *, condition: Condition | None = None, missing_ok: bool = False) -> None:
        """Delete the item (``NotFound`` if it is not there, unless ``missing_ok``); ``save()`` writes it again."""
        self._co_bound().delete_item(self, condition=condition, missing_ok=missing_ok)

    def refresh(self, *, consistent: bool = True) -> Self:
        """Reload every attribute from the table and return the item (``NotFound`` if the item is gone)."""
        self._co_bound().refresh_item(self, consistent=consistent)
        return self

    def exists(self) -> bool:
        """Whether the table holds an item with this key (one consistent read; the item is not changed)."""
        return self._co_bound().item_exists(self)

    def update(self, *actions: Action, condition: Condition | None = None) -> None:
        """Apply atomic update actions (``Attr("n").add(1)``, ...) and reload the item's new values."""
        self._co_bound().update_item(self, *actions, condition=condition)

    def change_key(self, **new_key_values: Any) -> Self:
        """Move the stored item to a new key, every attribute kept (the Cloud package's ``ChangeKeyValues``):
        ``order.change_key(placed=6)``; key attributes changed in place count as given. One transaction: the old
        item is deleted only if it is still as this row read it, the new one put only if its key is free
        (``AlreadyExists``). The row then holds the new key and is saved."""
        self._co_bound().change_item_key(self, new_key_values)
        return self

    def _co_phase(self) -> str:
        """``"deleted"``, ``"new"`` or ``"loaded"``, for ``cloudorm.state``."""
        if self._co_deleted:
            return "deleted"
        return "new" if self._co_snapshot is None else "loaded"

    def _co_changes(self) -> set[str]:
        """The attributes changed since last read or written, for ``cloudorm.changes``."""
        return changes(self)


ItemT = TypeVar("ItemT", bound=Item)
_SCALARS = (str, int, float, Decimal, bytes, bool, dt.date, enum.Enum)


def changes(item: Item) -> set[str]:
    """Names of the attributes that differ from what was last read or written (all of them for a new item)."""
    values = item._co_values()
    old = held_values(item)
    if old is None:
        return set(values)
    info = item.__cloudorm_model__
    if info is not None:
        return _model_changes(item, info, values, old)
    if old is values:  # read, and nothing replaced or handed out since
        return set()
    names = set(values) | set(old)
    changed = {k for k in names if (k in values) != (k in old)
               or (k in values and values[k] is not old[k] and not codec.same_stored(values[k], old[k]))}
    return {k for k in changed if not (k not in old and codec.is_empty_set(values.get(k)))}


def held_values(item: Item) -> dict[str, Any] | None:
    """What the table holds for the item as last read or written, decoded (read-only); None for a new item."""
    held = item._co_snapshot
    if held is None:
        return None
    return held.values() if isinstance(held, Held) else codec.decode_item(held)


def held_wire(item: Item) -> codec.WireItem | None:
    """``held_values`` in wire form."""
    held = item._co_snapshot
    if held is None:
        return None
    return codec.encode_item(held.values()) if isinstance(held, Held) else held


def _model_changes(item: Item, info: ModelInfo, values: dict[str, Any], stored: dict[str, Any]) -> set[str]:
    """A typed row's changed fields: those whose value differs from what it held when last read or written, and
    those assigned since that the table does not hold (written even when equal to the default). Undeclared
    attributes never change; fields the stored row lacked keep their defaults unwritten until changed."""
    base = item._co_base
    if base is None:  # read, and not looked at since: what it held then follows from the stored row
        held = _declared_values(structure(type(item), dict(stored)))
        base = item._co_base = {**{k: v for k, v in held.items() if k in stored}, **(item._co_defaults or {})}
    touched: set[str] = item.__dict__.get("_co_touched", set())
    # a row read in part holds defaults for what it did not read: only what it read, or what was set on it since,
    # can have changed
    partial = item._co_projection is not None
    names = {k for k in info.fields if k in stored} | touched if partial else set(info.fields)
    changed = {k for k in names
               if (k in values) != (k in base) or (k in values and not codec.same_stored(values[k], base[k]))}
    changed |= {k for k in touched if k not in stored and k in values and not codec.is_empty_set(values[k])}
    return changed


def mark_stored(item: Item, wire: codec.WireItem, decoded: Mapping[str, Any] | None = None) -> None:
    """Record that ``wire`` is what the table now holds for the item (it is saved, current, untouched);
    ``decoded`` is ``wire`` decoded, when the caller has it already."""
    item._co_snapshot = wire
    item._co_deleted = item._co_stale = False
    item.__dict__.pop("_co_touched", None)
    info = item.__cloudorm_model__
    if info is not None:
        fields = info.fields
        if decoded is None:
            decoded = codec.decode_item({k: w for k, w in wire.items() if k not in fields})
        item._co_extra = MappingProxyType({k: v for k, v in decoded.items() if k not in fields})
        item._co_base = _declared_values(item)
        item._co_defaults = None


def mark_read(item: Item, decoded: dict[str, Any]) -> None:
    """``mark_stored`` for a typed row just built from ``decoded`` (what was read): it keeps those values as
    ``Held``; what its fields held is worked out from them when first needed (reading stays cheap), except the
    defaults of fields the row lacked, recorded now."""
    info = item.__cloudorm_model__
    assert info is not None
    d = item.__dict__  # not through attrs' __setattr__: these are not fields
    d["_co_snapshot"] = Held(copy_containers(decoded))  # not sharing what the row may change in place
    fields = info.types
    if decoded.keys() - fields.keys():
        d["_co_extra"] = MappingProxyType({k: v for k, v in decoded.items() if k not in fields})
    defaults = {}
    for name, tp in fields.items():
        if name not in decoded:
            value = d.get(name)
            if value is not None:
                defaults[name] = converter.unstructure(value, unstructure_as=tp)
    d["_co_defaults"] = defaults


def undeclared(item: Item) -> Mapping[str, Any]:
    """A typed row's stored attributes that its model does not declare, read-only (kept on ``save()`` and
    written back by ``put()``); empty for a new row and for schemaless items."""
    return item._co_extra


def stored_values(item: Item) -> dict[str, Any]:
    """Everything a put of the item writes: its values, and a typed row's undeclared attributes (at the top level,
    and inside the maps of nested attrs classes it read)."""
    values = item._co_values()
    info = item.__cloudorm_model__
    nested = info is not None and any(isinstance(values.get(name), dict) for name in info.types)
    stored = held_values(item) if nested and not item._co_deleted else None
    if info is not None and stored is not None:
        for name, tp in info.types.items():
            if isinstance(values.get(name), dict) and isinstance(stored.get(name), dict):
                values[name] = _keep_undeclared(tp, stored[name], values[name])
    extra = item._co_extra
    return {**extra, **values} if extra else values


def _keep_undeclared(tp: Any, held: Any, new: Any) -> Any:
    """``new``, the stored form of a value of type ``tp``, with the keys ``held`` (what was read) has that the
    nested attrs class ``tp`` does not declare, at every depth; other values are ``new`` as they are."""
    args = typing.get_args(tp)
    if args and type(None) in args and len(args) == 2:  # X | None
        tp = next(a for a in args if a is not type(None))
    if not (attrs.has(tp) and isinstance(held, dict) and isinstance(new, dict)):
        return new
    fields = {f.name: f.type for f in attrs.fields(tp)}
    merged = {k: v for k, v in held.items() if k not in fields}
    for k, v in new.items():
        merged[k] = _keep_undeclared(fields[k], held[k], v) if k in fields and k in held else v
    return merged


def _declared_values(row: Item) -> dict[str, Any]:
    """A typed row's fields in their stored forms (None fields left out: they are not stored); a value that has
    none (a naive datetime inside a list, say) is ``InvalidInput`` naming its field."""
    try:
        raw: dict[str, Any] = converter.unstructure(row)
    except InvalidInput as e:
        for f in attrs.fields(cast(Any, type(row))):  # which field: only on this error path (reading: one call)
            try:
                converter.unstructure(getattr(row, f.name), unstructure_as=f.type)
            except InvalidInput as inner:
                raise InvalidInput(f"{type(row).__name__}.{f.name}", inner.reason) from None
        raise e from None
    return {k: v for k, v in raw.items() if v is not None}


def construct(cls: type[ItemT], values: Mapping[str, Any]) -> ItemT:
    """Call the model's constructor with typed values (``InvalidInput`` for unknown or missing fields)."""
    try:
        return cls(**values)
    except TypeError as e:
        raise InvalidInput(cls.__name__, re.sub(r"^\S*__init__\(\) ", "", str(e))) from None


def structure(cls: type[ItemT], values: dict[str, Any]) -> ItemT:
    """Build a model instance from decoded values (``InvalidInput`` whose ``field`` is the attribute that does
    not fit, or None)."""
    try:
        return converter.structure(values, cls)
    except Exception as e:  # cattrs raises ClassValidationError groups, with a note naming each attribute
        first = (getattr(e, "exceptions", None) or [e])[0]
        names = [n.name for n in getattr(first, "__notes__", []) if isinstance(getattr(n, "name", None), str)]
        attribute = names[0] if names else None
        if attribute is not None:
            reason = f"attribute {attribute!r}: " + (f"is missing (stored: {sorted(values)})"
                                                     if isinstance(first, KeyError) else _describe(first))
        else:
            reason = _describe(e)
        raise InvalidInput(attribute, reason) from None


def _describe(e: BaseException) -> str:
    subs = getattr(e, "exceptions", None)
    if subs:
        notes = []
        for sub in subs:
            where = "; ".join(getattr(sub, "__notes__", []) or [])
            notes.append(f"{where}: {_describe(sub)}" if where else _describe(sub))
        return "; ".join(notes)
    return f"{type(e).__name__}: {e}"
