"""What the account spent (``s.costs``, the Cloud package's ``AWS.CostExplorer``): Cost Explorer on the local cloud
(moto: no bills, so no rows unless results are preset through moto's API) and through the aws provider against a
moto server; refused input and providers without billing."""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
import uuid
from decimal import Decimal
from typing import Any

import pytest

import cloudorm
from cloudorm.costs import Cost
from cloudorm.errors import Unsupported
from tests.conftest import assert_refused_before_any_request


def _preset(url: str, *results: dict[str, Any]) -> None:
    """Queue Cost Explorer answers in moto (its ``/moto-api/static/ce/cost-and-usage-results``): each is given to
    the next GetCostAndUsage with parameters not asked before."""
    body = json.dumps({"results": list(results)}).encode()
    request = urllib.request.Request(f"{url}/moto-api/static/ce/cost-and-usage-results", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 201


def _group(service: str, amount: str, metric: str = "UnblendedCost") -> dict[str, Any]:
    return {"Keys": [service], "Metrics": {metric: {"Amount": amount, "Unit": "USD"}}}


def test_the_local_cloud_has_no_bills(session: cloudorm.Session) -> None:
    with session.count_requests() as c:
        assert session.costs(_fresh_month(), dt.date(2100, 1, 1)) == []
    assert dict(c.by_operation) == {"cost-explorer.GetCostAndUsage": 1}


def _fresh_month() -> dt.date:
    """A first of a month no other call asked about: moto keeps a preset answer for the parameters that took it,
    and a preset left unused would go to the next new question."""
    n = uuid.uuid4().int % 1200
    return dt.date(1900 + n // 12, 1 + n % 12, 1)


def _next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def test_rows_per_service_and_period_from_cost_explorer(session: cloudorm.Session) -> None:
    s = session
    assert s.endpoint_url is not None
    first = _fresh_month()
    second = _next_month(first)
    third = _next_month(second)
    _preset(s.endpoint_url, {"ResultsByTime": [
        {"TimePeriod": {"Start": str(second), "End": str(third)}, "Total": {}, "Estimated": True,
         "Groups": [_group("Amazon DynamoDB", "0.4200000001"), _group("AWS Lambda", "0")]},
        {"TimePeriod": {"Start": str(first), "End": str(second)}, "Total": {}, "Estimated": False,
         "Groups": [_group("Amazon Simple Storage Service", "12.5")]},
        {"TimePeriod": {"Start": str(third), "End": str(third + dt.timedelta(days=1))}, "Total": {},
         "Estimated": True, "Groups": []},
    ]})
    rows = s.costs(first, str(third + dt.timedelta(days=1)))
    assert rows == [
        Cost("Amazon Simple Storage Service", first, second, Decimal("12.5"), "USD", False),
        Cost("AWS Lambda", second, third, Decimal("0"), "USD", True),
        Cost("Amazon DynamoDB", second, third, Decimal("0.4200000001"), "USD", True),
    ]
    assert isinstance(rows[2].amount, Decimal)
    day = _fresh_month()
    _preset(s.endpoint_url, {"ResultsByTime": [
        {"TimePeriod": {"Start": str(day), "End": str(day + dt.timedelta(days=1))}, "Total": {}, "Estimated": False,
         "Groups": [{"Keys": ["Amazon EC2"], "Metrics": {"UsageQuantity": {"Amount": "3", "Unit": "Hrs"}}}]}]})
    usage = s.costs(day, day + dt.timedelta(days=1), granularity="DAILY", metric="UsageQuantity")
    assert [(u.service, u.amount, u.unit) for u in usage] == [("Amazon EC2", Decimal("3"), "Hrs")]


def test_bad_dates_granularity_and_metric_are_refused_before_any_request(session: cloudorm.Session) -> None:
    s = session
    assert_refused_before_any_request(s, [
        (lambda: s.costs("2024-02-01", "2024-01-01"), "end"),
        (lambda: s.costs("2024-01-01", "2024-01-01"), "end"),
        (lambda: s.costs("January", "2024-02-01"), "start"),
        (lambda: s.costs(dt.datetime(2024, 1, 1), "2024-02-01"), "start"),  # type: ignore[arg-type]
        (lambda: s.costs("2024-01-01", 20240201), "end"),  # type: ignore[arg-type]
        (lambda: s.costs("2024-01-01", "2024-02-01", granularity="YEARLY"), "granularity"),
        (lambda: s.costs("2024-01-01", "2024-02-01", metric="Money"), "metric"),
    ])


@pytest.mark.parametrize("provider", ["wasabi", "memory"])
def test_providers_without_billing_say_so_before_any_request(provider: str) -> None:
    from cloudorm.providers.memory import MemoryProvider

    s = cloudorm.Session(MemoryProvider()) if provider == "memory" else cloudorm.Session(
        "wasabi", creds={"aws_access_key_id": "WASABIKEY00000000001", "aws_secret_access_key": "never-shown"})
    with s.count_requests() as c, pytest.raises(Unsupported) as e:
        s.costs("2024-01-01", "2024-02-01")
    assert e.value.area == "billing" and e.value.provider == provider and c.total == 0
