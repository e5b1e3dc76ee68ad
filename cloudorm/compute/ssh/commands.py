"""Running commands on a node over SSH: one session channel a command, its output read as it comes, its timeout
enforced on the node by coreutils' ``timeout``."""

from __future__ import annotations

import logging
import re
import select
import time
from collections.abc import Mapping

from cloudorm.checks import check_seconds
from cloudorm.compute.shell import quote
from cloudorm.compute.ssh.connection import SSHConnection
from cloudorm.errors import CloudError, InvalidInput

log = logging.getLogger(__name__)

KILL_AFTER = 5
"""Seconds between the TERM and the KILL ``timeout`` sends a command that outlived its timeout."""

GRACE = 2.0
"""Seconds the client waits past a command's timeout (and KILL_AFTER) before it stops waiting on its own."""

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class SSHCommands(SSHConnection):
    """The commands part of ``SSHShell``: ``run`` on the node's login shell."""

    _has_timeout: bool | None = None  # whether the node has coreutils' timeout (asked on first need)

    def run(self, command: str, timeout: float | None = None,
            environment: Mapping[str, str] | None = None) -> tuple[int | None, str, str]:
        """Run ``command`` in the login shell of the node; ``(exit code, stdout, stderr)``. The exit code is None
        when it ran past ``timeout`` seconds and was stopped (killed on the node with coreutils' ``timeout``), -1
        when the command was killed by a signal. ``environment`` is exported first, every value quoted."""
        if not isinstance(command, str) or not command.strip():
            raise InvalidInput("command", "must be a non-empty string")
        if timeout is not None:
            check_seconds("timeout", timeout)
        prefix = _exports(environment)
        wrapped = False
        line = command
        if timeout is not None and self._remote_timeout():
            line = f"timeout --kill-after={KILL_AFTER} {timeout:g} sh -c {quote(command)}"
            wrapped = True
        full = prefix + line
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout + ((KILL_AFTER + GRACE) if wrapped else 0)
        code, out, err = self._execute(full, deadline)
        if wrapped and code in (124, 128 + 9) and time.monotonic() - started >= timeout:  # type: ignore[operator]
            code = None  # timeout's own "timed out" statuses, after the time ran out
        return code, out, err

    def _remote_timeout(self) -> bool:
        """True when the node has coreutils' ``timeout`` (asked once per shell)."""
        if self._has_timeout is None:
            code, out, _ = self._execute("command -v timeout >/dev/null 2>&1 && timeout --version", None)
            self._has_timeout = code == 0 and "coreutils" in out.lower()
            if not self._has_timeout:
                log.warning("%s has no coreutils timeout: a command that times out is abandoned, not killed", self)
        return self._has_timeout

    def _execute(self, line: str, deadline: float | None) -> tuple[int | None, str, str]:
        with self._session() as chan:
            chan.exec_command(line)
            chan.shutdown_write()  # stdin is empty: a command that reads it gets end of file, never a hang
            ready = select.poll()  # poll, not select: descriptors above 1024 are fine
            ready.register(chan.fileno(), select.POLLIN)
            out: list[bytes] = []
            err: list[bytes] = []
            while True:
                if chan.recv_ready():
                    out.append(chan.recv(1 << 16))
                    continue
                if chan.recv_stderr_ready():
                    err.append(chan.recv_stderr(1 << 16))
                    continue
                if chan.eof_received or chan.closed:
                    break
                wait = 1.0 if deadline is None else deadline - time.monotonic()
                if wait <= 0:
                    return None, _text(out), _text(err)
                ready.poll(int(min(wait, 1.0) * 1000) + 1)
            while not chan.exit_status_ready():  # exit-status follows the end of file (a close sets it too)
                wait = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
                if wait <= 0:
                    return None, _text(out), _text(err)
                chan.status_event.wait(wait)
            code = chan.recv_exit_status()
            transport = chan.get_transport()
            if code == -1 and (transport is None or not transport.is_active()):
                if transport is not None:
                    self._drop(transport)
                raise CloudError(f"the connection to {self} was lost while a command ran; it may have run in part")
            return code, _text(out), _text(err)


def _exports(environment: Mapping[str, str] | None) -> str:
    """An ``export K=V ...;`` prefix, every value quoted (sshd drops most variables sent with SetEnv)."""
    if not environment:
        return ""
    if not isinstance(environment, Mapping):
        raise InvalidInput("environment", f"must be a mapping of names to strings, not {type(environment).__name__}")
    parts = []
    for name, value in environment.items():
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            raise InvalidInput("environment", f"{name!r} is not a valid variable name")
        if not isinstance(value, str) or "\0" in value:
            raise InvalidInput("environment", f"the value of {name} must be a string without NUL characters")
        parts.append(f"{name}={quote(value)}")
    return f"export {' '.join(parts)}; "


def _text(chunks: list[bytes]) -> str:
    return b"".join(chunks).decode("utf-8", errors="replace")
