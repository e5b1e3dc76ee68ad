"""DigitalOcean: droplets (through pydo) and Spaces (S3-compatible); credentials are an API token."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from cloudorm.credentials import TokenCredentials, digitalocean_credentials, protect
from cloudorm.errors import InvalidInput
from cloudorm.providers.base import Options, Provider


class DigitalOceanProvider(Provider):
    """DigitalOcean: compute and Spaces storage arrive with their areas; it has no NoSQL tables."""

    name: ClassVar[str] = "digitalocean"
    areas: ClassVar[frozenset[str]] = frozenset()
    default_region: ClassVar[str] = "nyc3"

    def __init__(self, creds: Mapping[str, Any] | None, region: str | None,
                 endpoint_url: str | Mapping[str, str] | None, options: Options) -> None:
        super().__init__()
        self.credentials: TokenCredentials
        self.credentials, creds_region = digitalocean_credentials(creds)
        protect(self.credentials.secrets(), (self.credentials.spaces.access_key_id,) if self.credentials.spaces
                else ())
        self._region = region or creds_region or self.default_region
        if endpoint_url is not None and not isinstance(endpoint_url, (str, Mapping)):
            raise InvalidInput("endpoint_url", f"must be a URL or a dict of URLs, not {endpoint_url!r}")
        self.endpoints = endpoint_url
        self.options = options

    @property
    def endpoint_url(self) -> str | None:
        """The API endpoint override, when one URL was given."""
        return self.endpoints if isinstance(self.endpoints, str) else None

    @property
    def region(self) -> str:
        """The DigitalOcean region slug (e.g. ``nyc3``)."""
        return self._region

    def secrets(self) -> tuple[str, ...]:
        """Values never to be shown in messages."""
        return self.credentials.secrets()

    def describe(self) -> dict[str, str]:
        """Region only: the token is never shown."""
        return {"region": self._region}
