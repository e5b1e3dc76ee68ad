"""Port forwarding over a node's SSH connection, like ``ssh -L``: a TCP port on 127.0.0.1 of this machine whose every
connection is relayed (``cloudorm.compute.ssh.relay``) to a ``direct-tcpip`` channel reaching ``host:port`` as the
node sees it. Nothing is opened on the node or to the internet; the host key is verified on every reconnect."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cloudorm.compute.ssh.known_hosts import host_entry
from cloudorm.compute.ssh.relay import Relay
from cloudorm.errors import InvalidInput

if TYPE_CHECKING:
    from cloudorm.compute.ssh.connection import SSHConnection
    from cloudorm.compute.ssh.ssh_sdk import paramiko


def check_target(host: object, port: object) -> tuple[str, int]:
    """``(host, port)`` when ``port`` is 1-65535 and ``host`` a host name or address; ``InvalidInput`` otherwise."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidInput("port", f"must be a TCP port, 1 to 65535, not {port!r}")
    if not isinstance(host, str) or not host or any(ord(c) < 32 or c == "\x7f" for c in host):
        raise InvalidInput("host", f"must be a host name or address as the node sees it, not {host!r}")
    host_entry(host, port)  # (InvalidInput("host") for what is no name or address: spaces, brackets, patterns)
    return host, port


class Forward(Relay):
    """``address`` (127.0.0.1, a free port) relays every connection to ``host:port`` as the node of ``connection``
    sees it, until ``close()``. A connection whose channel is refused (nothing listens there, forwarding
    prohibited, a changed host key) is closed at once; ``failure`` says why."""

    def __init__(self, connection: SSHConnection, host: str, port: int) -> None:
        self.connection = connection
        self.host, self.port = check_target(host, port)
        super().__init__(self._connect, f"cloudorm-forward-{connection.host}-{port}", half_close=True,
                         what=f"{host}:{port} on {connection}")

    def __repr__(self) -> str:
        return f"Forward({self.connection!r}, {self.host}:{self.port} at 127.0.0.1:{self.address[1]})"

    def _connect(self, peer: tuple[str, int] | str) -> paramiko.Channel:
        origin = peer if isinstance(peer, tuple) else ("127.0.0.1", 0)
        return self.connection.open_forward(self.host, self.port, origin)


__all__ = ["Forward", "check_target"]
