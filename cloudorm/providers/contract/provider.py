"""A provider: its constructor contract (what ``Session(...)`` passes), the transport ``Options``, and one service
object per area it supports."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from cloudorm.checks import check_seconds
from cloudorm.counting import RequestHub
from cloudorm.errors import InvalidInput, Unsupported
from cloudorm.providers.contract.service import Service


def _positive(name: str, kind: type) -> Any:
    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, kind) or isinstance(value, bool) or not value > 0:  # type: ignore[operator]
            raise InvalidInput(name, f"must be a positive {kind.__name__}, not {value!r}")
    return check


def _float(value: Any) -> Any:
    """Accept whole seconds as an int."""
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _seconds(name: str) -> Any:
    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        check_seconds(name, value)  # finite, > 0, at most a year: inf and nan never reach a socket
    return check


@attrs.frozen
class Options:
    """Transport settings a Session passes to every SDK client: retries, timeouts, pool size and, for object
    storage, the size above which transfers are multipart and the size of each part (bytes)."""

    max_attempts: int = attrs.field(default=5, validator=_positive("max_attempts", int))
    connect_timeout: float = attrs.field(default=5.0, converter=_float, validator=_seconds("connect_timeout"))
    read_timeout: float = attrs.field(default=60.0, converter=_float, validator=_seconds("read_timeout"))
    max_pool_connections: int = attrs.field(default=32, validator=_positive("max_pool_connections", int))
    multipart_threshold: int = attrs.field(default=8 * 1024 * 1024, validator=_positive("multipart_threshold", int))
    multipart_chunksize: int = attrs.field(default=8 * 1024 * 1024, validator=_positive("multipart_chunksize", int))

    @classmethod
    def from_kwargs(cls, options: Mapping[str, Any]) -> Options:
        """Build from the Session's ``**options``, naming any unknown one."""
        known = {a.name for a in attrs.fields(cls)}
        for key in options:
            if key not in known:
                raise InvalidInput(key, f"unknown session option; known options are {', '.join(sorted(known))}")
        return cls(**options)


def fingerprint(value: str) -> str:
    """A short, one-way digest of ``value`` (an access key id): tells accounts apart in a scope, shows nothing."""
    return hashlib.sha256(f"cloudorm-scope:{value}".encode()).hexdigest()[:12]


class Provider:
    """A cloud provider: validates its credentials and hands out one service object per area it supports.

    The constructor contract: ``Session(name, creds=..., region=..., endpoint_url=..., **options)`` calls
    ``cls(creds=creds, region=region, endpoint_url=endpoint_url, options=Options(**options))``, keywords only, each
    may be None. A subclass checks what it takes (``InvalidInput`` before any request), lists its ``areas`` and
    builds each area's service in ``_make_service``; ``cloudorm.register_provider(name, cls)`` makes it a name a
    Session accepts."""

    name: ClassVar[str]
    areas: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, *, creds: Mapping[str, Any] | None = None, region: str | None = None,
                 endpoint_url: str | Mapping[str, str] | None = None, options: Options | None = None) -> None:
        self.options = options if options is not None else Options()
        self.requests = RequestHub()
        self._services: dict[str, Service] = {}
        self._lock = threading.RLock()  # reentrant: one service may be built on another (the local gateway)

    @property
    def region(self) -> str | None:
        """The provider region this session works in."""
        return None

    def describe(self) -> dict[str, str]:
        """Facts for the Session's repr; never a secret."""
        return {}

    def scope(self) -> tuple[object, ...]:
        """What tells this provider's resources from those of another account or endpoint (part of every
        resource's identity, with the region for regional kinds); never a secret."""
        return (self.name, self.account(), self.endpoint_url)

    def account(self) -> str | None:
        """What tells this provider's accounts apart without a request and without a secret (a digest of the
        access key id), or None when it cannot tell."""
        return None

    @property
    def endpoint_url(self) -> str | None:
        """The endpoint override every service uses, if one URL was given."""
        return None

    def service(self, area: str) -> Any:
        """The service object for ``area``, created once (``Unsupported`` if this provider lacks it)."""
        if area not in self.areas:
            raise Unsupported(self.name, area)
        svc = self._services.get(area)
        if svc is None:
            with self._lock:
                svc = self._services.get(area)
                if svc is None:
                    svc = self._make_service(area)
                    svc.provider_name = self.name
                    self._services[area] = svc
        return svc

    def _make_service(self, area: str) -> Service:
        raise Unsupported(self.name, area)  # pragma: no cover - areas lists what subclasses build

    def close(self) -> None:
        """Release connections; the session can still be used (clients are made again)."""
        with self._lock:
            self._services.clear()
