"""Lambda and API Gateway when an answer is lost: a fault proxy in front of a moto server forwards a request and
drops the answer (``drop_after``: the server applied it). No mutating call may run twice, leave a duplicate or an
orphan, or report a false error; what the server has is counted with plain boto3."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

import cloudorm
from cloudorm import Throttle
from cloudorm.errors import ConflictError
from cloudorm.serverless.routes import statement_prefix
from cloudorm.testing import FaultProxy
from tests.conftest import FAKE_CREDS

HANDLER = "def handler(event, context):\n    return {'statusCode': 200, 'body': 'ok'}\n"
OTHER = "def handler(event, context):\n    return {'statusCode': 200, 'body': 'other'}\n"


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def direct(moto_url: str) -> cloudorm.Session:
    """A session straight to the moto server (setup and cleanup)."""
    return cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=moto_url)


@pytest.fixture(scope="module")
def raw(moto_url: str) -> Any:
    """Plain boto3 against the moto server: ``raw("apigateway")``."""
    settings = {"endpoint_url": moto_url, "region_name": FAKE_CREDS["region"],
                "aws_access_key_id": FAKE_CREDS["aws_access_key_id"],
                "aws_secret_access_key": FAKE_CREDS["aws_secret_access_key"]}
    return lambda service: boto3.client(service, **settings)


@pytest.fixture(scope="module")
def role_arn(direct: cloudorm.Session) -> str:
    """An execution role's ARN (an ARN: the proxied session makes no IAM request)."""
    return str(direct.Role(uid("role"), service="lambda").save().arn)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny handler without requirements."""
    path = tmp_path_factory.mktemp("lost") / "app.py"
    path.write_text(HANDLER)
    return path


@pytest.fixture(scope="module")
def fn_arn(direct: cloudorm.Session, source: Path, role_arn: str) -> Iterator[str]:
    """A function the Apis route to."""
    fn = direct.Function(uid("fn"), handler="app.handler", source=source, role=role_arn).save()
    yield fn.arn
    fn.delete(missing_ok=True)


@pytest.fixture
def proxy(moto_url: str) -> Iterator[FaultProxy]:
    with FaultProxy(moto_url, seed=11) as p:
        yield p


@pytest.fixture
def through(proxy: FaultProxy) -> cloudorm.Session:
    """A session whose requests go through the proxy."""
    return cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url)


class LoseOne:
    """Lose the answer to the first request of ``operation`` the session sends (``drop_after``: the proxy forwards
    it, then drops the connection; ``drop``: the request itself is lost); every other request gets through."""

    def __init__(self, proxy: FaultProxy, session: cloudorm.Session, operation: str, kind: str = "drop_after",
                 times: int = 1) -> None:
        self.proxy, self.operation, self.kind, self.times, self.lost = proxy, operation, kind, times, 0
        for service in ("lambda", "apigateway"):
            client = session._provider.clients.client(service)  # type: ignore[attr-defined]
            client.meta.events.register("before-send", self, unique_id="test-lose-one")

    def __call__(self, event_name: str, **_: Any) -> None:
        if event_name.rsplit(".", 1)[1] == self.operation and self.lost < self.times:
            self.lost += 1
            self.proxy.configure(rate=1.0, kinds=[self.kind])
        else:
            self.proxy.configure(rate=0.0)


def apis_named(raw: Any, name: str) -> list[dict[str, Any]]:
    return [a for a in raw("apigateway").get_rest_apis(limit=500)["items"] if a["name"] == name]


def plans_named(raw: Any, name: str) -> list[dict[str, Any]]:
    return [p for p in raw("apigateway").get_usage_plans(limit=500)["items"] if p["name"] == name]


def keys_named(raw: Any, name: str) -> list[dict[str, Any]]:
    return [k for k in raw("apigateway").get_api_keys(limit=500, includeValues=True)["items"] if k["name"] == name]


def statements(raw: Any, fn: str, prefix: str = "") -> list[str]:
    try:
        policy = json.loads(raw("lambda").get_policy(FunctionName=fn)["Policy"])
    except raw("lambda").exceptions.ResourceNotFoundException:
        return []
    return [s["Sid"] for s in policy["Statement"] if s["Sid"].startswith(prefix)]


def shape(raw: Any, api_id: str) -> dict[str, Any]:
    """What the server has of one REST API: resource paths, methods, deployments, stages."""
    ag = raw("apigateway")
    resources = ag.get_resources(restApiId=api_id, embed=["methods"], limit=500)["items"]
    return {"paths": sorted(r["path"] for r in resources),
            "methods": sorted(f"{m} {r['path']}" for r in resources for m in r.get("resourceMethods") or {}),
            "deployments": len(ag.get_deployments(restApiId=api_id)["items"]),
            "stages": sorted(s["stageName"] for s in ag.get_stages(restApiId=api_id)["item"])}


def shop(session: cloudorm.Session, name: str, fn_arn: str, cors: str | bool = False) -> cloudorm.Api:
    """An Api with two routes, keys and a throttle (so a usage plan)."""
    fn = session.Function(fn_arn)
    api = session.Api(name, function=fn, route="/orders/{id}", key_required=True, throttle=Throttle(rate=10, burst=5),
                      cors=cors)
    return api.route("/orders", "POST", fn)


EXPECTED = {"paths": ["/", "/orders", "/orders/{id}"], "methods": ["GET /orders/{id}", "POST /orders"],
            "deployments": 1, "stages": ["prod"]}


# ----------------------------------------------------------------------------------------------- one lost answer


@pytest.mark.parametrize("operation", ["CreateRestApi", "CreateResource", "PutMethod", "PutIntegration",
                                       "PutMethodResponse", "CreateDeployment", "CreateUsagePlan", "AddPermission"])
def test_api_save_with_a_lost_answer_makes_everything_once(operation: str, proxy: FaultProxy,
                                                           through: cloudorm.Session, direct: cloudorm.Session,
                                                           raw: Any, fn_arn: str) -> None:
    name = uid("api")
    lose = LoseOne(proxy, through, operation)
    cors = operation == "PutMethodResponse"  # (CORS preflights have method responses)
    api = shop(through, name, fn_arn, cors="https://shop.example" if cors else False).save()
    try:
        assert lose.lost == 1 and proxy.stats["drop_after"] == 1
        assert [a["id"] for a in apis_named(raw, name)] == [api.id]
        preflights = ["OPTIONS /orders", "OPTIONS /orders/{id}"] if cors else []
        assert api.id is not None and shape(raw, api.id) == {**EXPECTED,
                                                             "methods": sorted(EXPECTED["methods"] + preflights)}
        assert len(plans_named(raw, f"{name}-prod")) == 1
        assert len(statements(raw, fn_arn, statement_prefix(api.id))) == 2
        again = direct.Api(name).refresh()  # (two APIs or plans with one name: ConflictError)
        assert sorted(f"{r.method} {r.path}" for r in again.routes) == EXPECTED["methods"]
        assert again.throttle == Throttle(rate=10, burst=5)
    finally:
        direct.Api(name, api_id=api.id).delete(missing_ok=True)


@pytest.mark.parametrize("kind", ["drop_after", "drop"])  # (applied, or not: then it is sent again)
@pytest.mark.parametrize("operation", ["CreateApiKey", "CreateUsagePlanKey"])
def test_create_key_with_a_lost_answer_makes_one_key(operation: str, kind: str, proxy: FaultProxy,
                                                     through: cloudorm.Session, direct: cloudorm.Session, raw: Any,
                                                     fn_arn: str) -> None:
    name = uid("api")
    api = shop(through, name, fn_arn).save()
    try:
        LoseOne(proxy, through, operation, kind)
        key = api.create_key(f"{name}-key")
        value = key.value
        assert proxy.stats[kind] == 1
        made = keys_named(raw, f"{name}-key")
        assert [(k["id"], k["value"]) for k in made] == [(key.id, value)]
        assert [k.id for k in direct.Api(name).keys()]  # noqa: SIM118 (a method) == [key.id]
    finally:
        direct.Api(name, api_id=api.id).delete(keys=True, missing_ok=True)
    assert keys_named(raw, f"{name}-key") == []


@pytest.mark.parametrize("operation", ["CreateFunction", "UpdateFunctionCode", "UpdateFunctionConfiguration"])
def test_function_save_with_a_lost_answer_is_right(operation: str, proxy: FaultProxy, through: cloudorm.Session,
                                                   direct: cloudorm.Session, raw: Any, source: Path,
                                                   role_arn: str, tmp_path: Path) -> None:
    name = uid("fn")
    if operation != "CreateFunction":
        direct.Function(name, handler="app.handler", source=source, role=role_arn).save()
    other = tmp_path / "app.py"
    other.write_text(OTHER)
    try:
        LoseOne(proxy, through, operation)
        settings: dict[str, Any] = {"handler": "app.handler", "source": source, "role": role_arn}
        if operation == "UpdateFunctionCode":
            settings["source"] = other
        if operation == "UpdateFunctionConfiguration":
            settings.update(memory=256, environment={"MODE": "lost"})
        fn = through.Function(name, **settings).save()  # (main: AlreadyExists for a create)
        assert proxy.stats["drop_after"] == 1
        assert fn.status == "Active" and fn.bundle is not None and fn.code_sha256 == fn.bundle.sha256
        stored = raw("lambda").get_function(FunctionName=name)["Configuration"]
        assert stored["CodeSha256"] == fn.bundle.sha256
        if operation == "UpdateFunctionConfiguration":
            assert stored["MemorySize"] == 256 and stored["Environment"]["Variables"] == {"MODE": "lost"}
    finally:
        direct.Function(name).delete(missing_ok=True)


@pytest.mark.parametrize("operation", ["DeleteFunction", "DeleteRestApi", "DeleteUsagePlan", "UpdateUsagePlan",
                                       "RemovePermission", "DeleteApiKey", "DeleteUsagePlanKey"])
def test_deletes_with_a_lost_answer_report_no_false_error(operation: str, proxy: FaultProxy,
                                                          through: cloudorm.Session, direct: cloudorm.Session,
                                                          raw: Any, fn_arn: str, source: Path, role_arn: str) -> None:
    if operation == "DeleteFunction":
        doomed = direct.Function(uid("fn"), handler="app.handler", source=source, role=role_arn).save()
        LoseOne(proxy, through, operation)
        through.Function(doomed.name).delete()  # (main: NotFound)
        assert doomed.name not in [f["FunctionName"] for f in raw("lambda").list_functions()["Functions"]]
        assert proxy.stats["drop_after"] == 1
        return
    name = uid("api")
    api = shop(direct, name, fn_arn).save()
    key = api.create_key(f"{name}-key")
    try:
        LoseOne(proxy, through, operation)
        if operation in ("DeleteApiKey", "DeleteUsagePlanKey"):
            through.Api(name).keys()[0].delete()
            assert keys_named(raw, f"{name}-key") == []
        else:  # the whole Api: permissions, the plan (unlinked first), its keys, the REST API
            through.Api(name).delete(keys=True)
            assert apis_named(raw, name) == [] and plans_named(raw, f"{name}-prod") == []
            assert keys_named(raw, f"{name}-key") == []
            assert statements(raw, fn_arn, statement_prefix(str(api.id))) == []
        assert proxy.stats["drop_after"] == 1
    finally:
        direct.Api(name, api_id=api.id).delete(keys=True, missing_ok=True)
        key.delete(missing_ok=True)


@pytest.mark.parametrize("operation", ["DeleteMethod", "DeleteResource", "UpdateUsagePlan"])
def test_changing_an_api_with_a_lost_answer(operation: str, proxy: FaultProxy, through: cloudorm.Session,
                                            direct: cloudorm.Session, raw: Any, fn_arn: str) -> None:
    name = uid("api")
    api = shop(direct, name, fn_arn).save()
    try:
        LoseOne(proxy, through, operation)
        changed = through.Api(name).refresh()
        changed.remove_route("/orders/{id}", "GET")  # its method, then its resource go
        changed.throttle = Throttle(rate=20, burst=10)
        changed.save()
        assert proxy.stats["drop_after"] == 1
        assert shape(raw, str(api.id)) == {"paths": ["/", "/orders"], "methods": ["POST /orders"], "deployments": 2,
                                           "stages": ["prod"]}
        [plan] = plans_named(raw, f"{name}-prod")
        assert plan["throttle"] == {"rateLimit": 20.0, "burstLimit": 10}
    finally:
        direct.Api(name, api_id=api.id).delete(missing_ok=True)


def test_a_create_that_never_gets_through_is_sent_max_attempts_times(proxy: FaultProxy, raw: Any) -> None:
    through = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url, max_attempts=3)
    lose = LoseOne(proxy, through, "CreateApiKey", "drop", times=10)
    name = uid("key")
    with pytest.raises(cloudorm.errors.CloudError) as e:
        through.api_gateway.create_key(name, None, True)
    assert lose.lost == 3 and proxy.stats["drop"] == 3  # each time it was not there: sent again, 3 times in all
    assert e.value.operation == "CreateApiKey" and keys_named(raw, name) == []


def test_two_apis_or_plans_with_one_name_are_reported_clearly(direct: cloudorm.Session, raw: Any,
                                                              fn_arn: str) -> None:
    # what a lost answer left before cloudorm stopped re-sending creates: say so, with the ids
    name = uid("api")
    ids = [raw("apigateway").create_rest_api(name=name)["id"] for _ in range(2)]
    try:
        with pytest.raises(ConflictError, match="perhaps made twice by an earlier request whose answer was lost"
                           ) as e:
            direct.Api(name).refresh()
        assert all(i in e.value.message for i in ids)
        api = direct.Api(name, api_id=ids[0], function=direct.Function(fn_arn), throttle=Throttle(rate=1, burst=1))
        api.save()
        raw("apigateway").create_usage_plan(name=f"{name}-prod", apiStages=[{"apiId": ids[0], "stage": "prod"}])
        with pytest.raises(ConflictError, match=r"perhaps made twice.*delete the extra ones"):
            direct.Api(name, api_id=ids[0]).refresh()
    finally:
        for i in ids:
            direct.Api(name, api_id=i).delete(missing_ok=True)


# ----------------------------------------------------------------------------------------------- random faults


@pytest.mark.parametrize("rate", [0.1, 0.2, 0.3])
def test_a_deploy_script_through_random_faults_leaves_exactly_what_it_made(
        rate: float, proxy: FaultProxy, direct: cloudorm.Session, raw: Any, source: Path, role_arn: str,
        tmp_path: Path) -> None:
    through = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url, max_attempts=12)
    other = tmp_path / "app.py"
    other.write_text(OTHER)
    name = uid("api")
    fn_name = uid("fn")
    proxy.configure(rate=rate, kinds=["drop_after", "drop", "throttle", "error500"])
    try:
        fn = through.Function(fn_name, handler="app.handler", source=source, role=role_arn).save()
        fn = through.Function(fn_name, handler="app.handler", source=other, memory=256).save()
        api = shop(through, name, fn.arn).save()
        first, second = api.create_key(f"{name}-a"), api.create_key(f"{name}-b")
        values = first.value, second.value
        proxy.configure(rate=0.0)
        assert [f["FunctionName"] for f in raw("lambda").list_functions()["Functions"]].count(fn_name) == 1
        stored = raw("lambda").get_function(FunctionName=fn_name)["Configuration"]
        assert (stored["CodeSha256"], stored["MemorySize"]) == (fn.code_sha256, 256)
        assert len(apis_named(raw, name)) == 1 and shape(raw, str(api.id)) == EXPECTED
        assert len(plans_named(raw, f"{name}-prod")) == 1
        assert sorted(statements(raw, fn_name)) == sorted(set(statements(raw, fn_name)))
        assert len(statements(raw, fn_name, statement_prefix(str(api.id)))) == 2
        assert [k["value"] for k in keys_named(raw, f"{name}-a") + keys_named(raw, f"{name}-b")] == list(values)
        assert sorted(k.id for k in direct.Api(name).keys())  # noqa: SIM118 (a method) == sorted([first.id, second.id])

        proxy.configure(rate=rate)
        through.Api(name).delete(keys=True)
        through.Function(fn_name).delete()
        proxy.configure(rate=0.0)
        assert apis_named(raw, name) == [] and plans_named(raw, f"{name}-prod") == []
        assert keys_named(raw, f"{name}-a") == keys_named(raw, f"{name}-b") == []
        assert fn_name not in [f["FunctionName"] for f in raw("lambda").list_functions()["Functions"]]
        assert sum(proxy.stats[k] for k in ("drop_after", "drop", "throttle", "error500")) > 0
    finally:
        proxy.configure(rate=0.0)
        direct.Api(name).delete(keys=True, missing_ok=True)
        direct.Function(fn_name).delete(missing_ok=True)
