"""The local cloud's API gateway: an HTTP server on 127.0.0.1 that serves REST APIs as API Gateway does.

``http://127.0.0.1:{port}/{api_id}/{stage}/{path}`` is routed to the API's resources (``{param}`` and ``{proxy+}``
templates, ``ANY`` methods), checked for an API key of a usage plan of the stage, throttled (token bucket per key
and plan) and counted against the plan's quota (in this process's memory), then sent to the function as the Lambda
proxy event (payload format 1.0); the function's answer becomes the HTTP response. Errors are API Gateway's: 403
``Missing Authentication Token`` (no such route), 403 ``Forbidden`` (no such stage, missing or wrong key), 429
``Too Many Requests`` / ``Limit Exceeded``, 502 ``Internal server error`` (the function failed or answered
something else than a proxy response), 504 ``Endpoint request timed out`` (no answer within 29 s). One server
per process, started on first use, stopped at exit.
"""

from __future__ import annotations

import atexit
import json
import logging
import threading
import urllib.parse
import uuid
import weakref
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from cloudorm.errors import CloudError
from cloudorm.providers.local.proxy import BadResponse, http_response, proxy_event
from cloudorm.providers.local.routing import Plan, Route, Routing, changed, changed_by, find_route, generation
from cloudorm.providers.local.usage import Limits, find_key, period_start

log = logging.getLogger(__name__)

MAX_BODY = 10 * 1024 * 1024
"""API Gateway's largest request payload (bytes)."""

INTEGRATION_TIMEOUT = 29.0
"""API Gateway's integration timeout: after this a request is answered 504 (the function may still run)."""

_FORWARDED = frozenset({"x-forwarded-for", "x-forwarded-proto", "x-forwarded-port"})


class Backend(Protocol):
    """Where the gateway reads an API's routing data and invokes functions (the local ApiService)."""

    def routing(self, api_id: str, fresh: bool = False) -> Routing | None:
        """The API's routing data (None if there is no such API); ``fresh`` re-reads it."""

    def invoke_function(self, function_arn: str, payload: bytes) -> Mapping[str, Any]:
        """Invoke a function synchronously (a ``FunctionService.invoke`` answer)."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("gateway: " + format, *args)

    def do_GET(self) -> None:
        self.server.gateway.handle(self)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    gateway: Gateway

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("gateway: connection from %s failed", client_address, exc_info=True)  # e.g. the client left


class Gateway:
    """The HTTP server and its request handling; APIs are found through the backends registered for them."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._backends: weakref.WeakValueDictionary[str, Backend] = weakref.WeakValueDictionary()
        self._known: weakref.WeakSet[Any] = weakref.WeakSet()
        self.limits = Limits()
        self.integration_timeout = INTEGRATION_TIMEOUT
        """Seconds a request waits for its function before the gateway answers 504."""
        self._server = _Server((host, port), _Handler)
        self._server.gateway = self
        self.host, self.port = str(self._server.server_address[0]), int(self._server.server_address[1])
        self.url = f"http://{self.host}:{self.port}"
        """The server's base URL."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="cloudorm-gateway", daemon=True)
        self._thread.start()

    def register(self, api_id: str, backend: Backend) -> None:
        """Serve ``api_id`` from ``backend``."""
        self._backends[api_id] = backend
        self._known.add(backend)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def _backend(self, api_id: str) -> tuple[Backend, Routing] | None:
        backend = self._backends.get(api_id)
        if backend is not None:
            routing = backend.routing(api_id)
            if routing is not None:
                return backend, routing
        for other in list(self._known):  # an API whose URL was not asked for here: ask every local cloud
            routing = other.routing(api_id)
            if routing is not None:
                self.register(api_id, other)
                return other, routing
        return None

    def handle(self, request: _Handler) -> None:
        """Answer one HTTP request."""
        request_id = str(uuid.uuid4())
        try:
            status, headers, body = self._answer(request, request_id)
        except Exception:  # never leave a client without an answer
            log.exception("gateway request %s failed", request_id)
            status, headers, body = _message(500, "Internal server error", "InternalServerErrorException")
        request.send_response(status)
        for name, value in headers:
            request.send_header(name, value)
        request.send_header("x-amzn-RequestId", request_id)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(body)

    def _answer(self, request: _Handler, request_id: str) -> tuple[int, list[tuple[str, str]], bytes]:
        split = urllib.parse.urlsplit(request.path)
        parts = [urllib.parse.unquote(p) for p in split.path.split("/") if p]
        try:
            body = _read_body(request)
        except ValueError:  # a Content-Length or chunk size that is not a number
            request.close_connection = True
            return _message(400, "Bad Request", "BadRequestException")
        if body is None:
            return _message(413, "Request Too Long", "RequestTooLongException")
        if len(parts) < 2:
            return _message(403, "Forbidden", "ForbiddenException")
        api_id, stage, rest = parts[0], parts[1], parts[2:]
        found = self._backend(api_id)
        if found is None:
            return _message(403, "Forbidden", "ForbiddenException")
        backend, routing = found
        method = request.command
        match = find_route(routing, stage, rest, method)
        if match is None:  # deployed a moment ago from elsewhere? read again before refusing
            routing = backend.routing(api_id, fresh=True) or routing
            match = find_route(routing, stage, rest, method)
        if stage not in routing.stages:
            return _message(403, "Forbidden", "ForbiddenException")
        if match is None:
            return _message(403, "Missing Authentication Token", "MissingAuthenticationTokenException")
        route, params, spec = match
        if spec.get("mock_headers") is not None:
            return 200, [("Content-Type", "application/json"), *spec["mock_headers"].items()], b""
        key: tuple[str, str] | None = None
        if spec.get("key_required"):
            value = request.headers.get("x-api-key") or ""
            found_key = find_key(routing, stage, value)
            if found_key is None and value:
                routing = backend.routing(api_id, fresh=True) or routing
                found_key = find_key(routing, stage, value)
            if found_key is None:
                return _message(403, "Forbidden", "ForbiddenException")
            plan, key_id = found_key
            if not self.limits.take_token(plan, key_id):
                return _message(429, "Too Many Requests", "TooManyRequestsException")
            if not self.limits.count(plan, key_id):
                return _message(429, "Limit Exceeded", "LimitExceededException")
            key = (value, key_id)
        if not spec.get("function_arn"):
            return _message(500, "Internal server error", "InternalServerErrorException")
        if not routing.permits(spec["function_arn"], stage, method, route):
            log.info("gateway request %s: the function's policy does not let API Gateway invoke it from %s %s",
                     request_id, method, route.path)
            return _message(500, "Internal server error", "InternalServerErrorException")
        host = request.headers.get("Host") or f"{self.host}:{self.port}"
        client_ip = request.client_address[0]
        forwarded = ", ".join([*request.headers.get_all("X-Forwarded-For", []), client_ip])  # appended, as AWS does
        headers = [*((n, v) for n, v in request.headers.items() if n.lower() not in _FORWARDED),
                   ("X-Forwarded-For", forwarded), ("X-Forwarded-Proto", "http"), ("X-Forwarded-Port", str(self.port))]
        event = proxy_event(routing=routing, stage=stage, route=route, method=method, path="/" + "/".join(rest),
                            params=params, headers=headers, query=split.query, body=body, source_ip=client_ip,
                            host=host, request_id=request_id, key=key)
        answer = self._invoke(backend, spec["function_arn"], json.dumps(event).encode(), request_id)
        if answer is None:
            return _message(504, "Endpoint request timed out", "InternalServerErrorException")
        if not answer:
            return _message(500, "Internal server error", "InternalServerErrorException")
        if answer.get("error"):
            return _message(502, "Internal server error", "InternalServerErrorException")
        try:
            return http_response(answer.get("payload") or b"")
        except BadResponse as e:
            log.info("gateway request %s: malformed Lambda proxy response (%s)", request_id, e)
            return _message(502, "Internal server error", "InternalServerErrorException")

    def _invoke(self, backend: Backend, function_arn: str, payload: bytes, request_id: str) -> Mapping[str, Any] | None:
        """The function's answer; None after ``integration_timeout`` seconds (the invocation goes on, as on AWS),
        ``{}`` if it could not be invoked."""
        answer: list[Mapping[str, Any]] = []

        def run() -> None:
            try:
                answer.append(backend.invoke_function(function_arn, payload))
            except CloudError as e:
                log.info("gateway request %s: the function could not be invoked: %s", request_id, type(e).__name__)
                answer.append({})
            except Exception:
                log.exception("gateway request %s: invoking the function failed", request_id)
                answer.append({})

        worker = threading.Thread(target=run, name=f"cloudorm-gateway-{request_id[:8]}", daemon=True)
        worker.start()
        worker.join(self.integration_timeout)
        return answer[0] if answer else None


def _message(status: int, message: str, error_type: str) -> tuple[int, list[tuple[str, str]], bytes]:
    return (status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", error_type)],
            json.dumps({"message": message}).encode())


def _read_body(request: BaseHTTPRequestHandler) -> bytes | None:
    """The request body (``Content-Length`` or chunked); None when it is larger than ``MAX_BODY``."""
    if "chunked" in (request.headers.get("Transfer-Encoding") or "").lower():
        chunks: list[bytes] = []
        size = 0
        while True:
            line = request.rfile.readline(65537)
            length = int(line.split(b";")[0].strip() or b"0", 16)
            if length == 0:
                while request.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            size += length
            if size > MAX_BODY:
                request.close_connection = True
                return None
            chunks.append(request.rfile.read(length))
            request.rfile.readline(3)
    length = int(request.headers.get("Content-Length") or 0)
    if length > MAX_BODY:
        request.close_connection = True
        return None
    return request.rfile.read(length) if length > 0 else b""


_gateway: Gateway | None = None
_lock = threading.Lock()


def gateway() -> Gateway:
    """This process's gateway, started on first use (stopped at exit)."""
    global _gateway
    with _lock:
        if _gateway is None:
            _gateway = Gateway()
            atexit.register(_gateway.stop)
            log.debug("local API gateway listening on %s", _gateway.url)
        return _gateway


__all__ = [  # the routing data, usage limits and proxy conversion stay importable from here
    "INTEGRATION_TIMEOUT",
    "MAX_BODY",
    "Backend",
    "BadResponse",
    "Gateway",
    "Limits",
    "Plan",
    "Route",
    "Routing",
    "changed",
    "changed_by",
    "gateway",
    "generation",
    "http_response",
    "period_start",
    "proxy_event",
]
