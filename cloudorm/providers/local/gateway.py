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
import base64
import binascii
import datetime as dt
import functools
import json
import logging
import re
import threading
import time
import urllib.parse
import uuid
import weakref
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import attrs

from cloudorm.errors import CloudError
from cloudorm.providers.contract import Wire

log = logging.getLogger(__name__)

MAX_BODY = 10 * 1024 * 1024
"""API Gateway's largest request payload (bytes)."""

INTEGRATION_TIMEOUT = 29.0
"""API Gateway's integration timeout: after this a request is answered 504 (the function may still run)."""

_FORWARDED = frozenset({"x-forwarded-for", "x-forwarded-proto", "x-forwarded-port"})
_RESPONSE_KEYS = frozenset({"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"})


# ----------------------------------------------------------------------------------------------- routing data


@attrs.frozen
class Route:
    """One resource of a deployed API: its path template and its methods (ApiService method records)."""

    path: str
    resource_id: str
    methods: Mapping[str, Wire]

    @property
    def segments(self) -> tuple[str, ...]:
        """The template's segments (``("orders", "{id}")``)."""
        return tuple(p for p in self.path.split("/") if p)

    def match(self, parts: Sequence[str]) -> tuple[tuple[int, ...], dict[str, str]] | None:
        """The specificity and path parameters if ``parts`` (a request path's segments) fits this template."""
        params: dict[str, str] = {}
        score: list[int] = []
        segments = self.segments
        for i, segment in enumerate(segments):
            if segment.startswith("{") and segment.endswith("+}"):
                if i != len(segments) - 1 or len(parts) <= i:
                    return None
                params[segment[1:-2]] = "/".join(parts[i:])
                return (*score, 0), params
            if i >= len(parts):
                return None
            if segment.startswith("{") and segment.endswith("}"):
                params[segment[1:-1]] = parts[i]
                score.append(1)
            elif segment == parts[i]:
                score.append(2)
            else:
                return None
        return (tuple(score), params) if len(parts) == len(segments) else None


@attrs.frozen
class Plan:
    """A usage plan of a stage: its limits and the values of its enabled keys (value → key id)."""

    id: str
    throttle: Wire | None
    quota: Wire | None
    keys: Mapping[str, str] = attrs.field(repr=False)
    """Enabled key values (secrets: kept out of the repr) → key ids."""


@attrs.frozen
class Routing:
    """What the gateway knows of one API: the routes deployed to each stage, the stage's usage plans and, per
    function, the source ARNs its resource policy lets API Gateway invoke it from."""

    api_id: str
    account: str
    region: str
    stages: Mapping[str, tuple[Route, ...]]
    plans: Mapping[str, tuple[Plan, ...]]
    grants: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)

    def permits(self, function_arn: str, stage: str, method: str, route: Route) -> bool:
        """True if the function's policy lets API Gateway invoke it for this request (as AWS checks the
        ``execute-api`` source ARN: ``*`` and ``?`` are wildcards)."""
        parts = function_arn.split(":")
        partition = parts[1] if len(parts) > 1 and parts[1] else "aws"
        arn = (f"arn:{partition}:execute-api:{self.region}:{self.account}:{self.api_id}/{stage}/{method}/"
               f"{route.path.lstrip('/')}")
        return any(_wildcard(pattern).fullmatch(arn) for pattern in self.grants.get(function_arn, ()))


@functools.lru_cache(maxsize=1024)
def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(".".join(re.escape(p) for p in part.split("?")) for part in pattern.split("*")))


_generation = 0
_generation_lock = threading.Lock()


def changed() -> None:
    """Note that an API, a usage plan, a key or a function's permissions changed: what the gateway keeps is stale."""
    global _generation
    with _generation_lock:
        _generation += 1


def changed_by(model: Any, **_: Any) -> None:
    """botocore's ``after-call`` hook on the local cloud's API Gateway and Lambda clients: a request that is not a
    read (``Get...``, ``List...``) may have changed what the gateway keeps."""
    if not model.name.startswith(("Get", "List")):
        changed()


def generation() -> int:
    """How many changes ``changed()`` has noted (what the gateway keeps is valid for one generation)."""
    return _generation


class Backend(Protocol):
    """Where the gateway reads an API's routing data and invokes functions (the local ApiService)."""

    def routing(self, api_id: str, fresh: bool = False) -> Routing | None:
        """The API's routing data (None if there is no such API); ``fresh`` re-reads it."""

    def invoke_function(self, function_arn: str, payload: bytes) -> Wire:
        """Invoke a function synchronously (a ``FunctionService.invoke`` answer)."""


# ----------------------------------------------------------------------------------------------- limits


class Limits:
    """Throttles (token buckets: ``rate`` per second, ``burst`` at most) and quotas (requests per DAY, WEEK or
    MONTH, UTC) per usage plan and key, kept in memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[tuple[Any, ...], tuple[float, float]] = {}
        self._quotas: dict[tuple[Any, ...], tuple[dt.datetime, int]] = {}

    def take_token(self, plan: Plan, key_id: str) -> bool:
        """Spend one token of the key's bucket; False when it is empty (throttled)."""
        if not plan.throttle:
            return True
        rate, burst = float(plan.throttle["rate"]), max(1.0, float(plan.throttle["burst"]))
        slot = (plan.id, key_id, rate, burst)
        now = time.monotonic()
        with self._lock:
            tokens, then = self._buckets.get(slot, (burst, now))
            tokens = min(burst, tokens + (now - then) * rate)
            if tokens < 1.0:
                self._buckets[slot] = (tokens, now)
                return False
            self._buckets[slot] = (tokens - 1.0, now)
        return True

    def count(self, plan: Plan, key_id: str, now: dt.datetime | None = None) -> bool:
        """Count one request against the key's quota; False when the period's limit is reached. The plan's
        ``offset`` is subtracted from the limit of the first period this gateway counts."""
        if not plan.quota:
            return True
        limit, period = int(plan.quota["limit"]), str(plan.quota["period"])
        start = period_start(period, now or dt.datetime.now(dt.timezone.utc))
        slot = (plan.id, key_id, limit, period)
        with self._lock:
            began, used = self._quotas.get(slot, (start, int(plan.quota.get("offset") or 0)))
            if began != start:
                began, used = start, 0
            if used >= limit:
                self._quotas[slot] = (began, used)
                return False
            self._quotas[slot] = (began, used + 1)
        return True


def period_start(period: str, now: dt.datetime) -> dt.datetime:
    """The start (UTC) of the quota period holding ``now``: the day, the week (from Monday) or the month."""
    day = now.astimezone(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "WEEK":
        return day - dt.timedelta(days=day.weekday())
    if period == "MONTH":
        return day.replace(day=1)
    return day


# ----------------------------------------------------------------------------------------------- the proxy event


def proxy_event(*, routing: Routing, stage: str, route: Route, method: str, path: str, params: dict[str, str],
                headers: Sequence[tuple[str, str]], query: str, body: bytes, source_ip: str, host: str,
                request_id: str, key: tuple[str, str] | None) -> Wire:
    """API Gateway's Lambda proxy event (REST, payload format 1.0) for one request."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        single[name] = value
        multi.setdefault(name, []).append(value)
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    query_single: dict[str, str] = {}
    query_multi: dict[str, list[str]] = {}
    for name, value in pairs:
        query_single[name] = value
        query_multi.setdefault(name, []).append(value)
    try:
        text: str | None = body.decode("utf-8") if body else None
        encoded = False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode("ascii"), True
    now = time.time()
    user_agent = next((v for n, v in headers if n.lower() == "user-agent"), None)
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": method,
        "headers": single or None,
        "multiValueHeaders": multi or None,
        "queryStringParameters": query_single or None,
        "multiValueQueryStringParameters": query_multi or None,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": routing.account,
            "apiId": routing.api_id,
            "stage": stage,
            "requestId": request_id,
            "extendedRequestId": request_id,
            "resourceId": route.resource_id,
            "resourcePath": route.path,
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "protocol": "HTTP/1.1",
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "domainName": host,
            "domainPrefix": host.split(":")[0].split(".")[0],
            "identity": {"sourceIp": source_ip, "userAgent": user_agent, "apiKey": key[0] if key else None,
                         "apiKeyId": key[1] if key else None, "accessKey": None, "accountId": None,
                         "caller": None, "user": None, "userArn": None, "cognitoIdentityId": None,
                         "cognitoIdentityPoolId": None, "cognitoAuthenticationType": None,
                         "cognitoAuthenticationProvider": None, "principalOrgId": None, "clientCert": None},
        },
        "body": text,
        "isBase64Encoded": encoded,
    }


class BadResponse(Exception):
    """The function's answer is not a Lambda proxy response."""


def http_response(payload: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body from a function's proxy response (``BadResponse`` if it is malformed)."""
    try:
        answer = json.loads(payload)
    except ValueError:
        raise BadResponse("not JSON") from None
    if not isinstance(answer, dict) or set(answer) - _RESPONSE_KEYS:
        raise BadResponse("not a proxy response object")
    status = answer.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise BadResponse("statusCode")
    single, multi, body = answer.get("headers") or {}, answer.get("multiValueHeaders") or {}, answer.get("body")
    if not isinstance(single, dict) or not isinstance(multi, dict) or not (body is None or isinstance(body, str)):
        raise BadResponse("headers or body")
    out: list[tuple[str, str]] = []
    for name, values in multi.items():
        if not isinstance(values, list):
            raise BadResponse("multiValueHeaders")
        out += [(str(name), _header_value(v)) for v in values]
    named = {n.lower() for n, _ in out}
    out += [(str(n), _header_value(v)) for n, v in single.items() if str(n).lower() not in named]
    if answer.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body or "", validate=True)
        except (binascii.Error, ValueError):
            raise BadResponse("body is not base64") from None
    else:
        data = (body or "").encode("utf-8")
    if not any(n.lower() == "content-type" for n, _ in out):
        out.append(("Content-Type", "application/json"))
    return status, out, data


def _header_value(value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise BadResponse("a header value")
    text = "true" if value is True else "false" if value is False else str(value)
    if "\r" in text or "\n" in text:
        raise BadResponse("a header value")
    return text


# ----------------------------------------------------------------------------------------------- the server


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
        match = _route(routing, stage, rest, method)
        if match is None:  # deployed a moment ago from elsewhere? read again before refusing
            routing = backend.routing(api_id, fresh=True) or routing
            match = _route(routing, stage, rest, method)
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
            found_key = _find_key(routing, stage, value)
            if found_key is None and value:
                routing = backend.routing(api_id, fresh=True) or routing
                found_key = _find_key(routing, stage, value)
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

    def _invoke(self, backend: Backend, function_arn: str, payload: bytes, request_id: str) -> Wire | None:
        """The function's answer; None after ``integration_timeout`` seconds (the invocation goes on, as on AWS),
        ``{}`` if it could not be invoked."""
        answer: list[Wire] = []

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


def _route(routing: Routing, stage: str, parts: Sequence[str],
           method: str) -> tuple[Route, dict[str, str], Wire] | None:
    """The most specific route of ``stage`` matching the path, with its parameters and method record."""
    best: tuple[tuple[int, ...], Route, dict[str, str], Wire] | None = None
    for route in routing.stages.get(stage, ()):
        spec = route.methods.get(method) or route.methods.get("ANY")
        if spec is None:
            continue
        matched = route.match(parts)
        if matched is not None and (best is None or matched[0] > best[0]):
            best = (matched[0], route, matched[1], spec)
    return None if best is None else (best[1], best[2], best[3])


def _find_key(routing: Routing, stage: str, value: str) -> tuple[Plan, str] | None:
    if not value:
        return None
    for plan in routing.plans.get(stage, ()):
        key_id = plan.keys.get(value)
        if key_id is not None:
            return plan, key_id
    return None


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

