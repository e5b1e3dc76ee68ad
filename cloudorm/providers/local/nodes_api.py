"""The local cloud's compute API, cloudorm's own: ``POST /_cloudorm/compute/{Operation}`` with a JSON object, answered
with ``{"result": ...}`` or ``{"error": {"type", "message", "field"}}``; and ``NodesClient``, which calls it.

Every mutating request carries a ``token`` the server remembers with its answer, so a request re-sent after its
answer was lost is answered again as it was the first time, never applied twice.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import urllib3

from cloudorm.errors import AlreadyExists, CloudError, ConflictError, InvalidInput, NotFound
from cloudorm.providers.contract import NodeInfo, Options, SizeInfo

PREFIX = "/_cloudorm/compute/"
"""The path every compute operation is posted under (the operation's name follows)."""

ADDRESS = "127.0.0.1"
"""The address every local node reports: commands run on this machine."""

SIZES: tuple[SizeInfo, ...] = tuple(
    SizeInfo(slug=slug, price_monthly=price, vcpus=vcpus, memory_mb=memory, disk_gb=disk, regions=[], available=True)
    for slug, price, vcpus, memory, disk in (
        ("s-1vcpu-512mb-10gb", 4.0, 1, 512, 10),
        ("s-1vcpu-1gb", 6.0, 1, 1024, 25),
        ("s-1vcpu-2gb", 12.0, 1, 2048, 50),
        ("s-2vcpu-2gb", 18.0, 2, 2048, 60),
        ("s-2vcpu-4gb", 24.0, 2, 4096, 80),
        ("s-4vcpu-8gb", 48.0, 4, 8192, 160),
        ("s-8vcpu-16gb", 96.0, 8, 16384, 320),
    ))
"""DigitalOcean's basic droplet sizes and monthly USD prices (``regions`` empty: offered everywhere)."""

NODE_LIMIT = 1000
"""The most nodes one local cloud may have at once (each is a directory on this machine whose commands are its
processes): the local counterpart of DigitalOcean's droplet limit, read by ``node_quota``."""

_ERRORS: dict[str, tuple[type[CloudError], int]] = {
    "NotFound": (NotFound, 404), "InvalidInput": (InvalidInput, 400), "AlreadyExists": (AlreadyExists, 409),
    "ConflictError": (ConflictError, 409)}
"""The errors the API answers with, by type name, and their HTTP status."""

_BACKOFF = 0.05
"""Seconds before the first re-send after a lost answer (doubling each time)."""


def check_size(size: Any, provider: str | None = None) -> str:
    """``size`` if it is one of ``SIZES``' slugs, else ``InvalidInput("size")``."""
    if size not in {s["slug"] for s in SIZES}:
        raise InvalidInput("size", f"unknown size {size!r}; local sizes: {', '.join(s['slug'] for s in SIZES)}",
                           provider=provider)
    return str(size)


def error_answer(error: CloudError) -> tuple[int, dict[str, Any]]:
    """The HTTP status and JSON body that carry ``error`` (its type, message and field) to the client."""
    name = next((n for n, (cls, _) in _ERRORS.items() if isinstance(error, cls)), "CloudError")
    status = _ERRORS[name][1] if name in _ERRORS else 500
    reason = error.reason if isinstance(error, InvalidInput) else error.message
    return status, {"error": {"type": name, "message": reason, "field": getattr(error, "field", None)}}


def error_from(answer: Any, status: int, provider: str, operation: str) -> CloudError:
    """The cloudorm error an error answer stands for (its message kept); a body that is no error of this API says
    the server is not cloudorm's local cloud."""
    error = answer.get("error") if isinstance(answer, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return CloudError(f"the server answered HTTP {status} to compute.{operation}, not cloudorm's compute API "
                          "(is it cloudorm's local cloud? moto alone has no clusters)",
                          provider=provider, operation=operation, status=status)
    details: dict[str, Any] = {"provider": provider, "operation": operation, "status": status}
    cls = _ERRORS.get(str(error.get("type")), (CloudError, 500))[0]
    if cls is InvalidInput:
        field = error.get("field")
        return InvalidInput(field if isinstance(field, str) else None, error["message"], **details)
    return cls(error["message"], **details)


def wire_node(record: NodeInfo, home: str) -> dict[str, Any]:
    """A node record as JSON: ``created`` in ISO 8601, plus ``home``, the node's directory on this machine."""
    created = record.get("created")
    return {**record, "created": created.isoformat() if created else None, "home": home}


def node_from_wire(wire: dict[str, Any]) -> NodeInfo:
    """A node record from its JSON (``home`` kept: the local shell works there)."""
    created = wire.get("created")
    node: NodeInfo = {**wire, "created": datetime.fromisoformat(created) if created else None}  # type: ignore[typeddict-item]
    return node


class NodesClient:
    """Calls the compute API of the local cloud at ``url``: each attempt counted through ``record``, a request
    whose answer is lost sent again (same token) up to ``options.max_attempts`` times."""

    def __init__(self, url: str, provider: str, options: Options, record: Callable[[str], None] | None) -> None:
        self.url = url.rstrip("/")
        self.provider = provider
        self.attempts = options.max_attempts
        self._record = record
        self._pool = urllib3.PoolManager(
            num_pools=2, maxsize=options.max_pool_connections, retries=False,
            timeout=urllib3.Timeout(connect=options.connect_timeout, read=options.read_timeout))

    def __repr__(self) -> str:
        return f"NodesClient({self.url!r})"

    def call(self, operation: str, body: dict[str, Any] | None = None, *, mutating: bool = False) -> Any:
        """Send ``operation`` with ``body``; its result, or the cloudorm error the server answered. A mutating
        call carries a fresh token, so its re-sends are recognised by the server."""
        payload = dict(body or {})
        if mutating:
            payload["token"] = uuid.uuid4().hex
        data = json.dumps(payload).encode()
        delay = _BACKOFF
        for attempt in range(1, self.attempts + 1):
            if self._record is not None:
                self._record(f"compute.{operation}")
            try:
                response = self._pool.request("POST", f"{self.url}{PREFIX}{operation}", body=data,
                                              headers={"Content-Type": "application/json"})
            except urllib3.exceptions.HTTPError as e:  # not connected, or the answer lost: the token makes it safe
                if attempt == self.attempts:
                    raise CloudError(f"compute.{operation}: no answer from the local cloud at {self.url} after "
                                     f"{attempt} attempt(s): {e}", provider=self.provider,
                                     operation=operation) from None
                time.sleep(delay)
                delay *= 2
                continue
            return self._result(operation, response)
        raise AssertionError("unreachable")  # pragma: no cover

    def _result(self, operation: str, response: Any) -> Any:
        """The ``result`` of a 200 answer, else the error it carries."""
        try:
            answer = json.loads(response.data)
        except ValueError:
            answer = None
        if response.status == 200 and isinstance(answer, dict) and "result" in answer:
            return answer["result"]
        raise error_from(answer, response.status, self.provider, operation)

    def close(self) -> None:
        """Close the pooled connections."""
        self._pool.clear()


__all__ = ["ADDRESS", "NODE_LIMIT", "PREFIX", "SIZES", "NodesClient", "check_size", "error_answer", "error_from",
           "node_from_wire", "wire_node"]
