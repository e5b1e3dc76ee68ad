"""The local cloud in a child process (``cloudorm serve --port 0``): for benchmarks that must not share a GIL with
the server, and for tests that need moto configured through its environment (e.g. ``INITIAL_NO_AUTH_ACTION_COUNT``).

    with ServeProcess(env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"}) as server:
        s = cloudorm.Session("local", endpoint_url=server.url)
"""

from __future__ import annotations

import os
import re
import selectors
import subprocess
import sys
from collections.abc import Mapping, Sequence

from cloudorm.testing.service import TestService

__all__ = ["ServeProcess"]


class ServeProcess(TestService):
    """Runs ``cloudorm serve`` on a free port of 127.0.0.1 in a child process, with extra environment ``env`` and
    extra command-line ``args`` (e.g. ``["--allow-origin", "http://localhost:3000"]``)."""

    def __init__(self, env: Mapping[str, str] | None = None, start_timeout: float = 30.0,
                 args: Sequence[str] = ()) -> None:
        """Configure the process; ``start()`` (or ``with``) runs it and waits up to ``start_timeout`` s for its URL."""
        self.env = dict(env or {})
        self.args = list(args)
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen[str] | None = None
        self._url: str | None = None

    def start(self) -> ServeProcess:
        """Start the server and wait until it prints its URL; returns self."""
        if self._proc is not None:
            raise RuntimeError("ServeProcess is already started")
        proc = subprocess.Popen([sys.executable, "-m", "cloudorm.cli", "serve", "--port", "0", *self.args],
                                env={**os.environ, **self.env}, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        self._proc = proc
        try:
            self._url = self._read_url(proc)
        except BaseException:
            self.stop()
            raise
        return self

    def _read_url(self, proc: subprocess.Popen[str]) -> str:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            if not sel.select(self.start_timeout):
                raise RuntimeError(f"cloudorm serve printed nothing in {self.start_timeout:g} s")
        first = proc.stdout.readline()  # "cloudorm local cloud on http://127.0.0.1:PORT"
        found = re.search(r"http://\S+", first)
        if not found:
            raise RuntimeError(f"cloudorm serve did not print its URL (exit code {proc.poll()}): {first!r}")
        return found.group(0)

    def stop(self) -> None:
        """Terminate the server (killing it if it does not stop within 10 s); safe to call twice."""
        proc, self._proc, self._url = self._proc, None, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()

    def kill(self) -> None:
        """Kill the server at once (SIGKILL: no cleanup, as in a crash); safe to call when it is stopped."""
        proc, self._proc, self._url = self._proc, None, None
        if proc is None:
            return
        proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()

    @property
    def url(self) -> str:
        """The server's URL, e.g. ``http://127.0.0.1:54321``."""
        if self._url is None:
            raise RuntimeError("ServeProcess is not started")
        return self._url

    @property
    def pid(self) -> int:
        """The server process's id (to read its CPU time, for example)."""
        if self._proc is None:
            raise RuntimeError("ServeProcess is not started")
        return self._proc.pid
