"""Typed models: ``@cloudorm.model`` makes an ``Item`` subclass an attrs class stored in a table, with its keys
(``hash_key()``, ``range_key()``), an optional ``version()`` field and the dict-like access of a row."""

from __future__ import annotations

import datetime as dt
import enum
import typing
from collections.abc import Callable, Iterator, KeysView
from decimal import Decimal
from typing import Any

import attrs

from cloudorm.errors import InvalidInput
from cloudorm.nosql.item import Item, ItemT, ModelInfo, _declared_values, structure
from cloudorm.nosql.schema import Index, KeyAttr, TableSchema, check_indexes

_ROLE = "cloudorm"


def _touch(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> Any:
    """attrs on_setattr hook: remember which fields of a typed row were assigned since it was stored."""
    instance.__dict__.setdefault("_co_touched", set()).add(attribute.name)
    return value


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
