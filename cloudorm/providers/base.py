"""The provider layer's contract: one small service protocol per area, and the Provider base class.

Entities talk only to these protocols (``session.nosql``, ``session.storage``, ...). A provider implements the areas
it supports; asking for any other area raises ``Unsupported`` before any network call.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

import attrs

from cloudorm.counting import RequestHub
from cloudorm.errors import InvalidInput, Unsupported

Wire = dict[str, Any]


class NoSQLService(Protocol):
    """DynamoDB-style tables and items. Requests and responses use DynamoDB's parameter names and wire format
    (attribute values as ``{"S": ...}``), which ``cloudorm.nosql.codec`` produces and reads."""

    def create_table(self, params: Wire) -> Wire:
        """Create a table; returns its TableDescription."""

    def describe_table(self, name: str) -> Wire:
        """The TableDescription of ``name`` (``NotFound`` if absent)."""

    def update_table(self, params: Wire) -> Wire:
        """Change billing or indexes; returns the TableDescription."""

    def delete_table(self, name: str) -> None:
        """Delete a table (``NotFound`` if absent)."""

    def list_tables(self, start: str | None = None, limit: int | None = None) -> tuple[list[str], str | None]:
        """One page of table names and the name to continue after (``None`` at the end)."""

    def describe_ttl(self, name: str) -> Wire:
        """The TimeToLiveDescription of a table."""

    def update_ttl(self, name: str, attribute: str, enabled: bool) -> None:
        """Turn time-to-live on (on ``attribute``) or off."""

    def put_item(self, params: Wire) -> Wire:
        """PutItem; returns the response (``Attributes`` when old values were asked for)."""

    def get_item(self, params: Wire) -> Wire | None:
        """GetItem; the item's attribute values, or ``None`` when absent."""

    def update_item(self, params: Wire) -> Wire:
        """UpdateItem; returns the response (``Attributes`` as asked by ReturnValues)."""

    def delete_item(self, params: Wire) -> Wire:
        """DeleteItem; returns the response."""

    def query(self, params: Wire) -> Wire:
        """One Query page: ``Items``, ``Count``, ``ScannedCount`` and ``LastEvaluatedKey`` if more remain."""

    def scan(self, params: Wire) -> Wire:
        """One Scan page, shaped like ``query``."""

    def batch_write(self, request_items: Wire) -> Wire:
        """One BatchWriteItem call; returns ``UnprocessedItems`` (maybe empty)."""

    def batch_get(self, request_items: Wire) -> tuple[dict[str, list[Wire]], Wire]:
        """One BatchGetItem call; the items found per table and the unprocessed keys."""

    def transact_write(self, items: list[Wire], token: str) -> None:
        """TransactWriteItems, idempotent for ``token``; ``TransactionError`` carries a reason per action."""

    def transact_get(self, items: list[Wire]) -> list[Wire | None]:
        """TransactGetItems; one item (or ``None``) per requested key."""


def _positive(name: str, kind: type) -> Any:
    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, kind) or isinstance(value, bool) or not value > 0:  # type: ignore[operator]
            raise InvalidInput(name, f"must be a positive {kind.__name__}, not {value!r}")
    return check


def _seconds(value: Any) -> Any:
    """Accept whole seconds as an int."""
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


@attrs.frozen
class Options:
    """Transport settings a Session passes to every SDK client: retries, timeouts and pool size."""

    max_attempts: int = attrs.field(default=5, validator=_positive("max_attempts", int))
    connect_timeout: float = attrs.field(default=5.0, converter=_seconds, validator=_positive("connect_timeout", float))
    read_timeout: float = attrs.field(default=60.0, converter=_seconds, validator=_positive("read_timeout", float))
    max_pool_connections: int = attrs.field(default=32, validator=_positive("max_pool_connections", int))

    @classmethod
    def from_kwargs(cls, options: Mapping[str, Any]) -> Options:
        """Build from the Session's ``**options``, naming any unknown one."""
        known = {a.name for a in attrs.fields(cls)}
        for key in options:
            if key not in known:
                raise InvalidInput(key, f"unknown session option; known options are {', '.join(sorted(known))}")
        return cls(**options)


class Provider:
    """A cloud provider: validates its credentials and hands out one service object per area it supports."""

    name: ClassVar[str]
    areas: ClassVar[frozenset[str]] = frozenset()

    def __init__(self) -> None:
        self.requests = RequestHub()
        self._services: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def region(self) -> str | None:
        """The provider region this session works in."""
        return None

    def describe(self) -> dict[str, str]:
        """Facts for the Session's repr; never a secret."""
        return {}

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
                    svc = self._services[area] = self._make_service(area)
        return svc

    def _make_service(self, area: str) -> Any:
        raise Unsupported(self.name, area)  # pragma: no cover - areas lists what subclasses build

    def close(self) -> None:
        """Release connections; the session can still be used (clients are made again)."""
        with self._lock:
            self._services.clear()
