"""Apis: input checks before any request; the control plane (REST API, resources, methods, invoke permissions,
deployments, usage plans, keys) on the local cloud and through the aws provider against a moto server; and real HTTP
through the local cloud's gateway (x-api-key, throttle, quota, path parameters)."""

from __future__ import annotations

import json
import logging
import pickle
import re
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import cloudorm
from cloudorm import Quota, Throttle
from cloudorm.errors import ConflictError, InvalidInput, NotFound
from cloudorm.iam import Role
from cloudorm.serverless.routes import statement_id
from tests.conftest import assert_refused_before_any_request

HANDLER = """\
import json


def handler(event, context):
    body = {"path": event.get("path"), "method": event.get("httpMethod"), "params": event.get("pathParameters"),
            "resource": event.get("resource"), "query": event.get("queryStringParameters")}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}
"""

WRITES = ("Create", "Put", "Update", "Delete", "Add", "Remove", "Tag", "Untag")
"""Operation name prefixes that change something."""


def uid(prefix: str = "api") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def writes(counter: Any) -> dict[str, int]:
    """The write operations a request counter saw."""
    return {op: n for op, n in counter.by_operation.items() if op.split(".", 1)[1].startswith(WRITES)}


MakeFunction = Callable[[], cloudorm.Function]


@pytest.fixture
def make_fn(session: cloudorm.Session, app: Path, role: Role) -> Iterator[MakeFunction]:
    """Deploy a fresh function (deleted afterwards)."""
    made: list[cloudorm.Function] = []

    def make() -> cloudorm.Function:
        fn = session.Function(uid("fn"), handler="app.handler", source=app, role=role).save()
        made.append(fn)
        return fn

    yield make
    for fn in made:
        fn.delete(missing_ok=True)


@pytest.fixture
def fn(make_fn: MakeFunction) -> cloudorm.Function:
    return make_fn()


@pytest.fixture
def apis(session: cloudorm.Session) -> Iterator[list[cloudorm.Api]]:
    """Apis to delete (with their keys) after the test."""
    made: list[cloudorm.Api] = []
    yield made
    for api in made:
        api.delete(keys=True, missing_ok=True)


def statements(session: cloudorm.Session, fn: cloudorm.Function) -> dict[str, str | None]:
    return {s["sid"]: s["source_arn"] for s in session.serverless.permissions(fn.name)}


# ---------------------------------------------------------------------------------------------- bad input


def test_throttle_and_quota_check_their_values() -> None:
    assert Throttle(rate=100, burst=50) == Throttle(rate=100.0, burst=50)
    assert isinstance(Throttle(rate=1, burst=0).rate, float)
    assert Quota(limit=50, period="week", offset=6).to_wire() == {"limit": 50, "period": "WEEK", "offset": 6}
    assert Quota(limit=1, period="MONTH", offset=27).offset == 27
    for bad in ({"rate": 0, "burst": 1}, {"rate": -1.0, "burst": 1}, {"rate": "fast", "burst": 1},
                {"rate": True, "burst": 1}, {"rate": float("nan"), "burst": 1}, {"rate": float("inf"), "burst": 1},
                {"rate": 1.0, "burst": -1}, {"rate": 1.0, "burst": 1.5}, {"rate": 1.0, "burst": 2**31}):
        with pytest.raises(InvalidInput, match="throttle"):
            Throttle(**bad)
    assert Throttle(rate=1.0, burst=2**31 - 1).burst == Quota(limit=2**31 - 1).limit == 2**31 - 1  # int32 fields
    for bad_q in ({"limit": 0}, {"limit": 2.5}, {"limit": 2**31}, {"limit": 5, "period": "YEAR"},
                  {"limit": 5, "period": "DAY", "offset": 1}, {"limit": 5, "period": "WEEK", "offset": 7},
                  {"limit": 5, "period": "MONTH", "offset": 28}, {"limit": 5, "period": "WEEK", "offset": -1}):
        with pytest.raises(InvalidInput, match="quota"):
            Quota(**bad_q)


BAD_APIS: dict[str, Callable[[cloudorm.Session, Any], Any]] = {
    "path without a slash": lambda s, f: s.Api("a", function=f, route="orders"),
    "trailing slash": lambda s, f: s.Api("a", function=f, route="/orders/"),
    "empty segment": lambda s, f: s.Api("a", function=f, route="/a//b"),
    "space in a segment": lambda s, f: s.Api("a", function=f, route="/a b"),
    "greedy not last": lambda s, f: s.Api("a", function=f, route="/{proxy+}/x"),
    "parameter twice": lambda s, f: s.Api("a", function=f, route="/{id}/x/{id}"),
    "empty parameter": lambda s, f: s.Api("a", function=f, route="/a/{}"),
    "unknown method": lambda s, f: s.Api("a", function=f, method="FETCH"),
    "stage with a slash": lambda s, f: s.Api("a", function=f, stage="pro/d"),
    "empty stage": lambda s, f: s.Api("a", function=f, stage=""),
    "route without a function": lambda s, f: s.Api("a", route="/orders"),
    "route() without a function": lambda s, f: s.Api("a").route("/orders", "GET", None),
    "a name instead of a Function": lambda s, f: s.Api("a").route("/orders", "GET", "my-function"),
    "duplicate route": lambda s, f: s.Api("a", function=f, route="/o").route("/o", "get", f),
    "two variables on one level": lambda s, f: s.Api("a", function=f, route="/o/{id}").route("/o/{key}/x", "GET", f),
    "OPTIONS route with cors": lambda s, f: s.Api("a", function=f, cors=True).route("/", "OPTIONS", f),
    "bad cors origin": lambda s, f: s.Api("a", function=f, cors="ftp://example.com"),
    "throttle not a Throttle": lambda s, f: s.Api("a", function=f, throttle={"rate": 1, "burst": 1}),
    "quota not a Quota": lambda s, f: s.Api("a", function=f, quota=50),
    "key_required not a bool": lambda s, f: s.Api("a", function=f, key_required="yes"),
    "empty name": lambda s, f: s.Api("", function=f),
    "bad api id": lambda s, f: s.Api("a", api_id="not/an/id"),
    "api id not ascii": lambda s, f: s.Api("a", api_id="abcdé12345"),
    "save without routes": lambda s, f: s.Api("a").save(),
    "create_key without a name": lambda s, f: s.Api("a").create_key(""),
    "create_key enabled not a bool": lambda s, f: s.Api("a").create_key("k", enabled="yes"),
    "remove an unknown route": lambda s, f: s.Api("a", function=f).remove_route("/other"),
    "url_for without a slash": lambda s, f: s.Api("a", function=f).url_for("orders"),
}


@pytest.mark.parametrize("case", sorted(BAD_APIS))
def test_bad_input_is_refused_before_any_request(session: cloudorm.Session, case: str) -> None:
    fn = session.Function("some-function")  # named only: no request until used
    with session.count_requests() as c, pytest.raises(InvalidInput):
        BAD_APIS[case](session, fn)
    assert c.total == 0


def test_lone_surrogates_are_refused_before_any_request(session: cloudorm.Session) -> None:
    fn = session.Function("some-function")
    attempts = [
        (lambda: session.Api("a\udc80", function=fn), "name"),
        (lambda: session.Api("a", function=fn, description="caf\udc80"), "description"),
        (lambda: session.Api("a", function=fn, plan_name="p\udc80"), "plan_name"),
        (lambda: session.Api("a", function=fn).create_key("k\udc80"), "name"),
        (lambda: session.Api("a", function=fn).create_key("k", description="\udc80"), "description"),
    ]
    assert_refused_before_any_request(session, attempts)


def test_valid_routes_are_normalised(session: cloudorm.Session) -> None:
    fn = session.Function("some-function")
    with session.count_requests() as c:
        api = (session.Api("a", function=fn, route="/orders/{id}", method="get")
               .route("/files/{proxy+}", "any", fn, key_required=True)
               .route("/", "POST", fn)
               .route("/orders/{id}/items", "PUT", fn))
    assert c.total == 0
    assert [(r.path, r.method, r.key_required) for r in api.routes] == [
        ("/orders/{id}", "GET", None), ("/files/{proxy+}", "ANY", True), ("/", "POST", None),
        ("/orders/{id}/items", "PUT", None)]
    assert repr(api) == "Api('a', stage='prod', routes=4)"
    assert session.Api("a", function=fn, stage="pre-prod_2").stage == "pre-prod_2"  # CreateStage allows - and _
    sid = statement_id("a1b2c3d4e5", "ANY", "/files/{proxy+}")
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,100}", sid) and sid == statement_id("a1b2c3d4e5", "ANY", "/files/{proxy+}")
    assert sid != statement_id("a1b2c3d4e5", "ANY", "/files/{id}")


# ---------------------------------------------------------------------------------------------- control plane


def test_save_builds_the_api(session: cloudorm.Session, fn: cloudorm.Function, apis: list[cloudorm.Api]) -> None:
    name = uid()
    api = session.Api(name, function=fn, route="/orders/{id}", key_required=True, cors=True, description="shop",
                      throttle=Throttle(rate=100.0, burst=50), quota=Quota(limit=50, period="WEEK", offset=2),
                      stage_description="testing production", deployment_description="for front test")
    apis.append(api)
    assert api.save() is api and api.id is not None
    gw = session.api_gateway
    assert gw.get_api(api.id)["description"] == "shop"
    resources = {r["path"]: r for r in gw.resources(api.id)}
    assert sorted(resources) == ["/", "/orders", "/orders/{id}"]
    methods = resources["/orders/{id}"]["methods"]
    assert methods["GET"] == {"key_required": True, "function_arn": fn.arn, "mock_headers": None,
                              "integration": "AWS_PROXY", "mock_status": None, "mock_body": None}
    cors = methods["OPTIONS"]["mock_headers"]
    assert cors["Access-Control-Allow-Origin"] == "*" and cors["Access-Control-Allow-Methods"] == "GET,OPTIONS"
    assert "X-Api-Key" in cors["Access-Control-Allow-Headers"]
    assert [(s["name"], s["description"]) for s in gw.stages(api.id)] == [("prod", "testing production")]
    [deployment] = gw.client.get_deployments(restApiId=api.id)["items"]  # type: ignore[attr-defined]
    assert deployment["description"] == "for front test"  # ApiConfig's deployment_purpose has a home

    [plan] = gw.usage_plans(api.id)
    assert plan["name"] == f"{name}-prod" and plan["stages"] == [(api.id, "prod")]
    assert plan["throttle"] == {"rate": 100.0, "burst": 50}
    assert plan["quota"] == {"limit": 50, "period": "WEEK", "offset": 2}

    account = fn.arn.split(":")[4]
    assert statements(session, fn) == {
        statement_id(api.id, "GET", "/orders/{id}"):
            f"arn:aws:execute-api:{session.region}:{account}:{api.id}/*/GET/orders/*"}
    if session.provider == "aws":
        assert api.url == f"https://{api.id}.execute-api.{session.region}.amazonaws.com/prod"
    assert api.url_for("/orders/7") == api.url + "/orders/7"


def test_source_arns_follow_api_gateway(session: cloudorm.Session) -> None:
    fn_arn = "arn:aws:lambda:us-east-1:111122223333:function:f"
    gw = session.api_gateway
    region = session.region
    assert gw.source_arn("abc", fn_arn, "ANY", "/") == f"arn:aws:execute-api:{region}:111122223333:abc/*/*/"
    assert gw.source_arn("abc", fn_arn, "POST", "/files/{proxy+}") == \
        f"arn:aws:execute-api:{region}:111122223333:abc/*/POST/files/*"
    china = "arn:aws-cn:lambda:cn-north-1:111122223333:function:f"
    assert gw.source_arn("abc", china, "GET", "/a").startswith("arn:aws-cn:execute-api:")
    # the integration calls Lambda in the function's region (the URI API Gateway documents)
    assert gw.lambda_uri(china) == (  # type: ignore[attr-defined]
        f"arn:aws-cn:apigateway:cn-north-1:lambda:path/2015-03-31/functions/{china}/invocations")


def test_a_second_save_changes_nothing(session: cloudorm.Session, make_fn: MakeFunction,
                                       apis: list[cloudorm.Api]) -> None:
    fn, other = make_fn(), make_fn()
    api = session.Api(uid(), function=fn, route="/orders/{id}", key_required=True, cors=True,
                      throttle=Throttle(rate=10.0, burst=5), stage_description="s")
    api.route("/items", "POST", other).route("/", "ANY", fn)
    apis.append(api)
    with session.count_requests() as c:
        api.save()
    assert c["lambda.AddPermission"] == 3 and c["api-gateway.CreateUsagePlan"] == 1
    assert c["api-gateway.CreateDeployment"] == 1
    with session.count_requests() as c:
        api.save()
    assert writes(c) == {}, c
    # a fresh object for the same API, loaded from the provider, saves nothing either
    loaded = session.Api(api.name).refresh()
    assert {(r.path, r.method, r.key_required) for r in loaded.routes} == {
        ("/orders/{id}", "GET", True), ("/items", "POST", True), ("/", "ANY", True)}
    assert loaded.cors == "*" and loaded.throttle == Throttle(rate=10.0, burst=5) and loaded.quota is None
    assert loaded.stage_description == "s" and loaded.key_required is True
    with session.count_requests() as c:
        loaded.save()
    assert writes(c) == {}, c
    assert len(session.api_gateway.usage_plans(api.id)) == 1
    assert len(statements(session, fn)) == 2 and len(statements(session, other)) == 1


def test_save_removes_what_it_no_longer_declares(session: cloudorm.Session, make_fn: MakeFunction,
                                                 apis: list[cloudorm.Api]) -> None:
    fn, other = make_fn(), make_fn()
    api = session.Api(uid(), function=fn, route="/a/{id}", cors=True).route("/b/c", "POST", other)
    apis.append(api)
    api.save()
    gw = session.api_gateway
    resources = {r["path"]: r for r in gw.resources(api.id)}
    # a method another tool added (not a Lambda proxy, not a CORS preflight) is not the Api's to remove
    gw.put_mock_method(api.id, resources["/b/c"]["id"], "PATCH", {"X-Other": "kept"})

    api.remove_route("/b/c", "POST")
    api.cors = None
    with session.count_requests() as c:
        api.save()
    assert c["api-gateway.CreateDeployment"] == 1
    resources = {r["path"]: r for r in gw.resources(api.id)}
    assert sorted(resources) == ["/", "/a", "/a/{id}", "/b", "/b/c"]
    assert set(resources["/b/c"]["methods"]) == {"PATCH"}  # the other tool's method stays
    assert set(resources["/a/{id}"]["methods"]) == {"GET"}  # the preflight went with cors
    assert statements(session, other) == {}  # its invoke permission is gone
    assert len(statements(session, fn)) == 1

    gw.delete_method(api.id, resources["/b/c"]["id"], "PATCH")
    with session.count_requests() as c:
        api.save()  # nothing changed here: nothing is sent
    assert c.total == 0
    api.cors = "*"  # a change to the routes: what is left empty is pruned with it
    api.save()
    assert sorted(r["path"] for r in gw.resources(api.id)) == ["/", "/a", "/a/{id}"]  # empty resources pruned


def test_a_save_that_failed_before_deploying_deploys_on_retry(session: cloudorm.Session, fn: cloudorm.Function,
                                                              app: Path, role: Role,
                                                              apis: list[cloudorm.Api]) -> None:
    api = session.Api(uid(), function=fn, route="/a")
    apis.append(api)
    api.save()
    ghost = uid("fn")
    api.route("/b", "GET", session.Function(f"{fn.arn.rsplit(':', 1)[0]}:{ghost}"))  # by ARN: not loaded
    with pytest.raises(NotFound):
        api.save()  # the method is put, then granting the function that does not exist yet fails
    late = session.Function(ghost, handler="app.handler", source=app, role=role).save()
    try:
        with session.count_requests() as c:
            api.save()  # no route differs now, but the routes were never deployed
        assert c["api-gateway.CreateDeployment"] == 1
        assert set(statements(session, late)) == {statement_id(api.id, "GET", "/b")}  # type: ignore[arg-type]
        with session.count_requests() as c:
            api.save()
        assert writes(c) == {}, c
    finally:
        late.delete(missing_ok=True)


def test_moving_a_route_to_another_function_moves_its_permission(session: cloudorm.Session, make_fn: MakeFunction,
                                                                 apis: list[cloudorm.Api]) -> None:
    fn, other = make_fn(), make_fn()
    name = uid()
    api = session.Api(name, function=fn, route="/a")
    apis.append(api)
    api.save()
    sid = statement_id(api.id, "GET", "/a")  # type: ignore[arg-type]
    assert set(statements(session, fn)) == {sid}

    moved = session.Api(name, function=other, route="/a").save()
    assert statements(session, fn) == {} and set(statements(session, other)) == {sid}
    [resource] = [r for r in session.api_gateway.resources(api.id) if r["path"] == "/a"]  # type: ignore[arg-type]
    assert resource["methods"]["GET"]["function_arn"] == other.arn
    assert moved.id == api.id


def test_the_usage_plan_follows_the_api(session: cloudorm.Session, fn: cloudorm.Function,
                                        apis: list[cloudorm.Api]) -> None:
    name = uid()
    api = session.Api(name, function=fn)
    apis.append(api)
    api.save()
    gw = session.api_gateway
    assert gw.usage_plans(api.id) == []  # no key required, no throttle or quota: no plan

    api.throttle = Throttle(rate=2.5, burst=3)
    api.quota = Quota(limit=100, period="MONTH", offset=27)
    api.plan_description = "usage for tests"
    api.save()
    [plan] = gw.usage_plans(api.id)
    assert (plan["throttle"], plan["quota"], plan["description"]) == (
        {"rate": 2.5, "burst": 3}, {"limit": 100, "period": "MONTH", "offset": 27}, "usage for tests")

    api.throttle, api.quota, api.key_required = Throttle(rate=7.0, burst=1), None, True
    with session.count_requests() as c:
        api.save()
    assert c["api-gateway.UpdateUsagePlan"] == 1 and c["api-gateway.CreateUsagePlan"] == 0
    [again] = gw.usage_plans(api.id)
    assert again["id"] == plan["id"] and again["throttle"] == {"rate": 7.0, "burst": 1} and again["quota"] is None
    with session.count_requests() as c:
        adopted = session.Api(name, function=fn).save()  # throttle, quota and key_required left out: kept
    assert writes(c) == {} and adopted.throttle == Throttle(rate=7.0, burst=1) and adopted.key_required is True
    with pytest.raises(cloudorm.errors.AlreadyExists):
        session.Api(name, function=fn).save(exists_ok=False)

    named = session.Api(uid(), function=fn, key_required=True, plan_name="usage1", plan_description="Managing")
    apis.append(named)
    named.save()
    assert [(p["name"], p["description"]) for p in gw.usage_plans(named.id)] == [("usage1", "Managing")]


def test_keys(session: cloudorm.Session, fn: cloudorm.Function, apis: list[cloudorm.Api],
              caplog: pytest.LogCaptureFixture) -> None:
    api = session.Api(uid(), function=fn, key_required=True)
    apis.append(api)
    with pytest.raises(ConflictError, match="save"):
        api.create_key("early")  # the API does not exist yet
    api.save()
    caplog.set_level(logging.DEBUG)
    key = api.create_key("testkey", description="requiring api calls to provide key for access")
    assert key.name == "testkey" and key.enabled is True
    value = key.value
    assert isinstance(value, str) and len(value) >= 20
    assert key.value is None  # readable once
    assert value not in repr(key) and value not in repr(api.keys())
    with pytest.raises(TypeError, match="picklable"):
        pickle.dumps(key)
    listed = api.keys()
    assert [k.id for k in listed] == [key.id] and listed[0].value is None
    assert key.refresh().description == "requiring api calls to provide key for access"
    bodies = [r.getMessage() for r in caplog.records if r.name == "botocore.parsers"]
    assert any(key.id in b for b in bodies)  # botocore logged the response bodies (CreateApiKey's holds the value) ...
    assert value not in caplog.text  # ... with the value redacted

    off = api.create_key("disabled", enabled=False)
    listed = api.keys()
    assert off.enabled is False and {k.name for k in listed} == {"testkey", "disabled"}
    key.delete()
    left = api.keys()
    assert [k.name for k in left] == ["disabled"]
    with pytest.raises(NotFound):
        key.delete()
    key.delete(missing_ok=True)

    bare = session.Api(uid(), function=fn)
    apis.append(bare)
    bare.save()
    with pytest.raises(ConflictError, match="usage plan"):
        bare.create_key("k")
    assert bare.keys() == []


def test_refresh_exists_listing_and_delete(session: cloudorm.Session, fn: cloudorm.Function,
                                           apis: list[cloudorm.Api]) -> None:
    name = uid()
    api = session.Api(name, function=fn, route="/x", key_required=True, description="listed")
    apis.append(api)
    assert not api.exists()
    with pytest.raises(NotFound):
        session.Api(name).refresh()
    api.save()
    assert session.Api(name).exists()
    listed = [a for a in session.apis() if a.name == name]
    assert [(a.id, a.description) for a in listed] == [(api.id, "listed")]
    assert listed[0].refresh().routes[0].function.arn == fn.arn

    key = api.create_key("k")
    api_id = api.id
    api.delete(keys=True)
    gw = session.api_gateway
    with pytest.raises(NotFound):
        gw.get_api(api_id)  # type: ignore[arg-type]
    assert gw.usage_plans(api_id) == [] and statements(session, fn) == {}
    with pytest.raises(NotFound):
        key.refresh()
    assert not api.exists()
    with pytest.raises(NotFound):
        api.delete()
    api.delete(missing_ok=True)


def test_two_apis_with_one_name_need_an_id(session: cloudorm.Session, fn: cloudorm.Function,
                                           apis: list[cloudorm.Api]) -> None:
    name = uid()
    first = session.api_gateway.create_api(name, None)
    second = session.api_gateway.create_api(name, None)
    apis += [session.Api(name, api_id=first["id"]), session.Api(name, api_id=second["id"])]
    with pytest.raises(ConflictError, match="api_id"):
        session.Api(name, function=fn).save()
    api = session.Api(name, function=fn, api_id=second["id"]).save()
    assert api.id == second["id"]
    assert [r["path"] for r in session.api_gateway.resources(first["id"])] == ["/"]


def test_provider_errors_are_mapped(session: cloudorm.Session, fn: cloudorm.Function) -> None:
    with pytest.raises(NotFound) as caught:
        session.Api(uid(), function=fn, api_id="nosuchapi1").save()
    assert caught.value.code == "NotFoundException" and caught.value.request_id
    assert caught.value.operation == "GetRestApi"
    with pytest.raises(NotFound):
        session.api_gateway.delete_key("nosuchkey1")


# ---------------------------------------------------------------------------------------------- real HTTP (local)


LOCAL_ONLY = pytest.mark.parametrize("session", ["local"], indirect=True)
"""For tests that send HTTP requests: the local cloud's gateway serves them (moto stores APIs, it does not run
them)."""


@pytest.fixture
def local(session: cloudorm.Session) -> cloudorm.Session:
    """The local session (tests using it are marked ``LOCAL_ONLY``)."""
    assert session.provider == "local"
    return session


def call(url: str, key: str | None = None, method: str = "GET") -> tuple[int, Any, dict[str, str]]:
    """Status, decoded JSON body (or text) and headers of one real HTTP request."""
    request = urllib.request.Request(url, method=method, headers={"x-api-key": key} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, body, headers = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as e:
        status, body, headers = e.code, e.read(), dict(e.headers)
    try:
        return status, json.loads(body), headers
    except ValueError:
        return status, body.decode(errors="replace"), headers


@LOCAL_ONLY
def test_http_reaches_the_handler_with_path_parameters(local: cloudorm.Session, fn: cloudorm.Function,
                                                       apis: list[cloudorm.Api]) -> None:
    api = local.Api(uid(), function=fn, route="/orders/{id}").route("/files/{proxy+}", "ANY", fn)
    apis.append(api)
    api.save()
    assert api.url.startswith("http://127.0.0.1:")
    status, body, _ = call(api.url_for("/orders/42?x=1"))
    assert status == 200
    assert body["params"] == {"id": "42"} and body["method"] == "GET" and body["resource"] == "/orders/{id}"
    assert body["query"] == {"x": "1"}
    status, body, _ = call(api.url_for("/files/a/b.txt"), method="DELETE")
    assert (status, body["params"], body["method"]) == (200, {"proxy": "a/b.txt"}, "DELETE")
    assert call(api.url_for("/nothing"))[0] in (403, 404)


@LOCAL_ONLY
def test_http_key_required(local: cloudorm.Session, fn: cloudorm.Function, apis: list[cloudorm.Api]) -> None:
    api = local.Api(uid(), function=fn, route="/secure", key_required=True)
    apis.append(api)
    api.save()
    value = api.create_key("testkey").value
    assert value is not None
    assert call(api.url_for("/secure"))[0] == 403
    assert call(api.url_for("/secure"), key="wrong-key-value-0123456789")[0] == 403
    assert call(api.url_for("/secure"), key=value)[0] == 200


@LOCAL_ONLY
def test_http_throttle(local: cloudorm.Session, fn: cloudorm.Function, apis: list[cloudorm.Api]) -> None:
    api = local.Api(uid(), function=fn, route="/t", key_required=True, throttle=Throttle(rate=1.0, burst=1))
    apis.append(api)
    api.save()
    value = api.create_key("k").value
    assert call(api.url_for("/t"), key=value)[0] == 200
    assert call(api.url_for("/t"), key=value)[0] == 429  # at once: over the burst
    time.sleep(1.1)
    assert call(api.url_for("/t"), key=value)[0] == 200  # a second later the bucket has a token again


@LOCAL_ONLY
def test_http_quota(local: cloudorm.Session, fn: cloudorm.Function, apis: list[cloudorm.Api]) -> None:
    api = local.Api(uid(), function=fn, route="/q", key_required=True, quota=Quota(limit=2, period="DAY"))
    apis.append(api)
    api.save()
    value = api.create_key("k").value
    assert [call(api.url_for("/q"), key=value)[0] for _ in range(3)] == [200, 200, 429]


@LOCAL_ONLY
def test_http_cors_preflight(local: cloudorm.Session, fn: cloudorm.Function, apis: list[cloudorm.Api]) -> None:
    api = local.Api(uid(), function=fn, route="/c", method="POST", cors="https://example.com")
    apis.append(api)
    api.save()
    status, _, headers = call(api.url_for("/c"), method="OPTIONS")
    assert status == 200
    assert headers.get("Access-Control-Allow-Origin") == "https://example.com"
    assert headers.get("Access-Control-Allow-Methods") == "POST,OPTIONS"
