"""``cloudorm invoke NAME [EVENT]``: run a function of a running local cloud and print its result, as
``aws lambda invoke`` does (exit code 1 when the function raised)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cloudorm.cli.endpoint import add_options, session
from cloudorm.errors import FunctionError, InvalidInput


def add(commands: Any) -> None:
    """Register ``cloudorm invoke``."""
    p = commands.add_parser("invoke", help="run a function of the local cloud on an event and print its result")
    p.add_argument("name", metavar="NAME", help="the function's name or ARN")
    p.add_argument("event", metavar="EVENT", nargs="?", default=None, type=event,
                   help="the event: JSON text, @FILE for a JSON file, or - to read it from stdin (default: null)")
    add_options(p)
    p.add_argument("--region", default=None, help="the function's region (default: the session's)")
    p.add_argument("--log", action="store_true", help="print the invocation's log tail on stderr")
    p.set_defaults(run=run)


def event(text: str) -> Any:
    """argparse's type of ``EVENT``: the event it gives (see ``read_event``)."""
    try:
        return read_event(text)
    except InvalidInput as e:
        raise argparse.ArgumentTypeError(e.reason) from None


def read_event(text: str) -> Any:
    """The event ``text`` gives: JSON text, ``@file.json`` or ``-`` for stdin; InvalidInput if it is not JSON."""
    source = "the text"
    if text == "-":
        text, source = sys.stdin.read(), "stdin"
    elif text.startswith("@"):
        path = Path(text[1:]).expanduser()
        try:
            text, source = path.read_text(encoding="utf-8"), str(path)
        except OSError as e:
            raise InvalidInput("EVENT", f"cannot read {path}: {e.strerror or e}") from None
    try:
        return json.loads(text)
    except ValueError as e:
        raise InvalidInput("EVENT", f"{source} is not JSON ({e})") from None


def run(args: argparse.Namespace) -> int:
    """Invoke ``NAME`` on ``EVENT``; print the result (JSON), or the error payload and a one-line error."""
    s = session(args)
    fn = s.Function(args.name)
    try:
        result = fn.invoke(args.event)
    except FunctionError as e:
        _print_log(args, fn)
        print(json.dumps({"errorMessage": e.message, "errorType": e.error_type, "stackTrace": e.traceback}))
        kind = f"{e.error_type}: " if e.error_type else ""
        print(f"cloudorm invoke: {args.name} failed: {kind}{' '.join(e.message.split())}", file=sys.stderr)
        return 1
    _print_log(args, fn)
    print(json.dumps(result))
    return 0


def _print_log(args: argparse.Namespace, fn: Any) -> None:
    if args.log and fn.last_log:
        sys.stderr.write(fn.last_log if fn.last_log.endswith("\n") else fn.last_log + "\n")
