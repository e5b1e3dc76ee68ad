"""The compute contract: virtual servers grouped into clusters."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, ClassVar, TypedDict

import attrs

from cloudorm.providers.contract.service import Capabilities, Service, Wire


class NodeInfo(TypedDict):
    """A node as the provider reports it; values the provider does not know (yet) are None."""

    id: str
    name: str
    status: str
    """``"pending"``, ``"active"``, ``"off"`` or ``"deleted"``."""
    address: str | None
    """The public IPv4 address SSH uses (None until assigned)."""
    private_address: str | None
    size: str | None
    """A size slug or an instance type."""
    region: str | None
    image: str | None
    cluster: str | None
    """The name of the cluster whose tag the node carries."""
    created: datetime | None


class SizeInfo(TypedDict):
    """A node size the account may create, with its monthly price."""

    slug: str
    price_monthly: float
    """USD a month."""
    vcpus: int
    memory_mb: int
    disk_gb: int
    regions: list[str]
    """Where it is offered (empty: everywhere)."""
    available: bool


class KeyInfo(TypedDict):
    """A registered SSH public key."""

    id: str
    name: str
    fingerprint: str | None
    created: bool
    """True when the call that returned it registered it."""


@attrs.frozen
class ComputeCapabilities(Capabilities):
    """What a compute service's nodes can do beyond the core."""

    accepts_host_keys: bool = False
    """Nodes take their SSH host key from cloud-init user data (so even a first connection is verified)."""

    local_nodes: bool = False
    """Nodes are directories on this machine (the local cloud's): nothing may be installed or hardened there."""


class ComputeService(Service):
    """Virtual servers (DigitalOcean droplets, EC2 instances, local working directories) grouped into clusters.

    A cluster is the set of nodes carrying the provider's tag for its name (no central controller); the provider
    maps a cluster name to its own tag form. Nodes are described by ``NodeInfo``, sizes by ``SizeInfo``, keys by
    ``KeyInfo``. A node ``spec`` for ``create_nodes``:
    ``size``, ``image``, ``region``, ``key_id`` (from ``import_key``), ``user_data`` (cloud-init text or None),
    ``firewall_id`` (or None), ``monitoring`` (bool: DigitalOcean's metrics agent, EC2's detailed monitoring). A missing
    node, key or firewall is ``NotFound``."""

    area: ClassVar[str] = "compute"
    core: ClassVar[frozenset[str]] = frozenset({
        "check_region", "create_nodes", "default_user", "delete_cluster_nodes", "delete_nodes", "get_node",
        "list_clusters", "list_nodes", "list_sizes", "node_quota", "shell"})

    default_image: str
    """The image a cluster gets when none is named (an Ubuntu LTS with cloud-init)."""

    default_size: str
    """The node size a cluster gets when neither a size nor a price is named."""

    capabilities: ComputeCapabilities = ComputeCapabilities()
    """What this provider's nodes can do."""

    def default_user(self, image: str) -> str:
        """The login user of nodes made from ``image`` (``root`` on DigitalOcean, ``ubuntu`` on Ubuntu AMIs)."""
        raise self._unsupported("default_user")

    def check_region(self, region: str) -> str:
        """``region`` if nodes can be made there, by its form (DigitalOcean's ``nyc3``; EC2: the session's region),
        else ``InvalidInput("region")``; no request."""
        raise self._unsupported("check_region")

    def node_quota(self) -> int | None:
        """How many more nodes the account may have now, read before any is made (DigitalOcean: its droplet limit
        less its droplets); None where the service enforces its limit all or nothing itself (EC2)."""
        raise self._unsupported("node_quota")

    def list_sizes(self) -> list[SizeInfo]:
        """Every size this account may create, with its monthly price."""
        raise self._unsupported("list_sizes")

    def import_key(self, name: str, public_key: str) -> KeyInfo:
        """Register an OpenSSH public key; an identical key already registered is returned (``created`` False)."""
        raise self._unsupported("import_key")

    def delete_key(self, key_id: str) -> None:
        """Remove a registered key."""
        raise self._unsupported("delete_key")

    def find_key(self, name: str) -> KeyInfo | None:
        """The key registered under ``name`` (``created`` False), or None."""
        raise self._unsupported("find_key")

    def create_firewall(self, cluster: str, cidrs: Sequence[str]) -> str:
        """Allow SSH (tcp/22) from ``cidrs`` to the cluster's nodes and every TCP port between the cluster's own
        nodes (``PEER_RULE``), outbound everything; returns its id."""
        raise self._unsupported("create_firewall")

    def find_firewall(self, cluster: str) -> str | None:
        """The id of the firewall ``create_firewall`` made for ``cluster``, if any."""
        raise self._unsupported("find_firewall")

    def delete_firewall(self, firewall_id: str) -> None:
        """Remove a firewall (or security group)."""
        raise self._unsupported("delete_firewall")

    def allow_peers(self, cluster: str) -> str | None:
        """Make sure the cluster's firewall, if it has one, lets its own nodes reach each other on every TCP port
        (a firewall an older cloudorm made gets the rule added); its id, or None: no firewall, nothing between the
        nodes is filtered. Reads first and adds only what is missing, so it is safe to send again after a lost
        answer (optional)."""
        raise self._unsupported("allow_peers")

    def open_port(self, cluster: str, port: int, cidrs: Sequence[str]) -> str:
        """Make sure the cluster's firewall lets tcp ``port`` in from ``cidrs`` (and has the peer rule); a cluster
        without one gets one that keeps SSH open from everywhere (``EVERYWHERE``, as it was) plus the peer rule and
        the port. Returns the firewall's id; safe to send again after a lost answer (optional). A bad port or CIDR
        is ``InvalidInput`` before any request (``check_open_port``)."""
        raise self._unsupported("open_port")

    def create_nodes(self, cluster: str, names: Sequence[str], spec: Wire) -> list[NodeInfo]:
        """Create one node per name, tagged for ``cluster`` (DigitalOcean: up to 10 per request); their records,
        usually still ``pending``. Nodes created before a failing request stay tagged, so ``list_nodes`` finds
        them."""
        raise self._unsupported("create_nodes")

    def list_nodes(self, cluster: str) -> list[NodeInfo]:
        """Every node tagged for ``cluster`` and not deleted, all pages read."""
        raise self._unsupported("list_nodes")

    def list_clusters(self) -> list[str]:
        """The names of clusters that have nodes (or a firewall) made by cloudorm."""
        raise self._unsupported("list_clusters")

    def get_node(self, node_id: str) -> NodeInfo:
        """The current record of one node."""
        raise self._unsupported("get_node")

    def delete_nodes(self, node_ids: Sequence[str]) -> None:
        """Destroy nodes by id (already gone ones are no error)."""
        raise self._unsupported("delete_nodes")

    def delete_cluster_nodes(self, cluster: str) -> None:
        """Destroy every node tagged for ``cluster``, in as few requests as the provider allows (DigitalOcean: one
        delete by tag, which also takes nodes a concurrent create just made)."""
        raise self._unsupported("delete_cluster_nodes")

    def reboot_node(self, node_id: str) -> None:
        """Reboot a node (a provider action; returns once it was accepted)."""
        raise self._unsupported("reboot_node")

    def resize_node(self, node_id: str, size: str) -> NodeInfo:
        """Give a node another size; its new record (optional: most clouds resize only a stopped server)."""
        raise self._unsupported("resize_node")

    def shell(self, node: Wire) -> Any:
        """A ``cloudorm.compute.shell.Shell`` for nodes the provider runs itself (the local provider's working
        directories), or None: the node is reached over SSH at its ``address``."""
        raise self._unsupported("shell")

    # ---- power, prices and the account's listings (optional; their records are defined below the class)

    def power_node(self, node_id: str, action: str) -> str | None:
        """Send a power ``action`` (``POWER_ACTIONS``: ``power_off``, ``power_on``, ``reboot``) to a node, safe to
        send again after a lost answer; the id of the provider's action to follow with ``action_status``
        (DigitalOcean), or None (the node's status says when it is done). A node already off (``power_off``) or
        on (``power_on``) is left as it is."""
        raise self._unsupported("power_node")

    def action_status(self, action_id: str) -> str:
        """``in-progress``, ``completed`` or ``errored``: where an action ``power_node`` returned stands."""
        raise self._unsupported("action_status")

    def billing(self) -> BillingInfo:
        """How the provider bills a node's time (no request)."""
        raise self._unsupported("billing")

    def node_prices(self, sizes: Sequence[str]) -> dict[str, PriceInfo]:
        """What a node of each size costs (a size the provider does not price is left out)."""
        raise self._unsupported("node_prices")

    def account(self) -> AccountInfo:
        """The account of the session's credentials: its id or email, standing and limit on servers."""
        raise self._unsupported("account")

    def list_regions(self, start: str | None, limit: int | None) -> tuple[list[RegionInfo], str | None]:
        """One page of the regions (``start``: the token of the page; ``limit``: items per page)."""
        raise self._unsupported("list_regions")

    def list_images(self, start: str | None, limit: int | None) -> tuple[list[ImageInfo], str | None]:
        """One page of the public base images nodes can be made from (DigitalOcean's distributions, the
        region's official Ubuntu and Amazon Linux AMIs on EC2)."""
        raise self._unsupported("list_images")

    def list_ssh_keys(self, start: str | None, limit: int | None) -> tuple[list[SshKeyInfo], str | None]:
        """One page of the SSH public keys registered on the account."""
        raise self._unsupported("list_ssh_keys")

    def get_ssh_key(self, name: str) -> SshKeyInfo:
        """The key registered under ``name`` (``NotFound`` if none)."""
        raise self._unsupported("get_ssh_key")

    def create_ssh_key(self, name: str, public_key: str) -> SshKeyInfo:
        """Register ``public_key`` under ``name``: ``AlreadyExists`` when the name is taken, ``ConflictError`` when
        the key is registered under another name; after a lost answer the key found is the answer."""
        raise self._unsupported("create_ssh_key")

    def list_servers(self, name: str | None, start: str | None,
                     limit: int | None) -> tuple[list[NodeInfo], str | None]:
        """One page of every server of the account, made by cloudorm or not (``name``: only those so named)."""
        raise self._unsupported("list_servers")


# ---------------------------------------------------------------------------------------------------------------
# Firewalls

EVERYWHERE = ("0.0.0.0/0", "::/0")
"""Every IPv4 and IPv6 address: who reaches SSH of a cluster without a firewall."""

PEER_PORTS = (0, 65535)
"""The TCP ports the peer rule opens between the cluster's own nodes: all (Dask's scheduler and workers listen on
ports chosen at random)."""


def covered(cidr: str, present: Iterable[str]) -> bool:
    """True when the network ``cidr`` lies within one of the networks ``present`` (those not parsing are skipped)."""
    import ipaddress

    wanted = ipaddress.ip_network(cidr, strict=False)
    for value in present:
        try:
            have = ipaddress.ip_network(str(value), strict=False)
        except ValueError:
            continue
        if have.version == wanted.version and wanted.subnet_of(have):  # type: ignore[arg-type]
            return True
    return False


def check_open_port(port: Any, cidrs: Any) -> tuple[int, tuple[str, ...]]:
    """``(port, cidrs normalised)`` for ``open_port``: a TCP port from 1 to 65535 (``InvalidInput("port")``) and a
    non-empty list of IPv4/IPv6 CIDRs or addresses (``InvalidInput("cidrs")``); no request."""
    from cloudorm.compute.names import check_cidrs
    from cloudorm.errors import InvalidInput

    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidInput("port", f"must be a TCP port from 1 to 65535, not {port!r}")
    return port, check_cidrs(cidrs, "cidrs")


# ---------------------------------------------------------------------------------------------------------------
# Power, prices and the account's listings (optional operations: a provider without them raises Unsupported)

POWER_ACTIONS = ("power_off", "power_on", "reboot")
"""The power actions ``power_node`` takes."""


def check_power_action(action: Any) -> str:
    """``action`` if it is one of ``POWER_ACTIONS``, else ``InvalidInput("action")``."""
    if action not in POWER_ACTIONS:
        from cloudorm.errors import InvalidInput

        raise InvalidInput("action", f"must be one of {', '.join(POWER_ACTIONS)}, not {action!r}")
    return str(action)


class BillingInfo(TypedDict):
    """How the provider bills a node's time."""

    billing_seconds: int
    """The unit time is billed in: 3600 (every started hour counts whole), 1 (by the second)."""
    minimum_seconds: int
    """The least time billed for a node (DigitalOcean: an hour; EC2: 60 s)."""
    bills_off: bool
    """True when a powered-off node still costs (DigitalOcean); False when it does not (a stopped EC2 instance)."""
    hours_per_month: int
    """DigitalOcean: a node costs at most this many hours a calendar month (672: its monthly price); EC2: the hours
    a monthly price is spread over (730)."""


class PriceInfo(TypedDict):
    """What one node of a size costs."""

    size: str
    hourly: float
    """USD an hour."""
    monthly: float | None
    """The most one node costs in a calendar month (DigitalOcean's cap), or None: no cap."""


class RegionInfo(TypedDict):
    """A region nodes can be made in."""

    slug: str
    name: str
    available: bool
    sizes: list[str]
    """The sizes offered there (empty: not said)."""
    features: list[str]


class ImageInfo(TypedDict):
    """An image nodes can be made from."""

    id: str
    slug: str | None
    """The name ``Cluster(image=)`` takes (DigitalOcean's slug; EC2: None, the AMI id is the name)."""
    name: str
    distribution: str | None
    public: bool
    regions: list[str]
    created: datetime | None
    description: str | None


class SshKeyInfo(TypedDict):
    """An SSH public key registered on the account."""

    id: str
    name: str
    fingerprint: str | None
    public_key: str | None
    """The OpenSSH line (None where the provider does not give it back)."""


class AccountInfo(TypedDict):
    """The account the session's credentials belong to."""

    id: str | None
    email: str | None
    status: str | None
    """The provider's word for the account's standing (DigitalOcean: ``active``, ``warning``, ``locked``)."""
    node_limit: int | None
    """The most servers the account may have at once, where the provider states one."""
    details: Wire
    """Everything else the provider said (DigitalOcean's ``email_verified``, ``team``; EC2's account attributes)."""
