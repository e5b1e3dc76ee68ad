"""The DynamoDB wire format, in one place: Python values to ``{"S": ...}`` attribute values and back.

Written for speed (dispatch on the exact type first, isinstance only as a fallback), because every item read or
written goes through here. Decoding accepts both botocore's parsed form (``B`` as bytes) and the raw JSON body
(``B`` as base64 text), so item-heavy responses can skip botocore's shape parser.
"""

from __future__ import annotations

import enum
import json
from base64 import b64decode
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from cloudorm.checks import check_utf8
from cloudorm.errors import InvalidInput

MAX_ITEM_BYTES = 400 * 1024
"""DynamoDB's item size limit: attribute names plus values, in bytes."""

MAX_DIGITS = 38
"""DynamoDB numbers keep at most 38 significant digits."""

_MIN_EXPONENT, _MAX_EXPONENT = -130, 125

WireValue = dict[str, Any]
WireItem = dict[str, WireValue]


class _EncodeError(Exception):
    """Raised deep inside encode; the caller adds the attribute path to the message."""

    def __init__(self, reason: str, path: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path


class _Empty:
    """Marker for an empty set, which DynamoDB cannot store."""


EMPTY = _Empty()


# ---------------------------------------------------------------------------------------------------------------
# numbers


def _check_digits(text: str) -> str:
    """Validate a long number text against DynamoDB's precision and range; slow path only."""
    d = Decimal(text)
    return _decimal_text(d)


def _decimal_text(d: Decimal) -> str:
    text = str(d)
    if len(text) <= MAX_DIGITS and "E" not in text and d.is_finite():
        # Plain notation (no exponent) in at most 38 characters: at most 38 digits, exponent within range.
        return text
    if not d.is_finite():
        raise _EncodeError(f"{d} cannot be stored: DynamoDB numbers must be finite")
    _sign, digits, exponent = d.as_tuple()
    assert isinstance(exponent, int)
    significant = "".join(map(str, digits)).strip("0")
    if len(significant) > MAX_DIGITS:
        raise _EncodeError(f"{d} has {len(significant)} significant digits; DynamoDB keeps at most {MAX_DIGITS}")
    if significant:
        adjusted = d.adjusted()
        if adjusted > _MAX_EXPONENT or adjusted < _MIN_EXPONENT:
            raise _EncodeError(f"{d} is outside DynamoDB's number range (1E-130 to 9.9E+125)")
    return str(d)


def _int_text(v: int) -> str:
    text = str(v)
    if len(text) > MAX_DIGITS:
        return _check_digits(text)
    return text


def _float_text(v: float) -> str:
    text = repr(v)
    if "e" not in text and "n" not in text:  # not an exponent, "inf" or "nan": at most 17 digits, in range
        return text
    if v != v or v in (_INF, _NINF):
        raise _EncodeError(f"{v} cannot be stored: DynamoDB numbers must be finite")
    return _check_digits(text)


_INF = float("inf")
_NINF = float("-inf")


_NONZERO_DIGITS = frozenset("123456789")


def decode_number(text: str) -> int | Decimal:
    """Read a DynamoDB number: ``int`` when integral, else ``Decimal`` (exact)."""
    try:
        if "." not in text:
            return int(text)
        if text[-1] in _NONZERO_DIGITS and "e" not in text and "E" not in text:
            return Decimal(text)  # a plain fraction ending in a non-zero digit is never integral
    except (ValueError, TypeError):
        pass
    return _decode_number_slow(text)


def _decode_number_slow(text: str) -> int | Decimal:
    """Exponents, trailing zeros and anything odd: the integrality test on a ``Decimal``."""
    try:
        return int(text)
    except ValueError:
        d = Decimal(text)
        if d == d.to_integral_value():
            return int(d)
        return d


def _number_text(v: Any) -> str:
    t = type(v)
    if t is int:
        return _int_text(v)
    if t is float:
        return _float_text(v)
    if t is Decimal:
        return _decimal_text(v)
    if isinstance(v, bool):
        raise _EncodeError("a bool is not a number")
    if isinstance(v, int):
        return _int_text(int(v))
    if isinstance(v, float):
        return _float_text(float(v))
    if isinstance(v, Decimal):
        return _decimal_text(v)
    raise _EncodeError(f"{type(v).__name__} is not a number")


# ---------------------------------------------------------------------------------------------------------------
# text: DynamoDB stores UTF-8, which a lone surrogate ("\ud800", as from os.fsdecode or bad JSON) cannot be


def printable(text: str) -> str:
    """``text`` with lone surrogates escaped (``\\ud800``), safe to show in a message."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _surrogate(text: str) -> str | None:
    """Why ``text`` cannot be sent (None if it can): ``cloudorm.checks.check_utf8``'s rule, fast for ASCII."""
    if text.isascii():
        return None
    try:
        check_utf8("text", text)
    except InvalidInput as e:
        return e.reason
    return None


def check_text(text: str, field: str) -> str:
    """``text`` if it can be sent as UTF-8; ``InvalidInput`` naming ``field`` for a lone surrogate."""
    reason = _surrogate(text)
    if reason is not None:
        raise InvalidInput(printable(field), reason)
    return text


# ---------------------------------------------------------------------------------------------------------------
# encoding


_STR_ONLY = frozenset({str})
_INT_ONLY = frozenset({int})


def _encode_set(v: set[Any] | frozenset[Any]) -> WireValue | _Empty:
    if not v:
        return EMPTY
    kinds = set(map(type, v))
    if kinds == _STR_ONLY:
        _check_strings(v)
        return {"SS": list(v)}
    if kinds == _INT_ONLY:
        texts = list(map(str, v))
        if max(map(len, texts)) <= MAX_DIGITS:
            return {"NS": texts}
    first = next(iter(v))
    if isinstance(first, str):
        if not all(type(x) is str or isinstance(x, str) for x in v):
            raise _EncodeError("a set must hold only str, only numbers or only bytes")
        _check_strings(v)
        return {"SS": list(v)}
    if isinstance(first, (bytes, bytearray, memoryview)):
        if not all(isinstance(x, (bytes, bytearray, memoryview)) for x in v):
            raise _EncodeError("a set must hold only str, only numbers or only bytes")
        return {"BS": [bytes(x) for x in v]}
    if isinstance(first, (int, float, Decimal)) and not isinstance(first, bool):
        try:
            texts = [_number_text(x) for x in v]
        except _EncodeError as e:
            raise _EncodeError(f"a set must hold only str, only numbers or only bytes ({e.reason})") from None
        # 0.1 and Decimal("0.10") differ in Python but are one number to DynamoDB, which rejects duplicates
        return {"NS": list({Decimal(t): t for t in texts}.values())}
    raise _EncodeError(f"a set of {type(first).__name__} cannot be stored; sets hold str, numbers or bytes")


def _check_strings(texts: Any) -> None:
    for text in texts:
        reason = _surrogate(text)
        if reason is not None:
            raise _EncodeError(f"a set member {reason}")


def _encode_map(v: Mapping[Any, Any]) -> WireValue:
    out: dict[str, Any] = {}
    for k, x in v.items():
        if type(k) is not str and not isinstance(k, str):
            raise _EncodeError(f"map keys must be str, not {type(k).__name__}", f"[{k!r}]")
        if not k or len(k) > MAX_NAME_BYTES // 4:
            reason = _name_reason(k)
            if reason is not None:
                raise _EncodeError(f"map keys {reason}", f"[{k[:20]!r}]")
        if not k.isascii() and _surrogate(k):
            raise _EncodeError(f"the map key {_surrogate(k)}", f".{printable(k)}")
        if type(x) is str and x.isascii():
            out[k] = {"S": x}
            continue
        try:
            w = encode(x)
        except _EncodeError as e:
            raise _EncodeError(e.reason, f".{k}{e.path}") from None
        if w is not EMPTY:
            out[k] = w
    return {"M": out}


def _encode_list(v: list[Any] | tuple[Any, ...]) -> WireValue:
    out = []
    for i, x in enumerate(v):
        try:
            w = encode(x)
        except _EncodeError as e:
            raise _EncodeError(e.reason, f"[{i}]{e.path}") from None
        if w is EMPTY:
            raise _EncodeError("an empty set cannot be stored inside a list", f"[{i}]")
        out.append(w)
    return {"L": out}


def encode(v: Any) -> Any:
    """Encode one Python value as a DynamoDB attribute value (``EMPTY`` for an empty set)."""
    t = type(v)
    if t is str:
        if not v.isascii() and _surrogate(v):
            raise _EncodeError(str(_surrogate(v)))
        return {"S": v}
    if t is int:
        text = str(v)
        return {"N": text if len(text) <= MAX_DIGITS else _check_digits(text)}
    if t is Decimal:
        return {"N": _decimal_text(v)}
    if t is bool:
        return {"BOOL": v}
    if t is float:
        return {"N": _float_text(v)}
    if v is None:
        return {"NULL": True}
    if t is dict:
        return _encode_map(v)
    if t is list or t is tuple:
        return _encode_list(v)
    if t is bytes:
        return {"B": v}
    if t is set or t is frozenset:
        return _encode_set(v)
    return _encode_other(v)


def _encode_other(v: Any) -> Any:
    if isinstance(v, enum.Enum):
        if isinstance(v, (str, int)) and not isinstance(v, bool):  # StrEnum, IntEnum and other mixins
            return encode(v.value)
        raise _EncodeError(f"{type(v).__name__} is an enum; store its .value or use a typed model field")
    if isinstance(v, bool):
        return {"BOOL": bool(v)}
    if isinstance(v, str):
        return encode(str(v))
    if isinstance(v, (int, float, Decimal)):
        return {"N": _number_text(v)}
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"B": bytes(v)}
    if isinstance(v, Mapping):
        return _encode_map(v)
    if isinstance(v, (list, tuple)):
        return _encode_list(v)
    if isinstance(v, (set, frozenset)):
        return _encode_set(v)
    raise _EncodeError(f"{type(v).__name__} cannot be stored; use str, numbers, bool, None, bytes, sets, "
                       "lists and dicts, or a typed model field")


def encode_value(v: Any, field: str = "value") -> WireValue:
    """Encode one value that must be stored (an empty set is an error here); errors name ``field``."""
    try:
        w = encode(v)
    except _EncodeError as e:
        raise InvalidInput(f"{printable(field)}{e.path}", e.reason) from None
    if w is EMPTY:
        raise InvalidInput(field, "an empty set cannot be stored")
    assert isinstance(w, dict)
    return w


def _check_name(name: Any) -> None:
    """An attribute name: a str of 1 to 65,535 UTF-8 bytes."""
    if not isinstance(name, str):
        raise InvalidInput("item", f"attribute names must be str, not {type(name).__name__} {name!r}")
    reason = _name_reason(name)
    if reason is not None:
        raise InvalidInput("item", f"attribute names {reason}")
    check_text(name, name)


MAX_NAME_BYTES = 65_535
"""DynamoDB's longest attribute name (and map key, at any depth), in UTF-8 bytes."""


def _name_reason(name: str) -> str | None:
    """Why DynamoDB would refuse ``name`` as an attribute name or map key, or None."""
    if not name:
        return "cannot be empty (DynamoDB refuses them)"
    if len(name) > MAX_NAME_BYTES // 4 and len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"are at most {MAX_NAME_BYTES:,} bytes, not {len(name.encode('utf-8', 'surrogatepass')):,}"
    return None


def encode_item(item: Mapping[str, Any]) -> WireItem:
    """Encode a whole item; attributes holding an empty set are omitted (DynamoDB cannot store them)."""
    out: WireItem = {}
    for k, v in item.items():
        if type(k) is not str or not k or not k.isascii() or len(k) > MAX_NAME_BYTES // 4:
            _check_name(k)
        t = type(v)  # the commonest cases inline; everything else through encode
        if t is str and v.isascii():
            out[k] = {"S": v}
            continue
        if t is int:
            text = str(v)
            if len(text) <= MAX_DIGITS:
                out[k] = {"N": text}
                continue
        try:
            w = encode(v)
        except _EncodeError as e:
            raise InvalidInput(f"{printable(k)}{e.path}", e.reason) from None
        if w is not EMPTY:
            out[k] = w
    return out


# ---------------------------------------------------------------------------------------------------------------
# decoding


def _b(v: Any) -> bytes:
    return b64decode(v) if type(v) is str else bytes(v)


def decode(w: Mapping[str, Any]) -> Any:
    """Decode one DynamoDB attribute value into Python."""
    # Membership tests in DynamoDB's own order of precedence; numbers inline (the common cases skip a call).
    if "S" in w:
        return w["S"]
    if "N" in w:
        v = w["N"]
        try:
            if "." not in v:
                return int(v)
            if v[-1] in _NONZERO_DIGITS and "e" not in v and "E" not in v:
                return Decimal(v)
        except (ValueError, TypeError):
            pass
        return _decode_number_slow(v)
    if "M" in w:
        return decode_item(w["M"])
    if "L" in w:
        return list(map(decode, w["L"]))
    if "BOOL" in w:
        return w["BOOL"]
    if "NULL" in w:
        return None
    return _decode_rare(w)


def _decode_rare(w: Mapping[str, Any]) -> Any:
    """Sets and binary, the tags ``decode`` tries last."""
    if "SS" in w:
        return set(w["SS"])
    if "NS" in w:
        return set(map(decode_number, w["NS"]))
    if "B" in w:
        return _b(w["B"])
    if "BS" in w:
        return set(map(_b, w["BS"]))
    raise InvalidInput("value", f"unknown DynamoDB attribute value {w!r}")


def decode_item(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Decode a whole item (a map of attribute values) into a plain dict."""
    # ``decode`` inlined for the common tags: this loop runs for every attribute of every item read.
    out: dict[str, Any] = {}
    for k, w in item.items():
        if "S" in w:
            out[k] = w["S"]
        elif "N" in w:
            v = w["N"]
            try:
                if "." not in v:
                    out[k] = int(v)
                    continue
                if v[-1] in _NONZERO_DIGITS and "e" not in v and "E" not in v:
                    out[k] = Decimal(v)
                    continue
            except (ValueError, TypeError):
                pass
            out[k] = _decode_number_slow(v)
        elif "M" in w:
            out[k] = decode_item(w["M"])
        elif "L" in w:
            out[k] = list(map(decode, w["L"]))
        elif "BOOL" in w:
            out[k] = w["BOOL"]
        elif "NULL" in w:
            out[k] = None
        else:
            out[k] = _decode_rare(w)
    return out


# ---------------------------------------------------------------------------------------------------------------
# size


def _number_size(text: str) -> int:
    """DynamoDB's size of a number: about one byte per two significant digits, plus one."""
    digits = text.lstrip("-").split("e")[0].split("E")[0].replace(".", "").strip("0")
    return (len(digits) + 1) // 2 + 1


def _value_size(w: Mapping[str, Any]) -> int:
    for tag, v in w.items():
        if tag == "S":
            return len(v.encode("utf-8"))
        if tag == "N":
            return _number_size(v)
        if tag == "B":
            return len(_b(v))
        if tag in ("BOOL", "NULL"):
            return 1
        if tag == "SS":
            return sum(len(x.encode("utf-8")) for x in v)
        if tag == "NS":
            return sum(map(_number_size, v))
        if tag == "BS":
            return sum(len(_b(x)) for x in v)
        if tag == "L":
            return 3 + sum(_value_size(x) + 1 for x in v)
        if tag == "M":
            return 3 + sum(len(k.encode("utf-8")) + _value_size(x) + 1 for k, x in v.items())
    return 0


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """The item's size as DynamoDB counts it (names plus values), in bytes."""
    return sum(len(k.encode("utf-8")) + _value_size(w) for k, w in item.items())


def _json_length(item: Mapping[str, Mapping[str, Any]]) -> int:
    """The length of the item as ASCII JSON (binary counted by its length): never less than ``item_size``, since
    each character of a name or string costs DynamoDB at most the bytes its JSON escape takes, a number at most its
    digits, and each list or map element at least its JSON's punctuation. The exact count is needed only near the
    limit."""
    try:
        return len(json.dumps(item, default=lambda b: "-" * len(b)))
    except (TypeError, ValueError):
        return MAX_ITEM_BYTES + 1  # not plain wire: count exactly


def check_item_size(item: Mapping[str, Mapping[str, Any]]) -> None:
    """Raise ``InvalidInput`` before sending an item over DynamoDB's 400 KB limit."""
    if _json_length(item) <= MAX_ITEM_BYTES:
        return
    size = item_size(item)
    if size > MAX_ITEM_BYTES:
        raise InvalidInput("item", f"is {size:,} bytes; DynamoDB items are limited to {MAX_ITEM_BYTES:,} bytes")


# ---------------------------------------------------------------------------------------------------------------
# comparing values as DynamoDB stores them


def is_empty_set(v: Any) -> bool:
    """True for an empty set (which DynamoDB cannot store)."""
    return isinstance(v, (set, frozenset)) and not v


def _canon(v: Any) -> Any:
    t = type(v)
    if t is str or v is None:
        return v
    if t is bool:
        return ("BOOL", v)
    if t is float:
        return Decimal(repr(v))
    if t is int or t is Decimal:
        return v
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    if isinstance(v, (set, frozenset)):
        return frozenset(_canon(x) for x in v)
    if isinstance(v, (list, tuple)):
        return [_canon(x) for x in v]
    if isinstance(v, Mapping):
        return {k: _canon(x) for k, x in v.items() if not is_empty_set(x)}
    return v


def same_stored(a: Any, b: Any) -> bool:
    """Whether two Python values are stored identically (``1.5 == Decimal("1.5")``, set order ignored)."""
    return bool(_canon(a) == _canon(b))


def key_identity(item: Mapping[str, Mapping[str, Any]], names: tuple[str, ...]) -> tuple[Any, ...]:
    """A hashable identity of an item's key: equal for keys DynamoDB stores alike (``5``, ``5.0`` and
    ``Decimal("5.00")``; binary as bytes or base64 text)."""
    return tuple(decode(item[n]) for n in names)
