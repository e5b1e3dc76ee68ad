"""A function's log as ``Function.logs()`` returns it: ``LogEvent`` lines (what its invocations printed, between
Lambda's START, END and REPORT lines) with the time each was written, and the checks of the window asked for."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from cloudorm import errors as ce


@attrs.frozen
class LogEvent:
    """One line of a function's log: when it was written (UTC), its text (without the line end) and the log
    stream it is in (one per execution environment)."""

    time: dt.datetime
    message: str
    stream: str | None = None


def log_window(since: Any, limit: Any, now: dt.datetime | None = None) -> tuple[dt.datetime | None, int | None]:
    """``since`` as an aware UTC datetime (a ``timedelta`` counts back from ``now``; a naive datetime is UTC) and
    ``limit`` as a positive int or None; ``InvalidInput`` naming the field otherwise."""
    if isinstance(since, dt.timedelta):
        if since < dt.timedelta(0):
            raise ce.InvalidInput("since", f"a timedelta counts back from now and must not be negative: {since}")
        since = (now or dt.datetime.now(dt.timezone.utc)) - since
    elif isinstance(since, dt.datetime):
        since = since.replace(tzinfo=dt.timezone.utc) if since.tzinfo is None else since.astimezone(dt.timezone.utc)
    elif since is not None:
        raise ce.InvalidInput("since", f"must be a datetime, a timedelta (back from now) or None, not {since!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ce.InvalidInput("limit", f"must be a positive int or None, not {limit!r}")
    return since, limit
