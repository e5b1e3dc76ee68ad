"""A local node's power: off, its commands are refused and the processes its commands started are stopped; on
again, they run. The server records the state (the node's ``status``) and marks it in the node's directory, where
``LocalShell`` looks before and after it starts a command, in whichever process it runs.

Every process a local node's command starts carries ``CLOUDORM_LOCAL_NODE`` (the node's directory) in its
environment, inherited by what it starts in turn; powering off or rebooting the node stops (SIGKILL, as pulling the
plug would) every process of this user that carries it, found in ``/proc`` (Linux; where there is no ``/proc`` the
running processes are left alone, and only new commands are refused).
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudorm.errors import InvalidInput
from cloudorm.providers.contract import Wire

if TYPE_CHECKING:
    from cloudorm.providers.local.nodes import LocalNodes

MARKER = "CLOUDORM_LOCAL_NODE"
"""The environment variable naming the node's directory in every process its commands start."""

SWEEPS = 20
"""How many times the processes of a node are looked for and stopped (a process may start another meanwhile)."""


def off_flag(home: Path) -> Path:
    """The file whose presence says the node whose directory is ``home`` is powered off."""
    return home / ".cloudorm" / "powered-off"


def is_off(home: Path) -> bool:
    """True when the node whose directory is ``home`` is powered off."""
    return off_flag(home).exists()


def set_power(home: Path, on: bool) -> None:
    """Mark the node whose directory is ``home`` on or off."""
    flag = off_flag(home)
    if on:
        flag.unlink(missing_ok=True)
    else:
        flag.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        flag.write_text("off\n")


def node_processes(*homes: Path) -> list[int]:
    """The ids of this user's processes that carry ``MARKER`` = one of ``homes`` (none where there is no
    ``/proc``), in one look through ``/proc``."""
    proc = Path("/proc")
    if not homes or not proc.is_dir():
        return []
    wanted = {f"{MARKER}={home}".encode() for home in homes}
    prefix = f"{MARKER}=".encode()
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # another user's process, or one that just ended
            continue
        if prefix in environ and any(v in wanted for v in environ.split(b"\0") if v.startswith(prefix)):
            found.append(int(entry.name))
    return found


def stop_processes(*homes: Path) -> int:
    """Stop (SIGKILL) every process a command of the nodes whose directories are ``homes`` started, again until
    none is left (or ``SWEEPS`` rounds); how many were stopped."""
    stopped = 0
    for _ in range(SWEEPS):
        pids = node_processes(*homes)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                stopped += 1
    return stopped


# ---------------------------------------------------------------------------------------------- the server's side
# (operations of the compute API, run under the part's lock; ``nodes`` is the ``LocalNodes`` part)


def _node_id(body: Wire) -> str:
    value = body.get("node_id")
    if not isinstance(value, str) or not value:
        raise InvalidInput("node_id", f"must be a non-empty string, not {value!r}")
    return value


def power_off(nodes: LocalNodes, body: Wire, doomed: list[Path]) -> Any:
    """Mark the node off and stop its processes (a node off already: its processes are looked for again)."""
    record = nodes._node(_node_id(body))
    home = nodes.home(record["id"])
    set_power(home, on=False)
    record["status"] = "off"
    stop_processes(home)
    return nodes._wire(record)


def power_on(nodes: LocalNodes, body: Wire, doomed: list[Path]) -> Any:
    """Mark the node on (a node on already is left as it is)."""
    record = nodes._node(_node_id(body))
    set_power(nodes.home(record["id"]), on=True)
    record["status"] = "active"
    return nodes._wire(record)


def restart(nodes: LocalNodes, node_id: str) -> None:
    """What a reboot does to a local node: its processes stopped, and on again if it was off."""
    record = nodes._node(node_id)
    home = nodes.home(node_id)
    stop_processes(home)
    set_power(home, on=True)
    record["status"] = "active"


__all__ = ["MARKER", "is_off", "node_processes", "off_flag", "power_off", "power_on", "restart", "set_power",
           "stop_processes"]
