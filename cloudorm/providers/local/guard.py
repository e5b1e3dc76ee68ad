"""Which HTTP requests may reach the local cloud: web pages and DNS rebinding are kept out.

A web page open in the user's browser can send requests to ``http://127.0.0.1:4566``; the browser adds an
``Origin`` header to every cross-origin request (and to CORS preflights), so any request carrying an ``Origin``
that is not explicitly allowed is refused. A page on an attacker's domain that re-points its DNS name to
127.0.0.1 (DNS rebinding) is same-origin for the browser but sends ``Host: attacker.example``, so a ``Host``
other than a loopback name (``localhost`` and its subdomains, ``127.x.y.z``, ``[::1]``), the address the server
was bound to, or an allowed host is refused too. Both answer 403 without any CORS header.

Calls to deployed APIs (``/restapis/{id}/{stage}/_user_request_/...``) pass the ``Origin`` check untouched: as on
AWS, a page of any origin may call an API, and the API's own CORS headers decide what the browser lets it read.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import os
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

import botocore.session

from cloudorm.errors import InvalidInput
from cloudorm.providers.local.routing import USER_REQUEST

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
"""A WSGI application."""

ANY = "*"
"""Allows any origin (``allow_origins``) or any Host (``allow_hosts``): the checks are off."""

_METHODS = "GET, HEAD, PUT, POST, DELETE, PATCH"
_EXPOSED = "ETag, x-amz-version-id, x-amz-request-id, x-amzn-RequestId, x-amz-crc32, x-amz-delete-marker, Date"
_ORIGIN = re.compile(r"^[a-z][a-z0-9+.-]*://[^/?#\s]+$")
_HOST = re.compile(r"^(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)$")


def split_host(value: str) -> str:
    """The name in a ``Host`` value without its port, lowercased, without a trailing dot (``[::1]:80`` -> ``::1``)."""
    value = value.strip().lower()
    if value.startswith("["):
        name = value[1:value.find("]")] if "]" in value else value[1:]
    else:
        name = value.rsplit(":", 1)[0] if value.count(":") == 1 else value
    return name.rstrip(".")


def is_loopback(name: str) -> bool:
    """Whether ``name`` (a host name or address, with or without port) always means this machine: ``localhost`` and its
    subdomains (RFC 6761; browsers never ask DNS for them), 127.0.0.0/8 and ::1."""
    name = split_host(name)
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_origins(origins: Iterable[str]) -> frozenset[str]:
    """The allowed origins, normalised (``https://app.example:8443``; ``*`` for any); InvalidInput for a value that
    is not an origin (a scheme and host, with no path)."""
    out = set()
    for origin in origins:
        value = origin.strip().lower().rstrip("/") if isinstance(origin, str) else origin
        if not isinstance(value, str) or not (value == ANY or value == "null" or _ORIGIN.match(value)):
            raise InvalidInput("allow_origins", f"{origin!r} is not an origin: write scheme://host[:port] as a "
                                                "browser sends it (e.g. http://localhost:3000), or '*' for any")
        out.add(value)
    return frozenset(out)


def check_hosts(hosts: Iterable[str]) -> frozenset[str]:
    """The allowed ``Host`` names, normalised and without ports (``*`` for any); InvalidInput for a value that is
    not a host name or address."""
    out = set()
    for host in hosts:
        name = split_host(host) if isinstance(host, str) and "/" not in host else None
        if name is None or not (name == ANY or _HOST.match(name) or _HOST.match(f"[{name}]")):
            raise InvalidInput("allow_hosts", f"{host!r} is not a host name or address (e.g. myhost.lan, "
                                              "192.168.1.5), or '*' for any")
        out.add(name)
    return frozenset(out)


class BrowserGuard:
    """WSGI middleware refusing browsers' cross-origin requests and ``Host`` values that are not this machine's
    (DNS rebinding) before they reach ``app``."""

    def __init__(self, app: WSGIApp, *, allow_origins: Iterable[str] = (), allow_hosts: Iterable[str] = ()) -> None:
        """``allow_origins``: origins whose pages may use the local cloud; ``allow_hosts``: further ``Host`` names
        (besides the loopback ones) it answers to."""
        self.app = app
        self.allow_origins = check_origins(allow_origins)
        self.allow_hosts = check_hosts(allow_hosts)

    def host_allowed(self, host: str | None) -> bool:
        """Whether a request with this ``Host`` header may be answered."""
        if ANY in self.allow_hosts:
            return True
        if not host:
            return False
        name = split_host(host)
        return is_loopback(name) or name in self.allow_hosts

    def origin_allowed(self, origin: str | None) -> bool:
        """Whether a request with this ``Origin`` header (None: not sent by a browser's page) may be answered."""
        if origin is None:
            return True
        return ANY in self.allow_origins or origin.strip().lower().rstrip("/") in self.allow_origins

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        host = environ.get("HTTP_HOST")
        origin = environ.get("HTTP_ORIGIN")
        if not self.host_allowed(host):
            log.warning("local cloud: refused a request for Host %r (not a loopback name nor an allowed host)", host)
            return refuse(environ, start_response,
                          f"the local cloud answers only requests addressed to this machine (localhost, 127.0.0.1, "
                          f"[::1]), not to Host {host!r}; to allow it, run cloudorm serve --allow-host NAME "
                          f"(allow_hosts= in Python)")
        if USER_REQUEST.match(str(environ.get("PATH_INFO") or "")):
            return self.app(environ, start_response)  # a deployed API: any page may call it, its own CORS decides
        if not self.origin_allowed(origin):
            log.warning("local cloud: refused a cross-origin request from %r", origin)
            return refuse(environ, start_response,
                          f"the local cloud refuses requests from web pages (Origin {origin!r}); to allow this "
                          f"origin, run cloudorm serve --allow-origin ORIGIN (allow_origins= in Python)")
        if origin is not None and environ.get("REQUEST_METHOD") == "OPTIONS" \
                and environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD"):
            return _preflight(environ, start_response, origin)
        return self.app(environ, _cors(start_response, origin))


def _cors(start_response: Callable[..., Any], origin: str | None) -> Callable[..., Any]:
    """``start_response`` with the local cloud's CORS headers instead of moto's (which allow every origin): none
    without an (allowed) ``origin``."""
    def wrapped(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        kept = [(k, v) for k, v in headers
                if not k.lower().startswith("access-control-") and (k.lower(), v) != ("vary", "Origin")]
        if origin is not None:
            kept += [("Access-Control-Allow-Origin", origin), ("Access-Control-Expose-Headers", _EXPOSED),
                     ("Vary", "Origin")]
        return start_response(status, kept, exc_info) if exc_info else start_response(status, kept)
    return wrapped


def _preflight(environ: dict[str, Any], start_response: Callable[..., Any], origin: str) -> list[bytes]:
    """Answer a CORS preflight from an allowed ``origin``: any method, the headers it asks for."""
    asked = environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS")
    headers = [("Access-Control-Allow-Origin", origin), ("Access-Control-Allow-Methods", _METHODS),
               ("Access-Control-Max-Age", "600"), ("Vary", "Origin"), ("Content-Length", "0")]
    if asked:
        headers.append(("Access-Control-Allow-Headers", asked))
    start_response("200 OK", headers)
    return [b""]


def refuse(environ: dict[str, Any], start_response: Callable[..., Any], message: str) -> list[bytes]:
    """Answer 403 with ``message`` in the error shape of the request's AWS protocol (JSON for DynamoDB, Lambda, ...;
    XML for S3, IAM, EC2 and unsigned requests), so SDKs show it; no CORS header."""
    if environ.get("HTTP_X_AMZ_TARGET") or _protocol(signing_service(environ)) in ("json", "rest-json"):
        body = json.dumps({"__type": "AccessDeniedException", "message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-ErrorType", "AccessDeniedException")]
    else:
        escaped = message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error><Code>AccessDenied</Code>'
                f"<Message>{escaped}</Message></Error></ErrorResponse>").encode()
        headers = [("Content-Type", "application/xml")]
    start_response("403 Forbidden", [*headers, ("Content-Length", str(len(body))), ("Connection", "close")])
    return [body]


def credential_scope(environ: dict[str, Any]) -> list[str]:
    """A SigV4 request's credential, split: ``[KEY, DATE, REGION, SERVICE, "aws4_request"]`` (from
    ``Credential=...`` in its ``Authorization`` header, or a presigned URL's ``X-Amz-Credential``); [] if unsigned."""
    credential = (environ.get("HTTP_AUTHORIZATION") or "").partition("Credential=")[2].split(",")[0]
    if not credential:
        query = parse_qs(environ.get("QUERY_STRING") or "")
        credential = (query.get("X-Amz-Credential") or [""])[0]
    return credential.strip().split("/") if credential.strip() else []


def signing_service(environ: dict[str, Any]) -> str:
    """The service a SigV4 request was signed for (``Credential=KEY/DATE/REGION/SERVICE/aws4_request`` in its
    ``Authorization`` header, or a presigned URL's ``X-Amz-Credential``), lowercased; "" if it is not signed so."""
    scope = credential_scope(environ)
    return scope[3].lower() if len(scope) > 3 else ""


def signing_region(environ: dict[str, Any]) -> str:
    """The region a SigV4 request was signed for (its credential scope's), "" if it is not signed so."""
    scope = credential_scope(environ)
    return scope[2] if len(scope) > 3 else ""


def request_account(environ: dict[str, Any]) -> str:
    """The account moto serves the request from: ``MOTO_ACCOUNT_ID``, the ``x-moto-account-id`` header, else the
    account of its access key (moto's default account for a key it does not know), as moto maps it."""
    from moto.core.responses import BaseResponse
    from moto.iam.models import get_account_id_from

    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    if environ.get("HTTP_X_MOTO_ACCOUNT_ID"):
        return str(environ["HTTP_X_MOTO_ACCOUNT_ID"])
    found = BaseResponse.access_key_regex.search(str(environ.get("HTTP_AUTHORIZATION") or ""))
    return get_account_id_from(found.group(1) if found else "AKIAEXAMPLE")


@functools.lru_cache(maxsize=32)
def _protocol(service: str) -> str:
    """The AWS protocol of ``service`` (botocore's model), "" if unknown."""
    if not service:
        return ""
    try:
        return str(botocore.session.get_session().get_service_model(service).protocol)
    except Exception:  # no such model
        return ""
