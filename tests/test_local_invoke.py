"""Lambda's Invoke served by the local cloud for any client: functions created and invoked with plain boto3, the AWS
CLI and cloudorm, on ``cloudorm serve`` in a child process; Lambda's wire format (statuses, headers, errors), Event and
DryRun, the log tail and the logs kept in CloudWatch Logs."""

from __future__ import annotations

import base64
import io
import json
import os
import textwrap
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

import cloudorm
from cloudorm.providers.local.invocations import ERRORS, FUNCTION_NAME, INVOCATION_TYPES, LOG_TYPES
from cloudorm.testing import ServeProcess
from cloudorm.waiting import wait_until

HANDLER = """\
import os, time

def handler(event, context):
    print("event", event)
    if event.get("fail"):
        raise ValueError("asked to fail")
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("path"):
        with open(event["path"], "w") as f:
            f.write(context.aws_request_id)
    return {"echo": event, "pid": os.getpid(), "mode": os.environ.get("MODE"),
            "endpoint": os.environ.get("AWS_ENDPOINT_URL"), "version": context.function_version}
"""


def zipped(source: str = HANDLER) -> bytes:
    """A zip holding ``app.py``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", textwrap.dedent(source) + f"\n# {uuid.uuid4()}\n")
    return buffer.getvalue()


def uid() -> str:
    return f"inv-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def server() -> Iterator[ServeProcess]:
    with ServeProcess() as running:
        yield running


def client(url: str, service: str) -> Any:
    """A plain boto3 client of the server (no retries: each call is one request)."""
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=Config(retries={"total_max_attempts": 1}))


@pytest.fixture(scope="module")
def lam(server: ServeProcess) -> Any:
    return client(server.url, "lambda")


@pytest.fixture(scope="module")
def role(server: ServeProcess) -> str:
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                      "Principal": {"Service": "lambda.amazonaws.com"}}]}
    arn: str = client(server.url, "iam").create_role(RoleName=uid(), AssumeRolePolicyDocument=json.dumps(policy))[
        "Role"]["Arn"]
    return arn


@pytest.fixture
def made(lam: Any, role: str) -> Iterator[Callable[..., str]]:
    """Create a function with plain boto3 (``create(timeout=1, ...)``); deleted after the test."""
    names: list[str] = []

    def create(source: str = HANDLER, **settings: Any) -> str:
        name = uid()
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                            Code={"ZipFile": zipped(source)}, **settings)
        names.append(name)
        return name

    yield create
    for name in names:
        lam.delete_function(FunctionName=name)


def test_boto3_alone_creates_and_invokes_with_lambdas_answer(lam: Any, made: Callable[..., str],
                                                            server: ServeProcess) -> None:
    name = made(Environment={"Variables": {"MODE": "one"}})
    answer = lam.invoke(FunctionName=name, Payload=json.dumps({"n": 1}).encode(), LogType="Tail")
    result = json.loads(answer["Payload"].read())
    assert answer["StatusCode"] == 200 and "FunctionError" not in answer
    assert answer["ExecutedVersion"] == "$LATEST"
    assert result["echo"] == {"n": 1} and result["mode"] == "one"
    assert result["endpoint"] == server.url  # the handler reaches the same local cloud
    request_id = answer["ResponseMetadata"]["RequestId"]
    log = base64.b64decode(answer["LogResult"]).decode()
    assert log.startswith(f"START RequestId: {request_id} Version: $LATEST\n")
    assert "event {'n': 1}\n" in log and f"END RequestId: {request_id}\n" in log and "REPORT RequestId" in log
    assert "LogResult" not in lam.invoke(FunctionName=name, Payload=b"{}")  # no tail unless asked
    empty = json.loads(lam.invoke(FunctionName=name)["Payload"].read())  # no payload: the event is {}
    assert empty["echo"] == {} and empty["pid"] == result["pid"]  # and the warm sandbox answered


def test_name_arn_partial_arn_and_qualifiers(lam: Any, made: Callable[..., str]) -> None:
    name = made()
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    account = arn.split(":")[4]
    lam.publish_version(FunctionName=name)
    for reference, qualifier, version in ((arn, None, "$LATEST"), (f"{account}:function:{name}", None, "$LATEST"),
                                          (name, "$LATEST", "$LATEST"), (f"{name}:1", None, "1"), (name, "1", "1")):
        params = {"Qualifier": qualifier} if qualifier else {}
        answer = lam.invoke(FunctionName=reference, Payload=b"{}", **params)
        assert answer["ExecutedVersion"] == version, reference
        assert json.loads(answer["Payload"].read())["version"] == version, reference


def test_refusals_are_lambdas_errors(lam: Any, made: Callable[..., str]) -> None:
    name = made()

    def refused(**params: Any) -> tuple[str, int, str]:
        with pytest.raises(ClientError) as e:
            lam.invoke(**params)
        error = e.value.response
        return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Message"]

    missing = uid()
    code, status, message = refused(FunctionName=missing, Payload=b"{}")
    assert (code, status) == ("ResourceNotFoundException", 404) and message.endswith(f":function:{missing}")
    assert refused(FunctionName=name, Qualifier="7", Payload=b"{}")[:2] == ("ResourceNotFoundException", 404)
    code, status, message = refused(FunctionName=name, Payload=b"{not json")
    assert (code, status) == ("InvalidRequestContentException", 400) and "json" in message
    code, status, message = refused(FunctionName=name, Payload=b'"' + b"x" * (6 * 1024 * 1024) + b'"')
    assert (code, status) == ("RequestTooLargeException", 413) and "6291456" in message
    assert refused(FunctionName=f"{name}:1", Qualifier="2", Payload=b"{}")[:2] == ("InvalidParameterValueException",
                                                                                  400)
    assert refused(FunctionName=name, InvocationType="Later", Payload=b"{}")[:2] == ("ValidationException", 400)


def test_error_statuses_and_constraints_are_botocores_model() -> None:
    invoke = botocore.session.get_session().get_service_model("lambda").operation_model("Invoke")
    shapes = {shape.name: shape for shape in invoke.error_shapes}
    for code, (status, key) in ERRORS.items():
        if code == "ValidationException":  # the protocol's own error, in no operation's list
            continue
        assert shapes[code].metadata["error"]["httpStatusCode"] == status, code
        assert key in shapes[code].members, code
    members = invoke.input_shape.members
    assert tuple(sorted(members["InvocationType"].enum)) == tuple(sorted(INVOCATION_TYPES))
    assert tuple(sorted(members["LogType"].enum)) == tuple(sorted(LOG_TYPES))
    assert members["FunctionName"].metadata["pattern"] == FUNCTION_NAME


def test_handler_error_and_timeout(lam: Any, made: Callable[..., str]) -> None:
    name = made(Timeout=1)
    answer = lam.invoke(FunctionName=name, Payload=json.dumps({"fail": True}).encode())
    error = json.loads(answer["Payload"].read())
    assert answer["StatusCode"] == 200 and answer["FunctionError"] == "Unhandled"
    assert error["errorType"] == "ValueError" and error["errorMessage"] == "asked to fail"
    started = time.monotonic()
    answer = lam.invoke(FunctionName=name, Payload=json.dumps({"sleep": 5}).encode())
    assert time.monotonic() - started < 3
    error = json.loads(answer["Payload"].read())
    assert answer["FunctionError"] == "Unhandled" and error["errorType"] == "Sandbox.Timedout"
    assert error["errorMessage"].endswith("Task timed out after 1.00 seconds")


def test_event_runs_in_the_background_and_dry_run_runs_nothing(lam: Any, made: Callable[..., str],
                                                               tmp_path: Path) -> None:
    name = made()
    target = tmp_path / "event.txt"
    started = time.monotonic()
    answer = lam.invoke(FunctionName=name, InvocationType="Event",
                        Payload=json.dumps({"sleep": 1, "path": str(target)}).encode())
    assert time.monotonic() - started < 0.9  # the handler alone takes 1 s
    assert answer["StatusCode"] == 202 and answer["Payload"].read() == b""
    wait_until(lambda: target.exists() and target.read_text() == answer["ResponseMetadata"]["RequestId"],
               timeout=10, what="the event's handler wrote its request id")
    dry = tmp_path / "dry.txt"
    answer = lam.invoke(FunctionName=name, InvocationType="DryRun", Payload=json.dumps({"path": str(dry)}).encode())
    assert answer["StatusCode"] == 204 and answer["Payload"].read() == b""
    time.sleep(0.3)
    assert not dry.exists()


def test_a_change_by_any_client_drops_the_warm_sandbox(lam: Any, made: Callable[..., str]) -> None:
    name = made(Environment={"Variables": {"MODE": "one"}})
    first = json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())
    assert json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())["pid"] == first["pid"]
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"MODE": "two"}})
    second = json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())
    assert second["mode"] == "two" and second["pid"] != first["pid"]
    wait_until(lambda: not os.path.exists(f"/proc/{first['pid']}"), timeout=3, what="the old sandbox ended")
    lam.update_function_code(FunctionName=name, ZipFile=zipped("def handler(e, c):\n    return 'new code'\n"))
    assert json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read()) == "new code"


def test_cli_and_cloudorm_invoke_each_others_functions_and_read_the_logs(
        aws_cli: Callable[..., Any], server: ServeProcess, role: str, lam: Any, tmp_path: Path) -> None:
    s = cloudorm.Session("local", endpoint_url=server.url, read_timeout=1)  # invocations wait longer, whatever it is
    archive = tmp_path / "code.zip"
    archive.write_bytes(zipped())
    by_cli = uid()
    source = tmp_path / "src"
    source.mkdir()
    (source / "app.py").write_text(HANDLER)
    by_cloudorm = s.Function(uid(), handler="app.handler", source=source, role=role).save()
    try:
        aws_cli(server.url, "lambda", "create-function", "--function-name", by_cli, "--runtime", "python3.12",
                "--role", role, "--handler", "app.handler", "--timeout", "5", "--zip-file", f"fileb://{archive}")
        fn = s.Function(by_cli)
        assert fn.invoke({"from": "cloudorm"})["echo"] == {"from": "cloudorm"}
        assert fn.invoke({"sleep": 1.5})["echo"] == {"sleep": 1.5}  # longer than the session's read_timeout
        with pytest.raises(cloudorm.errors.FunctionError) as e:
            fn.invoke({"fail": True})
        assert e.value.error_type == "ValueError"
        out = tmp_path / "out.json"
        done = aws_cli(server.url, "lambda", "invoke", "--function-name", by_cloudorm.name, "--payload",
                       '{"from": "cli"}', "--log-type", "Tail", str(out))  # (AWS CLI v1: the payload as is)
        answer = json.loads(done.stdout)
        assert answer["StatusCode"] == 200 and answer["ExecutedVersion"] == "$LATEST"
        assert "event {'from': 'cli'}" in base64.b64decode(answer["LogResult"]).decode()
        assert json.loads(out.read_text())["echo"] == {"from": "cli"}
        assert json.loads(lam.invoke(FunctionName=by_cloudorm.name, Payload=b'{"from": "boto3"}')["Payload"]
                          .read())["echo"] == {"from": "boto3"}
        found = json.loads(aws_cli(server.url, "logs", "filter-log-events", "--log-group-name",
                                   f"/aws/lambda/{by_cloudorm.name}").stdout)["events"]
        messages = [event["message"] for event in found]
        assert "event {'from': 'cli'}\n" in messages and "event {'from': 'boto3'}\n" in messages
        assert sum(m.startswith("START RequestId: ") for m in messages) == 2
        assert all("[$LATEST]" in event["logStreamName"] for event in found)
        lines = fn.logs()
        assert [line.message for line in lines if line.message.startswith("event ")] == [
            "event {'from': 'cloudorm'}", "event {'sleep': 1.5}", "event {'fail': True}"]
        assert any(line.message.startswith("[ERROR] ValueError: asked to fail") for line in lines)
        assert [line.message.split("\t")[0][:6] for line in fn.logs(limit=2)] == ["END Re", "REPORT"]
        assert fn.logs(since=lines[-1].time.replace(year=lines[-1].time.year + 1)) == []
        assert s.Function(uid()).logs() == []  # never invoked: no log group yet
    finally:
        by_cloudorm.delete(missing_ok=True)
        lam.delete_function(FunctionName=by_cli)
        s.close()


def test_log_window_is_checked_before_any_request() -> None:
    s = cloudorm.Session()
    fn = s.Function(uid())
    with s.count_requests() as c:
        for since, limit, field in ((-1, None, "since"), ("yesterday", None, "since"), (None, 0, "limit"),
                                    (None, True, "limit")):
            with pytest.raises(cloudorm.errors.InvalidInput) as e:
                fn.logs(since=since, limit=limit)
            assert e.value.field == field
    assert c.total == 0
