"""Deployed APIs served by ``cloudorm serve`` (a real child process) for every client: a URL that outlives the
process that saved the API, APIs and functions made with plain boto3, keys added with the AWS CLI, and one quota
and one throttle shared by several calling processes; the gateway part's state survives dump/load."""

from __future__ import annotations

import http.client
import io
import json
import pickle
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

import cloudorm
from cloudorm import Quota, Throttle
from cloudorm.providers.local.app import local_cloud
from cloudorm.providers.local.gateway import ApiGateway
from cloudorm.testing import ServeProcess

HANDLER = """\
import json


def handler(event, context):
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"path": event["path"], "params": event["pathParameters"],
                                "key_id": event["requestContext"]["identity"]["apiKeyId"]})}
"""

SAVER = """\
import json, sys
from pathlib import Path

import cloudorm

url, source, name = sys.argv[1:4]
s = cloudorm.Session("local", endpoint_url=url)
role = s.Role(name, service="lambda").save()
fn = s.Function(name, handler="app.handler", source=Path(source), role=role).save()
api = s.Api(name, function=fn, route="/orders/{id}", key_required=True).save()
print(json.dumps({"url": api.url, "key": api.create_key(name).value}))
"""

CALLER = """\
import sys, urllib.error, urllib.request

url, key, times = sys.argv[1], sys.argv[2], int(sys.argv[3])
for _ in range(times):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"x-api-key": key}), timeout=60) as r:
            print(r.status, "-")
    except urllib.error.HTTPError as e:
        print(e.code, e.headers["x-amzn-ErrorType"])
"""


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def call(url: str, key: str | None = None, method: str = "GET") -> tuple[int, bytes, Any]:
    request = urllib.request.Request(url, method=method, headers={"x-api-key": key} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read(), e.headers


@pytest.fixture(scope="module")
def server() -> Iterator[ServeProcess]:
    with ServeProcess() as running:
        yield running


@pytest.fixture(scope="module")
def s(server: ServeProcess) -> cloudorm.Session:
    return cloudorm.Session("local", endpoint_url=server.url)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "src" / "app.py"
    path.parent.mkdir()
    path.write_text(HANDLER + f"# {uuid.uuid4().hex}\n")
    return path


@pytest.fixture
def limited(s: cloudorm.Session, source: Path) -> Callable[..., tuple[cloudorm.Api, str]]:
    """An Api with one keyed route, ``/q``, limited as asked; returns it and a key's value."""
    def make(**limits: Any) -> tuple[cloudorm.Api, str]:
        name = uid("lim")
        fn = s.Function(name, handler="app.handler", source=source,
                        role=s.Role(name, service="lambda").save()).save()
        api = s.Api(name, function=fn, route="/q", key_required=True, **limits).save()
        value = api.create_key(name).value
        assert value is not None
        return api, value

    return make


def callers(url: str, key: str, times: int, processes: int = 2) -> list[tuple[int, str]]:
    """What ``processes`` processes calling ``url`` ``times`` times each, at the same time, got back."""
    running = [subprocess.Popen([sys.executable, "-c", CALLER, url, key, str(times)], stdout=subprocess.PIPE,
                                text=True) for _ in range(processes)]
    answers: list[tuple[int, str]] = []
    for proc in running:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        answers += [(int(code), kind) for code, kind in (line.split() for line in out.splitlines())]
    return answers


def test_the_url_outlives_the_process_that_saved_the_api(server: ServeProcess, s: cloudorm.Session,
                                                         source: Path) -> None:
    name = uid("saved")
    saved = subprocess.run([sys.executable, "-c", SAVER, server.url, str(source), name], capture_output=True,
                           text=True, timeout=180)
    assert saved.returncode == 0, saved.stderr
    made = json.loads(saved.stdout)  # the saving process has exited
    url, key = made["url"], made["key"]
    api = s.Api(name)
    assert url == api.url == f"{server.url}/restapis/{api.refresh().id}/prod/_user_request_"  # same from here
    status, body, _ = call(url + "/orders/7", key)
    assert status == 200 and json.loads(body)["params"] == {"id": "7"}
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    try:
        connection.request("GET", parts.path + "/orders/8", headers={"x-api-key": key})
        response = connection.getresponse()
        assert response.status == 200 and json.loads(response.read())["path"] == "/orders/8"
    finally:
        connection.close()
    assert call(url + "/orders/7")[0] == 403  # no key
    api.delete(keys=True)
    assert call(url + "/orders/7", key)[0] == 403  # gone at once: the server saw the DeleteRestApi


def test_an_api_and_function_made_with_plain_boto3_are_served(server: ServeProcess) -> None:
    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=server.url, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    iam, lam, gw = client("iam"), client("lambda"), client("apigateway")
    name = uid("boto")
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                               "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", HANDLER + f"# {name}\n")
    arn = lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                              Code={"ZipFile": code.getvalue()})["FunctionArn"]
    api_id = gw.create_rest_api(name=name)["id"]
    root = next(r["id"] for r in gw.get_resources(restApiId=api_id)["items"] if r["path"] == "/")

    def route(part: str) -> str:
        resource = gw.create_resource(restApiId=api_id, parentId=root, pathPart=part)["id"]
        gw.put_method(restApiId=api_id, resourceId=resource, httpMethod="GET", authorizationType="NONE")
        gw.put_integration(restApiId=api_id, resourceId=resource, httpMethod="GET", type="AWS_PROXY",
                           integrationHttpMethod="POST",
                           uri=f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations")
        return f"{server.url}/restapis/{api_id}/live/_user_request_/{part}"

    first = route("first")
    gw.create_deployment(restApiId=api_id, stageName="live")
    second = route("second")  # after the deployment: not served until deployed again
    assert call(first)[0] == 500  # the function's policy does not let API Gateway invoke it yet
    lam.add_permission(FunctionName=name, StatementId="gw", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:us-east-1:{arn.split(':')[4]}:{api_id}/*")
    status, body, _ = call(first)
    assert status == 200 and json.loads(body)["path"] == "/first", body
    assert call(second)[:2] == (403, b'{"message": "Missing Authentication Token"}')
    gw.create_deployment(restApiId=api_id, stageName="live")
    assert call(second)[0] == 200
    gw.delete_rest_api(restApiId=api_id)
    lam.delete_function(FunctionName=name)


def test_a_key_added_with_the_aws_cli_works_at_once(server: ServeProcess, s: cloudorm.Session,
                                                    limited: Callable[..., tuple[cloudorm.Api, str]],
                                                    aws_cli: Callable[..., Any]) -> None:
    api, value = limited()
    assert call(api.url_for("/q"), value)[0] == 200  # the gateway has read the API's keys
    made = json.loads(aws_cli(server.url, "apigateway", "create-api-key", "--name", uid("cli"), "--enabled").stdout)
    assert call(api.url_for("/q"), made["value"])[0] == 403  # not in the plan yet
    [plan] = s.api_gateway.usage_plans(api.id)
    aws_cli(server.url, "apigateway", "create-usage-plan-key", "--usage-plan-id", plan["id"], "--key-id", made["id"],
            "--key-type", "API_KEY")
    status, body, _ = call(api.url_for("/q"), made["value"])
    assert status == 200 and json.loads(body)["key_id"] == made["id"]
    aws_cli(server.url, "apigateway", "delete-usage-plan-key", "--usage-plan-id", plan["id"], "--key-id", made["id"])
    assert call(api.url_for("/q"), made["value"])[0] == 403
    api.delete(keys=True)
    aws_cli(server.url, "apigateway", "delete-api-key", "--api-key", made["id"])


def test_two_processes_share_one_quota(limited: Callable[..., tuple[cloudorm.Api, str]]) -> None:
    api, value = limited(quota=Quota(limit=5, period="DAY"))
    answers = callers(api.url_for("/q"), value, times=3)
    assert sorted(answers) == [(200, "-")] * 5 + [(429, "LimitExceededException")], answers
    api.delete(keys=True)


def test_two_processes_share_one_throttle(limited: Callable[..., tuple[cloudorm.Api, str]]) -> None:
    api, value = limited(throttle=Throttle(rate=0.01, burst=2))  # a token every 100 s: the burst is all there is
    answers = callers(api.url_for("/q"), value, times=2)
    assert sorted(answers) == [(200, "-")] * 2 + [(429, "TooManyRequestsException")] * 2, answers
    api.delete(keys=True)


def test_quotas_and_deployments_are_the_parts_state(tmp_path: Path) -> None:
    """What ``--state`` keeps of the gateway: dump() is picklable and load() gives it back to a new part."""
    s = cloudorm.Session()
    source = tmp_path / "app.py"
    source.write_text(HANDLER)
    name = uid("state")
    fn = s.Function(name, handler="app.handler", source=source, role=s.Role(name, service="lambda").save()).save()
    api = s.Api(name, function=fn, route="/q", key_required=True, quota=Quota(limit=1, period="DAY")).save()
    value = api.create_key(name).value
    assert [call(api.url_for("/q"), value)[0] for _ in range(2)] == [200, 429]
    part = local_cloud().part("gateway")
    assert isinstance(part, ApiGateway)
    restored = ApiGateway(local_cloud())
    restored.load(pickle.loads(pickle.dumps(part.dump())))
    [stage] = s.api_gateway.stages(api.id or "")
    assert restored.deployments.get(api.id or "", str(stage["deployment_id"])) == \
        part.deployments.get(api.id or "", str(stage["deployment_id"])) is not None
    assert restored.limits.dump() == part.limits.dump() != {}
    restored.reset()
    assert restored.limits.dump() == {} and restored.deployments.dump() == {}
    api.delete(keys=True)
    fn.delete()


def test_mock_integrations_answer_their_template_and_other_types_are_500(server: ServeProcess) -> None:
    gw = boto3.client("apigateway", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    api_id = gw.create_rest_api(name=uid("mock"))["id"]
    root = next(r["id"] for r in gw.get_resources(restApiId=api_id)["items"] if r["path"] == "/")

    def route(part: str, **integration: Any) -> str:
        resource = gw.create_resource(restApiId=api_id, parentId=root, pathPart=part)["id"]
        gw.put_method(restApiId=api_id, resourceId=resource, httpMethod="GET", authorizationType="NONE")
        gw.put_integration(restApiId=api_id, resourceId=resource, httpMethod="GET", **integration)
        return resource

    made = route("made", type="MOCK", requestTemplates={"application/json": '{"statusCode": 201}'})
    gw.put_integration_response(restApiId=api_id, resourceId=made, httpMethod="GET", statusCode="201",
                                responseTemplates={"application/json": '{"mock": true}'})
    route("http", type="HTTP", integrationHttpMethod="GET", uri="http://127.0.0.1:9/never")
    gw.create_deployment(restApiId=api_id, stageName="dev")
    base = f"{server.url}/restapis/{api_id}/dev/_user_request_"
    status, body, _ = call(f"{base}/made")
    assert (status, json.loads(body)) == (201, {"mock": True})
    assert call(f"{base}/http")[:2] == (500, b'{"message": "Internal server error"}')  # only AWS_PROXY and MOCK
    gw.delete_rest_api(restApiId=api_id)
