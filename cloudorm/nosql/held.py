"""What the table holds for a row that was read, kept without a second copy of the response.

A row read from a table must remember what it read, so that ``save()`` sends only what changed. Keeping the parsed
response for that tripled the memory of every row read (docs/benchmarks.md, "Issue 16"). ``Held`` keeps instead
the decoded values the row itself holds: a schemaless item's values are the stored ones until changed, and the item
records an attribute's stored value the first time it replaces or deletes it, or hands out a list, map or set
that the caller could change in place (a copy then). A typed row's ``Held`` is its own copy of the decoded values.
"""

from __future__ import annotations

from typing import Any

ABSENT: Any = object()
"""In ``Held.before``: the attribute was not stored (it was added after the read)."""

CONTAINERS = (dict, list, set)
"""The decoded values that can change in place."""


def copy_value(value: Any) -> Any:
    """A copy of a decoded value whose maps, lists and sets are new (scalars, immutable, are shared)."""
    kind = type(value)
    if kind is dict:
        return {k: copy_value(v) for k, v in value.items()}
    if kind is list:
        return [copy_value(v) for v in value]
    if kind is set:
        return set(value)
    return value


def copy_containers(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with every top-level map, list and set copied (``copy_value``)."""
    return {k: (copy_value(v) if type(v) in CONTAINERS else v) for k, v in values.items()}


class Held:
    """The stored attributes of a row that was read: ``data`` as it is, except the attributes in ``before`` (their
    stored values, or ``ABSENT``)."""

    __slots__ = ("before", "data")

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.before: dict[str, Any] | None = None

    def keep(self, name: str, *, copy: bool) -> None:
        """Record the stored value of ``name`` before it may change (a copy when it is handed out, the value itself
        when it is about to be replaced); the first record of a name is the one kept."""
        before = self.before
        if before is None:
            before = self.before = {}
        if name not in before:
            value = self.data.get(name, ABSENT)
            before[name] = copy_value(value) if copy else value

    def values(self) -> dict[str, Any]:
        """The stored attributes, decoded; read-only (it may be the row's own dict)."""
        before = self.before
        if not before:
            return self.data
        out = dict(self.data)
        for name, value in before.items():
            if value is ABSENT:
                out.pop(name, None)
            else:
                out[name] = value
        return out
