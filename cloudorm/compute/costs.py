"""Running cost: what the provider has billed for nodes so far, from each node's creation time, its size's price and
the provider's billing rule (``cluster.running_cost()``, ``node.running_cost()``; the Cloud package's
``Economics.RunningCost``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from cloudorm.core import Record
from cloudorm.errors import InvalidInput, Unsupported
from cloudorm.providers.contract.compute import BillingInfo, PriceInfo

PRECISION = Decimal("0.000001")
"""A node's cost is kept to a millionth of a dollar (rounded half up); the sum is not rounded further."""


def check_until(until: Any) -> datetime:
    """``until`` as an aware UTC datetime (None: now); a naive one is refused, since it names no moment."""
    if until is None:
        return datetime.now(timezone.utc)
    if not isinstance(until, datetime):
        raise InvalidInput("until", f"must be a datetime, not {type(until).__name__}")
    if until.tzinfo is None or until.utcoffset() is None:
        raise InvalidInput("until", "must be timezone-aware (e.g. datetime.now(timezone.utc)), not a naive datetime")
    return until.astimezone(timezone.utc)


def check_prices(prices: Any) -> dict[str, Decimal] | None:
    """None, or a mapping of size to a non-negative hourly USD price (Decimal, int, float or a number string)."""
    if prices is None:
        return None
    if not isinstance(prices, Mapping):
        raise InvalidInput("prices", f"must map sizes to hourly USD prices, not {type(prices).__name__}")
    out = {}
    for size, price in prices.items():
        if not isinstance(size, str) or not size:
            raise InvalidInput("prices", f"{size!r} is not a size")
        try:
            value = Decimal(str(price)) if isinstance(price, (Decimal, int, float, str)) and not isinstance(
                price, bool) else None
        except InvalidOperation:
            value = None
        if value is None or not value.is_finite() or value < 0:
            raise InvalidInput("prices", f"the hourly price of {size} must be a number of USD >= 0, not {price!r}")
        out[size] = value
    return out


def _decimal(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(repr(float(value)))


def _months(start: datetime, end: datetime) -> Iterable[timedelta]:
    """The time of [start, end) in each calendar month (UTC) it touches, oldest first."""
    while start < end:
        following = datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=timezone.utc)
        stop = min(end, following)
        yield stop - start
        start = stop


def billed(start: datetime, end: datetime, hourly: Decimal, monthly: Decimal | None, rule: BillingInfo) -> Decimal:
    """USD billed for one node running from ``start`` to ``end``: the time in each calendar month (UTC) counted in
    units of ``rule["billing_seconds"]`` (a started unit counts whole), at least ``minimum_seconds`` in all, at
    ``hourly`` USD an hour, each month at most ``monthly``."""
    start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    unit = timedelta(seconds=max(1, int(rule["billing_seconds"])))
    months = list(_months(start, end)) or [timedelta(0)]
    months[0] = max(months[0], timedelta(seconds=rule["minimum_seconds"]))  # (the minimum falls in the first month)
    total = Decimal(0)
    for spent in months:
        units = -(-spent // unit)  # (a started unit counts whole; exact, in microseconds)
        cost = Decimal(units * int(unit.total_seconds())) * hourly / Decimal(3600)
        total += cost if monthly is None else min(cost, monthly)
    return total.quantize(PRECISION, rounding=ROUND_HALF_UP)


def _created(record: Record) -> datetime | None:
    created = record.get("created")
    if not isinstance(created, datetime):
        return None
    return created.replace(tzinfo=timezone.utc) if created.tzinfo is None else created


def node_cost(record: Record, hourly: Decimal, monthly: Decimal | None, rule: BillingInfo,
              until: datetime) -> Decimal:
    """What one node (its record) has cost until ``until``: zero for a node gone, one whose creation time is not
    known, or one powered off where off nodes cost nothing (EC2, whose creation time is the last start)."""
    created = _created(record)
    status = record.get("status")
    if created is None or until <= created or status == "deleted" or (status == "off" and not rule["bills_off"]):
        return Decimal(0)  # (until <= created: the node did not exist yet)
    return billed(created, until, hourly, monthly, rule)


Rate = tuple[Decimal, "Decimal | None"]
"""A size's hourly price and monthly cap (None: no cap)."""


def rates(service: Any, sizes: Iterable[str], given: dict[str, Decimal] | None,
          price_per_node: float | None) -> dict[str, Rate]:
    """The rate of each size: a ``given`` hourly price (no cap) first, then the provider's (``node_prices``), then,
    where the provider has none (EC2), ``price_per_node`` (USD a month) spread over the billing's
    ``hours_per_month``; ``Unsupported`` saying what to give when nothing prices a size."""
    wanted = sorted(set(sizes))
    out: dict[str, Rate] = {s: (given[s], None) for s in wanted if given is not None and s in given}
    missing = [s for s in wanted if s not in out]
    if not missing:
        return out
    try:
        found: dict[str, PriceInfo] = service.node_prices(missing)
    except Unsupported:
        if price_per_node is None:
            raise Unsupported(service.provider_name, "running cost without prices",
                              "the provider publishes no prices: give running_cost(prices={size: USD an hour}) or "
                              "the cluster's price_per_node (USD a month)") from None
        rule: BillingInfo = service.billing()
        spread = Decimal(repr(float(price_per_node))) / Decimal(rule["hours_per_month"])
        return {**out, **dict.fromkeys(missing, (spread, None))}
    for size in missing:
        price = found.get(size)
        if price is None:
            raise InvalidInput("prices", f"{service.provider_name} gives no price for size {size!r}: give "
                                         "running_cost(prices={size: USD an hour})")
        out[size] = (_decimal(price["hourly"]) or Decimal(0), _decimal(price["monthly"]))
    return out


def running_cost(service: Any, records: Sequence[Record], until: datetime, prices: dict[str, Decimal] | None,
                 price_per_node: float | None = None) -> Decimal:
    """What the provider has billed for the nodes ``records`` describe until ``until`` (checked by ``check_until``;
    ``prices`` by ``check_prices``), in USD."""
    if not records:
        return Decimal(0)
    rule: BillingInfo = service.billing()
    sizes = [str(r.get("size")) for r in records]
    by_size = rates(service, sizes, prices, price_per_node)
    return sum((node_cost(r, *by_size[size], rule, until) for r, size in zip(records, sizes, strict=True)),
               Decimal(0))


__all__ = ["billed", "check_prices", "check_until", "node_cost", "rates", "running_cost"]
