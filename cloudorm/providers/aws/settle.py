"""Sending a mutating request whose answer may be lost: botocore does not re-send it (``ClientFactory.no_resend``);
what the service has afterwards tells whether it was applied, and only a request that was not is sent again."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from botocore import exceptions as bx

from cloudorm.providers.aws.clients import may_have_applied

T = TypeVar("T")


def send_settled(send: Callable[[], T], look: Callable[[], T | None], *, attempts: int) -> T:
    """``send()`` a request registered with ``no_resend`` and return its answer. When no answer came
    (``may_have_applied``), ``look()`` at the service: a value means the request was applied (that value is the
    outcome), None that it was not, and it is sent again (``attempts`` sends in all). Once an answer was lost, an
    error the service gives a re-send ("already exists", "not found") is checked with ``look()`` too before it is
    raised. ``send`` raises botocore's exceptions; what ``look`` raises is raised as it is."""
    lost = False
    for attempt in range(1, attempts + 1):
        try:
            return send()
        except (bx.ClientError, bx.BotoCoreError) as e:
            ambiguous = may_have_applied(e)
            if not (ambiguous or (lost and isinstance(e, bx.ClientError))):
                raise
            found = look()
            if found is not None:
                return found
            if not ambiguous or attempt == attempts:
                raise
            lost = True
    raise AssertionError("unreachable")  # (the last attempt returns or raises)
