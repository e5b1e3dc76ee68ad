"""Wheels of this environment's installed packages, for stand-in nodes that would otherwise pip-install them from
the package index: ``wheelhouse(["distributed"])`` repacks the installed distributions (and everything they need)
as wheels in a folder, offline, at exactly the installed versions; ``pip_settings(folder)`` points a node's pip
there (``PIP_FIND_LINKS`` and ``PIP_NO_INDEX``, e.g. through the sshd stand-ins' ``SetEnv``)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

DEFAULT_FOLDER = Path(tempfile.gettempdir(), f"cloudorm-wheelhouse-py{sys.version_info[0]}{sys.version_info[1]}")
"""Where ``wheelhouse`` keeps its wheels unless told otherwise (kept across runs: a wheel is made once)."""

_SKIPPED_INFO = {"INSTALLER", "REQUESTED", "RECORD", "direct_url.json"}  # (written by the installer, not the wheel)


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(requirements: Iterable[str]) -> list[metadata.Distribution]:
    """The installed distributions ``requirements`` name (names, or requirement strings whose versions are the
    installed ones) and, transitively, every installed distribution they require (no extras), by name."""
    from packaging.requirements import Requirement

    found: dict[str, metadata.Distribution] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        requirement = todo.pop()
        key = _normalized(requirement.name)
        if key in found:
            continue
        dist = metadata.distribution(requirement.name)  # (PackageNotFoundError: not installed here)
        found[key] = dist
        for line in dist.requires or ():
            needed = Requirement(line)
            if needed.marker is None or needed.marker.evaluate({"extra": ""}):
                todo.append(needed)
    return [found[k] for k in sorted(found)]


def _tag(dist: metadata.Distribution) -> str:
    """The wheel's compressed tag (``cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64``) from its WHEEL file."""
    text = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Tag:")]
    if not tags:
        return "py3-none-any"
    parts = [sorted({t.split("-")[i] for t in tags}) for i in range(3)]
    return "-".join(".".join(p) for p in parts)


def repack(dist: metadata.Distribution, folder: Path, version: str | None = None) -> Path:
    """The installed ``dist`` as a wheel in ``folder`` (made once: an existing one is reused). Files installed
    outside site-packages (console scripts, which pip makes again from the entry points) are left out. ``version``:
    the same code under another version number (in its metadata and in the quoted version of any ``_version.py``)."""
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"])
    new = version or dist.version
    wheel = folder / f"{name}-{new}-{_tag(dist)}.whl"
    if wheel.exists():
        return wheel
    root = Path(str(dist.locate_file("")))
    info = next((f for f in dist.files or () if f.parts[0].endswith(".dist-info")), None)
    if info is None:
        raise ValueError(f"{dist.metadata['Name']} has no RECORD: it cannot be repacked")
    old_info, info_dir = info.parts[0], f"{name}-{new}.dist-info"
    record: list[str] = []
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
            for path in dist.files or ():
                if path.parts[0] == ".." or "__pycache__" in path.parts or (
                        path.parts[0] == old_info and path.name in _SKIPPED_INFO):
                    continue
                data = (root / path).read_bytes()
                inside = "/".join((info_dir if path.parts[0] == old_info else path.parts[0], *path.parts[1:]))
                if new != dist.version and path.name in ("METADATA", "_version.py"):
                    data = _relabel(data, dist.version, new, path.name == "METADATA")
                z.writestr(inside, data)
                digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                record.append(f"{inside},sha256={digest},{len(data)}")
            record.append(f"{info_dir}/RECORD,,")
            z.writestr(f"{info_dir}/RECORD", "\n".join(record) + "\n")
        os.replace(tmp, wheel)  # (whole or not at all: another process may be making the same wheel)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return wheel


def _relabel(data: bytes, old: str, new: str, metadata_file: bool) -> bytes:
    if metadata_file:
        data = data.replace(f"=={old}".encode(), f"=={new}".encode())  # (a release pinning its siblings: dask)
        return re.sub(rb"^Version: .*$", f"Version: {new}".encode(), data, count=1, flags=re.MULTILINE)
    return data.replace(repr(old).encode(), repr(new).encode()).replace(f'"{old}"'.encode(), f'"{new}"'.encode())


def wheelhouse(requirements: Iterable[str], folder: Path | None = None) -> Path:
    """A folder of wheels for ``requirements`` and everything they need, repacked from this environment (see
    ``closure``): pip installs them with ``--no-index --find-links folder`` on a machine of this Python."""
    folder = folder or DEFAULT_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for dist in closure(requirements):
        repack(dist, folder)
    return folder


def pip_settings(folder: Path) -> dict[str, str]:
    """The environment that makes pip install from ``folder`` only, without compiling bytecode first."""
    return {"PIP_FIND_LINKS": str(folder), "PIP_NO_INDEX": "1", "PIP_NO_COMPILE": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


__all__ = ["DEFAULT_FOLDER", "closure", "pip_settings", "repack", "wheelhouse"]
