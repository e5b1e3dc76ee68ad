"""Host keys: ``KnownHosts`` (an OpenSSH known_hosts file) and the check every new connection's server key passes:
a pinned key must match, a host without an entry has its key recorded on first use, and a different key is refused
with ``HostKeyMismatch``; ``known_hosts=None`` accepts any key (a warning logged once per host)."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import logging
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from cloudorm.compute.keys import public_key_blob, sha256_fingerprint
from cloudorm.compute.shell import quote
from cloudorm.errors import HostKeyMismatch, InvalidInput

if TYPE_CHECKING:
    from cloudorm.compute.ssh.ssh_sdk import paramiko

log = logging.getLogger(__name__)

_warned_lock = threading.Lock()
_warned: set[str] = set()

_HOST = re.compile(r"[^\s,*?!\[\]|#@]+\Z")  # a name or address: nothing a known_hosts pattern or field means


def host_entry(host: str, port: int) -> str:
    """The known_hosts name of ``host:port``: ``host`` for port 22, ``[host]:port`` otherwise (as OpenSSH);
    ``InvalidInput`` for what is no host name or address."""
    if not isinstance(host, str) or not _HOST.match(host):
        raise InvalidInput("host", f"must be a host name or address, not {host!r}")
    return host if port == 22 else f"[{host}]:{port}"


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
        entry = host_entry(host, port)
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
        entry = host_entry(host, port)
        line = f"{entry} {key_type} {base64.b64encode(blob).decode()}"
        with self._updating():
            kept = [ln for ln in self._lines() if not ((f := self._fields(ln)) and self._matches(f[0], entry))]
            self._write([*kept, line])

    def forget(self, host: str, port: int = 22) -> None:
        """Remove every entry for ``host`` at ``port``."""
        entry = host_entry(host, port)
        with self._updating():
            lines = self._lines()
            kept = [ln for ln in lines if not ((f := self._fields(ln)) and self._matches(f[0], entry))]
            if kept != lines:
                self._write(kept)


def check_host_key(known_hosts: KnownHosts | None, host: str, port: int, server_key: paramiko.PKey,
                   pinned: list[str]) -> None:
    """Accept ``server_key`` of ``host:port`` against ``pinned`` (its entries in ``known_hosts``): record it on
    first use, refuse a different one with ``HostKeyMismatch``; with ``known_hosts`` None accept it (warned once)."""
    actual = f"{server_key.get_name()} {server_key.get_base64()}"
    name = host_entry(host, port)
    if known_hosts is None:
        with _warned_lock:
            first = name not in _warned
            _warned.add(name)
        if first:
            log.warning("host key checking is off for %s (known_hosts=None): accepting %s without verifying it",
                        name, sha256_fingerprint(server_key.asbytes()))
        return
    if not pinned:
        known_hosts.pin(host, actual, port)
        log.info("recorded the host key of %s on first use: %s", name, sha256_fingerprint(server_key.asbytes()))
        return
    if not any(line.split()[1] == server_key.get_base64() for line in pinned):
        raise mismatch(known_hosts, host, port, pinned, server_key)


def mismatch(known_hosts: KnownHosts | None, host: str, port: int, pinned: list[str],
             server_key: paramiko.PKey | None) -> HostKeyMismatch:
    """The ``HostKeyMismatch`` for ``host:port`` presenting ``server_key`` (None: none of the pinned type), saying
    how to forget the old key if the node was rebuilt."""
    expected = ", ".join(sha256_fingerprint(public_key_blob(line)[1]) for line in pinned)
    actual = (sha256_fingerprint(server_key.asbytes()) if server_key is not None
              else "no key of the pinned type")
    name = host_entry(host, port)
    if known_hosts is not None and known_hosts.path is not None:
        numbers = [str(n) for n, _ in known_hosts._entries(host, port)]
        lines = f"line{'s' if len(numbers) > 1 else ''} {', '.join(numbers)}" if numbers else f"{name}'s line"
        where = f"remove {lines} of {known_hosts.path} (ssh-keygen -R {quote(name)} -f {quote(str(known_hosts.path))})"
    else:
        where = f"call known_hosts.forget({host!r}, {port})"
    return HostKeyMismatch(
        f"the SSH host key of {name} is not the one recorded for it: expected {expected}, got {actual}; the "
        f"connection was refused and nothing was run. The usual cause is a node that was rebuilt, or a new node "
        f"given the same address: if so, {where} and connect again to record its new key. Otherwise do not "
        f"connect: someone may be intercepting the connection", host=name, expected=expected, actual=actual)
