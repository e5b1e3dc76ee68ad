"""The local cloud's API gateway: the part of the local cloud's server that serves deployed REST APIs, for every
client, on the server's own port.

``http://HOST:PORT/restapis/{api_id}/{stage}/_user_request_/{path}`` (LocalStack's form) is routed to the stage's
deployed resources (``{param}`` and ``{proxy+}`` templates, ``ANY`` methods), checked for an API key of a usage plan
of the stage, throttled (token bucket per key and plan) and counted against the plan's quota, in the server, so
every process calling shares one quota; then sent to the function as the Lambda proxy event (payload format 1.0)
and the function's answer becomes the HTTP response. Errors are API Gateway's: 403 ``Missing Authentication Token``
(no such route), 403 ``Forbidden`` (no such API or stage, missing or wrong key), 429 ``Too Many Requests`` /
``Limit Exceeded``, 502 ``Internal server error`` (the function failed or answered something else than a proxy
response), 504 ``Endpoint request timed out`` (no answer within 29 s). Each request a key makes that passes its
throttle and quota is counted per day too; ``GetUsage`` is answered from that log (``usage_api.py``), for any client.

What it serves is read through a ``LocalApiService`` on a session pointed at the server itself (the API Gateway and
Lambda APIs any client uses, so nothing of it is written twice), kept until a request that may change it passes the
server (``changed``: any API Gateway write, a Lambda permission change or deletion, whoever sends it). A
CreateDeployment is answered here: the deployment's routes are kept as moto answers it, under the persistence gate.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping
from http.client import responses
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wsgi import get_input_stream

from cloudorm.errors import CloudError
from cloudorm.providers.local.app import Change, LocalCloud, Part, change_of, register_part
from cloudorm.providers.local.deployments import Deployments, find_api
from cloudorm.providers.local.guard import WSGIApp
from cloudorm.providers.local.proxy import BadResponse, http_response, proxy_event
from cloudorm.providers.local.routing import USER_REQUEST, Routing, find_route
from cloudorm.providers.local.usage import Limits, find_key
from cloudorm.providers.local.usage_api import USAGE_PATH, UsageRefused, usage_answer
from cloudorm.providers.local.usage_log import UsageLog
from cloudorm.providers.local.wsgi import collect, read_body

if TYPE_CHECKING:  # imported with the first API served (it loads the AWS provider's API Gateway and S3)
    from cloudorm.providers.local.apis import LocalApiService

log = logging.getLogger(__name__)

MAX_BODY = 10 * 1024 * 1024
"""API Gateway's largest request payload (bytes)."""

INTEGRATION_TIMEOUT = 29.0
"""API Gateway's integration timeout: after this a request is answered 504 (the function may still run)."""

_DEPLOY = re.compile(r"^/restapis/(?P<api>[^/]+)/deployments/?$")
_API = re.compile(r"^/restapis/(?P<api>[^/]+)/?$")
_PLAN = re.compile(r"^/usageplans/(?P<plan>[^/]+)/?$")
_KEY = re.compile(r"^/apikeys/(?P<key>[^/]+)/?$")
_CONTROL = ("/restapis", "/usageplans", "/apikeys")
_FORWARDED = frozenset({"x-forwarded-for", "x-forwarded-proto", "x-forwarded-port"})
Answer = tuple[int, list[tuple[str, str]], bytes]


class ApiGateway(Part):
    """The local cloud's part that serves deployed REST APIs (see the module) and answers GetUsage; its state is the
    deployments' routes, the quotas' counters and the keys' daily use."""

    name = "gateway"

    def __init__(self, cloud: LocalCloud) -> None:
        """The gateway of ``cloud`` (its gate keeps the counters and deployments with the rest of the state)."""
        self.cloud = cloud
        self.limits = Limits()
        """The throttles and quotas of every key."""
        self.usage = UsageLog()
        """Every key's requests per day (what GetUsage reports)."""
        self.deployments = Deployments()
        """The routes each deployment serves."""
        self.integration_timeout = INTEGRATION_TIMEOUT
        """Seconds a request waits for its function before the gateway answers 504."""
        self._reading = threading.Lock()
        self._generation = 0
        """How many changes may have made kept routing stale (what is kept is valid for one generation)."""
        self._kept: dict[str, tuple[int, tuple[str, str, Routing] | None]] = {}
        self._services: dict[tuple[str, str, str], LocalApiService] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------------------ the Part

    def route(self, method: str, path: str) -> WSGIApp | None:
        """Calls to deployed APIs, GetUsage, and CreateDeployment (answered by moto; its routes are kept here)."""
        if USER_REQUEST.match(path):
            return self._serve
        if method == "GET" and USAGE_PATH.match(path):
            return self._usage
        if method == "POST" and _DEPLOY.match(path):
            return self._deploy
        return None

    def changed(self, change: Change) -> None:
        """Drop what an API Gateway write, or a Lambda permission change or deletion, made stale."""
        if change.service == "apigateway" or (not change.service and change.path.startswith(_CONTROL)):
            deleted = _API.match(change.path) if change.method == "DELETE" else None
            if deleted:
                self.deployments.forget(deleted["api"])
            if change.method == "DELETE" and (plan := _PLAN.match(change.path)):
                self.usage.forget(plan_id=plan["plan"])
            if change.method == "DELETE" and (key := _KEY.match(change.path)):
                self.usage.forget(key_id=key["key"])
            self._stale()
        elif change.service == "lambda" and (change.method == "DELETE" or "/policy" in change.path):
            self._stale()

    def _stale(self) -> None:
        """What is kept of every API may be stale: read it again on its next request."""
        with self._lock:  # not _reading: a change never waits for a read in progress
            self._generation += 1

    def dump(self) -> Any:
        """The deployments' routes, the quotas' counters and the keys' daily use (throttles refill in seconds and
        are not kept)."""
        return {"deployments": self.deployments.dump(), "quotas": self.limits.dump(), "usage": self.usage.dump()}

    def load(self, state: Any) -> None:
        """Take back what ``dump()`` gave."""
        state = state or {}
        self.deployments.load(state.get("deployments"))
        self.limits.load(state.get("quotas"))
        self.usage.load(state.get("usage"))
        self._stale()

    def reset(self) -> None:
        """Forget every deployment's routes, throttle, quota and daily use."""
        self.deployments.load({})
        self.limits.reset()
        self.usage.reset()
        self._stale()

    def close(self) -> None:
        """Forget the services it reads through."""
        self._services.clear()

    # ------------------------------------------------------------------------------------------ deployments

    def _deploy(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """CreateDeployment: moto makes it, and the API's resources are kept as the deployment's, in one step for
        the persistence gate."""
        api_id = _DEPLOY.match(str(environ.get("PATH_INFO")))["api"]  # type: ignore[index]
        change = change_of(environ)
        read_body(environ)  # before the gate: a slow client never holds it
        with self.cloud.gate.request(change):
            answer = collect(self.cloud.moto, environ)
            if answer.status.startswith("2"):
                try:
                    made = json.loads(answer.body)
                except ValueError:
                    made = None
                deployment_id = made.get("id") if isinstance(made, dict) else None
                if isinstance(deployment_id, str):
                    self.deployments.take(api_id, deployment_id)
        if change is not None:
            self.cloud.changed(change)
        start_response(answer.status, answer.headers)
        return [answer.body]

    # ------------------------------------------------------------------------------------------ routing data

    def _service(self, url: str, account: str, region: str) -> LocalApiService:
        """A LocalApiService on a session of the local cloud at ``url`` (this server), in ``account`` and
        ``region``."""
        key = (url, account, region)
        with self._lock:
            return self._services.get(key) or self._new_service(key)

    def _new_service(self, key: tuple[str, str, str]) -> LocalApiService:
        from cloudorm.providers.local import LocalProvider
        from cloudorm.providers.local.apis import LocalApiService

        url, account, region = key
        provider = LocalProvider(endpoint_url=url, region=region)

        def in_account(request: Any, **_: Any) -> None:  # moto's account of a request (else its default one)
            request.headers["x-moto-account-id"] = account

        for name in ("apigateway", "lambda"):
            provider.clients.hook("before-send", name, None, in_account)
        service = provider.service("api_gateway")
        assert isinstance(service, LocalApiService)
        self._services[key] = service
        return service

    def _routing(self, environ: dict[str, Any], api_id: str) -> tuple[LocalApiService, Routing] | None:
        """The API's routing data and the service to invoke its functions through (None: no such API); read again
        after any change that may have made it stale."""
        with self._reading:
            seen = self._generation
            kept = self._kept.get(api_id)
            if kept is None or kept[0] != seen:
                found = find_api(api_id)
                read = None
                if found is not None:
                    routing = self._service(_server_url(environ), *found).routing(api_id, found[0], self.deployments)
                    read = None if routing is None else (found[0], found[1], routing)
                kept = (seen, read)
                self._kept = {k: v for k, v in self._kept.items() if v[0] == seen}  # the stale go
                self._kept[api_id] = kept
        if kept[1] is None:
            return None
        account, region, routing = kept[1]
        return self._service(_server_url(environ), account, region), routing

    # ------------------------------------------------------------------------------------------ requests

    def _serve(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Answer one call to a deployed API."""
        request_id = str(uuid.uuid4())
        try:
            status, headers, body = self._answer(environ, request_id)
        except Exception:  # never leave a client without an answer
            log.exception("gateway request %s failed", request_id)
            status, headers, body = _message(500, "Internal server error", "InternalServerErrorException")
        start_response(f"{status} {responses.get(status, 'Unknown')}",
                       [*headers, ("x-amzn-RequestId", request_id), ("Content-Length", str(len(body)))])
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]

    def _answer(self, environ: dict[str, Any], request_id: str) -> Answer:
        method = str(environ.get("REQUEST_METHOD") or "GET").upper()
        api_id, stage, rest = _target(environ)
        headers = _headers(environ)
        length = str(environ.get("CONTENT_LENGTH") or "").strip()
        if length and not length.isdigit():
            return _message(400, "Bad Request", "BadRequestException", close=True)
        try:
            body = get_input_stream(environ, max_content_length=MAX_BODY).read()
        except RequestEntityTooLarge:
            return _message(413, "Request Too Long", "RequestTooLongException", close=True)
        found = self._routing(environ, api_id)
        if found is None or stage not in found[1].stages:
            return _message(403, "Forbidden", "ForbiddenException")
        service, routing = found
        match = find_route(routing, stage, rest, method)
        if match is None:
            return _message(403, "Missing Authentication Token", "MissingAuthenticationTokenException")
        route, params, spec = match
        if spec.get("integration") == "MOCK" or spec.get("mock_headers") is not None:
            return (int(spec.get("mock_status") or 200),
                    [("Content-Type", "application/json"), *(spec.get("mock_headers") or {}).items()],
                    str(spec.get("mock_body") or "").encode())
        key: tuple[str, str] | None = None
        if spec.get("key_required"):
            value = str(environ.get("HTTP_X_API_KEY") or "")
            found_key = find_key(routing, stage, value)
            if found_key is None:
                return _message(403, "Forbidden", "ForbiddenException")
            plan, key_id = found_key
            if not self.limits.take_token(plan, key_id):
                return _message(429, "Too Many Requests", "TooManyRequestsException")
            now = dt.datetime.now(dt.timezone.utc)
            # the counters are state: a quota's is kept (``--state``) before the call is answered, the daily use
            # without a quota by the next snapshot
            with self.cloud.gate.request(Change("execute-api", method, str(environ.get("PATH_INFO")), ""),
                                         wait=bool(plan.quota)):
                counted, remaining = self.limits.charge(plan, key_id, now)
                if counted:
                    self.usage.record(plan.id, key_id, now.date(), remaining)
            if not counted:
                return _message(429, "Limit Exceeded", "LimitExceededException")
            key = (value, key_id)
        if not spec.get("function_arn"):
            log.warning("gateway: %s %s of API %s has %s; the local cloud serves Lambda proxy (AWS_PROXY) and MOCK "
                        "integrations only, so it answers 500 as API Gateway does for a broken integration", method,
                        route.path, api_id, f"a {spec['integration']} integration" if spec.get("integration")
                        else "no integration")
            return _message(500, "Internal server error", "InternalServerErrorException")
        if not routing.permits(spec["function_arn"], stage, method, route):
            log.info("gateway request %s: the function's policy does not let API Gateway invoke it from %s %s",
                     request_id, method, route.path)
            return _message(500, "Internal server error", "InternalServerErrorException")
        client_ip = str(environ.get("REMOTE_ADDR") or "127.0.0.1")
        forwarded = ", ".join([*filter(None, [environ.get("HTTP_X_FORWARDED_FOR")]), client_ip])  # as AWS appends
        headers = [*((n, v) for n, v in headers if n.lower() not in _FORWARDED), ("X-Forwarded-For", forwarded),
                   ("X-Forwarded-Proto", str(environ.get("wsgi.url_scheme") or "http")),
                   ("X-Forwarded-Port", str(environ.get("SERVER_PORT") or ""))]
        event = proxy_event(routing=routing, stage=stage, route=route, method=method, path="/" + "/".join(rest),
                            params=params, headers=headers, query=str(environ.get("QUERY_STRING") or ""), body=body,
                            source_ip=client_ip, host=str(environ.get("HTTP_HOST") or ""), request_id=request_id,
                            key=key)
        answer = self._invoke(service, spec["function_arn"], json.dumps(event).encode(), request_id)
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

    def _usage(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """GetUsage, from the keys' daily use (``usage_api.py``), for any client."""
        try:
            status, headers, body = 200, [("Content-Type", "application/json")], usage_answer(self.usage, environ)
        except UsageRefused as e:
            status, headers, body = _message(e.status, e.message, e.error_type)
        start_response(f"{status} {responses.get(status, 'Unknown')}",
                       [*headers, ("x-amzn-RequestId", str(uuid.uuid4())), ("Content-Length", str(len(body)))])
        return [body]

    def _invoke(self, service: LocalApiService, function_arn: str, payload: bytes,
                request_id: str) -> Mapping[str, Any] | None:
        """The function's answer; None after ``integration_timeout`` seconds (the invocation goes on, as on AWS),
        ``{}`` if it could not be invoked."""
        answer: list[Mapping[str, Any]] = []

        def run() -> None:
            try:
                answer.append(service.invoke_function(function_arn, payload))
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


@register_part
def _gateway(cloud: LocalCloud) -> Part:
    return ApiGateway(cloud)


def _target(environ: dict[str, Any]) -> tuple[str, str, list[str]]:
    """The API id, the stage and the path's segments (percent-decoded one by one, so ``%2F`` stays in its segment)
    of a call to a deployed API."""
    raw = str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or "")
    parts = [urllib.parse.unquote(p) for p in raw.split("?", 1)[0].split("/") if p] if raw.startswith("/") else []
    if len(parts) < 4 or parts[0] != "restapis" or parts[3] != "_user_request_":  # no raw path: PATH_INFO's
        path = str(environ.get("PATH_INFO") or "").encode("latin-1").decode("utf-8", "replace")
        parts = [p for p in path.split("/") if p]
    return parts[1], parts[2], parts[4:]


def _headers(environ: dict[str, Any]) -> list[tuple[str, str]]:
    """The request's headers (names as ``X-Custom``: WSGI keeps no original case)."""
    out: list[tuple[str, str]] = []
    for name, value in environ.items():
        if name.startswith("HTTP_"):
            out.append((name[5:].replace("_", "-").title(), str(value)))
        elif name in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            out.append((name.replace("_", "-").title(), str(value)))
    return out


def _server_url(environ: dict[str, Any]) -> str:
    """The URL this server is reached at from its own machine: the address it is bound to (loopback for a
    wildcard one) and its port."""
    host = str(environ.get("SERVER_NAME") or "127.0.0.1")
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"{environ.get('wsgi.url_scheme') or 'http'}://{f'[{host}]' if ':' in host else host}:" \
           f"{environ.get('SERVER_PORT')}"


def _message(status: int, message: str, error_type: str, close: bool = False) -> Answer:
    headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", error_type)]
    return status, [*headers, *([("Connection", "close")] if close else [])], json.dumps({"message": message}).encode()
