"""``s.serverless_usage()`` (Lambda's GetAccountSettings, the Cloud package's ``Summary`` and
``Stats.serverless_usage``): the local cloud's server answers it truthfully from the functions it keeps, for cloudorm,
boto3 and the AWS CLI alike; the aws provider reads it too; a plain moto server (which lacks it) and providers without
functions are ``Unsupported``."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

import cloudorm
from cloudorm.errors import Unsupported
from cloudorm.iam import Role
from cloudorm.serverless import ServerlessUsage
from cloudorm.testing import ServeProcess
from tests.conftest import FAKE_CREDS

HANDLER = "def handler(event, context):\n    return {'ok': True}\n"

LAMBDA_DEFAULTS = {"TotalCodeSize": 75 * 1024**3, "CodeSizeUnzipped": 250 * 1024**2, "CodeSizeZipped": 50 * 1024**2,
                   "ConcurrentExecutions": 1000}
"""Lambda's default quotas, which the local cloud reports."""


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def lambda_client(session: cloudorm.Session) -> Any:
    """The session's own botocore Lambda client (to publish versions and reserve concurrency, as any client can)."""
    return session._provider.clients.client("lambda")  # type: ignore[attr-defined]


def test_code_of_every_version_functions_and_reserved_concurrency_are_counted(session: cloudorm.Session,
                                                                              app: Path, role: Role) -> None:
    before = session.serverless_usage()
    assert isinstance(before, ServerlessUsage)
    assert (before.code_size_limit, before.unzipped_size_limit, before.zip_size_limit, before.concurrency_limit) == (
        75 * 1024**3, 250 * 1024**2, 50 * 1024**2, 1000)
    fn = session.Function(uid("sized"), handler="app.handler", source=app, role=role).save()
    size = fn.code_size
    assert isinstance(size, int) and size > 0
    made = session.serverless_usage()
    assert (made.function_count, made.code_size) == (before.function_count + 1, before.code_size + size)
    assert made.code_fraction == made.code_size / made.code_size_limit > 0

    client = lambda_client(session)
    client.publish_version(FunctionName=fn.name)  # version 1 keeps its own copy of the code, as on Lambda
    client.put_function_concurrency(FunctionName=fn.name, ReservedConcurrentExecutions=25)
    published = session.serverless_usage()
    assert (published.function_count, published.code_size) == (made.function_count, made.code_size + size)
    assert published.unreserved_concurrency == made.unreserved_concurrency - 25

    fn.delete()
    gone = session.serverless_usage()
    assert (gone.function_count, gone.code_size, gone.unreserved_concurrency) == (
        before.function_count, before.code_size, before.unreserved_concurrency)


def test_boto3_and_the_aws_cli_read_what_cloudorm_reads_from_cloudorm_serve(tmp_path: Path,
                                                                           aws_cli: Callable[..., Any]) -> None:
    source = tmp_path / "app.py"
    source.write_text(HANDLER)
    with ServeProcess() as server:
        s = cloudorm.Session("local", endpoint_url=server.url)
        name = uid("served")
        fn = s.Function(name, handler="app.handler", source=source, role=s.Role(name, service="lambda").save()).save()
        mine = s.serverless_usage()
        raw = boto3.client("lambda", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="testing",
                           aws_secret_access_key="testing").get_account_settings()
        cli = json.loads(aws_cli(server.url, "lambda", "get-account-settings").stdout)
        assert raw["AccountUsage"] == cli["AccountUsage"] == {"TotalCodeSize": fn.code_size, "FunctionCount": 1} == {
            "TotalCodeSize": mine.code_size, "FunctionCount": mine.function_count}
        assert raw["AccountLimit"] == cli["AccountLimit"] == {**LAMBDA_DEFAULTS,
                                                              "UnreservedConcurrentExecutions": 1000}
        other = cloudorm.Session("local", endpoint_url=server.url, region="eu-west-1")
        assert other.serverless_usage().function_count == 0  # the code storage limit is per region


@contextlib.contextmanager
def on_plain_moto() -> Iterator[cloudorm.Session]:
    """An aws session on a plain moto server (moto's own, without the local cloud's parts)."""
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        yield cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=f"http://{host}:{port}")
    finally:
        moto.stop()


def test_a_plain_moto_server_lacks_it_unsupported_not_a_false_not_found() -> None:
    with on_plain_moto() as s, pytest.raises(Unsupported) as e:
        s.serverless_usage()
    assert e.value.provider == "aws" and e.value.operation == "GetAccountSettings"
    assert "does not implement" in str(e.value)


@pytest.mark.parametrize("provider, creds", [
    ("memory", None), ("wasabi", FAKE_CREDS), ("digitalocean", {"access_token": "dop_v1_x", "region": "nyc3"})])
def test_providers_without_functions_refuse_it_before_any_request(provider: str, creds: Any) -> None:
    s = cloudorm.Session(provider, creds=creds)
    with s.count_requests() as c, pytest.raises(Unsupported) as e:
        s.serverless_usage()
    assert c.total == 0 and e.value.provider == provider and e.value.area == "serverless"

