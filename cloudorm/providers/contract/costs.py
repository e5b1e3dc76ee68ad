"""The billing contract: what an account spent, per service and period (AWS's Cost Explorer)."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, TypedDict

from cloudorm.providers.contract.service import Service


class CostInfo(TypedDict):
    """What one service cost (or used) in one period, as the provider answered it."""

    service: str
    start: str
    """The period's first day, ``YYYY-MM-DD``."""
    end: str
    """The day after the period, ``YYYY-MM-DD``."""
    amount: str
    """The amount as the provider wrote it (a decimal number)."""
    unit: str
    """``USD`` for costs, the usage unit for usage."""
    estimated: bool
    """True while the period is not closed (its numbers may still change)."""


class CostService(Service):
    """An account's costs: ``cost_and_usage`` per service and period. Reading costs changes nothing (on AWS each
    Cost Explorer request is billed, 0.01 USD)."""

    area: ClassVar[str] = "billing"
    core: ClassVar[frozenset[str]] = frozenset({"cost_and_usage"})

    def cost_and_usage(self, start: date, end: date, granularity: str, metric: str) -> list[CostInfo]:
        """``metric`` (``UnblendedCost``, ``UsageQuantity`` ...) per service for each ``DAILY`` or ``MONTHLY``
        period from ``start`` up to ``end`` (excluded), every page; a service with nothing in a period is left
        out."""
        raise self._unsupported("cost_and_usage")
