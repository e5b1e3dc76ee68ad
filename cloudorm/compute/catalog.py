"""What a compute provider offers and holds, as plain read-only records: ``Region``, ``Size``, ``Image`` and
``Server`` (any server of the account, made by cloudorm or not), as ``s.regions()``, ``s.sizes()``, ``s.images()``
and ``s.servers()`` list them; ``Account`` is ``s.account()``'s answer."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from cloudorm.core import Record


def _tuple(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value or ())


@attrs.frozen
class Region:
    """A region nodes can be made in: ``slug`` is what ``Cluster(region=)`` takes."""

    slug: str
    name: str
    available: bool
    sizes: tuple[str, ...] = attrs.field(converter=_tuple, repr=False)
    """The sizes offered there (empty: the provider does not say)."""
    features: tuple[str, ...] = attrs.field(converter=_tuple, repr=False)

    @classmethod
    def from_record(cls, record: Record) -> Region:
        """The region a provider's ``RegionInfo`` describes."""
        return cls(str(record["slug"]), str(record.get("name") or record["slug"]), bool(record.get("available")),
                   record.get("sizes"), record.get("features"))


@attrs.frozen
class Size:
    """A node size: ``slug`` is what ``Cluster(node_size=)`` takes; ``price_monthly`` is USD a month."""

    slug: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    price_monthly: Decimal
    available: bool
    regions: tuple[str, ...] = attrs.field(converter=_tuple, repr=False)
    """Where it is offered (empty: everywhere)."""

    @classmethod
    def from_record(cls, record: Record) -> Size:
        """The size a provider's ``SizeInfo`` describes."""
        return cls(str(record["slug"]), int(record.get("vcpus") or 0), int(record.get("memory_mb") or 0),
                   int(record.get("disk_gb") or 0), Decimal(repr(float(record.get("price_monthly") or 0))),
                   bool(record.get("available", True)), record.get("regions"))


@attrs.frozen
class Image:
    """An image nodes can be made from: ``name_for_cluster`` is what ``Cluster(image=)`` takes (DigitalOcean's
    slug, an AMI id)."""

    id: str
    slug: str | None
    name: str
    distribution: str | None
    public: bool
    created: datetime | None = attrs.field(repr=False)
    description: str | None = attrs.field(repr=False)
    regions: tuple[str, ...] = attrs.field(converter=_tuple, repr=False)

    @property
    def name_for_cluster(self) -> str:
        """The slug, else the id."""
        return self.slug or self.id

    @classmethod
    def from_record(cls, record: Record) -> Image:
        """The image a provider's ``ImageInfo`` describes."""
        return cls(str(record["id"]), record.get("slug"), str(record.get("name") or record["id"]),
                   record.get("distribution"), bool(record.get("public")), record.get("created"),
                   record.get("description"), record.get("regions"))


@attrs.frozen
class Server:
    """A server of the account (a droplet, an instance, a local node), made by cloudorm or not: ``cluster`` names the
    cloudorm cluster whose tag it carries, if any (``s.Cluster(server.cluster)`` drives it)."""

    id: str
    name: str
    status: str
    address: str | None
    size: str | None
    region: str | None
    image: str | None
    cluster: str | None
    created: datetime | None = attrs.field(repr=False)

    @classmethod
    def from_record(cls, record: Record) -> Server:
        """The server a provider's ``NodeInfo`` describes."""
        return cls(str(record["id"]), str(record["name"]), str(record.get("status")), record.get("address"),
                   record.get("size"), record.get("region"), record.get("image"), record.get("cluster"),
                   record.get("created"))


@attrs.frozen
class Account:
    """The account of the session's credentials: ``id`` (DigitalOcean's user uuid, the AWS account id, ``local``),
    ``email`` (DigitalOcean), ``status``, ``node_limit`` (the most servers at once, where the provider says) and
    the provider's other ``details``."""

    provider: str
    id: str | None
    email: str | None
    status: str | None
    node_limit: int | None
    details: dict[str, Any] = attrs.field(factory=dict, repr=False)

    @classmethod
    def from_record(cls, provider: str, record: Record) -> Account:
        """The account a provider's ``AccountInfo`` describes."""
        return cls(provider, record.get("id"), record.get("email"), record.get("status"), record.get("node_limit"),
                   dict(record.get("details") or {}))


__all__ = ["Account", "Image", "Region", "Server", "Size"]
