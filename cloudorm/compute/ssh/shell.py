"""``SSHShell``: the ``Shell`` of a node reached over SSH (commands, file transfers and port forwards over one
connection)."""

from __future__ import annotations

from cloudorm.compute.ssh.commands import SSHCommands
from cloudorm.compute.ssh.forward import Forward, check_target
from cloudorm.compute.ssh.sftp import SSHFiles


class SSHShell(SSHCommands, SSHFiles):
    """A ``Shell`` over SSH to one node: one paramiko connection (opened on first use, re-opened after a drop) whose
    channels carry concurrent ``run`` calls, SFTP transfers and forwarded connections."""

    _forwards: dict[tuple[str, int], Forward] | None = None

    def forward(self, host: str, port: int) -> tuple[str, int]:
        """``(127.0.0.1, a free port)`` whose connections reach ``host:port`` as the node sees it, over this
        connection (``ssh -L``; connected and verified first); the same address for the same target, until
        ``close()``."""
        target = check_target(host, port)
        self._transport_for(self.connect_timeout)  # (a refused host key or login raises here, not on first use)
        with self._forwards_lock:
            if self._forwards is None:
                self._forwards = {}
            relay = self._forwards.get(target)
            if relay is None:
                relay = self._forwards[target] = Forward(self, *target)
        return relay.address

    def forwards(self) -> list[Forward]:
        """The forwards open on this shell (their ``failure`` says why a connection was refused)."""
        with self._forwards_lock:
            return list((self._forwards or {}).values())

    def close(self) -> None:
        """Stop the forwards (their ports refuse, their connections end) and close the connection."""
        with self._forwards_lock:
            relays, self._forwards = list((self._forwards or {}).values()), None
        for relay in relays:
            relay.close()
        super().close()
