"""Condition and update expressions: ``Attr("a.b") > 3``, ``&``/``|``/``~``, Django-style lookups, update actions.

Every attribute name is sent through ExpressionAttributeNames and every value through ExpressionAttributeValues,
so reserved words (``name``, ``status``, ``data``) and any characters just work.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from cloudorm.errors import InvalidInput
from cloudorm.nosql import codec

Segment = str | int
_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]|(\.)")


def parse_path(path: str) -> tuple[Segment, ...]:
    """Split ``"a.b[0].c"`` into ``("a", "b", 0, "c")``."""
    if not isinstance(path, str) or not path:
        raise InvalidInput("attribute", f"an attribute path must be a non-empty str, not {path!r}")
    segments: list[Segment] = []
    pos = 0
    expect_name = True
    for m in _PATH_TOKEN.finditer(path):
        if m.start() != pos:
            break
        pos = m.end()
        name, index, dot = m.groups()
        if name is not None:
            if not expect_name:
                break
            segments.append(name)
            expect_name = False
        elif index is not None:
            if expect_name:
                break
            segments.append(int(index))
        elif dot:
            if expect_name:
                break
            expect_name = True
    if pos != len(path) or expect_name:
        raise InvalidInput("attribute", f"{path!r} is not a valid attribute path (like 'a', 'a.b' or 'a[0].b')")
    return tuple(segments)


class ExpressionBuilder:
    """Collects name and value placeholders while expressions are compiled into one request."""

    def __init__(self, prepare: Callable[[Any, str], Any] | None = None) -> None:
        self._prepare = prepare  # (value, attribute path) -> the value to encode, e.g. a typed value's stored form
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self._name_ids: dict[str, str] = {}

    def name(self, segments: tuple[Segment, ...]) -> str:
        """Placeholder text for an attribute path, e.g. ``#n0.#n1[2]``."""
        out = []
        for seg in segments:
            if isinstance(seg, int):
                out.append(f"[{seg}]")
                continue
            ident = self._name_ids.get(seg)
            if ident is None:
                codec.check_text(seg, seg)  # every attribute name sent in an expression passes here
                ident = f"#n{len(self._name_ids)}"
                self._name_ids[seg] = ident
                self.names[ident] = seg
            out.append(("." if out else "") + ident)
        return "".join(out)

    def value(self, v: Any, field: str = "value") -> str:
        """Placeholder for a value, encoded with the codec."""
        ident = f":v{len(self.values)}"
        self.values[ident] = codec.encode_value(self._prepare(v, field) if self._prepare else v, field)
        return ident

    def wire_value(self, wire: dict[str, Any]) -> str:
        """Placeholder for an already encoded attribute value."""
        ident = f":v{len(self.values)}"
        self.values[ident] = wire
        return ident

    def params(self) -> dict[str, Any]:
        """The ExpressionAttributeNames/Values request parameters (omitted when empty)."""
        out: dict[str, Any] = {}
        if self.names:
            out["ExpressionAttributeNames"] = self.names
        if self.values:
            out["ExpressionAttributeValues"] = self.values
        return out


# ---------------------------------------------------------------------------------------------------------------
# operands and conditions


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



def _operand(b: ExpressionBuilder, v: Any, field: str) -> str:
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
        return f"{_operand(b, self.left, 'value')} {self.op} {_operand(b, self.right, _field(self.left))}"

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
        return f"{_operand(b, self.attr, f)} BETWEEN {_operand(b, self.low, f)} AND {_operand(b, self.high, f)}"

    def attribute_paths(self) -> list[tuple[Segment, ...]]:
        return [self.attr.segments] if isinstance(self.attr, Attr) else []


class Function(Condition):
    """``begins_with``, ``contains`` or ``attribute_type`` applied to an attribute."""

    __slots__ = ("arg", "attr", "func")

    def __init__(self, func: str, attr: Attr, arg: Any) -> None:
        self.func, self.attr, self.arg = func, attr, arg

    def compile(self, b: ExpressionBuilder) -> str:
        return f"{self.func}({self.attr._compile(b)}, {_operand(b, self.arg, self.attr.path)})"

    def attribute_paths(self) -> list[tuple[Segment, ...]]:
        return [self.attr.segments]


class In(Condition):
    """``attr IN (v1, v2, ...)``."""

    __slots__ = ("attr", "values")

    def __init__(self, attr: Attr, values: list[Any]) -> None:
        if not values:
            raise InvalidInput(attr.path, "__in needs at least one value")
        if len(values) > 100:
            raise InvalidInput(attr.path, f"__in takes at most 100 values, got {len(values)}")
        self.attr, self.values = attr, values

    def compile(self, b: ExpressionBuilder) -> str:
        placeholders = ", ".join(_operand(b, v, self.attr.path) for v in self.values)
        return f"{self.attr._compile(b)} IN ({placeholders})"

    def attribute_paths(self) -> list[tuple[Segment, ...]]:
        return [self.attr.segments]


class Exists(Condition):
    """``attribute_exists(attr)`` or ``attribute_not_exists(attr)``."""

    __slots__ = ("attr", "present")

    def __init__(self, attr: Attr, present: bool) -> None:
        self.attr, self.present = attr, present

    def compile(self, b: ExpressionBuilder) -> str:
        func = "attribute_exists" if self.present else "attribute_not_exists"
        return f"{func}({self.attr._compile(b)})"

    def attribute_paths(self) -> list[tuple[Segment, ...]]:
        return [self.attr.segments]


class And(Condition):
    """Both conditions hold."""

    __slots__ = ("parts",)

    def __init__(self, *parts: Condition) -> None:
        self.parts = parts

    def compile(self, b: ExpressionBuilder) -> str:
        return " AND ".join(f"({p.compile(b)})" for p in self.parts)

    def attribute_paths(self) -> list[tuple[Segment, ...]]:
        return [s for p in self.parts for s in p.attribute_paths()]


class Or(Condition):
    """Either condition holds."""

    __slots__ = ("parts",)

    def __init__(self, *parts: Condition) -> None:
        self.parts = parts

    def compile(self, b: ExpressionBuilder) -> str:
        return " OR ".join(f"({p.compile(b)})" for p in self.parts)

    def attribute_paths(self) -> list[tuple[Segment, ...]]:
        return [s for p in self.parts for s in p.attribute_paths()]


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


# ---------------------------------------------------------------------------------------------------------------
# update actions


class Action:
    """One update action (SET, REMOVE, ADD or DELETE clause element)."""

    __slots__ = ("attr", "kind", "value")

    def __init__(self, kind: str, attr: Attr, value: Any) -> None:
        self.kind, self.attr, self.value = kind, attr, value

    def __repr__(self) -> str:
        return f"Action({self.kind!r}, {self.attr.path!r}, {self.value!r})"


def compile_update(actions: Iterable[Action], b: ExpressionBuilder) -> str | None:
    """The UpdateExpression for ``actions`` (``None`` if nothing is left to do)."""
    clauses: dict[str, list[str]] = {"SET": [], "REMOVE": [], "ADD": [], "DELETE": []}
    touched: list[tuple[Segment, ...]] = []
    for act in actions:
        if not isinstance(act, Action):
            raise InvalidInput("update", f"expected an action like Attr('n').add(1), got {act!r}")
        path = act.attr.segments
        for other in touched:
            shorter = min(len(path), len(other))
            if path[:shorter] == other[:shorter]:
                raise InvalidInput(act.attr.path, "is updated twice (or overlaps another updated path) in one "
                                                  "update; DynamoDB allows one action per path")
        touched.append(path)
        name = act.attr._compile(b)
        field = act.attr.path
        kind, value = act.kind, act.value
        if kind == "set":
            if codec.is_empty_set(value):
                clauses["REMOVE"].append(name)
            else:
                clauses["SET"].append(f"{name} = {_operand(b, value, field)}")
        elif kind == "set_if_missing":
            clauses["SET"].append(f"{name} = if_not_exists({name}, {b.value(value, field)})")
        elif kind == "remove":
            clauses["REMOVE"].append(name)
        elif kind in ("add", "discard"):
            if codec.is_empty_set(value):
                continue
            addable = isinstance(value, (int, float, Decimal, set, frozenset)) and not isinstance(value, bool)
            if kind == "add" and not addable:
                raise InvalidInput(field, "add() takes a number or a set")
            if kind == "discard" and not isinstance(value, (set, frozenset)):
                raise InvalidInput(field, "discard() takes a set")
            clauses["ADD" if kind == "add" else "DELETE"].append(f"{name} {b.value(value, field)}")
        elif kind in ("append", "prepend"):
            empty = b.wire_value({"L": []})
            current = f"if_not_exists({name}, {empty})"
            v = b.value(value, field)
            joined = f"list_append({current}, {v})" if kind == "append" else f"list_append({v}, {current})"
            clauses["SET"].append(f"{name} = {joined}")
        else:  # pragma: no cover - Action is only built by Attr
            raise InvalidInput(field, f"unknown update action {kind!r}")
    text = " ".join(f"{k} {', '.join(v)}" for k, v in clauses.items() if v)
    return text or None
