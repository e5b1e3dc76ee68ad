"""Condition and update expressions: ``Attr("a.b") > 3``, ``&``/``|``/``~``, Django-style lookups, update actions.

One import for what is built in three modules: the placeholder allocator and attribute paths (``placeholders``),
conditions and lookups (``conditions``) and update actions (``updates``).
"""

from cloudorm.nosql.conditions import (
    LOOKUPS,
    And,
    Attr,
    Between,
    Compare,
    Condition,
    Exists,
    Function,
    In,
    Not,
    Operand,
    Or,
    Size,
    all_of,
    lookup,
    lookups,
    split_lookup,
)
from cloudorm.nosql.placeholders import ExpressionBuilder, Segment, parse_path
from cloudorm.nosql.updates import Action, compile_update

__all__ = [
    "LOOKUPS",
    "Action",
    "And",
    "Attr",
    "Between",
    "Compare",
    "Condition",
    "Exists",
    "ExpressionBuilder",
    "Function",
    "In",
    "Not",
    "Operand",
    "Or",
    "Segment",
    "Size",
    "all_of",
    "compile_update",
    "lookup",
    "lookups",
    "parse_path",
    "split_lookup",
]
