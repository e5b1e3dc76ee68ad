"""An Api's use per API key and day (API Gateway's usage data): ``api.usage(start, end)`` gives a ``KeyUsage`` per key
of the Api's usage plan, each with a ``DayUsage`` per UTC day (requests made, quota left); ``key.usage(start, end)``
one key's."""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

import attrs

from cloudorm import errors as ce
from cloudorm.core import Plan, call

if TYPE_CHECKING:
    from cloudorm.serverless.api import Api
    from cloudorm.serverless.keys import ApiKey

MAX_DAYS = 90
"""The most days one request reports (API Gateway's limit on a usage query's range)."""

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@attrs.frozen
class DayUsage:
    """One UTC day of one key's use."""

    day: dt.date
    used: int
    """Requests counted that day (those refused by the throttle or the quota are not)."""
    remaining: int | None
    """Requests of the quota left at the day's end (None: the plan has no quota)."""


@attrs.frozen
class KeyUsage:
    """One API key's use of an Api, day by day from the first day asked for."""

    key_id: str
    name: str | None
    """The key's name (None for a key no longer in the plan)."""
    days: tuple[DayUsage, ...]

    @property
    def used(self) -> int:
        """Requests over all the days."""
        return sum(d.used for d in self.days)


def check_day(field: str, value: Any) -> dt.date:
    """A UTC day: a ``date`` or ``"YYYY-MM-DD"`` (a ``datetime`` is refused: its day depends on its time zone)."""
    if isinstance(value, dt.datetime):
        raise ce.InvalidInput(field, f"must be a date (a UTC day) or 'YYYY-MM-DD', not the datetime {value!r}: give "
                                     "value.date() for the day you mean")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _DATE.match(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ce.InvalidInput(field, f"must be a date or 'YYYY-MM-DD', not {value!r}")


def check_window(start: Any, end: Any, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """``start`` and ``end`` (None: today, UTC) as days, ``end`` not before ``start`` and at most ``MAX_DAYS`` days in
    all (both included)."""
    first = check_day("start", start)
    last = check_day("end", end) if end is not None else (today or dt.datetime.now(dt.timezone.utc).date())
    if last < first:
        raise ce.InvalidInput("end", f"{last} is before start ({first})")
    if (last - first).days >= MAX_DAYS:
        raise ce.InvalidInput("end", f"{first} to {last} is {(last - first).days + 1} days; one request reports at "
                                     f"most {MAX_DAYS} (API Gateway's limit): ask for several windows")
    return first, last


def read_usage(api: Api, start: dt.date, end: dt.date, key: ApiKey | str | None) -> Plan[list[KeyUsage]]:
    """The use of the keys of ``api``'s usage plan (of ``key`` alone, an ApiKey or a key's name, when given), sorted
    by key name; ``[]`` for an Api without a plan, ``NotFound`` for a key that is not in it."""
    api_id = yield from api._co_id()
    plan = yield from api._co_plan(api_id)
    if plan is None:
        if key is not None:
            raise ce.NotFound(f"api {api.name!r} has no usage plan on stage {api.stage!r}, so no key {_named(key)!r}")
        return []
    listed = yield from call("api_gateway", "plan_keys", plan["id"])
    names: dict[str, str | None] = {k["id"]: k.get("name") for k in listed}
    key_id = None
    if key is not None:
        wanted = key if isinstance(key, str) else key.name
        known = None if isinstance(key, str) else key.id
        found = [i for i, n in names.items() if (i == known if known else n == wanted)]
        if not found:
            raise ce.NotFound(f"api {api.name!r} has no key named {wanted!r} in its usage plan")
        if len(found) > 1:
            raise ce.ConflictError(f"{len(found)} keys named {wanted!r} are in the usage plan of api {api.name!r} "
                                   f"({', '.join(found)}): delete the extra ones")
        key_id = found[0]
    answer = yield from call("api_gateway", "usage", plan["id"], start, end, key_id)
    quota, span = plan["quota"], (end - start).days + 1
    found_usage = [KeyUsage(kid, names.get(kid), tuple(
        DayUsage(start + dt.timedelta(days=i), int(used), None if quota is None else int(remaining))
        for i, (used, remaining) in enumerate(pairs[:span]))) for kid, pairs in answer["keys"].items()]
    return sorted(found_usage, key=lambda u: (u.name or "", u.key_id))


def _named(key: ApiKey | str) -> str:
    return key if isinstance(key, str) else key.name
