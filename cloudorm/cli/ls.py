"""``cloudorm ls``: what a running local cloud holds (tables, buckets, functions, APIs, clusters), as one aligned
table per kind, or as JSON for scripts (``--json``)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from cloudorm.cli.endpoint import add_options, session
from cloudorm.errors import CloudError

Row = dict[str, Any]

_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def table_row(t: Any) -> Row:
    """A table's row: name, keys, items and status (read with one DescribeTable)."""
    keys = [f"{k.name} ({k.type})" for k in (t.hash_key, t.range_key) if k is not None]
    return {"name": t.name, "keys": ", ".join(keys), "items": t.item_count, "status": t.status}


def bucket_row(b: Any) -> Row:
    """A bucket's row: name, region and creation time."""
    return {"name": b.name, "region": b.region, "created": b.created}


def function_row(f: Any) -> Row:
    """A function's row: name, runtime, handler, memory, timeout and last change."""
    return {"name": f.name, "runtime": f.runtime, "handler": f.handler, "memory": f.memory, "timeout": f.timeout,
            "modified": f.last_modified}


def api_row(a: Any) -> Row:
    """An API's row: name, id, stage, creation time and URL."""
    return {"name": a.name, "id": a.id, "stage": a.stage, "created": a.created, "url": a.url}


def cluster_row(c: Any) -> Row:
    """A cluster's row: name and node count."""
    return {"name": c.name, "nodes": len(c.nodes)}


KINDS: dict[str, tuple[str, Callable[[Any], Any], Callable[[Any], Row]]] = {
    "tables": ("tables", lambda s: s.tables(), table_row),
    "buckets": ("buckets", lambda s: s.buckets(), bucket_row),
    "functions": ("functions", lambda s: s.functions(), function_row),
    "apis": ("APIs", lambda s: s.apis(), api_row),
    "clusters": ("clusters", lambda s: s.clusters(), cluster_row),
}
"""Each kind ``cloudorm ls`` shows: its title, its listing on a session and its row."""


def kind(text: str) -> str:
    """argparse's type of ``KIND``: one of ``KINDS`` (``table`` is ``tables``)."""
    name = text.lower() if text.lower() in KINDS else text.lower() + "s"
    if name not in KINDS:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(KINDS)}")
    return name


def add(commands: Any) -> None:
    """Register ``cloudorm ls``."""
    p = commands.add_parser("ls", help="list the tables, buckets, functions, APIs and clusters of the local cloud")
    p.add_argument("kinds", nargs="*", metavar="KIND", type=kind,
                   help=f"only these kinds ({', '.join(KINDS)}; default: all)")
    add_options(p)
    p.add_argument("--region", default=None, help="the region to list (default: the session's, e.g. "
                                                  "$AWS_DEFAULT_REGION, else us-east-1)")
    p.add_argument("--json", action="store_true", help="print {kind: [record, ...]} as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """List what the local cloud at ``--endpoint-url`` holds."""
    s = session(args)
    kinds = list(dict.fromkeys(args.kinds)) or list(KINDS)
    found: dict[str, list[Row] | None] = {}
    for kind in kinds:
        try:
            found[kind] = [KINDS[kind][2](entity) for entity in KINDS[kind][1](s)]
        except CloudError as e:
            if args.kinds:  # asked for by name: its error is the command's
                raise
            found[kind] = None  # e.g. clusters on a plain moto server: list the rest
            print(f"cloudorm ls: {kind}: {' '.join(str(e).split())}", file=sys.stderr)
    if args.json:
        print(json.dumps(found, indent=2, default=_text))
        return 0
    blocks = []
    for kind, rows in found.items():
        title = KINDS[kind][0]
        if rows is None:
            blocks.append(f"{title}: not served here")
        else:
            blocks.append(f"{title}: none" if not rows else f"{title} ({len(rows)})\n" + aligned(rows))
    print("\n\n".join(blocks))
    return 0


def aligned(rows: Sequence[Row]) -> str:
    """``rows`` as a table: a header of upper-case column names, columns padded to their widest cell."""
    columns = list(rows[0])
    cells = [[c.upper() for c in columns], *([_cell(row[c]) for c in columns] for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join(_join(line, widths) for line in cells)


def _join(cells: Iterable[str], widths: Sequence[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, str) and _TIME.match(value):  # Lambda's LastModified: 2026-12-06T22:11:50.451762000Z
        return value[:19].replace("T", " ")
    return " ".join(str(value).split())


def _text(value: Any) -> str:
    """JSON for what ``json`` does not know (times as ISO 8601)."""
    return value.isoformat() if isinstance(value, datetime) else str(value)
