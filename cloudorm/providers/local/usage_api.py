"""API Gateway's ``GetUsage`` (``GET /usageplans/{id}/usage``), answered by the local cloud's server for every client
(cloudorm, boto3, the AWS CLI) from the gateway's daily log (``usage_log.py``); moto does not serve it.

As API Gateway: ``startDate`` and ``endDate`` (``YYYY-MM-DD``, UTC days, both included, at most 90 days) are required;
``values`` holds, for each key of the plan (the one ``keyId`` names), one ``[used, remaining]`` pair per day, days
without requests included; keys are paged by ``limit`` (default 25, at most 500) and ``position``. Refusals:
400 ``BadRequestException`` (dates, range, limit, position), 404 ``NotFoundException`` (no such plan in the request's
account and region; a key that is not in the plan).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any
from urllib.parse import parse_qs

from cloudorm.providers.local.guard import request_account, signing_region
from cloudorm.providers.local.invocations import DEFAULT_REGION
from cloudorm.providers.local.usage_log import UsageLog

USAGE_PATH = re.compile(r"^/usageplans/(?P<plan>[^/]+)/usage/?$")
"""GetUsage's path."""

MAX_RANGE_DAYS = 90
"""The most days one GetUsage reports (API Gateway's limit)."""

DEFAULT_LIMIT, MAX_LIMIT = 25, 500
"""Keys per page unless ``limit`` says, and the largest ``limit`` (API Gateway's)."""

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class UsageRefused(Exception):
    """A GetUsage refused as API Gateway refuses it: the HTTP status, the message and the error type."""

    def __init__(self, status: int, message: str, error_type: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type


def _bad(message: str) -> UsageRefused:
    return UsageRefused(400, message, "BadRequestException")


def _date(query: dict[str, list[str]], name: str) -> dt.date:
    value = (query.get(name) or [""])[-1]
    if not value:
        raise _bad(f"{name} is required")
    try:
        if not _DATE.match(value):
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _bad(f"Invalid {name}: {value!r} is not a date such as 2016-01-31") from None


def _limit(query: dict[str, list[str]]) -> int:
    value = (query.get("limit") or [""])[-1]
    if not value:
        return DEFAULT_LIMIT
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise _bad(f"Invalid limit: {value!r} (1 to {MAX_LIMIT})")
    return int(value)


def _plan(environ: dict[str, Any], plan_id: str) -> tuple[dict[str, Any] | None, list[str]]:
    """The plan's quota and its keys' ids (sorted), read from moto in the request's account and region;
    ``UsageRefused`` (404) when that account and region have no such plan."""
    from moto.apigateway.models import apigateway_backends

    regions = dict.get(apigateway_backends, request_account(environ))  # dict's own: looking creates no backend
    backend = dict.get(regions, signing_region(environ) or DEFAULT_REGION) if regions is not None else None
    plan = backend.usage_plans.get(plan_id) if backend is not None else None
    if backend is None or plan is None:
        raise UsageRefused(404, "Invalid Usage Plan ID specified", "NotFoundException")
    return dict(plan.quota or {}) or None, sorted(dict(backend.usage_plan_keys.get(plan_id) or {}))


def usage_answer(log: UsageLog, environ: dict[str, Any], today: dt.date | None = None) -> bytes:
    """The JSON body of the answer to the GetUsage request ``environ`` (``UsageRefused`` when it is refused)."""
    found = USAGE_PATH.match(str(environ.get("PATH_INFO") or ""))
    assert found is not None  # (routed here by its path)
    plan_id = found["plan"]
    query = parse_qs(str(environ.get("QUERY_STRING") or ""), keep_blank_values=True)
    start, end = _date(query, "startDate"), _date(query, "endDate")
    if end < start:
        raise _bad(f"The end date {end} is before the start date {start}")
    if (end - start).days >= MAX_RANGE_DAYS:
        raise _bad(f"The usage date range cannot exceed {MAX_RANGE_DAYS} days ({start} to {end})")
    limit = _limit(query)
    quota, keys = _plan(environ, plan_id)
    key_id = (query.get("keyId") or [""])[-1]
    if key_id:
        if key_id not in keys:
            raise UsageRefused(404, "Invalid Key identifier specified", "NotFoundException")
        keys = [key_id]
    position = (query.get("position") or [""])[-1]
    first = 0
    if position:
        if position not in keys:
            raise _bad(f"Invalid position: {position!r}")
        first = keys.index(position)
    page = keys[first:first + limit]
    body: dict[str, Any] = {"usagePlanId": plan_id, "startDate": start.isoformat(), "endDate": end.isoformat(),
                            "values": log.report(plan_id, quota, page, start, end,
                                                 today or dt.datetime.now(dt.timezone.utc).date())}
    if first + limit < len(keys):
        body["position"] = keys[first + limit]
    return json.dumps(body).encode()
