"""``cloudorm logs NAME``: print a function's log from a running local cloud (CloudWatch Logs'
``/aws/lambda/NAME``), as ``aws logs tail`` does; ``--follow`` keeps printing new lines."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import time
from typing import Any

from cloudorm.cli.endpoint import add_options, session
from cloudorm.errors import NotFound
from cloudorm.serverless.logs import LogEvent

FOLLOW_SECONDS = 1.0
"""How often ``--follow`` asks for new lines."""
LATE_SECONDS = 60.0
"""How long after it was printed a line may still arrive (its invocation ran on): ``--follow`` reads that far back."""

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def add(commands: Any) -> None:
    """Register ``cloudorm logs``."""
    p = commands.add_parser("logs", help="print a function's log (what its invocations printed)")
    p.add_argument("name", metavar="NAME", help="the function's name")
    p.add_argument("--since", type=since, default=None, metavar="WHEN",
                   help="only lines written since WHEN: a duration back from now (30s, 10m, 2h, 1d, 1w) or an ISO "
                        "date and time (UTC unless it says otherwise)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="only the last N lines")
    p.add_argument("--follow", action="store_true", help="keep printing new lines until Ctrl-C")
    p.add_argument("--json", action="store_true", help="one JSON object per line (time, stream, message)")
    add_options(p)
    p.add_argument("--region", default=None, help="the function's region (default: the session's)")
    p.set_defaults(run=run)


def since(text: str) -> dt.datetime | dt.timedelta:
    """argparse's type of ``--since``: a duration (``10m``) or an ISO date and time."""
    found = _DURATION.match(text.strip())
    if found:
        return dt.timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})
    try:
        return dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a duration (30s, 10m, 2h, 1d, 1w) nor an ISO date "
                                         "and time") from None


def line(event: LogEvent, as_json: bool) -> str:
    """How one log line is printed: ``TIME STREAM MESSAGE`` (as ``aws logs tail``) or a JSON object."""
    stamp = event.time.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if as_json:
        return json.dumps({"time": stamp, "stream": event.stream, "message": event.message})
    return f"{stamp} {event.stream or '-'} {event.message}"


def run(args: argparse.Namespace) -> int:
    """Print the function's log (then, with ``--follow``, new lines as they come)."""
    s = session(args)
    fn = s.Function(args.name)
    started = dt.datetime.now(dt.timezone.utc)  # a --since duration counts back from here, once
    since = started - args.since if isinstance(args.since, dt.timedelta) else args.since
    events = fn.logs(since=since, limit=args.limit)
    if not events and not fn.exists():  # a function's log is empty before its first run: say which it is
        raise NotFound(f"function {args.name!r} does not exist on {s.endpoint_url}")
    for event in events:
        print(line(event, args.json), flush=True)
    if not args.follow:
        return 0
    # A line arrives after its invocation ends, stamped when it was printed: read again from LATE_SECONDS before
    # the newest line seen (or the start), and print only lines not printed yet.
    printed = {_key(e) for e in events}
    newest = max([e.time for e in events], default=since or started)
    while True:
        time.sleep(FOLLOW_SECONDS)
        window = newest - dt.timedelta(seconds=LATE_SECONDS)
        if since is not None:
            window = max(window, since)
        for event in fn.logs(since=window):
            if _key(event) not in printed:
                print(line(event, args.json), flush=True)
                printed.add(_key(event))
                newest = max(newest, event.time)
        printed = {k for k in printed if k[0] >= window}  # older lines are never read again


def _key(event: LogEvent) -> tuple[Any, ...]:
    return event.time, event.stream, event.message
