"""Update actions (``Attr("n").add(1)``, ``Attr("tags").discard({"x"})``...) and the UpdateExpression they make."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from cloudorm.errors import InvalidInput
from cloudorm.nosql import codec
from cloudorm.nosql.placeholders import ExpressionBuilder, Segment

if TYPE_CHECKING:
    from cloudorm.nosql.conditions import Attr


class Action:
    """One update action (SET, REMOVE, ADD or DELETE clause element)."""

    __slots__ = ("attr", "kind", "value")

    def __init__(self, kind: str, attr: Attr, value: Any) -> None:
        self.kind, self.attr, self.value = kind, attr, value

    def __repr__(self) -> str:
        return f"Action({self.kind!r}, {self.attr.path!r}, {self.value!r})"


def compile_update(actions: Iterable[Action], b: ExpressionBuilder) -> str | None:
    """The UpdateExpression for ``actions`` (``None`` if nothing is left to do)."""
    from cloudorm.nosql.conditions import operand  # conditions' Attr builds Actions: imported here, not above
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
                clauses["SET"].append(f"{name} = {operand(b, value, field)}")
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
