"""Reading an OpenSSH client config (``ssh_config``): where to connect to a node, through what, and as whom."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from cloudorm.compute.ssh.ssh_sdk import paramiko_module
from cloudorm.errors import InvalidInput


class Target(NamedTuple):
    """Where a connection goes: ``address`` and ``port``, the login ``user``, and a ``proxy`` command or None."""

    address: str
    port: int
    user: str
    proxy: str | None


def resolve_target(ssh_config: Path | None, host: str, port: int, user: str | None, default_user: str) -> Target:
    """Where to connect and as whom: the ``HostName``, ``Port`` (and ``ProxyCommand``) of a matching ``Host``
    block of ``ssh_config``, else the node's own address and port; ``user``, else the block's ``User``, else
    ``default_user``."""
    if ssh_config is None:
        return Target(host, port, user or default_user, None)
    sdk = paramiko_module()

    try:
        found = sdk.SSHConfig.from_path(str(ssh_config)).lookup(host)
    except FileNotFoundError:
        raise InvalidInput("ssh_config", f"no file at {ssh_config}") from None
    try:
        target_port = int(found.get("port", port))
    except ValueError:
        raise InvalidInput("ssh_config", f"Port of {host} is not a number") from None
    proxy = found.get("proxycommand") if str(found.get("proxycommand", "none")).lower() != "none" else None
    return Target(str(found.get("hostname") or host), target_port, user or str(found.get("user") or default_user),
                  proxy)
