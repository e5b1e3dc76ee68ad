"""The connection under an ``SSHShell``: where it goes (``ssh_config``), connecting with retries while a node
boots, checking the server's host key before logging in, and the session channels commands and transfers use."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudorm.checks import check_seconds
from cloudorm.compute.keys import KeyPair, require_package
from cloudorm.compute.ssh.config import resolve_target
from cloudorm.compute.ssh.known_hosts import KnownHosts, check_host_key, host_entry, mismatch
from cloudorm.compute.ssh.ssh_sdk import paramiko_module
from cloudorm.errors import AccessDenied, CloudError, InvalidInput, Timeout
from cloudorm.waiting import backoff

if TYPE_CHECKING:
    from typing_extensions import Self

    from cloudorm.compute.ssh.ssh_sdk import paramiko

_LOGIN = re.compile(r"[^\s\x00-\x1f\x7f]+\Z")  # a login name: no whitespace or control characters


class SSHConnection:
    """One verified paramiko connection to a node (opened on first use, re-opened after a drop) and the session
    channels it carries, at most ``max_sessions`` at once: the base ``SSHShell`` runs commands and moves files on."""

    def __init__(self, host: str, *, user: str | None = None, default_user: str = "root", key: KeyPair,
                 known_hosts: KnownHosts | None, port: int = 22, ssh_config: str | os.PathLike[str] | None = None,
                 connect_timeout: float = 10.0, max_sessions: int = 8) -> None:
        require_package("paramiko")
        host_entry(host, 22)  # checks the name
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
        self._forwards_lock = threading.Lock()  # (the shell's forwards: never held while connecting)
        self.max_sessions = max_sessions
        """Channels open at once on the connection (OpenSSH's MaxSessions is 10 by default); more calls wait."""
        self._sessions = threading.BoundedSemaphore(max_sessions)
        self._target = resolve_target(self.ssh_config, host, port, user, default_user)
        self.user = self._target.user
        """The login name: ``user`` when given, else the ``User`` of a matching ssh_config block, else
        ``default_user`` (OpenSSH's order: ``-l``/``user@`` wins over the config)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.user}@{host_entry(self.host, self.port)})"

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
                    target = f"{self._target.address}:{self._target.port}"
                    via = "" if target == f"{self.host}:{self.port}" else f" (via {target})"
                    error = Timeout(f"SSH to {host_entry(self.host, self.port)}{via} did not answer within "
                                    f"{timeout:g} s; last error: {_describe(last)}")
                    error.last_error = last
                    raise error from None
                time.sleep(pause)

    def _connect(self, timeout: float) -> paramiko.Transport:
        sdk = paramiko_module()

        address, port, user, proxy = self._target
        sock: Any = sdk.ProxyCommand(proxy) if proxy else _socket(address, port, timeout)
        transport = sdk.Transport(sock)
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
            except sdk.SSHException as e:
                if pinned and "no acceptable host key" in str(e):
                    raise mismatch(self.known_hosts, self.host, self.port, pinned, None) from None
                raise
            check_host_key(self.known_hosts, self.host, self.port, transport.get_remote_server_key(), pinned)
            try:
                transport.auth_publickey(user, _pkey(self.key))
            except sdk.AuthenticationException as e:
                raise AccessDenied(f"SSH login as {user!r} to {host_entry(self.host, self.port)} with key "
                                   f"{self.key.fingerprint} was refused: {e}") from None
            transport.set_keepalive(30)
            return transport
        except BaseException:
            transport.close()
            raise

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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> Any:
        raise TypeError("an SSHShell is not picklable (it holds a private key and a connection)")

    @contextlib.contextmanager
    def _session(self) -> Iterator[paramiko.Channel]:
        """A new session channel (at most ``max_sessions`` at a time), reconnecting once when the connection
        turned out to be dead; closed after use."""
        sdk = paramiko_module()

        with self._sessions:
            dropped = refused = 0
            deadline = time.monotonic() + self.connect_timeout
            while True:
                t = self._transport_for(self.connect_timeout)
                try:
                    chan = t.open_session(timeout=self.connect_timeout)
                    break
                except (sdk.SSHException, EOFError, OSError) as e:
                    if refused_channel(e, t):
                        # the server refused a channel (MaxSessions: closed ones may not be counted out yet);
                        # the connection itself is fine: wait a little
                        if time.monotonic() > deadline:
                            raise CloudError(f"{self} refused a new session: {e}") from None
                        time.sleep(backoff(refused, base=0.02, cap=0.5))
                        refused += 1
                        continue
                    if dropped or t.is_active():
                        raise
                    self._drop(t)  # a dead connection: reconnect once
                    dropped += 1
            try:
                yield chan
            finally:
                chan.close()

    def open_forward(self, host: str, port: int, origin: tuple[str, int]) -> paramiko.Channel:
        """A ``direct-tcpip`` channel to ``host:port`` as the node sees it (``origin``: the local peer, as sshd
        logs it), reconnecting once when the connection turned out dead. It takes no ``max_sessions`` slot: sshd's
        MaxSessions counts sessions, not forwards. ``CloudError`` naming the target when the server refuses it
        (nothing listens there, or forwarding is administratively prohibited)."""
        sdk = paramiko_module()

        dropped = False
        while True:
            t = self._transport_for(self.connect_timeout)
            try:
                channel: paramiko.Channel = t.open_channel("direct-tcpip", (host, port), origin,
                                                           timeout=self.connect_timeout)
                return channel
            except (sdk.SSHException, EOFError, OSError) as e:
                if refused_channel(e, t):
                    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
                    raise CloudError(f"{self} could not open a forwarded connection to {target}: "
                                     f"{_refusal(e)}") from None
                if dropped or t.is_active():
                    raise
                self._drop(t)  # a dead connection: reconnect once
                dropped = True


class _QuickAck(socket.socket):
    """A TCP socket acknowledging what it received at once (Linux's ``TCP_QUICKACK``, which the kernel turns off
    again as it likes: set after every read). sshd sends small packets with Nagle's algorithm on (it turns it off for
    terminals only): its second packet in a row waits for the ACK of the first, which a delayed ACK holds ~40 ms."""

    def recv(self, size: int, flags: int = 0) -> bytes:
        data = super().recv(size, flags)
        if _TCP_QUICKACK is not None:
            with contextlib.suppress(OSError):
                self.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)
        return data


_TCP_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


def _socket(address: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to the server with Nagle's algorithm off (it held each small SSH packet for the server's
    delayed ACK: ~40 ms per channel open or command) and, on Linux, quick ACKs (``_QuickAck``)."""
    sock = socket.create_connection((address, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if _TCP_QUICKACK is None:
        return sock
    quick = _QuickAck(sock.family, sock.type, sock.proto, fileno=sock.detach())
    quick.settimeout(timeout)  # (a socket made from a descriptor does not take the old one's timeout)
    return quick


def _pkey(key: KeyPair) -> paramiko.PKey:
    """The paramiko form of a KeyPair's private key."""
    import io

    sdk = paramiko_module()

    cls: Any = {"ssh-ed25519": sdk.Ed25519Key, "ssh-rsa": sdk.RSAKey}.get(key.key_type)
    if cls is None and key.key_type.startswith("ecdsa-"):
        cls = sdk.ECDSAKey
    if cls is None:
        raise InvalidInput("key", f"{key.key_type} keys are not supported for SSH logins")
    pkey: paramiko.PKey = cls.from_private_key(io.StringIO(key.private_openssh()))
    return pkey


def _retryable(error: BaseException) -> bool:
    """True for what a booting node answers: refused, reset, timeout, no route, a missing banner, EOF."""
    sdk = paramiko_module()

    if isinstance(error, (sdk.AuthenticationException, sdk.BadHostKeyException)):
        return False
    if isinstance(error, (socket.timeout, TimeoutError, ConnectionError, EOFError, sdk.SSHException)):
        return True
    return isinstance(error, OSError) and error.errno in (
        errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ECONNREFUSED, errno.ECONNRESET, errno.ETIMEDOUT,
        errno.EHOSTDOWN, errno.ECONNABORTED, errno.EPIPE)


def refused_channel(error: BaseException, transport: paramiko.Transport) -> bool:
    """True when the server refused a channel on a live connection: paramiko's ``ChannelException``, or its bare
    "Unable to open channel" (concurrent refusals share one saved exception in paramiko: one of the threads gets
    none)."""
    sdk = paramiko_module()
    if isinstance(error, sdk.ChannelException):
        return True
    return (type(error) is sdk.SSHException and "Unable to open channel" in str(error)
            and transport.is_active())


def _refusal(error: Any) -> str:
    """Why the server refused a channel, in its words (``ChannelException``: RFC 4254's code and text)."""
    reasons = {1: "administratively prohibited (the server forbids forwarding: AllowTcpForwarding)",
               2: "connect failed (nothing listens there, or it cannot be reached from the node)",
               3: "unknown channel type", 4: "resource shortage"}
    code = getattr(error, "code", None)
    text = getattr(error, "text", "") or str(error)
    return f"{reasons.get(code, 'refused')} ({text})" if code in reasons else f"refused: {text}"


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}" if type(error).__name__ not in text else text
