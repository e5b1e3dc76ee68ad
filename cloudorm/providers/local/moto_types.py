"""moto's DynamoDB comparisons of values of different types: no match, as on DynamoDB.

moto evaluates ``<``, ``<=``, ``>``, ``>=`` and ``BETWEEN`` in filter and condition expressions on the Python
values of the two sides, so a number compared with stored text (an old text TTL value, a row another program
wrote) raises ``TypeError`` and the request fails with HTTP 500. DynamoDB compares only values of the same type: such
an item simply does not match (a condition fails). ``=`` (false) and ``<>`` (true) already behave so in moto.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

_ORDERING = ("OpLessThan", "OpLessThanOrEqual", "OpGreaterThan", "OpGreaterThanOrEqual", "FuncBetween")
_MARK = "_cloudorm_mismatched_types_match_nothing"


def _no_match_on_type_error(expr: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    """``expr`` of an ordering comparison, false where the values' types cannot be ordered against each other."""

    @wraps(expr)
    def typed_expr(self: Any, item: Any) -> bool:
        try:
            return expr(self, item)
        except TypeError:  # e.g. Decimal < str: values of different DynamoDB types
            return False

    setattr(typed_expr, _MARK, True)
    return typed_expr


def mismatched_types_match_nothing() -> None:
    """Make moto's ordering comparisons of values of different types false instead of an HTTP 500 (once per
    process; applied when the local cloud builds moto's application)."""
    from moto.dynamodb import comparisons

    for name in _ORDERING:
        cls = getattr(comparisons, name)
        if not getattr(cls.expr, _MARK, False):
            cls.expr = _no_match_on_type_error(cls.expr)
