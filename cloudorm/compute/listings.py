"""The compute listings a session offers: ``s.clusters()`` (every cluster cloudorm made on the account), and what
the account offers and holds: ``s.regions()``, ``s.sizes()``, ``s.images()``, ``s.ssh_keys()``, ``s.servers()``
(every server, by name), ``s.server_exists(name)`` and ``s.account()``. Lazy: no request until iterated."""

from __future__ import annotations

from cloudorm.compute.catalog import Account, Image, Region, Server, Size
from cloudorm.compute.cluster import Cluster
from cloudorm.compute.sshkeys import SshKey
from cloudorm.core import SessionLike
from cloudorm.errors import InvalidInput
from cloudorm.listing import Listing, listing


def clusters(session: SessionLike) -> Listing[Cluster]:
    """Every cluster cloudorm made on this account (found by its nodes' tag), lazily: saved clusters (their nodes
    are listed when first needed)."""
    return listing(lambda start, size: (session.compute.list_clusters(), None),
                   lambda name: Cluster._co_from_record(session, {"name": name}, partial=True))


def regions(session: SessionLike) -> Listing[Region]:
    """The regions nodes can be made in (DigitalOcean's regions, EC2's DescribeRegions, the local session's)."""
    return listing(session.compute.list_regions, Region.from_record)


def sizes(session: SessionLike) -> Listing[Size]:
    """The node sizes the account may create, with their monthly prices (EC2 publishes none: ``Unsupported``)."""
    return listing(lambda start, size: (session.compute.list_sizes(), None), Size.from_record)


def images(session: SessionLike) -> Listing[Image]:
    """The public base images nodes can be made from (DigitalOcean's distributions; the Ubuntu server and Amazon
    Linux 2023 AMIs of the session's region; the local shell)."""
    return listing(session.compute.list_images, Image.from_record)


def ssh_keys(session: SessionLike) -> Listing[SshKey]:
    """The SSH public keys registered on the account, as saved ``SshKey`` entities."""
    return listing(session.compute.list_ssh_keys, lambda record: SshKey._co_from_record(session, record))


def _check_server_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidInput("name", f"must be a server name, not {name!r}")
    return name


def servers(session: SessionLike, name: str | None = None) -> Listing[Server]:
    """Every server of the account, made by cloudorm or not (``name``: only those so named); a server of a cloudorm
    cluster names it in ``cluster``."""
    wanted = None if name is None else _check_server_name(name)
    return listing(lambda start, size: session.compute.list_servers(wanted, start, size), Server.from_record)


def server_exists(session: SessionLike, name: str) -> bool:
    """True when the account has a server named ``name`` (one request: the Cloud package's ``Droplet.Exists``)."""
    return servers(session, _check_server_name(name)).first() is not None


def account(session: SessionLike) -> Account:
    """The account of the session's credentials (one request)."""
    return Account.from_record(session.provider, session.compute.account())
