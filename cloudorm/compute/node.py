"""The Node entity: one server of a cluster (a droplet, an instance or a local working directory)."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from cloudorm.checks import check_flag, check_seconds, check_utf8
from cloudorm.compute.bootstrap import with_environment
from cloudorm.compute.names import node_number
from cloudorm.compute.shell import CommandResult, Shell
from cloudorm.errors import InvalidInput

if TYPE_CHECKING:
    from cloudorm.compute.cluster import Cluster

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_command(cmd: Any) -> str:
    """A non-empty shell command string."""
    if not isinstance(cmd, str) or not cmd.strip():
        raise InvalidInput("cmd", f"must be a non-empty shell command string, not {cmd!r}")
    return check_utf8("cmd", cmd)


def check_timeout(timeout: Any) -> float | None:
    """None or a positive number of seconds (``cloudorm.checks.check_seconds``)."""
    return None if timeout is None else check_seconds("timeout", timeout)


def check_environment(environment: Any) -> dict[str, str] | None:
    """None or a mapping of variable names to string values."""
    if environment is None:
        return None
    if not isinstance(environment, Mapping):
        raise InvalidInput("environment", f"must be a mapping of names to strings, not {type(environment).__name__}")
    for key, value in environment.items():
        if not isinstance(key, str) or not ENV_NAME.fullmatch(key):
            raise InvalidInput("environment", f"{key!r} is not a variable name")
        if not isinstance(value, str) or "\0" in value:
            raise InvalidInput("environment", f"the value of {key} must be a string (without NUL)")
        check_utf8(f"environment[{key!r}]", value, secret=True)
    return dict(environment)


def check_remote(remote: Any, field: str = "remote") -> str:
    """A non-empty remote path."""
    if not isinstance(remote, (str, os.PathLike)) or not str(remote) or "\0" in str(remote):
        raise InvalidInput(field, f"must be a path on the node, not {remote!r}")
    return check_utf8(field, str(remote))


def check_local_file(local: Any, field: str = "local") -> Path:
    """An existing local file."""
    if not isinstance(local, (str, os.PathLike)):
        raise InvalidInput(field, f"must be a path, not {type(local).__name__}")
    path = Path(local).expanduser()
    if not path.is_file():
        raise InvalidInput(field, f"{str(path)!r} is not a file")
    return path


class Node:
    """One server of a cluster: ``id``, ``name``, ``address``, ``status``, ``size``; ``run``, ``put``, ``get``.

    Commands run in the login user's home with the node's environment file sourced (the cluster's venv first on
    ``PATH``); relative remote paths are relative to that home."""

    def __init__(self, cluster: Cluster, record: Mapping[str, Any]) -> None:
        self.cluster = cluster
        self._record: dict[str, Any] = dict(record)
        self._shell: Shell | None = None
        self._lock = threading.Lock()
        self.bootstrap_log: list[CommandResult] = []
        """The result of every command the last bootstrap of this node ran, in order."""

    def __repr__(self) -> str:
        return f"Node({self.name!r}, id={self.id!r}, address={self.address!r}, status={self.status!r})"

    @property
    def id(self) -> str:
        """The provider's id of the node."""
        return str(self._record["id"])

    @property
    def name(self) -> str:
        """``{cluster}-{n}``."""
        return str(self._record["name"])

    @property
    def number(self) -> int | None:
        """``n`` of ``{cluster}-{n}`` (None for a node named otherwise)."""
        return node_number(self.cluster.name, self.name)

    @property
    def address(self) -> str | None:
        """The public IPv4 address SSH uses (``127.0.0.1`` for local nodes)."""
        return self._record.get("address")

    @property
    def private_address(self) -> str | None:
        """The address inside the provider's network, if any."""
        return self._record.get("private_address")

    @property
    def status(self) -> str:
        """``pending``, ``active``, ``off`` or ``deleted``, as last loaded."""
        return str(self._record.get("status"))

    @property
    def size(self) -> str | None:
        """The size slug or instance type."""
        return self._record.get("size")

    @property
    def region(self) -> str | None:
        """The region the node runs in."""
        return self._record.get("region")

    @property
    def image(self) -> str | None:
        """The image the node was made from."""
        return self._record.get("image")

    @property
    def created(self) -> datetime | None:
        """When the node was created."""
        return self._record.get("created")

    # ----------------------------------------------------------------------------------------------- shell

    @property
    def shell(self) -> Shell:
        """The connection to this node (opened on first use)."""
        with self._lock:
            if self._shell is None:
                self._shell = self.cluster._open_shell(self._record)
            return self._shell

    def close(self) -> None:
        """Close the connection (the next command opens a new one)."""
        with self._lock:
            shell, self._shell = self._shell, None
        if shell is not None:
            shell.close()

    def wait_ready(self, timeout: float) -> None:
        """Wait until the node answers (SSH: connect, retrying while it boots; ``Timeout`` after ``timeout`` s)."""
        check_seconds("timeout", timeout)
        wait = getattr(self.shell, "wait_ready", None)
        if wait is not None:
            wait(timeout)

    def run(self, cmd: str, timeout: float | None = None, check: bool = False,
            environment: Mapping[str, str] | None = None) -> CommandResult:
        """Run ``cmd`` in a POSIX shell on the node; its result (``check=True``: ``CommandFailed`` unless it exited
        0). ``timeout`` stops it after that many seconds (exit code None)."""
        cmd = check_command(cmd)
        check = check_flag("check", check)
        seconds = check_timeout(timeout)
        env = check_environment(environment)
        start = time.monotonic()
        code, out, err = self.shell.run(with_environment(cmd), seconds, env)
        result = CommandResult(self, cmd, code, out, err, time.monotonic() - start)
        return result.check() if check else result

    def put(self, local: str | os.PathLike[str], remote: str | None = None) -> str:
        """Copy a local file to the node (``remote`` defaults to its name in the home); the remote path."""
        path = check_local_file(local)
        target = path.name if remote is None else check_remote(remote)
        self.shell.put(path, target)
        return target

    def get(self, remote: str, local: str | os.PathLike[str] | None = None) -> Path:
        """Copy a file from the node to ``local`` (a file path, or a directory to put it in; default: the current
        directory under its name); the local path."""
        remote = check_remote(remote)
        name = PurePosixPath(remote).name
        if not name or remote.endswith("/"):
            raise InvalidInput("remote", f"{remote!r} does not name a file")
        if local is not None and not isinstance(local, (str, os.PathLike)):
            raise InvalidInput("local", f"must be a path, not {type(local).__name__}")
        target = Path.cwd() / name if local is None else Path(local).expanduser()
        if target.is_dir():
            target = target / name
        self.shell.get(remote, target)
        return target

    # ------------------------------------------------------------------------------------------- lifecycle

    def refresh(self) -> Node:
        """Reload the node's record from the provider (``NotFound`` when it is gone)."""
        record = self.cluster.session.compute.get_node(self.id)
        if record.get("address") != self.address:
            self.close()
        self._record = dict(record)
        return self

    def reboot(self, wait: bool = True, timeout: float | None = None) -> Node:
        """Reboot the node through the provider; with ``wait``, return once it is active and answers again
        (within ``timeout`` s, default the cluster's ``boot_timeout``).

        SSH is tried again as soon as the provider reports the node active: a provider that reports it before the
        node went down may let the old session answer once more."""
        wait = check_flag("wait", wait)
        seconds = check_timeout(timeout) or self.cluster.boot_timeout
        self.cluster.session.compute.reboot_node(self.id)
        self.close()
        if wait:
            deadline = time.monotonic() + seconds
            self._record = self.cluster._wait_active([self.id], deadline)[0]
            self.wait_ready(max(1.0, deadline - time.monotonic()))
        return self

    def delete(self) -> None:
        """Destroy the node (and forget its host key)."""
        self.cluster.remove_node(self)
