"""Structuring typed models from decoded items and back, with cattrs.

Stored forms: ``datetime``/``date`` as ISO-8601 text (sortable), enums by value, nested attrs classes as maps,
numbers as DynamoDB numbers read back into the declared type.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import cattrs

converter = cattrs.Converter()
"""The converter typed models use; register hooks on it for your own field types."""


def _to_int(v: Any, cls: type[int] = int) -> int:
    if isinstance(v, bool):
        raise TypeError(f"expected a number, got {v!r}")
    if isinstance(v, Decimal) and v != v.to_integral_value():
        raise ValueError(f"{v} is not a whole number")
    return cls(int(v))  # cls may be an IntEnum


def _to_float(v: Any, cls: type[float] = float) -> float:
    if isinstance(v, (bool, str)):
        raise TypeError(f"expected a number, got {v!r}")
    return cls(float(v))


def _to_decimal(v: Any, _: Any) -> Decimal:
    if isinstance(v, bool):
        raise TypeError(f"expected a number, got {v!r}")
    if isinstance(v, float):
        return Decimal(repr(v))
    return Decimal(v)


def _to_bool(v: Any, _: Any) -> bool:
    if isinstance(v, bool):
        return v
    raise TypeError(f"expected a bool, got {v!r}")


def _to_datetime(v: Any, _: Any) -> dt.datetime:
    if isinstance(v, dt.datetime):
        return v
    return dt.datetime.fromisoformat(v)


def _to_date(v: Any, _: Any) -> dt.date:
    if isinstance(v, dt.date):
        return v
    return dt.date.fromisoformat(v)


def _to_bytes(v: Any, _: Any) -> bytes:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    raise TypeError(f"expected bytes, got {type(v).__name__}")


converter.register_structure_hook(bool, _to_bool)
converter.register_structure_hook(int, _to_int)
converter.register_structure_hook(float, _to_float)
converter.register_structure_hook(Decimal, _to_decimal)
converter.register_structure_hook(dt.datetime, _to_datetime)
converter.register_structure_hook(dt.date, _to_date)
converter.register_structure_hook(bytes, _to_bytes)
converter.register_unstructure_hook(dt.datetime, lambda v: v.isoformat())
converter.register_unstructure_hook(dt.date, lambda v: v.isoformat())
converter.register_unstructure_hook(Decimal, lambda v: v)
converter.register_unstructure_hook(bytes, lambda v: v)


def to_stored(value: Any) -> Any:
    """A typed value (datetime, enum, nested attrs class, ...) in the plain form the codec stores."""
    return converter.unstructure(value)
