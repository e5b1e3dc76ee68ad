"""Attribute paths (``"a.b[0]"``) and the placeholder allocator: every attribute name goes out through
ExpressionAttributeNames and every value through ExpressionAttributeValues, so reserved words (``name``,
``status``, ``data``) and any characters just work.
"""

from __future__ import annotations

import re
from collections.abc import Callable
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

