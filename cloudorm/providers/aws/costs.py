"""The billing service on AWS's Cost Explorer (GetCostAndUsage, grouped by service) through botocore; the local
cloud's moto answers it too (with no costs, unless results were preset through moto's API)."""

from __future__ import annotations

from datetime import date
from typing import Any

from botocore import exceptions as bx

from cloudorm.providers.aws.clients import ClientFactory
from cloudorm.providers.aws.errors import map_error
from cloudorm.providers.contract import Wire
from cloudorm.providers.contract.costs import CostInfo, CostService


class AwsCostService(CostService):
    """``CostService`` over botocore's Cost Explorer (``ce``) client."""

    def __init__(self, clients: ClientFactory, provider: str, secrets: tuple[str, ...] = ()) -> None:
        self._clients = clients
        self._provider = provider
        self._secrets = secrets

    def cost_and_usage(self, start: date, end: date, granularity: str, metric: str) -> list[CostInfo]:
        """GetCostAndUsage grouped by the SERVICE dimension, following NextPageToken."""
        client: Any = self._clients.client("ce")
        params: Wire = {"TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
                        "Granularity": granularity, "Metrics": [metric],
                        "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}]}
        out: list[CostInfo] = []
        while True:
            try:
                page = client.get_cost_and_usage(**params)
            except (bx.ClientError, bx.BotoCoreError) as e:
                raise map_error(e, self._provider, "GetCostAndUsage", self._secrets) from None
            for period in page.get("ResultsByTime") or []:
                span = period.get("TimePeriod") or {}
                for group in period.get("Groups") or []:
                    value = (group.get("Metrics") or {}).get(metric) or {}
                    out.append({"service": (group.get("Keys") or ["?"])[0], "start": span.get("Start", ""),
                                "end": span.get("End", ""), "amount": str(value.get("Amount", "0")),
                                "unit": str(value.get("Unit", "")), "estimated": bool(period.get("Estimated"))})
            token = page.get("NextPageToken")
            if not token:
                return out
            params["NextPageToken"] = token
