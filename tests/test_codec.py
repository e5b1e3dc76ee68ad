"""The codec: Python ⇄ DynamoDB JSON, exact numbers, empty sets, limits, and round-trip properties."""

from __future__ import annotations

import base64
import datetime as dt
import enum
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudorm.errors import InvalidInput
from cloudorm.nosql import codec


def test_scalars() -> None:
    assert codec.encode("x") == {"S": "x"}
    assert codec.encode(5) == {"N": "5"}
    assert codec.encode(-5) == {"N": "-5"}
    assert codec.encode(2.45) == {"N": "2.45"}  # floats are stored by their shortest repr
    assert codec.encode(0.1) == {"N": "0.1"}
    assert codec.encode(Decimal("1.50")) == {"N": "1.50"}
    assert codec.encode(True) == {"BOOL": True}
    assert codec.encode(None) == {"NULL": True}
    assert codec.encode(b"ab") == {"B": b"ab"}
    assert codec.encode(bytearray(b"ab")) == {"B": b"ab"}


def test_collections() -> None:
    assert codec.encode([1, "a"]) == {"L": [{"N": "1"}, {"S": "a"}]}
    assert codec.encode((1,)) == {"L": [{"N": "1"}]}
    assert codec.encode({"a": {"b": None}}) == {"M": {"a": {"M": {"b": {"NULL": True}}}}}
    assert sorted(codec.encode({"x", "y"})["SS"]) == ["x", "y"]
    assert sorted(codec.encode({1, Decimal("2.5")})["NS"]) == ["1", "2.5"]
    assert codec.encode(frozenset({b"a"})) == {"BS": [b"a"]}


def test_empty_sets_are_never_sent() -> None:
    assert codec.encode_item({"a": 1, "s": set(), "m": {"inner": set(), "k": 1}}) == {
        "a": {"N": "1"}, "m": {"M": {"k": {"N": "1"}}}}
    with pytest.raises(InvalidInput) as e:
        codec.encode_item({"l": [set()]})
    assert e.value.field == "l[0]"
    with pytest.raises(InvalidInput):
        codec.encode_value(set(), "tags")


@pytest.mark.parametrize(("value", "field", "reason"), [
    ({"x": float("nan")}, "x", "finite"),
    ({"x": float("inf")}, "x", "finite"),
    ({"x": Decimal("Infinity")}, "x", "finite"),
    ({"x": Decimal("NaN")}, "x", "finite"),
    ({"x": 10 ** 39 + 1}, "x", "38"),
    ({"x": Decimal("0." + "1" * 39)}, "x", "38"),
    ({"x": Decimal("1E+126")}, "x", "range"),
    ({"x": Decimal("1E-131")}, "x", "range"),
    ({"x": 1e300}, "x", "range"),
    ({"x": {"a", 1}}, "x", "only"),
    ({"x": {1.5, "a"}}, "x", "only"),
    ({"x": {None}}, "x", "set of NoneType"),
    ({"x": dt.datetime(2024, 1, 1)}, "x", "datetime"),
    ({"m": {"deep": [{"k": object()}]}}, "m.deep[0].k", "object"),
    ({"m": {1: "int key"}}, "m[1]", "map keys"),
])
def test_bad_values_name_the_field(value: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as e:
        codec.encode_item(value)
    assert e.value.field == field
    assert reason in e.value.reason


def test_enums_explain_what_to_do() -> None:
    class Color(enum.Enum):
        RED = "red"

    with pytest.raises(InvalidInput, match="value"):
        codec.encode_item({"c": Color.RED})


def test_large_but_valid_numbers() -> None:
    assert codec.encode(10 ** 40) == {"N": str(10 ** 40)}  # one significant digit
    assert codec.encode(Decimal("9.9E+125")) == {"N": "9.9E+125"}
    assert codec.encode(int("9" * 38)) == {"N": "9" * 38}


def test_numbers_decode_to_int_or_exact_decimal() -> None:
    assert codec.decode({"N": "5"}) == 5 and type(codec.decode({"N": "5"})) is int
    assert codec.decode({"N": "1E+2"}) == 100 and type(codec.decode({"N": "1E+2"})) is int
    assert codec.decode({"N": "2.50"}) == Decimal("2.50")
    assert codec.decode({"N": "0.1"}) == Decimal("0.1")
    assert codec.decode_item({"a": {"N": "-3"}, "b": {"N": "1.25"}}) == {"a": -3, "b": Decimal("1.25")}


def test_raw_json_binary_is_base64() -> None:
    raw = {"b": {"B": base64.b64encode(b"\x00\x01").decode()}, "bs": {"BS": [base64.b64encode(b"z").decode()]}}
    assert codec.decode_item(raw) == {"b": b"\x00\x01", "bs": {b"z"}}


def test_item_size() -> None:
    assert codec.item_size(codec.encode_item({"ab": "xyz"})) == 5
    codec.check_item_size(codec.encode_item({"a": "x" * 400_000}))
    with pytest.raises(InvalidInput, match="limited"):
        codec.check_item_size(codec.encode_item({"a": "x" * 409_600}))


def test_same_stored() -> None:
    assert codec.same_stored(1.5, Decimal("1.5"))
    assert codec.same_stored(0.1, Decimal("0.1"))
    assert codec.same_stored([{"s": {"a", "b"}}], ({"s": {"b", "a"}},))
    assert codec.same_stored({"a": 1, "e": set()}, {"a": 1})
    assert not codec.same_stored(True, 1)
    assert not codec.same_stored("1", 1)


# ---------------------------------------------------------------------------------------------- properties

numbers = st.one_of(
    st.integers(min_value=-(10 ** 38) + 1, max_value=10 ** 38 - 1),
    st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
        lambda d: len(d.as_tuple().digits) <= 38 and (d == 0 or -130 <= d.adjusted() <= 125)),
)
scalars = st.one_of(st.text(), numbers, st.booleans(), st.none(), st.binary())
sets = st.one_of(st.frozensets(st.text(), min_size=1), st.frozensets(st.integers(-10**20, 10**20), min_size=1),
                 st.frozensets(st.binary(), min_size=1))
values = st.recursive(
    st.one_of(scalars, sets),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(min_size=1), children, max_size=4)),  # (no empty map keys)
    max_leaves=20,
)


def _normal(v: Any) -> Any:
    """What a value reads back as: sets as set, numbers by value."""
    if isinstance(v, frozenset):
        return set(v)
    if isinstance(v, list):
        return [_normal(x) for x in v]
    if isinstance(v, dict):
        return {k: _normal(x) for k, x in v.items()}
    return v


def _as_raw_json(w: Any) -> Any:
    """The same value as it travels in a raw JSON body (binary as base64 text)."""
    def default(o: Any) -> Any:
        if isinstance(o, bytes):
            return base64.b64encode(o).decode()
        raise TypeError(o)
    return json.loads(json.dumps(w, default=default))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(min_size=1), values, max_size=6))
def test_decode_encode_roundtrip(item: dict[str, Any]) -> None:
    wire = codec.encode_item(item)
    assert codec.decode_item(wire) == _normal(item)
    assert codec.decode_item(_as_raw_json(wire)) == _normal(item)


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f == 0 or 1e-130 < abs(f) < 9e125))
def test_floats_are_stored_exactly_by_shortest_repr(x: float) -> None:
    back = codec.decode(codec.encode(x))
    assert float(back) == x
    assert codec.same_stored(x, back)


def test_number_sets_hold_each_number_once() -> None:
    wire = codec.encode({0.1, Decimal("0.10"), 2})
    assert sorted(Decimal(x) for x in wire["NS"]) == [Decimal("0.1"), 2]


def test_numbers_are_sized_by_significant_digits() -> None:
    big = codec.encode_item({"n": {i * 10 ** 90 for i in range(1, 9001)}})
    codec.check_item_size(big)  # DynamoDB stores these in a few bytes each
    assert codec.item_size(codec.encode_item({"n": 12345})) == 1 + 4


def test_the_quick_size_bound_never_undercounts() -> None:
    """``check_item_size`` skips the exact count when the item's JSON length is within the limit: that length is
    never below DynamoDB's size, whatever the text (escapes, accents, astral characters), numbers or binary."""
    import random

    rnd = random.Random(5)
    chars = ["a", "é", "€", "\U0001f600", "\x00", '"', "\\", "\n", "中"]
    for _ in range(500):
        text = "".join(rnd.choice(chars) for _ in range(rnd.randint(0, 40)))
        name = "".join(rnd.choice(chars) for _ in range(rnd.randint(1, 4)))
        wire = codec.encode_item({"k": text, name: {"\U0001f600": [1, "é", b"\x00\xff", {"n": -12345.678}],
                                                    "s": {text or "x", "y"}, "ns": {1, 2.5}},
                                  "b": bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 30)))})
        assert codec._json_length(wire) >= codec.item_size(wire)
    near = codec.encode_item({"k": "é" * 204_799})  # 409,599 bytes: the bound (1.2 MB) is over, the count is exact
    codec.check_item_size(near)
    with pytest.raises(InvalidInput, match="409,601 bytes"):
        codec.check_item_size(codec.encode_item({"k": "é" * 204_800}))
