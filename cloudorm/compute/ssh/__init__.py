"""SSH to nodes (paramiko is imported in one module of it, ``ssh_sdk``): ``SSHShell`` runs commands and moves
files over one verified connection per node, ``KnownHosts`` pins host keys, ``cloud_config`` hands a node its
host key at creation.

Host keys are never accepted silently: a key pinned in ``KnownHosts`` must match, a host without an entry has its key
recorded on first use, and a different key is refused with ``HostKeyMismatch``. ``known_hosts=None`` is the explicit
opt-out for throwaway nodes (any key accepted, a warning logged once per host).

Its parts: ``known_hosts`` (the file and the host-key check), ``config`` (``ssh_config``), ``connection`` (connecting
and channels), ``commands`` (``run``), ``sftp`` (``put``/``get``), ``cloud_init`` (``cloud_config``).
"""

from cloudorm.compute.ssh.cloud_init import cloud_config
from cloudorm.compute.ssh.known_hosts import KnownHosts
from cloudorm.compute.ssh.shell import SSHShell

__all__ = ["KnownHosts", "SSHShell", "cloud_config"]
