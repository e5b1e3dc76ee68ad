"""cloudorm's DynamoDB codec vs boto3's ``TypeSerializer``/``TypeDeserializer`` on the same mixed items.

Run: ``python benchmarks/codec.py`` (100,000 items) or ``python benchmarks/codec.py --quick``.

boto3 rejects ``float``, so boto3's input is the same items with every float turned into ``Decimal(repr(f))``;
cloudorm encodes the items as written (floats included). Decoding is timed on the same wire items for both (the
form botocore's parser produces, ``B`` as bytes); cloudorm's decoding of the raw JSON form (``B`` as base64 text,
what its Query/GetItem path actually decodes) is shown as an extra row. Per-attribute calls are how boto3's
resource layer uses its serializer, so that is what is timed for boto3. Targets: encode >= 2x, decode >= 3x.

A second table times items holding a single attribute of each kind, to show where the differences come from.
Exit status 1 when a full run misses a target.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

from _bench import best_of, environment, parser, ratio, table, verdict
from _data import floats_to_decimal, make_items, to_raw_json
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from cloudorm.nosql import codec

ENCODE_TARGET = 2.0
DECODE_TARGET = 3.0


def _sorted_sets(wire: Any) -> Any:
    if isinstance(wire, dict):
        return {k: sorted(x) if k in ("SS", "NS", "BS") else _sorted_sets(x) for k, x in wire.items()}
    if isinstance(wire, list):
        return [_sorted_sets(x) for x in wire]
    return wire


def check_equivalent(items: list[dict[str, Any]], boto_items: list[dict[str, Any]]) -> None:
    """Both codecs must produce the same wire form, and cloudorm must read back what it wrote."""
    ser = TypeSerializer()
    for item, boto_item in zip(items[:500], boto_items[:500], strict=True):
        ours = codec.encode_item(boto_item)
        theirs = {k: ser.serialize(v) for k, v in boto_item.items()}
        assert _sorted_sets(ours) == _sorted_sets(theirs), (ours, theirs)
        wire = codec.encode_item(item)
        assert codec.same_stored(codec.decode_item(wire), item)
        assert codec.same_stored(codec.decode_item(to_raw_json(wire)), item)


def run(n: int, repeat: int) -> list[list[Any]]:
    """Time every operation; returns the result rows."""
    gc.disable()  # building a few million objects with the collector on takes longer than the measurements
    items = make_items(n)
    boto_items = [floats_to_decimal(x) for x in items]
    check_equivalent(items, boto_items)  # so the wire items below are also exactly what boto3 would produce
    ser, deser = TypeSerializer(), TypeDeserializer()
    serialize, deserialize = ser.serialize, deser.deserialize
    encode_item, decode_item = codec.encode_item, codec.decode_item

    wire = [encode_item(x) for x in boto_items]
    raw = to_raw_json(wire)
    gc.collect()
    gc.freeze()  # the inputs live for the whole run: keep them out of every later collection
    gc.enable()

    def ours_encode() -> None:
        for x in items:
            encode_item(x)

    def ours_encode_decimal() -> None:
        for x in boto_items:
            encode_item(x)

    def boto_encode() -> None:
        for x in boto_items:
            {k: serialize(v) for k, v in x.items()}

    def ours_decode() -> None:
        for w in wire:
            decode_item(w)

    def ours_decode_raw() -> None:
        for w in raw:
            decode_item(w)

    def boto_decode() -> None:
        for w in wire:
            {k: deserialize(v) for k, v in w.items()}  # type: ignore[arg-type]

    timings: dict[str, float] = {}
    cases: dict[str, Callable[[], None]] = {
        "boto_encode": boto_encode, "ours_encode": ours_encode, "ours_encode_decimal": ours_encode_decimal,
        "boto_decode": boto_decode, "ours_decode": ours_decode, "ours_decode_raw": ours_decode_raw,
    }
    for name, fn in cases.items():
        timings[name] = best_of(fn, repeat)

    def row(label: str, ours: str, base: str, target: float | None) -> list[Any]:
        speedup = timings[base] / timings[ours]
        return [label, timings[ours] * 1e6 / n, timings[base] * 1e6 / n, ratio(timings[base], timings[ours]),
                verdict(speedup, target) if target else "-"]

    return [
        row("encode_item (floats as float)", "ours_encode", "boto_encode", ENCODE_TARGET),
        row("encode_item (floats as Decimal)", "ours_encode_decimal", "boto_encode", None),
        row("decode_item (parsed form, B bytes)", "ours_decode", "boto_decode", DECODE_TARGET),
        row("decode_item (raw JSON, B base64)", "ours_decode_raw", "boto_decode", None),
    ]


BY_TYPE = (("customer", "S"), ("quantity", "N, small int"), ("placed", "N, 13-digit int"),
           ("total", "N, Decimal (2 places)"), ("weight_kg", "N, float (1-5 places)"), ("gift", "BOOL"),
           ("coupon", "NULL"), ("thumbnail", "B"), ("tags", "SS"), ("warehouses", "NS"),
           ("address", "M (3 S + M of 2 floats)"), ("lines", "L of 1-3 M"))


def run_by_type(n: int, repeat: int) -> list[list[Any]]:
    """Encode and decode single-attribute items, one attribute of the generated items at a time."""
    items = make_items(n, seed=7)
    rows: list[list[Any]] = []
    for name, kind in BY_TYPE:
        values = [{name: x[name]} for x in items if name in x]
        ours_enc, boto_enc, ours_dec, boto_dec = _time_both(values, repeat)
        m = 1e9 / len(values)
        rows.append([name, kind, ours_enc * m, boto_enc * m, ratio(boto_enc, ours_enc),
                     ours_dec * m, boto_dec * m, ratio(boto_dec, ours_dec)])
    return rows


def _time_both(values: list[dict[str, Any]], repeat: int) -> tuple[float, float, float, float]:
    """Seconds to encode ``values`` with cloudorm and boto3, then to decode them with each."""
    ser, deser = TypeSerializer().serialize, TypeDeserializer().deserialize
    encode_item, decode_item = codec.encode_item, codec.decode_item
    boto_values = [floats_to_decimal(x) for x in values]
    wire = [encode_item(x) for x in boto_values]
    return (best_of(lambda: [encode_item(x) for x in values], repeat),
            best_of(lambda: [{k: ser(v) for k, v in x.items()} for x in boto_values], repeat),
            best_of(lambda: [decode_item(w) for w in wire], repeat),
            best_of(lambda: [{k: deser(v) for k, v in w.items()} for w in wire], repeat))  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table; exit status 1 if a target was missed (full runs only)."""
    p = parser(__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--items", type=int, default=None, help="number of items (default 100,000; 3,000 with --quick)")
    p.add_argument("--repeat", type=int, default=None, help="timed runs per case, best kept (default 3; 1 quick)")
    args = p.parse_args(argv)
    n = args.items or (3_000 if args.quick else 100_000)
    repeat = args.repeat or (1 if args.quick else 3)
    rows = run(n, repeat)
    print(f"codec: {n:,} mixed items, best of {repeat}, gc paused while timing; {environment()}")
    print(table(["operation", "cloudorm µs/item", "boto3 µs/item", "speedup", "target"], rows))
    print()
    by_type = run_by_type(max(n // 5, 1000), repeat)
    print("by attribute: items holding just that attribute (ns per item, including the per-item overhead)")
    print(table(["attribute", "type", "enc cloudorm", "enc boto3", "enc x", "dec cloudorm", "dec boto3", "dec x"],
                by_type))
    missed = [r for r in rows if str(r[-1]).startswith("MISSED")]
    return 1 if missed and not args.quick else 0


if __name__ == "__main__":
    raise SystemExit(main())
