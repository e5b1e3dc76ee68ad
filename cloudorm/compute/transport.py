"""How a cluster reaches its nodes, chosen once per cluster: over SSH at each node's address (droplets, instances),
or through the shell the provider runs itself (the local cloud's working directories, on this machine). Everything
that differs between the two (login key, host keys, installing a runtime) is asked of the transport."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from cloudorm.core import Record
from cloudorm.errors import CloudError, InvalidInput, NotFound

if TYPE_CHECKING:
    from cloudorm.compute.cluster import Cluster
    from cloudorm.compute.keys import KeyPair
    from cloudorm.compute.shell import Shell
    from cloudorm.providers.base import ComputeService



class Transport(Protocol):
    """Opens the shell of a node and keeps what reaching nodes needs (keys, host keys) in step with them."""

    remote: bool
    """True when nodes are other machines: a login key is needed and bootstrap may install system packages."""

    def open(self, record: Record) -> Shell:
        """The shell of the node ``record`` describes."""

    def admit(self, record: Record, host_key: KeyPair | None) -> None:
        """A new node: pin ``host_key`` for its address (None: forget an older node's key at that address)."""

    def forget(self, record: Record) -> None:
        """A destroyed node: forget its host key (its address may go to someone else's node next)."""


class ProviderShells:
    """Nodes the provider runs itself (local working directories): its own shell, no key, nothing installed."""

    remote = False

    def __init__(self, service: ComputeService) -> None:
        self.service = service

    def open(self, record: Record) -> Shell:
        """The provider's shell for the node."""
        shell: Shell = self.service.shell(dict(record))
        return shell

    def admit(self, record: Record, host_key: KeyPair | None) -> None:
        """Nothing: no host keys."""

    def forget(self, record: Record) -> None:
        """Nothing: no host keys."""


class SSH:
    """Nodes reached over SSH at their address, with the cluster's login key and known hosts."""

    remote = True

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def open(self, record: Record) -> Shell:
        """An ``SSHShell`` to the node's address (``CloudError`` while it has none)."""
        if not record.get("address"):
            raise CloudError(f"node {record.get('name')!r} has no address yet (status {record.get('status')!r})")
        from cloudorm.compute.ssh import SSHShell

        c = self.cluster
        # a hardened node's admin first, then an explicit user, ssh_config's User for the address, the image's login
        user = c._files.logins().get(str(record.get("id"))) or c.user
        default_user = self._image_user(record) if user is None else user
        return SSHShell(record["address"], user=user, default_user=default_user,
                        key=c._files.login_key(generate=False), known_hosts=c._files.known_hosts(),
                        ssh_config=c.ssh_config)

    def _image_user(self, record: Record) -> str:
        """The default login of the node's image (``InvalidInput`` asking for ``user=`` when it cannot be told)."""
        service = self.cluster.session.compute
        image = record.get("image") or self.cluster.image or service.default_image
        try:
            return service.default_user(image)
        except NotFound as e:
            raise InvalidInput("user", f"the login user of node {record.get('name')!r} cannot be told: its image "
                                       f"{image!r} is gone ({e.message}); give the cluster user=") from None

    def admit(self, record: Record, host_key: KeyPair | None) -> None:
        """Pin the batch's host key for the address, else forget an old node's key there (trust on first use)."""
        known = self.cluster._files.known_hosts()
        if known is not None:
            if host_key is not None:
                known.pin(record["address"], host_key.public_key)
            else:
                known.forget(record["address"])

    def forget(self, record: Record) -> None:
        """Drop the node's host key (and its hardened login)."""
        known = self.cluster._files.known_hosts()
        if record.get("address") and known is not None:
            known.forget(record["address"])
        if record.get("id") is not None and str(record["id"]) in self.cluster._files.logins():
            self.cluster._files.set_login(str(record["id"]), None)


def choose(cluster: Cluster, record: Record) -> Transport:
    """The transport of ``cluster``'s nodes, from the provider's answer for one of them."""
    service = cluster.session.compute
    return ProviderShells(service) if service.shell(dict(record)) is not None else SSH(cluster)
