"""Waits inside plans: retrying a call while a new IAM role propagates, and polling a record until it is ready.

They sleep between attempts (``time.sleep``, the synchronous driver's way; an asyncio driver would await a sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from cloudorm import errors as ce
from cloudorm.core import Plan, Record, call
from cloudorm.iam.propagation import is_propagation_delay, pause


def propagated(area: str, operation: str, *args: Any, timeout: float, what: str) -> Plan[Any]:
    """The plan of one call retried while it fails with a propagation delay (``is_propagation_delay``), for
    ``timeout`` seconds; then ``Timeout`` whose ``last_error`` is the last failure. ``timeout=0`` tries once."""
    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        try:
            return (yield from call(area, operation, *args))
        except ce.CloudError as e:
            if not is_propagation_delay(e):
                raise
            pause(e, deadline, attempt, timeout, what)
            attempt += 1


def polled(record: Record, fetch: Callable[[], Plan[Record]], done: Callable[[Record], bool], *, timeout: float,
           what: str, interval: float = 0.5, max_interval: float = 2.0) -> Plan[Record]:
    """``record``, else the first record ``fetch()`` returns that is ``done``; ``Timeout`` naming ``what`` after
    ``timeout`` seconds (0: look once more)."""
    deadline = time.monotonic() + timeout
    delay, looked = interval, False
    while not done(record):
        left = deadline - time.monotonic()
        if looked and left <= 0:
            raise ce.Timeout(f"{what} did not happen within {timeout:g} s")
        time.sleep(max(0.0, min(delay, left)))
        delay = min(delay * 1.6, max_interval)
        record, looked = (yield from fetch()), True
    return record
