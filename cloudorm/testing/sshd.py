"""Real OpenSSH servers standing in for cloud nodes in tests: ``SshdHost`` runs ``/usr/sbin/sshd`` on its own
127.0.0.x address, in its own mount namespace where ``root/home`` is ``/root``, so every stand-in has its own home.

Needs root, ``/usr/sbin/sshd`` and ``unshare``; ``sshd_unavailable()`` says why they cannot run here (tests skip with
that reason, or fail when ``CLOUDORM_REQUIRE_SSHD`` is set, as in CI).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cloudorm.compute.keys import KeyPair
from cloudorm.errors import Timeout
from cloudorm.testing.service import TestService
from cloudorm.waiting import wait_until

SSHD = "/usr/sbin/sshd"
START_TIMEOUT = 10.0

_lock = threading.Lock()
_running: set[SshdHost] = set()
_claimed: set[str] = set()  # addresses this process claimed (files under _claims_dir())
_unavailable: list[str | None] = []  # the cached answer of sshd_unavailable


def sshd_unavailable() -> str | None:
    """Why sshd stand-ins cannot run here (no sshd, no unshare, not root, no mount namespaces), or None. With
    ``CLOUDORM_REQUIRE_SSHD=1`` in the environment a reason is raised as ``RuntimeError`` instead."""
    with _lock:
        if not _unavailable:
            _unavailable.append(_probe())
    reason = _unavailable[0]
    if reason and os.environ.get("CLOUDORM_REQUIRE_SSHD"):
        raise RuntimeError(f"CLOUDORM_REQUIRE_SSHD is set but sshd stand-ins cannot run: {reason}")
    return reason


def _probe() -> str | None:
    if not os.access(SSHD, os.X_OK):
        return f"{SSHD} is not installed (Debian: apt-get install openssh-server)"
    if not shutil.which("unshare"):
        return "unshare (util-linux) is not installed"
    if os.geteuid() != 0:
        return "sshd stand-ins need root (they bind 127.0.0.x:22 and bind-mount a home on /root)"
    try:
        probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                                "mount --bind / /mnt"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as e:
        return f"unshare --mount failed: {e}"
    if probe.returncode != 0:
        return f"unshare --mount with a bind mount is not permitted here: {probe.stderr.strip()[-300:]}"
    return None


# ----------------------------------------------------------------------------------------------- addresses

def _claims_dir() -> Path:
    path = Path(tempfile.gettempdir(), "cloudorm-sshd-addresses")
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _claim(address: str) -> bool:
    """Take ``address`` for this process unless a live process holds it (stale claims are taken over)."""
    claim = _claims_dir() / address
    for _ in range(2):
        try:
            fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            try:
                owner = int(claim.read_text() or "0")
            except (OSError, ValueError):
                return False  # being written by its owner right now
            if owner and _pid_alive(owner):
                return False
            with contextlib.suppress(FileNotFoundError):
                claim.unlink()
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        return True
    return False


def _bindable(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def allocate_address(port: int = 22) -> str:
    """A loopback address (127.0.0.10 and up, then 127.0.1.10 ...) no stand-in of any process uses and where
    ``port`` is free; it stays this process's until it exits."""
    with _lock:
        for third in range(256):
            for fourth in range(10, 255):
                address = f"127.0.{third}.{fourth}"
                if address in _claimed:
                    continue
                if not _claim(address):
                    continue
                if not _bindable(address, port):
                    (_claims_dir() / address).unlink(missing_ok=True)
                    continue
                _claimed.add(address)
                return address
    raise RuntimeError("no free loopback address left for an sshd stand-in")


def release_address(address: str) -> None:
    """Give back an address ``allocate_address`` claimed for this process (one not claimed here is left alone)."""
    with _lock:
        if address in _claimed:
            _claimed.discard(address)
            (_claims_dir() / address).unlink(missing_ok=True)


# ----------------------------------------------------------------------------------------------- user data

def apply_user_data(user_data: str | bytes | None) -> tuple[KeyPair | None, list[str]]:
    """What cloud-init would take from ``#cloud-config`` user data: the ed25519 host key of ``ssh_keys`` (None
    if absent) and the ``ssh_authorized_keys`` lines. Other user data (scripts) gives ``(None, [])``."""
    if user_data is None:
        return None, []
    text = user_data.decode() if isinstance(user_data, bytes) else user_data
    if not text.lstrip().startswith("#cloud-config"):
        return None, []
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - PyYAML comes with moto in every dev install
        raise RuntimeError("reading cloud-config user data needs PyYAML (pip install pyyaml)") from None
    doc = yaml.safe_load(text) or {}
    if not isinstance(doc, dict):
        raise ValueError("cloud-config user data is not a mapping")
    keys = doc.get("ssh_keys") or {}
    private = keys.get("ed25519_private") if isinstance(keys, dict) else None
    host_key = KeyPair.from_private(private) if private else None
    authorized = [str(line).strip() for line in doc.get("ssh_authorized_keys") or () if str(line).strip()]
    return host_key, authorized


# ----------------------------------------------------------------------------------------------- the server

class SshdHost(TestService):
    """A real ``sshd -D`` on ``address:port`` whose root logins land in ``root/home`` (bind-mounted on /root in the
    server's own mount namespace). Files (config, host key, authorized keys, log) live under ``root``."""

    def __init__(self, address: str, root: Path, *, host_key: KeyPair | None = None,
                 authorized_keys: Iterable[str] = (), port: int = 22,
                 options: Mapping[str, str] | None = None) -> None:
        self.address = address
        self.options = dict(options or {})
        """Extra sshd_config lines (``{"MaxSessions": "3"}``), placed first so they win (sshd keeps the first
        value of a keyword; ``HostKey`` adds a key)."""
        self.port = port
        self.root = Path(root).absolute()
        self.host_key: KeyPair = host_key or KeyPair.generate(f"root@{address}")
        """The key this server proves itself with (a new one on ``restart()`` unless given)."""
        self._authorized = [k.strip() for k in authorized_keys if k.strip()]
        self._process: subprocess.Popen[bytes] | None = None
        self._namespace: int | None = None  # an open descriptor of sshd's mount namespace: it stays this one's
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return f"SshdHost({self.address}:{self.port}, running={self.running})"

    # ------------------------------------------------------------------------------------------- files

    @property
    def home(self) -> Path:
        """The login user's home: what is ``/root`` for sessions on this server."""
        return self.root / "home"

    @property
    def config_path(self) -> Path:
        """The sshd_config of this server."""
        return self.root / "sshd_config"

    @property
    def log_path(self) -> Path:
        """sshd's stderr (errors only)."""
        return self.root / "sshd.log"

    def set_authorized_keys(self, keys: Iterable[str]) -> None:
        """Replace the public keys that may log in (takes effect for the next connection)."""
        self._authorized = [k.strip() for k in keys if k.strip()]
        self.root.mkdir(parents=True, exist_ok=True)
        self._write_authorized()

    def _write_authorized(self) -> None:
        path = self.root / "authorized_keys"
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(f"{k}\n" for k in self._authorized))
        os.replace(tmp, path)

    def _write_files(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(mode=0o700, exist_ok=True)
        Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)  # sshd's privilege separation directory
        self.host_key.save(self.root / "ssh_host_ed25519_key")
        self._write_authorized()
        self.config_path.write_text("\n".join([
            *(f"{k} {v}" for k, v in self.options.items()),
            f"ListenAddress {self.address}:{self.port}",
            f"HostKey {self.root / 'ssh_host_ed25519_key'}",
            f"AuthorizedKeysFile {self.root / 'authorized_keys'}",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            f"PidFile {self.root / 'sshd.pid'}",
            "StrictModes no",
            "LogLevel ERROR",
            "MaxStartups 100:30:200",
            "MaxSessions 64",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "Subsystem sftp internal-sftp",
            "",
        ]))

    # ------------------------------------------------------------------------------------------- lifecycle

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> SshdHost:
        """Write the files and start sshd; returns once it accepts connections (``RuntimeError`` with sshd's own
        words if it exits or does not listen within 10 s)."""
        with self._guard:
            if self.running:
                return self
            reason = sshd_unavailable()
            if reason:
                raise RuntimeError(f"cannot start an sshd stand-in: {reason}")
            self._write_files()
            (self.root / "sshd.pid").unlink(missing_ok=True)
            script = 'mount --bind "$1" /root && exec "$2" -D -e -f "$3"'
            with open(self.log_path, "wb") as log:
                self._process = subprocess.Popen(
                    ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                     str(self.home), SSHD, str(self.config_path)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
            with _lock:
                _running.add(self)
            try:
                self._wait_listening()
            except BaseException:
                self._stop_locked()
                raise
            return self

    def _wait_listening(self) -> None:
        process = self._process
        assert process is not None

        def listening() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"sshd for {self.address}:{self.port} exited with {process.returncode}: "
                                   f"{self._diagnosis()}")
            try:  # sshd writes its pid file once its socket is bound: then it is this server that listens
                return (self.root / "sshd.pid").read_text().strip() == str(process.pid)
            except OSError:
                return False

        try:
            wait_until(listening, timeout=START_TIMEOUT, what="sshd listening", interval=0.005, max_interval=0.1)
        except Timeout:
            raise RuntimeError(f"sshd for {self.address}:{self.port} did not listen within {START_TIMEOUT:g} s: "
                               f"{self._diagnosis()}") from None
        self._namespace = _hold_namespace(process.pid)  # sshd runs in its namespace by now (unshare and sh exec'd)

    def _diagnosis(self) -> str:
        """sshd's stderr, or what ``sshd -t`` says about the config."""
        try:
            log = self.log_path.read_text(errors="replace").strip()
        except OSError:
            log = ""
        test = subprocess.run([SSHD, "-t", "-f", str(self.config_path)], capture_output=True, text=True,
                              timeout=10)
        checked = test.stderr.strip() if test.returncode else ""
        return "; ".join(s for s in (log[-2000:], f"sshd -t: {checked}" if checked else "") if s) or "no output"

    def stop(self) -> None:
        """Stop the server and end every session on it, like a power-off (safe to call twice)."""
        with self._guard:
            self._stop_locked()

    def _stop_locked(self) -> None:
        process, namespace = self._process, self._namespace
        self._process, self._namespace = None, None
        with _lock:
            _running.discard(self)
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        if namespace is not None:  # sessions run in their own sessions (sshd's setsid): every process left in
            try:                   # the namespace, which the open descriptor keeps from being reused meanwhile
                _kill_namespace(namespace)
            finally:
                os.close(namespace)

    def restart(self, host_key: KeyPair | None = None) -> SshdHost:
        """Stop and start again (a reboot) with ``host_key``, or a new host key when None; the home is kept."""
        with self._guard:
            self._stop_locked()
        self.host_key = host_key or KeyPair.generate(f"root@{self.address}")
        return self.start()

    def __reduce__(self) -> Any:
        raise TypeError("an SshdHost is not picklable")


def _hold_namespace(pid: int) -> int | None:
    """An open descriptor of the mount namespace of ``pid`` (None when it is gone). While it is open the
    namespace, and so its inode number, cannot be freed and given to another stand-in's new namespace."""
    try:
        fd = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY)
    except OSError:
        return None
    if _same_file(os.fstat(fd), f"/proc/{os.getpid()}/ns/mnt"):  # never ours (unshare failed to make one)
        os.close(fd)
        return None
    return fd


def _same_file(st: os.stat_result, path: str) -> bool:
    """True when ``path`` is the file ``st`` describes (False when it is gone)."""
    try:
        other = os.stat(path)
    except OSError:
        return False
    return (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino)


def _kill_namespace(namespace: int) -> None:
    """SIGKILL every process in the mount namespace held open by descriptor ``namespace``, each through a pidfd
    taken before its namespace is checked, so a pid reused meanwhile is never signalled."""
    target = os.fstat(namespace)
    for _ in range(50):
        found = False
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or not _same_file(target, f"/proc/{entry}/ns/mnt"):
                continue
            try:
                pidfd = os.pidfd_open(int(entry))
            except OSError:
                continue  # gone already
            try:
                if _same_file(target, f"/proc/{entry}/ns/mnt"):  # still that process, still in the namespace
                    found = True
                    with contextlib.suppress(ProcessLookupError):
                        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            finally:
                os.close(pidfd)
        if not found:
            return
        time.sleep(0.01)


@atexit.register
def _cleanup() -> None:
    """No sshd outlives the process that started it, and its address claims are released."""
    with _lock:
        hosts = list(_running)
    for host in hosts:
        with contextlib.suppress(Exception):
            host.stop()
    for address in list(_claimed):
        with contextlib.suppress(OSError):
            (_claims_dir() / address).unlink()


__all__ = ["SshdHost", "allocate_address", "apply_user_data", "release_address", "sshd_unavailable"]
