"""Items: schemaless dict-like rows, and typed models (attrs classes) declared with ``@cloudorm.model``.

An item remembers what it last read or wrote (its snapshot, in wire form), so ``save()`` on a loaded item sends
an UpdateItem with only the attributes that changed, and nothing at all when nothing did. A typed row also keeps
the stored attributes its model does not declare (``undeclared(row)``) and writes them back on ``put()``.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import typing
from collections.abc import Callable, ItemsView, Iterator, KeysView, Mapping, ValuesView
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

import attrs

from cloudorm.errors import InvalidInput
from cloudorm.nosql import codec
from cloudorm.nosql.converter import converter
from cloudorm.nosql.expressions import Action, Condition
from cloudorm.nosql.schema import Index, KeyAttr, TableSchema, check_indexes

if TYPE_CHECKING:
    from typing_extensions import Self

    from cloudorm.nosql.table import Table

_ROLE = "cloudorm"


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
        _co_snapshot: codec.WireItem | None
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
        return self._data[name]

    def __setitem__(self, name: str, value: Any) -> None:
        self._data[name] = value

    def __delitem__(self, name: str) -> None:
        del self._data[name]

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
        return self._data.get(name, default)

    def items(self) -> ItemsView[str, Any]:
        """(name, value) pairs."""
        return self._co_values().items()

    def values(self) -> ValuesView[Any]:
        """Attribute values."""
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
        """Write the item and return it: a PutItem when new (replacing a stored item with its key, unless
        ``exists_ok=False`` or ``if_not_exists``: ``AlreadyExists``), an UpdateItem of just the changed attributes
        when loaded, nothing when nothing changed."""
        fresh = self._co_snapshot is None or self._co_deleted
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
    if item._co_snapshot is None:
        return set(values)
    info = item.__cloudorm_model__
    if info is not None:
        return _model_changes(item, info, values, item._co_snapshot)
    old = codec.decode_item(item._co_snapshot)
    names = set(values) | set(old)
    changed = {k for k in names
               if (k in values) != (k in old) or (k in values and not codec.same_stored(values[k], old[k]))}
    return {k for k in changed if not (k not in old and codec.is_empty_set(values.get(k)))}


def _model_changes(item: Item, info: ModelInfo, values: dict[str, Any], stored: codec.WireItem) -> set[str]:
    """A typed row's changed fields: those whose value differs from what it held when last read or written, and
    those assigned since that the table does not hold (written even when equal to the default). Undeclared
    attributes never change; fields the stored row lacked keep their defaults unwritten until changed."""
    base = item._co_base
    if base is None:  # read, and not looked at since: what it held then follows from the stored row
        held = _declared_values(structure(type(item), codec.decode_item(stored)))
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


def mark_read(item: Item, wire: codec.WireItem, decoded: Mapping[str, Any]) -> None:
    """``mark_stored`` for a typed row just built from ``wire``: what it holds is worked out from ``wire`` when
    first needed (reading stays cheap), except the defaults of fields the row lacked, recorded now."""
    info = item.__cloudorm_model__
    assert info is not None
    d = item.__dict__  # not through attrs' __setattr__: these are not fields
    d["_co_snapshot"] = wire
    fields = info.types
    if decoded.keys() - fields.keys():
        d["_co_extra"] = MappingProxyType({k: v for k, v in decoded.items() if k not in fields})
    defaults = {}
    for name, tp in fields.items():
        if name not in wire:
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
    info, stored = item.__cloudorm_model__, item._co_snapshot
    if info is not None and stored is not None and not item._co_deleted:
        for name, tp in info.types.items():
            if isinstance(values.get(name), dict) and "M" in stored.get(name, {}):
                held = codec.decode_item({name: stored[name]})[name]
                values[name] = _keep_undeclared(tp, held, values[name])
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


def _touch(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> Any:
    """attrs on_setattr hook: remember which fields of a typed row were assigned since it was stored."""
    instance.__dict__.setdefault("_co_touched", set()).add(attribute.name)
    return value


# ---------------------------------------------------------------------------------------------------------------
# typed models


def hash_key(**kwargs: Any) -> Any:
    """Declare the model's hash (partition) key field."""
    return attrs.field(metadata={_ROLE: "hash"}, **kwargs)


def range_key(**kwargs: Any) -> Any:
    """Declare the model's range (sort) key field."""
    return attrs.field(metadata={_ROLE: "range"}, **kwargs)


def version(**kwargs: Any) -> Any:
    """Declare an int version field: saves and deletes then fail with ``ConflictError`` on a stale copy."""
    kwargs.setdefault("default", 0)
    return attrs.field(metadata={_ROLE: "version"}, **kwargs)


def _key_type(cls: type, name: str, tp: Any) -> str:
    if tp is str or tp in (dt.datetime, dt.date):
        return "S"
    if tp in (int, float, Decimal):
        return "N"
    if tp is bytes:
        return "B"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        values = {type(m.value) for m in tp}
        if values <= {str}:
            return "S"
        if values <= {int}:
            return "N"
    raise InvalidInput(f"{cls.__name__}.{name}", f"a key field must be str, int, float, Decimal, bytes, "
                                                 f"datetime, date or an enum of str/int, not {tp!r}")


def _own_fields(cls: type, fields: list[attrs.Attribute[Any]]) -> list[attrs.Attribute[Any]]:
    """A typed model's fields: its own, not the schemaless ``Item``'s attribute dict."""
    return [f for f in fields if f.name != "_data"]


def model(table: str | type | None = None, *, indexes: tuple[Index, ...] | list[Index] | None = None) -> Any:
    """Make an ``Item`` subclass a typed model (an attrs class) stored in ``table`` (default: the class name)."""

    def wrap(cls: type[ItemT]) -> type[ItemT]:
        if not (isinstance(cls, type) and issubclass(cls, Item)):
            raise InvalidInput("model", f"decorate a subclass of cloudorm.Item, not {cls!r}")
        from cloudorm.nosql.table import Table  # for Item's own annotations, which name it

        made: Any = attrs.define(cls, slots=False, kw_only=True, eq=True, repr=True, field_transformer=_own_fields,
                                 on_setattr=attrs.setters.pipe(attrs.setters.convert, attrs.setters.validate, _touch))
        attrs.resolve_types(made, localns={"Table": Table})
        roles: dict[str, list[Any]] = {"hash": [], "range": [], "version": []}
        for f in attrs.fields(made):
            role = f.metadata.get(_ROLE)
            if role:
                roles[role].append(f)
        if len(roles["hash"]) != 1:
            raise InvalidInput(cls.__name__, "a model needs exactly one cloudorm.hash_key() field")
        if len(roles["range"]) > 1 or len(roles["version"]) > 1:
            raise InvalidInput(cls.__name__, "a model has at most one range_key() and one version() field")
        h = roles["hash"][0]
        hk = KeyAttr(h.name, _key_type(cls, h.name, h.type))
        rk = None
        if roles["range"]:
            r = roles["range"][0]
            rk = KeyAttr(r.name, _key_type(cls, r.name, r.type))
        declared = check_indexes(indexes)
        vf = roles["version"][0] if roles["version"] else None
        if vf is not None and vf.type is not int:
            raise InvalidInput(f"{cls.__name__}.{vf.name}", "a version field must be an int")
        made.__cloudorm_model__ = ModelInfo(
            table=table if isinstance(table, str) else cls.__name__,
            schema=TableSchema(hk, rk, declared or ()),
            declares_indexes=declared is not None,
            version=vf.name if vf is not None else None,
            fields=tuple(f.name for f in attrs.fields(made)),
            checks={f.name: c for f in attrs.fields(made) if (c := _scalar_check(f.type)) is not None},
            types={f.name: f.type for f in attrs.fields(made)},
            datetimes=frozenset(f.name for f in attrs.fields(made)
                                if f.type is dt.datetime or (_scalar_check(f.type) or ((),))[0] == (dt.datetime,)),
        )
        _install_model_methods(made)
        if made.__dict__.get("__hash__") is None:  # attrs' eq=True leaves it unhashable
            made.__hash__ = _model_hash
        return typing.cast(type[ItemT], made)

    if isinstance(table, type):
        cls, table = table, None
        return wrap(cls)
    return wrap


_SCALAR_FIELDS: dict[Any, tuple[type, ...]] = {
    str: (str,), int: (int,), float: (int, float, Decimal), Decimal: (int, Decimal), bool: (bool,),
    bytes: (bytes,), dt.datetime: (dt.datetime,), dt.date: (dt.date,),
}


def _scalar_check(tp: Any) -> tuple[tuple[type, ...], bool] | None:
    """The Python types a scalar field accepts (and whether it is Optional); None for other fields."""
    optional = False
    args = typing.get_args(tp)
    if args and type(None) in args and len(args) == 2:
        optional = True
        tp = next(a for a in args if a is not type(None))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return (tp,), optional
    accepted = _SCALAR_FIELDS.get(tp)
    return (accepted, optional) if accepted else None


def check_fields(row: Item) -> None:
    """Raise ``InvalidInput`` naming a scalar field that holds the wrong type (before any request)."""
    info = type(row).__cloudorm_model__
    assert info is not None
    for name, (accepted, optional) in info.checks.items():
        value = getattr(row, name)
        if value is None and optional:
            continue
        if not isinstance(value, accepted) or (isinstance(value, bool) and bool not in accepted):
            names = " or ".join(t.__name__ for t in accepted)
            raise InvalidInput(f"{type(row).__name__}.{name}", f"must be {names}, not {type(value).__name__} "
                                                              f"{value!r}")
        if isinstance(value, dt.datetime) and (value.tzinfo is None or value.utcoffset() is None):
            raise InvalidInput(f"{type(row).__name__}.{name}", f"{value!r} is a naive datetime: give it a timezone, "
                                                              "e.g. datetime.now(timezone.utc)")


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


def _model_values(self: Item) -> dict[str, Any]:
    check_fields(self)
    return _declared_values(self)


def _model_load(self: Item, values: dict[str, Any]) -> None:
    try:
        fresh = structure(type(self), values)
    except InvalidInput as e:  # stored data that does not fit: say which table and row
        table = self._co_table
        raise (table._row_error(values, e) if table is not None else e) from None
    for name in type(self).__cloudorm_model__.fields:  # type: ignore[union-attr]
        object.__setattr__(self, name, getattr(fresh, name))


def _model_hash(self: Item) -> int:
    keys = type(self).__cloudorm_model__.schema.key_names  # type: ignore[union-attr]
    return hash((type(self), *(getattr(self, k) for k in keys)))


def _model_getitem(self: Item, name: str) -> Any:
    if name not in type(self).__cloudorm_model__.fields:  # type: ignore[union-attr]
        raise KeyError(name)
    return getattr(self, name)


def _model_setitem(self: Item, name: str, value: Any) -> None:
    if name not in type(self).__cloudorm_model__.fields:  # type: ignore[union-attr]
        raise KeyError(name)
    setattr(self, name, value)


def _model_contains(self: Item, name: object) -> bool:
    return name in type(self).__cloudorm_model__.fields  # type: ignore[union-attr]


def _model_iter(self: Item) -> Iterator[str]:
    return iter(type(self).__cloudorm_model__.fields)  # type: ignore[union-attr]


def _model_len(self: Item) -> int:
    return len(type(self).__cloudorm_model__.fields)  # type: ignore[union-attr]


def _model_keys(self: Item) -> KeysView[str]:
    return dict.fromkeys(type(self).__cloudorm_model__.fields).keys()  # type: ignore[union-attr]


def _model_get(self: Item, name: str, default: Any = None) -> Any:
    return getattr(self, name, default) if _model_contains(self, name) else default


def _model_delitem(self: Item, name: str) -> None:
    raise TypeError("a typed model's fields cannot be deleted; set the field to None to remove the attribute")


_MODEL_METHODS: dict[str, Callable[..., Any]] = {
    "_co_values": _model_values, "_co_load": _model_load, "__getitem__": _model_getitem,
    "__setitem__": _model_setitem, "__delitem__": _model_delitem, "__contains__": _model_contains,
    "__iter__": _model_iter, "__len__": _model_len, "keys": _model_keys, "get": _model_get,
}


def _install_model_methods(cls: type) -> None:
    for name, fn in _MODEL_METHODS.items():
        if name not in cls.__dict__:
            setattr(cls, name, fn)


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
