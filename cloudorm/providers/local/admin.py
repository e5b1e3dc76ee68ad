"""The local cloud's own endpoints, under ``/_cloudorm/``: ``GET /_cloudorm/health`` (status, version, uptime,
services, persistence), ``GET /_cloudorm/version`` and ``POST /_cloudorm/reset`` (everything forgotten: moto's
state, the DynamoDB transaction tokens and every part's). ``POST /moto-api/reset`` (moto's own reset) resets all
that too, and ``GET /_localstack/health`` answers in LocalStack's shape, for tools that wait on it."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from cloudorm.about import version
from cloudorm.providers.aws import SERVICES
from cloudorm.providers.local.app import Change, LocalCloud, Part, register_part
from cloudorm.providers.local.guard import WSGIApp, signing_service

PREFIX = "/_cloudorm/"
"""The path under which the local cloud answers about itself."""


def moto_version() -> str:
    """The version of moto serving the AWS APIs."""
    import moto

    return str(getattr(moto, "__version__", "unknown"))


def services_in_use() -> set[str]:
    """The AWS services moto has state for (a backend made since the start or the last reset)."""
    from moto.core.base_backend import BackendDict

    instances: list[Any] = list(getattr(BackendDict, "_instances", []))
    return {str(getattr(bd, "service_name", "")) for bd in instances}


def state_dir(cloud: LocalCloud) -> str | None:
    """Where the cloud keeps its state (``cloudorm serve --state DIR``), None when it is in memory only."""
    persistence = getattr(cloud.gate, "persistence", None)  # persistence.py's SnapshotGate
    found = getattr(persistence, "directory", None)
    return str(found) if found else None


class Admin(Part):
    """Answers ``/_cloudorm/health``, ``/_cloudorm/version`` and ``/_cloudorm/reset`` (see the module)."""

    name = "admin"

    def __init__(self, cloud: LocalCloud) -> None:
        """The admin endpoints of ``cloud``; its uptime counts from now."""
        self.cloud = cloud
        self.started = time.time()
        self._clock = time.monotonic()
        self._routes: dict[str, dict[str, WSGIApp]] = {
            "/_cloudorm/health": {"GET": self.health, "HEAD": self.health},
            "/_cloudorm/version": {"GET": self.version, "HEAD": self.version},
            "/_cloudorm/reset": {"POST": self.reset_all},
            "/moto-api/reset": {"POST": self.reset_all},
            "/_localstack/health": {"GET": self.localstack_health, "HEAD": self.localstack_health},
        }

    def route(self, method: str, path: str) -> WSGIApp | None:
        """The handler of an admin path (405 for a method the path does not take); other ``/_cloudorm/`` paths
        belong to other parts (``/_cloudorm/compute/``)."""
        methods = self._routes.get(path.rstrip("/") or "/")
        if methods is None:
            return None
        handler = methods.get(method)
        if handler is not None:
            return handler
        allowed = ", ".join(methods)
        return lambda environ, start_response: _json(start_response, "405 Method Not Allowed", {
            "error": f"{path} takes {allowed}"}, [("Allow", allowed)], method)

    def facts(self) -> dict[str, Any]:
        """What ``/_cloudorm/health`` answers."""
        in_use = services_in_use()
        where = state_dir(self.cloud)
        return {
            "status": "running",
            "version": version(),
            "moto": moto_version(),
            "python": platform.python_version(),
            "started": datetime.fromtimestamp(self.started, timezone.utc).isoformat(timespec="seconds"),
            "uptime": round(time.monotonic() - self._clock, 3),
            "services": {s: "running" if s in in_use else "available" for s in SERVICES},
            "parts": [part.name for part in self.cloud.parts],
            "persisted": where is not None,
            "state_dir": where,
        }

    def health(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """``GET /_cloudorm/health``."""
        return _json(start_response, "200 OK", self.facts(), method=_method(environ))

    def version(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """``GET /_cloudorm/version``."""
        body = {"version": version(), "moto": moto_version(), "python": platform.python_version()}
        return _json(start_response, "200 OK", body, method=_method(environ))

    def localstack_health(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """``GET /_localstack/health``, in LocalStack's shape (``services``, ``edition``, ``version``)."""
        facts = self.facts()
        body = {"services": facts["services"], "edition": "cloudorm", "version": facts["version"]}
        return _json(start_response, "200 OK", body, method=_method(environ))

    def reset_all(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """``POST /_cloudorm/reset``: moto, the DynamoDB transaction tokens and every part forget everything
        (``LocalCloud.reset``), under the persistence gate (so a kept state is the empty one)."""
        path = str(environ.get("PATH_INFO") or PREFIX)
        change = Change(signing_service(environ), "POST", path, "Reset")
        with self.cloud.gate.request(change):
            self.cloud.reset()
        self.cloud.changed(change)
        body: dict[str, Any] = {"status": "ok"} if path.startswith("/moto-api/") else {
            "status": "reset", "parts": [part.name for part in self.cloud.parts]}
        return _json(start_response, "200 OK", body)


def _method(environ: dict[str, Any]) -> str:
    return str(environ.get("REQUEST_METHOD") or "GET").upper()


def _json(start_response: Callable[..., Any], status: str, body: Any,
          headers: Iterable[tuple[str, str]] = (), method: str = "GET") -> list[bytes]:
    """Answer ``body`` as JSON (no body for HEAD)."""
    data = json.dumps(body, indent=1).encode() + b"\n"
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data))),
                            ("Cache-Control", "no-store"), *headers])
    return [] if method == "HEAD" else [data]


@register_part
def admin(cloud: LocalCloud) -> Part:
    """The admin part of every local cloud."""
    return Admin(cloud)
