"""Checks of the plain values every area takes (seconds, flags, text), made before any request: one rule each, and
``InvalidInput`` naming the field that broke it."""

from __future__ import annotations

import math
from typing import Any

from cloudorm.errors import InvalidInput

MAX_SECONDS = 365 * 24 * 3600.0
"""The longest timeout, deadline or wait cloudorm takes: a year (sockets refuse timeouts from about 1e10 s on)."""


def check_seconds(field: str, value: Any, *, zero: bool = False) -> float:
    """``value`` as a float number of seconds: a finite int or float > 0 (``zero``: >= 0) and at most
    ``MAX_SECONDS``; not a bool, NaN or infinity."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not (value >= 0 if zero else value > 0) or value > MAX_SECONDS:
        low = ">= 0" if zero else "> 0"
        raise InvalidInput(field, f"must be a number of seconds {low} and at most {MAX_SECONDS:.0f} (a year), "
                                  f"not {value!r}")
    return float(value)


def check_flag(field: str, value: Any) -> bool:
    """``value`` if it is True or False (``"yes"``, 1 or None are refused, not taken for true or false)."""
    if not isinstance(value, bool):
        raise InvalidInput(field, f"must be True or False, not {value!r}")
    return value


def check_utf8(field: str, value: str, *, secret: bool = False) -> str:
    """``value`` if it can be sent as UTF-8: no lone surrogate (``"\\udc80"``, what ``os.fsdecode`` makes of a
    byte that is not UTF-8), which no service accepts. ``secret``: the message does not show the value."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        shown = "the value" if secret else repr(value)
        raise InvalidInput(field, f"{shown} holds a lone surrogate ({value[e.start]!r} at {e.start}), which cannot "
                                  "be sent as UTF-8") from None
    return value


__all__ = ["MAX_SECONDS", "check_flag", "check_seconds", "check_utf8"]
