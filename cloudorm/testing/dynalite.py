"""Run npm's ``dynalite`` (an in-memory DynamoDB implementation) for tests.

Install it with ``npm install --prefix DIR dynalite`` and point the
``CLOUDORM_DYNALITE`` environment variable at ``DIR/node_modules/.bin/dynalite``
(or put ``dynalite`` on ``PATH``).  Then::

    from cloudorm.testing import Dynalite

    if Dynalite.available():
        with Dynalite() as dyn:
            client = boto3.client("dynamodb", endpoint_url=dyn.url, ...)

Each ``Dynalite`` is a separate ``node`` subprocess listening on 127.0.0.1 with
its own empty in-memory store.  Tables become ACTIVE immediately by default
(``create_table_ms=0`` etc.), unlike dynalite's own 500 ms default.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import IO

from cloudorm.testing.service import TestService

__all__ = ["DYNALITE_ENV_VAR", "Dynalite"]

DYNALITE_ENV_VAR = "CLOUDORM_DYNALITE"
"""Environment variable holding the path of the dynalite bin script."""

_START_ATTEMPTS = 3


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Dynalite(TestService):
    """A dynalite server subprocess on 127.0.0.1 with a free port and in-memory storage."""

    def __init__(
        self,
        executable: str | None = None,
        *,
        create_table_ms: int = 0,
        delete_table_ms: int = 0,
        update_table_ms: int = 0,
        startup_timeout: float = 30.0,
    ) -> None:
        """Configure the server; ``executable`` defaults to ``find_executable()``."""
        for name, value in (
            ("create_table_ms", create_table_ms),
            ("delete_table_ms", delete_table_ms),
            ("update_table_ms", update_table_ms),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative int, got {value!r}")
        if not startup_timeout > 0:
            raise ValueError(f"startup_timeout must be positive, got {startup_timeout!r}")
        self.executable = executable
        """Path of the dynalite bin script (``None``: located at ``start()``)."""
        self._timings = (create_table_ms, delete_table_ms, update_table_ms)
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.port: int = 0
        """The port dynalite listens on (0 until started)."""

    @classmethod
    def find_executable(cls) -> str | None:
        """Return ``$CLOUDORM_DYNALITE`` if it names a file, else ``dynalite`` on PATH, or None."""
        env = os.environ.get(DYNALITE_ENV_VAR)
        if env:
            return env if os.path.isfile(env) else None
        return shutil.which("dynalite")

    @classmethod
    def available(cls) -> bool:
        """Whether a dynalite executable (and ``node``, if needed to run it) can be found."""
        exe = cls.find_executable()
        if exe is None:
            return False
        return os.access(exe, os.X_OK) or shutil.which("node") is not None

    @property
    def url(self) -> str:
        """The endpoint URL, e.g. ``http://127.0.0.1:54321``."""
        if self._process is None:
            raise RuntimeError("Dynalite is not started")
        return f"http://127.0.0.1:{self.port}"

    def _command(self, exe: str, port: int) -> list[str]:
        create_ms, delete_ms, update_ms = self._timings
        prefix = [exe] if os.access(exe, os.X_OK) and not exe.endswith(".js") else ["node", exe]
        return [
            *prefix,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--createTableMs",
            str(create_ms),
            "--deleteTableMs",
            str(delete_ms),
            "--updateTableMs",
            str(update_ms),
        ]

    def start(self) -> Dynalite:
        """Start the subprocess and wait until it answers HTTP; return self."""
        if self._process is not None:
            raise RuntimeError("Dynalite is already started")
        exe = self.executable or self.find_executable()
        if exe is None:
            raise RuntimeError(
                f"dynalite not found: set {DYNALITE_ENV_VAR} to the dynalite bin script "
                "or put dynalite on PATH (npm install --prefix DIR dynalite)"
            )
        last_output = ""
        for _ in range(_START_ATTEMPTS):
            port = _free_port()
            log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
            process = subprocess.Popen(
                self._command(exe, port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self._process, self._log, self.port = process, log, port
            if self._wait_ready(process, port):
                atexit.register(self.stop)  # never leave a node process behind, even if stop() is forgotten
                return self
            last_output = self._read_log()
            self.stop()
        raise RuntimeError(f"dynalite did not start ({exe}); output:\n{last_output}")

    def _wait_ready(self, process: subprocess.Popen[bytes], port: int) -> bool:
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
            try:
                conn.request("POST", "/", body=b"")
                conn.getresponse().read()
                return True
            except (OSError, http.client.HTTPException):
                time.sleep(0.05)
            finally:
                conn.close()
        return False

    def _read_log(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def stop(self) -> None:
        """Terminate the subprocess (kill it if it lingers); idempotent."""
        process, log = self._process, self._log
        self._process, self._log = None, None
        if process is not None and process.poll() is None:
            self._signal(process, signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._signal(process, signal.SIGKILL)
                process.wait(timeout=5)
        if log is not None:
            log.close()

    @staticmethod
    def _signal(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        # The process leads its own session (start_new_session), so signal its group.
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(sig)

    def __repr__(self) -> str:
        """Show the executable and port."""
        return f"Dynalite(executable={self.executable!r}, port={self.port})"
