"""DigitalOcean: droplets as cluster nodes (through pydo, ``compute.py``) and Spaces (S3-compatible storage);
credentials are an API token.

Spaces is reached through boto3 at ``https://{region}.digitaloceanspaces.com`` (or ``endpoint_url["spaces"]``, or
the S3 endpoint configured as botocore reads it: ``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``) with the Spaces
access key (``spaces_key``/``spaces_secret`` in creds), which is separate from the API token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from cloudorm.credentials import TokenCredentials, digitalocean_credentials, protect
from cloudorm.errors import InvalidInput
from cloudorm.providers.contract import Options, Provider, Service, fingerprint

if TYPE_CHECKING:
    from cloudorm.providers.aws.clients import ClientFactory

ENDPOINT_KEYS = ("api", "spaces")
"""What ``endpoint_url`` may override, as a dict: the REST API and Spaces (a plain URL means the API)."""


def _endpoints(endpoint_url: str | Mapping[str, str] | None) -> dict[str, str]:
    if endpoint_url is None:
        return {}
    urls = {"api": endpoint_url} if isinstance(endpoint_url, str) else endpoint_url
    if not isinstance(urls, Mapping):
        raise InvalidInput("endpoint_url", f"must be a URL or a dict of URLs, not {endpoint_url!r}")
    for key, url in urls.items():
        if key not in ENDPOINT_KEYS:
            raise InvalidInput(f"endpoint_url[{key!r}]", f"unknown service; use one of {', '.join(ENDPOINT_KEYS)}")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidInput(f"endpoint_url[{key!r}]", f"must be an http:// or https:// URL, not {url!r}")
    return dict(urls)


class DigitalOceanProvider(Provider):
    """DigitalOcean: droplets (compute) and Spaces (storage); it has no NoSQL tables, IAM or functions."""

    name: ClassVar[str] = "digitalocean"
    areas: ClassVar[frozenset[str]] = frozenset({"storage", "compute"})
    default_region: ClassVar[str] = "nyc3"

    def __init__(self, *, creds: Mapping[str, Any] | None = None, region: str | None = None,
                 endpoint_url: str | Mapping[str, str] | None = None, options: Options | None = None) -> None:
        super().__init__(options=options)
        self.credentials: TokenCredentials
        self.credentials, creds_region = digitalocean_credentials(creds)
        protect(self.credentials.secrets(), (self.credentials.spaces.access_key_id,) if self.credentials.spaces
                else ())
        self._region = region or creds_region or self.default_region
        self.endpoints = _endpoints(endpoint_url)
        self._spaces_clients: ClientFactory | None = None

    @property
    def endpoint_url(self) -> str | None:
        """The API endpoint override, if one was given."""
        return self.endpoints.get("api")

    @property
    def region(self) -> str:
        """The DigitalOcean region slug (e.g. ``nyc3``)."""
        return self._region

    @property
    def spaces_endpoint(self) -> str:
        """Where Spaces is reached: the ``spaces`` URL given, else the S3 endpoint configured in the environment
        (``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``), else this region's."""
        return self._spaces_factory().endpoint("s3") or f"https://{self._region}.digitaloceanspaces.com"

    def account(self) -> str:
        """A digest of the API token: two accounts' resources never compare equal, and nothing of it is shown."""
        return fingerprint(self.credentials.access_token)

    def secrets(self) -> tuple[str, ...]:
        """Values never to be shown in messages."""
        return self.credentials.secrets()

    def describe(self) -> dict[str, str]:
        """Region and the endpoints given or configured (not DigitalOcean's own): the token is never shown."""
        out = {"region": self._region}
        shown = dict(self.endpoints)
        spaces = self._spaces_factory().endpoint("s3", own=False)
        if spaces:
            shown["spaces"] = spaces
        if shown:
            out["endpoint"] = ", ".join(f"{k}={v}" for k, v in shown.items())
        return out

    def _make_service(self, area: str) -> Service:
        if area == "storage":
            return self._spaces()
        if area == "compute":
            from cloudorm.providers.digitalocean.compute import DigitalOceanComputeService

            return DigitalOceanComputeService(self)
        return super()._make_service(area)

    def _spaces_factory(self) -> ClientFactory:
        """The boto3 clients of Spaces (made on first use; their endpoint is chosen where every provider's is)."""
        if self._spaces_clients is None:
            from cloudorm.providers.aws.clients import ClientFactory

            spaces = self.endpoints.get("spaces")
            self._spaces_clients = ClientFactory(
                provider=self.name, credentials=self.credentials.spaces, region=self._region,
                endpoints={"s3": spaces} if spaces else {}, options=self.options, hub=self.requests,
                s3_compatible=True, isolated=True,
                regional=lambda region: {"s3": f"https://{region}.digitaloceanspaces.com"})
        return self._spaces_clients

    def _spaces(self) -> Service:
        """Spaces through boto3 with the Spaces key (``InvalidInput`` before any request if creds lack it)."""
        if self.credentials.spaces is None:
            raise InvalidInput("spaces_key", "Spaces storage needs spaces_key and spaces_secret in creds "
                                             "(a Spaces access key, separate from the API token)")
        from cloudorm.providers.aws.s3 import S3StorageService

        return S3StorageService(self._spaces_factory(), self.name, self.secrets())

    def close(self) -> None:
        """Drop the service objects and close the Spaces client's connections."""
        super().close()
        if self._spaces_clients is not None:
            self._spaces_clients.close()
