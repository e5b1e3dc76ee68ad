"""Generated test data shared by the benchmarks: realistic, mixed-type, order-like items, the same on every run."""

from __future__ import annotations

import base64
import json
import random
import string
from decimal import Decimal
from typing import Any

_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo",
          "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform")
_CITIES = ("Lisbon", "Oslo", "Kraków", "Zürich", "São Paulo", "Osaka", "Nairobi", "Austin", "Montréal", "Perth")
_STATUSES = ("created", "paid", "packed", "shipped", "delivered", "returned")


def make_item(rng: random.Random, i: int) -> dict[str, Any]:
    """One realistic order-like item: 12-19 attributes of every DynamoDB type, two levels of nesting."""
    item: dict[str, Any] = {
        "customer": f"customer#{rng.randrange(50_000):06d}",
        "placed": 1_700_000_000_000 + i,
        "status": rng.choice(_STATUSES),
        "title": " ".join(rng.choice(_WORDS) for _ in range(rng.randrange(2, 7))),
        "total": Decimal(rng.randrange(100, 500_000)) / 100,
        "weight_kg": round(rng.uniform(0.05, 40.0), rng.randrange(1, 6)),
        "quantity": rng.randrange(1, 50),
        "gift": rng.random() < 0.2,
        "paid": rng.random() < 0.9,
        "coupon": None,
        "tags": {rng.choice(_WORDS) for _ in range(rng.randrange(1, 5))},
        "warehouses": {rng.randrange(1, 400) for _ in range(rng.randrange(1, 4))},
        "address": {
            "street": f"{rng.randrange(1, 999)} {rng.choice(_WORDS).title()} Street",
            "city": rng.choice(_CITIES),
            "zip": "".join(rng.choice(string.digits) for _ in range(5)),
            "geo": {"lat": rng.uniform(-90, 90), "lon": rng.uniform(-180, 180)},
        },
        "lines": [
            {"sku": f"SKU-{rng.randrange(10**6):06d}", "qty": rng.randrange(1, 5),
             "price": Decimal(rng.randrange(100, 20_000)) / 100, "options": [rng.choice(_WORDS), rng.random() < 0.5]}
            for _ in range(rng.randrange(1, 4))
        ],
    }
    if rng.random() < 0.5:
        item["thumbnail"] = rng.randbytes(rng.randrange(16, 96))
    if rng.random() < 0.3:
        item["note"] = "".join(rng.choice(string.ascii_letters + " ") for _ in range(rng.randrange(20, 120)))
    if rng.random() < 0.3:
        item["events"] = [{"at": 1_700_000_000 + rng.randrange(10**6), "what": rng.choice(_STATUSES)}
                          for _ in range(rng.randrange(1, 4))]
    if rng.random() < 0.2:
        item["ratio"] = rng.random()
    if rng.random() < 0.1:
        item["serial"] = rng.randrange(10**20, 10**30)
    return item


def make_items(n: int, seed: int = 42) -> list[dict[str, Any]]:
    """``n`` items, the same for every run."""
    rng = random.Random(seed)
    return [make_item(rng, i) for i in range(n)]


def floats_to_decimal(v: Any) -> Any:
    """The value with every float as ``Decimal(repr(f))`` (boto3's serializer rejects floats)."""
    if isinstance(v, float):
        return Decimal(repr(v))
    if isinstance(v, dict):
        return {k: floats_to_decimal(x) for k, x in v.items()}
    if isinstance(v, list):
        return [floats_to_decimal(x) for x in v]
    if isinstance(v, set):
        return {floats_to_decimal(x) for x in v}
    return v


def to_raw_json(wire: Any) -> Any:
    """Wire items as they arrive in a raw DynamoDB JSON body (binary as base64 text), freshly parsed."""
    return json.loads(json.dumps(wire, default=lambda b: base64.b64encode(b).decode()))
