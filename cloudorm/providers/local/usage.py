"""Usage plans on the local gateway: the API key a request names, found among the stage's plans, its throttle
(a token bucket per key and plan) and its quota (requests per day, week or month, UTC), counted in the local cloud's
server for every client (the quotas are part of its ``--state``; throttles refill within seconds and are not kept).
Each key's use per day, what ``GetUsage`` reports, is ``usage_log.py``'s."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

from cloudorm.providers.local.routing import Plan, Routing


def find_key(routing: Routing, stage: str, value: str) -> tuple[Plan, str] | None:
    """The usage plan of ``stage`` holding the enabled key ``value``, and the key's id (None if none does)."""
    if not value:
        return None
    for plan in routing.plans.get(stage, ()):
        key_id = plan.keys.get(value)
        if key_id is not None:
            return plan, key_id
    return None


class Limits:
    """Throttles (token buckets: ``rate`` per second, ``burst`` at most) and quotas (requests per DAY, WEEK or
    MONTH, UTC) per usage plan and key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[tuple[Any, ...], tuple[float, float]] = {}
        self._quotas: dict[tuple[Any, ...], tuple[dt.datetime, int]] = {}

    def take_token(self, plan: Plan, key_id: str) -> bool:
        """Spend one token of the key's bucket; False when it is empty (throttled)."""
        if not plan.throttle:
            return True
        rate, burst = float(plan.throttle["rate"]), max(1.0, float(plan.throttle["burst"]))
        slot = (plan.id, key_id, rate, burst)
        now = time.monotonic()
        with self._lock:
            tokens, then = self._buckets.get(slot, (burst, now))
            tokens = min(burst, tokens + (now - then) * rate)
            if tokens < 1.0:
                self._buckets[slot] = (tokens, now)
                return False
            self._buckets[slot] = (tokens - 1.0, now)
        return True

    def count(self, plan: Plan, key_id: str, now: dt.datetime | None = None) -> bool:
        """Count one request against the key's quota; False when the period's limit is reached. The plan's
        ``offset`` is subtracted from the limit of the first period this gateway counts."""
        return self.charge(plan, key_id, now)[0]

    def charge(self, plan: Plan, key_id: str, now: dt.datetime | None = None) -> tuple[bool, int | None]:
        """``count``, with the quota left after the request (0 when refused; None: the plan has no quota)."""
        if not plan.quota:
            return True, None
        limit, period = int(plan.quota["limit"]), str(plan.quota["period"])
        start = period_start(period, now or dt.datetime.now(dt.timezone.utc))
        slot = (plan.id, key_id, limit, period)
        with self._lock:
            began, used = self._quotas.get(slot, (start, int(plan.quota.get("offset") or 0)))
            if began != start:
                began, used = start, 0
            if used >= limit:
                self._quotas[slot] = (began, used)
                return False, 0
            self._quotas[slot] = (began, used + 1)
        return True, max(0, limit - used - 1)

    def dump(self) -> dict[tuple[Any, ...], tuple[dt.datetime, int]]:
        """The quotas' counters (picklable): what a restart keeps."""
        with self._lock:
            return dict(self._quotas)

    def load(self, quotas: Any) -> None:
        """Take back the counters ``dump()`` gave."""
        with self._lock:
            self._quotas = dict(quotas or {})

    def reset(self) -> None:
        """Forget every throttle and quota."""
        with self._lock:
            self._buckets.clear()
            self._quotas.clear()


def period_start(period: str, now: dt.datetime) -> dt.datetime:
    """The start (UTC) of the quota period holding ``now``: the day, the week (from Monday) or the month."""
    day = now.astimezone(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "WEEK":
        return day - dt.timedelta(days=day.weekday())
    if period == "MONTH":
        return day.replace(day=1)
    return day

