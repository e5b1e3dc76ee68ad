"""Functions: the control plane on the local cloud and through the aws provider against a moto server; real invokes
on the local cloud, which runs handlers in a subprocess."""

from __future__ import annotations

import logging
import threading
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import cloudorm
from cloudorm.errors import AlreadyExists, FunctionError, InvalidInput, NotFound, Timeout
from cloudorm.iam import Role
from tests.conftest import assert_refused_before_any_request

HANDLER = """\
import os


def handler(event, context):
    print("got", sorted(event or {}))
    return {"echo": event, "mode": os.environ.get("MODE"), "name": context.function_name}


def fail(event, context):
    raise ValueError("bad input: " + str(event.get("x")))
"""


def uid(prefix: str = "fn") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


Deploy = Callable[..., cloudorm.Function]


@pytest.fixture
def deploy(session: cloudorm.Session, app: Path, role: Role) -> Any:
    """Deploy ``app.handler`` (settings may be overridden) and delete what was deployed afterwards."""
    made: list[cloudorm.Function] = []

    def make(name: str | None = None, **settings: Any) -> cloudorm.Function:
        settings = {"handler": "app.handler", "source": app, "role": role, **settings}
        fn = session.Function(name or uid(), **settings).save()
        made.append(fn)
        return fn

    yield make
    for fn in made:
        fn.delete(missing_ok=True)


# ---------------------------------------------------------------------------------------------- control plane


def test_save_creates_an_active_function_from_the_bundle(session: cloudorm.Session, deploy: Deploy,
                                                         role: Role) -> None:
    name = uid()
    with session.count_requests() as c:
        fn = deploy(name, memory=256, timeout=10, environment={"MODE": "test"}, description="echoes")
    assert c["lambda.CreateFunction"] == 1 and c["lambda.UpdateFunctionCode"] == 0
    assert fn.status == "Active"
    assert fn.bundle is not None and fn.code_sha256 == fn.bundle.sha256 and fn.code_size == fn.bundle.size
    assert fn.arn.endswith(f":function:{name}")
    again = session.Function(name).refresh()
    assert (again.runtime, again.handler, again.memory, again.timeout, again.architecture) == (
        "python3.12", "app.handler", 256, 10, "x86_64")
    assert again.environment == {"MODE": "test"} and again.description == "echoes"
    assert again.role == role.arn and again.code_sha256 == fn.code_sha256
    assert fn.exists() and name in [f.name for f in session.functions()]


def test_new_function_gets_lambdas_defaults(session: cloudorm.Session, deploy: Deploy) -> None:
    fn = deploy()
    record = session.serverless.get_function(fn.name)
    assert (record["runtime"], record["memory"], record["timeout"], record["architecture"]) == (
        "python3.12", 128, 3, "x86_64")
    assert record["environment"] == {} and record["description"] is None


def test_unchanged_redeploy_uploads_nothing(session: cloudorm.Session, deploy: Deploy, app: Path,
                                            role: Role) -> None:
    fn = deploy(memory=256, environment={"MODE": "a"})
    same = session.Function(fn.name, handler="app.handler", source=app, role=role.name, memory=256,
                            environment={"MODE": "a"})
    with session.count_requests() as c:
        same.save()
    assert c["lambda.UpdateFunctionCode"] == 0 and c["lambda.UpdateFunctionConfiguration"] == 0
    assert c["lambda.CreateFunction"] == 0 and c["lambda.GetFunction"] == 1
    assert same.bundle is not None and same.bundle.sha256 == fn.code_sha256


def test_changed_code_is_uploaded_and_changed_settings_alone_are_sent(session: cloudorm.Session, deploy: Deploy,
                                                                      app: Path) -> None:
    fn = deploy(memory=128)
    old_sha = fn.code_sha256
    app.write_text(app.read_text() + "\n\ndef other(event, context):\n    return 2\n")
    with session.count_requests() as c:
        session.Function(fn.name, handler="app.handler", source=app).save()
    assert c["lambda.UpdateFunctionCode"] == 1 and c["lambda.UpdateFunctionConfiguration"] == 0
    assert session.Function(fn.name).refresh().code_sha256 not in (None, old_sha)

    fn.refresh()
    fn.memory = 512
    assert cloudorm.changes(fn) == {"memory"}
    with session.count_requests() as c:
        fn.save()  # no source: the code stays
    assert c["lambda.UpdateFunctionCode"] == 0 and c["lambda.UpdateFunctionConfiguration"] == 1
    assert session.Function(fn.name).memory == 512 and cloudorm.changes(fn) == set()


def test_environment_changed_in_place_is_saved(session: cloudorm.Session, deploy: Deploy) -> None:
    fn = deploy(environment={"AA": "1"})
    assert cloudorm.changes(fn) == set()
    fn.environment["BB"] = "2"
    assert cloudorm.changes(fn) == {"environment"}
    with session.count_requests() as c:
        fn.save()
    assert c["lambda.UpdateFunctionConfiguration"] == 1 and c["lambda.UpdateFunctionCode"] == 0
    assert session.Function(fn.name).environment == {"AA": "1", "BB": "2"}


def test_settings_left_out_keep_the_deployed_ones(session: cloudorm.Session, deploy: Deploy, app: Path) -> None:
    fn = deploy(memory=1024, timeout=30, environment={"MODE": "kept"})
    with session.count_requests() as c:
        session.Function(fn.name, source=app, description="new words").save()
    assert c["lambda.UpdateFunctionCode"] == 0 and c["lambda.UpdateFunctionConfiguration"] == 1
    after = session.Function(fn.name).refresh()
    assert (after.memory, after.timeout, after.environment, after.handler, after.description) == (
        1024, 30, {"MODE": "kept"}, "app.handler", "new words")


def test_an_existing_function_by_name_loads_its_settings_lazily(session: cloudorm.Session, deploy: Deploy) -> None:
    fn = deploy(memory=192)
    existing = session.Function(fn.name)
    with session.count_requests() as c:
        assert existing.memory == 192
        assert existing.runtime == "python3.12" and existing.handler == "app.handler"
    assert c.total == 1 and c["lambda.GetFunction"] == 1
    listed = next(f for f in session.functions() if f.name == fn.name)
    with session.count_requests() as c:
        assert listed.memory == 192 and listed.arn == fn.arn
    assert c.total == 0
    by_arn = session.Function(fn.arn)
    assert by_arn.name == fn.name and by_arn.refresh().memory == 192


def test_a_missing_function_by_name(session: cloudorm.Session) -> None:
    ghost = session.Function(uid())
    assert not ghost.exists()
    with pytest.raises(NotFound):
        ghost.refresh()
    with pytest.raises(NotFound):
        _ = ghost.memory
    with pytest.raises(InvalidInput) as e:
        ghost.save()
    assert e.value.field == "source"
    with pytest.raises(NotFound):
        ghost.delete()
    ghost.delete(missing_ok=True)


def test_a_new_function_needs_a_handler_and_a_role(session: cloudorm.Session, app: Path, role: Role) -> None:
    with pytest.raises(InvalidInput) as e:
        session.Function(uid(), source=app, role=role).save()
    assert e.value.field == "handler"
    with pytest.raises(InvalidInput) as e:
        session.Function(uid(), source=app, handler="app.handler").save()
    assert e.value.field == "role"


def test_bad_waits_and_strings_are_refused_before_any_request(session: cloudorm.Session, app: Path,
                                                              role: Role) -> None:
    made = {"handler": "app.handler", "source": app, "role": role}
    attempts: list[tuple[Callable[[], Any], str]] = [
        (lambda: session.Function(uid(), **made).save(role_wait=-1), "role_wait"),
        (lambda: session.Function(uid(), **made).save(ready_wait=float("inf")), "ready_wait"),
        (lambda: session.Function(uid()).invoke({}, wait="yes"), "wait"),  # type: ignore[arg-type]
        (lambda: session.Function(uid(), environment={"TOKEN": "s\udc80cret"}), "environment['TOKEN']"),
        (lambda: session.Function(uid(), description="caf\udc80"), "description"),
        (lambda: session.Function("f\udc80"), "name"),
    ]
    # an environment value may be a secret: never shown
    assert_refused_before_any_request(session, attempts, hidden=("s\udc80cret",))


def test_a_new_architecture_needs_the_source(session: cloudorm.Session, deploy: Deploy, app: Path) -> None:
    fn = session.Function(deploy().name)
    fn.architecture = "arm64"  # the code is uploaded again with a new architecture: without source= it cannot be
    with session.count_requests() as c, pytest.raises(InvalidInput) as e:
        fn.save()
    assert e.value.field == "architecture" and "source=" in e.value.message
    assert c.total == c["lambda.GetFunction"] == 1
    with session.count_requests() as c:
        session.Function(fn.name, source=app, architecture="arm64").save()
    # (the same code, sent again with the new architecture; moto 5.2.5 does not store Architectures on this call)
    assert c["lambda.UpdateFunctionCode"] == 1 and c["lambda.UpdateFunctionConfiguration"] == 0


def test_a_function_lambda_reports_failed_is_an_error(session: cloudorm.Session, deploy: Deploy) -> None:
    from moto.backends import get_backend

    fn = deploy()
    region, account = fn.arn.split(":")[3:5]
    # moto never fails a deployment: the server's own record is set to Failed, as Lambda reports a failed one
    get_backend("lambda")[account][region].get_function(fn.name).state = "Failed"
    fn.memory = 256
    with pytest.raises(cloudorm.errors.CloudError) as e:
        fn.save(ready_wait=1.0)
    assert fn.name in e.value.message and "failed to deploy" in e.value.message
    assert not isinstance(e.value, Timeout)
    assert session.Function(fn.name).refresh().status == "Failed"


def test_a_change_waits_for_an_update_in_progress(session: cloudorm.Session, deploy: Deploy) -> None:
    from moto.backends import get_backend

    fn = deploy()
    region, account = fn.arn.split(":")[3:5]
    stored = get_backend("lambda")[account][region].get_function(fn.name)
    stored.state = "Pending"  # as Lambda reports a function still being created: it refuses changes until Active
    fn.memory = 256
    sent_before_active: list[int] = []

    def activate() -> None:
        sent_before_active.append(c["lambda.UpdateFunctionConfiguration"])
        stored.state = "Active"

    with session.count_requests() as c:
        timer = threading.Timer(0.7, activate)
        timer.start()
        fn.save()
        timer.join()
    assert sent_before_active == [0] and c["lambda.UpdateFunctionConfiguration"] == 1
    assert fn.status == "Active" and session.Function(fn.name).memory == 256


def test_delete(session: cloudorm.Session, deploy: Deploy) -> None:
    fn = deploy()
    fn.delete()
    assert not fn.exists() and fn.name not in [f.name for f in session.functions()]
    with pytest.raises(NotFound):
        fn.delete()
    fn.delete(missing_ok=True)


def test_role_by_name_and_by_arn(session: cloudorm.Session, deploy: Deploy, role: Role) -> None:
    with session.count_requests() as c:
        by_name = deploy(role=role.name)
    assert c["iam.GetRole"] == 1
    assert session.serverless.get_function(by_name.name)["role"] == role.arn
    with session.count_requests() as c:
        by_arn = deploy(role=role.arn)
    assert c["iam.GetRole"] == 0
    assert session.serverless.get_function(by_arn.name)["role"] == role.arn
    with pytest.raises(NotFound):
        deploy(role=uid("no-such-role"))


def test_a_role_lambda_cannot_assume_is_retried_until_the_deadline(session: cloudorm.Session, app: Path) -> None:
    # moto checks the role exists, as AWS checks it can be assumed: a missing one stands in for one not propagated
    missing = "arn:aws:iam::123456789012:role/" + uid("not-yet")
    fn = session.Function(uid(), handler="app.handler", source=app, role=missing)
    with session.count_requests() as c, pytest.raises(Timeout) as e:
        fn.save(role_wait=1.0)
    assert c["lambda.CreateFunction"] >= 2  # retried
    assert isinstance(e.value.last_error, InvalidInput)
    assert "cannot be assumed" in e.value.last_error.message


def test_permissions(session: cloudorm.Session, deploy: Deploy) -> None:
    fn = deploy()
    svc = session.serverless
    assert svc.permissions(fn.name) == []
    source = "arn:aws:execute-api:us-east-1:123456789012:abc123/*/GET/orders"
    svc.add_permission(fn.name, "api-get-orders", "apigateway.amazonaws.com", source)
    assert svc.permissions(fn.name) == [{"sid": "api-get-orders", "principal": "apigateway.amazonaws.com",
                                         "source_arn": source}]
    svc.remove_permission(fn.name, "api-get-orders")
    assert svc.permissions(fn.name) == []
    with pytest.raises(NotFound):
        svc.permissions(uid())


def test_creating_a_function_twice_is_already_exists(session: cloudorm.Session, deploy: Deploy,
                                                     role: Role) -> None:
    fn = deploy()
    assert fn.bundle is not None
    spec = {"runtime": "python3.12", "handler": "app.handler", "role": role.arn}
    with pytest.raises(AlreadyExists) as e:
        session.serverless.create_function(fn.name, spec, fn.bundle.read())
    assert e.value.request_id and e.value.operation == "CreateFunction"


@pytest.mark.parametrize(("operation", "code", "status", "kind"), [
    ("GetFunction", "ResourceNotFoundException", 404, NotFound),
    ("CreateFunction", "ResourceConflictException", 409, AlreadyExists),
    ("UpdateFunctionCode", "ResourceConflictException", 409, cloudorm.errors.ConflictError),  # an update runs
    ("UpdateFunctionCode", "CodeStorageExceededException", 400, InvalidInput),
    ("UpdateFunctionCode", "CodeVerificationFailedException", 400, InvalidInput),
    ("CreateFunction", "InvalidParameterValueException", 400, InvalidInput),
    ("Invoke", "RequestTooLargeException", 413, InvalidInput),
    ("Invoke", "SerializedRequestEntityTooLargeException", 413, InvalidInput),
    ("Invoke", "TooManyRequestsException", 429, cloudorm.errors.Throttled),
    ("Invoke", "EC2ThrottledException", 502, cloudorm.errors.Throttled),
    ("Invoke", "ResourceNotReadyException", 502, cloudorm.errors.ConflictError),
    ("Invoke", "KMSAccessDeniedException", 502, cloudorm.errors.AccessDenied),
    ("Invoke", "EC2AccessDeniedException", 502, cloudorm.errors.AccessDenied),
])
def test_lambda_errors_are_mapped(operation: str, code: str, status: int, kind: type) -> None:
    from botocore.exceptions import ClientError

    from cloudorm.providers.aws.errors import map_error

    response: Any = {"Error": {"Code": code, "Message": "why"},
                     "ResponseMetadata": {"RequestId": "req-1", "HTTPStatusCode": status}}
    error = map_error(ClientError(response, operation), "aws", operation)
    assert type(error) is kind and isinstance(error, cloudorm.errors.CloudError)
    assert (error.message, error.request_id, error.code, error.operation) == ("why", "req-1", code, operation)


def test_repr_shows_environment_keys_never_values(session: cloudorm.Session, app: Path) -> None:
    fn = session.Function(uid(), handler="app.handler", source=app, runtime="python3.12",
                          environment={"DB_PASSWORD": "hunter2-very-secret"})
    text = repr(fn)
    assert "DB_PASSWORD" in text and "hunter2" not in text
    assert "app.handler" in text and "python3.12" in text and fn.name in text


def test_environment_values_stay_out_of_logs(session: cloudorm.Session, deploy: Deploy,
                                             caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="botocore"):
        deploy(environment={"TOKEN": "s3cr3t-token-value-42"})
    assert "CreateFunction" in caplog.text and "s3cr3t-token-value-42" not in caplog.text


def test_environment_values_in_responses_stay_out_of_logs(session: cloudorm.Session, deploy: Deploy, role: Role,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    fn = deploy()
    assert fn.bundle is not None
    name, secret = uid(), f"made-elsewhere-{uuid.uuid4().hex}"
    raw = session._provider.clients.client("lambda")  # type: ignore[attr-defined]
    raw.create_function(FunctionName=name, Role=role.arn, Code={"ZipFile": fn.bundle.read()}, Handler="app.handler",
                        Runtime="python3.12", Environment={"Variables": {"TOKEN": secret}})
    try:
        with caplog.at_level(logging.DEBUG, logger="botocore"):
            assert session.Function(name).environment == {"TOKEN": secret}
        assert "Response body" in caplog.text and secret not in caplog.text
    finally:
        session.Function(name).delete()


def test_listing_pages(session: cloudorm.Session, deploy: Deploy) -> None:
    names = {deploy().name for _ in range(3)}
    assert names <= {f.name for f in session.functions().page_size(1)}
    assert len(list(session.functions().limit(2))) == 2


@pytest.mark.parametrize(("fault", "error"), [({"rate": 1.0, "kinds": ["drop_after"]}, cloudorm.errors.CloudError),
                                              ({"latency": 0.6}, Timeout)])
def test_an_invoke_that_may_have_run_is_not_sent_again(moto_url: str, app: Path, fault: dict[str, Any],
                                                       error: type[cloudorm.errors.CloudError]) -> None:
    # the connection closes after Lambda took the request, or its answer is late: a retry would run it again
    from cloudorm.testing import FaultProxy
    from tests.conftest import FAKE_CREDS

    direct = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=moto_url)
    role = direct.Role(uid("role"), service="lambda").save()
    fn = direct.Function(uid(), handler="app.handler", source=app, role=role).save()
    try:
        with FaultProxy(moto_url, **fault) as proxy:
            through = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url, read_timeout=0.3)
            with pytest.raises(error) as e:
                through.Function(fn.name).invoke({"x": 1})
            assert proxy.stats["requests"] == 1  # (botocore would have sent it up to 5 times)
        assert e.value.operation == "Invoke"
        if error is Timeout:
            assert "read_timeout" in e.value.message and fn.name in e.value.message
    finally:
        fn.delete()


def test_a_local_invoke_that_gets_no_answer_says_how_long_it_waited(moto_url: str, app: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A local session waits for an invocation's answer longer than its read_timeout (930 s: the server ends any
    function in 900 s); the Timeout quotes that wait, not read_timeout."""
    from cloudorm.providers.local import functions
    from cloudorm.testing import FaultProxy

    monkeypatch.setattr(functions, "INVOKE_READ_TIMEOUT", 0.6)  # (instead of 930 s)
    direct = cloudorm.Session("local", endpoint_url=moto_url)
    role = direct.Role(uid("role"), service="lambda").save()
    fn = direct.Function(uid(), handler="app.handler", source=app, role=role).save()
    try:
        with FaultProxy(moto_url, latency=1.5) as proxy:
            through = cloudorm.Session("local", endpoint_url=proxy.url, read_timeout=0.2)
            with pytest.raises(Timeout) as e:
                through.Function(fn.name).invoke({"x": 1})
        assert e.value.operation == "Invoke" and fn.name in e.value.message
        assert "within 0.6 s" in e.value.message and "read_timeout" not in e.value.message
    finally:
        fn.delete()


def test_requirements_are_vendored_for_the_deployed_runtime_only(local: cloudorm.Session, app: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDORM_CACHE_DIR", str(tmp_path / "cache"))  # (a cache of this test's own)
    project = tmp_path / "helpers"
    project.mkdir()
    (project / "setup.py").write_text("from setuptools import setup\n\nsetup(name='helpers', version='1.0', "
                                      "py_modules=['helpers'])\n")
    (project / "helpers.py").write_text("def double(x):\n    return 2 * x\n")
    role = local.Role(uid("role"), service="lambda").save()
    fn = local.Function(uid(), handler="app.handler", source=app, role=role, runtime="python3.11",
                        requirements=[str(project)], builder="pip").save()
    try:
        again = local.Function(fn.name, handler="app.handler", source=app, requirements=[str(project)],
                               builder="pip").save()  # runtime left out: the deployed python3.11 is kept
        assert again.bundle is not None and again.bundle.runtime == "python3.11" and again.bundle.pip_runs == 0
        vendored = []
        for path in (tmp_path / "cache" / "bundles").glob("*.zip"):
            with zipfile.ZipFile(path) as z:
                vendored += [path] if "helpers.py" in z.namelist() else []
        assert len(vendored) == 1  # never vendored for python3.12, which the function does not run
    finally:
        fn.delete()


# ---------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("settings", "field"), [
    ({"runtime": "python2.7"}, "runtime"),
    ({"runtime": 3.12}, "runtime"),
    ({"memory": 64}, "memory"),
    ({"memory": 10241}, "memory"),
    ({"memory": "256"}, "memory"),
    ({"memory": True}, "memory"),
    ({"timeout": 0}, "timeout"),
    ({"timeout": 901}, "timeout"),
    ({"timeout": 2.5}, "timeout"),
    ({"architecture": "sparc"}, "architecture"),
    ({"handler": "app"}, "handler"),
    ({"handler": "app.not-valid"}, "handler"),
    ({"environment": {"AWS_REGION": "eu-west-1"}}, "environment['AWS_REGION']"),
    ({"environment": {"1ABC": "x"}}, "environment"),
    ({"environment": {"A": "x"}}, "environment"),  # (Lambda's pattern wants two characters at least)
    ({"environment": {"with-dash": "x"}}, "environment"),
    ({"environment": {"COUNT": 1}}, "environment['COUNT']"),
    ({"environment": ["A"]}, "environment"),
    ({"environment": {f"K{i}": "v" * 100 for i in range(40)}}, "environment"),
    ({"description": "d" * 257}, "description"),
    ({"role": "arn:aws:iam::bad"}, "role"),
    ({"role": "has space"}, "role"),
    ({"role": 42}, "role"),
    ({"source": 42}, "source"),
    ({"source": None, "requirements": ["attrs"]}, "source"),  # (bundled with the source: without it, ignored)
    ({"source": None, "include": ["data.json"]}, "source"),
    ({"include": 42}, "include"),
])
def test_bad_settings_are_refused_before_any_request(session: cloudorm.Session, app: Path,
                                                     settings: dict[str, Any], field: str) -> None:
    full = {"handler": "app.handler", "source": app, "role": "arn:aws:iam::123456789012:role/r", **settings}
    with session.count_requests() as c:
        with pytest.raises(InvalidInput) as e:
            session.Function(uid(), **full).save()
        assert e.value.field == field
    assert c.total == 0


def test_the_limits_themselves_are_accepted(session: cloudorm.Session) -> None:
    with session.count_requests() as c:
        for memory, timeout in ((128, 1), (10240, 900)):
            fn = session.Function(uid(), memory=memory, timeout=timeout)
            assert (fn.memory, fn.timeout) == (memory, timeout)
    assert c.total == 0


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, "a/b", "arn:aws:lambda:us-east-1:12:function:f", 7])
def test_bad_names_are_refused_before_any_request(session: cloudorm.Session, name: Any) -> None:
    with session.count_requests() as c:
        with pytest.raises(InvalidInput) as e:
            session.Function(name)
        assert e.value.field == "name"
    assert c.total == 0


def test_a_functions_name_cannot_be_reassigned(session: cloudorm.Session) -> None:
    fn = session.Function(uid())
    with pytest.raises(AttributeError):
        fn.name = "other"  # (save() would still deploy to the first name: another function's code overwritten)


def test_bad_values_set_later_are_refused(session: cloudorm.Session, deploy: Deploy) -> None:
    fn = deploy()
    with pytest.raises(InvalidInput):
        fn.memory = 99999
    fn.environment = {"OK": "1"}
    fn.environment["AWS_REGION"] = "x"  # changed in place: checked again by save()
    with session.count_requests() as c:
        with pytest.raises(InvalidInput) as e:
            fn.save()
        assert e.value.field == "environment['AWS_REGION']"
    assert c.total == 0


def test_a_handler_missing_from_the_source_is_refused_before_any_request(session: cloudorm.Session,
                                                                         app: Path) -> None:
    fn = session.Function(uid(), handler="app.nope", source=app, role="arn:aws:iam::123456789012:role/r")
    with session.count_requests() as c:
        with pytest.raises(InvalidInput) as e:
            fn.save()
        assert e.value.field == "handler"
    assert c.total == 0


def test_an_event_over_lambdas_payload_limit_is_refused_before_any_request(session: cloudorm.Session) -> None:
    fn = session.Function(uid())
    with session.count_requests() as c:
        with pytest.raises(InvalidInput) as e:
            fn.invoke("x" * (6 * 1024 * 1024))  # over 6 MB: too big for a synchronous invocation
        assert e.value.field == "event" and "synchronous" in e.value.message
        with pytest.raises(InvalidInput) as e:
            fn.invoke("x" * (1024 * 1024), wait=False)  # over 1 MB: too big for an asynchronous one
        assert e.value.field == "event" and "asynchronous" in e.value.message
    assert c.total == 0


def test_an_event_that_is_not_json_is_refused_before_any_request(session: cloudorm.Session) -> None:
    fn = session.Function(uid())
    with session.count_requests() as c:
        for event in ({"when": object()}, {1j}, float("nan")):
            with pytest.raises(InvalidInput) as e:
                fn.invoke(event)
            assert e.value.field == "event"
    assert c.total == 0


# ---------------------------------------------------------------------------------------------- invoke (local)


@pytest.fixture
def local() -> cloudorm.Session:
    """The embedded local cloud, which runs functions for real."""
    return cloudorm.Session()


@pytest.fixture
def local_fn(local: cloudorm.Session, app: Path) -> Any:
    """``app.handler`` deployed on the local cloud."""
    role = local.Role(uid("role"), service="lambda").save()
    fn = local.Function(uid(), handler="app.handler", source=app, role=role, environment={"MODE": "local"},
                        timeout=10).save()
    yield fn
    fn.delete(missing_ok=True)


def test_invoke_returns_the_decoded_result(local_fn: cloudorm.Function) -> None:
    event = {"order": 7, "items": ["a", "b"], "nested": {"ok": True}}
    assert local_fn.invoke(event) == {"echo": event, "mode": "local", "name": local_fn.name}
    assert local_fn.last_log is not None and "got ['items', 'nested', 'order']" in local_fn.last_log


def test_invoke_by_name_loads_nothing(local: cloudorm.Session, local_fn: cloudorm.Function) -> None:
    fn = local.Function(local_fn.name)
    assert fn.invoke({"x": 1})["echo"] == {"x": 1}
    assert fn.status is None and fn.code_sha256 is None  # the entity loaded nothing (the service may look it up)
    assert local.Function(local_fn.arn).invoke(None)["echo"] is None


def test_a_handler_that_raises_is_a_function_error(local: cloudorm.Session, local_fn: cloudorm.Function,
                                                   app: Path) -> None:
    failing = local.Function(local_fn.name, handler="app.fail", source=app).save()
    with pytest.raises(FunctionError) as e:
        failing.invoke({"x": 5})
    assert e.value.error_type == "ValueError"
    assert e.value.message == "bad input: 5"
    assert e.value.traceback and any("app.py" in line for line in e.value.traceback)
    assert e.value.request_id


def test_a_synchronous_event_may_be_larger_than_an_asynchronous_one(local_fn: cloudorm.Function) -> None:
    assert local_fn.invoke({"blob": "x" * (1024 * 1024)})["echo"]["blob"] == "x" * (1024 * 1024)


def test_an_async_invoke_returns_its_request_id(local_fn: cloudorm.Function) -> None:
    request_id = local_fn.invoke({"x": 1}, wait=False)
    assert isinstance(request_id, str) and request_id


def test_the_aws_provider_refuses_bad_code_and_payloads_before_any_request(moto_url: str) -> None:
    """What Lambda would refuse (code that is not a zip, a payload that is not UTF-8 JSON) is refused by the aws
    provider itself, as by the local one, before any request."""
    from tests.conftest import FAKE_CREDS

    s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=moto_url)
    spec = {"runtime": "python3.12", "handler": "app.h", "role": "arn:aws:iam::123456789012:role/r"}
    for call, field in ((lambda: s.serverless.create_function("f", spec, b"not a zip"), "code"),
                        (lambda: s.serverless.update_code("f", b"not a zip", "x86_64"), "code"),
                        (lambda: s.serverless.invoke("f", b"{not json"), "payload"),
                        (lambda: s.serverless.invoke("f", '{"a": 1}'.encode("utf-16")), "payload")):
        with s.count_requests() as c, pytest.raises(InvalidInput) as e:
            call()
        assert (c.total, e.value.field) == (0, field)


def test_the_invoke_after_a_change_by_any_client_runs_the_new_code(local: cloudorm.Session,
                                                                   local_fn: cloudorm.Function) -> None:
    """Nothing about the function is kept between invokes: a change through this Session, another Session or plain
    boto3 is what the very next invoke runs, each invoke one request, paused or back to back."""
    import io

    import boto3

    assert local_fn.invoke({})["mode"] == "local"
    with local.count_requests() as c:
        assert [local_fn.invoke({})["mode"] for _ in range(3)] == ["local"] * 3
    assert c.by_operation == {"lambda.Invoke": 3}
    other = cloudorm.Session()
    other.Function(local_fn.name, environment={"MODE": "other session"}).save()
    assert local_fn.invoke({})["mode"] == "other session"
    client = boto3.client("lambda", endpoint_url=local.endpoint_url, region_name=local.region or "us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return {'mode': 'new code'}\n")
    client.update_function_code(FunctionName=local_fn.name, ZipFile=code.getvalue())
    assert local_fn.invoke({}) == {"mode": "new code"}
    client.update_function_configuration(FunctionName=local_fn.name, Handler="app.other")
    with pytest.raises(FunctionError):  # (no app.other in the new code: the new setting is what ran)
        local_fn.invoke({})
    local.Function(local_fn.name, handler="app.handler").save()  # back, through this Session
    with local.count_requests() as c:
        assert local_fn.invoke({}) == {"mode": "new code"}
    assert c.total == 1
