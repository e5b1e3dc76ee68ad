"""The Lambda proxy integration of the local gateway: an HTTP request as API Gateway's proxy event (REST, payload
format 1.0), and the function's proxy response as the HTTP response."""

from __future__ import annotations

import base64
import binascii
import json
import time
import urllib.parse
from collections.abc import Sequence
from typing import Any

from cloudorm.providers.contract import Wire
from cloudorm.providers.local.routing import Route, Routing

_RESPONSE_KEYS = frozenset({"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"})


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

