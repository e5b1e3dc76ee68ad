"""The one relay between local sockets and SSH channels: a listener on this machine (a Unix socket in a new 0700
directory, or TCP on 127.0.0.1 and a free port) whose every accepted connection is joined to a channel a given
opener makes on a node's connection. ``EngineRelay`` (the node's Docker engine) and ``Forward`` (``ssh -L``) use it."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import socket
import tempfile
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from cloudorm.compute.ssh.ssh_sdk import paramiko_module
from cloudorm.errors import CloudError

if TYPE_CHECKING:
    from cloudorm.compute.ssh.ssh_sdk import paramiko

Opener = Callable[[tuple[str, int] | str], "paramiko.Channel"]
"""Makes the channel for one accepted connection, given the connection's peer (TCP: ``(address, port)``; Unix:
``""``); raises ``CloudError`` (or anything: it is wrapped) when it cannot."""

_CHUNK = 1 << 16


class Relay:
    """A listener relaying each connection it accepts to a channel from ``opener``, a thread per direction, until
    either side ends it. ``unix``: ``(prefix, name)`` of a new 0700 directory and the socket in it (0600); None: TCP
    on 127.0.0.1, a free port. ``half_close``: an end of file one way is passed on and the other way goes on (TCP, as
    ``ssh -L``); otherwise the first end closes both. ``close()`` stops listening and ends relayed connections."""

    def __init__(self, opener: Opener, name: str, *, unix: tuple[str, str] | None = None, half_close: bool = False,
                 what: str = "the node") -> None:
        self.opener = opener
        self.name = name
        """The prefix of the relay's thread names (the accept loop; ``-conn`` for each connection, ``-conn-up`` for
        the way towards the node)."""
        self.half_close = half_close
        self.what = what
        self.stderr = b""
        """What the last relayed channel wrote to stderr (its last 4 KiB): why a connection closed at once."""
        self.failure: CloudError | None = None
        """Why the last connection could not be relayed (``HostKeyMismatch``, ``AccessDenied``, ``Timeout``, a
        refused channel...), None once one was."""
        self._open: set[socket.socket | paramiko.Channel] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._dir: str | None = None
        if unix is not None:
            self._dir = tempfile.mkdtemp(prefix=unix[0])
            self.path = os.path.join(self._dir, unix[1])
            self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            self.path = ""
            """The Unix socket's path ("" for TCP)."""
            self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if self._dir is not None:
                self._listener.bind(self.path)
                os.chmod(self.path, 0o600)
            else:
                self._listener.bind(("127.0.0.1", 0))
            self._listener.listen(64)
            self._bound = self._listener.getsockname()
        except BaseException:
            _shut(self._listener, self._dir)
            raise
        self._finalizer = weakref.finalize(self, _shut, self._listener, self._dir)
        self._thread = threading.Thread(target=self._accept, name=name, daemon=True)
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        """``(127.0.0.1, port)`` of a TCP relay."""
        host, port = self._bound[:2]
        return str(host), int(port)

    def close(self) -> None:
        """Stop accepting (the port or socket refuses from now on, its directory is removed) and end every relayed
        connection; safe to call twice."""
        with self._lock:
            self._closed = True
            ends, self._open = list(self._open), set()
        self._finalizer()
        for end in ends:
            _end(end)
        if self._thread is not threading.current_thread():
            self._thread.join(5)

    def _accept(self) -> None:
        while True:
            try:
                client, peer = self._listener.accept()
            except OSError:
                return  # closed
            if client.family != socket.AF_UNIX:  # (relayed messages come in pieces: Nagle would hold the second
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # for the client's delayed ACK, 40 ms)
            threading.Thread(target=self._serve, args=(client, peer), name=f"{self.name}-conn", daemon=True).start()

    def _track(self, *ends: socket.socket | paramiko.Channel) -> bool:
        """Remember ``ends`` for ``close()``; False (and each ended) when the relay closed meanwhile."""
        with self._lock:
            if not self._closed:
                self._open.update(ends)
                return True
        for end in ends:
            _end(end)
        return False

    def _serve(self, client: socket.socket, peer: tuple[str, int] | str) -> None:
        if not self._track(client):
            return
        try:
            channel = self.opener(peer)
        except Exception as e:  # the client sees its connection close at once; ``failure`` says why
            self.failure = e if isinstance(e, CloudError) else CloudError(
                f"{self.what} cannot be reached: {type(e).__name__}: {e}")
            self._forget(client)
            return
        self.failure = None
        if not self._track(channel):
            self._forget(client)
            return
        try:
            self._pump(client, channel)
        finally:
            self._forget(client, channel)

    def _forget(self, *ends: socket.socket | paramiko.Channel) -> None:
        with self._lock:
            self._open.difference_update(ends)
        for end in ends:
            _end(end)

    def _pump(self, client: socket.socket, channel: paramiko.Channel) -> None:
        """Copy bytes both ways (towards the node in a second thread) until both ways ended, or one failed."""
        up = threading.Thread(target=self._up, args=(client, channel), name=f"{self.name}-conn-up", daemon=True)
        up.start()
        try:
            self._down(client, channel)
            if self.half_close and not channel.closed:  # (the node's side sent its end: this side may go on)
                with contextlib.suppress(OSError):
                    client.shutdown(socket.SHUT_WR)
                up.join()
        except (OSError, EOFError, paramiko_module().SSHException):
            pass  # either side died: the other sees its end close

    def _up(self, client: socket.socket, channel: paramiko.Channel) -> None:
        """This machine -> the node, until the client's end of file (passed on, or closing both)."""
        try:
            while True:
                data = client.recv(_CHUNK)
                if not data:
                    break
                channel.sendall(data)
            if self.half_close:
                channel.shutdown_write()
                return
        except (OSError, EOFError, paramiko_module().SSHException):
            pass
        _end(channel)  # (wakes the other way)

    def _down(self, client: socket.socket, channel: paramiko.Channel) -> None:
        """The node -> this machine until the channel's end of file; its stderr kept in ``stderr``."""
        err = b""
        poll = select.poll()
        poll.register(channel.fileno(), select.POLLIN)  # (paramiko sets this pipe for stdout, stderr and the end)
        try:
            while True:
                poll.poll(500)
                while channel.recv_ready():
                    data = channel.recv(_CHUNK)
                    if not data:
                        break
                    client.sendall(data)
                while channel.recv_stderr_ready():
                    err = (err + channel.recv_stderr(_CHUNK))[-4096:]
                if channel.closed or (channel.eof_received and not channel.recv_ready()):
                    return
        finally:
            if err:
                self.stderr = err


def _end(end: socket.socket | paramiko.Channel) -> None:
    """Close a client socket (shut first, which wakes a thread blocked on it) or a channel."""
    with contextlib.suppress(Exception):  # (closing a channel of a dead connection raises EOFError)
        if isinstance(end, socket.socket):
            end.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(Exception):
        end.close()


def _shut(listener: socket.socket, directory: str | None) -> None:
    """Wake the accepting thread, close the listener, remove the directory."""
    with contextlib.suppress(OSError):
        listener.shutdown(socket.SHUT_RDWR)  # (Linux: wakes a blocked accept(), which a close alone does not)
    listener.close()
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)


__all__ = ["Opener", "Relay"]
