"""Generate docs/coming-from-cloud.md from docs/cloud-operations.toml, the one list of the Cloud package's operations.

    python docs/coming_from_cloud.py --check    # exit 1 if the page is not what the list makes, or the list is broken
    python docs/coming_from_cloud.py --write    # write the page
    python docs/coming_from_cloud.py --pending  # list the entries still pending

tests/test_coming_from_cloud.py checks the page, the list's form, that every operation of the Cloud package appears
exactly once, and runs every mapped entry's example.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10: the dev extra installs tomli
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

HERE = Path(__file__).resolve().parent
DATA = HERE / "cloud-operations.toml"
PAGE = HERE / "coming-from-cloud.md"

STATUSES = ("mapped", "dropped", "pending")
RUNS_ON = ("local", "digitalocean", "wasabi", "docker", "machines")
MODULES = {  # the Cloud package's files, in the order of the page
    "cloud": "cloud/cloud.py: `CloudManager`, the config classes and helpers (`from cloud import *`)",
    "aws_service": "cloud/aws_service.py: `AWS`",
    "wasabi_service": "cloud/wasabi_service.py: `Wasabi`",
    "digitalocean_service": "cloud/digitalocean_service.py: `DigitalOcean`",
    "remotenodes": "cloud/remotenodes.py: `Communication` and the cluster records",
    "containers": "cloud/containers.py: `Linux`, `Docker`, `Conda`, `Container`",
    "dictableobj": "cloud/dictableobj.py: the records' base classes",
    "flashfile_template": "cloud/flashfile_template.py: a script for nodes",
}
FIELDS = {
    "mapped": {"module", "name", "did", "status", "cloudorm", "example", "runs_on"},
    "mapped-like": {"module", "name", "did", "status", "like"},
    "dropped": {"module", "name", "did", "status", "reason"},
    "pending": {"module", "name", "did", "status", "area", "asks"},
}
REQUIRED = {"mapped": {"cloudorm", "example"}, "mapped-like": {"like"}, "dropped": {"reason"},
            "pending": {"area", "asks"}}
CALLED = re.compile(r"(?<=[\w)\]])\.([a-z_]\w*)|\b([A-Za-z_]\w*)\(")
BUILTINS = {"dict", "float", "int", "len", "list", "next", "set", "sorted", "str", "tuple"}


@dataclass(frozen=True)
class Op:
    """One operation of the Cloud package and its home in cloudorm (``like`` and ``@reason`` resolved)."""

    module: str
    name: str
    did: str
    status: str
    cloudorm: str = ""
    example: str = ""
    runs_on: str = "local"
    like: str = ""
    reason: str = ""
    area: str = ""
    asks: str = ""

    @property
    def key(self) -> str:
        """``module:name``, how ``like`` refers to an entry."""
        return f"{self.module}:{self.name}"

    @property
    def group(self) -> str:
        """The class the operation belongs to on the page: ``CloudManager.IAM``, ``AWS.DynamoDB`` (and their own
        constructor), else the first part of a dotted name (``LambdaConfig``); '' for a module's functions."""
        parts = self.name.split("(")[0].split(".")
        if parts[0] in ("CloudManager", "AWS") and len(parts) > 1 and parts[1][:1].isupper():
            return ".".join(parts[:2])
        return parts[0] if len(parts) > 1 else ""


def read(path: Path = DATA) -> dict[str, Any]:
    """The list as TOML data."""
    with path.open("rb") as f:
        data: dict[str, Any] = tomllib.load(f)
    return data


def problems(data: dict[str, Any]) -> list[str]:
    """What is wrong with the list's form (empty when nothing is)."""
    found: list[str] = []
    reasons = data.get("reasons", {})
    entries = data.get("op", [])
    seen: dict[str, dict[str, Any]] = {}
    for raw in entries:
        label = f"{raw.get('module')}:{raw.get('name')}"
        status = raw.get("status")
        if status not in STATUSES:
            found.append(f"{label}: status must be one of {STATUSES}, not {status!r}")
            continue
        kind = "mapped-like" if status == "mapped" and "like" in raw else status
        extra = set(raw) - FIELDS[kind]
        missing = ({"module", "name", "did"} | REQUIRED[kind]) - set(raw)
        if extra or missing:
            found.append(f"{label}: {kind} entry has unknown fields {sorted(extra)} / lacks {sorted(missing)}")
        if raw.get("module") not in MODULES:
            found.append(f"{label}: unknown module (one of {list(MODULES)})")
        if label in seen:
            found.append(f"{label}: listed twice")
        seen[label] = raw
        if raw.get("runs_on", "local") not in RUNS_ON:
            found.append(f"{label}: runs_on must be one of {RUNS_ON}")
        reason = raw.get("reason", "")
        if reason.startswith("@") and reason[1:] not in reasons:
            found.append(f"{label}: no [reasons].{reason[1:]}")
        if kind == "mapped":
            found += [f"{label}: `{name}` is in the cloudorm spelling but not in the example"
                      for name in called(raw["cloudorm"]) if not re.search(rf"\b{re.escape(name)}\b", raw["example"])]
    for raw in entries:
        if "like" in raw:
            target = seen.get(raw["like"])
            if target is None or target.get("status") != "mapped" or "like" in target:
                found.append(f"{raw['module']}:{raw['name']}: like = {raw['like']!r} must name a mapped entry with "
                             "its own example")
    return found


def called(spelling: str) -> list[str]:
    """The names a spelling's code calls or reads (``table.put(obj)`` → ``put``): each must be in the example."""
    code = " ".join(re.findall(r"`([^`]*)`", spelling))
    return sorted({a or b for a, b in CALLED.findall(code)} - BUILTINS)


def ops(data: dict[str, Any]) -> list[Op]:
    """The entries, with ``like`` and ``@reason`` resolved (the list's form assumed checked)."""
    reasons = data.get("reasons", {})
    raw = {f"{e['module']}:{e['name']}": e for e in data["op"]}
    out = []
    for e in data["op"]:
        values = dict(e)
        if "like" in values:
            target = raw[values["like"]]
            values.update(cloudorm=target["cloudorm"], example=target["example"],
                          runs_on=target.get("runs_on", "local"))
        reason = values.get("reason", "")
        if reason.startswith("@"):
            values["reason"] = reasons[reason[1:]]
        out.append(Op(**values))
    return out


def load(path: Path = DATA) -> list[Op]:
    """The entries of the list; ``ValueError`` naming every problem when its form is wrong."""
    data = read(path)
    wrong = problems(data)
    if wrong:
        raise ValueError("docs/cloud-operations.toml:\n  " + "\n  ".join(wrong))
    return ops(data)


# ------------------------------------------------------------------------------------------------------ the page

INTRO = """\
# Coming from the Cloud package

<!-- Generated by docs/coming_from_cloud.py from docs/cloud-operations.toml: edit the list, then run
     `python docs/coming_from_cloud.py --write`. tests/test_coming_from_cloud.py fails when this page is stale. -->

Every operation of the [Cloud package](https://github.com/pmp47/Cloud) — each function, method and class a user
could call, and each field of its three config classes — with its cloudorm spelling, or why it was dropped.
The list is [cloud-operations.toml](cloud-operations.toml), where each mapped row has an example:
`tests/test_coming_from_cloud.py` runs every one of them on the local cloud (or on `FakeDigitalOcean` and
`WasabiEmulator` for what is DigitalOcean's or Wasabi's own), so this page cannot drift from what cloudorm does.

{counts}

**What changes everywhere.** `creds` dicts keep their form (`aws_access_key_id`, `aws_secret_access_key`,
`region`; DigitalOcean's `access_token`, `region`) and move from every call to the session:
`s = cloudorm.Session("aws", creds=creds)` (or `"wasabi"`, `"digitalocean"`). `isLocalTest=True` becomes
`cloudorm.Session()`, the local cloud, or any provider with `endpoint_url=`. The rows below use `s` for the session
and `table`, `bucket`, `user`, `group`, `role`, `policy`, `fn`, `api`, `cluster`, `node` for an entity of each kind
(`table = s.Table("new_table")`, `bucket = s.Bucket("my-new-bucket")`, `cluster = s.Cluster("test-cluster")`, ...).
Calls return entities and results instead of polymorphic response dicts, listings are lazy and read every page,
numbers read from a table come back as `int` or `Decimal` (never `float`), and failures raise [typed errors](errors.md).
"""


def cell(text: str) -> str:
    """Text for a markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def original(op: Op) -> str:
    """The original's name as a table cell."""
    return f"`{op.name}`"


def row(op: Op) -> str:
    """A module table's row: the original, what it did, its cloudorm spelling (or what is pending)."""
    home = op.cloudorm if op.status == "mapped" else f"**pending** ({op.area}): {op.asks}"
    return f"| {original(op)} | {cell(op.did)} | {cell(home)} |"


def counts(entries: Sequence[Op]) -> str:
    """The numbers line of the page."""
    by = {s: sum(1 for o in entries if o.status == s) for s in STATUSES}
    line = f"{len(entries)} operations: {by['mapped']} mapped, {by['dropped']} dropped"
    return line + (f", **{by['pending']} still pending**." if by["pending"] else ".")


def render(entries: Iterable[Op]) -> str:
    """The page for these entries."""
    entries = list(entries)
    out = [INTRO.format(counts=counts(entries))]
    for module, title in MODULES.items():
        mine = [o for o in entries if o.module == module and o.status != "dropped"]
        if not mine:
            continue
        out.append(f"## {title}\n")
        classes = {o.group for o in entries if o.module == module}
        groups: dict[str, list[Op]] = {"": []}  # (the module's own functions and records first, without a heading)
        for o in mine:  # (a class given alone, LambdaConfig, goes with its fields)
            groups.setdefault(o.name if o.name in classes else o.group, []).append(o)
        for group, members in groups.items():
            if not members:
                continue
            if group:
                out.append(f"### `{group}`\n")
            out.append("| Cloud package | what it did | cloudorm |\n|---|---|---|")
            out.extend(row(o) for o in members)
            out.append("")
    dropped: dict[str, list[Op]] = {}
    for o in entries:
        if o.status == "dropped":
            dropped.setdefault(o.reason, []).append(o)
    out.append("## Dropped, and why\n")
    out.append("Nothing the Cloud package did is left out silently: these have no cloudorm counterpart, for the "
               "reason given (what each did is in [cloud-operations.toml](cloud-operations.toml)).\n")
    out.append("| Cloud package | why |\n|---|---|")
    modules_of: dict[str, set[str]] = {}
    for o in entries:
        modules_of.setdefault(o.name, set()).add(o.module)

    def named(o: Op) -> str:  # (a name several files have, Tests.main, says whose)
        return original(o) + (f" ({o.module})" if len(modules_of[o.name]) > 1 else "")

    out.extend(f"| {', '.join(named(o) for o in same)} | {cell(reason)} |" for reason, same in dropped.items())
    return "\n".join(out) + "\n"


def main(argv: Sequence[str]) -> int:
    """``--check``, ``--write`` or ``--pending``."""
    if len(argv) != 1 or argv[0] not in ("--check", "--write", "--pending"):
        print(__doc__)
        return 2
    try:
        entries = load()
    except ValueError as e:
        print(e)
        return 1
    if argv[0] == "--pending":
        for o in entries:
            if o.status == "pending":
                print(f"{o.module}:{o.name} ({o.area}): {o.asks}")
        return 0
    page = render(entries)
    if argv[0] == "--write":
        PAGE.write_text(page)
        print(f"wrote {PAGE.relative_to(HERE.parent)}: {counts(entries)}")
        return 0
    if not PAGE.exists() or PAGE.read_text() != page:
        print(f"{PAGE.relative_to(HERE.parent)} is stale: run python docs/coming_from_cloud.py --write")
        return 1
    print(f"{PAGE.relative_to(HERE.parent)} is up to date: {counts(entries)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
