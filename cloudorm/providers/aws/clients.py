"""Creating botocore clients once per session, thread-safely, with standard retries and explicit timeouts; the one
place a service's endpoint URL is chosen (given, configured in the environment as botocore reads it, or the
provider's own)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import boto3
import botocore.exceptions as bx
import botocore.session
import botocore.utils
from botocore import xform_name
from botocore.config import Config
from botocore.configprovider import ConfiguredEndpointProvider
from botocore.exceptions import BotoCoreError

from cloudorm.counting import RequestHub
from cloudorm.credentials import KeyCredentials
from cloudorm.errors import InvalidInput
from cloudorm.providers.aws.errors import map_error
from cloudorm.providers.base import Options


def refuse_resend(caught_exception: BaseException | None = None, **_: Any) -> None:
    """botocore's ``needs-retry`` hook for a call that must not be sent twice: once the request may have reached the
    service (the connection closed or no answer came in time) botocore does not send it again; the caller decides
    (see ``may_have_applied``)."""
    if isinstance(caught_exception, bx.HTTPClientError):
        raise caught_exception


def may_have_applied(exc: BaseException) -> bool:
    """Whether a failed call may still have been applied by the service: it was sent but no answer came back."""
    return isinstance(exc, bx.HTTPClientError)


def paginate(client: Any, operation: str, key: str | None, provider: str, secrets: tuple[str, ...] = (),
             **params: Any) -> Iterator[Any]:
    """Every item under ``key`` (None: every page) that botocore's paginator for ``operation`` returns, following
    the operation's own tokens (Marker, NextToken, position...); errors mapped to cloudorm's."""
    try:
        for page in client.get_paginator(xform_name(operation)).paginate(**params):
            if key is None:
                yield page
            else:
                yield from page.get(key) or []
    except (bx.ClientError, BotoCoreError) as e:
        raise map_error(e, provider, operation, secrets) from None


RegionalEndpoints = Callable[[str], Mapping[str, str]]
"""A provider's own endpoint per service in a region (Wasabi's ``s3.{region}.wasabisys.com``)."""


def configured_endpoint(session: botocore.session.Session, service: str) -> str | None:
    """The endpoint URL configured for ``service`` outside the program, found by botocore's own lookup:
    ``AWS_ENDPOINT_URL_<SERVICE_ID>`` (``AWS_ENDPOINT_URL_DYNAMODB``, ``_S3``, ``_API_GATEWAY``...), then
    ``AWS_ENDPOINT_URL``, then the shared config file's (a ``services`` section, then the profile's
    ``endpoint_url``; an isolated session reads no file); None when none is set or
    ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`` is true."""
    if session.get_config_variable("ignore_configured_endpoint_urls"):
        return None
    found = ConfiguredEndpointProvider(full_config=session.full_config, scoped_config=session.get_scoped_config(),
                                       client_name=service).provide()
    if not found:
        return None
    if not isinstance(found, str) or not found.startswith(("http://", "https://")):
        raise InvalidInput("AWS_ENDPOINT_URL", f"the endpoint configured for {service} (in the environment or the "
                                               f"AWS config file) must be an http:// or https:// URL, not {found!r}")
    return found


def endpoint_variable(service: str) -> str:
    """The environment variable botocore reads for ``service``'s endpoint: ``AWS_ENDPOINT_URL_`` and the service id
    in upper snake case (``AWS_ENDPOINT_URL_DYNAMODB``; ``AWS_ENDPOINT_URL_API_GATEWAY`` for ``apigateway``)."""
    name = botocore.utils.SERVICE_NAME_ALIASES.get(service, service)  # ConfiguredEndpointProvider's rule and tables
    service_id = botocore.utils.CLIENT_NAME_TO_HYPHENIZED_SERVICE_ID_OVERRIDES.get(name, name)
    return f"AWS_ENDPOINT_URL_{service_id.replace('-', '_').upper()}"


def endpoint_summary(endpoints: Mapping[str, str]) -> tuple[str | None, dict[str, str]]:
    """``(common, others)``: the URL most services of ``endpoints`` use (if more than one uses it) and the services
    that use another, for a repr (``http://127.0.0.1:4566, s3=http://127.0.0.1:9000``)."""
    counts: dict[str, int] = {}
    for url in endpoints.values():
        counts[url] = counts.get(url, 0) + 1
    common = max(counts, key=lambda url: counts[url], default=None)
    if common is not None and counts[common] < 2:
        common = None
    return common, {service: url for service, url in endpoints.items() if url != common}


class ClientFactory:
    """Makes and caches one botocore client per service (and region) for a session; safe to use from many
    threads. ``endpoints`` are the URLs given to the session (``"*"``: every service); ``regional`` gives the
    provider's own. See ``endpoint`` for which one a service uses."""

    def __init__(self, *, provider: str, credentials: KeyCredentials | None, region: str,
                 endpoints: Mapping[str, str], options: Options, hub: RequestHub, s3_compatible: bool = False,
                 isolated: bool = False, data_paths: tuple[str, ...] = (),
                 service_regions: Mapping[str, str] | None = None, regional: RegionalEndpoints | None = None,
                 ) -> None:
        self._provider = provider
        self._service_regions = dict(service_regions or {})
        self._data_paths = data_paths
        self._isolated = isolated
        self._credentials = credentials
        self._region = region
        self._endpoints = dict(endpoints)
        self._regional = regional
        self._options = options
        self.options = options
        """The session's transport options (object storage reads its multipart sizes here)."""
        self._hub = hub
        self._s3_compatible = s3_compatible
        self._clients: dict[tuple[str, str], Any] = {}
        self._hooks: dict[tuple[str, str, str], Callable[..., None]] = {}  # (service, event, handler name): handler
        self._lock = threading.RLock()  # reentrant: making a client reads the configured endpoint
        self._boto: boto3.Session | None = None
        self._core: botocore.session.Session | None = None
        self._configured: dict[str, str | None] = {}

    @property
    def region(self) -> str:
        """The session's region."""
        return self._region

    def endpoint(self, service: str, region: str | None = None, *, own: bool = True) -> str | None:
        """The endpoint URL for ``service`` in ``region`` (the session's by default), the first of: the one given
        to the session (for the service, else ``"*"``); the one configured as botocore finds it
        (``configured_endpoint``: ``AWS_ENDPOINT_URL_<SERVICE>``, ``AWS_ENDPOINT_URL``...), read once per
        service; the provider's own (unless ``own`` is False); None for botocore's."""
        url = self._endpoints.get(service) or self._endpoints.get("*")
        if url is None:
            url = self.configured(service)
        if url is None and own and self._regional is not None:
            url = self._regional(region or self._region).get(service)
        return url

    def configured(self, service: str) -> str | None:
        """The endpoint configured for ``service`` outside the program (``configured_endpoint``), read once."""
        if service in self._configured:
            return self._configured[service]
        with self._lock:
            if service not in self._configured:
                try:
                    self._configured[service] = configured_endpoint(self._core_session(), service)
                except BotoCoreError as e:  # e.g. AWS_PROFILE names a profile that does not exist
                    raise map_error(e, self._provider, None, self._secrets()) from None
            return self._configured[service]

    def config(self, service: str, region: str | None = None) -> Config:
        """The botocore Config of this session's clients of ``service`` in ``region`` (the session's by default)."""
        extra: dict[str, Any] = {}
        if self._s3_compatible or self.endpoint(service):
            # S3-compatible services (Wasabi, Spaces, MinIO, moto) reject boto3's default checksum headers.
            extra = {"request_checksum_calculation": "when_required",
                     "response_checksum_validation": "when_required"}
        if service == "s3":  # presigned URLs too (botocore would presign with SigV2 by default)
            extra["signature_version"] = "s3v4"
        if service == "dynamodb":
            # cloudorm builds every DynamoDB request from input it has checked (InvalidInput before any request);
            # botocore's second check of each item's every attribute was a third of a batch write's CPU.
            extra["parameter_validation"] = False
        return Config(
            region_name=self._service_regions.get(service, region or self._region),
            retries={"mode": "standard", "total_max_attempts": self._options.max_attempts},
            connect_timeout=self._options.connect_timeout,
            read_timeout=self._options.read_timeout,
            max_pool_connections=self._options.max_pool_connections,
            **extra,
        )

    def client(self, service: str, region: str | None = None) -> Any:
        """The botocore client for ``service`` in ``region`` (default: the session's), made on first use. Another
        region matters where a request must be signed for the resource's own region (S3 presigned URLs)."""
        key = (service, region or self._region)
        client = self._clients.get(key)
        if client is not None:
            return client
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._make(service, key[1])
                self._clients[key] = client
        return client

    def hook(self, event: str, service: str, operations: tuple[str, ...] | None, handler: Callable[..., Any],
             ) -> None:
        """Register ``handler`` for botocore's ``event`` (e.g. ``before-parse``: each raw response before botocore
        parses and logs it; ``needs-retry``; ``before-send``, whose handler's answer botocore uses) on ``service``
        (only ``operations``, if given), on every client of the service, made now or later. The one place secrets
        in responses are protected and retries are steered."""
        events = [f"{event}.{service}.{op}" for op in operations] if operations else [f"{event}.{service}"]
        name = getattr(handler, "__qualname__", repr(handler))  # a service made again replaces its own hook
        with self._lock:
            for full in events:
                self._hooks[service, full, name] = handler
                for (made, _), client in self._clients.items():
                    if made == service:
                        client.meta.events.register(full, handler, unique_id=f"cloudorm:{full}:{name}")

    def no_resend(self, service: str, operations: tuple[str, ...]) -> None:
        """Never let botocore re-send ``operations`` of ``service`` whose request may have reached the service:
        the one place non-idempotent calls are kept from running twice (callers reconcile instead)."""
        self.hook("needs-retry", service, operations, refuse_resend)

    def close(self) -> None:
        """Close every client's connections and forget the clients (new ones are made on next use)."""
        with self._lock:
            clients, self._clients = self._clients, {}
        for client in clients.values():
            client.close()

    def _secrets(self) -> tuple[str, ...]:
        return self._credentials.secrets() if self._credentials else ()

    def _core_session(self) -> botocore.session.Session:
        """This factory's botocore session, made on first use."""
        with self._lock:
            if self._core is None:
                self._core = self._botocore_session()
            return self._core

    def _botocore_session(self) -> botocore.session.Session:
        """A botocore session; an ``isolated`` one (the local cloud) reads no AWS profile or config file."""
        session = botocore.session.Session()
        if self._isolated:
            session.session_var_map["profile"] = (None, None, None, None)
            session.set_config_variable("config_file", os.devnull)
            session.set_config_variable("credentials_file", os.devnull)
        if self._data_paths:  # service model extensions (e.g. Wasabi's MoveObject), for this session only
            loader = session.get_component("data_loader")
            for path in reversed(self._data_paths):
                loader.search_paths.insert(0, path)
        return session

    def _make(self, service: str, region: str) -> Any:
        try:
            if self._boto is None:
                c = self._credentials
                self._boto = boto3.Session(
                    aws_access_key_id=c.access_key_id if c else None,
                    aws_secret_access_key=c.secret_access_key if c else None,
                    aws_session_token=c.session_token if c else None,
                    region_name=self._region,
                    botocore_session=self._core_session(),
                )
            client = self._boto.client(service, endpoint_url=self.endpoint(service, region),  # type: ignore[call-overload]
                                       config=self.config(service, region))
        except BotoCoreError as e:  # e.g. AWS_PROFILE names a profile that does not exist
            raise map_error(e, self._provider, None, self._secrets()) from None
        hub = self._hub

        def count(event_name: str, **_: Any) -> None:
            # event_name is "before-send.<service>.<Operation>"
            hub.record(event_name.split(".", 1)[1])

        client.meta.events.register("before-send", count)
        for (made, event, name), handler in self._hooks.items():
            if made == service:
                client.meta.events.register(event, handler, unique_id=f"cloudorm:{event}:{name}")
        return client
