"""Structuring typed models from decoded items and back, with cattrs.

Stored forms: ``datetime`` as fixed-width UTC text ``YYYY-MM-DDTHH:MM:SS.ffffff+0000`` (PynamoDB's
``UTCDateTimeAttribute`` form; sorts as text in time order), ``date`` as ``YYYY-MM-DD``, enums by value, nested
attrs classes as maps, numbers as DynamoDB numbers read back into the declared type. Reading takes every ISO-8601
spelling of a datetime, and epoch seconds (numbers, as TTL attributes hold them).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import cattrs
from dateutil.parser import isoparse  # type: ignore[import-untyped]

from cloudorm.errors import InvalidInput

converter = cattrs.Converter()
"""The converter typed models use; register hooks on it for your own field types."""


def _number(v: Any) -> int | float | Decimal:
    """``v`` when it is a number; a bool, text or bytes stored where a number is declared does not fit (it is
    never turned into one)."""
    if isinstance(v, bool) or not isinstance(v, (int, float, Decimal)):
        raise TypeError(f"expected a number, got {v!r}")
    return v


def _to_int(v: Any, cls: type[int] = int) -> int:
    v = _number(v)
    if isinstance(v, (Decimal, float)) and v != int(v):
        raise ValueError(f"{v} is not a whole number")
    return cls(int(v))  # cls may be an IntEnum


def _to_float(v: Any, cls: type[float] = float) -> float:
    return cls(float(_number(v)))


def _to_decimal(v: Any, _: Any) -> Decimal:
    v = _number(v)
    if isinstance(v, float):
        return Decimal(repr(v))
    return Decimal(v)


def _to_bool(v: Any, _: Any) -> bool:
    if isinstance(v, bool):
        return v
    raise TypeError(f"expected a bool, got {v!r}")


_UTC = dt.timezone.utc
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=_UTC)
_SECOND = dt.timedelta(seconds=1)


def _aware(v: dt.datetime, field: str) -> dt.datetime:
    if v.tzinfo is None or v.utcoffset() is None:
        raise InvalidInput(field, f"{v!r} is a naive datetime: give it a timezone, e.g. "
                                  "datetime.now(timezone.utc) or value.replace(tzinfo=timezone.utc)")
    return v


def datetime_text(v: dt.datetime, field: str = "datetime") -> str:
    """A datetime's stored form: UTC, fixed width, ``2024-05-06T07:08:09.000000+0000`` (``InvalidInput`` when
    naive)."""
    try:
        u = _aware(v, field).astimezone(_UTC)
    except OverflowError:
        raise InvalidInput(field, f"{v!r} is outside the years 1 to 9999 in UTC") from None
    return (f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}."
            f"{u.microsecond:06d}+0000")


def epoch_seconds(v: dt.datetime, field: str = "datetime") -> int:
    """A datetime as whole seconds since 1970-01-01 UTC, rounded down (what DynamoDB's TTL reads)."""
    return (_aware(v, field) - _EPOCH) // _SECOND


def parse_datetime(text: str) -> dt.datetime:
    """An aware UTC datetime from any ISO-8601 spelling (``Z``, ``+00:00``, ``+0000``, other offsets converted,
    1 to 9 fraction digits truncated to microseconds); text without an offset is taken as UTC."""
    if len(text) == 31 and text[26:] == "+0000" and text[10] == "T" and text[19] == ".":  # the stored form
        try:
            return dt.datetime(int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]),
                               int(text[14:16]), int(text[17:19]), int(text[20:26]), _UTC)
        except ValueError:
            pass
    parsed: dt.datetime = isoparse(text)
    return parsed.replace(tzinfo=_UTC) if parsed.tzinfo is None else parsed.astimezone(_UTC)


def _to_datetime(v: Any, _: Any) -> dt.datetime:
    if isinstance(v, dt.datetime):
        return v
    if isinstance(v, (int, Decimal)) and not isinstance(v, bool):  # epoch seconds (a TTL attribute)
        whole = int(v)
        return _EPOCH + dt.timedelta(seconds=whole, microseconds=int((Decimal(v) - whole) * 1_000_000))
    if not isinstance(v, str):
        raise TypeError(f"expected ISO-8601 text or epoch seconds, got {v!r}")
    return parse_datetime(v)


def _to_str(v: Any, cls: type[str] = str) -> str:
    if not isinstance(v, str):
        raise TypeError(f"expected a string, got {v!r}")
    return v if cls is str else cls(v)  # cls may be a str enum


def _to_date(v: Any, _: Any) -> dt.date:
    if isinstance(v, dt.date):
        return v
    if not isinstance(v, str):
        raise TypeError(f"expected YYYY-MM-DD text, got {v!r}")
    return dt.date.fromisoformat(v)


def _to_bytes(v: Any, _: Any) -> bytes:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    raise TypeError(f"expected bytes, got {type(v).__name__}")


converter.register_structure_hook(str, _to_str)
converter.register_structure_hook(bool, _to_bool)
converter.register_structure_hook(int, _to_int)
converter.register_structure_hook(float, _to_float)
converter.register_structure_hook(Decimal, _to_decimal)
converter.register_structure_hook(dt.datetime, _to_datetime)
converter.register_structure_hook(dt.date, _to_date)
converter.register_structure_hook(bytes, _to_bytes)
converter.register_unstructure_hook(dt.datetime, datetime_text)
converter.register_unstructure_hook(dt.date, lambda v: v.isoformat())
converter.register_unstructure_hook(Decimal, lambda v: v)
converter.register_unstructure_hook(bytes, lambda v: v)


def to_stored(value: Any) -> Any:
    """A typed value (datetime, enum, nested attrs class, ...) in the plain form the codec stores."""
    return converter.unstructure(value)
