"""What a DynamoDB write leaves in its item, read from the request itself: whether applying it twice leaves what
applying it once does, and whether an item found afterwards is what it wrote. Used when a write's answer was lost
and a re-send's condition failed: the item the service returned is compared with this write's effect."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from cloudorm.nosql import codec
from cloudorm.providers.contract import Wire

Path = tuple[str | int, ...]

_CLAUSE = re.compile(r"\b(SET|REMOVE|ADD|DELETE)\b", re.IGNORECASE)
_PATH_PART = re.compile(r"(#?[A-Za-z0-9_]+)|\[(\d+)\]")
_VALUE = re.compile(r":[A-Za-z0-9_]+")
_NAME_PATH = re.compile(r"#?[A-Za-z0-9_]+(?:\.#?[A-Za-z0-9_]+|\[\d+\])*")


class _Unknown(ValueError):
    """An update expression this module does not read (its effect is then unknown)."""


@attrs.frozen
class Effect:
    """What one write leaves in its item. ``idempotent``: sending it again changes nothing more. ``known``: whether
    ``matches`` can recognise the write at all (an expression that was not understood matches nothing)."""

    idempotent: bool
    known: bool = True
    gone: bool = False
    whole: Wire | None = None
    equal: tuple[tuple[Path, Wire], ...] = ()
    absent: tuple[Path, ...] = ()
    present: tuple[Path, ...] = ()
    has: tuple[tuple[Path, Wire], ...] = ()
    lacks: tuple[tuple[Path, Wire], ...] = ()

    def matches(self, stored: Wire | None) -> bool:
        """Whether ``stored`` (the item as the table holds it, None if absent) is what this write leaves."""
        if self.gone or stored is None:
            return self.gone and stored is None
        if not self.known:
            return False
        data = codec.decode_item(stored)
        if self.whole is not None:
            return codec.same_stored(data, codec.decode_item(self.whole))
        for path, value in self.equal:
            found, v = _at(data, path)
            if not found or not codec.same_stored(v, codec.decode(value)):
                return False
        if any(_at(data, path)[0] for path in self.absent) or not all(_at(data, p)[0] for p in self.present):
            return False
        for path, value in self.has:
            found, v = _at(data, path)
            if not found or not all(_in(e, v) for e in codec.decode(value)):
                return False
        for path, value in self.lacks:
            found, v = _at(data, path)
            if found and any(_in(e, v) for e in codec.decode(value)):
                return False
        return True


def effect_of(operation: str, params: Mapping[str, Any]) -> Effect:
    """The effect of a PutItem, UpdateItem or DeleteItem request."""
    if operation == "DeleteItem":
        return Effect(idempotent=True, gone=True)
    if operation == "PutItem":
        return Effect(idempotent=True, whole=dict(params["Item"]))
    try:
        return _update_effect(str(params.get("UpdateExpression") or ""), params.get("ExpressionAttributeNames") or {},
                              params.get("ExpressionAttributeValues") or {})
    except _Unknown:
        return Effect(idempotent=False, known=False)


def _update_effect(expression: str, names: Mapping[str, str], values: Mapping[str, Wire]) -> Effect:
    parts = _CLAUSE.split(expression)
    if parts[0].strip():
        raise _Unknown(expression)
    idempotent = True
    equal: list[tuple[Path, Wire]] = []
    absent: list[Path] = []
    present: list[Path] = []
    has: list[tuple[Path, Wire]] = []
    lacks: list[tuple[Path, Wire]] = []
    for keyword, body in zip(parts[1::2], parts[2::2], strict=True):
        for element in _split(body):
            kind = keyword.upper()
            if kind == "SET":
                target, sep, source = element.partition("=")
                if not sep:
                    raise _Unknown(element)
                path, source = _path(target, names), source.strip()
                if _VALUE.fullmatch(source):
                    equal.append((path, values[source]))
                elif source.startswith("if_not_exists(") and source.count("(") == 1:
                    present.append(path)  # whichever value it has, the second time changes nothing
                elif _NAME_PATH.fullmatch(source):
                    present.append(path)  # a copy of another attribute
                elif source.startswith("list_append(") or re.fullmatch(r"[#:\w.\[\]]+ [+-] [#:\w.\[\]]+", source):
                    idempotent = False  # each application appends or adds again; the result is not known here
                    present.append(path)
                else:
                    raise _Unknown(element)
            elif kind == "REMOVE":
                path = _path(element, names)
                if isinstance(path[-1], int):  # removing list element i twice removes two elements
                    idempotent = False
                absent.append(path)
            else:
                target, _, value = element.strip().rpartition(" ")
                if not _VALUE.fullmatch(value):
                    raise _Unknown(element)
                wire = values[value]
                if kind == "ADD" and "N" in wire:  # a number added twice counts twice; its sum is not known here
                    idempotent = False
                    present.append(_path(target, names))
                else:
                    (has if kind == "ADD" else lacks).append((_path(target, names), wire))
    return Effect(idempotent=idempotent, equal=tuple(equal), absent=tuple(absent), present=tuple(present),
                  has=tuple(has), lacks=tuple(lacks))


def _split(body: str) -> list[str]:
    """A clause's comma-separated elements (commas inside function calls kept)."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            out.append(body[start:i])
            start = i + 1
    out.append(body[start:])
    return [e.strip() for e in out if e.strip()]


def _path(text: str, names: Mapping[str, str]) -> Path:
    text = text.strip()
    if not _NAME_PATH.fullmatch(text):
        raise _Unknown(text)
    out: list[str | int] = []
    for name, index in _PATH_PART.findall(text):
        if index:
            out.append(int(index))
        elif name.startswith("#"):
            if name not in names:
                raise _Unknown(name)
            out.append(names[name])
        else:
            out.append(name)
    return tuple(out)


def _at(data: Any, path: Sequence[str | int]) -> tuple[bool, Any]:
    """Whether ``path`` exists in decoded item ``data``, and its value."""
    for part in path:
        inside = (isinstance(data, list) and isinstance(part, int) and part < len(data)) or (
            isinstance(data, dict) and isinstance(part, str) and part in data)
        if not inside:
            return False, None
        data = data[part]
    return True, data


def _in(element: Any, container: Any) -> bool:
    return isinstance(container, (set, frozenset)) and any(codec.same_stored(element, x) for x in container)
