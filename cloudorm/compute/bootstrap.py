"""Bootstrapping a node: files uploaded, the Python runtime ensured, requirements installed into a venv, an
environment file every command sources, then the setup commands in order. One piece, used by ``Cluster.save`` and
``Cluster.add_node`` alike.

On the node (paths under its login home): ``~/.cloudorm/venv`` (the venv, made from the runtime's interpreter, so
``python`` is that runtime), ``~/.cloudorm/requirements.txt`` (as uploaded) and ``~/.cloudorm/env`` (exports
``CLOUDORM_CLUSTER``, ``CLOUDORM_NODE`` and puts the venv first on ``PATH``), which ``Node.run`` sources before each
command.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from cloudorm.checks import check_utf8
from cloudorm.compute.shell import CommandResult, failure_message, quote
from cloudorm.errors import CommandFailed, InvalidInput

if TYPE_CHECKING:
    from cloudorm.compute.node import Node

HOME_DIR = ".cloudorm"
"""cloudorm's directory in a node's home."""

ENV_FILE = f"{HOME_DIR}/env"
"""The environment file every command on a node sources (relative to its home)."""

REQUIREMENTS_FILE = f"{HOME_DIR}/requirements.txt"
"""Where the requirements are uploaded (relative to the node's home)."""

VENV = f"{HOME_DIR}/venv"
"""The venv the requirements are installed into (relative to the node's home)."""

SOURCE_ENV = f'if [ -f "$HOME/{ENV_FILE}" ]; then . "$HOME/{ENV_FILE}"; fi'
"""The shell line that loads the node's environment file, if bootstrap wrote one."""

RUNTIME = re.compile(r"python3(\.\d{1,2})?")
"""``python3`` (the image's) or ``python3.X``."""


def with_environment(cmd: str) -> str:
    """``cmd`` preceded by the line sourcing the node's environment file."""
    return f"{SOURCE_ENV}\n{cmd}"


def check_runtime(runtime: Any) -> str | None:
    """``python3``, ``python3.X`` or None (no Python set up)."""
    if runtime is not None and (not isinstance(runtime, str) or not RUNTIME.fullmatch(runtime)):
        raise InvalidInput("runtime", f"must be 'python3', 'python3.X' or None, not {runtime!r}")
    return runtime


def _check_requirement(line: str) -> None:
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:  # pragma: no cover - packaging is nearly always there (pip and setuptools vendor it)
        if not line.strip() or line.lstrip().startswith("-") or any(c in line for c in "\r\n\0"):
            raise InvalidInput("requirements", f"{line!r} is not a requirement") from None
        return
    try:
        Requirement(line)
    except InvalidRequirement as e:
        raise InvalidInput("requirements", f"{line!r} is not a requirement: {e}") from None


def check_requirements(requirements: Any) -> tuple[tuple[str, ...], Path | None]:
    """Requirement strings (each parsed as a PEP 508 requirement) or the path of a requirements file (which must
    exist); ``(strings, file)``."""
    if isinstance(requirements, (str, os.PathLike)):
        path = Path(requirements).expanduser()
        if not path.is_file():
            raise InvalidInput("requirements", f"{str(path)!r} is not a requirements file (a list of requirement "
                                               "strings is given as a list)")
        return (), path
    if not isinstance(requirements, Iterable):
        raise InvalidInput("requirements", f"must be a list of requirement strings or a file path, not "
                                           f"{type(requirements).__name__}")
    lines = tuple(requirements)
    for line in lines:
        if not isinstance(line, str):
            raise InvalidInput("requirements", f"each requirement is a string, not {line!r}")
        _check_requirement(line)
    return lines, None


def check_files(files: Any) -> tuple[tuple[Path, str], ...]:
    """Paths (uploaded to the same name in the node's home) or ``(local, remote)`` pairs; each local file or
    directory must exist."""
    if isinstance(files, (str, os.PathLike)):
        files = [files]
    if not isinstance(files, Iterable):
        raise InvalidInput("files", f"must be a list of paths or (local, remote) pairs, not {type(files).__name__}")
    out = []
    for entry in files:
        if isinstance(entry, (str, os.PathLike)):
            local, remote = Path(entry).expanduser(), None
        elif (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], (str, os.PathLike))
              and isinstance(entry[1], (str, os.PathLike))):
            local, remote = Path(entry[0]).expanduser(), str(entry[1])
        else:
            raise InvalidInput("files", f"each entry is a path or a (local, remote) pair, not {entry!r}")
        if not local.exists():
            raise InvalidInput("files", f"{str(local)!r} does not exist")
        if remote == "":
            raise InvalidInput("files", f"the remote path of {str(local)!r} is empty")
        if remote is not None:
            check_utf8("files", remote)
        out.append((local, remote if remote is not None else local.resolve().name))
    return tuple(out)


def check_setup(setup: Any) -> tuple[str, ...]:
    """Shell commands, run in order on each node; each must exit 0."""
    if isinstance(setup, str):
        setup = [setup]
    commands = tuple(setup) if isinstance(setup, Iterable) else None  # (read once: a generator is welcome too)
    if commands is None or not all(isinstance(c, str) and c.strip() for c in commands):
        raise InvalidInput("setup", f"must be a list of non-empty shell command strings, not {setup!r}")
    for command in commands:
        check_utf8("setup", command)
    return commands


def uploads(files: Iterable[tuple[Path, str]]) -> list[tuple[Path, str]]:
    """Every ``(local file, remote path)`` to copy: a directory's files below its remote path, in a stable order."""
    out = []
    for local, remote in files:
        if local.is_dir():
            for path in sorted(p for p in local.rglob("*") if p.is_file()):
                out.append((path, f"{remote.rstrip('/')}/{path.relative_to(local).as_posix()}"))
        else:
            out.append((local, remote))
    return out


def runtime_script(interpreter: str, with_pip: bool, install: bool = True) -> str:
    """Shell code that installs ``interpreter`` (and venv support) with the node's package manager when it is
    missing, using ``sudo -n`` when not root; with ``install`` False it only fails, saying what is missing."""
    py = quote(interpreter)
    needs = f"{py} -c 'import venv{', ensurepip' if with_pip else ''}' >/dev/null 2>&1"
    if not install:
        return f"""\
if ! command -v {py} >/dev/null 2>&1 || ! {needs}; then
  echo "cloudorm: {interpreter} (with venv{' and ensurepip' if with_pip else ''}) is not installed on this machine, \
and local nodes install no system packages" >&2; exit 1
fi
{py} --version"""
    return f"""\
if ! command -v {py} >/dev/null 2>&1 || ! {needs}; then
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo -n"; else SUDO=""; fi
  if command -v cloud-init >/dev/null 2>&1; then cloud-init status --wait >/dev/null 2>&1 || true; fi
  if command -v apt-get >/dev/null 2>&1; then
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 update &&
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300 install \\
      {py} {quote(interpreter + "-venv")}
  elif command -v dnf >/dev/null 2>&1; then $SUDO dnf -y -q install {py}
  elif command -v yum >/dev/null 2>&1; then $SUDO yum -y -q install {py}
  elif command -v apk >/dev/null 2>&1; then $SUDO apk add -q python3
  else echo "cloudorm: {interpreter} is missing and there is no apt-get, dnf, yum or apk to install it" >&2; exit 1
  fi || exit 1
fi
{py} --version"""


@attrs.frozen
class Bootstrap:
    """What every node of a cluster gets after it boots (settings validated by ``Bootstrap.of``)."""

    runtime: str | None = "python3"
    """The interpreter the venv is made from (None: no Python is set up and ``requirements`` must be empty)."""
    requirements: tuple[str, ...] = ()
    """Requirement strings installed into the venv."""
    requirements_file: Path | None = None
    """A local requirements file, uploaded and installed into the venv."""
    files: tuple[tuple[Path, str], ...] = ()
    """``(local, remote)`` files and directories uploaded first."""
    setup: tuple[str, ...] = ()
    """Shell commands run last, in order, with the environment file sourced."""

    @classmethod
    def of(cls, runtime: Any = "python3", requirements: Any = (), files: Any = (), setup: Any = ()) -> Bootstrap:
        """Validated settings (``InvalidInput`` naming the field)."""
        lines, path = check_requirements(requirements)
        runtime = check_runtime(runtime)
        if runtime is None and (lines or path):
            raise InvalidInput("requirements", "requirements are installed with the runtime: give runtime= too")
        return cls(runtime, lines, path, check_files(files), check_setup(setup))

    @property
    def has_requirements(self) -> bool:
        """True when there is something to pip install."""
        return bool(self.requirements or self.requirements_file)

    def environment(self, cluster: str, node: str) -> str:
        """The environment file's text for ``node``."""
        lines = ["# written by cloudorm; sourced before every command cloudorm runs here",
                 f"export CLOUDORM_CLUSTER={quote(cluster)}", f"export CLOUDORM_NODE={quote(node)}"]
        if self.runtime is not None:
            lines += [f'export VIRTUAL_ENV="$HOME/{VENV}"', f'export PATH="$HOME/{VENV}/bin:$PATH"']
        return "\n".join(lines) + "\n"

    def apply(self, node: Node, cluster: str, install: bool = True,
              deadline: float | None = None, setup: bool = True) -> list[CommandResult]:
        """Bootstrap ``node``; the result of every command run, in order (also kept as ``node.bootstrap_log``, up to
        the failing step). A failing step (or one still running at ``deadline``, a ``time.monotonic()`` value)
        raises ``CommandFailed`` naming the node and the step. ``install`` False: a missing interpreter is an
        error, never installed (local nodes share this machine). ``setup`` False: the setup commands are not run
        (a node whose login changed gets the rest again in the new login's home)."""
        log: list[CommandResult] = []
        node.bootstrap_log = log

        def step(name: str, cmd: str) -> None:
            timeout = None if deadline is None else max(1.0, deadline - time.monotonic())
            result = node.run(cmd, timeout=timeout)
            log.append(result)
            if not result.ok:
                raise CommandFailed(f"bootstrap step {name!r} failed on {node.name}: {failure_message([result])}",
                                    failures=[result])

        for local, remote in uploads(self.files):
            node.put(local, remote)
        step("prepare", f'mkdir -p "$HOME/{HOME_DIR}"')
        if self.runtime is not None:
            step("runtime", runtime_script(self.runtime, self.has_requirements, install))
            pip = "" if self.has_requirements else " --without-pip"
            step("venv", f'{quote(self.runtime)} -m venv{pip} "$HOME/{VENV}"')
        if self.requirements_file is not None:  # (uploaded as it is: its -r/-c includes must resolve on the node)
            node.put(self.requirements_file, REQUIREMENTS_FILE)
        elif self.requirements:
            with tempfile.TemporaryDirectory(prefix="cloudorm-requirements-") as tmp:
                path = Path(tmp, "requirements.txt")
                path.write_text("".join(f"{line}\n" for line in self.requirements))
                node.put(path, REQUIREMENTS_FILE)
        if self.has_requirements:
            step("requirements", f'"$HOME/{VENV}/bin/python" -m pip install --disable-pip-version-check -q '
                                 f'-r "$HOME/{REQUIREMENTS_FILE}"')
        with tempfile.TemporaryDirectory(prefix="cloudorm-env-") as tmp:
            path = Path(tmp, "env")
            path.write_text(self.environment(cluster, node.name))
            node.put(path, ENV_FILE)
        for i, cmd in enumerate(self.setup if setup else ()):
            step(f"setup[{i}]: {cmd}", cmd)
        return log
