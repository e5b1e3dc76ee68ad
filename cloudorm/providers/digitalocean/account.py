"""What the DigitalOcean account holds beyond clusters: the account record, regions, distribution images, SSH keys
by name, every droplet (by name), and what droplets cost (sizes' ``price_hourly`` / ``price_monthly``, billed by
the hour up to the monthly price)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from azure.core import exceptions as ax

from cloudorm import errors as ce
from cloudorm.compute.keys import md5_fingerprint, public_key_blob
from cloudorm.providers.contract import NodeInfo, Wire
from cloudorm.providers.contract.compute import (
    AccountInfo,
    BillingInfo,
    ImageInfo,
    PriceInfo,
    RegionInfo,
    SshKeyInfo,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from cloudorm.providers.digitalocean import DigitalOceanProvider

HOURS_PER_MONTH = 672
"""DigitalOcean bills a droplet by the hour (a started hour counts whole), at most 672 hours (its monthly price) a
calendar month, powered off or not."""


def check_key(name: Any, public_key: Any) -> str:
    """The MD5 fingerprint (DigitalOcean's key id) of ``public_key``, once ``name`` (1 to 255 characters) and
    ``public_key`` (one OpenSSH line) are checked: ``InvalidInput`` before any request."""
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise ce.InvalidInput("name", f"{name!r} is not a key name (1 to 255 characters)")
    if not isinstance(public_key, str) or len(public_key.strip().splitlines()) != 1:
        raise ce.InvalidInput("public_key", "must be one OpenSSH public key line ('ssh-ed25519 AAAA... comment')")
    return md5_fingerprint(public_key_blob(public_key)[1])


def key_record(key: Wire) -> SshKeyInfo:
    """The neutral record of an account SSH key."""
    return {"id": str(key["id"]), "name": str(key.get("name") or ""), "fingerprint": key.get("fingerprint"),
            "public_key": key.get("public_key")}


def image_record(image: Wire) -> ImageInfo:
    """The neutral record of an image."""
    from cloudorm.providers.digitalocean.compute import _created

    return {"id": str(image["id"]), "slug": image.get("slug"), "name": str(image.get("name") or ""),
            "distribution": image.get("distribution"), "public": bool(image.get("public")),
            "regions": list(image.get("regions") or []), "created": _created(image.get("created_at")),
            "description": image.get("description")}


def region_record(region: Wire) -> RegionInfo:
    """The neutral record of a region."""
    return {"slug": str(region["slug"]), "name": str(region.get("name") or region["slug"]),
            "available": bool(region.get("available")), "sizes": list(region.get("sizes") or []),
            "features": list(region.get("features") or [])}


class DropletAccount:
    """The account part of ``DigitalOceanComputeService``: account, regions, images, SSH keys, droplets by name,
    billing and prices."""

    if TYPE_CHECKING:
        provider: DigitalOceanProvider
        client: Any

        def _call(self, operation: str, method: Callable[..., Any], *args: Any, ok: Sequence[int] = (),
                  **kwargs: Any) -> tuple[int, Any]: ...

        def _pages(self, operation: str, method: Callable[..., Any], key: str, **params: Any) -> Iterator[Wire]: ...

    def _page(self, operation: str, method: Callable[..., Any], key: str, start: str | None, limit: int | None,
              **params: Any) -> tuple[list[Wire], str | None]:
        """One page of a paginated list (``start``: the page number, as the previous page's token gave it)."""
        if start is not None and not (isinstance(start, str) and start.isdigit()):
            raise ce.InvalidInput("start", f"{start!r} is not a page token of this listing")
        _, body = self._call(operation, method, per_page=min(limit or 20, 200), page=int(start or 1), **params)
        body = body or {}
        following = ((body.get("links") or {}).get("pages") or {}).get("next")
        found = parse_qs(urlsplit(following).query).get("page") if following else None
        return list(body.get(key) or []), found[0] if found and found[0].isdigit() else None

    def account(self) -> AccountInfo:
        """GET /v2/account: the user's uuid and email, the account's status and droplet limit."""
        _, body = self._call("GET /v2/account", self.client.account.get)
        raw: Wire = dict((body or {}).get("account") or {})
        limit = raw.pop("droplet_limit", None)
        return {"id": raw.pop("uuid", None), "email": raw.pop("email", None), "status": raw.pop("status", None),
                "node_limit": limit if isinstance(limit, int) and not isinstance(limit, bool) else None,
                "details": raw}

    def list_regions(self, start: str | None, limit: int | None) -> tuple[list[RegionInfo], str | None]:
        """A page of GET /v2/regions."""
        found, after = self._page("GET /v2/regions", self.client.regions.list, "regions", start, limit)
        return [region_record(r) for r in found], after

    def list_images(self, start: str | None, limit: int | None) -> tuple[list[ImageInfo], str | None]:
        """A page of GET /v2/images?type=distribution (the public base images droplets are made from)."""
        found, after = self._page("GET /v2/images", self.client.images.list, "images", start, limit,
                                  type="distribution")
        return [image_record(i) for i in found], after

    def list_ssh_keys(self, start: str | None, limit: int | None) -> tuple[list[SshKeyInfo], str | None]:
        """A page of GET /v2/account/keys."""
        found, after = self._page("GET /v2/account/keys", self.client.ssh_keys.list, "ssh_keys", start, limit)
        return [key_record(k) for k in found], after

    def get_ssh_key(self, name: str) -> SshKeyInfo:
        """The first key named ``name`` (DigitalOcean does not keep names unique), every page read; ``NotFound``."""
        if not isinstance(name, str) or not name.strip():
            raise ce.InvalidInput("name", f"{name!r} is not an SSH key name")
        for key in self._pages("GET /v2/account/keys", self.client.ssh_keys.list, "ssh_keys"):
            if key.get("name") == name:
                return key_record(key)
        raise ce.NotFound(f"SSH key {name!r} is not registered on the account", provider="digitalocean",
                          operation="GET /v2/account/keys")

    def create_ssh_key(self, name: str, public_key: str) -> SshKeyInfo:
        """POST /v2/account/keys, after making sure no key has ``name`` (``AlreadyExists``). A key registered under
        another name is ``ConflictError``. The POST is never re-sent blindly: after a lost answer the key is looked
        up by its fingerprint, and a key found under ``name`` is the answer; none found, it is sent again."""
        fingerprint = check_key(name, public_key)
        try:
            self.get_ssh_key(name)
        except ce.NotFound:
            pass
        else:
            raise ce.AlreadyExists(f"an SSH key named {name!r} is registered already", provider="digitalocean")
        attempts = max(1, self.provider.options.max_attempts)
        for _ in range(attempts):
            try:
                _, body = self._call("POST /v2/account/keys", self.client.ssh_keys.create,
                                     {"name": name, "public_key": public_key.strip()})
                return key_record(body["ssh_key"])
            except ce.InvalidInput as refused:  # 422 "SSH Key is already in use on your account"
                found = self._by_fingerprint(fingerprint)
                if found is None:
                    raise
                if found["name"] == name:
                    return found
                raise ce.ConflictError(f"this public key is registered already, as {found['name']!r} (id "
                                       f"{found['id']})", **refused.provider_details()) from None
            except ce.CloudError as e:
                if not isinstance(e.__context__, ax.ServiceResponseError):
                    raise
                found = self._by_fingerprint(fingerprint)
                if found is not None and found["name"] == name:
                    return found
        raise ce.CloudError(f"no answer from DigitalOcean to registering SSH key {name!r} after {attempts} "
                            "attempt(s)", provider="digitalocean", operation="POST /v2/account/keys")

    def _by_fingerprint(self, fingerprint: str) -> SshKeyInfo | None:
        try:
            _, body = self._call("GET /v2/account/keys/{id}", self.client.ssh_keys.get, fingerprint)
        except ce.NotFound:
            return None
        return key_record(body["ssh_key"])

    def list_servers(self, name: str | None, start: str | None,
                     limit: int | None) -> tuple[list[NodeInfo], str | None]:
        """A page of GET /v2/droplets (``name``: ``?name=``), archived droplets left out."""
        from cloudorm.providers.digitalocean.compute import node_record

        params = {} if name is None else {"name": name}
        found, after = self._page("GET /v2/droplets", self.client.droplets.list, "droplets", start, limit, **params)
        records = (node_record(d) for d in found)
        return [r for r in records if r["status"] != "deleted"], after

    def billing(self) -> BillingInfo:
        """By the started hour, at least one, up to 672 hours a calendar month; off droplets are billed too."""
        return {"billing_seconds": 3600, "minimum_seconds": 3600, "bills_off": True,
                "hours_per_month": HOURS_PER_MONTH}

    def node_prices(self, sizes: Sequence[str]) -> dict[str, PriceInfo]:
        """``price_hourly`` and ``price_monthly`` of each size (GET /v2/sizes, every page)."""
        wanted = set(sizes)
        out: dict[str, PriceInfo] = {}
        for size in self._pages("GET /v2/sizes", self.client.sizes.list, "sizes"):
            slug = size.get("slug")
            if slug in wanted and size.get("price_hourly") is not None:
                monthly = size.get("price_monthly")
                out[str(slug)] = {"size": str(slug), "hourly": float(size["price_hourly"]),
                                  "monthly": None if monthly is None else float(monthly)}
        return out


__all__ = ["HOURS_PER_MONTH", "DropletAccount", "check_key", "image_record", "key_record", "region_record"]
