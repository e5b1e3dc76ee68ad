"""The embedded local cloud: AWS's APIs served by moto on 127.0.0.1, no account, no Docker, no network.

Only this session's clients point at the server; nothing is patched globally. Give ``endpoint_url`` to use an
already running one (``cloudorm serve``) so several processes share state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from cloudorm.credentials import KeyCredentials, aws_credentials
from cloudorm.providers.aws import AwsProvider
from cloudorm.providers.contract import Options, Service
from cloudorm.providers.local.server import embedded_url

LOCAL_CREDENTIALS = KeyCredentials("testing", "testing")
"""What local sessions sign with when no creds are given (the local cloud accepts any)."""


class LocalProvider(AwsProvider):
    """The local cloud: the AWS provider pointed at an embedded (or given) moto server."""

    name: ClassVar[str] = "local"
    areas: ClassVar[frozenset[str]] = frozenset({"nosql", "iam", "storage", "serverless", "api_gateway", "compute"})
    isolated: ClassVar[bool] = True

    def __init__(self, *, creds: Mapping[str, Any] | None = None, region: str | None = None,
                 endpoint_url: str | Mapping[str, str] | None = None, options: Options | None = None) -> None:
        if endpoint_url is None:
            endpoint_url = embedded_url()
        elif isinstance(endpoint_url, Mapping) and "*" not in endpoint_url:
            # services not named go to the embedded local cloud, never to the real one
            endpoint_url = {"*": embedded_url(), **endpoint_url}
        super().__init__(creds=creds, region=region, endpoint_url=endpoint_url, options=options)

    def _credentials(self, creds: Mapping[str, Any] | None) -> tuple[KeyCredentials | None, str | None]:
        key, region = aws_credentials(creds, self.name)
        return key or LOCAL_CREDENTIALS, region

    def _chain_region(self) -> str | None:
        return None

    def secrets(self) -> tuple[str, ...]:
        """The local cloud's default signing key is no secret (and "testing" must not be blanked in messages)."""
        return () if self.credentials is LOCAL_CREDENTIALS else super().secrets()

    def describe(self) -> dict[str, str]:
        """Region and server URL, for the Session repr."""
        out = super().describe()
        if self.credentials is LOCAL_CREDENTIALS:
            out.pop("key", None)
        return out

    def _compute_service(self) -> Service:
        from cloudorm.providers.local.compute import LocalComputeService

        return LocalComputeService(self.name, self.overrides["*"], hub=self.requests, options=self.options)

    def _function_service(self) -> Service:
        from cloudorm.providers.local.functions import LocalFunctionService

        return LocalFunctionService(self.clients, self.name, self.secrets())

    def _api_service(self) -> Service:
        from cloudorm.providers.local.apis import LocalApiService

        return LocalApiService(self.clients, self.name, self.secrets(), functions=self.service("serverless"))
