"""The local gateway's daily log of every key's use: the requests counted per usage plan, key and UTC day, with the
quota left after the day's last one. It is what ``GetUsage`` reports (``usage_api.py``) and part of the gateway's
``--state``; days older than ``KEPT_DAYS`` are dropped as new ones are counted."""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from cloudorm.providers.local.usage import period_start

KEPT_DAYS = 400
"""Days of use kept per key (more than GetUsage's range of 90 days, reaching back over a year)."""

Day = tuple[int, int | None]
"""One day of a key's use: requests counted, and the quota left after the last one (None: the plan had none)."""


class UsageLog:
    """Requests counted per (plan id, key id) and UTC day; thread-safe, picklable state (``dump``/``load``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._days: dict[tuple[str, str], dict[dt.date, Day]] = {}

    def record(self, plan_id: str, key_id: str, day: dt.date, remaining: int | None) -> None:
        """Count one request of ``key_id`` in ``plan_id`` on ``day``, after which ``remaining`` requests of the quota
        are left (None: no quota)."""
        with self._lock:
            days = self._days.setdefault((plan_id, key_id), {})
            days[day] = (days.get(day, (0, None))[0] + 1, remaining)
            if len(days) > KEPT_DAYS:
                oldest = day - dt.timedelta(days=KEPT_DAYS)
                for old in [d for d in days if d < oldest]:
                    del days[old]

    def report(self, plan_id: str, quota: Mapping[str, Any] | None, key_ids: Iterable[str], start: dt.date,
               end: dt.date, today: dt.date) -> dict[str, list[list[int]]]:
        """Per key, one ``[used, remaining]`` per day from ``start`` to ``end`` (both included): the requests
        counted that day and the plan's ``quota`` left at its end (0 without a quota, as there is nothing left to
        count down). ``today`` (UTC) places the period the quota's offset applies to when a key has no use yet."""
        with self._lock:
            logs = {key: dict(self._days.get((plan_id, key), {})) for key in key_ids}
        span = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
        return {key: _daily(days, quota, span, today) for key, days in logs.items()}

    def forget(self, *, plan_id: str | None = None, key_id: str | None = None) -> None:
        """Drop the use of a deleted plan (every key's) or of a deleted key (in every plan)."""
        with self._lock:
            for slot in [s for s in self._days if s[0] == plan_id or s[1] == key_id]:
                del self._days[slot]

    def dump(self) -> dict[tuple[str, str], dict[dt.date, Day]]:
        """Every key's days (picklable): what a restart keeps."""
        with self._lock:
            return {slot: dict(days) for slot, days in self._days.items()}

    def load(self, state: Any) -> None:
        """Take back what ``dump()`` gave."""
        with self._lock:
            self._days = {slot: dict(days) for slot, days in dict(state or {}).items()}

    def reset(self) -> None:
        """Forget every key's use."""
        with self._lock:
            self._days.clear()


@functools.lru_cache(maxsize=4096)
def _period(period: str, day: dt.date) -> dt.date:
    """The first day of the quota period (``DAY``, ``WEEK`` or ``MONTH``) holding ``day``."""
    return period_start(period, dt.datetime.combine(day, dt.time(), dt.timezone.utc)).date()


def _daily(days: Mapping[dt.date, Day], quota: Mapping[str, Any] | None, span: list[dt.date],
           today: dt.date) -> list[list[int]]:
    """One key's ``[used, remaining]`` per day of ``span`` (consecutive days). ``remaining`` is what the gateway counted
    down to on the period's last day with use up to that day; with none, the limit less the period's use (less the
    offset in the first period the key was counted in, or the current one for a key never counted, as the gateway
    applies it); 0 without a quota."""
    if not quota:
        return [[days.get(d, (0, None))[0], 0] for d in span]
    limit, period, offset = int(quota["limit"]), str(quota["period"]), int(quota.get("offset") or 0)
    first = _period(period, min(days) if days else today)
    begins = _period(period, span[0])
    used, last = 0, None  # the period's use so far, and the quota left after its latest day with use
    for d in (begins + dt.timedelta(days=i) for i in range((span[0] - begins).days)):  # the period's days before
        if d in days:
            used, last = used + days[d][0], days[d][1]
    out: list[list[int]] = []
    for d in span:
        if _period(period, d) != begins:
            begins, used, last = _period(period, d), 0, None
        if d in days:
            used, last = used + days[d][0], days[d][1]
        base = limit - (offset if begins == first else 0)
        out.append([days.get(d, (0, None))[0], last if last is not None else max(0, base - used)])
    return out
