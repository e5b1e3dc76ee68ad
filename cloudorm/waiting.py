"""Waiting for the cloud to reach a state: polling with capped backoff until a deadline."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from cloudorm.checks import check_seconds
from cloudorm.errors import Timeout

T = TypeVar("T")


def backoff(attempt: int, base: float = 0.05, cap: float = 2.0) -> float:
    """Seconds to sleep before retry ``attempt`` (0-based): capped exponential with full jitter."""
    return float(random.uniform(0, min(cap, base * (2 ** min(attempt, 20)))))


def wait_until(check: Callable[[], T | None], *, timeout: float, what: str,
               interval: float = 0.05, max_interval: float = 2.0) -> T:
    """Call ``check`` until it returns something other than None/False; ``Timeout`` naming ``what`` after
    ``timeout`` seconds (0: look once; a negative, infinite or NaN timeout is ``InvalidInput``)."""
    timeout = check_seconds("timeout", timeout, zero=True)
    deadline = time.monotonic() + timeout
    delay = interval
    while True:
        result = check()
        if result is not None and result is not False:
            return result
        now = time.monotonic()
        if now >= deadline:
            raise Timeout(f"{what} did not happen within {timeout:g} s")
        time.sleep(min(delay, max(0.0, deadline - now)))
        delay = min(delay * 1.6, max_interval)
