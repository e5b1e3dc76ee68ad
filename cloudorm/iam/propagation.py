"""Waiting out IAM's eventual consistency: a new role or key works everywhere only after a few seconds on AWS."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TypeVar

from cloudorm import errors as ce
from cloudorm.checks import check_seconds
from cloudorm.waiting import backoff

T = TypeVar("T")

PROPAGATION_CODES = frozenset({
    "AccessDenied", "AccessDeniedException",          # a policy attached a moment ago is not in force yet
    "InvalidClientTokenId", "UnrecognizedClientException", "InvalidAccessKeyId",  # a new key is not known yet
})
"""Error codes that, right after an IAM change, usually mean only that the change has not reached the service."""

PROPAGATION_MESSAGES = re.compile(
    r"cannot be assumed|role defined for the function|not authorized to perform: sts:AssumeRole"
    r"|instance profile|invalid principal|execution role", re.IGNORECASE)
"""``InvalidParameterValue`` messages that mean a new role is not usable yet (Lambda, EC2, trust policies)."""


def is_propagation_delay(error: BaseException) -> bool:
    """True if ``error`` is what services answer while a new role, key or policy is still propagating."""
    if not isinstance(error, ce.CloudError):
        return False
    if error.code in PROPAGATION_CODES:
        return True
    return isinstance(error, ce.InvalidInput) and bool(PROPAGATION_MESSAGES.search(error.message))


def pause(error: ce.CloudError, deadline: float, attempt: int, timeout: float, what: str) -> None:
    """Sleep before retry ``attempt`` of ``what`` (capped backoff); ``Timeout`` (its ``last_error`` the ``error``)
    once the ``deadline`` of ``timeout`` seconds has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        late = ce.Timeout(f"{what} still failed after {timeout:g} s of waiting for IAM changes to propagate: "
                          f"{error.message}", **error.provider_details())
        late.last_error = error
        raise late from error
    time.sleep(min(backoff(attempt, base=0.25, cap=4.0), left))


def until_propagated(fn: Callable[[], T], *, timeout: float = 60.0, what: str = "the request",
                     retry_if: Callable[[BaseException], bool] = is_propagation_delay) -> T:
    """Call ``fn`` until it stops failing with a propagation delay (``is_propagation_delay``) and return its
    result; any other error is raised at once. After ``timeout`` seconds raises ``Timeout``, whose ``last_error``
    (and ``__cause__``) is the last error ``fn`` raised. ``timeout=0`` tries once."""
    timeout = check_seconds("timeout", timeout, zero=True)
    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        try:
            return fn()
        except ce.CloudError as e:
            if not retry_if(e):
                raise
            pause(e, deadline, attempt, timeout, what)
            attempt += 1
