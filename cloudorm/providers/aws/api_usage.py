"""API Gateway's usage data (``GetUsage``): the requests each key of a usage plan made per day, with the quota left,
read page by page into one ``UsageInfo`` (``ApiService.usage`` of ``AwsApiService``)."""

from __future__ import annotations

from datetime import date
from typing import Any, Protocol

from cloudorm import errors as ce
from cloudorm.providers.aws.unimplemented import lacking
from cloudorm.providers.contract.serverless import UsageInfo

PAGE_SIZE = 500
"""Keys per GetUsage page (API Gateway's largest ``limit``)."""


class _Sender(Protocol):
    provider: str

    def _call(self, operation: str, **params: Any) -> Any: ...


def _pair(entry: Any) -> tuple[int, int]:
    """One day's ``[used, remaining]`` as ints (a missing remaining as 0)."""
    values = list(entry or ())
    return int(values[0]) if values else 0, int(values[1]) if len(values) > 1 else 0


class UsageReads:
    """``ApiService.usage`` over botocore, mixed into ``AwsApiService`` (whose ``_call`` sends and maps errors)."""

    def usage(self: _Sender, plan_id: str, start: date, end: date, key_id: str | None = None) -> UsageInfo:
        """Every page of GetUsage for ``plan_id`` from ``start`` to ``end`` (``key_id``'s alone when given): per key,
        one ``(used, remaining)`` per day; ``Unsupported`` from an endpoint that does not serve GetUsage."""
        params: dict[str, Any] = {"usagePlanId": plan_id, "startDate": start.isoformat(),
                                  "endDate": end.isoformat(), "limit": PAGE_SIZE}
        if key_id is not None:
            params["keyId"] = key_id
        keys: dict[str, list[tuple[int, int]]] = {}
        seen: set[str] = set()
        while True:
            try:
                page = self._call("GetUsage", **params)
            except ce.NotFound as e:
                raise lacking(e, self.provider, "GetUsage") from None
            for key, days in (page.get("items") or {}).items():
                keys.setdefault(str(key), []).extend(_pair(day) for day in days or ())
            position = page.get("position")
            if not position or position in seen:  # (a position seen before would loop forever)
                break
            seen.add(position)
            params["position"] = position
        return {"plan_id": plan_id, "start": start, "end": end, "keys": keys}
