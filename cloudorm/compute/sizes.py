"""Choosing a node size by price: the largest size whose monthly price fits, from the provider's size list."""

from __future__ import annotations

from collections.abc import Iterable

from cloudorm.errors import InvalidInput
from cloudorm.providers.contract import SizeInfo


def _offered(size: SizeInfo, region: str | None) -> bool:
    regions = size.get("regions") or []
    return bool(size.get("available", True)) and (not regions or region is None or region in regions)


def size_for_price(sizes: Iterable[SizeInfo], price: float, region: str | None) -> str:
    """The slug of the largest size (most memory, then vCPUs, then price) available in ``region`` (a size listing
    no regions is offered everywhere) whose ``price_monthly`` is at most ``price``; ``InvalidInput`` naming the
    cheapest size when none fits."""
    offered = [s for s in sizes if _offered(s, region) and s.get("price_monthly") is not None]
    fitting = [s for s in offered if float(s["price_monthly"]) <= price]
    if not fitting:
        if not offered:
            raise InvalidInput("price_per_node", f"no size is offered in region {region!r}")
        cheapest = min(offered, key=lambda s: float(s["price_monthly"]))
        raise InvalidInput("price_per_node", f"no size costs at most {price:g} USD a month in region {region!r}; "
                                             f"the cheapest is {cheapest['slug']} at "
                                             f"{float(cheapest['price_monthly']):g} USD")
    best = max(fitting, key=lambda s: (s.get("memory_mb") or 0, s.get("vcpus") or 0, float(s["price_monthly"])))
    return str(best["slug"])
