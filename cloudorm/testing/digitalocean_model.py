"""The fake DigitalOcean account's vocabulary: regions, sizes, images, limits, droplets, API errors and the
checks DigitalOcean applies to names and tags."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

import attrs

from cloudorm.providers.contract import Wire

if TYPE_CHECKING:
    from cloudorm.testing.sshd import SshdHost

REGIONS = ("nyc1", "nyc3", "sfo3", "ams3", "fra1", "lon1", "sgp1", "tor1", "blr1", "syd1")
"""The region slugs the fake knows."""

REGION_NAMES = {"nyc1": "New York 1", "nyc3": "New York 3", "sfo3": "San Francisco 3", "ams3": "Amsterdam 3",
                "fra1": "Frankfurt 1", "lon1": "London 1", "sgp1": "Singapore 1", "tor1": "Toronto 1",
                "blr1": "Bangalore 1", "syd1": "Sydney 1"}
"""The regions' display names, as DigitalOcean gives them."""

DEFAULT_SIZES: tuple[Wire, ...] = tuple(
    {"slug": slug, "memory": memory, "vcpus": vcpus, "disk": disk, "transfer": transfer,
     "price_monthly": price, "price_hourly": round(price / 672, 5), "regions": list(REGIONS), "available": True,
     "description": description}
    for slug, memory, vcpus, disk, transfer, price, description in (
        ("s-1vcpu-512mb-10gb", 512, 1, 10, 0.5, 4.0, "Basic"),
        ("s-1vcpu-1gb", 1024, 1, 25, 1.0, 6.0, "Basic"),
        ("s-1vcpu-2gb", 2048, 1, 50, 2.0, 12.0, "Basic"),
        ("s-2vcpu-2gb", 2048, 2, 60, 3.0, 18.0, "Basic"),
        ("s-2vcpu-4gb", 4096, 2, 80, 4.0, 24.0, "Basic"),
        ("s-4vcpu-8gb", 8192, 4, 160, 5.0, 48.0, "Basic"),
        ("c-2", 4096, 2, 25, 4.0, 42.0, "CPU-Optimized"),
        ("g-2vcpu-8gb", 8192, 2, 25, 4.0, 63.0, "General Purpose"),
        ("s-8vcpu-16gb", 16384, 8, 320, 6.0, 96.0, "Basic"),
    ))
"""Sizes the fake offers (DigitalOcean's shape and prices)."""

IMAGES: dict[str, Wire] = {
    slug: {"id": image_id, "name": name, "distribution": distribution, "slug": slug, "public": True,
           "regions": list(REGIONS), "type": "base", "min_disk_size": 7, "size_gigabytes": 2.5,
           "created_at": "2024-04-25T00:00:00Z", "description": name, "tags": [], "status": "available"}
    for image_id, slug, name, distribution in (
        (155000001, "ubuntu-24-04-x64", "24.04 (LTS) x64", "Ubuntu"),
        (155000002, "ubuntu-22-04-x64", "22.04 (LTS) x64", "Ubuntu"),
        (155000003, "debian-12-x64", "12 x64", "Debian"),
    )}
"""Base images the fake knows, by slug."""

MAX_NAMES = 10
"""Droplets per create request."""

DROPLET_LIMIT = 100
"""The fake account's default droplet limit (real accounts start lower, at 3 to 25, and ask for more)."""


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _not_found() -> _ApiError:
    return _ApiError(404, "not_found", "The resource you were accessing could not be found.")


def _unprocessable(message: str) -> _ApiError:
    return _ApiError(422, "unprocessable_entity", message)


def _made_of(name: Any, extra: str, longest: int = 255) -> TypeGuard[str]:
    """True when ``name`` is 1 to ``longest`` ASCII letters, digits or characters of ``extra``."""
    return isinstance(name, str) and 0 < len(name) <= longest and all(
        (c.isascii() and c.isalnum()) or c in extra for c in name)


def _check_tag(name: Any) -> str:
    """A tag name as DigitalOcean takes it (1-255 letters, digits, ``_``, ``-`` or ``:``), else its 400."""
    if not _made_of(name, "_-:"):
        raise _ApiError(400, "bad_request", "tag name must be 1-255 letters, digits, '_', '-' or ':'")
    return name


@attrs.define
class FakeDroplet:
    """What the fake knows of one droplet: its API JSON, the user data it was given, its sshd stand-in."""

    data: Wire
    """The droplet as the API returns it."""
    user_data: str | None = attrs.field(repr=False)
    """The user data sent at creation (not in the repr: it may carry a private host key)."""
    authorized_keys: list[str]
    """The public keys root may log in with (from ``ssh_keys`` and the user data)."""
    host: SshdHost | None = None
    """The running ``SshdHost`` (None before boot, after delete, or without sshd)."""
    root: Path | None = None
    """The stand-in's directory."""
    private: str | None = None
    """Its private IPv4 address, once booted: another ``127.0.0.N`` claimed for it (no sshd there), released when
    it is destroyed; a Docker machine's is its address on Docker's bridge."""

    @property
    def id(self) -> int:
        """The droplet id."""
        return int(self.data["id"])

    @property
    def address(self) -> str | None:
        """Its public IPv4 address, once booted."""
        v4 = self.data["networks"]["v4"]
        return str(v4[0]["ip_address"]) if v4 else None


@attrs.define
class _Fault:
    method: str
    prefix: str
    status: int
    message: str
    headers: dict[str, str]
    code: str | None
