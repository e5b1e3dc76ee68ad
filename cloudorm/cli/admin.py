"""``cloudorm health`` and ``cloudorm reset``: a running local cloud's state of health, and forgetting everything
it keeps."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cloudorm.cli.endpoint import add_options, admin, endpoint
from cloudorm.errors import CloudError


def add_health(commands: Any) -> None:
    """Register ``cloudorm health``."""
    p = commands.add_parser("health", help="is the local cloud up? its version, uptime, services and state")
    add_options(p)
    p.add_argument("--json", action="store_true", help="print the local cloud's JSON answer as it is")
    p.set_defaults(run=health)


def health(args: argparse.Namespace) -> int:
    """Print the health of the local cloud at ``--endpoint-url``; exit code 1 when nothing answers there."""
    url = endpoint(args)
    facts = admin(url, "/_cloudorm/health")
    if args.json:
        print(json.dumps(facts, indent=2))
        return 0
    services = facts.get("services") or {}
    print(f"{url}: {facts.get('status', 'unknown')}")
    print(f"version   cloudorm {facts.get('version')} (moto {facts.get('moto')}, Python {facts.get('python')})")
    print(f"uptime    {duration(float(facts.get('uptime') or 0))} (since {facts.get('started')})")
    print(f"state     {'kept in ' + str(facts.get('state_dir')) if facts.get('persisted') else 'in memory only'}")
    print("services  " + ", ".join(f"{name} ({how})" if how != "available" else name
                                   for name, how in services.items()))
    return 0


def duration(seconds: float) -> str:
    """``3 h 02 min``, ``4 min 05 s`` or ``12 s``."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def add_reset(commands: Any) -> None:
    """Register ``cloudorm reset``."""
    p = commands.add_parser("reset", help="forget everything the local cloud keeps (tables, buckets, functions, "
                                          "APIs, clusters, IAM)")
    add_options(p)
    p.add_argument("-y", "--yes", action="store_true",
                   help="do not ask first (asked only when the local cloud keeps its state on disk, with --state)")
    p.set_defaults(run=reset)


def reset(args: argparse.Namespace) -> int:
    """Reset the local cloud at ``--endpoint-url``. A local cloud that keeps its state on disk is reset only with
    ``--yes`` or once confirmed on a terminal; an in-memory one at once, as moto's and LocalStack's resets are."""
    url = endpoint(args)
    facts = admin(url, "/_cloudorm/health")
    if facts.get("persisted") and not args.yes:
        where = facts.get("state_dir")
        if not sys.stdin.isatty():
            raise CloudError(f"the local cloud at {url} keeps its state in {where}: give --yes to erase it")
        answer = input(f"erase everything the local cloud at {url} keeps in {where}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing was reset", file=sys.stderr)
            return 1
    admin(url, "/_cloudorm/reset", method="POST")
    print(f"{url}: reset (every table, bucket, function, API, cluster and IAM entity is gone)")
    return 0
