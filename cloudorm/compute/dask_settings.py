"""How a cluster runs Dask (``cloudorm.Dask``) and which package versions its nodes get: the versions of this
client's own ``distributed``, because Dask refuses a client, scheduler and workers of different versions.

Every setting is checked here, before any request; ``check_pins`` refuses requirements that would install another
Dask than the client's, naming both versions.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import attrs

from cloudorm.checks import check_flag
from cloudorm.compute.names import check_cidrs
from cloudorm.errors import InvalidInput

PINNED = ("dask", "distributed", "cloudpickle", "msgpack", "toolz", "tornado")
"""The packages Dask requires to be of one version on client, scheduler and workers (``distributed.versions``):
nodes get them at this client's versions."""

SCHEDULER_PORT = 8786
"""The scheduler's port on nodes that are other machines (local nodes share this machine: any free port)."""

MIN_MEMORY = 256 * 2**20
"""The least memory a worker process may be given (its own footprint is about 100 MiB: below this Dask would pause
and restart it forever)."""

_MEMORY = re.compile(r"(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>(?:[kmgt]i?)?b?)", re.IGNORECASE)
"""A memory size as ``dask worker --memory-limit`` reads it: a number and an optional unit (``4GB``, ``512MiB``)."""

_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}

_REQUIREMENT_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _positive(field: str, value: Any, allow_none: bool) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1024:
        raise InvalidInput(field, f"must be an int from 1 to 1024{' or None' if allow_none else ''}, not {value!r}")
    return value


def _threads(value: Any) -> int | None:
    return _positive("threads", value, allow_none=True)


def _processes(value: Any) -> int:
    return int(_positive("processes", value, allow_none=False) or 1)


def _memory(value: Any) -> str:
    """``auto``, 0 (no limit), a fraction of the node's memory (``0.5``) or a size of at least ``MIN_MEMORY``
    (``"4GB"``, bytes as an int); the text ``dask worker --memory-limit`` gets."""
    if value == "auto":
        return "auto"
    found = _MEMORY.fullmatch(value.strip()) if isinstance(value, str) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        number, unit = float(value), ""
    elif found is not None:
        number, unit = float(found["number"]), found["unit"].lower().removesuffix("b")
    else:
        raise InvalidInput("memory_limit", "must be 'auto', 0 (no limit), a fraction of the node's memory (0.5) or "
                                           f"a size ('4GB', '512MiB', bytes as an int), not {value!r}")
    if number == 0:
        return "0"
    if not unit and number <= 1 and not (isinstance(value, int) and not isinstance(value, bool)):
        return repr(number)  # (a fraction: Dask reads a number up to 1 as a share of the node's memory)
    size = number * _UNITS[unit]
    if size < MIN_MEMORY:
        raise InvalidInput("memory_limit", f"{value!r} is {int(size)} bytes: a worker process needs at least "
                                           f"{MIN_MEMORY // 2**20} MiB (give a size such as '4GB', a fraction such as "
                                           "0.5, 'auto', or 0 for no limit)")
    return str(int(size))


def _dashboard(value: Any) -> bool:
    return check_flag("dashboard", value)


def _port(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1024 <= value <= 65535:
        raise InvalidInput("scheduler_port", f"must be a TCP port from 1024 to 65535 (or None), not {value!r}")
    return value


def _cidrs(value: Any) -> tuple[str, ...]:
    if value is None or (isinstance(value, (list, tuple)) and not value):
        return ()
    if isinstance(value, str):
        value = [value]
    return tuple(check_cidrs(value, field="expose_to"))


@attrs.frozen
class Dask:
    """How a cluster runs Dask: a scheduler on its first node and a worker on every node (``Cluster(engine=
    cloudorm.Dask(...))``, or ``engine="dask"`` for these defaults)."""

    threads: int | None = attrs.field(default=None, converter=_threads)
    """Threads per worker process (None: the node's cores, shared among its processes)."""
    processes: int = attrs.field(default=1, converter=_processes)
    """Worker processes per node (``dask worker --nworkers``)."""
    memory_limit: str = attrs.field(default="auto", converter=_memory)
    """The memory each worker process may use before Dask spills and pauses it: ``auto`` (the node's share), a size
    (``"4GB"``, at least 256 MiB), a fraction of the node's memory (``0.5``) or 0 (no limit)."""
    dashboard: bool = attrs.field(default=False, converter=_dashboard)
    """Install ``bokeh`` on the scheduler's node, so ``cluster.dashboard_url`` shows Dask's live dashboard (without
    it the scheduler still serves its plain pages: ``/info``, ``/health``)."""
    scheduler_port: int | None = attrs.field(default=None, converter=_port)
    """The scheduler's port (None: 8786 on other machines, any free port on local nodes)."""
    expose_to: tuple[str, ...] = attrs.field(default=(), converter=_cidrs)
    """CIDRs that may reach the scheduler directly (its port opened in the cluster's firewall, the client connects
    to the node's public address). Empty (the default): nothing is opened, the client goes through SSH."""

    def to_json(self) -> str:
        """These settings as compact JSON (they travel in the scheduler's job command, for any process to read)."""
        return json.dumps({**attrs.asdict(self), "expose_to": list(self.expose_to)}, separators=(",", ":"),
                          sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Dask:
        """The settings ``to_json`` gave (``InvalidInput`` naming a bad one)."""
        try:
            values = json.loads(text)
        except ValueError:
            raise InvalidInput("engine", f"{text!r} is not the JSON of Dask settings") from None
        if not isinstance(values, dict):
            raise InvalidInput("engine", f"{text!r} is not the JSON of Dask settings")
        return cls(**{k: v for k, v in values.items() if k in attrs.fields_dict(cls)})

    def worker_options(self) -> list[str]:
        """The ``dask worker`` options these settings give."""
        options = ["--nworkers", str(self.processes), "--memory-limit", self.memory_limit]
        if self.threads is not None:
            options += ["--nthreads", str(self.threads)]
        return options


def check_engine(value: Any) -> Dask | None:
    """None (no engine), ``"dask"`` (``Dask()``) or a ``cloudorm.Dask``."""
    if value is None or isinstance(value, Dask):
        return value
    if value == "dask":
        return Dask()
    raise InvalidInput("engine", f"must be 'dask', a cloudorm.Dask(...) or None, not {value!r}")


# ----------------------------------------------------------------------------------------------- versions

def client_versions() -> dict[str, str]:
    """This client's versions of ``PINNED`` (``InvalidInput("engine")`` when ``distributed`` is not installed)."""
    versions = {}
    for name in PINNED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            raise InvalidInput("engine", "Dask on a cluster needs the distributed package where the client runs: "
                                         "pip install 'cloudorm[dask]'") from None
    return versions


def python_version() -> str:
    """This client's Python, ``major.minor``: the nodes need the same (Dask sends functions pickled by value)."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def wanted_versions(dashboard: bool) -> dict[str, str | None]:
    """What a node's venv must have, by package: ``PINNED`` at this client's versions, and ``bokeh`` for the
    dashboard (the client's version when it has one; None: any)."""
    wanted: dict[str, str | None] = dict(client_versions())
    if dashboard:
        try:
            wanted["bokeh"] = metadata.version("bokeh")
        except metadata.PackageNotFoundError:
            wanted["bokeh"] = None
    return wanted


def pinned(dashboard: bool) -> list[str]:
    """The requirement strings of ``wanted_versions`` (an unpinned bokeh: one the dashboard works with)."""
    return [f"{name}=={version}" if version else f"{name}>=3.1.0"
            for name, version in wanted_versions(dashboard).items()]


def _lines(requirements: Iterable[str], path: Path | None) -> list[str]:
    lines = list(requirements)
    if path is not None:
        with contextlib.suppress(OSError):
            lines += path.read_text(errors="replace").splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.strip() and not line.lstrip().startswith("-")]


def check_pins(requirements: Iterable[str], path: Path | None) -> None:
    """``InvalidInput("requirements")`` when the cluster's requirements ask for a version of a ``PINNED`` package
    this client does not run (Dask refuses mismatched versions); unpinned mentions are fine."""
    from packaging.requirements import InvalidRequirement, Requirement

    versions = client_versions()
    for line in _lines(requirements, path):
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue  # (bootstrap checks the strings; pip reads the file)
        name = requirement.name.lower().replace("_", "-")
        if name in versions and requirement.specifier and not requirement.specifier.contains(
                versions[name], prereleases=True):
            raise InvalidInput("requirements", f"{line!r} asks for another {name} than this client's "
                                               f"{name} {versions[name]}: Dask refuses a client, scheduler and "
                                               "workers of different versions; drop the pin (nodes get the "
                                               f"client's versions) or install {name}{requirement.specifier} here")


__all__ = [
    "PINNED",
    "SCHEDULER_PORT",
    "Dask",
    "check_engine",
    "check_pins",
    "client_versions",
    "pinned",
    "python_version",
    "wanted_versions",
]
