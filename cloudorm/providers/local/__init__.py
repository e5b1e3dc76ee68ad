"""The embedded local cloud: AWS's APIs served by moto on 127.0.0.1, no account, no Docker, no network.

Only this session's clients point at the server; nothing is patched globally. Give ``endpoint_url`` to use an
already running one (``cloudorm serve``) so several processes share state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from cloudorm.credentials import KeyCredentials, aws_credentials
from cloudorm.providers.aws import AwsProvider
from cloudorm.providers.base import Options
from cloudorm.providers.local.server import embedded_url

LOCAL_CREDENTIALS = KeyCredentials("testing", "testing")
"""What local sessions sign with when no creds are given (the local cloud accepts any)."""


class LocalProvider(AwsProvider):
    """The local cloud: the AWS provider pointed at an embedded (or given) moto server."""

    name: ClassVar[str] = "local"
    areas: ClassVar[frozenset[str]] = frozenset({"nosql"})

    def __init__(self, creds: Mapping[str, Any] | None, region: str | None,
                 endpoint_url: str | Mapping[str, str] | None, options: Options) -> None:
        super().__init__(creds, region, endpoint_url or embedded_url(), options)

    def _credentials(self, creds: Mapping[str, Any] | None) -> tuple[KeyCredentials | None, str | None]:
        key, region = aws_credentials(creds, self.name)
        return key or LOCAL_CREDENTIALS, region

    def _chain_region(self) -> str | None:
        return None

    def describe(self) -> dict[str, str]:
        """Region and server URL, for the Session repr."""
        out = super().describe()
        out.pop("key", None) if self.credentials is LOCAL_CREDENTIALS else None
        return out
