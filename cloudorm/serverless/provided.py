"""What Lambda's Python runtimes already provide (the AWS SDK for Python and what it requires), left out of a
bundle's vendored requirements unless the requirements name it."""

from __future__ import annotations

import contextlib
import csv
import email.parser
import logging
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

PROVIDED: tuple[str, ...] = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "urllib3", "six")
"""The distributions every supported Lambda Python runtime (python3.10 to python3.14) has on its path: AWS documents
that each includes the SDK for Python (boto3; versions per runtime under "Runtime-included SDK versions"), and these
are boto3 and the packages it requires. A bundle leaves them out unless its requirements name them."""

_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_EXTRA_ONLY = re.compile(r"""\bextra\s*==""")


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them: ``Python_Dateutil`` is ``python-dateutil``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def named(lines: Iterable[str]) -> set[str]:
    """The distributions requirement lines name (``boto3==1.35.0``, ``six``, ``name @ url``); option lines and
    local paths name none."""
    names: set[str] = set()
    for line in lines:
        if line.startswith("-") or line.startswith(("/", ".", "~")):
            continue
        found = _NAME.match(line)
        if found is not None and not line[found.end():].startswith("://"):  # a bare URL names nothing
            names.add(canonical(found.group()))
    return names


def _metadata(dist_info: Path) -> tuple[str, list[str]]:
    """(canonical name, canonical names it requires but for its extras) from a ``.dist-info`` folder."""
    text = (dist_info / "METADATA").read_text(encoding="utf-8", errors="replace")
    message = email.parser.Parser().parsestr(text, headersonly=True)
    requires = []
    for spec in message.get_all("Requires-Dist") or []:
        requirement, _, marker = spec.partition(";")
        if _EXTRA_ONLY.search(marker):
            continue
        found = _NAME.match(requirement.strip())
        if found is not None:
            requires.append(canonical(found.group()))
    return canonical(str(message.get("Name", ""))), requires


def leave_out_provided(site: Path, requested: Iterable[str]) -> list[str]:
    """Remove from ``site`` (a ``pip install --target`` tree) every distribution of ``PROVIDED``, except those
    ``requested`` (canonical names the requirements give) and what they require: those are vendored as pinned.
    Each removed distribution's files are those its ``RECORD`` lists. Returns the names removed, sorted."""
    installed: dict[str, tuple[Path, list[str]]] = {}
    for dist_info in sorted(site.glob("*.dist-info")):
        if (dist_info / "METADATA").is_file():
            name, requires = _metadata(dist_info)
            installed[name] = (dist_info, requires)
    provided = set(PROVIDED)
    keep = {name for name in requested if name in provided}
    todo = list(keep)
    while todo:  # what a requested one requires stays with it (boto3 pinned keeps its own botocore)
        for dependency in installed.get(todo.pop(), (None, []))[1]:
            if dependency in provided and dependency not in keep:
                keep.add(dependency)
                todo.append(dependency)
    removed = sorted(name for name in installed if name in provided and name not in keep)
    for name in removed:
        _remove(site, installed[name][0])
    if removed:
        log.debug("left out of the bundle (Lambda's runtime provides them): %s", ", ".join(removed))
    return removed


def _remove(site: Path, dist_info: Path) -> None:
    """Delete a distribution's files (by its ``RECORD``), its ``.dist-info`` and the folders it leaves empty."""
    root = site.resolve()
    record = dist_info / "RECORD"
    folders: set[Path] = set()
    rows = list(csv.reader(record.read_text(encoding="utf-8").splitlines())) if record.is_file() else []
    for row in rows:
        relative = row[0] if row else ""
        path = (site / relative).resolve()
        if not relative or root not in path.parents:  # ../../bin/... and the like are not in the tree
            continue
        path.unlink(missing_ok=True)
        folders.update(p for p in path.parents if root in p.parents)
    shutil.rmtree(dist_info, ignore_errors=True)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):  # deepest first
        with contextlib.suppress(OSError):  # not empty: another distribution's files are there too
            folder.rmdir()
