"""Conditions: ``Attr("a.b") > 3``, ``Attr("tags").contains("x")``, combined with ``&``/``|``/``~``, and the
Django-style lookups (``total__gt=2``) that build them. ``Attr`` also starts update actions (``Attr("n").add(1)``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, ClassVar

from cloudorm.errors import InvalidInput
from cloudorm.nosql.placeholders import ExpressionBuilder, Segment, parse_path
from cloudorm.nosql.updates import Action


class Operand:
    """Something conditions compare: ``attr == v``, ``attr < v``, ... build ``Compare`` conditions."""

    __slots__ = ()

    def _compile(self, b: ExpressionBuilder) -> str:
        raise NotImplementedError  # pragma: no cover - Attr and Size compile themselves

    def __eq__(self, other: object) -> Condition:  # type: ignore[override]
        return Compare(self, "=", other)

    def __ne__(self, other: object) -> Condition:  # type: ignore[override]
        return Compare(self, "<>", other)

    def __lt__(self, other: Any) -> Condition:
        return Compare(self, "<", other)

    def __le__(self, other: Any) -> Condition:
        return Compare(self, "<=", other)

    def __gt__(self, other: Any) -> Condition:
        return Compare(self, ">", other)

    def __ge__(self, other: Any) -> Condition:
        return Compare(self, ">=", other)

    __hash__ = None  # type: ignore[assignment]


class Attr(Operand):
    """An attribute path in conditions and updates: ``Attr("total") > 3``, ``Attr("tags").add({"x"})``."""

    __slots__ = ("path", "segments")

    def __init__(self, path: str) -> None:
        self.path = path
        self.segments = parse_path(path)

    def __repr__(self) -> str:
        return f"Attr({self.path!r})"

    @classmethod
    def top(cls, name: str) -> Attr:
        """The top-level attribute called ``name`` exactly (dots and brackets are part of the name)."""
        if not isinstance(name, str) or not name:
            raise InvalidInput("attribute", f"an attribute name must be a non-empty str, not {name!r}")
        a = cls.__new__(cls)
        a.path, a.segments = name, (name,)
        return a

    def _compile(self, b: ExpressionBuilder) -> str:
        return b.name(self.segments)


    def between(self, low: Any, high: Any) -> Condition:
        """``low <= attr <= high``."""
        return Between(self, low, high)

    def begins_with(self, prefix: str | bytes) -> Condition:
        """The string or binary attribute starts with ``prefix`` (a number, bool or None is ``InvalidInput``:
        DynamoDB refuses such an operand)."""
        if prefix is None or isinstance(prefix, (bool, int, float, Decimal)):
            raise InvalidInput(f"{self.path}__begins_with", f"takes a string or binary prefix, not {prefix!r}")
        return Function("begins_with", self, prefix)

    def contains(self, value: Any) -> Condition:
        """A string contains a substring, or a set/list contains an element."""
        return Function("contains", self, value)

    def is_in(self, values: Iterable[Any]) -> Condition:
        """The attribute equals one of ``values`` (at most 100)."""
        return In(self, list(values))

    def exists(self) -> Condition:
        """The attribute is present."""
        return Exists(self, True)

    def not_exists(self) -> Condition:
        """The attribute is absent."""
        return Exists(self, False)

    def is_type(self, type_code: str) -> Condition:
        """The attribute has this DynamoDB type code (``S``, ``N``, ``B``, ``SS``, ``BOOL``, ``L``, ``M``, ...)."""
        return Function("attribute_type", self, type_code)

    def size(self) -> Size:
        """The attribute's size (string length, bytes, or number of elements), for comparisons."""
        return Size(self)

    # update actions
    def set(self, value: Any) -> Action:
        """SET the attribute to ``value`` (an empty set REMOVEs it instead)."""
        return Action("set", self, value)

    def set_if_missing(self, value: Any) -> Action:
        """SET the attribute only if it is absent (``if_not_exists``)."""
        return Action("set_if_missing", self, value)

    def add(self, value: Any) -> Action:
        """ADD a number to a counter (created at 0) or elements to a set."""
        return Action("add", self, value)

    def discard(self, value: Any) -> Action:
        """DELETE elements from a set attribute."""
        return Action("discard", self, value)

    def remove(self) -> Action:
        """REMOVE the attribute."""
        return Action("remove", self, None)

    def append(self, values: Iterable[Any]) -> Action:
        """Append to a list attribute (created empty if absent)."""
        return Action("append", self, list(values))

    def prepend(self, values: Iterable[Any]) -> Action:
        """Prepend to a list attribute (created empty if absent)."""
        return Action("prepend", self, list(values))


class Size(Operand):
    """``size(attr)`` as an operand in comparisons."""

    __slots__ = ("attr",)

    def __init__(self, attr: Attr) -> None:
        self.attr = attr

    def _compile(self, b: ExpressionBuilder) -> str:
        return f"size({self.attr._compile(b)})"



def operand(b: ExpressionBuilder, v: Any, field: str) -> str:
    """The text of an operand: an ``Attr`` or ``size()`` compiles itself, any other value becomes a placeholder."""
    if isinstance(v, (Attr, Size)):
        return v._compile(b)
    return b.value(v, field)


class Condition:
    """A condition expression; combine with ``&``, ``|`` and ``~``."""

    __slots__ = ()

    def compile(self, b: ExpressionBuilder) -> str:
        """The expression text, registering names and values in ``b``."""
        raise NotImplementedError  # pragma: no cover - abstract

    def __and__(self, other: Condition) -> Condition:
        return And(self, _as_condition(other))

    def __or__(self, other: Condition) -> Condition:
        return Or(self, _as_condition(other))

    def __invert__(self) -> Condition:
        return Not(self)

    def __bool__(self) -> bool:
        raise TypeError("conditions combine with & | ~, not and/or/not")

    def attribute_paths(self) -> list[tuple[Segment, ...]]:
        """The attribute paths this condition reads (used to validate key conditions)."""
        return []


def _as_condition(c: Any) -> Condition:
    if not isinstance(c, Condition):
        raise InvalidInput("condition", f"expected a condition like Attr('a') > 1, got {c!r}")
    return c


def _field(x: Any) -> str:
    if isinstance(x, Attr):
        return x.path
    if isinstance(x, Size):
        return f"size({x.attr.path})"
    return "value"


class Compare(Condition):
    """``attr <op> value`` with op one of ``= <> < <= > >=``."""

    __slots__ = ("left", "op", "right")

    def __init__(self, left: Operand, op: str, right: Any) -> None:
        self.left, self.op, self.right = left, op, right

    def compile(self, b: ExpressionBuilder) -> str:
        return f"{operand(b, self.left, 'value')} {self.op} {operand(b, self.right, _field(self.left))}"

    def attribute_paths(self) -> list[tuple[Segment, ...]]:
        return [self.left.segments] if isinstance(self.left, Attr) else []

    def __repr__(self) -> str:
        return f"({self.left!r} {self.op} {self.right!r})"


class Between(Condition):
    """``attr BETWEEN low AND high``."""

    __slots__ = ("attr", "high", "low")

    def __init__(self, attr: Attr | Size, low: Any, high: Any) -> None:
        self.attr, self.low, self.high = attr, low, high

    def compile(self, b: ExpressionBuilder) -> str:
        f = _field(self.attr)
        return f"{operand(b, self.attr, f)} BETWEEN {operand(b, self.low, f)} AND {operand(b, self.high, f)}"

    def attribute_paths(self) -> list[tuple[Segment, ...]]:
        return [self.attr.segments] if isinstance(self.attr, Attr) else []


class _OnAttr(Condition):
    """A condition on one attribute (``attr``)."""

    __slots__ = ()
    attr: Attr

    def attribute_paths(self) -> list[tuple[Segment, ...]]:
        return [self.attr.segments]


class Function(_OnAttr):
    """``begins_with``, ``contains`` or ``attribute_type`` applied to an attribute."""

    __slots__ = ("arg", "attr", "func")

    def __init__(self, func: str, attr: Attr, arg: Any) -> None:
        self.func, self.attr, self.arg = func, attr, arg

    def compile(self, b: ExpressionBuilder) -> str:
        return f"{self.func}({self.attr._compile(b)}, {operand(b, self.arg, self.attr.path)})"


class In(_OnAttr):
    """``attr IN (v1, v2, ...)``."""

    __slots__ = ("attr", "values")

    def __init__(self, attr: Attr, values: list[Any]) -> None:
        if not values:
            raise InvalidInput(attr.path, "__in needs at least one value")
        if len(values) > 100:
            raise InvalidInput(attr.path, f"__in takes at most 100 values, got {len(values)}")
        self.attr, self.values = attr, values

    def compile(self, b: ExpressionBuilder) -> str:
        placeholders = ", ".join(operand(b, v, self.attr.path) for v in self.values)
        return f"{self.attr._compile(b)} IN ({placeholders})"


class Exists(_OnAttr):
    """``attribute_exists(attr)`` or ``attribute_not_exists(attr)``."""

    __slots__ = ("attr", "present")

    def __init__(self, attr: Attr, present: bool) -> None:
        self.attr, self.present = attr, present

    def compile(self, b: ExpressionBuilder) -> str:
        func = "attribute_exists" if self.present else "attribute_not_exists"
        return f"{func}({self.attr._compile(b)})"


class _Joined(Condition):
    """Conditions joined by one logical operator (``_word``)."""

    __slots__ = ("parts",)
    _word: ClassVar[str]

    def __init__(self, *parts: Condition) -> None:
        self.parts = parts

    def compile(self, b: ExpressionBuilder) -> str:
        return f" {self._word} ".join(f"({p.compile(b)})" for p in self.parts)

    def attribute_paths(self) -> list[tuple[Segment, ...]]:
        return [s for p in self.parts for s in p.attribute_paths()]


class And(_Joined):
    """Both conditions hold."""

    __slots__ = ()
    _word = "AND"


class Or(_Joined):
    """Either condition holds."""

    __slots__ = ()
    _word = "OR"


class Not(Condition):
    """The condition does not hold."""

    __slots__ = ("inner",)

    def __init__(self, inner: Condition) -> None:
        self.inner = inner

    def compile(self, b: ExpressionBuilder) -> str:
        return f"NOT ({self.inner.compile(b)})"

    def attribute_paths(self) -> list[tuple[Segment, ...]]:
        return self.inner.attribute_paths()


def all_of(conditions: Iterable[Condition]) -> Condition | None:
    """AND the conditions together (``None`` when there are none)."""
    parts = [_as_condition(c) for c in conditions]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else And(*parts)


# ---------------------------------------------------------------------------------------------------------------
# lookups: attr__op=value

_COMPARISONS = {"eq": "=", "ne": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
LOOKUPS = ("eq", "ne", "lt", "lte", "gt", "gte", "between", "begins_with", "contains", "in", "exists")


def split_lookup(key: str) -> tuple[str, str]:
    """``"total__gt"`` -> ``("total", "gt")``; no known suffix means equality."""
    name, sep, op = key.rpartition("__")
    if sep and name:
        if op in LOOKUPS:
            return name, op
        raise InvalidInput(key, f"unknown lookup {op!r}; use one of {', '.join('__' + x for x in LOOKUPS)}")
    return key, "eq"


def lookup(name: str, op: str, value: Any) -> Condition:
    """Build the condition for one lookup on a top-level attribute name."""
    a = Attr.top(name)
    if op in _COMPARISONS:
        return Compare(a, _COMPARISONS[op], value)
    if op == "between":
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            raise InvalidInput(f"{name}__between", "takes a pair (low, high)")
        return a.between(value[0], value[1])
    if op == "begins_with":
        return a.begins_with(value)
    if op == "contains":
        return a.contains(value)
    if op == "in":
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise InvalidInput(f"{name}__in", "takes a list of values")
        return a.is_in(value)
    if op == "exists":
        if not isinstance(value, bool):
            raise InvalidInput(f"{name}__exists", "takes True or False")
        return a.exists() if value else a.not_exists()
    raise InvalidInput(f"{name}__{op}", f"unknown lookup {op!r}")  # pragma: no cover - split_lookup checks


def lookups(kwargs: Mapping[str, Any]) -> list[Condition]:
    """Conditions for a mapping of lookups, e.g. ``{"total__gt": 2, "status": "paid"}``."""
    return [lookup(*split_lookup(k), v) for k, v in kwargs.items()]

