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

import time
from typing import TYPE_CHECKING

from cloudorm.compute.ssh.connection import refused_channel
from cloudorm.compute.ssh.relay import Relay
from cloudorm.compute.ssh.ssh_sdk import paramiko_module
from cloudorm.errors import CloudError
from cloudorm.waiting import backoff

if TYPE_CHECKING:
    from cloudorm.compute.ssh.connection import SSHConnection
    from cloudorm.compute.ssh.ssh_sdk import paramiko

DIAL = "docker system dial-stdio"
"""The command each relayed connection runs on the node: it joins its stdin and stdout to the engine's socket."""


class EngineRelay(Relay):
    """A Unix socket (in a new 0700 directory, the socket 0600) relaying each connection to ``DIAL`` on the node of
    ``connection`` (``cloudorm.compute.ssh.relay``); ``url`` is the docker SDK's ``base_url``. ``close()`` stops it,
    ends the relayed connections and removes the directory."""

    def __init__(self, connection: SSHConnection, command: str = DIAL) -> None:
        self.connection = connection
        self.command = command
        super().__init__(self._dial, f"cloudorm-docker-relay-{connection.host}",
                         unix=("cloudorm-docker-", "docker.sock"), what=f"the Docker engine of {connection}")

    def __repr__(self) -> str:
        return f"EngineRelay({self.connection!r}, {self.path!r})"

    @property
    def url(self) -> str:
        """``unix://<path>``: the docker SDK's base URL for the node's engine."""
        return f"unix://{self.path}"

    def _dial(self, peer: object) -> paramiko.Channel:
        """A new session channel running ``command`` (waiting a little while the server refuses more sessions)."""
        sdk = paramiko_module()
        c = self.connection
        deadline = time.monotonic() + c.connect_timeout
        attempt = 0
        while True:
            transport = c._transport_for(c.connect_timeout)  # (reconnects, verifying the host key again, if dropped)
            try:
                channel = transport.open_session(timeout=c.connect_timeout)
            except sdk.SSHException as e:
                if not refused_channel(e, transport):
                    raise
                if time.monotonic() > deadline:
                    raise CloudError(f"{c} refused a new session for the Docker engine: {e}") from None
                time.sleep(backoff(attempt, base=0.02, cap=0.5))
                attempt += 1
                continue
            channel.exec_command(self.command)
            return channel


__all__ = ["DIAL", "EngineRelay"]
