"""The embedded local cloud: AWS's APIs served by moto on 127.0.0.1, no account, no Docker, no network.

Only this session's clients point at the server; nothing is patched globally. Give ``endpoint_url`` to use an
already running one (``cloudorm serve``) so several processes share state; without it, ``AWS_ENDPOINT_URL`` (and
``AWS_ENDPOINT_URL_<SERVICE>``) in the environment does the same, as in a function the local cloud runs. The
embedded server (and moto) is started only for a service no URL is given or configured for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from cloudorm.credentials import KeyCredentials, aws_credentials
from cloudorm.providers.aws import SERVICES, AwsProvider
from cloudorm.providers.contract import Options, Service

LOCAL_CREDENTIALS = KeyCredentials("testing", "testing")
"""What local sessions sign with when no creds are given (the local cloud accepts any)."""


class LocalProvider(AwsProvider):
    """The local cloud: the AWS provider pointed at a given (``endpoint_url``), configured (``AWS_ENDPOINT_URL``)
    or embedded moto server."""

    name: ClassVar[str] = "local"
    areas: ClassVar[frozenset[str]] = frozenset({"nosql", "iam", "storage", "serverless", "api_gateway", "compute",
                                                 "billing"})
    isolated: ClassVar[bool] = True
    shows_own_endpoints: ClassVar[bool] = True

    def __init__(self, *, creds: Mapping[str, Any] | None = None, region: str | None = None,
                 endpoint_url: str | Mapping[str, str] | None = None, options: Options | None = None) -> None:
        self._embedded: dict[str, str] | None = None
        super().__init__(creds=creds, region=region, endpoint_url=endpoint_url, options=options)

    def default_endpoints(self, region: str) -> dict[str, str]:
        """The embedded local cloud for every service (started on first call, then kept by this session), so that
        a service no URL is given or configured for never reaches the real one."""
        if self._embedded is None:
            from cloudorm.providers.local.server import embedded_url  # moto is imported only when it is needed

            self._embedded = dict.fromkeys(SERVICES, embedded_url())
        return self._embedded

    def _credentials(self, creds: Mapping[str, Any] | None) -> tuple[KeyCredentials | None, str | None]:
        key, region = aws_credentials(creds, self.name)
        return key or LOCAL_CREDENTIALS, region

    def _chain_region(self) -> str | None:
        return None

    def secrets(self) -> tuple[str, ...]:
        """The local cloud's default signing key is no secret (and "testing" must not be blanked in messages)."""
        return () if self.credentials is LOCAL_CREDENTIALS else super().secrets()

    def describe(self) -> dict[str, str]:
        """Region and server URL(s), for the Session repr."""
        out = super().describe()
        if self.credentials is LOCAL_CREDENTIALS:
            out.pop("key", None)
        return out

    def _compute_service(self) -> Service:
        from cloudorm.providers.local.compute import LocalComputeService

        url = self.clients.endpoint("ec2")  # local clusters answer where EC2 (AWS's compute) would
        assert url is not None  # default_endpoints gives every service one
        return LocalComputeService(self.name, url, hub=self.requests, options=self.options, region=self.region)

    def _function_service(self) -> Service:
        from cloudorm.providers.local.functions import LocalFunctionService

        return LocalFunctionService(self.clients, self.name, self.secrets())

    def _api_service(self) -> Service:
        from cloudorm.providers.local.apis import LocalApiService

        return LocalApiService(self.clients, self.name, self.secrets(), functions=self.service("serverless"))
