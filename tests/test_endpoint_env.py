"""Endpoints configured outside the program, as botocore reads them (``AWS_ENDPOINT_URL_<SERVICE>``,
``AWS_ENDPOINT_URL``, the config file, ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS``), on every provider; and a handler
that uses a cloudorm model on the local cloud, which runs it with ``AWS_ENDPOINT_URL`` set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore.session
import pytest

import cloudorm
from cloudorm.errors import InvalidInput
from cloudorm.providers.aws.clients import configured_endpoint, endpoint_variable
from cloudorm.testing import ServeProcess

ROOT = Path(__file__).resolve().parent.parent
FAKE = {"aws_access_key_id": "AKIAFAKEFAKE1234", "aws_secret_access_key": "fake-secret"}
SPACES = {"access_token": "dop_v1_token", "spaces_key": "DO00FAKE", "spaces_secret": "fake-secret"}
A, B, C = "http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No endpoint configured but by the test itself, and no AWS config file of this machine."""
    for var in list(os.environ):
        if var.startswith("AWS_ENDPOINT_URL") or var == "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS":
            monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def endpoints(s: cloudorm.Session) -> dict[str, str | None]:
    """The endpoint each client of the session would be made with."""
    clients = s._provider.clients  # type: ignore[attr-defined]
    return {service: clients.endpoint(service) for service in ("dynamodb", "s3", "iam", "lambda", "apigateway")}


def test_aws_honours_the_global_and_the_per_service_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", A)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", B)
    monkeypatch.setenv("AWS_ENDPOINT_URL_API_GATEWAY", C)    # botocore's service id "API Gateway"
    s = cloudorm.Session("aws", creds=FAKE)
    assert endpoints(s) == {"dynamodb": B, "s3": A, "iam": A, "lambda": A, "apigateway": C}
    assert s.endpoint_url == A
    assert f"endpoint='{A}, dynamodb={B}, apigateway={C}'" in repr(s)
    assert s._provider.clients.client("dynamodb").meta.endpoint_url == B  # type: ignore[attr-defined]


def test_the_client_name_is_not_the_service_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_APIGATEWAY", C)       # not a name botocore reads
    s = cloudorm.Session("aws", creds=FAKE)
    assert endpoints(s)["apigateway"] is None and s.endpoint_url is None and "endpoint" not in repr(s)
    plain = boto3.client("apigateway", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
    assert plain.meta.endpoint_url == "https://apigateway.us-east-1.amazonaws.com"  # boto3 agrees


def test_the_variable_names_are_the_ones_botocore_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    services = ("dynamodb", "s3", "iam", "lambda", "apigateway", "sts", "ec2")
    assert [endpoint_variable(s) for s in services] == [
        "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL_LAMBDA",
        "AWS_ENDPOINT_URL_API_GATEWAY", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_EC2"]
    for service in services:
        with monkeypatch.context() as m:
            m.setenv(endpoint_variable(service), A)
            assert configured_endpoint(botocore.session.Session(), service) == A


def test_the_given_endpoint_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", A)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", B)
    given = cloudorm.Session("aws", creds=FAKE, endpoint_url=C)
    assert set(endpoints(given).values()) == {C}
    per_service = cloudorm.Session("aws", creds=FAKE, endpoint_url={"s3": C})
    assert endpoints(per_service) == {"dynamodb": A, "s3": C, "iam": A, "lambda": A, "apigateway": A}
    local = cloudorm.Session("local", endpoint_url=C)
    assert set(endpoints(local).values()) == {C} and local.endpoint_url == C


def test_the_ignore_flag_turns_configured_endpoints_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", A)
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    s = cloudorm.Session("aws", creds=FAKE)
    assert set(endpoints(s).values()) == {None} and s.endpoint_url is None
    local = cloudorm.Session()
    assert local.endpoint_url not in (A, None)                 # the embedded local cloud, as without the variable
    spaces = cloudorm.Session("digitalocean", creds=SPACES, region="ams3")
    assert spaces._provider.spaces_endpoint == "https://ams3.digitaloceanspaces.com"  # type: ignore[attr-defined]


def test_the_config_file_as_botocore_reads_it_but_not_on_the_local_cloud(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(f"[default]\nendpoint_url = {A}\nservices = emulators\n\n"
                      f"[services emulators]\ndynamodb =\n  endpoint_url = {B}\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    s = cloudorm.Session("aws", creds=FAKE)
    assert endpoints(s)["dynamodb"] == B and endpoints(s)["s3"] == A
    monkeypatch.setenv("AWS_ENDPOINT_URL", C)                  # the environment comes before the file
    assert endpoints(cloudorm.Session("aws", creds=FAKE))["dynamodb"] == C
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    local = cloudorm.Session()                                  # the local cloud reads no AWS config file
    assert B not in endpoints(local).values() and A not in endpoints(local).values()


def test_a_configured_endpoint_that_is_no_url_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "localhost:4566")
    with pytest.raises(InvalidInput) as e:
        list(cloudorm.Session("aws", creds=FAKE).buckets())
    assert e.value.field == "AWS_ENDPOINT_URL" and "s3" in e.value.reason and "localhost:4566" in e.value.reason


def test_aws_and_wasabi_sessions_reach_the_configured_server(monkeypatch: pytest.MonkeyPatch, moto_url: str) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    name = f"env-{uuid.uuid4().hex[:8]}"
    cloudorm.Session("aws", creds=FAKE).Table(name, hash_key="pk").save().put({"pk": "a"})
    assert dict(cloudorm.Session("local", endpoint_url=moto_url).Table(name).get(pk="a")) == {"pk": "a"}
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_url)        # Wasabi's storage endpoint, replaced
    wasabi = cloudorm.Session("wasabi", creds=FAKE)
    wasabi.Bucket(name).save()
    assert f"endpoint='s3={moto_url}'" in repr(wasabi)
    assert name in [b.name for b in cloudorm.Session("local", endpoint_url=moto_url).buckets()]


def test_digitalocean_spaces_reach_the_configured_server(monkeypatch: pytest.MonkeyPatch, moto_url: str) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_url)
    s = cloudorm.Session("digitalocean", creds=SPACES, region="ams3")
    assert s._provider.spaces_endpoint == moto_url  # type: ignore[attr-defined]
    assert f"spaces={moto_url}" in repr(s) and "dop_v1_token" not in repr(s)
    name = f"spaces-{uuid.uuid4().hex[:8]}"
    s.Bucket(name).save()
    assert name in [b.name for b in cloudorm.Session("local", endpoint_url=moto_url).buckets()]
    given = cloudorm.Session("digitalocean", creds=SPACES, endpoint_url={"spaces": A})
    assert given._provider.spaces_endpoint == A  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """``cloudorm serve`` in a child process."""
    with ServeProcess() as server:
        yield server.url


def test_a_local_session_uses_the_configured_server_and_starts_none(served: str) -> None:
    name = f"env-{uuid.uuid4().hex[:8]}"
    script = (
        "import json, sys, cloudorm\n"
        "s = cloudorm.Session()\n"
        f"s.Table({name!r}, hash_key='pk').save().put({{'pk': 'a', 'n': 1}})\n"
        "import cloudorm.providers.local.server as server\n"
        "print(json.dumps({'url': s.endpoint_url, 'repr': repr(s), 'embedded': server._url}))\n")
    env = {**os.environ, "AWS_ENDPOINT_URL": served, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen == {"url": served, "repr": f"Session('local', region='us-east-1', endpoint='{served}')",
                    "embedded": None}
    assert dict(cloudorm.Session("local", endpoint_url=served).Table(name).get(pk="a")) == {"pk": "a", "n": 1}


def test_a_local_session_covered_for_one_service_only_sends_the_rest_to_the_embedded_cloud(
        monkeypatch: pytest.MonkeyPatch, served: str) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", served)
    s = cloudorm.Session()
    embedded = cloudorm.Session("local", endpoint_url=None).endpoint_url
    assert embedded is not None and embedded != served
    assert endpoints(s)["dynamodb"] == served and endpoints(s)["s3"] == embedded and s.endpoint_url == embedded
    assert repr(s) == f"Session('local', region='us-east-1', endpoint='{embedded}, dynamodb={served}')"


# ---- a handler that uses a cloudorm model ------------------------------------------------------------------------

MODELS = """\
import cloudorm


@cloudorm.model
class Visit(cloudorm.Item):
    page: str = cloudorm.hash_key()
    n: int = cloudorm.range_key()
    by: str = ""
"""

HANDLER = """\
import sys

import cloudorm
from models import Visit

local = cloudorm.Session()            # the local provider: AWS_ENDPOINT_URL, no embedded server
aws = cloudorm.Session("aws")         # the spelling that also works on AWS


def handler(event, context):
    table = event["table"]
    local.Table(table, model=Visit).put(Visit(page=event["page"], n=1, by="local"))
    aws.Table(table, model=Visit).put(Visit(page=event["page"], n=2, by="aws"))
    read = [v.by for v in aws.Table(table, model=Visit).query(page=event["page"])]
    server = sys.modules.get("cloudorm.providers.local.server")
    return {"read": read, "local": local.endpoint_url, "aws": aws.endpoint_url,
            "embedded": server._url if server else None, "moto": "moto" in sys.modules}
"""


def test_a_handler_using_a_cloudorm_model_writes_through_the_local_cloud(tmp_path: Path) -> None:
    s = cloudorm.Session()
    source = tmp_path / "visits"
    source.mkdir()
    (source / "models.py").write_text(MODELS)
    (source / "app.py").write_text(HANDLER)
    table = f"visits-{uuid.uuid4().hex[:8]}"
    sys.path.insert(0, str(source))
    try:
        from models import Visit  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(source))
    visits = s.Table(table, model=Visit).save()
    role = s.Role(f"role-{uuid.uuid4().hex[:8]}", service="lambda").save()
    fn = s.Function(f"visits-{uuid.uuid4().hex[:8]}", handler="app.handler", source=source, role=role,
                    timeout=60, memory=256, requirements=[str(ROOT)]).save()
    names = fn.bundle.names()
    assert "cloudorm/__init__.py" in names and "attrs/__init__.py" in names and "cattrs/__init__.py" in names
    assert not any(n.startswith(("boto3/", "botocore/", "s3transfer/", "dateutil/", "six.py")) for n in names)
    answer = fn.invoke({"table": table, "page": "/home"})
    assert answer["read"] == ["local", "aws"]
    assert answer["local"] == answer["aws"] == s.endpoint_url
    assert answer["embedded"] is None and answer["moto"] is False
    got = visits.get(page="/home", n=2)
    assert isinstance(got, Visit) and got.by == "aws"
    fn.delete()
    visits.delete()
