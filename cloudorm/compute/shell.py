"""What runs commands and moves files on one node: the ``Shell`` protocol, and the result of a command.

SSH nodes get their shell from ``cloudorm.compute.ssh``; the local provider's working-directory nodes from the
provider. ``Node`` and ``Cluster`` only ever talk to this protocol, so a script rehearsed on the local cloud runs
unchanged on droplets or instances.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import attrs

from cloudorm.errors import ClusterError, CommandFailed
from cloudorm.results import Results

if TYPE_CHECKING:
    from cloudorm.compute.node import Node


class Shell(Protocol):
    """A connection to one node. Relative remote paths are relative to the node's home (its working directory)."""

    def run(self, command: str, timeout: float | None = None,
            environment: Mapping[str, str] | None = None) -> tuple[int | None, str, str]:
        """Run ``command`` in a POSIX shell; ``(exit code, stdout, stderr)``, exit code None when ``timeout``
        (seconds) passed first and the command was stopped."""

    def put(self, local: Path, remote: str) -> None:
        """Copy a local file to ``remote`` (parent directories are created; the mode's permission bits kept)."""

    def get(self, remote: str, local: Path) -> None:
        """Copy ``remote`` to a local file (parent directories are created)."""

    def forward(self, host: str, port: int) -> tuple[str, int]:
        """A TCP address on this machine (127.0.0.1, a free port) whose connections reach ``host:port`` as the
        node sees it; it lives until ``close()``. The same target again: the same address."""

    def close(self) -> None:
        """Release the connection (and stop its forwards); the next call may open a new one."""


def quote(value: str | Path) -> str:
    """``value`` quoted for a POSIX shell: user values are never spliced into a command raw."""
    return shlex.quote(str(value))


def command(*argv: str | Path) -> str:
    """A shell command line from separate arguments, each quoted: ``command("pip", "install", spec)``."""
    return shlex.join(str(a) for a in argv)


@attrs.frozen
class CommandResult:
    """What one command did on one node: exit code (None when it timed out), output, and wall time in seconds."""

    node: Node = attrs.field(repr=lambda n: repr(n.name))
    command: str
    exit_code: int | None
    stdout: str = attrs.field(repr=False)
    stderr: str = attrs.field(repr=False)
    duration: float

    @property
    def target(self) -> str:
        """The node's name."""
        return self.node.name

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.exit_code == 0

    @property
    def timed_out(self) -> bool:
        """True when the command was stopped at its timeout."""
        return self.exit_code is None

    def check(self) -> CommandResult:
        """This result, or ``CommandFailed`` carrying it when the command did not exit 0."""
        if not self.ok:
            raise command_failed([self])
        return self


class CommandResults(Results[CommandResult]):
    """One ``CommandResult`` per node, in the order of the nodes asked for (``cloudorm.results.Results``):
    ``.failed`` are the non-zero exits, ``.raise_for_errors()`` raises ``ClusterError`` with a ``CommandFailed``
    cause per failing node, ``.check()`` one ``CommandFailed`` carrying them all."""

    what = "nodes"

    @property
    def failures(self) -> list[CommandResult]:
        """The results that did not exit 0 (the same as ``failed``)."""
        return self.failed

    def by_node(self) -> dict[str, CommandResult]:
        """The results keyed by node name (the same as ``by_target()``)."""
        return {r.node.name: r for r in self}

    def check(self) -> CommandResults:
        """These results, or ``CommandFailed`` carrying every failure."""
        failures = self.failed
        if failures:
            raise command_failed(failures)
        return self

    def _error(self, failed: list[CommandResult]) -> ClusterError:
        """``ClusterError`` whose ``causes`` hold a ``CommandFailed`` per failing node and whose ``results`` are
        these results."""
        causes: dict[str, BaseException] = {r.node.name: command_failed([r]) for r in failed}
        return ClusterError(f"{len(failed)} of {len(self)} {self.what} failed: {failure_message(failed)}", causes,
                            self)


def failure_message(failures: Iterable[CommandResult]) -> str:
    """One line per failing node: name, exit code (or timeout) and the last line of its stderr."""
    lines = []
    for r in failures:
        status = "timed out" if r.exit_code is None else f"exited {r.exit_code}"
        tail = r.stderr.strip().splitlines()[-1:] or [""]
        lines.append(f"{r.node.name}: {r.command!r} {status}" + (f": {tail[0][:200]}" if tail[0] else ""))
    return "; ".join(lines)


def command_failed(failures: list[CommandResult]) -> CommandFailed:
    """``CommandFailed`` carrying ``failures``, its message naming each."""
    return CommandFailed(failure_message(failures), failures=failures)
