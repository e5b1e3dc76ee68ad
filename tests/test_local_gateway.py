"""The local cloud serves Apis on 127.0.0.1: real HTTP (urllib) to the gateway, real functions in sandboxes, the
control plane on the embedded moto server, driven through the ApiService and FunctionService protocols."""

from __future__ import annotations

import datetime as dt
import io
import json
import time
import uuid
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest

import cloudorm
from cloudorm.providers.local.apis import LocalApiService
from cloudorm.providers.local.app import local_cloud
from cloudorm.providers.local.deployments import Deployments
from cloudorm.providers.local.gateway import INTEGRATION_TIMEOUT, ApiGateway
from cloudorm.providers.local.routing import Plan
from cloudorm.providers.local.usage import Limits, period_start

ECHO = """
import base64, json

def handler(event, context):
    if event["path"].endswith("/binary"):
        return {"statusCode": 201, "isBase64Encoded": True, "body": event["body"],
                "headers": {"Content-Type": "application/octet-stream"},
                "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]}}
    if event["path"].endswith("/malformed"):
        return {"statusCode": 200, "body": {"not": "a string"}}
    if event["path"].endswith("/notdict"):
        return "just a string"
    if event["path"].endswith("/raise"):
        raise RuntimeError("handler failed")
    return {"statusCode": 200, "headers": {"X-Echo": "yes"}, "body": json.dumps(event)}
"""


def make_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


class Client:
    """urllib against one stage's URL."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(self, path: str, method: str = "GET", headers: dict[str, str] | None = None,
                 data: bytes | None = None) -> tuple[int, Any, bytes]:
        import urllib.error
        import urllib.request

        request = urllib.request.Request(self.url + path, method=method, headers=headers or {}, data=data)
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            with e:
                return e.code, e.headers, e.read()


@pytest.fixture(scope="module")
def s() -> cloudorm.Session:
    return cloudorm.Session()


@pytest.fixture(scope="module")
def api(s: cloudorm.Session) -> Iterator[dict[str, Any]]:
    """An API: ANY /items, GET /items/{id} (key required), GET /files/{proxy+}, OPTIONS /items (CORS mock)."""
    role = s.Role(f"gw-{uuid.uuid4().hex[:8]}", service="lambda").save().arn
    name = f"echo-{uuid.uuid4().hex[:8]}"
    fn = s.serverless.create_function(name, {"runtime": "python3.12", "handler": "app.handler", "role": role,
                                             "timeout": 5}, make_zip({"app.py": ECHO + f"# {name}\n"}))
    g = s.api_gateway
    made = g.create_api(f"shop-{uuid.uuid4().hex[:6]}", None)
    api_id, root = made["id"], made["root_id"]
    items = g.create_resource(api_id, root, "items")
    item = g.create_resource(api_id, items["id"], "{id}")
    files = g.create_resource(api_id, root, "files")
    proxy = g.create_resource(api_id, files["id"], "{proxy+}")
    g.put_lambda_method(api_id, items["id"], "ANY", fn["arn"], False)
    g.put_lambda_method(api_id, item["id"], "GET", fn["arn"], True)
    g.put_lambda_method(api_id, proxy["id"], "ANY", fn["arn"], False)
    g.put_mock_method(api_id, items["id"], "OPTIONS", {"Access-Control-Allow-Origin": "*",
                                                        "Access-Control-Allow-Methods": "GET,POST,OPTIONS"})
    g.deploy(api_id, "prod", None, None)
    allow(s, api_id, fn["arn"])
    yield {"id": api_id, "root": root, "function": fn, "client": Client(g.invoke_url(api_id, "prod"))}
    g.delete_api(api_id)
    s.serverless.delete_function(name)


def allow(s: cloudorm.Session, api_id: str, function_arn: str) -> None:
    """Let API Gateway invoke the function from any route of the API (as the Api entity does per route)."""
    account = function_arn.split(":")[4]
    s.serverless.add_permission(function_arn, f"gw-{uuid.uuid4().hex[:8]}", "apigateway.amazonaws.com",
                                f"arn:aws:execute-api:{s.region}:{account}:{api_id}/*")


def plan_with_key(s: cloudorm.Session, api: dict[str, Any], throttle: dict[str, Any] | None = None,
                  quota: dict[str, Any] | None = None, enabled: bool = True) -> str:
    """A usage plan of the API's prod stage with one key; returns the key's value."""
    g = s.api_gateway
    plan = g.create_usage_plan(f"p-{uuid.uuid4().hex[:6]}", None, [(api["id"], "prod")], throttle, quota)
    key = g.create_key(f"k-{uuid.uuid4().hex[:6]}", None, enabled)
    g.add_key_to_plan(plan["id"], key["id"])
    value: str = key["value"]
    return value


def test_local_provider_uses_the_local_api_service(s: cloudorm.Session, api: dict[str, Any]) -> None:
    assert isinstance(s.api_gateway, LocalApiService)
    url = s.api_gateway.invoke_url(api["id"], "prod")
    assert url == f"{s.endpoint_url}/restapis/{api['id']}/prod/_user_request_"  # on the local cloud's own port


def test_proxy_event_fields(api: dict[str, Any]) -> None:
    status, headers, body = api["client"]("/items?a=1&a=2&b=x%20y", "POST",
                                          {"X-Custom": "v1", "Content-Type": "application/json",
                                           "X-Forwarded-For": "10.0.0.1"}, b'{"n": 1}')
    assert status == 200 and headers["X-Echo"] == "yes" and headers["Content-Type"] == "application/json"
    assert headers["x-amzn-RequestId"]
    event = json.loads(body)
    assert event["resource"] == "/items" and event["path"] == "/items" and event["httpMethod"] == "POST"
    assert event["headers"]["X-Custom"] == "v1" and event["multiValueHeaders"]["X-Custom"] == ["v1"]
    assert event["multiValueHeaders"]["X-Forwarded-For"] == ["10.0.0.1, 127.0.0.1"]  # the client's, then AWS's hop
    assert event["headers"]["X-Forwarded-Proto"] == "http"
    assert event["queryStringParameters"] == {"a": "2", "b": "x y"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["x y"]}
    assert event["pathParameters"] is None and event["stageVariables"] is None
    assert event["body"] == '{"n": 1}' and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["apiId"] == api["id"] and context["stage"] == "prod" and context["path"] == "/prod/items"
    assert context["resourcePath"] == "/items" and context["httpMethod"] == "POST"
    assert context["requestId"] == headers["x-amzn-RequestId"] and context["resourceId"]
    assert context["accountId"] == api["function"]["arn"].split(":")[4]
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["userAgent"].startswith("Python-urllib")
    assert context["identity"]["apiKey"] is None and context["identity"]["principalOrgId"] is None
    assert context["domainName"] == api["client"].url.split("/")[2] and context["domainPrefix"] == "127"
    assert isinstance(context["requestTimeEpoch"], int) and context["protocol"] == "HTTP/1.1"


def test_path_parameters_and_greedy_proxy(api: dict[str, Any]) -> None:
    status, _, body = api["client"]("/files/a/b%20c/d.txt", "DELETE")
    event = json.loads(body)
    assert status == 200 and event["resource"] == "/files/{proxy+}" and event["httpMethod"] == "DELETE"
    assert event["pathParameters"] == {"proxy": "a/b c/d.txt"} and event["path"] == "/files/a/b c/d.txt"
    assert event["body"] is None
    assert event["queryStringParameters"] is None and event["multiValueQueryStringParameters"] is None  # not {}


def test_binary_body_is_base64_both_ways(api: dict[str, Any]) -> None:
    blob = bytes(range(256))
    status, headers, body = api["client"]("/files/binary", "POST", {"Content-Type": "application/octet-stream"},
                                          blob)
    assert status == 201 and body == blob
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers.get_all("Set-Cookie") == ["a=1", "b=2"]


def test_no_route_is_missing_authentication_token(api: dict[str, Any]) -> None:
    for path, method in (("/nowhere", "GET"), ("/items/7", "DELETE"), ("", "GET")):
        status, headers, body = api["client"](path, method)
        assert (status, json.loads(body)) == (403, {"message": "Missing Authentication Token"}), path
        assert headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


def test_unknown_stage_or_api_is_forbidden(s: cloudorm.Session, api: dict[str, Any]) -> None:
    base = api["client"].url.rsplit("/", 3)[0]
    for url in (f"{base}/{api['id']}/nostage/_user_request_", f"{base}/nosuchapi/prod/_user_request_"):
        status, _, body = Client(url)("/items")
        assert (status, json.loads(body)) == (403, {"message": "Forbidden"})


def test_api_keys(s: cloudorm.Session, api: dict[str, Any]) -> None:
    value = plan_with_key(s, api)
    call = api["client"]
    status, _, body = call("/items/42", headers={"x-api-key": value})
    event = json.loads(body)
    assert status == 200 and event["pathParameters"] == {"id": "42"} and event["resource"] == "/items/{id}"
    assert event["requestContext"]["identity"]["apiKey"] == value
    assert event["requestContext"]["identity"]["apiKeyId"]
    for headers in ({}, {"x-api-key": "wrong-" + value}):
        status, _, body = call("/items/42", headers=headers)
        assert (status, json.loads(body)) == (403, {"message": "Forbidden"})
    account = api["function"]["arn"].split(":")[4]
    assert value not in repr(s.api_gateway.routing(api["id"], account, Deployments()))  # type: ignore[attr-defined]
    disabled = plan_with_key(s, api, enabled=False)
    assert call("/items/42", headers={"x-api-key": disabled})[0] == 403


def test_key_created_elsewhere_works_on_the_next_request(s: cloudorm.Session, api: dict[str, Any]) -> None:
    plan_with_key(s, api)
    assert api["client"]("/items/1", headers={"x-api-key": "x" * 30})[0] == 403
    raw = s._provider.clients.client("apigateway")  # type: ignore[attr-defined]  # a change this service never saw
    plan = raw.create_usage_plan(name="elsewhere", apiStages=[{"apiId": api["id"], "stage": "prod"}])
    key = raw.create_api_key(name="elsewhere", enabled=True)
    raw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    # the server saw the change pass: no wait
    assert api["client"]("/items/1", headers={"x-api-key": key["value"]})[0] == 200


def test_throttle_is_429_too_many_requests(s: cloudorm.Session, api: dict[str, Any]) -> None:
    value = plan_with_key(s, api, throttle={"rate": 0.5, "burst": 2})
    answers = [api["client"]("/items/1", headers={"x-api-key": value}) for _ in range(3)]
    assert [a[0] for a in answers] == [200, 200, 429]  # three requests within 2 s, even on a loaded machine
    assert json.loads(answers[2][2]) == {"message": "Too Many Requests"}
    time.sleep(2.1)  # one token back at 0.5 per second
    assert api["client"]("/items/1", headers={"x-api-key": value})[0] == 200


def test_quota_is_429_limit_exceeded(s: cloudorm.Session, api: dict[str, Any]) -> None:
    value = plan_with_key(s, api, quota={"limit": 2, "period": "DAY", "offset": 0})
    answers = [api["client"]("/items/1", headers={"x-api-key": value}) for _ in range(3)]
    assert [a[0] for a in answers] == [200, 200, 429]
    assert json.loads(answers[2][2]) == {"message": "Limit Exceeded"}


def test_quota_periods_and_offset() -> None:
    monday = dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc)
    now = dt.datetime(2026, 11, 27, 23, 5, tzinfo=dt.timezone.utc)
    assert period_start("DAY", now) == dt.datetime(2026, 11, 27, tzinfo=dt.timezone.utc)
    assert period_start("WEEK", now) == monday
    assert period_start("MONTH", now) == dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
    limits = Limits()
    plan = Plan("p", None, {"limit": 3, "period": "DAY", "offset": 2}, {})
    assert [limits.count(plan, "k", now) for _ in range(2)] == [True, False]  # the first period: 3 - 2
    tomorrow = now + dt.timedelta(days=1)
    assert [limits.count(plan, "k", tomorrow) for _ in range(4)] == [True, True, True, False]


def test_malformed_response_and_handler_error_are_502(api: dict[str, Any]) -> None:
    for path in ("/files/malformed", "/files/notdict", "/files/raise"):
        status, _, body = api["client"](path)
        assert (status, json.loads(body)) == (502, {"message": "Internal server error"}), path


def test_cors_preflight_is_answered_by_the_gateway(api: dict[str, Any]) -> None:
    status, headers, body = api["client"]("/items", "OPTIONS")
    assert status == 200 and body == b""
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Access-Control-Allow-Methods"] == "GET,POST,OPTIONS"


def test_any_origin_may_call_an_api_but_not_a_rebound_host(api: dict[str, Any]) -> None:
    """The local cloud's Origin check (``cloudorm serve --allow-origin``) does not apply to deployed APIs: a page of
    any origin reaches an API, and the API's own CORS headers decide, as on AWS (docs/serverless.md). Its Host check
    does (DNS rebinding): an API is on the local cloud's own port."""
    origin = {"Origin": "https://page.example"}
    status, headers, _ = api["client"]("/items", "OPTIONS", {**origin, "Access-Control-Request-Method": "POST"})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"  # the API's answer, not the guard's
    assert headers["Access-Control-Allow-Methods"] == "GET,POST,OPTIONS"
    status, headers, body = api["client"]("/items", "POST", origin, b"{}")
    assert status == 200 and json.loads(body)["headers"]["Origin"] == "https://page.example"
    assert "Access-Control-Allow-Origin" not in headers  # the function's proxy response sets none
    status, _, body = api["client"]("/items", "POST", {**origin, "Host": "rebound.example"}, b"{}")
    assert status == 403 and b"rebound.example" in body


def test_a_stage_serves_its_deployment(s: cloudorm.Session, api: dict[str, Any]) -> None:
    g = s.api_gateway
    later = g.create_resource(api["id"], api["root"], f"later{uuid.uuid4().hex[:4]}")
    g.put_lambda_method(api["id"], later["id"], "GET", api["function"]["arn"], False)
    assert api["client"](later["path"])[0] == 403  # not deployed yet
    g.deploy(api["id"], "prod", None, None)
    status, _, body = api["client"](later["path"])
    assert status == 200 and json.loads(body)["resource"] == later["path"]


def test_any_http_client_and_keep_alive(api: dict[str, Any]) -> None:
    import http.client
    import urllib.parse

    url = urllib.parse.urlsplit(api["client"].url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        for n in range(3):  # one connection, several requests (HTTP/1.1)
            connection.request("PUT", f"{url.path}/items", body=json.dumps({"n": n}),
                               headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            assert response.status == 200 and json.loads(json.loads(response.read())["body"]) == {"n": n}
        connection.request("HEAD", f"{url.path}/items")
        response = connection.getresponse()
        assert response.status == 200 and response.read() == b""
    finally:
        connection.close()


def test_chunked_request_body(api: dict[str, Any]) -> None:
    import urllib.request

    def chunks() -> Iterator[bytes]:
        yield b"hello "
        yield b"world"

    request = urllib.request.Request(api["client"].url + "/items", method="POST", data=chunks(),
                                     headers={"Transfer-Encoding": "chunked"})
    with urllib.request.urlopen(request, timeout=30) as r:
        assert json.loads(r.read())["body"] == "hello world"


def test_utf8_text_body_is_passed_as_text(api: dict[str, Any]) -> None:
    text = "héllo"
    _, _, body = api["client"]("/items", "POST", {"Content-Type": "text/plain; charset=utf-8"}, text.encode())
    event = json.loads(body)
    assert event["body"] == text and event["isBase64Encoded"] is False


def test_no_answer_within_the_integration_timeout_is_504(s: cloudorm.Session, api: dict[str, Any]) -> None:
    g = s.api_gateway
    slow = s.serverless.create_function(
        f"slow-{uuid.uuid4().hex[:8]}", {"runtime": "python3.12", "handler": "app.handler",
                                         "role": api["function"]["role"], "timeout": 5},
        make_zip({"app.py": "import time\n\ndef handler(event, context):\n    time.sleep(1.5)\n"
                            "    return {'statusCode': 200, 'body': 'late'}\n"}))
    resource = g.create_resource(api["id"], api["root"], f"slow{uuid.uuid4().hex[:4]}")
    g.put_lambda_method(api["id"], resource["id"], "GET", slow["arn"], False)
    g.deploy(api["id"], "prod", None, None)
    allow(s, api["id"], slow["arn"])
    server = local_cloud().part("gateway")
    assert isinstance(server, ApiGateway)
    server.integration_timeout = 0.5  # API Gateway's is 29 s
    try:
        api["client"]("/items", "OPTIONS")  # the gateway reads the deployment now, not in the timed request
        started = time.monotonic()
        status, _, body = api["client"](resource["path"])
        assert (status, json.loads(body)) == (504, {"message": "Endpoint request timed out"})
        assert time.monotonic() - started < 1.4
    finally:
        server.integration_timeout = INTEGRATION_TIMEOUT
    assert api["client"](resource["path"])[0:3:2] == (200, b"late")
    s.serverless.delete_function(slow["name"])


def test_a_function_whose_policy_does_not_allow_the_route_is_500(s: cloudorm.Session, api: dict[str, Any]) -> None:
    g = s.api_gateway
    other = s.serverless.create_function(
        f"other-{uuid.uuid4().hex[:8]}", {"runtime": "python3.12", "handler": "app.handler",
                                          "role": api["function"]["role"]},
        make_zip({"app.py": "def handler(event, context):\n    return {'statusCode': 200, 'body': 'ok'}\n"}))
    resource = g.create_resource(api["id"], api["root"], f"other{uuid.uuid4().hex[:4]}")
    g.put_lambda_method(api["id"], resource["id"], "GET", other["arn"], False)
    g.deploy(api["id"], "prod", None, None)
    try:
        status, _, body = api["client"](resource["path"])  # no permission at all
        assert (status, json.loads(body)) == (500, {"message": "Internal server error"})
        s.serverless.add_permission(other["arn"], "post-only", "apigateway.amazonaws.com",
                                    g.source_arn(api["id"], other["arn"], "POST", resource["path"]))
        assert api["client"](resource["path"])[0] == 500  # a statement for another method
        s.serverless.add_permission(other["arn"], "get", "apigateway.amazonaws.com",
                                    g.source_arn(api["id"], other["arn"], "GET", resource["path"]))
        assert api["client"](resource["path"])[0:3:2] == (200, b"ok")
    finally:
        s.serverless.delete_function(other["name"])


def test_bad_content_length_is_400(api: dict[str, Any]) -> None:
    import socket
    import urllib.parse

    url = urllib.parse.urlsplit(api["client"].url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(f"POST {url.path}/items HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: lots\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and json.loads(body) == {"message": "Bad Request"}
