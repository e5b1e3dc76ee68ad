"""SSH to nodes (the one module that imports paramiko): ``SSHShell`` runs commands and moves files over one
verified connection per node, ``KnownHosts`` pins host keys, ``cloud_config`` hands a node its host key at creation.

Host keys are never accepted silently: a key pinned in ``KnownHosts`` must match, a host without an entry has its key
recorded on first use, and a different key is refused with ``HostKeyMismatch``. ``known_hosts=None`` is the explicit
opt-out for throwaway nodes (any key accepted, a warning logged once per host).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import select
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypeVar

from cloudorm.checks import check_seconds
from cloudorm.compute.keys import KeyPair, public_key_blob, require_package, sha256_fingerprint
from cloudorm.compute.shell import quote
from cloudorm.credentials import protect
from cloudorm.errors import AccessDenied, CloudError, HostKeyMismatch, InvalidInput, NotFound, Timeout
from cloudorm.waiting import backoff

if TYPE_CHECKING:
    import paramiko

log = logging.getLogger(__name__)

T = TypeVar("T")

KILL_AFTER = 5
"""Seconds between the TERM and the KILL ``timeout`` sends a command that outlived its timeout."""

GRACE = 2.0
"""Seconds the client waits past a command's timeout (and KILL_AFTER) before it stops waiting on its own."""

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_LOGIN = re.compile(r"[^\s\x00-\x1f\x7f]+\Z")  # a login name: no whitespace or control characters

_warned_lock = threading.Lock()
_warned: set[str] = set()


_HOST = re.compile(r"[^\s,*?!\[\]|#@]+\Z")  # a name or address: nothing a known_hosts pattern or field means


def _host_entry(host: str, port: int) -> str:
    """The known_hosts name of ``host:port``: ``host`` for port 22, ``[host]:port`` otherwise (as OpenSSH);
    ``InvalidInput`` for what is no host name or address."""
    if not isinstance(host, str) or not _HOST.match(host):
        raise InvalidInput("host", f"must be a host name or address, not {host!r}")
    return host if port == 22 else f"[{host}]:{port}"


# ----------------------------------------------------------------------------------------------- known hosts

class KnownHosts:
    """An OpenSSH-format known_hosts file (``path`` None: kept in memory): the host keys nodes must present."""

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path: Path | None = Path(path).expanduser() if path is not None else None
        self._lock = threading.RLock()
        self._memory: list[str] = []

    def __repr__(self) -> str:
        return f"KnownHosts({str(self.path) if self.path else None!r})"

    def _lines(self) -> list[str]:
        if self.path is None:
            return list(self._memory)
        try:
            return self.path.read_text().splitlines()
        except FileNotFoundError:
            return []

    def _write(self, lines: list[str]) -> None:
        if self.path is None:
            self._memory = lines
            return
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text("".join(f"{line}\n" for line in lines))
        os.replace(tmp, self.path)

    @staticmethod
    def _matches(names: str, entry: str) -> bool:
        for name in names.split(","):
            if name.startswith("|1|"):  # a hashed entry: |1|salt|HMAC-SHA1(salt, name)
                try:
                    salt, digest = (base64.b64decode(p) for p in name[3:].split("|", 1))
                except (ValueError, TypeError):
                    continue
                if hmac.compare_digest(hmac.new(salt, entry.encode(), hashlib.sha1).digest(), digest):
                    return True
            elif name == entry:
                return True
        return False

    @staticmethod
    def _fields(line: str) -> list[str] | None:
        fields = line.split()
        if len(fields) < 3 or line.lstrip().startswith("#"):
            return None
        if fields[0].startswith("@"):  # @cert-authority / @revoked markers: not host keys of their own
            return None
        return fields

    def lookup(self, host: str, port: int = 22) -> list[str]:
        """The public keys (``type base64`` lines) recorded for ``host`` at ``port``."""
        return [key for _, key in self._entries(host, port)]

    def _entries(self, host: str, port: int) -> list[tuple[int, str]]:
        """The line numbers (from 1) and public keys of the entries for ``host`` at ``port``."""
        entry = _host_entry(host, port)
        with self._lock:
            found = []
            for number, line in enumerate(self._lines(), 1):
                fields = self._fields(line)
                if fields and self._matches(fields[0], entry):
                    found.append((number, f"{fields[1]} {fields[2]}"))
            return found

    @contextlib.contextmanager
    def _updating(self) -> Iterator[None]:
        """Hold the lock of this file (threads and, through a ``.lock`` file, other processes) while changing it."""
        with self._lock:
            if self.path is None:
                yield
                return
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)

    def pin(self, host: str, public_key: str, port: int = 22) -> None:
        """Record ``public_key`` (an OpenSSH line) as the only key of ``host``, replacing any entry for it (an
        address reused by a new node)."""
        key_type, blob = public_key_blob(public_key)
        entry = _host_entry(host, port)
        line = f"{entry} {key_type} {base64.b64encode(blob).decode()}"
        with self._updating():
            kept = [ln for ln in self._lines() if not ((f := self._fields(ln)) and self._matches(f[0], entry))]
            self._write([*kept, line])

    def forget(self, host: str, port: int = 22) -> None:
        """Remove every entry for ``host`` at ``port``."""
        entry = _host_entry(host, port)
        with self._updating():
            lines = self._lines()
            kept = [ln for ln in lines if not ((f := self._fields(ln)) and self._matches(f[0], entry))]
            if kept != lines:
                self._write(kept)


# ----------------------------------------------------------------------------------------------- cloud-init

def cloud_config(host_key: KeyPair, authorized_keys: Iterable[str] = ()) -> str:
    """cloud-init user data that makes a new node use ``host_key`` (ed25519) from its first boot, so even the first
    connection is verified (plus optional ``ssh_authorized_keys``). The private key is kept out of every log."""
    if host_key.key_type != "ssh-ed25519":
        raise InvalidInput("host_key", f"must be an ed25519 key, not {host_key.key_type}")
    private = host_key.private_openssh()
    body = [ln for ln in private.splitlines() if ln and not ln.startswith("-----")]
    protect((private, private.strip(), *body))
    lines = [
        "#cloud-config",
        "ssh_deletekeys: true",
        "ssh_genkeytypes: []",
        "ssh_keys:",
        "  ed25519_private: |",
        *(f"    {ln}" for ln in private.strip().splitlines()),
        f"  ed25519_public: {json.dumps(host_key.public_key)}",
    ]
    keys = [k.strip() for k in authorized_keys if k.strip()]
    for key in keys:
        public_key_blob(key)  # an OpenSSH public key line, or InvalidInput
    if keys:
        lines.append("ssh_authorized_keys:")
        lines.extend(f"  - {json.dumps(k)}" for k in keys)
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------- the shell

def _pkey(key: KeyPair) -> paramiko.PKey:
    """The paramiko form of a KeyPair's private key."""
    import io

    import paramiko

    cls: Any = {"ssh-ed25519": paramiko.Ed25519Key, "ssh-rsa": paramiko.RSAKey}.get(key.key_type)
    if cls is None and key.key_type.startswith("ecdsa-"):
        cls = paramiko.ECDSAKey
    if cls is None:
        raise InvalidInput("key", f"{key.key_type} keys are not supported for SSH logins")
    pkey: paramiko.PKey = cls.from_private_key(io.StringIO(key.private_openssh()))
    return pkey


def _retryable(error: BaseException) -> bool:
    """True for what a booting node answers: refused, reset, timeout, no route, a missing banner, EOF."""
    import paramiko

    if isinstance(error, (paramiko.AuthenticationException, paramiko.BadHostKeyException)):
        return False
    if isinstance(error, (socket.timeout, TimeoutError, ConnectionError, EOFError, paramiko.SSHException)):
        return True
    return isinstance(error, OSError) and error.errno in (
        errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ECONNREFUSED, errno.ECONNRESET, errno.ETIMEDOUT,
        errno.EHOSTDOWN, errno.ECONNABORTED, errno.EPIPE)


class SSHShell:
    """A ``Shell`` over SSH to one node: one paramiko connection (opened on first use, re-opened after a drop) whose
    channels carry concurrent ``run`` calls and SFTP transfers."""

    def __init__(self, host: str, *, user: str | None = None, default_user: str = "root", key: KeyPair,
                 known_hosts: KnownHosts | None, port: int = 22, ssh_config: str | os.PathLike[str] | None = None,
                 connect_timeout: float = 10.0, max_sessions: int = 8) -> None:
        require_package("paramiko")
        _host_entry(host, 22)  # checks the name
        if user is not None and not (isinstance(user, str) and _LOGIN.match(user)):
            raise InvalidInput("user", f"must be a login name (or None for ssh_config's or the default), not {user!r}")
        if not (isinstance(default_user, str) and _LOGIN.match(default_user)):
            raise InvalidInput("default_user", f"must be a login name, not {default_user!r}")
        if not isinstance(port, int) or not 0 < port < 65536:
            raise InvalidInput("port", f"must be a TCP port, not {port!r}")
        if isinstance(max_sessions, bool) or not isinstance(max_sessions, int) or max_sessions < 1:
            raise InvalidInput("max_sessions", f"must be a positive int, not {max_sessions!r}")
        if not isinstance(key, KeyPair):
            raise InvalidInput("key", f"must be a cloudorm.KeyPair, not {type(key).__name__}")
        if known_hosts is not None and not isinstance(known_hosts, KnownHosts):
            raise InvalidInput("known_hosts", f"must be a KnownHosts (or None to skip host key checks), not "
                                              f"{type(known_hosts).__name__}")
        check_seconds("connect_timeout", connect_timeout)
        self.host = host
        self.port = port
        self.key = key
        self.known_hosts = known_hosts
        self.connect_timeout = float(connect_timeout)
        self.ssh_config = Path(ssh_config).expanduser() if ssh_config is not None else None
        self._transport: paramiko.Transport | None = None
        self._lock = threading.Lock()
        self.max_sessions = max_sessions
        """Channels open at once on the connection (OpenSSH's MaxSessions is 10 by default); more calls wait."""
        self._sessions = threading.BoundedSemaphore(max_sessions)
        self._has_timeout: bool | None = None
        self._proxy: str | None = None
        self._target = self._resolve(user, default_user)
        self.user = self._target[2]
        """The login name: ``user`` when given, else the ``User`` of a matching ssh_config block, else
        ``default_user`` (OpenSSH's order: ``-l``/``user@`` wins over the config)."""

    def __repr__(self) -> str:
        return f"SSHShell({self.user}@{_host_entry(self.host, self.port)})"

    def _resolve(self, user: str | None, default_user: str) -> tuple[str, int, str]:
        """Where to connect and as whom: the ``HostName``, ``Port`` (and ``ProxyCommand``) of a matching ``Host``
        block of ``ssh_config``, else the node's own address and port; ``user``, else the block's ``User``, else
        ``default_user``."""
        if self.ssh_config is None:
            return self.host, self.port, user or default_user
        import paramiko

        try:
            found = paramiko.SSHConfig.from_path(str(self.ssh_config)).lookup(self.host)
        except FileNotFoundError:
            raise InvalidInput("ssh_config", f"no file at {self.ssh_config}") from None
        try:
            port = int(found.get("port", self.port))
        except ValueError:
            raise InvalidInput("ssh_config", f"Port of {self.host} is not a number") from None
        self._proxy = found.get("proxycommand") if str(found.get("proxycommand", "none")).lower() != "none" else None
        return str(found.get("hostname") or self.host), port, user or str(found.get("user") or default_user)

    # ------------------------------------------------------------------------------------------- connecting

    def wait_ready(self, timeout: float) -> None:
        """Connect, retrying what a booting node answers (refused, timeout, reset, no banner) until ``timeout``
        seconds passed (then ``Timeout`` naming the host and the last error). A refused login is ``AccessDenied``
        and a wrong host key ``HostKeyMismatch``, at once."""
        check_seconds("timeout", timeout)
        self._transport_for(timeout)

    def _transport_for(self, timeout: float) -> paramiko.Transport:
        with self._lock:
            t = self._transport
            if t is not None and t.is_active():
                return t
            if t is not None:
                t.close()
                self._transport = None
            deadline = time.monotonic() + timeout
            attempt = 0
            while True:
                remaining = deadline - time.monotonic()
                try:
                    self._transport = self._connect(max(0.5, min(self.connect_timeout, remaining)))
                    return self._transport
                except Exception as e:
                    if not _retryable(e):
                        raise
                    last = e
                pause = backoff(attempt, base=0.1, cap=1.0)
                attempt += 1
                if time.monotonic() + pause >= deadline:
                    target = f"{self._target[0]}:{self._target[1]}"
                    via = "" if target == f"{self.host}:{self.port}" else f" (via {target})"
                    error = Timeout(f"SSH to {_host_entry(self.host, self.port)}{via} did not answer within "
                                    f"{timeout:g} s; last error: {_describe(last)}")
                    error.last_error = last
                    raise error from None
                time.sleep(pause)

    def _connect(self, timeout: float) -> paramiko.Transport:
        import paramiko

        address, port, user = self._target
        sock: Any = (paramiko.ProxyCommand(self._proxy) if self._proxy
                     else socket.create_connection((address, port), timeout=timeout))
        transport = paramiko.Transport(sock)
        try:
            transport.banner_timeout = timeout
            transport.handshake_timeout = timeout
            pinned = self.known_hosts.lookup(self.host, self.port) if self.known_hosts is not None else []
            if pinned:  # offer only the pinned key types, so the server shows the key that was pinned
                sec = transport.get_security_options()
                wanted = []
                for line in pinned:
                    kind = line.split()[0]
                    wanted.extend(["rsa-sha2-512", "rsa-sha2-256", kind] if kind == "ssh-rsa" else [kind])
                sec.key_types = [k for k in dict.fromkeys(wanted) if k in sec.key_types]
            try:
                transport.start_client(timeout=timeout)
            except paramiko.SSHException as e:
                if pinned and "no acceptable host key" in str(e):
                    raise self._mismatch(pinned, None) from None
                raise
            self._verify(transport.get_remote_server_key(), pinned)
            try:
                transport.auth_publickey(user, _pkey(self.key))
            except paramiko.AuthenticationException as e:
                raise AccessDenied(f"SSH login as {user!r} to {_host_entry(self.host, self.port)} with key "
                                   f"{self.key.fingerprint} was refused: {e}") from None
            transport.set_keepalive(30)
            return transport
        except BaseException:
            transport.close()
            raise

    def _verify(self, server_key: paramiko.PKey, pinned: list[str]) -> None:
        actual = f"{server_key.get_name()} {server_key.get_base64()}"
        name = _host_entry(self.host, self.port)
        if self.known_hosts is None:
            with _warned_lock:
                first = name not in _warned
                _warned.add(name)
            if first:
                log.warning("host key checking is off for %s (known_hosts=None): accepting %s without verifying it",
                            name, sha256_fingerprint(server_key.asbytes()))
            return
        if not pinned:
            self.known_hosts.pin(self.host, actual, self.port)
            log.info("recorded the host key of %s on first use: %s", name, sha256_fingerprint(server_key.asbytes()))
            return
        if not any(line.split()[1] == server_key.get_base64() for line in pinned):
            raise self._mismatch(pinned, server_key)

    def _mismatch(self, pinned: list[str], server_key: paramiko.PKey | None) -> HostKeyMismatch:
        expected = ", ".join(sha256_fingerprint(public_key_blob(line)[1]) for line in pinned)
        actual = (sha256_fingerprint(server_key.asbytes()) if server_key is not None
                  else "no key of the pinned type")
        name = _host_entry(self.host, self.port)
        known = self.known_hosts
        if known is not None and known.path is not None:
            numbers = [str(n) for n, _ in known._entries(self.host, self.port)]
            lines = f"line{'s' if len(numbers) > 1 else ''} {', '.join(numbers)}" if numbers else f"{name}'s line"
            where = f"remove {lines} of {known.path} (ssh-keygen -R {quote(name)} -f {quote(str(known.path))})"
        else:
            where = f"call known_hosts.forget({self.host!r}, {self.port})"
        return HostKeyMismatch(
            f"the SSH host key of {name} is not the one recorded for it: expected {expected}, got {actual}; the "
            f"connection was refused and nothing was run. The usual cause is a node that was rebuilt, or a new node "
            f"given the same address: if so, {where} and connect again to record its new key. Otherwise do not "
            f"connect: someone may be intercepting the connection", host=name, expected=expected, actual=actual)

    def _drop(self, transport: paramiko.Transport) -> None:
        """Forget a connection found dead (unless another thread replaced it already)."""
        with self._lock:
            if self._transport is transport:
                self._transport = None
        transport.close()

    def close(self) -> None:
        """Close the connection (safe to call twice; the next call opens a new one)."""
        with self._lock:
            t, self._transport = self._transport, None
        if t is not None:
            t.close()

    def __enter__(self) -> SSHShell:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> Any:
        raise TypeError("an SSHShell is not picklable (it holds a private key and a connection)")

    @contextlib.contextmanager
    def _session(self) -> Iterator[paramiko.Channel]:
        """A new session channel (at most ``max_sessions`` at a time), reconnecting once when the connection
        turned out to be dead; closed after use."""
        import paramiko

        with self._sessions:
            dropped = refused = 0
            deadline = time.monotonic() + self.connect_timeout
            while True:
                t = self._transport_for(self.connect_timeout)
                try:
                    chan = t.open_session(timeout=self.connect_timeout)
                    break
                except paramiko.ChannelException as e:
                    # the server refused a channel (MaxSessions: closed ones may not be counted out yet);
                    # the connection itself is fine: wait a little
                    if time.monotonic() > deadline:
                        raise CloudError(f"{self} refused a new session: {e}") from None
                    time.sleep(backoff(refused, base=0.02, cap=0.5))
                    refused += 1
                except (paramiko.SSHException, EOFError, OSError):
                    if dropped or t.is_active():
                        raise
                    self._drop(t)  # a dead connection: reconnect once
                    dropped += 1
            try:
                yield chan
            finally:
                chan.close()

    # ------------------------------------------------------------------------------------------- commands

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

    # ------------------------------------------------------------------------------------------- files

    def _sftp(self, operation: Callable[[paramiko.SFTPClient], T]) -> T:
        import paramiko

        with self._session() as chan:
            chan.invoke_subsystem("sftp")
            return operation(paramiko.SFTPClient(chan))

    def put(self, local: Path, remote: str) -> None:
        """Copy a local file to ``remote`` (``~/x`` and relative paths are in the login home; a path ending in
        ``/`` or naming a directory gets the file's own name), creating parent directories and keeping the
        permission bits."""
        source = Path(local)
        try:
            mode = source.stat().st_mode
        except FileNotFoundError:
            raise NotFound(f"no local file {source}") from None
        if not stat.S_ISREG(mode):
            raise InvalidInput("local", f"{source} is not a file")
        target = _remote_path(remote)

        def send(sftp: paramiko.SFTPClient) -> None:
            path = target
            if remote.endswith("/") or remote == "~" or _is_dir(sftp, path):
                path = str(PurePosixPath(path) / source.name)
            _makedirs(sftp, str(PurePosixPath(path).parent))
            sftp.put(str(source), path)
            sftp.chmod(path, stat.S_IMODE(mode))

        self._file_errors(remote, lambda: self._sftp(send))

    def get(self, remote: str, local: Path) -> None:
        """Copy ``remote`` (``~/x`` and relative paths are in the login home) to a local file (into it, when
        ``local`` is a directory) with the same permission bits, creating its parent directories; a failed copy
        leaves no partial file."""
        source = _remote_path(remote)
        target = Path(local)
        if target.is_dir():
            target = target / PurePosixPath(source).name
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.part")
        os.close(os.open(part, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600))  # local errors are raised here

        def fetch(sftp: paramiko.SFTPClient) -> None:
            mode = sftp.stat(source).st_mode or 0o600
            sftp.get(source, str(part))
            os.chmod(part, stat.S_IMODE(mode))
            os.replace(part, target)

        try:
            self._file_errors(remote, lambda: self._sftp(fetch))
        finally:
            part.unlink(missing_ok=True)

    def _file_errors(self, remote: str, action: Callable[[], None]) -> None:
        try:
            action()
        except OSError as e:
            if isinstance(e, FileNotFoundError) or e.errno == errno.ENOENT:
                raise NotFound(f"{remote!r} does not exist on {self}") from None
            if isinstance(e, PermissionError) or e.errno == errno.EACCES:
                raise AccessDenied(f"{remote!r} on {self}: permission denied") from None
            if e.errno is None and not isinstance(e, (ConnectionError, socket.timeout)):
                raise CloudError(f"{remote!r} on {self}: {e}") from None
            raise


def _remote_path(remote: str) -> str:
    """``remote`` as SFTP wants it: ``~`` and ``~/x`` become relative (SFTP starts in the login home)."""
    if not isinstance(remote, str) or not remote or "\0" in remote:
        raise InvalidInput("remote", f"must be a path, not {remote!r}")
    if remote == "~":
        return "."
    if remote.startswith("~/"):
        return remote[2:] or "."
    if remote.startswith("~"):
        raise InvalidInput("remote", "~user paths are not supported: give an absolute path")
    return remote


def _is_dir(sftp: paramiko.SFTPClient, path: str) -> bool:
    """True when ``path`` is a directory on the node."""
    try:
        return stat.S_ISDIR(sftp.stat(path).st_mode or 0)
    except OSError:
        return False


def _makedirs(sftp: paramiko.SFTPClient, directory: str) -> None:
    """``mkdir -p`` over SFTP."""
    if directory in ("", ".", "/"):
        return
    try:
        if stat.S_ISDIR(sftp.stat(directory).st_mode or 0):
            return
        raise InvalidInput("remote", f"{directory} exists and is not a directory")
    except FileNotFoundError:
        pass
    _makedirs(sftp, str(PurePosixPath(directory).parent))
    try:
        sftp.mkdir(directory)
    except OSError:
        if not stat.S_ISDIR(sftp.stat(directory).st_mode or 0):  # made by someone else meanwhile is fine
            raise


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


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}" if type(error).__name__ not in text else text


__all__ = ["KnownHosts", "SSHShell", "cloud_config"]
