"""Amazon Web Services through boto3: IAM, DynamoDB, S3, Lambda and API Gateway; EC2 joins them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import boto3
from botocore.exceptions import BotoCoreError

from cloudorm.credentials import KeyCredentials, aws_credentials, mask, protect
from cloudorm.errors import InvalidInput
from cloudorm.providers.aws.clients import ClientFactory, endpoint_summary
from cloudorm.providers.aws.errors import map_error
from cloudorm.providers.aws.iam import AWS_IAM
from cloudorm.providers.contract import (
    IAMCapabilities,
    Options,
    Provider,
    Service,
    StorageCapabilities,
    fingerprint,
)

SERVICES = ("dynamodb", "s3", "iam", "sts", "lambda", "apigateway", "ec2", "logs", "ce")
"""Service names ``endpoint_url`` may be given for (as a dict)."""


def endpoints_from(endpoint_url: str | Mapping[str, str] | None, known: tuple[str, ...] = SERVICES) -> dict[str, str]:
    """Normalise ``endpoint_url`` (one URL for every service, or one per service) into ``{service: url}``."""
    if endpoint_url is None:
        return {}
    if isinstance(endpoint_url, str):
        urls = {"*": endpoint_url}
    elif isinstance(endpoint_url, Mapping):
        urls = dict(endpoint_url)
        for key in urls:
            if key not in known and key != "*":  # "*": every service not named
                raise InvalidInput(f"endpoint_url[{key!r}]", f"unknown service; use one of {', '.join(known)}")
    else:
        raise InvalidInput("endpoint_url", f"must be a URL or a dict of URLs per service, not {endpoint_url!r}")
    for key, url in urls.items():
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            name = "endpoint_url" if key == "*" else f"endpoint_url[{key!r}]"
            raise InvalidInput(name, f"must be an http:// or https:// URL, not {url!r}")
    return urls


class AwsProvider(Provider):
    """AWS: credentials from the dict or boto3's default chain, one client per service."""

    name: ClassVar[str] = "aws"
    areas: ClassVar[frozenset[str]] = frozenset({"nosql", "iam", "storage", "serverless", "api_gateway", "compute",
                                                 "billing"})
    default_region: ClassVar[str] = "us-east-1"

    def __init__(self, *, creds: Mapping[str, Any] | None = None, region: str | None = None,
                 endpoint_url: str | Mapping[str, str] | None = None, options: Options | None = None) -> None:
        super().__init__(options=options)
        self.credentials, creds_region = self._credentials(creds)
        if self.credentials is not None and self.secrets():  # (the local cloud's default key is no secret)
            protect(self.secrets(), (self.credentials.access_key_id,))
        self._region = region or creds_region or self._chain_region() or self.default_region
        if not isinstance(self._region, str):
            raise InvalidInput("region", f"must be a str, not {self._region!r}")
        self.overrides = endpoints_from(endpoint_url)
        self.clients = ClientFactory(provider=self.name, credentials=self.credentials, region=self._region,
                                     endpoints=self.overrides, options=self.options, hub=self.requests,
                                     s3_compatible=self.s3_compatible, isolated=self.isolated,
                                     data_paths=self.data_paths, service_regions=self.service_regions,
                                     regional=self.default_endpoints)

    s3_compatible: ClassVar[bool] = False
    isolated: ClassVar[bool] = False
    """True for the local cloud: no AWS profile, config or credentials file is read."""
    data_paths: ClassVar[tuple[str, ...]] = ()
    """Directories of botocore model extensions this provider's clients load (Wasabi's MoveObject)."""
    service_regions: ClassVar[dict[str, str]] = {}
    """Services signed for a fixed region whatever the session's (Wasabi's IAM is us-east-1)."""
    storage_capabilities: ClassVar[StorageCapabilities] = StorageCapabilities(
        conditional_writes=True, conditional_deletes=True, tag_count=True, website_hosting=True)
    """What this provider's S3 does beyond the core (AWS S3: all but a native rename)."""
    iam_capabilities: ClassVar[IAMCapabilities] = AWS_IAM
    """Which parts of IAM this provider's endpoint has (AWS: every one)."""
    shows_own_endpoints: ClassVar[bool] = False
    """Whether the repr shows the provider's own endpoints (the local cloud's URL) or only those given or
    configured (``AWS_ENDPOINT_URL``...)."""

    def default_endpoints(self, region: str) -> dict[str, str]:
        """The provider's endpoint per service in ``region`` (none for AWS: botocore knows them)."""
        return {}

    def _credentials(self, creds: Mapping[str, Any] | None) -> tuple[KeyCredentials | None, str | None]:
        return aws_credentials(creds, self.name)

    def _chain_region(self) -> str | None:
        try:
            region: str | None = boto3.Session().region_name
        except BotoCoreError as e:  # e.g. AWS_PROFILE names a profile that does not exist
            raise map_error(e, self.name) from None
        return region

    @property
    def region(self) -> str:
        """The AWS region."""
        return self._region

    def secrets(self) -> tuple[str, ...]:
        """Values never to be shown in messages."""
        return self.credentials.secrets() if self.credentials else ()

    def account(self) -> str | None:
        """A digest of the access key id (None with boto3's default chain): sessions of two keys never share
        resources' identities, and the key id is not shown."""
        return fingerprint(self.credentials.access_key_id) if self.credentials else None

    def describe(self) -> dict[str, str]:
        """Region, masked key id and endpoint, for the Session repr."""
        out = {"region": self._region}
        if self.credentials:
            out["key"] = mask(self.credentials.access_key_id) or ""
        common, others = endpoint_summary(self.endpoints(own=self.shows_own_endpoints))
        shown = [common] if common else []
        shown += [f"{service}={url}" for service, url in others.items()]
        if shown:
            out["endpoint"] = ", ".join(shown)
        return out

    def endpoints(self, *, own: bool = True) -> dict[str, str]:
        """The endpoint each service (of ``SERVICES``) talks to when it is not botocore's: given as
        ``endpoint_url``, configured (``AWS_ENDPOINT_URL_<SERVICE>``, ``AWS_ENDPOINT_URL``...) or, with ``own``,
        the provider's own."""
        return {service: url for service in SERVICES if (url := self.clients.endpoint(service, own=own))}

    def close(self) -> None:
        """Drop the service objects and close the SDK clients' connections."""
        super().close()
        self.clients.close()

    @property
    def endpoint_url(self) -> str | None:
        """The one endpoint the services use (given, or configured with ``AWS_ENDPOINT_URL``; the local cloud's
        server URL on local): the URL most of them use, None when no URL serves more than one."""
        return endpoint_summary(self.endpoints())[0]

    def _make_service(self, area: str) -> Service:
        if area == "nosql":
            from cloudorm.providers.aws.dynamodb import DynamoDBService

            return DynamoDBService(self.clients, self.name, self.secrets())
        if area == "iam":
            from cloudorm.providers.aws.iam import AwsIAMService

            return AwsIAMService(self.clients, self.name, self.secrets(), capabilities=self.iam_capabilities)
        if area == "storage":
            return self._storage_service()
        if area == "serverless":
            return self._function_service()
        if area == "api_gateway":
            return self._api_service()
        if area == "compute":
            return self._compute_service()
        if area == "billing":
            from cloudorm.providers.aws.costs import AwsCostService

            return AwsCostService(self.clients, self.name, self.secrets())
        return super()._make_service(area)

    def _compute_service(self) -> Service:
        from cloudorm.providers.aws.ec2 import AwsComputeService

        return AwsComputeService(self.clients, self.name, self.secrets())

    def _function_service(self) -> Service:
        from cloudorm.providers.aws.functions import AwsFunctionService

        return AwsFunctionService(self.clients, self.name, self.secrets())

    def _api_service(self) -> Service:
        from cloudorm.providers.aws.apigateway import AwsApiService

        return AwsApiService(self.clients, self.name, self.secrets())

    def _storage_service(self) -> Service:
        from cloudorm.providers.aws.s3 import S3StorageService

        return S3StorageService(self.clients, self.name, self.secrets(), capabilities=self.storage_capabilities)
