"""What the account spent (the Cloud package's ``AWS.CostExplorer``): ``s.costs(start, end)`` gives one row per
service and period, the amount a ``Decimal``, from the provider's billing service (AWS's Cost Explorer)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Protocol

import attrs

from cloudorm.errors import CloudError, InvalidInput

if TYPE_CHECKING:
    from cloudorm.providers.contract.costs import CostInfo, CostService

GRANULARITIES = ("DAILY", "MONTHLY")
"""The periods costs are split into."""

METRICS = ("UnblendedCost", "BlendedCost", "AmortizedCost", "NetUnblendedCost", "NetAmortizedCost",
           "UsageQuantity", "NormalizedUsageAmount")
"""What can be summed: costs as billed (``UnblendedCost``, the default), blended across an organisation,
amortized (upfront fees spread), net of discounts, or usage."""


class HasBilling(Protocol):
    """A session with a billing service."""

    @property
    def billing(self) -> CostService:
        """The provider's billing service."""


@attrs.frozen
class Cost:
    """What one service cost (or used) in one period: ``start`` up to ``end`` (excluded), ``amount`` in ``unit``;
    ``estimated`` while the period is open."""

    service: str
    start: dt.date
    end: dt.date
    amount: Decimal
    unit: str
    estimated: bool


def _day(value: object, field: str) -> dt.date:
    if isinstance(value, dt.datetime):
        raise InvalidInput(field, f"give a date (or 'YYYY-MM-DD'), not a datetime: {value!r}")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidInput(field, f"must be a date or 'YYYY-MM-DD', not {value!r}")


def _cost(info: CostInfo) -> Cost:
    try:
        return Cost(info["service"], dt.date.fromisoformat(info["start"]), dt.date.fromisoformat(info["end"]),
                    Decimal(info["amount"]), info["unit"], info["estimated"])
    except (ValueError, InvalidOperation) as e:
        raise CloudError(f"the provider answered a cost cloudorm cannot read: {info!r} ({e})") from None


def costs(session: HasBilling, start: dt.date | str, end: dt.date | str, granularity: str = "MONTHLY",
          metric: str = "UnblendedCost") -> list[Cost]:
    """Cost (or usage) per service for each month (``granularity="DAILY"``: day) from ``start`` up to ``end``
    (excluded), oldest period first: ``s.costs("2025-01-01", "2025-04-01")``. Bad dates, granularity or metric
    are ``InvalidInput`` before any request; a provider without billing data raises ``Unsupported``."""
    first, after = _day(start, "start"), _day(end, "end")
    if after <= first:
        raise InvalidInput("end", f"must be after start ({first.isoformat()}), not {after.isoformat()}: the end "
                                  "day is excluded")
    if granularity not in GRANULARITIES:
        raise InvalidInput("granularity", f"must be one of {', '.join(GRANULARITIES)}, not {granularity!r}")
    if metric not in METRICS:
        raise InvalidInput("metric", f"must be one of {', '.join(METRICS)}, not {metric!r}")
    rows = [_cost(info) for info in session.billing.cost_and_usage(first, after, granularity, metric)]
    return sorted(rows, key=lambda c: (c.start, c.service))
