"""How a table's declaration differs from the live table (the Cloud package's ``Confirm_Table``, as an answer):
keys, indexes, billing and TTL compared with the same field comparisons ``save()`` uses to decide what to send."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from cloudorm.core import Plan, call
from cloudorm.core.fields import specs
from cloudorm.nosql import definition as d
from cloudorm.nosql.schema import GlobalIndex, Index, KeyAttr, LocalIndex

if TYPE_CHECKING:
    from cloudorm.nosql.table import Table

COMPARED = ("hash_key", "range_key", "indexes", "billing", "ttl")
"""The parts of a declaration compared, in the order differences are listed."""


@attrs.frozen
class Difference:
    """One way the live table differs from its declaration: ``what`` (``hash_key``, ``range_key``, ``billing``,
    ``ttl`` or ``index NAME``), the ``declared`` value and the ``actual`` one (None: absent); ``str()`` reads it."""

    what: str
    declared: Any
    actual: Any
    text: str = attrs.field(eq=False)

    def __str__(self) -> str:
        return self.text


def table_differences(table: Table[Any]) -> Plan[list[Difference]]:
    """Describe the table (``NotFound`` if it does not exist; its TTL too when TTL is declared) and list what
    differs from what ``table`` holds: the values given to it, else those it last saved or loaded."""
    want = {k: v for k, v in table._co_known().items() if k in COMPARED}
    live = dict((yield from table._co_fetch()))
    if "ttl" in want:
        live["ttl"] = d.ttl_of((yield from call("nosql", "describe_ttl", table.name)))
    fields = {spec.name: spec for spec in specs(type(table))}
    out: list[Difference] = []
    for name in COMPARED:
        if name not in want:
            continue
        if name == "indexes":  # index by index: a global index rebuilt under its old name is told too
            out += index_differences(want[name] or (), live.get("indexes") or ())
        elif fields[name].differs(want[name], live.get(name)):
            out.append(Difference(name, want[name], live.get(name), _text(name, want[name], live.get(name))))
    return out


def index_differences(declared: tuple[Index, ...], actual: tuple[Index, ...]) -> list[Difference]:
    """Indexes declared and missing, present and not declared, and present under a name with other keys or
    projection (a global index's throughput is billing's business, not compared here)."""
    have = {ix.name: ix for ix in actual}
    want = {ix.name: ix for ix in declared}
    out = []
    for name in sorted(set(want) | set(have)):
        a, b = want.get(name), have.get(name)
        if a is not None and b is not None and _shape(a) == _shape(b):
            continue
        text = (f"index {name}: declared ({_index_text(a)}), not on the table" if b is None else
                f"index {name}: on the table ({_index_text(b)}), not declared" if a is None else
                f"index {name}: declared {_index_text(a)}; the table has {_index_text(b)}")
        out.append(Difference(f"index {name}", a, b, text))
    return out


def _shape(ix: Index) -> Index:
    return attrs.evolve(ix, throughput=None) if isinstance(ix, GlobalIndex) else ix


def _key_text(key: KeyAttr | None) -> str:
    return "none" if key is None else f"{key.name} ({key.type})"


def _index_text(ix: Index | None) -> str:
    if isinstance(ix, LocalIndex):
        return f"local, range {_key_text(ix.range_key)}, projection {_projection(ix.projection)}"
    assert ix is not None
    rng = f", range {_key_text(ix.range_key)}" if ix.range_key is not None else ""
    return f"global, hash {_key_text(ix.hash_key)}{rng}, projection {_projection(ix.projection)}"


def _projection(p: str | tuple[str, ...]) -> str:
    return p if isinstance(p, str) else "[" + ", ".join(p) + "]"


def _text(name: str, declared: Any, actual: Any) -> str:
    if name in ("hash_key", "range_key"):
        return f"{name.replace('_', ' ')}: declared {_key_text(declared)}, the table has {_key_text(actual)}"
    if name == "ttl":
        return (f"ttl: declared {'on ' + declared if declared else 'off'}, the table has it "
                f"{'on ' + actual if actual else 'off'}")
    return f"{name}: declared {declared}, the table has {actual}"

