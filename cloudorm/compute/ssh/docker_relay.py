"""A node's Docker engine over cloudorm's own SSH connection: a Unix socket on this machine whose every connection is
relayed to ``docker system dial-stdio`` run on the node, over the node's verified (host-key pinned) paramiko
connection. The docker SDK then talks to the node's engine exactly as to a local one (a ``unix://`` base URL).

Why not the SDK's ``ssh://``: docker-py's SSH adapter checks host keys against ``~/.ssh/known_hosts`` only and logs in
with the keys ``~/.ssh/config`` names, so it cannot use a cluster's pinned known_hosts or its login key (its
``use_ssh_client`` mode runs the ``ssh`` command, with the same files). Why ``dial-stdio`` and not a
``direct-streamlocal`` channel to ``/var/run/docker.sock``: it needs no SSH forwarding (hardened sshd configs turn
``AllowStreamLocalForwarding`` off), it is what the docker CLI and docker-py run over SSH themselves, and it reaches
the engine the node's own ``docker`` command reaches (its ``DOCKER_HOST`` and context)."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import socket
import tempfile
import threading
import time
import weakref
from typing import TYPE_CHECKING

from cloudorm.compute.ssh.ssh_sdk import paramiko_module
from cloudorm.errors import CloudError
from cloudorm.waiting import backoff

if TYPE_CHECKING:
    from cloudorm.compute.ssh.connection import SSHConnection
    from cloudorm.compute.ssh.ssh_sdk import paramiko

DIAL = "docker system dial-stdio"
"""The command each relayed connection runs on the node: it joins its stdin and stdout to the engine's socket."""

_CHUNK = 1 << 16


class EngineRelay:
    """A Unix socket (in a new 0700 directory, the socket 0600) relaying each connection to ``DIAL`` on the node of
    ``connection``; ``url`` is the docker SDK's ``base_url``. ``close()`` stops it and removes the directory."""

    def __init__(self, connection: SSHConnection, command: str = DIAL) -> None:
        self.connection = connection
        self.command = command
        self.stderr = b""
        """What the last relayed command wrote to stderr (its last 4 KiB): why a connection closed at once."""
        self.failure: CloudError | None = None
        """Why the last connection could not be relayed (``HostKeyMismatch``, ``AccessDenied``, ``Timeout``...),
        None once one was."""
        self._dir = tempfile.mkdtemp(prefix="cloudorm-docker-")
        self.path = os.path.join(self._dir, "docker.sock")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._listener.bind(self.path)
            os.chmod(self.path, 0o600)
            self._listener.listen(16)
        except BaseException:
            _shut(self._listener, self._dir)
            raise
        self._finalizer = weakref.finalize(self, _shut, self._listener, self._dir)
        threading.Thread(target=self._accept, name=f"cloudorm-docker-relay-{connection.host}", daemon=True).start()

    def __repr__(self) -> str:
        return f"EngineRelay({self.connection!r}, {self.path!r})"

    @property
    def url(self) -> str:
        """``unix://<path>``: the docker SDK's base URL for the node's engine."""
        return f"unix://{self.path}"

    def close(self) -> None:
        """Stop accepting, remove the socket's directory (relayed connections end as their clients close them)."""
        self._finalizer()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(client,), name=f"{threading.current_thread().name}-conn",
                             daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            channel = self._open()
        except Exception as e:  # the SDK sees its connection close; the engine's error mapping raises this
            self.failure = e if isinstance(e, CloudError) else CloudError(
                f"the Docker engine of {self.connection} cannot be reached: {type(e).__name__}: {e}")
            client.close()
            return
        self.failure = None
        try:
            self.stderr = _pump(client, channel) or self.stderr
        except (OSError, EOFError, paramiko_module().SSHException):
            pass  # the connection to the node died: the SDK sees its socket close
        finally:
            with contextlib.suppress(Exception):  # (closing a channel of a dead connection raises EOFError)
                channel.close()
            client.close()

    def _open(self) -> paramiko.Channel:
        """A new session channel running ``command`` (waiting a little while the server refuses more sessions)."""
        sdk = paramiko_module()
        c = self.connection
        deadline = time.monotonic() + c.connect_timeout
        attempt = 0
        while True:
            transport = c._transport_for(c.connect_timeout)  # (reconnects, verifying the host key again, if dropped)
            try:
                channel = transport.open_session(timeout=c.connect_timeout)
            except sdk.ChannelException as e:
                if time.monotonic() > deadline:
                    raise CloudError(f"{c} refused a new session for the Docker engine: {e}") from None
                time.sleep(backoff(attempt, base=0.02, cap=0.5))
                attempt += 1
                continue
            channel.exec_command(self.command)
            return channel


def _pump(client: socket.socket, channel: paramiko.Channel) -> bytes:
    """Copy bytes both ways until either side closes; what the command wrote to stderr (its last 4 KiB)."""
    err = b""
    poll = select.poll()
    poll.register(client, select.POLLIN)
    poll.register(channel.fileno(), select.POLLIN)  # (paramiko sets this pipe for stdout, stderr and the end)
    while True:
        poll.poll(500)
        while channel.recv_ready():
            data = channel.recv(_CHUNK)
            if not data:
                break
            try:
                client.sendall(data)
            except OSError:
                return err
        while channel.recv_stderr_ready():
            err = (err + channel.recv_stderr(_CHUNK))[-4096:]
        if channel.closed or (channel.eof_received and not channel.recv_ready()):
            return err
        try:
            data = client.recv(_CHUNK, socket.MSG_DONTWAIT)
        except BlockingIOError:
            continue
        except OSError:
            return err
        if not data:
            return err  # the SDK closed its connection: the channel is closed after
        channel.sendall(data)


def _shut(listener: socket.socket, directory: str) -> None:
    """Wake the accepting thread, close the listener, remove the directory."""
    with contextlib.suppress(OSError):
        listener.shutdown(socket.SHUT_RDWR)  # (Linux: wakes a blocked accept(), which a close alone does not)
    listener.close()
    shutil.rmtree(directory, ignore_errors=True)


__all__ = ["DIAL", "EngineRelay"]
