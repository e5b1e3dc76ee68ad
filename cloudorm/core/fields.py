"""Record-backed fields. A resource field's value is what the user set, else what the provider last said (loaded
with one fetch when a listing left it out), else its default; ``changes()`` compares the two."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload

import attrs

if TYPE_CHECKING:
    from cloudorm.core.resource import Resource

T = TypeVar("T")
META = "cloudorm"


class _Unset:
    """The value of a field the user did not give: the provider's value is kept (and read from its record)."""

    def __repr__(self) -> str:
        return "<unset>"

    def __copy__(self) -> _Unset:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _Unset:
        return self

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()
IMMUTABLE = (str, int, float, bool, bytes, type(None), tuple, frozenset)


@attrs.frozen
class FieldSpec:
    """How a field maps to the provider's record and takes part in ``changes()``."""

    name: str
    key: str
    default: Any
    factory: Callable[[], Any] | None
    tracked: bool
    fixed: bool
    lazy: bool
    compare: Callable[[Any, Any], bool] | None

    def default_value(self) -> Any:
        """The value a field neither set nor stored has."""
        return self.factory() if self.factory is not None else self.default

    def differs(self, new: Any, old: Any) -> bool:
        """True if ``new`` is a change from the stored ``old``."""
        return not self.compare(new, old) if self.compare is not None else bool(new != old)


def unless_unset(check: Callable[[Any], T] | None) -> Callable[[Any], Any]:
    """``check``, letting ``UNSET`` (and, with no check, every value) through."""
    if check is None:
        return lambda value: value

    def convert(value: Any) -> Any:
        return value if value is UNSET else check(value)
    return convert


def field(check: Callable[[Any], Any] | None = None, *, default: Any = attrs.NOTHING,
          factory: Callable[[], Any] | None = None, key: str | None = None, tracked: bool = True,
          fixed: bool = False, lazy: bool = True, compare: Callable[[Any, Any], bool] | None = None,
          kw_only: bool = False, repr: bool = False) -> Any:
    """A record-backed attrs field, checked by ``check`` when set and compared with the record by ``changes()``.
    With a ``default`` (or ``factory``) the argument may be left out: it is then ``UNSET`` and a saved resource
    keeps the provider's value, a new one gets the default. ``fixed``: cannot change once created; ``lazy``: a
    listing's partial record is completed on first read."""
    required = default is attrs.NOTHING and factory is None
    spec = {"key": key, "default": None if required else default, "factory": factory, "tracked": tracked,
            "fixed": fixed, "lazy": lazy, "compare": compare}
    extra: dict[str, Any] = {} if required else {"default": UNSET}
    return attrs.field(converter=unless_unset(check), metadata={META: spec}, kw_only=kw_only, repr=repr, **extra)


class Stored(Generic[T]):
    """A read-only value from the provider's record (``blob.size``, ``fn.arn``); ``default`` when it has none."""

    def __init__(self, key: str | None = None, default: Any = None, lazy: bool = True,
                 convert: Callable[[Any], T] | None = None) -> None:
        self.key = key or ""
        self.default = default
        self.lazy = lazy
        self.convert = convert

    def __set_name__(self, owner: type, name: str) -> None:
        self.key = self.key or name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Stored[T]: ...

    @overload
    def __get__(self, obj: Resource, owner: type | None = None) -> T: ...

    def __get__(self, obj: Resource | None, owner: type | None = None) -> Stored[T] | T:
        if obj is None:
            return self
        found, value = obj._co_lookup(self.key, self.lazy)
        out: T = self.default if not found else self.convert(value) if self.convert is not None else value
        return out


def stored(key: str | None = None, default: Any = None, *, lazy: bool = True,
           convert: Callable[[Any], Any] | None = None, init: Literal[False] = False) -> Any:
    """A read-only, record-backed property: ``size: int = stored()`` is not an attrs field (``init=False`` tells
    type checkers it is no constructor parameter)."""
    return Stored(key, default, lazy, convert)


class FieldValue:
    """The data descriptor installed for each ``field()``: reads fall back to the record, then the default; a
    mutable value is copied out on first read so that in-place edits show up in ``changes()``."""

    def __init__(self, spec: FieldSpec) -> None:
        self.spec = spec

    def __get__(self, obj: Resource | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        name = self.spec.name
        held = obj.__dict__.get(name, UNSET)
        if held is not UNSET:
            return held
        found, value = obj._co_lookup(self.spec.key, self.spec.lazy)
        if not found:
            value = self.spec.default_value()
        if not isinstance(value, IMMUTABLE):
            value = copy.deepcopy(value)
            obj.__dict__[name] = value
            obj._co_origin[name] = copy.deepcopy(value)
        return value

    def __set__(self, obj: Resource, value: Any) -> None:
        name = self.spec.name
        obj.__dict__[name] = value
        obj._co_origin.pop(name, None)
        if value is not UNSET:
            obj._co_given.add(name)


def specs(cls: type) -> tuple[FieldSpec, ...]:
    """The record-backed fields of a resource class, in declaration order."""
    found: tuple[FieldSpec, ...] | None = cls.__dict__.get("_co_specs")
    if found is None:
        found = tuple(FieldSpec(name=a.name, **{**a.metadata[META], "key": a.metadata[META]["key"] or a.name})
                      for a in attrs.fields(cls) if META in a.metadata)
        setattr(cls, "_co_specs", found)  # noqa: B010
    return found


def install(cls: type) -> None:
    """Put a ``FieldValue`` descriptor on ``cls`` for each of its record-backed attrs fields."""
    for spec in specs(cls):
        setattr(cls, spec.name, FieldValue(spec))
