"""``SSHShell``: the ``Shell`` of a node reached over SSH (commands and file transfers over one connection)."""

from __future__ import annotations

from cloudorm.compute.ssh.commands import SSHCommands
from cloudorm.compute.ssh.sftp import SSHFiles


class SSHShell(SSHCommands, SSHFiles):
    """A ``Shell`` over SSH to one node: one paramiko connection (opened on first use, re-opened after a drop) whose
    channels carry concurrent ``run`` calls and SFTP transfers."""
