"""The local cloud itself: moto behind cloudorm's guards, plus cloudorm's own parts, as one WSGI application.

moto keeps its state per process, so there is one ``LocalCloud`` per process (``local_cloud()``), whatever the
number of servers that serve it. Each request is offered to the parts first (Lambda's Invoke, the API gateway's
data plane, clusters, health and reset answer the requests that are theirs); every other one goes to moto through
``ConditionalS3`` and ``AtomicDynamoDB``. A request that may have changed something is reported to every part
(``Part.changed``: caches drop what it made stale) and passes the ``gate`` (persistence: it is answered once the
state it made is kept).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from cloudorm.errors import CloudError
from cloudorm.providers.local.atomic import AtomicDynamoDB
from cloudorm.providers.local.conditional_s3 import ConditionalS3
from cloudorm.providers.local.guard import WSGIApp, signing_service
from cloudorm.providers.local.moto_types import mismatched_types_match_nothing

_READS = ("Get", "List", "Describe", "Query", "Scan", "BatchGet", "Head", "Filter", "Search", "Lookup")
"""Operation name prefixes of AWS reads (a request whose operation starts so changes nothing)."""


@attrs.frozen
class Change:
    """A request that may have changed the local cloud's state: the service it was signed for (``lambda``,
    ``apigateway``, ``s3``, ...; "" if unsigned), its method, path and operation (``X-Amz-Target`` or ``Action``,
    "" for REST services)."""

    service: str
    method: str
    path: str
    operation: str


def change_of(environ: dict[str, Any]) -> Change | None:
    """The ``Change`` a request may make, None when it is a read (GET, HEAD, OPTIONS, or a JSON/query operation
    named ``Get...``, ``List...``, ``Describe...``, ``Query``, ``Scan``...)."""
    method = str(environ.get("REQUEST_METHOD") or "GET").upper()
    if method in ("GET", "HEAD", "OPTIONS"):
        return None
    target = str(environ.get("HTTP_X_AMZ_TARGET") or "").rpartition(".")[2]
    operation = target or _query_action(environ)
    if operation.startswith(_READS):
        return None
    return Change(signing_service(environ), method, str(environ.get("PATH_INFO") or "/"), operation)


def _query_action(environ: dict[str, Any]) -> str:
    """The ``Action`` of a query-protocol request (IAM, EC2, STS...) sent in its URL (its body is not read here)."""
    from urllib.parse import parse_qs

    return (parse_qs(str(environ.get("QUERY_STRING") or "")).get("Action") or [""])[0]


class Part:
    """One of cloudorm's parts of the local cloud. The defaults answer nothing and keep nothing."""

    name = "part"
    """The key of its state in a ``--state`` snapshot."""

    def route(self, method: str, path: str) -> WSGIApp | None:
        """The handler of a request this part answers (None: not this part's)."""
        return None

    def changed(self, change: Change) -> None:
        """A request that may have changed moto's state was answered (drop what it made stale)."""

    def dump(self) -> Any:
        """This part's state to keep (picklable; None: nothing)."""
        return None

    def load(self, state: Any) -> None:
        """Take back the state ``dump()`` gave (after a restart with ``--state``)."""

    def keep_files_in(self, directory: Path) -> None:
        """With ``--state``: keep the files this part makes (beyond ``dump()``) in ``directory``, told before
        ``load()``."""

    def reset(self) -> None:
        """Forget everything (``cloudorm reset``)."""

    def close(self) -> None:
        """Release what it holds (sandboxes, processes) when the process exits."""


class Gate:
    """What a request passes through: no persistence (the default) lets every request through at once."""

    @contextlib.contextmanager
    def request(self, change: Change | None, *, wait: bool = True) -> Iterator[None]:
        """Hold the gate while a request is applied; ``change`` is None for a read. With persistence, a change is
        answered once it is on disk, unless ``wait`` is False (diagnostics such as logs: kept by the next
        snapshot)."""
        yield


def _moto_app() -> Any:
    """moto's WSGI application (every AWS service moto has, dispatched by request)."""
    try:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    except ImportError as e:  # pragma: no cover - depends on the install
        raise CloudError("the local cloud needs moto: pip install 'cloudorm[local]'") from e
    mismatched_types_match_nothing()  # a number compared with text matches nothing, as on DynamoDB (not HTTP 500)
    return DomainDispatcherApplication(create_backend_app)


def _reset_moto() -> None:
    """Forget moto's state: every service, account and region (what moto's ``POST /moto-api/reset`` does)."""
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()


class LocalCloud:
    """The local cloud of this process: moto (behind ``ConditionalS3`` and ``AtomicDynamoDB``) and cloudorm's parts,
    as one WSGI application."""

    def __init__(self, parts: Sequence[Part] = ()) -> None:
        """``parts`` answer their requests before moto; more can be added with ``add``."""
        self.dynamodb = AtomicDynamoDB(_moto_app())
        self.moto: WSGIApp = ConditionalS3(self.dynamodb)
        self.parts: list[Part] = list(parts)
        self.gate: Gate = Gate()
        """Replaced by persistence (``--state``)."""

    def add(self, part: Part) -> Part:
        """Add a part (answering before moto and the parts added later); returns it."""
        self.parts.append(part)
        return part

    def part(self, name: str) -> Part:
        """The part called ``name`` (KeyError if there is none)."""
        for part in self.parts:
            if part.name == name:
                return part
        raise KeyError(name)

    def reset(self) -> None:
        """Forget everything: moto's state (every service, account and region), the DynamoDB transaction tokens it
        answered, and every part's state. The caller holds the gate (``cloudorm reset``: the admin part)."""
        self.dynamodb.reset(_reset_moto)
        for part in self.parts:
            part.reset()

    def changed(self, change: Change) -> None:
        """Tell every part that ``change`` was applied."""
        for part in self.parts:
            part.changed(change)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method, path = str(environ.get("REQUEST_METHOD") or "GET").upper(), str(environ.get("PATH_INFO") or "/")
        for part in self.parts:
            handler = part.route(method, path)
            if handler is not None:
                return handler(environ, start_response)
        change = change_of(environ)
        with self.gate.request(change):
            answer = self.moto(environ, start_response)
        if change is not None:
            self.changed(change)
        return answer


_cloud: LocalCloud | None = None
_cloud_lock = threading.Lock()
_part_factories: list[Callable[[LocalCloud], Part]] = []


def register_part(factory: Callable[[LocalCloud], Part]) -> Callable[[LocalCloud], Part]:
    """Make ``factory(cloud)`` one of every local cloud's parts (in registration order); usable as a decorator."""
    _part_factories.append(factory)
    return factory


def local_cloud() -> LocalCloud:
    """This process's local cloud, made on first use with every registered part."""
    global _cloud
    with _cloud_lock:
        if _cloud is None:
            import cloudorm.providers.local.parts  # noqa: F401  (registers the parts)

            cloud = LocalCloud()
            for factory in _part_factories:
                cloud.add(factory(cloud))
            _cloud = cloud
        return _cloud
